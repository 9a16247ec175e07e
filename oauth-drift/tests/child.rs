//! Child processes: the test binary re-executed with `OAUTH_DRIFT_CHILD` set runs one
//! role through the `child_entry` test and exits; without it, `child_entry` does nothing.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use oauth_drift::DriftSidecar;
use oauth_lock::{LockDir, LockScope, LockTarget};
use oauth_store_core::{KeyringBackend, ResolutionReason, StoreKey, StoreKind, StoreMode};

use crate::capture;

/// How the child is started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Privilege {
    /// As this process runs.
    Same,
    /// Without the capabilities that let root ignore permission bits
    /// (`CAP_DAC_OVERRIDE`, `CAP_DAC_READ_SEARCH`), through util-linux `setpriv`, so a
    /// 0500 directory is unwritable even when the tests run as root (as CI does).
    NoPermissionOverride,
}

/// Spawns this test binary as a child running `role` with `arg` on `dir`.
pub(crate) fn spawn(role: &str, dir: &Path, arg: &str, privilege: Privilege) -> Child {
    let exe = std::env::current_exe().expect("test binary path");
    let as_root = oauth_lock::atomic::current_uid() == Some(0);
    let mut cmd = if privilege == Privilege::NoPermissionOverride && as_root {
        let mut cmd = Command::new("setpriv");
        cmd.args(["--bounding-set=-dac_override,-dac_read_search", "--"])
            .arg(exe);
        cmd
    } else {
        Command::new(exe)
    };
    cmd.args([
        "child::child_entry",
        "--exact",
        "--nocapture",
        "--test-threads=1",
    ]);
    cmd.env("OAUTH_DRIFT_CHILD", role)
        .env("OAUTH_DRIFT_CHILD_DIR", dir)
        .env("OAUTH_DRIFT_CHILD_ARG", arg)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    cmd.spawn()
        .expect("spawn child (root needs util-linux `setpriv`)")
}

/// Reads child stdout lines until one ends with `line` (libtest may print the test's
/// name before the child's first line).
pub(crate) fn wait_for_line(child: &mut Child, line: &str) {
    let out = child.stdout.as_mut().expect("piped stdout");
    let mut reader = BufReader::new(out);
    let mut buf = String::new();
    loop {
        buf.clear();
        let n = reader.read_line(&mut buf).expect("read child stdout");
        assert!(n > 0, "child exited before printing {line}");
        if buf.trim_end().ends_with(line) {
            return;
        }
    }
}

/// The store key child roles record.
pub(crate) const KEY: &str = "srv|0123456789abcdef";

#[test]
fn child_entry() {
    let Ok(role) = std::env::var("OAUTH_DRIFT_CHILD") else {
        return;
    };
    let dir = std::path::PathBuf::from(std::env::var("OAUTH_DRIFT_CHILD_DIR").expect("dir"));
    let arg = std::env::var("OAUTH_DRIFT_CHILD_ARG").unwrap_or_default();
    let mut stdout = std::io::stdout();
    match role.as_str() {
        "hold-sidecar" => {
            let locks = LockDir::open(dir.join("mcp-oauth-locks")).expect("lock dir");
            let _guard = locks
                .acquire(
                    &LockScope::new(),
                    &LockTarget::Sidecar,
                    Duration::from_secs(10),
                )
                .expect("child takes the sidecar lock");
            writeln!(stdout, "LOCKED").expect("stdout");
            stdout.flush().expect("flush");
            std::thread::sleep(Duration::from_secs(arg.parse().expect("seconds")));
        }
        "record" => {
            // The parent made `dir` or its lock directory unwritable; show that this
            // process really cannot write there, then record.
            let probe_dir = if arg == "lock-dir" {
                dir.join("mcp-oauth-locks")
            } else {
                dir.clone()
            };
            let probe = std::fs::write(probe_dir.join("probe"), b"x");
            writeln!(
                stdout,
                "PROBE {}",
                if probe.is_err() { "denied" } else { "allowed" }
            )
            .expect("stdout");
            let locks = LockDir::open(dir.join("mcp-oauth-locks")).expect("lock dir exists");
            let sidecar = DriftSidecar::new(dir.join(".mcp-oauth-store-resolutions.json"), locks);
            let started = Instant::now();
            let (outcome, seen) = capture::observe(|| {
                sidecar.record(
                    &StoreKey::from_raw(KEY),
                    StoreMode::Auto,
                    KeyringBackend::Direct,
                    StoreKind::File,
                    ResolutionReason::AutoSaveFileKeyringError,
                )
            });
            let elapsed = started.elapsed();
            writeln!(stdout, "OUTCOME {outcome:?}").expect("stdout");
            writeln!(stdout, "ELAPSED_MS {}", elapsed.as_millis()).expect("stdout");
            for line in seen.logs.text().lines() {
                writeln!(stdout, "LOG {line}").expect("stdout");
            }
            stdout.flush().expect("flush");
        }
        other => panic!("unknown child role {other}"),
    }
}
