//! `--store auto` chooses the keyring, and `migrate` moves credentials between stores:
//! the new copy saved first, then the old ones removed, and the drift sidecar told.

use crate::support::{Home, Result, session, with};

const SERVER: [&str; 4] = ["--server", "notion", "--url", "https://mcp.notion.com/mcp"];
const KEY: &str = "notion|eac663db915250e7";
const OTHER: [&str; 4] = ["--server", "other", "--url", "https://other.example/mcp"];

#[test]
fn auto_chooses_the_keyring_and_removes_the_file_copy() -> Result {
    if !session("auto_chooses_the_keyring_and_removes_the_file_copy") {
        return Ok(());
    }
    let mut home = Home::new("file");
    home.run_with_stdin(&with(&["import"], &SERVER), r#"{"access_token":"at-file"}"#)
        .expect(0);
    assert_eq!(home.file_keys(), [KEY]);

    home.options[1] = "auto".into();
    // Loading under auto: the keyring answers "no entry", so the File copy is used.
    let shown = home.run(&with(&["show"], &SERVER)).expect(0);
    assert!(
        shown
            .stdout
            .contains("store: file (auto_load_file_keyring_missing)"),
        "{}",
        shown.stdout
    );
    let out = home
        .run_with_stdin(
            &with(&["import", "--json"], &SERVER),
            r#"{"access_token":"at-auto"}"#,
        )
        .expect(0);
    assert_eq!(out.json()["store"], "keyring");
    assert_eq!(out.json()["reason"], "auto_save_keyring");
    assert!(home.file_keys().is_empty(), "the File copy is gone");
    assert_eq!(home.listed(), [(KEY.to_owned(), "keyring".to_owned())]);
    let shown = home.run(&with(&["show"], &SERVER)).expect(0);
    assert!(
        shown.stdout.contains("store: keyring (auto_load_keyring)"),
        "{}",
        shown.stdout
    );
    assert_eq!(
        home.run(&with(&["token"], &SERVER)).expect(0).stdout,
        "at-auto\n"
    );
    // A migration, not drift.
    let report = home.run(&["doctor", "--json"]).expect(0).json();
    assert_eq!(report["healthy"], true, "{report}");
    Ok(())
}

#[test]
fn migrate_moves_every_credential_and_leaves_no_older_copy() -> Result {
    if !session("migrate_moves_every_credential_and_leaves_no_older_copy") {
        return Ok(());
    }
    let mut home = Home::new("file");
    home.run_with_stdin(&with(&["import"], &SERVER), r#"{"access_token":"at-1"}"#)
        .expect(0);
    home.run_with_stdin(&with(&["import"], &OTHER), r#"{"access_token":"at-2"}"#)
        .expect(0);
    // An Auto observation of the File store first: the move must not read as drift.
    home.options[1] = "auto".into();
    home.run(&with(&["show"], &SERVER)).expect(0);

    let out = home.run(&["migrate", "--to", "keyring"]).expect(0);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", out.stdout);
    assert!(
        lines
            .iter()
            .all(|l| l.ends_with("moved from file to keyring")),
        "{}",
        out.stdout
    );
    assert!(home.file_keys().is_empty(), "no File copy left");
    let listed = home.listed();
    assert!(
        listed.iter().all(|(_, store)| store == "keyring"),
        "{listed:?}"
    );
    assert_eq!(
        home.run(&with(&["token"], &SERVER)).expect(0).stdout,
        "at-1\n"
    );
    let report = home.run(&["doctor", "--json"]).expect(0).json();
    assert_eq!(
        report["healthy"], true,
        "no drift after a migration: {report}"
    );

    // Again: already there.
    let out = home
        .run(&["migrate", "--to", "keyring", "--json"])
        .expect(0)
        .json();
    let outcomes: Vec<&str> = out["credentials"]
        .as_array()
        .expect("credentials")
        .iter()
        .filter_map(|c| c["outcome"].as_str())
        .collect();
    assert_eq!(outcomes, ["already", "already"]);

    // Into the Secrets store, then back into the File store.
    let out = home.run(&["migrate", "--to", "secrets"]).expect(0);
    assert!(
        out.stdout
            .lines()
            .all(|l| l.ends_with("moved from keyring to secrets")),
        "{}",
        out.stdout
    );
    assert!(home.secrets_document().exists());
    assert!(home.listed().iter().all(|(_, store)| store == "secrets"));
    // doctor names the store the copies are in, as list does, though auto (direct)
    // resolves them elsewhere.
    let report = home.run(&["doctor", "--json"]).json();
    let credentials = report["credentials"].as_array().expect("credentials");
    assert_eq!(credentials.len(), 2, "{report}");
    assert!(
        credentials.iter().all(|c| c["store"] == "secrets"),
        "{report}"
    );
    let out = home.run(&["migrate", "--to", "file"]).expect(0);
    assert!(
        out.stdout
            .lines()
            .all(|l| l.ends_with("moved from secrets to file")),
        "{}",
        out.stdout
    );
    assert!(
        !home.secrets_document().exists(),
        "the emptied document is removed"
    );
    assert_eq!(home.file_keys().len(), 2);
    assert!(home.listed().iter().all(|(_, store)| store == "file"));
    Ok(())
}

#[test]
fn migrate_keeps_the_newest_of_two_copies() -> Result {
    if !session("migrate_keeps_the_newest_of_two_copies") {
        return Ok(());
    }
    // An older copy in the keyring and a newer one in the File store (as a process
    // without the bus would leave them): the newer one wins, and the older one goes.
    let mut home = Home::new("keyring");
    home.run_with_stdin(&with(&["import"], &SERVER), r#"{"access_token":"at-old"}"#)
        .expect(0);
    std::thread::sleep(std::time::Duration::from_millis(20));
    let no_bus = home.no_bus();
    home.options[1] = "file".into();
    let out = crate::support::finish(
        home.command_on(&no_bus, &with(&["import"], &SERVER)),
        Some(r#"{"access_token":"at-new"}"#),
    )
    .expect(0);
    assert!(out.stdout.contains("file store"), "{}", out.stdout);
    assert_eq!(home.listed().len(), 2, "{:?}", home.listed());

    let out = home.run(&["migrate", "--to", "keyring"]).expect(0);
    assert_eq!(
        out.stdout,
        format!("{KEY}: moved from file to keyring\n"),
        "{}",
        out.stderr
    );
    assert_eq!(home.listed(), [(KEY.to_owned(), "keyring".to_owned())]);
    home.options[1] = "keyring".into();
    assert_eq!(
        home.run(&with(&["token"], &SERVER)).expect(0).stdout,
        "at-new\n"
    );
    Ok(())
}
