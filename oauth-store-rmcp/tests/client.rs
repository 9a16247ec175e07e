//! Tests of `OwnedRefreshClient`: real rmcp clients in real processes against the peers.

use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use oauth_store::{HttpRefresher, OAuthStore, StoreMode};
use oauth_store_rmcp::OwnedRefreshClient;
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;

use crate::support::{SERVER, one_storm_at_a_time, peers, seeded_home, store, storm, totals};

/// How early the facade refreshes a 2 s token: from its advisory threshold on, half the
/// lifetime (DESIGN.md "Refresh thresholds"), in ms.
const SKEW_MS: u64 = 1_000;

/// Must show (b): 8 processes with the owned-refresh client, 20 s, 2 s tokens: no
/// reuse, no failed call, and provider refreshes within about
/// duration / (lifetime - skew) + 2, whatever the number of processes.
#[test]
fn eight_owned_refresh_processes_refresh_once_per_lifetime_for_the_machine() {
    let _one = one_storm_at_a_time();
    let Some(peers) = peers(2) else { return };
    let (home, _) = seeded_home(&peers);
    let duration_ms = 20_000;
    let reports = storm(&["owned"; 8], home.path(), &peers, duration_ms, None);
    let (calls, failed) = totals(&reports);
    let refreshes = peers.auth.stat("refreshes");
    let bound = duration_ms / (2_000 - SKEW_MS) + 2;
    eprintln!(
        "OwnedRefreshClient, 8 processes, 20 s, 2 s tokens: {calls} tool calls, {failed} failed, {refreshes} provider refreshes (bound {bound}), {} reuse",
        peers.auth.reuse_events()
    );
    assert_eq!(peers.auth.reuse_events(), 0, "no refresh token replayed");
    for report in &reports {
        assert!(report.calls > 0, "{report:?}");
        assert_eq!(report.failed(), 0, "{report:?}");
    }
    assert!(refreshes >= 5, "the tokens were refreshed: {refreshes}");
    assert!(
        refreshes <= bound,
        "{refreshes} provider refreshes, bound {bound}"
    );
    assert_eq!(peers.mcp.stat("tool_calls"), calls);
}

/// A request whose token expires while another holder of the credential lock is still
/// at work: the first wait ends at the token's expiry (`ExpiredWhileWaiting`), and the
/// client asks once more, now waiting for the lock as an expired token does, then
/// refreshes; the request succeeds, with no reuse.
#[test]
fn a_token_that_expires_while_another_holder_works_waits_for_it_and_the_request_succeeds() {
    let Some(peers) = peers(2) else { return };
    let (home, _) = seeded_home(&peers);
    let url = peers.mcp.url.clone();
    let before = peers.auth.stat("refreshes");

    // Another holder of the credential lock (a store of its own, as another process
    // would have) keeps it for 3 s: past the 2 s token's expiry.
    let (held_tx, held_rx) = mpsc::channel();
    let holder = {
        let (home, url) = (home.path().to_owned(), url.clone());
        std::thread::spawn(move || {
            let handle = Arc::new(store(&home).handle(SERVER, &url));
            let guard = handle
                .lock_credential(Duration::from_secs(10))
                .expect("the lock is free");
            held_tx.send(()).expect("held");
            std::thread::sleep(Duration::from_secs(3));
            drop(guard);
        })
    };
    held_rx.recv().expect("the holder took the lock");

    // Mandatory from 1.9 s before expiry: the 2 s token is due at once, and its first
    // wait is bounded by the little time it has left.
    let client_store = OAuthStore::builder()
        .home(home.path())
        .mode(StoreMode::File)
        .default_stores(false)
        .min_valid(Duration::from_millis(1_900))
        .refresher(Arc::new(
            HttpRefresher::new().with_timeout(Duration::from_secs(10)),
        ))
        .build()
        .expect("store");
    let client = OwnedRefreshClient::new(reqwest::Client::new(), client_store.handle(SERVER, &url));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let answered = runtime.block_on(async {
        let config = StreamableHttpClientTransportConfig::with_uri(url.as_str());
        let service =
            ().serve(StreamableHttpClientTransport::with_client(client, config))
                .await
                .map_err(|e| format!("initialize: {e}"))?;
        let arguments = serde_json::json!({ "text": "after the wait" });
        let params = CallToolRequestParams::new("echo")
            .with_arguments(arguments.as_object().cloned().unwrap_or_default());
        let result = service
            .call_tool(params)
            .await
            .map_err(|e| format!("call: {e}"));
        let _ = service.cancel().await;
        result
    });
    holder.join().expect("holder");
    let answered = answered.expect("the request got the refreshed token");
    assert_ne!(answered.is_error, Some(true), "{answered:?}");
    assert_eq!(peers.auth.reuse_events(), 0, "no refresh token replayed");
    // Refreshed after the holder let go (with a 1.9 s margin on 2 s tokens, each later
    // request of the session may refresh again).
    assert!(peers.auth.stat("refreshes") > before, "refreshed");
}
