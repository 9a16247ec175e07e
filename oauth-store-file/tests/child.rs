//! Child processes: the test binary re-executed with `OAUTH_STORE_FILE_CHILD` set runs
//! one role through the `child_entry` test and exits; without it, `child_entry` does
//! nothing.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};

use oauth_store_core::{CredentialStore, StoreKey};

use crate::processes::{Op, model_ops};
use crate::{record, store_in};

/// Spawns this test binary as a child running `role` with `arg` on the home `home`,
/// inside `sh` so a umask can be set first.
pub(crate) fn spawn(role: &str, home: &Path, arg: &str, umask: Option<&str>) -> Child {
    let exe = std::env::current_exe().expect("test binary path");
    let mut cmd = Command::new("sh");
    let script = format!("umask {}; exec \"$0\" \"$@\"", umask.unwrap_or("022"));
    cmd.arg("-c").arg(script).arg(exe).args([
        "child::child_entry",
        "--exact",
        "--nocapture",
        "--test-threads=1",
    ]);
    cmd.env("OAUTH_STORE_FILE_CHILD", role)
        .env("OAUTH_STORE_FILE_CHILD_HOME", home)
        .env("OAUTH_STORE_FILE_CHILD_ARG", arg)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    cmd.spawn().expect("spawn child")
}

/// Spawns this test binary as a child running `role` as user `uid` (through `setpriv`;
/// the caller is root), or `None` where `setpriv` is missing.
pub(crate) fn spawn_as(uid: u32, role: &str, home: &Path) -> Option<Child> {
    let exe = std::env::current_exe().expect("test binary path");
    Command::new("setpriv")
        .args([
            format!("--reuid={uid}"),
            format!("--regid={uid}"),
            "--clear-groups".to_owned(),
        ])
        .arg(exe)
        .args([
            "child::child_entry",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("OAUTH_STORE_FILE_CHILD", role)
        .env("OAUTH_STORE_FILE_CHILD_HOME", home)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .ok()
}

/// Reads child stdout lines until one ends with `line`; false at end of output.
pub(crate) fn wait_for_line(out: &mut BufReader<ChildStdout>, line: &str) -> bool {
    let mut buf = String::new();
    loop {
        buf.clear();
        match out.read_line(&mut buf) {
            Ok(0) | Err(_) => return false,
            Ok(_) if buf.trim_end().ends_with(line) => return true,
            Ok(_) => {}
        }
    }
}

fn say(line: &str) {
    let mut stdout = std::io::stdout();
    writeln!(stdout, "{line}").expect("stdout");
    stdout.flush().expect("flush");
}

#[test]
fn child_entry() {
    let Ok(role) = std::env::var("OAUTH_STORE_FILE_CHILD") else {
        return;
    };
    let home =
        std::path::PathBuf::from(std::env::var("OAUTH_STORE_FILE_CHILD_HOME").expect("home"));
    let arg = std::env::var("OAUTH_STORE_FILE_CHILD_ARG").unwrap_or_default();
    let store = || store_in(&home);
    match role.as_str() {
        "save-distinct" => {
            // arg: "<prefix>,<count>"
            let store = store();
            let (prefix, count) = arg.split_once(',').expect("prefix,count");
            let count: u32 = count.parse().expect("count");
            for i in 0..count {
                let name = format!("{prefix}-{i}");
                store
                    .save(&crate::key(&name), &record(&name, &format!("at-{name}")))
                    .expect("save");
            }
            say("DONE");
        }
        "model" => {
            // arg: "<process>,<steps>"
            let store = store();
            let (process, steps) = arg.split_once(',').expect("process,steps");
            for op in model_ops(
                process.parse().expect("process"),
                steps.parse().expect("steps"),
            ) {
                match op {
                    Op::Save { name, token } => store
                        .save(&crate::key(&name), &record(&name, &token))
                        .expect("save"),
                    Op::Delete { name } => {
                        store.delete(&crate::key(&name)).expect("delete");
                    }
                }
            }
            say("DONE");
        }
        "save-loop" => {
            // Saves new distinct keys until killed; a key is printed only once its save
            // returned Ok, so every printed key must be in the document.
            let store = store();
            say("READY");
            for i in 0u64.. {
                let name = format!("{arg}-{i}");
                let key: StoreKey = crate::key(&name);
                store
                    .save(&key, &record(&name, &format!("at-{name}")))
                    .expect("save");
                say(&format!("SAVED {}", key.as_str()));
            }
        }
        "foreign" => {
            // The parent (root) owns the document and the lock file; report what a
            // user's process sees.
            let store = oauth_store_file::FileStore::new(
                home.join(".credentials.json"),
                oauth_lock::LockDir::open(home.join("mcp-oauth-locks")).expect("lock dir"),
            );
            let describe = |e: oauth_store_core::StoreError| match e {
                oauth_store_core::StoreError::ForeignOwner {
                    path,
                    owner,
                    current,
                } => {
                    format!("ForeignOwner {owner} {current} {}", path.display())
                }
                other => format!("other {other}"),
            };
            let load = store.load(&crate::key("a")).map(|_| ()).map_err(describe);
            say(&format!("LOAD {}", load.err().unwrap_or_default()));
            let save = store
                .save(&crate::key("b"), &record("b", "at-b"))
                .map_err(describe);
            say(&format!("SAVE {}", save.err().unwrap_or_default()));
        }
        "save-one" => {
            store()
                .save(&crate::key("umask"), &record("umask", "at-umask"))
                .expect("save");
            say("DONE");
        }
        other => panic!("unknown child role {other}"),
    }
}
