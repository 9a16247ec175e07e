//! `--store keyring`: save, load, list and delete, each in its own process.

use crate::support::{Home, Result, session, with};

const SERVER: [&str; 4] = ["--server", "notion", "--url", "https://mcp.notion.com/mcp"];
const KEY: &str = "notion|eac663db915250e7";

#[test]
fn save_load_list_delete_across_processes() -> Result {
    if !session("save_load_list_delete_across_processes") {
        return Ok(());
    }
    let home = Home::new("keyring");
    let out = home
        .run_with_stdin(
            &with(&["import", "--json"], &SERVER),
            r#"{"access_token":"at-keyring","refresh_token":"rt-keyring","expires_in":3600,"client_id":"c1"}"#,
        )
        .expect(0);
    assert_eq!(out.json()["store"], "keyring");
    assert_eq!(out.json()["reason"], "configured_save");
    assert!(home.file_keys().is_empty(), "nothing in the File store");

    // Another process loads it.
    let out = home.run(&with(&["token"], &SERVER)).expect(0);
    assert_eq!(out.stdout, "at-keyring\n");
    let shown = home
        .run(&with(&["show", "--json"], &SERVER))
        .expect(0)
        .json();
    assert_eq!(shown["client_id"], "c1");
    assert_eq!(shown["refresh_token"], "<redacted>");
    assert_eq!(home.listed(), [(KEY.to_owned(), "keyring".to_owned())]);

    // A second credential, then one removed: the other stays.
    home.run_with_stdin(
        &[
            "import",
            "--server",
            "other",
            "--url",
            "https://other.example/mcp",
        ],
        r#"{"access_token":"at-other"}"#,
    )
    .expect(0);
    assert_eq!(home.listed().len(), 2);
    let out = home.run(&with(&["logout", "--json"], &SERVER)).expect(0);
    assert_eq!(out.json()["removed_from"], serde_json::json!(["keyring"]));
    home.run(&with(&["show"], &SERVER)).expect(3);
    let listed = home.listed();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].0.starts_with("other|"), "{listed:?}");

    // Another home's entries are its own (the account carries the home).
    let elsewhere = Home::new("keyring");
    assert!(elsewhere.listed().is_empty());
    elsewhere.run(&with(&["show"], &SERVER)).expect(3);

    // doctor: usable, healthy.
    let report = home.run(&["doctor", "--json"]).expect(0).json();
    assert_eq!(report["keyring"]["usable"], true, "{report}");
    assert_eq!(report["credentials"][0]["store"], "keyring");
    Ok(())
}
