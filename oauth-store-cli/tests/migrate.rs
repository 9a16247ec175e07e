//! `migrate` without a session bus: the File store is the only one that can be used, so
//! these cover what is refused and what stays; moves between stores are in
//! `tests/keyring`.

use crate::util::{Home, Result, SERVER, SERVER_KEY, with};

fn with_two() -> Home {
    let home = Home::new();
    home.run_with_stdin(&with(&["import"], &SERVER), r#"{"access_token":"at-1"}"#)
        .expect(0);
    home.run_with_stdin(
        &[
            "import",
            "--server",
            "other",
            "--url",
            "https://other.example/mcp",
        ],
        r#"{"access_token":"at-2"}"#,
    )
    .expect(0);
    home
}

#[test]
fn an_empty_home_has_nothing_to_migrate() -> Result {
    let home = Home::new();
    let out = home.run(&["migrate", "--to", "file"]).expect(0);
    assert!(
        out.stdout.starts_with("nothing to migrate in "),
        "{}",
        out.stdout
    );
    let report = home
        .run(&["migrate", "--to", "file", "--json"])
        .expect(0)
        .json();
    assert_eq!(report["to"], "file");
    assert_eq!(report["credentials"], serde_json::json!([]));
    assert_eq!(report["skipped_stores"][0]["store"], "keyring");
    Ok(())
}

#[test]
fn into_the_file_store_they_are_already_there() -> Result {
    let home = with_two();
    let out = home.run(&["migrate", "--to", "file"]).expect(0);
    assert!(
        out.stdout
            .contains(&format!("{SERVER_KEY}: already in file\n")),
        "{}",
        out.stdout
    );
    assert_eq!(out.stdout.lines().count(), 2, "{}", out.stdout);
    // The keyring cannot be used here: said once, and its entries are not migrated.
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr.starts_with("note: keyring store unavailable")
            && out.stderr.contains("not migrated"),
        "{}",
        out.stderr
    );
    let report = home
        .run(&["migrate", "--to", "file", "--json"])
        .expect(0)
        .json();
    let outcomes: Vec<&str> = report["credentials"]
        .as_array()
        .expect("credentials")
        .iter()
        .filter_map(|c| c["outcome"].as_str())
        .collect();
    assert_eq!(outcomes, ["already", "already"]);
    Ok(())
}

#[test]
fn into_a_keyring_that_cannot_be_used_is_one_line_and_moves_nothing() -> Result {
    let home = with_two();
    let before = std::fs::read(home.document())?;
    let out = home.run(&["migrate", "--to", "keyring"]).expect(4);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr
            .starts_with("error: keyring store unavailable: no D-Bus session bus"),
        "{}",
        out.stderr
    );
    assert_eq!(out.stdout, "");
    assert_eq!(std::fs::read(home.document())?, before, "nothing moved");
    Ok(())
}

#[test]
fn into_secrets_whose_key_cannot_be_read_is_one_line_and_moves_nothing() -> Result {
    let home = with_two();
    let before = std::fs::read(home.document())?;
    let out = home.run(&["migrate", "--to", "secrets"]).expect(4);
    assert_eq!(out.stdout, "", "no line per credential");
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr
            .starts_with("error: secrets store unavailable: its key lives in the OS keyring")
            && out.stderr.contains("no D-Bus session bus"),
        "{}",
        out.stderr
    );
    assert_eq!(std::fs::read(home.document())?, before, "nothing moved");
    assert!(!home.path().join("secrets/mcp_oauth.age").exists());
    let out = home
        .run(&["migrate", "--to", "secrets", "--json"])
        .expect(4);
    assert_eq!(out.json_error()["error"], "store");
    Ok(())
}

#[test]
fn an_entry_that_does_not_parse_stays_and_is_4() -> Result {
    let home = with_two();
    let mut document: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(home.document())?)?;
    document["bad|0000000000000000"] = serde_json::json!({"server_name": 5});
    std::fs::write(home.document(), document.to_string())?;
    let out = home.run(&["migrate", "--to", "file", "--json"]).expect(4);
    let report = out.json();
    let bad = report["credentials"]
        .as_array()
        .expect("credentials")
        .iter()
        .find(|c| c["store_key"] == "bad|0000000000000000")
        .expect("the bad entry is reported")
        .clone();
    assert_eq!(bad["outcome"], "failed");
    assert!(
        bad["error"]
            .as_str()
            .is_some_and(|e| e.contains("does not parse")),
        "{bad}"
    );
    let last = out.stderr.lines().last().expect("an error line");
    let error: serde_json::Value = serde_json::from_str(last)?;
    assert_eq!(error["error"], "store");
    Ok(())
}
