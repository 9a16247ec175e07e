//! No token value in errors or logs: sentinel tokens go through save, load, list,
//! delete and failures (entries that do not parse, a value that is not UTF-8, a value
//! over a platform cap), while every `tracing` event (all targets, TRACE) is captured,
//! and with it every `log` record (keyring-core logs through `log`, which
//! tracing-subscriber's `init` bridges); neither the captured text nor any error's
//! `Display` or `Debug` may hold a sentinel.

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use oauth_store_core::{Credential, CredentialStore, ExposeSecret};
use oauth_store_keyring::{OsStore, SecretEntry};
use serde_json::{Value, json};

use crate::child::{Script, assert_clean, run, say, store_of};
use crate::{TestResult, key, session, unique_service};

const SENTINEL: &str = "SENTINEL-7f3a";

#[test]
fn no_sentinel_in_errors_or_logs() -> TestResult {
    if !session::available("redaction::no_sentinel_in_errors_or_logs") {
        return Ok(());
    }
    let script = Script::new(&unique_service("redaction"), Some("0123456789abcdef"), &[]);
    let mut cmd = script.command();
    let arg = json!({
        "service": script.service,
        "prefix": script.prefix,
        "timeout_ms": 5_000,
        "os": null,
    });
    cmd.env("OAUTH_STORE_KEYRING_CHILD", "redaction")
        .env("OAUTH_STORE_KEYRING_CHILD_ARG", arg.to_string());
    let outcome = run(cmd, Duration::from_secs(60))?;
    assert_clean(&outcome)?;
    let report = outcome.step("redaction")?;
    assert_eq!(report.outcome, "clean", "{}", outcome.stdout);
    Ok(())
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("capture").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn sentinel_record(name: &str) -> Credential {
    Credential::builder(
        name,
        format!("https://{name}.example/mcp"),
        format!("{SENTINEL}-at").into(),
    )
    .refresh_token(format!("{SENTINEL}-rt").into())
    .client_secret(format!("{SENTINEL}-cs").into())
    .client_id("client")
    .build()
}

/// Whether `text` holds the sentinel, as text or as the decimal bytes a `Vec<u8>`'s
/// `Debug` would show.
fn leaks(text: &str) -> bool {
    let bytes = format!("{:?}", &SENTINEL.as_bytes()[..6]);
    text.contains(SENTINEL) || text.contains(bytes.trim_start_matches('[').trim_end_matches(']'))
}

/// The child: runs every path with capture on, then checks.
pub(crate) fn child(arg: &Value) {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let start = Instant::now();
    let store = store_of(arg);
    let mut shown = String::new();
    let mut show = |what: &str, text: String| {
        shown.push_str(what);
        shown.push_str(": ");
        shown.push_str(&text);
        shown.push('\n');
    };

    let (good, bad) = (key("good"), key("bad"));
    show(
        "save",
        format!("{:?}", store.save(&good, &sentinel_record("good"))),
    );
    let loaded = store.load(&good).expect("load").expect("saved");
    assert_eq!(
        loaded.access_token.expose_secret(),
        format!("{SENTINEL}-at")
    );
    show("load", format!("{loaded:?}"));

    // Entries that do not parse, each quoting the sentinel where a careless error would.
    let raw =
        SecretEntry::new(store.service(), store.account(&bad)).with_os_store(store.os_store());
    for text in [
        format!(
            r#"{{"server_name":"bad","server_url":"u","access_token":"{SENTINEL}","scopes":"{SENTINEL}"}}"#
        ),
        format!(r#"{{"server_name":"bad","access_token":{SENTINEL}}}"#),
        format!(r#"{{"access_token":"{SENTINEL}"#),
        format!(r#""{SENTINEL}""#),
        SENTINEL.to_owned(),
        format!(r#"{{"server_name":"bad","expires_at":"{SENTINEL}"}}"#),
    ] {
        raw.set(&text.into()).expect("raw set");
        let error = store.load(&bad).expect_err("does not parse");
        show("corrupt", format!("{error} | {error:?}"));
        let listed = store.list().expect("list");
        show("list", format!("{listed:?}"));
    }

    // A value that is not UTF-8, written by another client (secret-tool reads raw bytes).
    if crate::session::which("secret-tool").is_some() {
        let account = store.account(&bad);
        let mut tool = Command::new("secret-tool")
            .args([
                "store",
                "--label=oauth-store-test",
                "service",
                store.service(),
                "username",
                &account,
            ])
            .stdin(Stdio::piped())
            .spawn()
            .expect("secret-tool");
        let mut value = SENTINEL.as_bytes().to_vec();
        value.push(0xff);
        tool.stdin
            .take()
            .expect("stdin")
            .write_all(&value)
            .expect("write");
        assert!(
            tool.wait().expect("secret-tool").success(),
            "secret-tool store"
        );
        let error = store.load(&bad).expect_err("not UTF-8");
        assert!(
            error.is_entry_error(),
            "an error for its key alone: {error:?}"
        );
        assert!(error.to_string().contains("not UTF-8"), "{error}");
        show("not utf-8", format!("{error} | {error:?}"));
        let error = raw.get().expect_err("not UTF-8");
        show("not utf-8 raw", format!("{error} | {error:?}"));
    }

    // Over the Windows cap, refused before any call.
    let windows = store
        .clone()
        .with_os_store(OsStore::WindowsCredentialManager);
    let mut big = sentinel_record("big");
    big.access_token = format!("{SENTINEL}{}", "x".repeat(3_000)).into();
    let error = windows.save(&key("big"), &big).expect_err("too large");
    show("too large", format!("{error} | {error:?}"));

    show(
        "delete",
        format!("{:?} {:?}", store.delete(&good), store.delete(&bad)),
    );

    let logs = String::from_utf8_lossy(&captured.0.lock().expect("capture")).into_owned();
    assert!(
        logs.contains("keyring_core"),
        "keyring-core's log records are captured too"
    );
    assert!(
        !leaks(&shown),
        "an error or Debug shows a sentinel:\n{shown}"
    );
    assert!(!leaks(&logs), "a log line shows a sentinel:\n{logs}");
    say(
        "redaction",
        "clean",
        start.elapsed(),
        &format!("{} bytes of logs, {} of errors", logs.len(), shown.len()),
    );
}
