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
