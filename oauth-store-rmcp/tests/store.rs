//! Tests of `RmcpCredentialStore`: its semantics against a temporary home, then real rmcp
//! clients in real processes against the peers.

use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

use oauth_store::{Credential, ExposeSecret, OAuthStore, StoreMode};
use oauth_store_rmcp::RmcpCredentialStore;
use rmcp::transport::auth::{
    AuthError, CredentialStore, OAuthState, OAuthTokenResponse, StoredCredentials,
};

use crate::support::child::{self, seed_credentials};
use crate::support::{
    SERVER, cli_binary, login, now_ms, one_storm_at_a_time, peers, seeded_home, store, storm,
    totals,
};

const URL: &str = "https://mcp.example.test/mcp";

fn store_with_timeout(home: &std::path::Path, timeout: Duration) -> OAuthStore {
    OAuthStore::builder()
        .home(home)
        .mode(StoreMode::File)
        .default_stores(false)
        .lock_timeout(timeout)
        .build()
        .expect("store")
}

fn seeded(home: &std::path::Path) -> OAuthStore {
    let store = store_with_timeout(home, Duration::from_secs(3));
    store
        .handle(SERVER, URL)
        .save_grant(
            Credential::builder(SERVER, URL, "at-1".to_owned().into())
                .client_id("client-1")
                .client_secret("secret-1".to_owned().into())
                .refresh_token("rt-1".to_owned().into())
                .scopes(["mcp"])
                .expires_at(now_ms() + 3_600_000)
                .extra(
                    "vendor_field",
                    serde_json::value::RawValue::from_string("{\"kept\":true}".into())
                        .expect("raw"),
                )
                .build(),
        )
        .expect("seed");
    store
}

fn response(json: serde_json::Value) -> OAuthTokenResponse {
    serde_json::from_value(json).expect("token response")
}

fn stored(client_id: &str, json: serde_json::Value) -> StoredCredentials {
    StoredCredentials::new(
        client_id.to_owned(),
        Some(response(json)),
        vec!["mcp".into()],
        Some(now_ms() / 1000),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inside_the_guard_load_and_save_never_relock_and_another_task_waits() {
    let home = tempfile::tempdir().expect("home");
    let store = seeded(home.path());
    let holder = RmcpCredentialStore::new(store.handle(SERVER, URL));
    let other = holder.clone();

    let guard = holder
        .acquire_refresh_guard()
        .await
        .expect("guard")
        .expect("a guard");
    // A relock would be a re-entry error, or a wait until the 3 s timeout.
    let started = Instant::now();
    let loaded = holder.load().await.expect("load under the guard");
    assert!(loaded.is_some());
    let waiter = tokio::spawn(async move {
        let started = Instant::now();
        let guard = other.acquire_refresh_guard().await;
        (started.elapsed(), guard.map(|g| g.is_some()))
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    // rmcp's refresh save: no refresh token, no scope in the response.
    holder
        .save(stored(
            "client-1",
            serde_json::json!({"access_token": "at-2", "token_type": "Bearer", "expires_in": 3600}),
        ))
        .await
        .expect("save under the guard");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "nothing relocked"
    );
    drop(guard);
    let (waited, taken) = waiter.await.expect("waiter");
    assert!(
        matches!(taken, Ok(true)),
        "the other task got the guard after the holder: {taken:?}"
    );
    assert!(
        waited >= Duration::from_millis(250),
        "it waited for the holder: {waited:?}"
    );

    let record = store
        .handle(SERVER, URL)
        .load()
        .expect("load")
        .expect("record");
    assert_eq!(record.access_token.expose_secret(), "at-2");
    assert!(
        record.refresh_token_is(Some(&"rt-1".to_owned().into())),
        "refresh token kept"
    );
    assert_eq!(
        record
            .client_secret
            .as_ref()
            .map(|s| s.expose_secret().to_owned()),
        Some("secret-1".to_owned()),
        "client secret kept"
    );
    assert_eq!(record.scopes, ["mcp"]);
    assert!(
        record.extra.iter().any(|(name, _)| name == "vendor_field"),
        "unknown field kept"
    );
}

#[tokio::test]
async fn a_save_outside_the_guard_is_a_new_grant() {
    let home = tempfile::tempdir().expect("home");
    let store = seeded(home.path());
    let credentials = RmcpCredentialStore::new(store.handle(SERVER, URL));
    // rmcp's code exchange for the same client: no refresh token in this response.
    credentials
        .save(stored(
            "client-1",
            serde_json::json!({"access_token": "at-new", "token_type": "Bearer", "expires_in": 60}),
        ))
        .await
        .expect("save");
    let record = store
        .handle(SERVER, URL)
        .load()
        .expect("load")
        .expect("record");
    assert_eq!(record.access_token.expose_secret(), "at-new");
    assert!(
        record.refresh_token.is_none(),
        "the old refresh token is never carried into a new grant"
    );
    assert!(
        record.client_secret.is_some(),
        "the same client keeps its registration"
    );

    // Another client's grant: a new registration, nothing of the old one kept.
    credentials
        .save(stored(
            "client-2",
            serde_json::json!({"access_token": "at-2", "token_type": "Bearer", "refresh_token": "rt-2"}),
        ))
        .await
        .expect("save");
    let record = store
        .handle(SERVER, URL)
        .load()
        .expect("load")
        .expect("record");
    assert_eq!(record.client_id, "client-2");
    assert!(record.client_secret.is_none());
    assert_eq!(record.server_url, URL);
}

#[tokio::test]
async fn clear_drops_only_the_tokens_this_client_loaded() {
    let home = tempfile::tempdir().expect("home");
    let store = seeded(home.path());
    let credentials = RmcpCredentialStore::new(store.handle(SERVER, URL));
    credentials.load().await.expect("load");
    // Another process logs in meanwhile.
    store
        .handle(SERVER, URL)
        .save_grant(
            Credential::builder(SERVER, URL, "at-newer".to_owned().into())
                .client_id("client-1")
                .refresh_token("rt-newer".to_owned().into())
                .build(),
        )
        .expect("newer login");
    credentials.clear().await.expect("clear");
    let record = store
        .handle(SERVER, URL)
        .load()
        .expect("load")
        .expect("record");
    assert_eq!(
        record.access_token.expose_secret(),
        "at-newer",
        "a newer login is never wiped"
    );

    credentials.load().await.expect("load");
    credentials.clear().await.expect("clear");
    let record = store
        .handle(SERVER, URL)
        .load()
        .expect("load")
        .expect("record");
    assert!(!record.has_tokens(), "tokens dropped");
    assert_eq!(record.client_id, "client-1", "registration kept");
}

#[tokio::test]
async fn a_rejected_refresh_token_drops_the_tokens_only_while_it_is_stored() {
    let home = tempfile::tempdir().expect("home");
    let store = seeded(home.path());
    let credentials = RmcpCredentialStore::new(store.handle(SERVER, URL));
    let rejected = |rt: &str| {
        stored(
            "client-1",
            serde_json::json!({"access_token": "at-x", "token_type": "Bearer", "refresh_token": rt}),
        )
    };
    credentials
        .on_refresh_token_rejected(&rejected("rt-old"))
        .await
        .expect("rejected");
    let record = store
        .handle(SERVER, URL)
        .load()
        .expect("load")
        .expect("record");
    assert!(
        record.has_tokens(),
        "another refresh token is stored: nothing dropped"
    );
    credentials
        .on_refresh_token_rejected(&rejected("rt-1"))
        .await
        .expect("rejected");
    let record = store
        .handle(SERVER, URL)
        .load()
        .expect("load")
        .expect("record");
    assert!(
        !record.has_tokens(),
        "the rejected refresh token was stored: dropped"
    );
    assert!(record.client_secret.is_some(), "registration kept");
}

/// Must show: a lock held by a stuck process makes `acquire_refresh_guard` fail after the
/// timeout, naming the lock and the holder's pid; it never hangs.
#[tokio::test]
async fn a_stuck_holder_times_the_guard_out_with_its_pid() {
    let home = tempfile::tempdir().expect("home");
    let store = store_with_timeout(home.path(), Duration::from_secs(1));
    let mut holder = child::spawn("hold", home.path(), URL, 0, None);
    let mut lines = BufReader::new(holder.stdout.take().expect("stdout")).lines();
    assert!(
        lines.any(|l| l.is_ok_and(|l| l.contains("HOLDING"))),
        "the holder took the lock"
    );
    let handle = store.handle(SERVER, URL);
    let lock_file = handle.credential_lock_path();
    let credentials = RmcpCredentialStore::new(handle);
    let started = Instant::now();
    let result = credentials.acquire_refresh_guard().await;
    let waited = started.elapsed();
    let _ = holder.kill();
    let _ = holder.wait();
    let Err(AuthError::CredentialStoreError(message)) = result else {
        panic!(
            "expected a credential store error, got {:?}",
            result.map(|g| g.is_some())
        );
    };
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(10),
        "{waited:?}"
    );
    assert!(
        message.contains(&format!("pid {}", holder.id())),
        "{message}"
    );
    assert!(
        message.contains(&*lock_file.file_name().expect("name").to_string_lossy()),
        "{message}"
    );
}

/// Must show (a): 8 processes, each an rmcp client with `RmcpCredentialStore` over one
/// home, calling the tool for 20 s with 2 s access tokens: no reuse, no failed call.
#[test]
fn eight_rmcp_processes_over_one_home_never_replay_a_refresh_token() {
    let _one = one_storm_at_a_time();
    let Some(peers) = peers(2) else { return };
    let (home, _) = seeded_home(&peers);
    let reports = storm(&["store"; 8], home.path(), &peers, 20_000, None);
    let (calls, failed) = totals(&reports);
    let refreshes = peers.auth.stat("refreshes");
    eprintln!(
        "RmcpCredentialStore, 8 processes, 20 s, 2 s tokens: {calls} tool calls, {failed} failed, {refreshes} provider refreshes, {} reuse",
        peers.auth.reuse_events()
    );
    assert_eq!(peers.auth.reuse_events(), 0, "no refresh token replayed");
    assert_eq!(peers.auth.stat("reuse_detections"), 0);
    for report in &reports {
        assert!(report.calls > 0, "{report:?}");
        assert_eq!(report.failed(), 0, "{report:?}");
    }
    assert!(refreshes >= 5, "the tokens were refreshed: {refreshes}");
    assert_eq!(peers.mcp.stat("tool_calls"), calls);
}

/// Must show (c): the same storm with rmcp's `InMemoryCredentialStore`, each process
/// seeded from one login: reuse detected and the grant revoked (the storms can fail).
#[test]
fn eight_rmcp_processes_with_in_memory_stores_replay_and_lose_the_grant() {
    let _one = one_storm_at_a_time();
    let Some(peers) = peers(2) else { return };
    let seed = login(&peers);
    let home = tempfile::tempdir().expect("home");
    let reports = storm(&["memory"; 8], home.path(), &peers, 6_000, Some(&seed));
    let (calls, failed) = totals(&reports);
    eprintln!(
        "InMemoryCredentialStore, 8 processes, 6 s: {calls} tool calls, {failed} failed, {} reuse, {} grants revoked",
        peers.auth.reuse_events(),
        peers.auth.stat("grant_errors")
    );
    assert!(peers.auth.reuse_events() > 0, "reuse detected");
    assert!(failed > 0, "the revoked grant failed calls");
}

/// Must show (d): rmcp clients (both ways) and `oauth-store token` loops (the command,
/// and the facade's transaction in a library process) in one home share one rotation
/// chain.
#[test]
fn rmcp_clients_and_token_loops_share_one_rotation_chain() {
    let _one = one_storm_at_a_time();
    if cli_binary().is_none() {
        return;
    }
    let Some(peers) = peers(2) else { return };
    let (home, _) = seeded_home(&peers);
    let roles = [
        "store", "store", "store", "owned", "owned", "cli", "cli", "token",
    ];
    let reports = storm(&roles, home.path(), &peers, 10_000, None);
    let (calls, failed) = totals(&reports);
    eprintln!(
        "mixed, 8 processes, 10 s: {calls} calls, {failed} failed, {} provider refreshes",
        peers.auth.stat("refreshes")
    );
    assert_eq!(peers.auth.reuse_events(), 0);
    for report in &reports {
        assert!(report.calls > 0, "{report:?}");
        assert_eq!(report.failed(), 0, "{report:?}");
    }
}

/// Must show (f): the grant revoked at the provider: every client gets an
/// authorization-required error once, the tokens are dropped once (one `invalid_grant`
/// at the provider, no retry storm), and the registration stays.
#[test]
fn a_revoked_grant_asks_each_client_for_authorization_once() {
    let _one = one_storm_at_a_time();
    let Some(peers) = peers(2) else { return };
    let (home, _) = seeded_home(&peers);
    let children: Vec<_> = (0..4)
        .map(|_| child::spawn("store", home.path(), &peers.mcp.url, 10_000, None))
        .collect();
    std::thread::sleep(Duration::from_secs(3));
    let current = store(home.path())
        .handle(SERVER, &peers.mcp.url)
        .load()
        .expect("load")
        .expect("stored");
    let refresh = current.refresh_token.expect("refresh token");
    peers.auth.revoke_grant(refresh.expose_secret());
    let reports: Vec<_> = children.into_iter().map(child::report).collect();
    for report in &reports {
        assert_eq!(report.extra_u64("auth_required"), 1, "{report:?}");
        assert_eq!(
            report.failed(),
            1,
            "one failure, the authorization required: {report:?}"
        );
    }
    assert_eq!(
        peers.auth.stat("grant_errors"),
        1,
        "one invalid_grant: no retry storm"
    );
    assert_eq!(peers.auth.reuse_events(), 0);
    let record = store(home.path())
        .handle(SERVER, &peers.mcp.url)
        .load()
        .expect("load")
        .expect("registration kept");
    assert!(!record.has_tokens(), "tokens dropped");
    assert_eq!(record.client_id, "test-public", "registration kept");
}

/// Must show (g): a new login saved through rmcp (`OAuthState::set_credentials`) in one
/// process while others storm: they move to the new grant (the old one is revoked right
/// after and nobody fails), no reuse, nothing of the old grant replayed.
#[test]
fn a_login_saved_through_rmcp_moves_every_process_to_the_new_grant() {
    let _one = one_storm_at_a_time();
    let Some(peers) = peers(2) else { return };
    let (home, first) = seeded_home(&peers);
    let children: Vec<_> = ["store", "store", "store", "store", "owned", "owned"]
        .iter()
        .map(|role| child::spawn(role, home.path(), &peers.mcp.url, 10_000, None))
        .collect();
    std::thread::sleep(Duration::from_secs(3));
    let second = login(&peers);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut state = OAuthState::new(peers.mcp.url.as_str(), None)
            .await
            .expect("state");
        let OAuthState::Unauthorized(manager) = &mut state else {
            panic!("a new state is unauthorized");
        };
        manager.set_credential_store(RmcpCredentialStore::new(
            store(home.path()).handle(SERVER, &peers.mcp.url),
        ));
        let seed = seed_credentials(&second);
        let response = seed.token_response.clone().expect("response");
        state
            .set_credentials(&seed.client_id, response)
            .await
            .expect("login saved through rmcp");
    });
    let grant_errors_before = peers.auth.stat("grant_errors");
    let old: serde_json::Value = serde_json::from_str(&first).expect("json");
    peers
        .auth
        .revoke_grant(old["refresh_token"].as_str().expect("refresh token"));
    let reports: Vec<_> = children.into_iter().map(child::report).collect();
    let (calls, failed) = totals(&reports);
    eprintln!("login mid-storm: {calls} calls, {failed} failed");
    assert_eq!(peers.auth.reuse_events(), 0);
    assert_eq!(
        peers.auth.stat("grant_errors"),
        grant_errors_before,
        "nothing of the old grant was sent after the login"
    );
    for report in &reports {
        assert_eq!(report.failed(), 0, "{report:?}");
    }
    let record = store(home.path())
        .handle(SERVER, &peers.mcp.url)
        .load()
        .expect("load")
        .expect("record");
    assert!(record.has_tokens());
}

#[tokio::test]
async fn no_token_in_debug_output() {
    let home = tempfile::tempdir().expect("home");
    let store = seeded(home.path());
    let credentials = RmcpCredentialStore::new(store.handle(SERVER, URL));
    let stored = credentials.load().await.expect("load").expect("stored");
    let guard = credentials
        .acquire_refresh_guard()
        .await
        .expect("guard")
        .expect("a guard");
    let owned = oauth_store_rmcp::OwnedRefreshClient::new(
        reqwest::Client::new(),
        store.handle(SERVER, URL),
    );
    let shown = format!("{credentials:?} {stored:?} {owned:?}");
    drop(guard);
    for secret in ["at-1", "rt-1", "secret-1"] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
}
