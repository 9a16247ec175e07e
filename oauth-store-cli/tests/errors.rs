//! Exit codes and error lines: one line on stderr, or one JSON object with `--json`.

use std::time::Duration;

use oauth_store::compute_store_key;
use oauth_store::lock::{LockDir, LockScope, LockTarget};
use oauth_store_testkit::Fault;

use crate::util::{Home, Provider, Result, SERVER, with};

fn assert_json_error(out: &crate::util::Run, kind: &str) {
    let error = out.json_error();
    assert_eq!(error["error"], kind, "{}", out.stderr);
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert_eq!(
        error.as_object().map(|o| o.len()),
        Some(2),
        "exactly error and message"
    );
}

#[test]
fn usage_is_2() -> Result {
    let home = Home::new();
    let out = home.run(&["list", "--json", "--bogus"]).expect(2);
    assert_json_error(&out, "usage");
    let out = home
        .run_with_stdin(&with(&["import", "--json"], &SERVER), "{")
        .expect(2);
    assert_json_error(&out, "usage");
    Ok(())
}

#[test]
fn authorization_required_is_3() -> Result {
    let home = Home::new();
    let out = home.run(&with(&["token", "--json"], &SERVER)).expect(3);
    assert_json_error(&out, "authorization_required");
    assert_eq!(out.stdout, "");
    let out = home.run(&with(&["show"], &SERVER)).expect(3);
    assert!(out.stderr.starts_with("error: ") && out.stderr.lines().count() == 1);
    Ok(())
}

#[test]
fn authorization_required_names_the_login_to_run() -> Result {
    let home = Home::new();
    home.run_with_stdin(&with(&["import"], &SERVER), r#"{"access_token":"a"}"#)
        .expect(0);
    home.run(&with(&["logout"], &SERVER)).expect(0);
    let login =
        "; log in with `oauth-store login --server notion --url https://mcp.notion.com/mcp`";
    for command in [&["token"][..], &["headers"], &["refresh"], &["show"]] {
        let out = home.run(&with(command, &SERVER)).expect(3);
        assert!(
            out.stderr.trim_end().ends_with(login),
            "{command:?}: {}",
            out.stderr
        );
        let out = home
            .run(&with(&[command, &["--json"]].concat(), &SERVER))
            .expect(3);
        assert!(
            out.json_error()["message"]
                .as_str()
                .is_some_and(|m| m.ends_with(login)),
            "{command:?}: {}",
            out.stderr
        );
    }
    // A name a shell would split is quoted; a query value is masked, as output shows it.
    let out = home
        .run(&[
            "token",
            "--server",
            "my server",
            "--url",
            "https://mcp.example.test/mcp?key=s3cr3t",
        ])
        .expect(3);
    assert!(
        out.stderr.contains(
            "log in with `oauth-store login --server 'my server' --url 'https://mcp.example.test/mcp?key=***'`"
        ),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("s3cr3t"), "{}", out.stderr);
    Ok(())
}

#[test]
fn store_is_4() -> Result {
    let home = Home::new();
    home.run_with_stdin(&with(&["import"], &SERVER), r#"{"access_token":"a"}"#)
        .expect(0);
    std::fs::write(home.document(), "{\"cut")?;
    let out = home.run(&with(&["show", "--json"], &SERVER)).expect(4);
    assert_json_error(&out, "store");
    // A document that does not parse is never replaced by a save.
    home.run_with_stdin(&with(&["import"], &SERVER), r#"{"access_token":"b"}"#)
        .expect(4);
    assert_eq!(std::fs::read_to_string(home.document())?, "{\"cut");
    Ok(())
}

#[test]
fn a_lock_timeout_is_4() -> Result {
    let home = Home::new();
    home.run_with_stdin(&with(&["import"], &SERVER), r#"{"access_token":"a"}"#)
        .expect(0);
    let key = compute_store_key("notion", "https://mcp.notion.com/mcp");
    let locks = LockDir::open(home.path().join("mcp-oauth-locks"))?;
    let target = LockTarget::credential(key.as_str(), key.credential_lock_file_name());
    let guard = locks.acquire(&LockScope::new(), &target, Duration::from_secs(5))?;
    let out = home
        .run(&with(&["logout", "--json", "--lock-timeout", "1"], &SERVER))
        .expect(4);
    drop(guard);
    let error = out.stderr.lines().last().expect("an error line");
    let error: serde_json::Value = serde_json::from_str(error)?;
    assert_eq!(error["error"], "store");
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains(&format!("held by pid {}", std::process::id()))),
        "{error}"
    );
    Ok(())
}

#[test]
fn provider_is_5() -> Result {
    let provider = Provider::start(Duration::from_secs(60));
    let home = Home::new();
    provider.import(&home, Some(0));
    provider.endpoint.set_fault(Some(Fault::Status500));
    let out = home
        .run(&with(&["token", "--json"], &provider.server()))
        .expect(5);
    assert_json_error(&out, "provider");
    Ok(())
}

#[test]
fn a_save_that_would_fail_is_4_and_nothing_is_sent() -> Result {
    let provider = Provider::start(Duration::from_secs(3600));
    let home = Home::new();
    provider.import(&home, None);
    // A directory where the save's temp file belongs: loads work, every save fails.
    std::fs::create_dir(home.path().join(".credentials.json.tmp"))?;
    let out = home
        .run(&with(
            &["token", "--json", "--min-valid", "7200"],
            &provider.server(),
        ))
        .expect(4);
    assert_eq!(out.stdout, "");
    assert_json_error(&out, "store");
    // The spend guard (DESIGN.md "Persist rescue") sees it before anything is sent.
    assert!(out.stderr.contains("was not sent"), "{}", out.stderr);
    assert_eq!(
        provider.endpoint.counters().token_requests,
        0,
        "the refresh token was not spent"
    );
    let out = home
        .run(&with(&["refresh", "--force"], &provider.server()))
        .expect(4);
    assert!(
        out.stderr.starts_with("error: ") && out.stderr.lines().count() == 1,
        "{}",
        out.stderr
    );
    Ok(())
}

#[test]
fn rust_log_drives_tracing_on_stderr() -> Result {
    let home = Home::new();
    home.run_with_stdin(&with(&["import"], &SERVER), r#"{"access_token":"a"}"#)
        .expect(0);
    let quiet = home.run(&with(&["show"], &SERVER)).expect(0);
    assert_eq!(
        quiet.stderr, "",
        "no RUST_LOG: nothing but the command's own errors"
    );
    let mut cmd = home.command(&with(&["show"], &SERVER));
    cmd.env("RUST_LOG", "debug");
    let traced = crate::util::finish(cmd, None).expect(0);
    assert!(
        traced.stderr.contains("oauth_store::resolution"),
        "{}",
        traced.stderr
    );
    assert_eq!(traced.stdout, quiet.stdout, "logs never go to stdout");
    Ok(())
}

#[test]
fn nothing_stored_names_a_near_match() -> Result {
    let home = Home::new();
    home.run_with_stdin(
        &[
            "import",
            "--server",
            "notion",
            "--url",
            "https://mcp.notion.com/mcp/",
        ],
        r#"{"access_token":"at-1"}"#,
    )
    .expect(0);
    // The same URL but for the trailing slash, and the same name with another URL.
    for args in [
        [
            "token",
            "--server",
            "notion",
            "--url",
            "https://mcp.notion.com/mcp",
        ],
        [
            "show",
            "--server",
            "notion",
            "--url",
            "https://other.example/mcp",
        ],
        [
            "refresh",
            "--server",
            "other",
            "--url",
            "https://mcp.notion.com/mcp",
        ],
    ] {
        let out = home.run(&args).expect(3);
        assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
        assert!(
            out.stderr.contains("no credential is stored")
                && out.stderr.contains("notion|")
                && out.stderr.contains("--url https://mcp.notion.com/mcp/"),
            "{args:?}: {}",
            out.stderr
        );
    }
    let out = home
        .run(&[
            "token",
            "--server",
            "else",
            "--url",
            "https://else.example/mcp",
        ])
        .expect(3);
    assert!(!out.stderr.contains("similar"), "{}", out.stderr);
    Ok(())
}
