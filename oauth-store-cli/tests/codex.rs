//! `--layout codex` against a copy of a home as the Codex CLI leaves it.

use crate::util::{Home, Result, with};

const NOTION: [&str; 4] = ["--server", "notion", "--url", "https://mcp.notion.com/mcp"];
const LINEAR: [&str; 4] = ["--server", "linear", "--url", "https://mcp.linear.app/sse"];
const LOCAL: [&str; 4] = [
    "--server",
    "name with space",
    "--url",
    "http://127.0.0.1:8080/mcp",
];

#[test]
fn lists_the_three_entries() -> Result {
    let home = Home::codex();
    let rows = home.run(&["list", "--json"]).expect(0).json();
    let keys: Vec<&str> = rows
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|r| r["store_key"].as_str())
        .collect();
    assert_eq!(
        keys,
        [
            "linear|47ba737bac765ed4",
            "name with space|88e5fde71953b744",
            "notion|eac663db915250e7"
        ]
    );
    let notion = &rows[2];
    assert_eq!(notion["expires_at_ms"], 1_893_456_000_000u64);
    assert_eq!(notion["has_refresh_token"], true);
    assert_eq!(notion["issuer"], "https://auth.notion.example");
    assert_eq!(rows[0]["expires_in_s"], serde_json::Value::Null);
    assert!(rows[1]["expires_in_s"].as_i64().is_some_and(|s| s < 0));
    assert!(
        !home
            .run(&["list"])
            .expect(0)
            .stdout
            .contains("fixture-access-token")
    );
    Ok(())
}

#[test]
fn show_keeps_unknown_fields_and_redacts_tokens() -> Result {
    let home = Home::codex();
    let record = home
        .run(&with(&["show", "--json"], &LOCAL))
        .expect(0)
        .json();
    assert_eq!(record["executor_owned"], true);
    assert_eq!(
        record["x_field_from_a_newer_writer"],
        serde_json::json!({"nested": [1, 2, 3], "flag": false})
    );
    assert_eq!(record["access_token"], "<redacted>");
    assert_eq!(record["refresh_token"], "<redacted>");
    Ok(())
}

#[test]
fn token_reads_codex_entries() -> Result {
    let home = Home::codex();
    let out = home.run(&with(&["token"], &NOTION)).expect(0);
    assert_eq!(out.stdout, "fixture-access-token-notion\n");
    // Unknown expiry, no refresh token: printed as is.
    let out = home.run(&with(&["token"], &LINEAR)).expect(0);
    assert_eq!(out.stdout, "fixture-access-token-linear\n");
    Ok(())
}

#[test]
fn import_and_logout_keep_the_other_entries_byte_exact() -> Result {
    let home = Home::codex();
    let original = std::fs::read_to_string(home.document())?;
    let local_entry = |text: &str| -> String {
        let start = text
            .find("\"name with space|88e5fde71953b744\"")
            .expect("entry");
        text[start..].to_owned()
    };
    home.run_with_stdin(
        &with(&["import"], &NOTION),
        r#"{"access_token":"new-notion","expires_in":60}"#,
    )
    .expect(0);
    home.run(&with(&["logout"], &LINEAR)).expect(0);
    let after = std::fs::read_to_string(home.document())?;
    assert_eq!(
        local_entry(&after),
        local_entry(&original),
        "the entry with unknown fields is written back as it was"
    );
    let rows = home.run(&["list", "--json"]).expect(0).json();
    assert_eq!(rows.as_array().map(Vec::len), Some(2));
    let out = home.run(&with(&["token"], &NOTION)).expect(0);
    assert_eq!(out.stdout, "new-notion\n");
    Ok(())
}

#[test]
fn doctor_is_healthy() -> Result {
    let home = Home::codex();
    let report = home.run(&["doctor", "--json"]).expect(0).json();
    assert_eq!(report["layout"], "codex");
    assert_eq!(report["credentials"].as_array().map(Vec::len), Some(3));
    Ok(())
}

#[test]
fn default_home_is_codex_home() -> Result {
    let home = Home::codex();
    let mut cmd = crate::util::command(&["--layout", "codex", "list", "--json"]);
    cmd.env("CODEX_HOME", home.path());
    let rows = crate::util::finish(cmd, None).expect(0).json();
    assert_eq!(rows.as_array().map(Vec::len), Some(3));
    Ok(())
}
