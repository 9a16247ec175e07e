//! In-process single-flight: callers of one key that share a transaction all see the
//! same result, the same error variant included, whatever the timing.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use oauth_store::{
    AuthorizationReason, Credential, Error, OAuthStore, RefreshOutcome, StoreMode, TokenRefresher,
};

use crate::support::{SERVER, TestResult, URL, now_ms};

/// Fails every refresh after a pause that the test varies: transiently on even rounds,
/// refused (authorization required) on odd ones, with a panic when asked.
#[derive(Default)]
struct FailingProvider {
    calls: AtomicU32,
    pause_us: AtomicU64,
    round: AtomicU32,
    panic: std::sync::atomic::AtomicBool,
}

impl TokenRefresher for FailingProvider {
    fn refresh(&self, _: &Credential) -> RefreshOutcome {
        self.calls.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(Duration::from_micros(self.pause_us.load(Ordering::SeqCst)));
        if self.panic.load(Ordering::SeqCst) {
            panic!("a refresher plug-in bug");
        }
        if self.round.load(Ordering::SeqCst).is_multiple_of(2) {
            RefreshOutcome::Transient {
                reason: "test: the provider is down".into(),
                retry_after: None,
            }
        } else {
            RefreshOutcome::Refused {
                error: "invalid_client".into(),
                description: None,
                status: 401,
            }
        }
    }
}

fn store_with(home: &std::path::Path, provider: Arc<FailingProvider>) -> OAuthStore {
    OAuthStore::builder()
        .default_stores(false)
        .home(home)
        .mode(StoreMode::File)
        .drift_sidecar(false)
        .refresher(provider)
        .build()
        .expect("store")
}

fn save_due(store: &OAuthStore) -> TestResult {
    let credential = Credential::builder(SERVER, URL, "at-due".to_owned().into())
        .refresh_token("rt-1".to_owned().into())
        .expires_at(now_ms().saturating_sub(1000))
        .build();
    store.handle(SERVER, URL).save_grant(credential)?;
    Ok(())
}

/// Two threads, each with its own handle, released together (the second after a
/// varying delay) onto a due token.
fn two_callers(store: &OAuthStore, stagger: Duration) -> [Result<Credential, Error>; 2] {
    let start = Barrier::new(2);
    std::thread::scope(|s| {
        let callers = [Duration::ZERO, stagger].map(|delay| {
            let start = &start;
            s.spawn(move || {
                start.wait();
                std::thread::sleep(delay);
                store
                    .handle(SERVER, URL)
                    .refresh_if_needed(Duration::from_secs(1))
            })
        });
        callers.map(|c| c.join().expect("caller thread"))
    })
}

#[test]
fn callers_sharing_a_failing_refresh_see_the_same_variant_whatever_the_timing() -> TestResult {
    let home = tempfile::tempdir()?;
    let provider = Arc::new(FailingProvider::default());
    let store = store_with(home.path(), Arc::clone(&provider));
    save_due(&store)?;
    let mut shared_rounds = 0;
    for round in 0..40_u32 {
        provider.round.store(round, Ordering::SeqCst);
        provider
            .pause_us
            .store(u64::from(round % 5) * 400, Ordering::SeqCst);
        let before = provider.calls.load(Ordering::SeqCst);
        let results = two_callers(&store, Duration::from_micros(u64::from(round % 7) * 150));
        if provider.calls.load(Ordering::SeqCst) - before == 1 {
            shared_rounds += 1;
        }
        for result in &results {
            if round.is_multiple_of(2) {
                assert!(
                    matches!(result, Err(Error::Transient { .. })),
                    "round {round}: {result:?}"
                );
            } else {
                assert!(
                    matches!(
                        result,
                        Err(Error::AuthorizationRequired {
                            reason: AuthorizationReason::Refused { .. },
                            ..
                        })
                    ),
                    "round {round}: {result:?}"
                );
            }
        }
    }
    // The point of the test is the shared case: make sure it happened, not only the
    // one where each caller ran alone.
    assert!(shared_rounds > 0, "no round shared a flight");
    Ok(())
}

#[test]
fn a_panic_inside_the_refresh_is_an_internal_error_for_the_leader_and_its_followers() -> TestResult
{
    let home = tempfile::tempdir()?;
    let provider = Arc::new(FailingProvider::default());
    provider.panic.store(true, Ordering::SeqCst);
    provider.pause_us.store(20_000, Ordering::SeqCst);
    let store = store_with(home.path(), Arc::clone(&provider));
    save_due(&store)?;
    for result in two_callers(&store, Duration::from_millis(2)) {
        let error = result.expect_err("the refresh panicked");
        assert!(matches!(error, Error::Internal(_)), "{error:?}");
        assert_eq!(error.kind(), oauth_store::ErrorKind::Internal);
    }
    // The flight was closed: the next caller runs a new transaction, and nothing was lost.
    provider.panic.store(false, Ordering::SeqCst);
    let next = store
        .handle(SERVER, URL)
        .refresh_if_needed(Duration::from_secs(1));
    assert!(matches!(next, Err(Error::Transient { .. })), "{next:?}");
    assert!(store.handle(SERVER, URL).load()?.is_some());
    Ok(())
}
