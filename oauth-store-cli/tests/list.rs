//! `list`.

use crate::util::{Home, Result, SERVER, SERVER_KEY, with};

const KEYS: [&str; 10] = [
    "client_id",
    "expires_at_ms",
    "expires_in_s",
    "has_refresh_token",
    "issuer",
    "server_name",
    "server_url",
    "status",
    "store",
    "store_key",
];

#[test]
fn json_is_an_array_of_objects_with_exactly_the_listed_keys() -> Result {
    let home = Home::new();
    home.run_with_stdin(
        &with(&["import"], &SERVER),
        r#"{"access_token":"at-1","refresh_token":"rt-1","expires_in":120,"client_id":"c1","issuer":"https://i"}"#,
    )
    .expect(0);
    home.run_with_stdin(
        &[
            "import",
            "--server",
            "never",
            "--url",
            "https://never.example/mcp",
        ],
        r#"{"access_token":"at-2"}"#,
    )
    .expect(0);
    home.run_with_stdin(
        &[
            "import",
            "--server",
            "old",
            "--url",
            "https://old.example/mcp",
        ],
        r#"{"access_token":"at-3","expires_in":0}"#,
    )
    .expect(0);
    std::thread::sleep(std::time::Duration::from_millis(1100));

    let out = home.run(&["list", "--json"]).expect(0);
    let rows = out.json();
    let rows = rows.as_array().expect("an array");
    assert_eq!(rows.len(), 3);
    for row in rows {
        let mut keys: Vec<&str> = row
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(keys, KEYS);
        assert_eq!(row["store"], "file");
    }
    let by_name = |name: &str| rows.iter().find(|r| r["server_name"] == name).expect(name);
    let notion = by_name("notion");
    assert_eq!(notion["store_key"], SERVER_KEY);
    assert_eq!(notion["server_url"], "https://mcp.notion.com/mcp");
    assert_eq!(notion["has_refresh_token"], true);
    assert_eq!(notion["client_id"], "c1");
    assert_eq!(notion["issuer"], "https://i");
    assert!(
        notion["expires_in_s"]
            .as_i64()
            .is_some_and(|s| (100..120).contains(&s))
    );
    assert!(notion["expires_at_ms"].as_u64().is_some());
    assert_eq!(notion["status"], "valid");
    let never = by_name("never");
    assert_eq!(never["status"], "valid", "unknown expiry: used as is");
    assert_eq!(never["expires_at_ms"], serde_json::Value::Null);
    assert_eq!(never["expires_in_s"], serde_json::Value::Null);
    assert_eq!(never["has_refresh_token"], false);
    assert_eq!(never["issuer"], serde_json::Value::Null);
    let old = by_name("old");
    assert!(
        old["expires_in_s"].as_i64().is_some_and(|s| s < 0),
        "expired: negative: {old}"
    );
    assert_eq!(old["status"], "login_required", "expired, no refresh token");
    assert!(!out.stdout.contains("at-1") && !out.stdout.contains("rt-1"));
    Ok(())
}

#[test]
fn text_is_a_table_without_tokens() -> Result {
    let home = Home::new();
    home.run_with_stdin(
        &with(&["import"], &SERVER),
        r#"{"access_token":"at-1","refresh_token":"rt-1","expires_in":3600}"#,
    )
    .expect(0);
    let out = home.run(&["list"]).expect(0);
    let mut lines = out.stdout.lines();
    assert!(
        lines.next().is_some_and(|l| l.starts_with("STORE_KEY")),
        "{}",
        out.stdout
    );
    let row = lines.next().expect("one row");
    assert!(
        row.starts_with(SERVER_KEY) && row.contains("file") && row.contains("in 59m"),
        "{row}"
    );
    assert!(!out.stdout.contains("at-1") && !out.stdout.contains("rt-1"));
    Ok(())
}

#[test]
fn empty_home() -> Result {
    let home = Home::new();
    assert_eq!(
        home.run(&["list", "--json"]).expect(0).json(),
        serde_json::json!([])
    );
    let out = home.run(&["list"]).expect(0);
    assert!(
        out.stdout.starts_with("no credentials in "),
        "{}",
        out.stdout
    );
    Ok(())
}

#[test]
fn an_entry_that_does_not_parse_is_a_warning() -> Result {
    let home = Home::new();
    home.run_with_stdin(&with(&["import"], &SERVER), r#"{"access_token":"at-1"}"#)
        .expect(0);
    let mut document: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(home.document())?)?;
    document["bad|0000000000000000"] = serde_json::json!({"server_name": 5});
    std::fs::write(home.document(), document.to_string())?;
    let out = home.run(&["list", "--json"]).expect(0);
    assert_eq!(out.json().as_array().map(Vec::len), Some(1));
    assert!(
        out.stderr.starts_with("warning: ") && out.stderr.contains("bad|0000000000000000"),
        "{}",
        out.stderr
    );
    Ok(())
}

#[test]
fn the_status_column_says_what_each_credential_needs() -> Result {
    let home = Home::new();
    for (name, response) in [
        (
            "fresh",
            r#"{"access_token":"a","refresh_token":"r","expires_in":3600}"#,
        ),
        (
            "due",
            r#"{"access_token":"a","refresh_token":"r","expires_in":5}"#,
        ),
        ("stale", r#"{"access_token":"a","expires_in":0}"#),
    ] {
        let url = format!("https://{name}.example/mcp");
        home.run_with_stdin(&["import", "--server", name, "--url", &url], response)
            .expect(0);
    }
    let rows = home.run(&["list", "--json"]).expect(0).json();
    let status = |name: &str| {
        rows.as_array()
            .and_then(|r| r.iter().find(|r| r["server_name"] == name))
            .map(|r| r["status"].clone())
    };
    assert_eq!(status("fresh"), Some("valid".into()));
    assert_eq!(status("due"), Some("refreshable".into()));
    assert_eq!(status("stale"), Some("login_required".into()));
    let text = home.run(&["list"]).expect(0).stdout;
    let header = text.lines().next().expect("a header");
    assert!(header.contains(" STATUS "), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("stale|") && l.contains("login required")),
        "{text}"
    );
    Ok(())
}

#[test]
fn the_keyring_note_is_one_short_line() -> Result {
    let mut home = Home::new();
    home.run_with_stdin(&with(&["import"], &SERVER), r#"{"access_token":"a"}"#)
        .expect(0);
    home.options = vec!["--store".into(), "auto".into()];
    let out = home.run(&["list"]).expect(0);
    let notes: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(notes.len(), 1, "{}", out.stderr);
    assert!(
        notes[0].starts_with("note: keyring store not listed: no D-Bus session bus")
            && notes[0].len() < 120,
        "{}",
        notes[0]
    );
    Ok(())
}

#[test]
fn a_stored_name_or_url_cannot_forge_a_row_or_leak_url_secrets() -> Result {
    let home = Home::new();
    home.run_with_stdin(&with(&["import"], &SERVER), r#"{"access_token":"a"}"#)
        .expect(0);
    // A document written by another program: a newline and an escape in the name, a
    // password and a query value in the URL.
    let mut document: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(home.document())?)?;
    document["evil\nnotion|0000000000000000  file  valid\u{1b}[2J|0123456789abcdef"] = serde_json::json!({
        "server_name": "evil\nforged",
        "server_url": "https://user:PASSWORD@host/mcp?token=QUERYSECRET",
        "access_token": "a",
    });
    std::fs::write(home.document(), document.to_string())?;
    let out = home.run(&["list"]).expect(0);
    assert_eq!(
        out.stdout.lines().count(),
        3,
        "a header and two rows: {}",
        out.stdout
    );
    assert!(!out.stdout.contains('\u{1b}'), "{}", out.stdout);
    assert!(
        out.stdout.contains("\\n") && out.stdout.contains("\\u{1b}"),
        "{}",
        out.stdout
    );
    let json = home.run(&["list", "--json"]).expect(0).stdout;
    for text in [&out.stdout, &json] {
        assert!(
            !text.contains("PASSWORD") && !text.contains("QUERYSECRET"),
            "{text}"
        );
    }
    assert!(json.contains("https://***@host/mcp?token=***"), "{json}");
    Ok(())
}

#[test]
fn a_name_longer_than_any_format_width_is_listed_not_a_panic() -> Result {
    let home = Home::new();
    let name = "a".repeat(70_000);
    home.run_with_stdin(
        &["import", "--server", &name, "--url", "https://x.test/"],
        r#"{"access_token":"at-1"}"#,
    )
    .expect(0);
    let listed = home.run(&["list"]).expect(0);
    assert!(listed.stdout.contains(&name));
    home.run(&["doctor"]).expect_any(&[0, 6]);
    Ok(())
}
