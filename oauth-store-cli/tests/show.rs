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

/// A document holding the `notion` record with a member `deep` nested `depth` arrays.
fn with_nesting(depth: usize) -> Home {
    let home = Home::new();
    home.run_with_stdin(&with(&["import"], &SERVER), r#"{"access_token":"at-1"}"#)
        .expect(0);
    let text = std::fs::read_to_string(home.document()).expect("the document");
    let deep = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let text = text.replacen(
        r#""server_name":"#,
        &format!(r#""deep":{deep},"server_name":"#),
        1,
    );
    std::fs::write(home.document(), text).expect("write the document");
    home
}

#[test]
fn any_nesting_the_parser_accepts_is_shown_without_a_panic() -> Result {
    // serde_json builds a value at most 128 levels deep, the record's level included
    // (so that `show --json` parses again); a kept member is captured as text, at any
    // depth. The limit, one past it, and far past it.
    for (depth, shown) in [(126, true), (127, false), (128, false), (100_000, false)] {
        let home = with_nesting(depth);
        for args in [with(&["show"], &SERVER), with(&["show", "--json"], &SERVER)] {
            let out = home.run(&args).expect(0);
            assert!(!out.stderr.contains("panicked"), "{depth}: {}", out.stderr);
            assert_eq!(
                out.stdout.contains("nested too deeply"),
                !shown,
                "{depth}: {}",
                out.stdout
            );
        }
        let record = home
            .run(&with(&["show", "--json"], &SERVER))
            .expect(0)
            .json();
        assert_eq!(record["server_name"], "notion");
        home.run(&["list"]).expect(0);
        home.run(&with(&["token"], &SERVER)).expect(0);
    }
    Ok(())
}

#[test]
fn the_url_is_shown_without_user_info_or_query_values() -> Result {
    let home = Home::new();
    home.run_with_stdin(&with(&["import"], &SERVER), r#"{"access_token":"at-1"}"#)
        .expect(0);
    let text = std::fs::read_to_string(home.document())?;
    // Written by another program, before the URL rules.
    let text = text.replace(
        "https://mcp.notion.com/mcp",
        "https://user:PASSWORD@mcp.notion.com/mcp?token=QUERYSECRET",
    );
    std::fs::write(home.document(), text)?;
    let key = home.run(&["list", "--json"]).expect(0).json()[0]["store_key"].clone();
    assert_eq!(key, SERVER_KEY);
    // The stored record is found through its key: doctor and list read it.
    let show = with(&["show"], &SERVER);
    let show_json = with(&["show", "--json"], &SERVER);
    for args in [
        vec!["list"],
        vec!["list", "--json"],
        vec!["doctor"],
        vec!["doctor", "--json"],
        show,
        show_json,
    ] {
        let out = home.run(&args);
        for secret in ["PASSWORD", "QUERYSECRET"] {
            assert!(
                !out.stdout.contains(secret) && !out.stderr.contains(secret),
                "{args:?}: {}{}",
                out.stdout,
                out.stderr
            );
        }
    }
    Ok(())
}
