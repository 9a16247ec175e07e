//! `--store secrets` (the encrypted document, its key in the keyring) and the key
//! commands: a round trip with a refresh, and a key backed up, replaced and restored in
//! another home. No token value in any output but `token`'s stdout.

use std::time::Duration;

use crate::support::{Home, Provider, Result, Run, finish, session, with};

/// Every token value of these tests starts with it.
const SENTINEL: &str = "SNTL";

/// `args` under `RUST_LOG=trace`.
fn traced(home: &Home, args: &[&str], stdin: Option<&str>) -> Run {
    let mut cmd = home.command(args);
    cmd.env("RUST_LOG", "trace");
    finish(cmd, stdin)
}

#[track_caller]
fn clean(run: Run, what: &str) -> Run {
    assert!(
        !run.stdout.contains(SENTINEL) && !run.stderr.contains(SENTINEL),
        "{what}: a token value in the output:\n{}\n{}",
        run.stdout,
        run.stderr
    );
    run
}

#[test]
fn import_token_list_logout_round_trip() -> Result {
    if !session("import_token_list_logout_round_trip") {
        return Ok(());
    }
    let provider = Provider::start(Duration::from_secs(3600), SENTINEL);
    let home = Home::new("secrets");
    let server = provider.server();
    let out = clean(
        traced(
            &home,
            &with(&["import", "--json"], &server),
            Some(&provider.response(Some(1))),
        )
        .expect(0),
        "import",
    );
    assert_eq!(out.json()["store"], "secrets");
    let document = std::fs::read(home.secrets_document())?;
    assert!(
        !document
            .windows(SENTINEL.len())
            .any(|w| w == SENTINEL.as_bytes()),
        "no token in the document"
    );
    assert!(home.file_keys().is_empty());

    // Due: refreshed through the transaction, saved back into the document.
    let out = traced(&home, &with(&["token", "--min-valid", "30"], &server), None).expect(0);
    let token = out.stdout.trim_end();
    assert!(token.starts_with(SENTINEL) && token != provider.grant.access_token);
    assert!(!out.stderr.contains(SENTINEL), "{}", out.stderr);
    assert_eq!(provider.endpoint.counters().refreshes, 1);
    let again = home
        .run(&with(&["token", "--min-valid", "30"], &server))
        .expect(0);
    assert_eq!(
        again.stdout.trim_end(),
        token,
        "the saved token, no second refresh"
    );

    let key = format!("provider|{}", &home.listed()[0].0["provider|".len()..]);
    assert_eq!(home.listed(), [(key, "secrets".to_owned())]);
    for args in [vec!["list"], with(&["show"], &server), vec!["doctor"]] {
        clean(traced(&home, &args, None).expect(0), &format!("{args:?}"));
    }
    let report = home.run(&["doctor", "--json"]).expect(0).json();
    assert_eq!(report["secrets"]["document_present"], true, "{report}");
    assert_eq!(report["secrets"]["key"], "present");

    let out = clean(
        traced(&home, &with(&["logout", "--json"], &server), None).expect(0),
        "logout",
    );
    assert_eq!(out.json()["removed_from"], serde_json::json!(["secrets"]));
    assert!(
        !home.secrets_document().exists(),
        "the emptied document is removed"
    );
    home.run(&with(&["show"], &server)).expect(3);
    Ok(())
}

#[test]
fn a_key_exported_replaced_and_restored_in_another_home() -> Result {
    if !session("a_key_exported_replaced_and_restored_in_another_home") {
        return Ok(());
    }
    let home = Home::new("secrets");
    let server = ["--server", "notion", "--url", "https://mcp.notion.com/mcp"];
    home.run_with_stdin(
        &with(&["import"], &server),
        r#"{"access_token":"SNTL-at","refresh_token":"SNTL-rt"}"#,
    )
    .expect(0);

    let first = home.run(&["secrets", "export-key"]).expect(0);
    assert!(
        first.stdout.starts_with("AGE-SECRET-KEY-1") && first.stdout.lines().count() == 1,
        "one key line"
    );
    assert_eq!(first.stderr, "", "no warning when stdout is not a terminal");
    let out = clean(home.run(&["secrets", "rekey"]).expect(0), "rekey");
    assert!(out.stdout.contains("export it now"), "{}", out.stdout);
    let second = home.run(&["secrets", "export-key"]).expect(0);
    assert_ne!(first.stdout, second.stdout, "a new key");
    assert!(
        !out.stdout.contains("AGE-SECRET-KEY"),
        "rekey prints no key"
    );

    // The old key no longer opens the document; it is refused, and nothing changes.
    let dir = tempfile::tempdir()?;
    let old = dir.path().join("old-key.txt");
    std::fs::write(&old, &first.stdout)?;
    let out = home
        .run(&[
            "secrets",
            "import-key",
            "--from",
            old.to_str().expect("utf-8"),
        ])
        .expect(4);
    assert!(!out.stderr.contains("AGE-SECRET-KEY"), "{}", out.stderr);
    assert_eq!(
        home.run(&["secrets", "export-key"]).expect(0).stdout,
        second.stdout
    );

    // Another home with a copy of the document, and no key: unreadable until restored.
    let elsewhere = Home::new("secrets");
    elsewhere.run(&["list"]).expect(0);
    std::fs::create_dir(elsewhere.path().join("secrets"))?;
    std::fs::set_permissions(
        elsewhere.path().join("secrets"),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )?;
    std::fs::copy(home.secrets_document(), elsewhere.secrets_document())?;
    let out = elsewhere.run(&with(&["show"], &server)).expect(4);
    assert!(out.stderr.contains("import-key"), "{}", out.stderr);
    let report = elsewhere.run(&["doctor", "--json"]).expect(6).json();
    assert!(
        report["problems"].to_string().contains("holds no key"),
        "{report}"
    );
    let out = elsewhere
        .run_with_stdin(&["secrets", "import-key"], &second.stdout)
        .expect(0);
    assert!(out.stdout.starts_with("imported the key"), "{}", out.stdout);
    assert_eq!(
        elsewhere.run(&with(&["token"], &server)).expect(0).stdout,
        "SNTL-at\n"
    );
    elsewhere.run(&["doctor"]).expect(0);
    Ok(())
}
