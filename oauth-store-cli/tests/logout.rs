//! `logout`.

use std::time::Duration;

use crate::util::{Home, Provider, Result, SERVER, SERVER_KEY, with};

#[test]
fn removes_the_credential() -> Result {
    let home = Home::new();
    home.run_with_stdin(&with(&["import"], &SERVER), r#"{"access_token":"at-1"}"#)
        .expect(0);
    let out = home.run(&with(&["logout", "--json"], &SERVER)).expect(0);
    let report = out.json();
    assert_eq!(report["store_key"], SERVER_KEY);
    assert_eq!(report["removed_from"], serde_json::json!(["file"]));
    assert_eq!(report["revoked"], serde_json::Value::Null);
    // Each store's outcome; the keyring cannot be used without a session bus.
    let outcomes: Vec<(&str, &str)> = report["stores"]
        .as_array()
        .expect("stores")
        .iter()
        .map(|s| {
            (
                s["store"].as_str().unwrap_or("?"),
                s["outcome"].as_str().unwrap_or("?"),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            ("file", "removed"),
            ("keyring", "unavailable"),
            ("secrets", "none")
        ]
    );
    assert!(
        report["stores"][1]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("no D-Bus session bus")),
        "{report}"
    );
    assert_eq!(out.stderr, "", "no note under --store file");
    home.run(&with(&["show"], &SERVER)).expect(3);
    Ok(())
}

#[test]
fn text_names_every_store_and_auto_notes_the_unusable_keyring() -> Result {
    let mut home = Home::new();
    home.options.clear(); // --store auto
    home.run_with_stdin(&with(&["import"], &SERVER), r#"{"access_token":"at-1"}"#)
        .expect(0);
    let out = home.run(&with(&["logout"], &SERVER)).expect(0);
    assert_eq!(
        out.stdout,
        format!(
            "logged out {SERVER_KEY}: file store: removed; keyring store: not checked (cannot be used here); secrets store: nothing there\n"
        )
    );
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr.starts_with("note: keyring store unavailable")
            && out.stderr.contains("a copy there, if any, stays"),
        "{}",
        out.stderr
    );
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
