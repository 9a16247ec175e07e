//! A refresh whose caller stops waiting, or whose runtime shuts down, mid-request still
//! completes and saves the rotated token: the provider has already consumed the old one.

use std::time::{Duration, Instant};

use oauth_store::{AsyncCredentialHandle, wait_for_background};
use oauth_store_testkit::{ClientRegistration, Fault};

use super::{Observed, store, wait_for_rotation};
use crate::http::{SERVER, TestResult, URL, credential, endpoint, expose};

#[test]
fn dropped_future_still_persists() -> TestResult {
    let client = ClientRegistration::post("dropping-client", "secret");
    let ep = endpoint(&client);
    ep.set_fault_times(Fault::Slow(Duration::from_millis(800)), 1);
    let home = tempfile::tempdir()?;
    let store = store(home.path(), Observed::new());
    let issued = ep.issue_grant(&client.client_id, &[]);
    store
        .handle(SERVER, URL)
        .save_grant(credential(&ep, &client, &issued))?;
    let handle = AsyncCredentialHandle::new(store.handle(SERVER, URL));

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let waited = runtime.block_on(async {
        // The future is dropped when the timeout fires, while the provider holds the answer.
        tokio::time::timeout(
            Duration::from_millis(150),
            handle.refresh_if_needed(Duration::from_secs(30)),
        )
        .await
    });
    assert!(waited.is_err(), "the caller stopped waiting mid-refresh");

    let stored = wait_for_rotation(&store, &issued.refresh_token);
    assert!(
        ep.access_token_is_active(&expose(&stored.access_token)),
        "the new token was saved"
    );
    assert!(
        ep.grant_is_active(&issued.refresh_token),
        "no reuse was detected"
    );
    assert_eq!(ep.requests().len(), 1);
    assert!(
        wait_for_background(Duration::from_secs(15)),
        "the refresh thread ended"
    );
    Ok(())
}

#[test]
fn runtime_shut_down_mid_refresh_still_persists() -> TestResult {
    let client = ClientRegistration::public("shutdown-client");
    let ep = endpoint(&client);
    ep.set_fault_times(Fault::Slow(Duration::from_millis(800)), 1);
    let home = tempfile::tempdir()?;
    let store = store(home.path(), Observed::new());
    let issued = ep.issue_grant(&client.client_id, &[]);
    store
        .handle(SERVER, URL)
        .save_grant(credential(&ep, &client, &issued))?;
    let handle = AsyncCredentialHandle::new(store.handle(SERVER, URL));

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.spawn(async move {
        let _ = handle.refresh_if_needed(Duration::from_secs(30)).await;
    });
    // Mid-refresh: the provider has the request (and has rotated) but not yet answered.
    let deadline = Instant::now() + Duration::from_secs(10);
    while ep.requests().is_empty() {
        assert!(
            Instant::now() < deadline,
            "the refresh never reached the provider"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    runtime.shutdown_background();

    let stored = wait_for_rotation(&store, &issued.refresh_token);
    assert!(
        ep.access_token_is_active(&expose(&stored.access_token)),
        "the new token was saved"
    );
    assert_eq!(ep.requests().len(), 1);
    Ok(())
}

/// As `dropped_future_still_persists`, through `fresh` (which answers nothing-due calls
/// on the caller's thread): a due token still refreshes on a thread of its own.
#[test]
fn dropped_fresh_future_still_persists() -> TestResult {
    let client = ClientRegistration::public("dropping-fresh-client");
    let ep = endpoint(&client);
    ep.set_fault_times(Fault::Slow(Duration::from_millis(800)), 1);
    let home = tempfile::tempdir()?;
    let refresher = Observed::new();
    let store = store(home.path(), std::sync::Arc::clone(&refresher));
    let issued = ep.issue_grant(&client.client_id, &[]);
    let handle = AsyncCredentialHandle::new(store.handle(SERVER, URL));
    // Saved through the handle, which pins it: the next call takes the pinned path.
    handle
        .sync_handle()
        .save_grant(credential(&ep, &client, &issued))?;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()?;
    let waited = runtime
        .block_on(async { tokio::time::timeout(Duration::from_millis(150), handle.fresh()).await });
    assert!(waited.is_err(), "the caller stopped waiting mid-refresh");
    drop(runtime);

    let stored = wait_for_rotation(&store, &issued.refresh_token);
    assert!(
        ep.access_token_is_active(&expose(&stored.access_token)),
        "the new token was saved"
    );
    assert!(
        ep.grant_is_active(&issued.refresh_token),
        "no reuse was detected"
    );
    assert_eq!(ep.counters().reuse_detections, 0);
    assert_eq!(ep.requests().len(), 1);
    assert_eq!(refresher.threads(), vec!["oauth-store-refresh".to_owned()]);
    assert!(
        wait_for_background(Duration::from_secs(15)),
        "the refresh thread ended"
    );
    Ok(())
}
