//! `secrets export-key | rekey | import-key` without a session bus: what is refused
//! before the keyring is needed, and what fails at once; the round trips are in
//! `tests/keyring`.

use crate::util::{Home, Result, run};

#[test]
fn export_key_is_documented_as_printing_a_secret() -> Result {
    let help = run(&["secrets", "--help"]).expect(0);
    assert!(help.stdout.contains("PRINTS A SECRET"), "{}", help.stdout);
    let help = run(&["secrets", "export-key", "--help"]).expect(0);
    assert!(help.stdout.contains("PRINTS A SECRET"), "{}", help.stdout);
    assert!(help.stdout.contains("backup"), "{}", help.stdout);
    Ok(())
}

#[test]
fn a_key_that_is_not_one_is_a_usage_error_naming_no_text() -> Result {
    let home = Home::new();
    let out = home
        .run_with_stdin(&["secrets", "import-key"], "SNTL-not-a-key\n")
        .expect(2);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(!out.stderr.contains("SNTL"), "{}", out.stderr);
    let out = home
        .run_with_stdin(&["secrets", "import-key"], " \n")
        .expect(2);
    assert!(out.stderr.contains("empty"), "{}", out.stderr);
    let out = home
        .run(&["secrets", "import-key", "--from", "/nonexistent/key.txt"])
        .expect(2);
    assert!(
        out.stderr.contains("/nonexistent/key.txt"),
        "{}",
        out.stderr
    );
    Ok(())
}

#[test]
fn without_a_session_bus_every_key_command_is_4_at_once() -> Result {
    let home = Home::new();
    for args in [
        vec!["secrets", "export-key"],
        vec!["secrets", "rekey"],
        vec!["secrets", "import-key"],
    ] {
        let out = home
            .run_with_stdin(
                &args,
                "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ",
            )
            .expect_any(&[2, 4]);
        assert_eq!(out.stderr.lines().count(), 1, "{args:?}: {}", out.stderr);
        assert_eq!(out.stdout, "", "{args:?}");
    }
    let out = home.run(&["secrets", "export-key"]).expect(4);
    assert!(
        out.stderr.contains("no D-Bus session bus"),
        "{}",
        out.stderr
    );
    let out = home.run(&["secrets", "rekey", "--json"]).expect(4);
    assert_eq!(out.json_error()["error"], "store");
    Ok(())
}
