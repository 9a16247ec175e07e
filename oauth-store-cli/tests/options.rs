//! Global options: before or after the command, defaults, and stores that cannot be
//! used here (these tests run without a D-Bus session bus).

use std::os::unix::fs::PermissionsExt;

use crate::util::{Home, Result, SERVER, SERVER_KEY, command, finish, run, with};

#[test]
fn accepted_before_or_after_the_command() -> Result {
    let home = Home::new();
    home.run_with_stdin(&with(&["import"], &SERVER), r#"{"access_token":"at-1"}"#)
        .expect(0);
    let dir = home.path().to_str().expect("utf-8");
    let before = run(&["--home", dir, "--store", "file", "--json", "list"]).expect(0);
    let after = run(&["list", "--home", dir, "--store", "file", "--json"]).expect(0);
    let mixed = run(&[
        "--json",
        "list",
        "--home",
        dir,
        "--layout",
        "default",
        "--keyring-backend",
        "direct",
    ])
    .expect(0);
    assert_eq!(before.json()[0]["store_key"], SERVER_KEY);
    assert_eq!(before.stdout, after.stdout);
    assert_eq!(mixed.json()[0]["store_key"], SERVER_KEY);
    let show = run(&with(&["show"], &with(&SERVER, &["--home", dir, "--json"]))).expect(0);
    assert_eq!(show.json()["server_name"], "notion");
    Ok(())
}

#[test]
fn a_missing_home_is_created_0700() -> Result {
    let dir = tempfile::tempdir()?;
    let home = dir.path().join("a/b/home");
    run(&["--home", home.to_str().expect("utf-8"), "list"]).expect(0);
    let mode = std::fs::metadata(&home)?.permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
    Ok(())
}

#[test]
fn default_home_is_oauth_store_home() -> Result {
    let dir = tempfile::tempdir()?;
    let mut cmd = command(&[
        "--store",
        "file",
        "import",
        "--server",
        "s",
        "--url",
        "https://s.example",
    ]);
    cmd.env("OAUTH_STORE_HOME", dir.path().join("env-home"));
    finish(cmd, Some(r#"{"access_token":"a"}"#)).expect(0);
    assert!(dir.path().join("env-home/.credentials.json").exists());
    Ok(())
}

#[test]
fn default_home_falls_back_to_the_data_directory() -> Result {
    let dir = tempfile::tempdir()?;
    let mut cmd = command(&["list"]);
    cmd.env("HOME", dir.path()).env_remove("XDG_DATA_HOME");
    finish(cmd, None).expect(0);
    assert!(dir.path().join(".local/share/oauth-store").is_dir());
    let mut cmd = command(&["--layout", "codex", "list"]);
    cmd.env("HOME", dir.path());
    finish(cmd, None).expect(0);
    assert!(dir.path().join(".codex").is_dir());
    Ok(())
}

#[test]
fn auto_without_a_session_bus_uses_the_file_store() -> Result {
    let mut home = Home::new();
    home.options.clear(); // default: --store auto
    let out = home
        .run_with_stdin(
            &with(&["import", "--json"], &SERVER),
            r#"{"access_token":"a"}"#,
        )
        .expect(0);
    assert_eq!(out.json()["store"], "file");
    assert_eq!(out.json()["reason"], "auto_save_file_keyring_error");
    let shown = home.run(&with(&["show"], &SERVER)).expect(0);
    assert!(
        shown
            .stdout
            .contains("store: file (auto_load_file_keyring_error)"),
        "{}",
        shown.stdout
    );
    // What "keyring" means under auto: the Secrets store, whose key is in the keyring.
    let out = home
        .run_with_stdin(
            &with(
                &["--keyring-backend", "secrets", "import", "--json"],
                &SERVER,
            ),
            r#"{"access_token":"b"}"#,
        )
        .expect(0);
    assert_eq!(out.json()["store"], "file");
    Ok(())
}

#[test]
fn without_a_session_bus_keyring_and_secrets_are_exit_4_with_one_line() -> Result {
    let home = Home::new();
    home.run_with_stdin(&with(&["import"], &SERVER), r#"{"access_token":"a"}"#)
        .expect(0);
    let imports = with(&["import"], &SERVER);
    let tokens = with(&["token"], &SERVER);
    let shows = with(&["show"], &SERVER);
    let commands: [(&str, &[&str]); 6] = [
        ("keyring", &["list"]),
        ("keyring", &imports),
        ("keyring", &tokens),
        ("keyring", &shows),
        ("secrets", &imports),
        ("secrets", &["secrets", "export-key"]),
    ];
    for (store, args) in commands {
        // A long keyring bound: answering well within it shows nothing waited on it.
        let all = with(&["--store", store, "--keyring-timeout", "60"], args);
        let started = std::time::Instant::now();
        let out = home
            .run_with_stdin(&all, r#"{"access_token":"b"}"#)
            .expect(4);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "{all:?} answered at once"
        );
        assert_eq!(out.stderr.lines().count(), 1, "{all:?}: {}", out.stderr);
        assert!(
            out.stderr.starts_with("error: ") && out.stderr.contains("no D-Bus session bus"),
            "{all:?}: {}",
            out.stderr
        );
        let out = home
            .run_with_stdin(&with(&all, &["--json"]), r#"{"access_token":"b"}"#)
            .expect(4);
        assert_eq!(out.json_error()["error"], "store");
    }
    // Nothing moved: the File copy is as it was.
    let rows = home.run(&["list", "--json"]).expect(0).json();
    assert_eq!(rows.as_array().map(Vec::len), Some(1));
    // Logout removes what it can reach, and fails on the store the options need.
    let out = home
        .run(&with(&["--store", "keyring", "logout"], &SERVER))
        .expect(4);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("file: removed") && out.stderr.contains("keyring: STAYED"),
        "{}",
        out.stderr
    );
    Ok(())
}

#[test]
fn unknown_values_are_usage_errors() -> Result {
    for args in [
        vec!["--store", "cloud", "list"],
        vec!["--layout", "vscode", "list"],
        vec!["--keyring-backend", "kwallet", "list"],
        vec!["list", "--nope"],
        vec!["frobnicate"],
        vec!["key", "--server", "x"],
        vec![
            "token",
            "--server",
            "x",
            "--url",
            "y",
            "--min-valid",
            "soon",
        ],
        vec!["demo", "--workers", "0"],
    ] {
        let out = run(&args).expect(2);
        assert_eq!(out.stderr.lines().count(), 1, "{args:?}: {}", out.stderr);
        assert!(out.stderr.starts_with("error: "), "{}", out.stderr);
        assert_eq!(out.stdout, "");
    }
    Ok(())
}

#[test]
fn help_and_version_exit_0() -> Result {
    let help = run(&["--help"]).expect(0);
    assert!(help.stdout.contains("Usage: oauth-store"));
    assert!(help.stdout.contains("Exit codes:"));
    assert!(
        help.stdout.contains("DEMONSTRATIONS AND TESTS ONLY"),
        "--unsafe-uncoordinated is documented as such"
    );
    assert!(
        !help.stdout.contains("__demo-worker"),
        "the worker is hidden"
    );
    for command in [
        "key", "import", "list", "show", "token", "refresh", "logout", "migrate", "repair",
        "doctor", "secrets", "demo",
    ] {
        assert!(
            help.stdout.contains(&format!("  {command} ")),
            "{command} listed"
        );
        let sub = run(&[command, "--help"]).expect(0);
        assert!(
            sub.stdout
                .contains(&format!("Usage: oauth-store {command}")),
            "{}",
            sub.stdout
        );
        run(&["help", command]).expect(0);
    }
    let version = run(&["--version"]).expect(0);
    assert_eq!(
        version.stdout,
        format!("oauth-store {}\n", env!("CARGO_PKG_VERSION"))
    );
    Ok(())
}

#[test]
fn no_command_prints_help_as_a_usage_error() -> Result {
    let out = run(&[]).expect(2);
    assert!(out.stderr.contains("Usage: oauth-store"), "{}", out.stderr);
    Ok(())
}

#[test]
fn unsafe_uncoordinated_still_serves_tokens() -> Result {
    let mut home = Home::new();
    home.run_with_stdin(
        &with(&["import"], &SERVER),
        r#"{"access_token":"at-1","expires_in":600}"#,
    )
    .expect(0);
    home.options.push("--unsafe-uncoordinated".into());
    let out = home.run(&with(&["token"], &SERVER)).expect(0);
    assert_eq!(out.stdout, "at-1\n");
    let report = home.run(&["doctor", "--json"]).expect(0).json();
    assert!(
        report["notes"]
            .to_string()
            .contains("--unsafe-uncoordinated"),
        "{report}"
    );
    Ok(())
}
