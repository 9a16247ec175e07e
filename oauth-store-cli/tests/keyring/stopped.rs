//! A keyring daemon that stops answering (SIGSTOP): every call ends within the keyring
//! bound, and `--store auto` does not hang past it either.

use std::time::Duration;

use crate::support::{Bus, Home, PrivateSession, Result, session, with};

const SERVER: [&str; 4] = ["--server", "notion", "--url", "https://mcp.notion.com/mcp"];

#[test]
fn a_stopped_daemon_costs_at_most_the_bound() -> Result {
    if !session("a_stopped_daemon_costs_at_most_the_bound") {
        return Ok(());
    }
    // A session of its own: stopping the shared daemon would stall the other tests.
    let private = PrivateSession::start()?;
    let mut home = Home::new("keyring");
    home.bus = Bus::At(private.address.clone());
    home.options
        .extend(["--keyring-timeout".into(), "1".into()]);
    home.run_with_stdin(
        &with(&["import"], &SERVER),
        r#"{"access_token":"at-1","expires_in":3600}"#,
    )
    .expect(0);
    assert_eq!(
        home.run(&with(&["token"], &SERVER)).expect(0).stdout,
        "at-1\n"
    );

    private.signal("STOP")?;
    // Generous against a loaded machine, far below "hangs".
    let bound = Duration::from_secs(1);
    let slack = Duration::from_secs(4);
    let out = home.run(&with(&["token"], &SERVER)).expect(4);
    assert!(out.took < bound + slack, "took {:?}", out.took);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(out.stderr.contains("timed out"), "{}", out.stderr);

    // Auto reads the File store when the keyring does not answer: nothing there.
    home.options[1] = "auto".into();
    let out = home.run(&with(&["token"], &SERVER));
    assert!(out.took < bound + slack, "took {:?}", out.took);
    assert_eq!(out.code, 3, "{}", out.stderr);
    // ... and never saves there instead (a timed-out write is indeterminate).
    let out = home.run_with_stdin(&with(&["import"], &SERVER), r#"{"access_token":"at-2"}"#);
    assert!(out.took < bound + slack, "took {:?}", out.took);
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert!(home.file_keys().is_empty());
    let out = home.run(&["doctor", "--json"]);
    assert!(out.took < bound + slack, "took {:?}", out.took);
    assert_eq!(
        out.code, 0,
        "under auto a keyring that does not answer is a note"
    );
    assert_eq!(out.json()["keyring"]["state"], "timed_out");

    private.signal("CONT")?;
    home.options[1] = "keyring".into();
    assert_eq!(
        home.run(&with(&["token"], &SERVER)).expect(0).stdout,
        "at-1\n"
    );
    Ok(())
}

/// Under `--store auto`, `list` and `migrate --to file` read the File store when the
/// keyring does not answer, as `token` does: one short note, what the File store holds,
/// exit 0; the keyring's entry is neither listed nor touched. Under `--store keyring`
/// `list` still fails (exit 4): that store is the one asked for.
#[test]
fn list_and_migrate_to_file_under_auto_skip_a_stopped_daemon() -> Result {
    if !session("list_and_migrate_to_file_under_auto_skip_a_stopped_daemon") {
        return Ok(());
    }
    let private = PrivateSession::start()?;
    let mut home = Home::new("keyring");
    home.bus = Bus::At(private.address.clone());
    home.options
        .extend(["--keyring-timeout".into(), "1".into()]);
    home.run_with_stdin(
        &with(&["import"], &SERVER),
        r#"{"access_token":"at-keyring","expires_in":3600}"#,
    )
    .expect(0);
    home.options[1] = "file".into();
    let other = ["--server", "linear", "--url", "https://mcp.linear.app/mcp"];
    home.run_with_stdin(
        &with(&["import"], &other),
        r#"{"access_token":"at-file","expires_in":3600}"#,
    )
    .expect(0);
    home.options[1] = "auto".into();
    assert_eq!(
        home.listed().len(),
        2,
        "both copies while the daemon answers"
    );

    private.signal("STOP")?;
    let bound = Duration::from_secs(1);
    let slack = Duration::from_secs(4);
    let out = home.run(&["list", "--json"]).expect(0);
    assert!(out.took < bound + slack, "took {:?}", out.took);
    let rows = out.json();
    let rows = rows.as_array().expect("an array");
    assert_eq!(rows.len(), 1, "the File store's copy: {rows:?}");
    assert_eq!(rows[0]["store"], "file");
    assert_eq!(out.stderr.lines().count(), 1, "one note: {}", out.stderr);
    assert!(
        out.stderr.contains("keyring") && out.stderr.contains("not listed"),
        "{}",
        out.stderr
    );

    let out = home.run(&["migrate", "--to", "file"]).expect(0);
    assert!(out.took < bound + slack * 2, "took {:?}", out.took);
    assert!(out.stdout.contains("already in file"), "{}", out.stdout);
    assert!(out.stderr.contains("not migrated"), "{}", out.stderr);
    assert_eq!(
        home.file_keys().len(),
        1,
        "the keyring's copy was not moved"
    );

    home.options[1] = "keyring".into();
    let out = home.run(&["list"]).expect(4);
    assert!(out.stderr.contains("timed out"), "{}", out.stderr);

    private.signal("CONT")?;
    home.options[1] = "auto".into();
    assert_eq!(home.listed().len(), 2, "the keyring's entry is still there");
    Ok(())
}
