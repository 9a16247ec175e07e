//! `CredentialHandle::lock_credential` and its `LockedCredential`: the credential lock
//! held for a caller that refreshes itself (oauth-store-rmcp), used from other threads
//! without relocking, excluding other threads and processes, and order-checked.

use std::sync::Arc;
use std::time::{Duration, Instant};

use oauth_store::lock::{LockScope, LockTarget, StoreLock};
use oauth_store::{Credential, Error, ExposeSecret, OAuthStore, StoreMode, TokenResponse};

use crate::support::{SERVER, TestResult, URL, now_ms};

fn store(home: &std::path::Path, timeout: Duration) -> OAuthStore {
    OAuthStore::builder()
        .default_stores(false)
        .home(home)
        .mode(StoreMode::File)
        .lock_timeout(timeout)
        .build()
        .expect("store")
}

fn seed(store: &OAuthStore) {
    store
        .handle(SERVER, URL)
        .save_grant(
            Credential::builder(SERVER, URL, "at-1".to_owned().into())
                .client_id("client-1")
                .client_secret("secret-1".to_owned().into())
                .refresh_token("rt-1".to_owned().into())
                .expires_at(now_ms() + 60_000)
                .build(),
        )
        .expect("seed");
}

#[test]
fn the_guard_is_used_from_other_threads_without_relocking_and_excludes_the_rest() -> TestResult {
    let home = tempfile::tempdir()?;
    let store = store(home.path(), Duration::from_secs(5));
    seed(&store);
    let handle = Arc::new(store.handle(SERVER, URL));
    let guard = Arc::new(handle.lock_credential(Duration::from_secs(1))?);

    // Another thread of the process, outside the guard, waits like another process.
    let other = Arc::new(store.handle(SERVER, URL));
    let waited =
        std::thread::spawn(move || other.lock_credential(Duration::from_millis(200)).map(drop))
            .join()
            .expect("thread");
    assert!(
        matches!(
            waited,
            Err(Error::Lock(oauth_store::lock::Error::Timeout { .. }))
        ),
        "{waited:?}"
    );

    // The guard's methods on yet another thread: no relock (that would be the 5 s
    // timeout or a re-entry error).
    let started = Instant::now();
    let on_thread = Arc::clone(&guard);
    let saved = std::thread::spawn(move || {
        let mut response = TokenResponse::new("at-2".to_owned().into());
        response.expires_in = Some(60);
        on_thread.save_refreshed(&response)
    })
    .join()
    .expect("thread")?;
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(
        saved.refresh_token_is(Some(&"rt-1".to_owned().into())),
        "merged: refresh token kept"
    );
    assert!(saved.client_secret.is_some(), "merged: client secret kept");
    let loaded = guard.load()?.expect("stored");
    assert_eq!(loaded.access_token.expose_secret(), "at-2");

    assert!(!guard.drop_tokens_if(|c| c.refresh_token_is(Some(&"rt-0".to_owned().into())))?);
    assert!(guard.drop_tokens_if(|c| c.refresh_token_is(Some(&"rt-1".to_owned().into())))?);
    let dropped = guard.load()?.expect("registration kept");
    assert!(!dropped.has_tokens());
    assert_eq!(dropped.client_id, "client-1");

    // Released when dropped: the next one gets it at once.
    drop(guard);
    let again = handle.lock_credential(Duration::from_millis(200))?;
    drop(again);
    Ok(())
}

#[test]
fn taking_the_lock_under_a_store_lock_of_the_same_thread_is_an_order_error_at_once() -> TestResult {
    let home = tempfile::tempdir()?;
    let store = store(home.path(), Duration::from_secs(30));
    seed(&store);
    let scope = LockScope::new();
    let _entered = scope.enter();
    let _file_lock = store.locks().acquire(
        &scope,
        &LockTarget::Store(StoreLock::File),
        Duration::from_secs(1),
    )?;
    let handle = Arc::new(store.handle(SERVER, URL));
    let started = Instant::now();
    let result = handle.lock_credential(Duration::from_secs(30));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "an error at once, not a wait"
    );
    assert!(
        matches!(
            result,
            Err(Error::Lock(oauth_store::lock::Error::OrderViolation { .. }))
        ),
        "{result:?}"
    );
    Ok(())
}
