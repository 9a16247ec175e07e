//! The main job against a real OAuth server nobody here wrote: oidc-provider with
//! refresh-token rotation and whole-grant revocation on reuse, driven through the
//! `oauth-store` command. Skipped with one loud line when the peer is not installed
//! (`npm ci --prefix test-peers/oidc`), except under `CI=true`.

mod codex;
mod headers;
mod login;
mod mcp_server;
mod peer;
mod postgres;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use peer::{Cli, Peer, available, cli};

pub(crate) use oauth_store_testkit::TestResult;

pub(crate) fn import(
    home: &Path,
    peer: &Peer,
    server: &str,
    url: &str,
    register: Option<&str>,
) -> serde_json::Value {
    let response = peer.login(url, register);
    let out = cli(
        home,
        &["import", "--server", server, "--url", url],
        Some(&response),
    );
    assert!(
        out.status.success(),
        "import: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&response).expect("token response")
}

/// Held by each storm for its whole run: the storms of this binary measure coordination
/// (reuse, failed calls, provider refreshes), so they run one at a time instead of
/// sharing two cores between several dozen processes.
pub(crate) static ONE_STORM_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// `loops` threads each run `oauth-store token` processes back to back for `seconds`
/// in `home` (one storm at a time, [`ONE_STORM_AT_A_TIME`]); returns (calls, failed
/// calls, first failure's stderr).
pub(crate) fn token_storm(
    home: &Path,
    servers: &[(&str, &str)],
    loops: usize,
    seconds: u64,
    extra: &[&str],
) -> (u64, u64, String) {
    cli_storm(&[Cli::file(home)], servers, loops, seconds, extra)
}

/// [`token_storm`] over several homes and any store: thread `i` runs against
/// `homes[i % homes.len()]` for `servers[i % servers.len()]`.
pub(crate) fn cli_storm(
    homes: &[Cli],
    servers: &[(&str, &str)],
    loops: usize,
    seconds: u64,
    extra: &[&str],
) -> (u64, u64, String) {
    let _one_at_a_time = ONE_STORM_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let calls = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let first_failure = Arc::new(std::sync::Mutex::new(String::new()));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    std::thread::scope(|scope| {
        for i in 0..loops {
            let home = &homes[i % homes.len()];
            let (server, url) = servers[i % servers.len()];
            let (calls, failed, first_failure) =
                (calls.clone(), failed.clone(), first_failure.clone());
            scope.spawn(move || {
                while Instant::now() < deadline {
                    let mut args = vec![
                        "token",
                        "--server",
                        server,
                        "--url",
                        url,
                        // No mandatory margin: a waiter never waits past its own
                        // token's expiry (`ExpiredWhileWaiting`, tested on its own in
                        // tests/refresh_ahead.rs), and with 2 s tokens on a loaded
                        // 2-core machine a refresh can outlast a 1 s margin. With none,
                        // a caller past the advisory threshold (half the lifetime)
                        // refreshes when the lock is free and otherwise keeps its
                        // token; one whose token expired waits for the refresh.
                        "--min-valid",
                        "0",
                    ];
                    args.extend_from_slice(extra);
                    let out = home.run(&args, None);
                    calls.fetch_add(1, Ordering::Relaxed);
                    if !out.status.success() || out.stdout.is_empty() {
                        failed.fetch_add(1, Ordering::Relaxed);
                        let mut first = first_failure.lock().expect("first");
                        if first.is_empty() {
                            *first = format!(
                                "{:?}: {}",
                                out.status.code(),
                                String::from_utf8_lossy(&out.stderr)
                            );
                        }
                    }
                }
            });
        }
    });
    let first = first_failure.lock().expect("first").clone();
    (
        calls.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed),
        first,
    )
}

const MCP: &str = "https://mcp.example.test/mcp";

#[test]
fn sixteen_token_processes_for_20_s_share_one_rotation_chain() -> TestResult {
    if !available() {
        return Ok(());
    }
    let peer = Peer::start(2);
    let home = tempfile::tempdir()?;
    import(home.path(), &peer, "notion", MCP, None);
    let (calls, failed, first) = token_storm(home.path(), &[("notion", MCP)], 16, 20, &[]);
    let refreshes = peer.stat("refreshes");
    eprintln!(
        "16 x token for 20 s: {calls} calls, {failed} failed, {refreshes} provider refreshes, stats {}",
        peer.stats()
    );
    assert_eq!(
        peer.reuse_events(),
        0,
        "the peer saw no refresh-token reuse"
    );
    assert_eq!(peer.stat("reuse_detections"), 0);
    assert_eq!(failed, 0, "every call exits 0 to the end: {first}");
    // About one refresh per second of a 2 s lifetime (the advisory threshold is half of
    // it): ~20, not x16.
    assert!((8..=40).contains(&refreshes), "refreshes: {refreshes}");
    Ok(())
}

#[test]
fn three_servers_in_one_document_refreshed_concurrently_lose_nothing() -> TestResult {
    if !available() {
        return Ok(());
    }
    let peer = Peer::start(2);
    let home = tempfile::tempdir()?;
    let servers = [
        ("alpha", "https://a.example.test/mcp"),
        ("beta", "https://b.example.test/mcp"),
        ("gamma", "https://c.example.test/mcp"),
    ];
    for (server, url) in servers {
        import(home.path(), &peer, server, url, None);
    }
    let (calls, failed, first) = token_storm(home.path(), &servers, 9, 8, &[]);
    eprintln!(
        "three servers: {calls} calls, {failed} failed, stats {}",
        peer.stats()
    );
    assert_eq!(failed, 0, "{first}");
    assert_eq!(peer.reuse_events(), 0);
    assert!(peer.stat("refreshes") >= 6, "each grant refreshed");
    let list = cli(home.path(), &["list", "--json"], None);
    let entries: serde_json::Value = serde_json::from_slice(&list.stdout)?;
    let mut names: Vec<_> = entries
        .as_array()
        .expect("array")
        .iter()
        .map(|e| e["server_name"].as_str().unwrap_or("").to_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["alpha", "beta", "gamma"], "no entry lost");
    Ok(())
}

#[test]
fn a_grant_revoked_at_the_peer_exits_3_drops_tokens_once_and_keeps_the_registration() -> TestResult
{
    if !available() {
        return Ok(());
    }
    let peer = Peer::start(2);
    let home = tempfile::tempdir()?;
    let response = import(home.path(), &peer, "notion", MCP, Some("public"));
    peer.revoke_grant(response["refresh_token"].as_str().expect("refresh token"));
    std::thread::sleep(Duration::from_millis(2_100)); // the access token expires
    let out = cli(
        home.path(),
        &[
            "token",
            "--server",
            "notion",
            "--url",
            MCP,
            "--min-valid",
            "1",
        ],
        None,
    );
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let errors = peer.stat("grant_errors");
    let show = cli(
        home.path(),
        &["show", "--server", "notion", "--url", MCP, "--json"],
        None,
    );
    let record: serde_json::Value = serde_json::from_slice(&show.stdout)?;
    assert_eq!(
        record["client_id"], response["client_id"],
        "the registration stays"
    );
    assert!(
        record["refresh_token"].is_null(),
        "tokens dropped: {record}"
    );
    let again = cli(
        home.path(),
        &[
            "token",
            "--server",
            "notion",
            "--url",
            MCP,
            "--min-valid",
            "1",
        ],
        None,
    );
    assert_eq!(again.status.code(), Some(3));
    assert_eq!(
        peer.stat("grant_errors"),
        errors,
        "the next token makes no request"
    );
    assert_eq!(peer.stat("refreshes"), 0);
    Ok(())
}

#[test]
fn a_confidential_client_refreshes_in_a_new_process_after_a_restart() -> TestResult {
    if !available() {
        return Ok(());
    }
    let peer = Peer::start(2);
    let home = tempfile::tempdir()?;
    let response = import(home.path(), &peer, "notion", MCP, Some("basic"));
    assert_eq!(
        response["token_endpoint_auth_method"],
        "client_secret_basic"
    );
    let first_token = response["access_token"].as_str().expect("at").to_owned();
    let mut seen = vec![first_token];
    for round in 0..2 {
        std::thread::sleep(Duration::from_millis(2_100));
        // Each call is a new process: the client secret comes from the store.
        let out = cli(
            home.path(),
            &[
                "token",
                "--server",
                "notion",
                "--url",
                MCP,
                "--min-valid",
                "1",
            ],
            None,
        );
        assert!(
            out.status.success(),
            "round {round}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let token = String::from_utf8(out.stdout)?.trim().to_owned();
        assert!(!seen.contains(&token), "a new access token each round");
        seen.push(token);
    }
    assert_eq!(peer.stat("refreshes"), 2);
    assert_eq!(peer.reuse_events(), 0);
    Ok(())
}

#[test]
fn the_same_storm_uncoordinated_shows_reuse_and_a_revoked_grant() -> TestResult {
    if !available() {
        return Ok(());
    }
    for attempt in 0..3 {
        let peer = Peer::start(2);
        let home = tempfile::tempdir()?;
        import(home.path(), &peer, "notion", MCP, None);
        let (calls, failed, _) = token_storm(
            home.path(),
            &[("notion", MCP)],
            16,
            8,
            &["--unsafe-uncoordinated"],
        );
        eprintln!(
            "uncoordinated attempt {attempt}: {calls} calls, {failed} failed, stats {}",
            peer.stats()
        );
        if peer.reuse_events() > 0 {
            assert!(peer.stat("revoked_grants") > 0, "reuse revoked the grant");
            assert!(failed > 0, "callers were logged out");
            return Ok(());
        }
    }
    panic!("three uncoordinated storms showed no reuse: the test could not fail");
}
