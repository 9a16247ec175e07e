//! Child processes: the test binary re-executed with `OAUTH_STORE_SECRETS_CHILD` set
//! runs one role through the `child_entry` test and exits; without it, `child_entry`
//! does nothing.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use std::sync::Arc;

use oauth_store_core::{CredentialStore, ExposeSecret, StoreError, StoreKey};
use oauth_store_secrets::{KeyringKey, SecretsStore, secrets_key_account};

use crate::{record, store_in};

/// Spawns this test binary as a child running `role` with `arg` on the home `home`,
/// inside `sh` so a umask can be set first.
pub(crate) fn spawn(role: &str, home: &Path, arg: &str, umask: Option<&str>) -> Child {
    command(role, home, arg, umask)
        .spawn()
        .expect("spawn child")
}

/// The command [`spawn`] runs, for a caller that changes its environment first.
pub(crate) fn command(role: &str, home: &Path, arg: &str, umask: Option<&str>) -> Command {
    let exe = std::env::current_exe().expect("test binary path");
    let mut cmd = Command::new("sh");
    let script = format!("umask {}; exec \"$0\" \"$@\"", umask.unwrap_or("022"));
    cmd.arg("-c").arg(script).arg(exe).args([
        "child::child_entry",
        "--exact",
        "--nocapture",
        "--test-threads=1",
    ]);
    cmd.env("OAUTH_STORE_SECRETS_CHILD", role)
        .env("OAUTH_STORE_SECRETS_CHILD_HOME", home)
        .env("OAUTH_STORE_SECRETS_CHILD_ARG", arg)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    cmd
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

/// Reads child stdout lines until one holds `prefix`; returns what follows it.
pub(crate) fn read_after(out: &mut BufReader<ChildStdout>, prefix: &str) -> Option<String> {
    let mut buf = String::new();
    loop {
        buf.clear();
        match out.read_line(&mut buf) {
            Ok(0) | Err(_) => return None,
            Ok(_) => {
                if let Some((_, rest)) = buf.trim_end().split_once(prefix) {
                    return Some(rest.to_owned());
                }
            }
        }
    }
}

fn say(line: &str) {
    let mut stdout = std::io::stdout();
    writeln!(stdout, "{line}").expect("stdout");
    stdout.flush().expect("flush");
}

/// Waits until the parent creates `path`, so children start their race together.
fn wait_for_file(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !path.exists() {
        assert!(Instant::now() < deadline, "no start signal");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn child_entry() {
    let Ok(role) = std::env::var("OAUTH_STORE_SECRETS_CHILD") else {
        return;
    };
    let home =
        std::path::PathBuf::from(std::env::var("OAUTH_STORE_SECRETS_CHILD_HOME").expect("home"));
    let arg = std::env::var("OAUTH_STORE_SECRETS_CHILD_ARG").unwrap_or_default();
    match role.as_str() {
        "save-distinct" => {
            // arg: "<prefix>,<count>"
            let store = store_in(&home);
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
        "save-loop" => {
            // Saves new distinct keys until killed; a key is printed only once its save
            // returned Ok, so every printed key must be in the document.
            let store = store_in(&home);
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
        "first-key" => {
            // arg: "<name>,<start file>": on an empty home, wait for the start signal,
            // save, and report the public key of the key the store used.
            let (name, start) = arg.split_once(',').expect("name,start");
            let store = store_in(&home);
            say("READY");
            wait_for_file(Path::new(start));
            store
                .save(&crate::key(name), &record(name, &format!("at-{name}")))
                .expect("save");
            let secret = store.export_key().expect("export").expect("a key exists");
            let identity: age::x25519::Identity =
                secret.expose_secret().parse().expect("an X25519 identity");
            say(&format!("KEY {}", identity.to_public()));
        }
        "first-key-keyring" => {
            // arg: "<name>,<start file>,<keyring service>": as `first-key`, with the key
            // in the keyring.
            let mut parts = arg.splitn(3, ',');
            let (name, start, service) = (
                parts.next().expect("name"),
                parts.next().expect("start"),
                parts.next().expect("service"),
            );
            let source = KeyringKey::new(service, secrets_key_account(&home));
            let store = SecretsStore::in_home(&home, Arc::new(source)).expect("store");
            say("READY");
            wait_for_file(Path::new(start));
            store
                .save(&crate::key(name), &record(name, &format!("at-{name}")))
                .expect("save");
            let secret = store.export_key().expect("export").expect("a key exists");
            let identity: age::x25519::Identity =
                secret.expose_secret().parse().expect("an X25519 identity");
            say(&format!("KEY {}", identity.to_public()));
        }
        "keyring-without-bus" => {
            // The environment has no session bus: the key source is unavailable at once.
            let store =
                SecretsStore::in_home(&home, Arc::new(KeyringKey::for_home(&home))).expect("store");
            let started = Instant::now();
            let outcome = |r: Result<(), StoreError>| match r {
                Ok(()) => "ok".to_owned(),
                Err(StoreError::Unavailable { kind, .. }) => format!("unavailable {kind}"),
                Err(e) => format!("other {e}"),
            };
            say(&format!(
                "SAVE {}",
                outcome(store.save(&crate::key("a"), &record("a", "at-a")))
            ));
            say(&format!(
                "LOAD {}",
                outcome(store.load(&crate::key("a")).map(|_| ()))
            ));
            say(&format!("MS {}", started.elapsed().as_millis()));
        }
        "save-one" => {
            store_in(&home)
                .save(&crate::key("umask"), &record("umask", "at-umask"))
                .expect("save");
            say("DONE");
        }
        other => panic!("unknown child role {other}"),
    }
}
