//! `refresh`.

use std::time::Duration;

use oauth_store_testkit::Fault;

use crate::util::{Home, Provider, Result, SERVER, with};

#[test]
fn a_valid_token_is_not_refreshed_without_force() -> Result {
    let provider = Provider::start(Duration::from_secs(3600));
    let home = Home::new();
    provider.import(&home, None);
    let out = home
        .run(&with(&["refresh", "--json"], &provider.server()))
        .expect(0);
    assert_eq!(out.json()["refreshed"], false);
    assert_eq!(provider.endpoint.counters().token_requests, 0);
    let out = home.run(&with(&["refresh"], &provider.server())).expect(0);
    assert!(out.stdout.contains("not refreshed"), "{}", out.stdout);
    Ok(())
}

#[test]
fn a_due_token_is_refreshed() -> Result {
    let provider = Provider::start(Duration::from_secs(3600));
    let home = Home::new();
    provider.import(&home, Some(10));
    let out = home.run(&with(&["refresh"], &provider.server())).expect(0);
    assert!(out.stdout.starts_with("refreshed "), "{}", out.stdout);
    assert_eq!(provider.endpoint.counters().refreshes, 1);
    Ok(())
}

#[test]
fn force_refreshes_now() -> Result {
    let provider = Provider::start(Duration::from_secs(3600));
    let home = Home::new();
    provider.import(&home, None);
    let out = home
        .run(&with(&["refresh", "--force", "--json"], &provider.server()))
        .expect(0);
    let json = out.json();
    assert_eq!(json["refreshed"], true);
    assert!(json["expires_in_s"].as_i64().is_some_and(|s| s > 3500));
    assert_eq!(provider.endpoint.counters().refreshes, 1);
    // The rotated refresh token was saved: a second forced refresh uses it without reuse.
    home.run(&with(&["refresh", "--force"], &provider.server()))
        .expect(0);
    let counters = provider.endpoint.counters();
    assert_eq!((counters.refreshes, counters.reuse_detections), (2, 0));
    Ok(())
}

#[test]
fn failures_map_to_exit_codes() -> Result {
    for (fault, code) in [
        (Fault::Status500, 5),
        (Fault::Unreachable, 5),
        (Fault::InvalidGrant, 3),
        (Fault::InvalidClient, 3),
    ] {
        let provider = Provider::start(Duration::from_secs(3600));
        let home = Home::new();
        provider.import(&home, None);
        provider.endpoint.set_fault(Some(fault));
        let out = home
            .run(&with(&["refresh", "--force"], &provider.server()))
            .expect(code);
        assert_eq!(out.stdout, "", "{fault:?}");
        assert_eq!(out.stderr.lines().count(), 1, "{fault:?}: {}", out.stderr);
    }
    Ok(())
}

#[test]
fn nothing_stored_is_exit_3() -> Result {
    let home = Home::new();
    home.run(&with(&["refresh", "--force"], &SERVER)).expect(3);
    home.run(&with(&["refresh"], &SERVER)).expect(3);
    Ok(())
}

#[test]
fn the_resource_indicator_has_no_fragment_and_no_user_info() -> Result {
    let provider = Provider::start(Duration::from_secs(3600));
    let home = Home::new();
    provider.import(&home, None);
    // A record written before the URL rules (or by another program): its key stays,
    // its URL holds user info and a fragment.
    let text = std::fs::read_to_string(home.document())?;
    let hostile = provider.url.replacen("http://", "http://user:PASSWORD@", 1) + "#frag";
    std::fs::write(
        home.document(),
        text.replace(&format!("\"{}\"", provider.url), &format!("\"{hostile}\"")),
    )?;
    let out = home
        .run(&with(&["refresh", "--force"], &provider.server()))
        .expect(0);
    assert!(!out.stdout.contains("PASSWORD"), "{}", out.stdout);
    let requests = provider.endpoint.requests();
    let last = requests.last().expect("one refresh");
    assert_eq!(
        last.resources,
        vec![provider.url.clone()],
        "RFC 8707 section 2"
    );
    Ok(())
}
