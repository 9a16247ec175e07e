//! `token`: refresh when due, lenient on a provider failure while the token is valid.

use std::time::Duration;

use oauth_store_testkit::Fault;

use crate::util::{Home, Provider, Result, SERVER, with};

#[test]
fn prints_only_the_token_when_it_is_fresh() -> Result {
    let provider = Provider::start(Duration::from_secs(3600));
    let home = Home::new();
    provider.import(&home, None);
    let out = home.run(&with(&["token"], &provider.server())).expect(0);
    assert_eq!(out.stdout, format!("{}\n", provider.grant.access_token));
    assert_eq!(out.stderr, "");
    assert_eq!(
        provider.endpoint.counters().token_requests,
        0,
        "no refresh for a fresh token"
    );
    // --json changes nothing on stdout: it is the token either way.
    let out = home
        .run(&with(&["token", "--json"], &provider.server()))
        .expect(0);
    assert_eq!(out.stdout, format!("{}\n", provider.grant.access_token));
    Ok(())
}

#[test]
fn refreshes_when_less_than_min_valid_is_left() -> Result {
    let provider = Provider::start(Duration::from_secs(60));
    let home = Home::new();
    provider.import(&home, None);
    let out = home
        .run(&with(&["token", "--min-valid", "120"], &provider.server()))
        .expect(0);
    let printed = out.stdout.strip_suffix('\n').expect("a newline");
    assert!(!printed.contains('\n'));
    assert_ne!(printed, provider.grant.access_token);
    assert!(provider.endpoint.access_token_is_active(printed));
    assert_eq!(provider.endpoint.counters().refreshes, 1);
    // The refreshed token was saved: the next call with the default margin uses it.
    let again = home.run(&with(&["token"], &provider.server())).expect(0);
    assert_eq!(again.stdout, out.stdout);
    assert_eq!(provider.endpoint.counters().refreshes, 1);
    Ok(())
}

#[test]
fn default_thresholds_scale_with_the_lifetime_and_explicit_min_valid_still_works() -> Result {
    let provider = Provider::start(Duration::from_secs(3600));
    let home = Home::new();
    // Issued with 20 s to live: by default due at 10 s (advisory) and 5 s (mandatory) left,
    // so a just-issued token is not refreshed, however short its life.
    provider.import(&home, Some(20));
    let out = home.run(&with(&["token"], &provider.server())).expect(0);
    assert_eq!(out.stdout, format!("{}\n", provider.grant.access_token));
    assert_eq!(provider.endpoint.counters().token_requests, 0);
    // An explicit --min-valid is the mandatory threshold, as before.
    let out = home
        .run(&with(&["token", "--min-valid", "30"], &provider.server()))
        .expect(0);
    assert_ne!(
        out.stdout.trim_end(),
        provider.grant.access_token,
        "20 s left < 30 s: refreshed"
    );
    assert_eq!(provider.endpoint.counters().refreshes, 1);
    Ok(())
}

#[test]
fn unknown_expiry_is_printed_as_is() -> Result {
    let home = Home::new();
    home.run_with_stdin(
        &with(&["import"], &SERVER),
        r#"{"access_token":"at-unknown","refresh_token":"rt"}"#,
    )
    .expect(0);
    let out = home
        .run(&with(&["token", "--min-valid", "99999"], &SERVER))
        .expect(0);
    assert_eq!(out.stdout, "at-unknown\n");
    Ok(())
}

#[test]
fn a_failing_provider_with_a_valid_token_prints_it_and_warns() -> Result {
    for fault in [
        Fault::Status500,
        Fault::Unreachable,
        Fault::UnparsableSuccess,
    ] {
        let provider = Provider::start(Duration::from_secs(60));
        let home = Home::new();
        provider.import(&home, None);
        provider.endpoint.set_fault(Some(fault));
        let out = home
            .run(&with(&["token", "--min-valid", "120"], &provider.server()))
            .expect(0);
        assert_eq!(
            out.stdout,
            format!("{}\n", provider.grant.access_token),
            "{fault:?}"
        );
        assert!(
            out.stderr.starts_with("warning: ") && out.stderr.lines().count() == 1,
            "{fault:?}: {}",
            out.stderr
        );
    }
    Ok(())
}

#[test]
fn a_failing_provider_with_an_expired_token_is_exit_5() -> Result {
    for fault in [Fault::Status500, Fault::Status429, Fault::UnparsableSuccess] {
        let provider = Provider::start(Duration::from_secs(60));
        let home = Home::new();
        provider.import(&home, Some(0));
        provider.endpoint.set_fault(Some(fault));
        let out = home.run(&with(&["token"], &provider.server())).expect(5);
        assert_eq!(out.stdout, "", "{fault:?}");
        assert_eq!(out.stderr.lines().count(), 1, "{fault:?}: {}", out.stderr);
    }
    Ok(())
}

#[test]
fn a_rejected_grant_or_refused_client_is_exit_3() -> Result {
    for fault in [Fault::InvalidGrant, Fault::InvalidClient] {
        let provider = Provider::start(Duration::from_secs(60));
        let home = Home::new();
        provider.import(&home, Some(0));
        provider.endpoint.set_fault(Some(fault));
        let out = home.run(&with(&["token"], &provider.server())).expect(3);
        assert_eq!(out.stdout, "");
        assert!(
            out.stderr.contains("authorization required"),
            "{fault:?}: {}",
            out.stderr
        );
    }
    Ok(())
}

#[test]
fn nothing_stored_is_exit_3() -> Result {
    let home = Home::new();
    let out = home.run(&with(&["token"], &SERVER)).expect(3);
    assert_eq!(out.stdout, "");
    Ok(())
}
