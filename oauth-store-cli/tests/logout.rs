//! `logout`.

use std::time::Duration;

use crate::util::{Home, Provider, Result, SERVER, SERVER_KEY, with};

#[test]
fn removes_the_credential() -> Result {
    let home = Home::new();
    home.run_with_stdin(&with(&["import"], &SERVER), r#"{"access_token":"at-1"}"#)
        .expect(0);
    let out = home.run(&with(&["logout", "--json"], &SERVER)).expect(0);
    assert_eq!(
        out.json(),
        serde_json::json!({"store_key": SERVER_KEY, "removed_from": ["file"], "revoked": null})
    );
    home.run(&with(&["show"], &SERVER)).expect(3);
    Ok(())
}

#[test]
fn nothing_stored_is_exit_0_with_a_note() -> Result {
    let home = Home::new();
    let out = home.run(&with(&["logout"], &SERVER)).expect(0);
    assert!(
        out.stderr.starts_with("note: nothing stored"),
        "{}",
        out.stderr
    );
    let out = home
        .run(&with(&["logout", "--revoke", "--json"], &SERVER))
        .expect(0);
    assert_eq!(out.json()["removed_from"], serde_json::json!([]));
    Ok(())
}

#[test]
fn revoke_revokes_the_grant_at_the_provider_first() -> Result {
    let provider = Provider::start(Duration::from_secs(3600));
    let home = Home::new();
    provider.import(&home, None);
    let out = home
        .run(&with(&["logout", "--revoke"], &provider.server()))
        .expect(0);
    assert!(out.stdout.contains("revoked"), "{}", out.stdout);
    assert_eq!(provider.endpoint.counters().revocations, 1);
    assert!(
        !provider
            .endpoint
            .grant_is_active(&provider.grant.refresh_token)
    );
    home.run(&with(&["show"], &provider.server())).expect(3);
    Ok(())
}

#[test]
fn a_failed_revocation_warns_and_still_removes() -> Result {
    let provider = Provider::start(Duration::from_secs(3600));
    let home = Home::new();
    provider.import(&home, None);
    let server: Vec<String> = provider.server().iter().map(|s| (*s).to_owned()).collect();
    drop(provider); // the provider is gone: revocation cannot reach it
    let server: Vec<&str> = server.iter().map(String::as_str).collect();
    let out = home.run(&with(&["logout", "--revoke"], &server)).expect(0);
    assert!(
        out.stderr.starts_with("warning: ") && out.stderr.contains("revocation"),
        "{}",
        out.stderr
    );
    home.run(&with(&["show"], &server)).expect(3);
    Ok(())
}
