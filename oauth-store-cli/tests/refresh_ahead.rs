//! `token`'s two refresh thresholds across processes (DESIGN.md "Refresh thresholds"),
//! against a provider that takes 8 s to answer ([`Fault::Slow`]): while one process
//! refreshes, callers past the advisory threshold print their current token at once,
//! callers past the mandatory one wait for the new token, and a waiter whose token
//! expires first gets a clear error. Order and outcome are asserted, never durations.

use std::process::{Child, Output};
use std::time::{Duration, Instant};

use oauth_store_testkit::Fault;

use crate::util::{Home, Provider, Result, with};

/// The provider's answer delay: the 8 s of the report that asked for the thresholds.
const SLOW: Duration = Duration::from_secs(8);

/// A provider answering every refresh after [`SLOW`], and a home holding its grant with
/// `expires_in` seconds left.
fn slow_provider(expires_in: i64) -> (Provider, Home) {
    let provider = Provider::start(Duration::from_secs(3600));
    let home = Home::new();
    provider.import(&home, Some(expires_in));
    provider.endpoint.set_fault(Some(Fault::Slow(SLOW)));
    (provider, home)
}

/// Starts `token` with `flags` in `home`.
fn spawn_token(home: &Home, provider: &Provider, flags: &[&str]) -> Child {
    let args = with(&with(&["token"], flags), &provider.server());
    home.command(&args)
        .spawn()
        .expect("start oauth-store token")
}

/// Starts the refreshing process (past its mandatory threshold) and returns once the
/// provider has processed its refresh, whose answer is now held back for [`SLOW`].
fn start_slow_refresh(home: &Home, provider: &Provider) -> Child {
    // 1200 s: past it with the 600 s left, short of it with a new 3600 s token.
    let leader = spawn_token(home, provider, &["--min-valid", "1200"]);
    // A guard against a hang, not a timing assertion.
    let guard = Instant::now() + Duration::from_secs(60);
    while provider.endpoint.counters().refreshes == 0 {
        assert!(
            Instant::now() < guard,
            "the refresh never reached the provider"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    leader
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

fn finish(child: Child) -> Output {
    child.wait_with_output().expect("wait for oauth-store")
}

#[test]
fn past_the_advisory_threshold_callers_print_their_current_token_while_another_process_refreshes()
-> Result {
    let (provider, home) = slow_provider(600);
    let old = format!("{}\n", provider.grant.access_token);
    let mut leader = start_slow_refresh(&home, &provider);
    // 600 s left: past --refresh-ahead 900, short of --min-valid 60.
    let callers: Vec<Child> = (0..8)
        .map(|_| {
            spawn_token(
                &home,
                &provider,
                &["--refresh-ahead", "900", "--min-valid", "60"],
            )
        })
        .collect();
    for caller in callers {
        let out = finish(caller);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert_eq!(text(&out.stdout), old, "the current token, at once");
        assert_eq!(text(&out.stderr), "");
    }
    assert!(
        leader.try_wait()?.is_none(),
        "all 8 callers finished while the slow refresh was still running"
    );
    let out = finish(leader);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let new = text(&out.stdout);
    assert_ne!(new, old);
    assert!(provider.endpoint.access_token_is_active(new.trim_end()));
    let counters = provider.endpoint.counters();
    assert_eq!(counters.refreshes, 1, "one refresh in all");
    assert_eq!(counters.reuse_detections, 0);
    // Once it is saved, everybody sees the new token, without another request.
    provider.endpoint.set_fault(None);
    let again = home
        .run(&with(
            &["token", "--refresh-ahead", "900", "--min-valid", "60"],
            &provider.server(),
        ))
        .expect(0);
    assert_eq!(again.stdout, new);
    assert_eq!(provider.endpoint.counters().refreshes, 1);
    Ok(())
}

#[test]
fn past_the_mandatory_threshold_callers_wait_for_the_new_token() -> Result {
    let (provider, home) = slow_provider(600);
    let leader = start_slow_refresh(&home, &provider);
    let waiters: Vec<Child> = (0..8)
        .map(|_| spawn_token(&home, &provider, &["--min-valid", "1200"]))
        .collect();
    let out = finish(leader);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let new = text(&out.stdout);
    assert_ne!(new, format!("{}\n", provider.grant.access_token));
    for waiter in waiters {
        let out = finish(waiter);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert_eq!(text(&out.stdout), new, "the token the holder saved");
    }
    let counters = provider.endpoint.counters();
    assert_eq!(counters.token_requests, 1, "one provider request in all");
    assert_eq!(counters.reuse_detections, 0);
    Ok(())
}

#[test]
fn a_waiter_whose_token_expires_while_another_process_refreshes_gets_a_clear_error() -> Result {
    // 5 s left: the waiter's wait ends with its token, before the 8 s refresh does.
    let (provider, home) = slow_provider(5);
    let mut leader = start_slow_refresh(&home, &provider);
    let waiter = spawn_token(&home, &provider, &["--min-valid", "1200"]);
    let out = finish(waiter);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert_eq!(text(&out.stdout), "", "no token");
    assert!(
        stderr.contains("the access token expired") && stderr.contains("while another process"),
        "{stderr}"
    );
    assert!(
        leader.try_wait()?.is_none(),
        "the waiter gave up with its token, before the holder's refresh ended"
    );
    let out = finish(leader);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(provider.endpoint.counters().refreshes, 1);
    // The holder's result is there for the next call.
    provider.endpoint.set_fault(None);
    let again = home.run(&with(&["token"], &provider.server())).expect(0);
    assert_eq!(again.stdout, text(&out.stdout));
    Ok(())
}
