//! Child processes: the test binary re-executed with `OAUTH_LOCK_CHILD` set runs one
//! role through the `child_entry` test and exits; without it, `child_entry` does nothing.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use oauth_lock::{LockDir, LockScope, LockTarget, StoreLock, atomic};

pub(crate) const CRED_KEY: &str = "srv|0123456789abcdef";
pub(crate) const CRED_FILE: &str = "cred.lock";

/// Spawns this test binary as a child running `role` with `arg`, inside `sh` so a
/// umask can be set first.
pub(crate) fn spawn(role: &str, dir: &Path, arg: &str, umask: Option<&str>) -> Child {
    let exe = std::env::current_exe().expect("test binary path");
    let mut cmd = Command::new("sh");
    let script = format!("umask {}; exec \"$0\" \"$@\"", umask.unwrap_or("022"));
    cmd.arg("-c").arg(script).arg(exe).args([
        "child::child_entry",
        "--exact",
        "--nocapture",
        "--test-threads=1",
    ]);
    cmd.env("OAUTH_LOCK_CHILD", role)
        .env("OAUTH_LOCK_CHILD_DIR", dir)
        .env("OAUTH_LOCK_CHILD_ARG", arg)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    cmd.spawn().expect("spawn child")
}

/// Reads child stdout lines until one equals `line`.
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

#[test]
fn child_entry() {
    let Ok(role) = std::env::var("OAUTH_LOCK_CHILD") else {
        return;
    };
    let dir = std::path::PathBuf::from(std::env::var("OAUTH_LOCK_CHILD_DIR").expect("dir"));
    let arg = std::env::var("OAUTH_LOCK_CHILD_ARG").unwrap_or_default();
    let locks = LockDir::open(dir.join("locks")).expect("lock dir");
    let mut stdout = std::io::stdout();
    match role.as_str() {
        "hold" => {
            let scope = LockScope::new();
            let _guard = locks
                .acquire(
                    &scope,
                    &LockTarget::credential(CRED_KEY, CRED_FILE),
                    Duration::from_secs(10),
                )
                .expect("child acquires");
            writeln!(stdout, "LOCKED").expect("stdout");
            stdout.flush().expect("flush");
            std::thread::sleep(Duration::from_secs(arg.parse().unwrap_or(600)));
        }
        "increment" => {
            let n: u32 = arg.parse().expect("count");
            let counter = dir.join("counter");
            for _ in 0..n {
                let scope = LockScope::new();
                let _guard = locks
                    .acquire(
                        &scope,
                        &LockTarget::Store(StoreLock::File),
                        Duration::from_secs(60),
                    )
                    .expect("acquire");
                let value: u64 = std::fs::read_to_string(&counter)
                    .ok()
                    .and_then(|s| s.trim().parse().ok())
                    .unwrap_or(0);
                // A plain (non-atomic) rewrite: only the lock keeps increments from being lost.
                std::fs::write(&counter, format!("{}", value + 1)).expect("write counter");
            }
        }
        "replace-loop" => {
            let target = dir.join("doc");
            let size: usize = arg.parse().expect("size");
            writeln!(stdout, "STARTED").expect("stdout");
            stdout.flush().expect("flush");
            for i in 0u64.. {
                let byte = b'a' + (i % 26) as u8;
                let scope = LockScope::new();
                let _guard = locks
                    .acquire(
                        &scope,
                        &LockTarget::Store(StoreLock::File),
                        Duration::from_secs(60),
                    )
                    .expect("acquire");
                atomic::replace(&target, &vec![byte; size]).expect("replace");
            }
        }
        "create" => {
            // Under the umask the parent chose: a lock file and a replaced document.
            let scope = LockScope::new();
            let _guard = locks
                .acquire(
                    &scope,
                    &LockTarget::Store(StoreLock::File),
                    Duration::from_secs(10),
                )
                .expect("acquire");
            atomic::replace(&dir.join("doc"), b"{}").expect("replace");
            atomic::ensure_private_dir(&dir.join("made-here")).expect("dir");
        }
        other => panic!("unknown child role {other}"),
    }
}
