//! The two refresh thresholds in one process (DESIGN.md "Refresh thresholds"), on a
//! manual clock: scaled defaults, refresh ahead when free, the current token kept on a
//! transient failure, a rejected grant still an error. The multi-process cases (a slow
//! refresh in another process) are in `oauth-store-cli/tests/refresh_ahead.rs`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use oauth_store::store_core::{Clock, ManualClock};
use oauth_store::{
    AuthorizationReason, Credential, Error, OAuthStore, RefreshOutcome, StoreMode, TokenRefresher,
    TokenResponse,
};
use oauth_store_core::ExposeSecret;

use crate::support::{SERVER, TestResult, URL};

const START_MS: u64 = 1_800_000_000_000;

/// What [`Counting`] answers.
#[derive(Clone, Copy)]
enum Answer {
    /// New tokens living this many seconds.
    Tokens(u64),
    Transient,
    Rejected,
}

/// A provider that counts refreshes and answers as told.
struct Counting {
    calls: AtomicU32,
    answer: Answer,
}

impl Counting {
    fn new(answer: Answer) -> Arc<Counting> {
        Arc::new(Counting {
            calls: AtomicU32::new(0),
            answer,
        })
    }
    fn calls(&self) -> u32 {
        self.calls.load(Ordering::SeqCst)
    }
}

impl TokenRefresher for Counting {
    fn refresh(&self, _: &Credential) -> RefreshOutcome {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        match self.answer {
            Answer::Tokens(lifetime_s) => {
                let mut response = TokenResponse::new(format!("at-{n}").into());
                response.expires_in = Some(lifetime_s);
                response.refresh_token = Some(format!("rt-{n}").into());
                RefreshOutcome::Refreshed(response)
            }
            Answer::Transient => RefreshOutcome::Transient {
                reason: "test: the provider is down".into(),
                retry_after: None,
            },
            Answer::Rejected => RefreshOutcome::Rejected { description: None },
        }
    }
}

fn store(
    home: &std::path::Path,
    clock: &Arc<ManualClock>,
    provider: &Arc<Counting>,
) -> Result<OAuthStore, Error> {
    OAuthStore::builder()
        .default_stores(false)
        .drift_sidecar(false)
        .home(home)
        .mode(StoreMode::File)
        .clock(clock.clone())
        .refresher(provider.clone())
        .build()
}

/// Saves a grant issued now whose access token lives `lifetime_ms`.
fn login(store: &OAuthStore, clock: &ManualClock, lifetime_ms: u64) -> Result<(), Error> {
    let credential = Credential::builder(SERVER, URL, "at-0".to_owned().into())
        .client_id("c")
        .refresh_token("rt-0".to_owned().into())
        .expires_at(clock.now_ms() + lifetime_ms)
        .build();
    store.handle(SERVER, URL).save_grant(credential)?;
    Ok(())
}

#[test]
fn a_just_issued_token_is_never_due() -> TestResult {
    for lifetime_ms in [1, 500, 2_000, 60_000, 3_600_000] {
        let home = tempfile::tempdir()?;
        let clock = Arc::new(ManualClock::new(START_MS));
        let provider = Counting::new(Answer::Tokens(2));
        let store = store(home.path(), &clock, &provider)?;
        login(&store, &clock, lifetime_ms)?;
        let got = store.handle(SERVER, URL).fresh()?;
        assert_eq!(got.access_token.expose_secret(), "at-0", "{lifetime_ms} ms");
        assert_eq!(provider.calls(), 0, "{lifetime_ms} ms: no refresh");
    }
    Ok(())
}

#[test]
fn a_two_second_token_is_refreshed_about_once_a_second_not_on_every_call() -> TestResult {
    let home = tempfile::tempdir()?;
    let clock = Arc::new(ManualClock::new(START_MS));
    let provider = Counting::new(Answer::Tokens(2));
    let store = store(home.path(), &clock, &provider)?;
    login(&store, &clock, 2_000)?;
    let handle = store.handle(SERVER, URL);
    // 1000 calls, one every 10 ms: 10 s of a 2 s token refreshed ahead at half its life.
    for _ in 0..1000 {
        clock.advance(10);
        let got = handle.fresh()?;
        assert!(
            got.expires_at.is_some_and(|at| at > clock.now_ms()),
            "never an expired token"
        );
    }
    let refreshes = provider.calls();
    assert!(
        (9..=11).contains(&refreshes),
        "{refreshes} refreshes for 1000 calls over 10 s"
    );
    Ok(())
}

#[test]
fn explicit_thresholds_override_the_scaled_ones() -> TestResult {
    let home = tempfile::tempdir()?;
    let clock = Arc::new(ManualClock::new(START_MS));
    let provider = Counting::new(Answer::Tokens(3600));
    let store = OAuthStore::builder()
        .default_stores(false)
        .drift_sidecar(false)
        .home(home.path())
        .mode(StoreMode::File)
        .clock(clock.clone())
        .refresher(provider.clone())
        .refresh_ahead(Duration::from_secs(50))
        .min_valid(Duration::from_secs(10))
        .build()?;
    login(&store, &clock, 60_000)?;
    let handle = store.handle(SERVER, URL);
    // Scaled, a 60 s token would be refreshed ahead at 30 s left; here at 50 s.
    clock.advance(9_000);
    assert_eq!(handle.fresh()?.access_token.expose_secret(), "at-0");
    clock.advance(2_000);
    assert_eq!(handle.fresh()?.access_token.expose_secret(), "at-1");
    assert_eq!(provider.calls(), 1);
    Ok(())
}

#[test]
fn refresh_if_needed_takes_min_valid_as_the_mandatory_threshold() -> TestResult {
    let home = tempfile::tempdir()?;
    let clock = Arc::new(ManualClock::new(START_MS));
    let provider = Counting::new(Answer::Transient);
    let store = store(home.path(), &clock, &provider)?;
    login(&store, &clock, 60_000)?;
    let handle = store.handle(SERVER, URL);
    // Past advisory (30 s left), not past 10 s: a failed refresh ahead keeps the token.
    clock.advance(35_000);
    let got = handle.refresh_if_needed(Duration::from_secs(10))?;
    assert_eq!(got.access_token.expose_secret(), "at-0");
    assert_eq!(provider.calls(), 1);
    // Past the mandatory threshold the failure is the caller's.
    clock.advance(20_000);
    let err = handle
        .refresh_if_needed(Duration::from_secs(10))
        .expect_err("mandatory");
    assert!(matches!(err, Error::Transient { .. }), "{err}");
    Ok(())
}

#[test]
fn a_rejected_grant_is_an_error_even_ahead_of_time() -> TestResult {
    let home = tempfile::tempdir()?;
    let clock = Arc::new(ManualClock::new(START_MS));
    let provider = Counting::new(Answer::Rejected);
    let store = store(home.path(), &clock, &provider)?;
    login(&store, &clock, 60_000)?;
    clock.advance(35_000);
    let err = store
        .handle(SERVER, URL)
        .fresh()
        .expect_err("invalid_grant is reported");
    assert!(
        matches!(
            err,
            Error::AuthorizationRequired {
                reason: AuthorizationReason::GrantRejected { .. },
                ..
            }
        ),
        "{err}"
    );
    Ok(())
}

#[cfg(feature = "tokio")]
#[test]
fn the_async_face_refreshes_ahead_as_the_store_says() -> TestResult {
    let home = tempfile::tempdir()?;
    let clock = Arc::new(ManualClock::new(START_MS));
    let provider = Counting::new(Answer::Tokens(60));
    let store = store(home.path(), &clock, &provider)?;
    login(&store, &clock, 60_000)?;
    let handle = oauth_store::AsyncCredentialHandle::new(store.handle(SERVER, URL));
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    assert_eq!(
        runtime
            .block_on(handle.fresh())?
            .access_token
            .expose_secret(),
        "at-0",
        "just issued"
    );
    // 25 s left of 60: past the scaled advisory threshold (30 s), the lock is free.
    clock.advance(35_000);
    assert_eq!(
        runtime
            .block_on(handle.fresh())?
            .access_token
            .expose_secret(),
        "at-1"
    );
    assert_eq!(provider.calls(), 1);
    Ok(())
}

/// A provider that says when a refresh started and answers only when told to.
struct Gate {
    started: std::sync::Mutex<std::sync::mpsc::Sender<()>>,
    release: std::sync::Mutex<std::sync::mpsc::Receiver<()>>,
}

impl TokenRefresher for Gate {
    fn refresh(&self, _: &Credential) -> RefreshOutcome {
        let _ = self.started.lock().expect("gate").send(());
        let _ = self.release.lock().expect("gate").recv();
        let mut response = TokenResponse::new("at-1".to_owned().into());
        response.expires_in = Some(3600);
        RefreshOutcome::Refreshed(response)
    }
}

#[test]
fn a_caller_of_this_process_stops_waiting_for_another_callers_refresh_when_its_token_expires()
-> TestResult {
    let home = tempfile::tempdir()?;
    let clock = Arc::new(ManualClock::new(START_MS));
    let (started_tx, started) = std::sync::mpsc::channel();
    let (release, release_rx) = std::sync::mpsc::channel();
    let store = OAuthStore::builder()
        .default_stores(false)
        .drift_sidecar(false)
        .home(home.path())
        .mode(StoreMode::File)
        .clock(clock.clone())
        .refresher(Arc::new(Gate {
            started: std::sync::Mutex::new(started_tx),
            release: std::sync::Mutex::new(release_rx),
        }))
        .build()?;
    // Issued for 1 s, 900 ms ago: past the mandatory threshold (250 ms), not expired.
    login(&store, &clock, 1_000)?;
    clock.advance(900);
    std::thread::scope(|scope| -> TestResult {
        let leader = scope.spawn(|| store.handle(SERVER, URL).fresh());
        // A guard against a hang if the leader never refreshes, not a timing assertion.
        started.recv_timeout(Duration::from_secs(60))?;
        let err = store
            .handle(SERVER, URL)
            .fresh()
            .expect_err("its token expired while the leader refreshed");
        assert!(
            matches!(err, Error::ExpiredWhileWaiting { holder_pid, .. } if holder_pid == Some(std::process::id())),
            "{err}"
        );
        assert!(
            err.to_string().contains("expired") && !err.to_string().contains("at-"),
            "{err}"
        );
        // Only now does the leader's provider answer: the follower did not wait for it.
        release.send(())?;
        let fresh = leader.join().expect("leader")?;
        assert_eq!(fresh.access_token.expose_secret(), "at-1");
        Ok(())
    })?;
    Ok(())
}
