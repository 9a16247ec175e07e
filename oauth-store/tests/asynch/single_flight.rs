//! In-process single-flight: 100 tokio tasks hitting an expired token at once cause one
//! provider request, run off the runtime's worker threads.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use oauth_store::{AsyncCredentialHandle, Credential, OAuthStore};
use oauth_store_testkit::{ClientRegistration, Fault};

use super::{Observed, store};
use crate::http::{SERVER, TestResult, URL, credential, endpoint, expose};

/// 100 tasks, each with its own handle (as separate parts of a client would hold: the
/// flight is shared by key within the process, not by handle), released at once.
fn hundred_tasks(
    store: &OAuthStore,
) -> Result<Vec<Result<Credential, oauth_store::Error>>, std::io::Error> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    Ok(runtime.block_on(async {
        let start = Arc::new(tokio::sync::Barrier::new(100));
        let mut tasks = Vec::new();
        for _ in 0..100 {
            let handle = AsyncCredentialHandle::new(store.handle(SERVER, URL));
            let start = Arc::clone(&start);
            tasks.push(tokio::spawn(async move {
                start.wait().await;
                handle.refresh_if_needed(Duration::from_secs(30)).await
            }));
        }
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.expect("task"));
        }
        results
    }))
}

#[test]
fn hundred_tasks_share_one_refresh() -> TestResult {
    let client = ClientRegistration::basic("flight-client", "secret");
    let ep = endpoint(&client);
    // A provider slow enough that every task arrives while the refresh is in flight.
    ep.set_fault_times(Fault::Slow(Duration::from_millis(300)), 1);
    let home = tempfile::tempdir()?;
    let refresher = Observed::new();
    let store = store(home.path(), Arc::clone(&refresher));
    store.handle(SERVER, URL).save_grant(credential(
        &ep,
        &client,
        &ep.issue_grant(&client.client_id, &[]),
    ))?;

    let mut tokens = Vec::new();
    for result in hundred_tasks(&store)? {
        tokens.push(expose(&result?.access_token));
    }
    assert_eq!(ep.requests().len(), 1, "one provider request for 100 tasks");
    assert_eq!(ep.counters().refreshes, 1);
    assert!(
        tokens.iter().all(|t| t == &tokens[0]),
        "every task got the one new token"
    );
    assert!(ep.access_token_is_active(&tokens[0]));
    assert_eq!(
        refresher.threads(),
        vec!["oauth-store-refresh".to_owned()],
        "called once, off the runtime"
    );
    Ok(())
}

/// The control: with coordination off, the same 100 tasks each send the refresh token,
/// and the provider's reuse detection revokes the grant. The test above can fail.
// Needs the dangerous door; `cargo test --workspace` turns it on through the CLI.
#[cfg(feature = "dangerous-uncoordinated")]
#[test]
fn without_coordination_the_tasks_replay_the_token() -> TestResult {
    let client = ClientRegistration::public("uncoordinated-client");
    let ep = endpoint(&client);
    ep.set_fault_times(Fault::Slow(Duration::from_millis(300)), 1);
    let home = tempfile::tempdir()?;
    let store = OAuthStore::builder()
        .default_stores(false)
        .home(home.path())
        .mode(oauth_store::StoreMode::File)
        .refresher(Observed::new())
        .dangerous_uncoordinated()
        .build()?;
    let issued = ep.issue_grant(&client.client_id, &[]);
    store
        .handle(SERVER, URL)
        .save_grant(credential(&ep, &client, &issued))?;
    let results = hundred_tasks(&store)?;
    assert!(ep.requests().len() > 1, "every task refreshed on its own");
    assert!(ep.counters().reuse_detections > 0 && !ep.grant_is_active(&issued.refresh_token));
    assert!(results.iter().any(Result::is_err));
    Ok(())
}

/// The runtime's only worker thread keeps running other tasks while a refresh waits on
/// a slow provider.
#[test]
fn the_runtime_thread_never_blocks() -> TestResult {
    let client = ClientRegistration::public("ticking-client");
    let ep = endpoint(&client);
    ep.set_fault_times(Fault::Slow(Duration::from_millis(600)), 1);
    let home = tempfile::tempdir()?;
    let store = store(home.path(), Observed::new());
    let handle = AsyncCredentialHandle::new(store.handle(SERVER, URL));
    handle.sync_handle().save_grant(credential(
        &ep,
        &client,
        &ep.issue_grant(&client.client_id, &[]),
    ))?;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()?;
    let ticks = Arc::new(AtomicU32::new(0));
    let refreshed = runtime.block_on(async {
        let counted = Arc::clone(&ticks);
        let ticker = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(10)).await;
                counted.fetch_add(1, Ordering::SeqCst);
            }
        });
        let refreshed = handle.refresh_if_needed(Duration::from_secs(30)).await;
        ticker.abort();
        refreshed
    });
    refreshed?;
    assert_eq!(ep.requests().len(), 1);
    // The provider took 600 ms; a refresh blocking the only worker thread would leave
    // the ticker at 0. The bound is loose on purpose (a loaded machine ticks late).
    let ticks = ticks.load(Ordering::SeqCst);
    assert!(ticks >= 5, "the runtime thread was blocked: {ticks} ticks");
    Ok(())
}
