//! `show`.

use crate::util::{Home, Result, SERVER, SERVER_KEY, with};

const RESPONSE: &str = r#"{"access_token":"at-1","refresh_token":"rt-1","client_id":"c1","client_secret":"cs-1",
    "id_token":"idt-1","my_secret_note":"hidden-1","nested":{"device_token":"dt-1","ok":"visible"},"expires_in":60}"#;

const HIDDEN: [&str; 6] = ["at-1", "rt-1", "cs-1", "idt-1", "hidden-1", "dt-1"];

#[test]
fn json_redacts_every_secret_field() -> Result {
    let home = Home::new();
    home.run_with_stdin(&with(&["import"], &SERVER), RESPONSE)
        .expect(0);
    let out = home.run(&with(&["show", "--json"], &SERVER)).expect(0);
    let record = out.json();
    for field in [
        "access_token",
        "refresh_token",
        "client_secret",
        "id_token",
        "my_secret_note",
    ] {
        assert_eq!(record[field], "<redacted>", "{field}");
    }
    assert_eq!(record["nested"]["device_token"], "<redacted>");
    assert_eq!(record["nested"]["ok"], "visible");
    assert_eq!(record["client_id"], "c1");
    assert_eq!(record["server_name"], "notion");
    for secret in HIDDEN {
        assert!(
            !out.stdout.contains(secret) && !out.stderr.contains(secret),
            "{secret} leaked"
        );
    }
    Ok(())
}

#[test]
fn text_shows_key_store_and_redacted_fields() -> Result {
    let home = Home::new();
    home.run_with_stdin(&with(&["import"], &SERVER), RESPONSE)
        .expect(0);
    let out = home.run(&with(&["show"], &SERVER)).expect(0);
    assert!(
        out.stdout.contains(&format!("store_key: {SERVER_KEY}")),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("store: file (configured_load)"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(r#"access_token: "<redacted>""#),
        "{}",
        out.stdout
    );
    for secret in HIDDEN {
        assert!(!out.stdout.contains(secret), "{secret} leaked");
    }
    Ok(())
}

#[test]
fn nothing_stored_is_authorization_required() -> Result {
    let home = Home::new();
    let out = home.run(&with(&["show"], &SERVER)).expect(3);
    assert!(
        out.stderr.contains("no credential is stored"),
        "{}",
        out.stderr
    );
    assert_eq!(out.stdout, "");
    Ok(())
}
