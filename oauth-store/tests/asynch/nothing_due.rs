//! The async face's nothing-due path: answered on the caller's thread, the future ready
//! at once, with no provider request and no thread; never a wait on a runtime thread,
//! even while another process holds the credential lock and the store lock.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::thread::ThreadId;
use std::time::Duration;

use oauth_store::store_core::{Clock, SystemClock};
use oauth_store::{AsyncCredentialHandle, Credential, LayoutPreset, OAuthStore, StoreMode};
use oauth_store_testkit::{ClientRegistration, TokenEndpoint};

use super::Observed;
use crate::http::{SERVER, TestResult, URL, credential, endpoint, expose};
use crate::support::child::spawn_lock_holder;
use crate::support::{LogCapture, now_ms};

/// The event `oauth_lock` logs when a lock is contended and a caller starts waiting.
const LOCK_WAIT: &str = "oauth_lock::contention";

/// The system clock, noting the thread of every read: the refresh path reads it once,
/// on whatever thread runs it.
#[derive(Debug, Default)]
struct ThreadNoting(Mutex<Vec<(ThreadId, String)>>);

impl Clock for ThreadNoting {
    fn now_ms(&self) -> u64 {
        let thread = std::thread::current();
        let name = thread.name().unwrap_or("<unnamed>").to_owned();
        self.0.lock().expect("reads").push((thread.id(), name));
        SystemClock.now_ms()
    }
}

impl ThreadNoting {
    /// The reads so far, forgotten.
    fn take(&self) -> Vec<(ThreadId, String)> {
        std::mem::take(&mut *self.0.lock().expect("reads"))
    }
}

/// A File-mode store of the `preset` layout in `home`, refreshing at the testkit
/// endpoint through `refresher`; a lock wait gives up after 5 s.
fn store(
    home: &std::path::Path,
    preset: LayoutPreset,
    clock: &Arc<ThreadNoting>,
    refresher: &Arc<Observed>,
) -> OAuthStore {
    OAuthStore::builder()
        .default_stores(false)
        .home(home)
        .layout(preset)
        .mode(StoreMode::File)
        .clock(Arc::clone(clock) as Arc<dyn Clock>)
        .refresher(Arc::clone(refresher) as Arc<dyn oauth_store::TokenRefresher>)
        .lock_timeout(Duration::from_secs(5))
        .build()
        .expect("store")
}

/// A grant of `ep` whose access token has an hour left: nothing is due.
fn an_hour_left(ep: &TokenEndpoint, client: &ClientRegistration) -> Credential {
    let mut saved = credential(ep, client, &ep.issue_grant(&client.client_id, &[]));
    saved.expires_at = Some(now_ms() + 3_600_000);
    saved
}

#[test]
fn nothing_due_is_answered_at_once_on_the_callers_thread() -> TestResult {
    let client = ClientRegistration::public("idle-client");
    let ep = endpoint(&client);
    let home = tempfile::tempdir()?;
    let clock = Arc::new(ThreadNoting::default());
    let refresher = Observed::new();
    let store = store(home.path(), LayoutPreset::Default, &clock, &refresher);
    let saved = an_hour_left(&ep, &client);
    store.handle(SERVER, URL).save_grant(saved.clone())?;

    // A new handle's first call resolves the store and pins it (which may write the
    // drift sidecar): that one runs on a thread.
    let handle = AsyncCredentialHandle::new(store.handle(SERVER, URL));
    clock.take();
    tokio::runtime::Builder::new_current_thread()
        .build()?
        .block_on(handle.fresh())?;
    let first = clock.take();
    assert!(
        !first.is_empty() && first.iter().all(|(_, name)| name == "oauth-store-refresh"),
        "the first call ran on its thread: {first:?}"
    );

    // Pinned, nothing due: ready at the first poll, with no runtime and a waker that
    // does nothing, read on this thread.
    for (what, future) in [
        ("fresh", handle.fresh()),
        (
            "refresh_if_needed",
            handle.refresh_if_needed(Duration::from_secs(30)),
        ),
    ] {
        let mut future = pin!(future);
        let Poll::Ready(got) = future
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
        else {
            panic!("{what}: nothing was due, yet the answer was not ready at once");
        };
        assert_eq!(
            expose(&got?.access_token),
            expose(&saved.access_token),
            "{what}"
        );
    }
    let me = std::thread::current().id();
    let reads = clock.take();
    assert!(
        reads.len() == 2 && reads.iter().all(|(id, _)| *id == me),
        "each call read on the caller's thread, none on a thread of its own: {reads:?}"
    );
    assert!(ep.requests().is_empty(), "no provider request");
    assert!(refresher.threads().is_empty());
    Ok(())
}

#[test]
fn nothing_due_does_not_wait_while_another_process_holds_the_locks() -> TestResult {
    let client = ClientRegistration::public("held-client");
    let ep = endpoint(&client);
    let home = tempfile::tempdir()?;
    let clock = Arc::new(ThreadNoting::default());
    let store = store(home.path(), LayoutPreset::Default, &clock, &Observed::new());
    let saved = an_hour_left(&ep, &client);
    let handle = AsyncCredentialHandle::new(store.handle(SERVER, URL));
    // Saving pins the handle.
    handle.sync_handle().save_grant(saved.clone())?;
    clock.take();

    // Another process holds the credential lock and the File store lock, and lets go
    // only when told, after the calls: a call that waited for either would fail with
    // a lock timeout after 5 s.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()?;
    let mut holder = spawn_lock_holder(home.path(), LayoutPreset::Default, handle.key(), true);
    // Events of this (the runtime's) thread only.
    let log = LogCapture::default();
    let (fresh, if_needed) = log.run(|| {
        runtime.block_on(async {
            (
                handle.fresh().await,
                handle.refresh_if_needed(Duration::from_secs(30)).await,
            )
        })
    });
    let held_throughout = matches!(holder.try_wait(), Ok(None));
    drop(holder.stdin.take());
    assert!(holder.wait()?.success(), "the holder exited cleanly");
    assert!(held_throughout, "the holder held the locks throughout");

    assert_eq!(expose(&fresh?.access_token), expose(&saved.access_token));
    assert_eq!(
        expose(&if_needed?.access_token),
        expose(&saved.access_token)
    );
    let me = std::thread::current().id();
    let reads = clock.take();
    assert!(
        reads.len() == 2 && reads.iter().all(|(id, _)| *id == me),
        "read on the runtime's own thread: {reads:?}"
    );
    assert!(
        !log.text().contains(LOCK_WAIT),
        "no lock wait on the runtime thread: {}",
        log.text()
    );
    assert!(ep.requests().is_empty(), "no provider request");
    Ok(())
}

/// The codex layout reads the File document under the store lock (that CLI writes in
/// place): a nothing-due read may wait, so it goes to a thread, and the runtime's only
/// thread keeps running, here the very task that makes the holder let go.
#[test]
fn a_read_that_waits_for_the_store_lock_never_blocks_the_runtime_thread() -> TestResult {
    let client = ClientRegistration::public("codex-client");
    let ep = endpoint(&client);
    let home = tempfile::tempdir()?;
    let clock = Arc::new(ThreadNoting::default());
    let store = store(home.path(), LayoutPreset::Codex, &clock, &Observed::new());
    let saved = an_hour_left(&ep, &client);
    let handle = AsyncCredentialHandle::new(store.handle(SERVER, URL));
    handle.sync_handle().save_grant(saved.clone())?;
    clock.take();

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()?;
    let mut holder = spawn_lock_holder(home.path(), LayoutPreset::Codex, handle.key(), true);
    let let_go = holder.stdin.take();
    let ticks = Arc::new(AtomicU32::new(0));
    let counted = Arc::clone(&ticks);
    // Events of this (the runtime's) thread only: a lock wait logs one.
    let log = LogCapture::default();
    let got = log.run(|| {
        runtime.block_on(async move {
            let ticker = tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    counted.fetch_add(1, Ordering::SeqCst);
                }
            });
            // Runs only if this thread is free while the read waits; a read blocking it
            // would wait out the 5 s lock timeout and fail.
            let release = tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                drop(let_go);
            });
            let got = handle.fresh().await;
            ticker.abort();
            let _ = release.await;
            got
        })
    });
    assert!(holder.wait()?.success(), "the holder exited cleanly");

    assert_eq!(expose(&got?.access_token), expose(&saved.access_token));
    assert!(
        !log.text().contains(LOCK_WAIT),
        "the runtime thread waited for a lock: {}",
        log.text()
    );
    let ticks = ticks.load(Ordering::SeqCst);
    assert!(ticks >= 5, "the runtime thread was blocked: {ticks} ticks");
    let reads = clock.take();
    assert!(
        !reads.is_empty() && reads.iter().all(|(_, name)| name == "oauth-store-refresh"),
        "the read ran on a thread of its own: {reads:?}"
    );
    assert!(ep.requests().is_empty(), "no provider request");
    Ok(())
}
