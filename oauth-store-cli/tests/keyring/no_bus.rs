//! Without a session bus (here, or a process of the session with its bus taken away):
//! `--store keyring` fails at once with one line, `--store auto` uses the File store.

use crate::support::{Home, Result, with};

const SERVER: [&str; 4] = ["--server", "notion", "--url", "https://mcp.notion.com/mcp"];

#[test]
fn keyring_is_4_with_one_line_and_auto_is_file_both_at_once() -> Result {
    let mut home = Home::new("keyring");
    home.bus = home.no_bus();
    // A long keyring bound: answering well within it shows nothing waited on it.
    home.options
        .extend(["--keyring-timeout".into(), "60".into()]);
    for args in [
        vec!["list"],
        with(&["token"], &SERVER),
        with(&["show"], &SERVER),
        vec!["migrate", "--to", "keyring"],
    ] {
        let out = home.run(&args).expect(4);
        assert_eq!(out.stderr.lines().count(), 1, "{args:?}: {}", out.stderr);
        assert!(
            out.stderr
                .starts_with("error: keyring store unavailable: no D-Bus session bus"),
            "{args:?}: {}",
            out.stderr
        );
        assert!(out.took.as_secs() < 30, "{args:?} took {:?}", out.took);
    }
    let out = home
        .run_with_stdin(&with(&["import"], &SERVER), r#"{"access_token":"a"}"#)
        .expect(4);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);

    home.options[1] = "auto".into();
    let out = home
        .run_with_stdin(
            &with(&["import", "--json"], &SERVER),
            r#"{"access_token":"a"}"#,
        )
        .expect(0);
    assert_eq!(out.json()["store"], "file");
    assert_eq!(out.json()["reason"], "auto_save_file_keyring_error");
    assert!(out.took.as_secs() < 30, "took {:?}", out.took);
    let out = home.run(&with(&["token"], &SERVER)).expect(0);
    assert_eq!(out.stdout, "a\n");
    assert!(out.took.as_secs() < 30, "took {:?}", out.took);
    assert_eq!(home.file_keys(), ["notion|eac663db915250e7"]);
    Ok(())
}
