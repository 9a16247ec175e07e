use std::time::{Duration, Instant};

use oauth_store_core::ExposeSecret;
use oauth_store_core::{
    CredentialLocker, CredentialStore, LockError, StoreError, compute_store_key,
};

use crate::support::{connect, credential, database};

#[test]
fn one_holder_at_a_time_across_connections_and_the_wait_names_the_holder() {
    let Some((_, db)) = database("lock_exclusive") else {
        return;
    };
    let (a, b) = (connect(&db, "default"), connect(&db, "default"));
    let key = compute_store_key("one", "https://example.test/mcp");
    let held = a
        .locker()
        .lock(&key, Duration::from_secs(5))
        .expect("first");
    let started = Instant::now();
    let Err(error) = b.locker().lock(&key, Duration::from_millis(300)) else {
        panic!("a second holder")
    };
    assert!(started.elapsed() >= Duration::from_millis(250));
    let LockError::Timeout { holder, .. } = &error else {
        panic!("{error:?}")
    };
    let holder = holder.clone().expect("the holder is named");
    assert!(
        holder.contains(&format!("pid {}", std::process::id())),
        "{holder}"
    );
    assert!(
        b.locker().lock(&key, Duration::ZERO).is_err(),
        "a try fails at once"
    );
    // Another namespace has its own lock.
    let other = connect(&db, "other");
    drop(
        other
            .locker()
            .lock(&key, Duration::ZERO)
            .expect("another tenant's lock is free"),
    );
    drop(held);
    drop(
        b.locker()
            .lock(&key, Duration::from_secs(5))
            .expect("free after release"),
    );
}

#[test]
fn a_fenced_save_after_the_lock_connection_was_terminated_is_refused_and_the_newer_credential_stays()
 {
    let Some((server, db)) = database("lock_fence") else {
        return;
    };
    let (a, b) = (connect(&db, "default"), connect(&db, "default"));
    let key = compute_store_key("one", "https://example.test/mcp");
    a.store()
        .save(&key, &credential("one", "at-1", "rt-1"))
        .expect("seed");
    let held_a = a
        .locker()
        .lock(&key, Duration::from_secs(5))
        .expect("a holds");
    // The server ends A's lock session (as a cut connection or a restart would).
    let me = oauth_store_postgres::application_name();
    server.psql(
        &db.name,
        &format!(
            "SELECT pg_terminate_backend(l.pid, 5000) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND a.application_name = '{me}'"
        ),
    );
    // B takes over at once and saves a newer credential under its fence.
    let held_b = b
        .locker()
        .lock(&key, Duration::from_secs(5))
        .expect("b takes over");
    b.store()
        .save_fenced(&key, &credential("one", "at-b", "rt-b"), &held_b.fence())
        .expect("b saves");
    drop(held_b);
    let error = a
        .store()
        .save_fenced(&key, &credential("one", "at-a", "rt-a"), &held_a.fence())
        .expect_err("a lost its lock");
    assert!(
        matches!(error, StoreError::FenceRefused { .. }),
        "{error:?}"
    );
    assert!(held_a.check().is_err(), "the guard knows it lost the lock");
    let stored = a.store().load(&key).expect("load").expect("stored");
    assert_eq!(
        stored.access_token.expose_secret(),
        "at-b",
        "the newer credential stays"
    );
}

#[test]
fn a_fenced_save_is_refused_when_the_row_changed_since_the_lock_was_taken() {
    let Some((server, db)) = database("lock_generation") else {
        return;
    };
    let a = connect(&db, "default");
    let key = compute_store_key("one", "https://example.test/mcp");
    a.store()
        .save(&key, &credential("one", "at-1", "rt-1"))
        .expect("seed");
    let held = a.locker().lock(&key, Duration::from_secs(5)).expect("held");
    // A writer that ignores the lock (by hand, or another tool).
    server.psql(
        &db.name,
        "UPDATE oauth_store_credentials SET generation = generation + 1",
    );
    let error = a
        .store()
        .save_fenced(&key, &credential("one", "at-2", "rt-2"), &held.fence())
        .expect_err("generation moved");
    assert!(
        matches!(error, StoreError::FenceRefused { .. }),
        "{error:?}"
    );
    drop(held);
    let held = a
        .locker()
        .lock(&key, Duration::from_secs(5))
        .expect("held again");
    a.store()
        .save_fenced(&key, &credential("one", "at-3", "rt-3"), &held.fence())
        .expect("a fresh lock saves");
}

#[test]
fn an_unfenced_save_waits_for_the_holder() {
    let Some((_, db)) = database("lock_unfenced") else {
        return;
    };
    let (a, b) = (connect(&db, "default"), connect(&db, "default"));
    let key = compute_store_key("one", "https://example.test/mcp");
    let held = a.locker().lock(&key, Duration::from_secs(5)).expect("held");
    let started = Instant::now();
    let saver =
        std::thread::spawn(move || b.store().save(&key, &credential("one", "at-1", "rt-1")));
    std::thread::sleep(Duration::from_millis(400));
    drop(held);
    saver
        .join()
        .expect("thread")
        .expect("saved after the release");
    assert!(started.elapsed() >= Duration::from_millis(350));
}

proptest::proptest! {
    /// A credential's lock key depends on the namespace and the store key, and is
    /// stable: two tenants' locks of one key differ (so they never wait on each other,
    /// barring a 64-bit collision), and the same pair always gives the same key.
    #[test]
    fn lock_keys_are_stable_and_separate_namespaces(ns_a in "[a-z]{1,12}", ns_b in "[a-z]{1,12}", name in "[a-z]{1,12}") {
        let key = compute_store_key(&name, "https://example.test/mcp");
        let a = oauth_store_postgres::lock_key(&ns_a, &key);
        proptest::prop_assert_eq!(a, oauth_store_postgres::lock_key(&ns_a, &key));
        if ns_a != ns_b {
            proptest::prop_assert_ne!(a, oauth_store_postgres::lock_key(&ns_b, &key));
        }
        // The namespace and the key are separated, not concatenated: ("ab", "c|...")
        // and ("a", "bc|...") are different locks.
        let joined = oauth_store_core::StoreKey::from_raw(format!("{}{}", &ns_a[ns_a.len() - 1..], key.as_str()));
        let shorter = &ns_a[..ns_a.len() - 1];
        proptest::prop_assert_ne!(a, oauth_store_postgres::lock_key(shorter, &joined));
    }
}
