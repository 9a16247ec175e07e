//! Child processes: this test binary re-executed with `OAUTH_STORE_TEST_CHILD` set
//! runs one role through the `child_entry` test and exits: `storm` (refresh in a loop)
//! or `hold` (hold a credential's locks until told to let go).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use oauth_store::lock::{LockDir, LockScope, LockTarget, StoreLock};
use oauth_store::{ErrorKind, LayoutPreset, OAuthStore, StoreKey, StoreLayout, StoreMode};
use oauth_store_core::ExposeSecret;

use super::refresher::TestkitRefresher;
use super::stores::keyring_standin;
use super::{SERVER, URL};

/// How a storm child is configured.
#[derive(Clone, Debug)]
pub(crate) struct Storm {
    pub(crate) millis: u64,
    pub(crate) min_valid_ms: u64,
    pub(crate) mode: StoreMode,
    pub(crate) standin: bool,
    pub(crate) uncoordinated: bool,
}

pub(crate) fn spawn_storm(home: &Path, storm: &Storm) -> Child {
    let exe = std::env::current_exe().expect("test binary");
    Command::new(exe)
        .args([
            "support::child::child_entry",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("OAUTH_STORE_TEST_CHILD", "storm")
        .env("CHILD_HOME", home)
        .env("CHILD_MILLIS", storm.millis.to_string())
        .env("CHILD_MIN_VALID_MS", storm.min_valid_ms.to_string())
        .env("CHILD_MODE", storm.mode.as_str())
        .env("CHILD_STANDIN", if storm.standin { "1" } else { "0" })
        .env(
            "CHILD_UNCOORDINATED",
            if storm.uncoordinated { "1" } else { "0" },
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn child")
}

/// This test binary as another process holding the credential lock of `key` in the
/// home `home` of the `preset` layout, and with `store_lock` the File store lock too;
/// returns once it holds them. It lets go (and exits) when its standard input closes:
/// drop the returned child's `stdin`, then wait for it.
pub(crate) fn spawn_lock_holder(
    home: &Path,
    preset: LayoutPreset,
    key: &StoreKey,
    store_lock: bool,
) -> Child {
    let exe = std::env::current_exe().expect("test binary");
    let mut child = Command::new(exe)
        .args([
            "support::child::child_entry",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("OAUTH_STORE_TEST_CHILD", "hold")
        .env("CHILD_HOME", home)
        .env(
            "CHILD_CODEX",
            if preset == LayoutPreset::Codex {
                "1"
            } else {
                "0"
            },
        )
        .env("CHILD_KEY", key.as_str())
        .env("CHILD_STORE_LOCK", if store_lock { "1" } else { "0" })
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn lock holder");
    wait_until_holding(&mut child);
    child
}

/// Reads the holder's stdout until it says `holding`.
fn wait_until_holding(child: &mut Child) {
    let out = child.stdout.as_mut().expect("stdout");
    let mut reader = BufReader::new(out);
    let mut line = String::new();
    while line.trim_end() != "holding" {
        line.clear();
        let n = reader.read_line(&mut line).expect("holder stdout");
        assert!(n > 0, "the lock holder exited before holding");
    }
}

/// The `hold` role: takes the locks, says `holding`, waits for stdin to close.
fn hold() {
    let preset = if env("CHILD_CODEX") == "1" {
        LayoutPreset::Codex
    } else {
        LayoutPreset::Default
    };
    let layout = StoreLayout::new(env("CHILD_HOME"), preset);
    let locks = LockDir::open(layout.lock_dir()).expect("lock dir");
    let key = StoreKey::from_raw(env("CHILD_KEY"));
    let scope = LockScope::current();
    let target = LockTarget::credential(key.as_str(), key.credential_lock_file_name());
    let wait = Duration::from_secs(10);
    let _credential = locks
        .acquire(&scope, &target, wait)
        .expect("credential lock");
    let _store = (env("CHILD_STORE_LOCK") == "1").then(|| {
        locks
            .acquire(&scope, &LockTarget::Store(StoreLock::File), wait)
            .expect("store lock")
    });
    let mut stdout = std::io::stdout();
    writeln!(stdout, "\nholding").expect("stdout");
    stdout.flush().expect("flush");
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
}

/// What a storm child reports at the end.
#[derive(Debug, Default)]
pub(crate) struct StormReport {
    pub(crate) calls: u64,
    pub(crate) failures: BTreeMap<String, u64>,
    pub(crate) last_token: Option<String>,
}

impl StormReport {
    pub(crate) fn failed(&self) -> u64 {
        self.failures.values().sum()
    }
}

/// Waits for a storm child and parses its `REPORT {json}` line.
pub(crate) fn storm_report(mut child: Child) -> StormReport {
    let out = child.stdout.take().expect("stdout");
    let mut report = None;
    for line in BufReader::new(out).lines() {
        let line = line.expect("line");
        if let Some(json) = line.split_once("REPORT ").map(|(_, j)| j) {
            let v: serde_json::Value = serde_json::from_str(json).expect("report json");
            report = Some(StormReport {
                calls: v["calls"].as_u64().unwrap_or(0),
                failures: v["failures"]
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .map(|(k, n)| (k.clone(), n.as_u64().unwrap_or(0)))
                            .collect()
                    })
                    .unwrap_or_default(),
                last_token: v["last_token"].as_str().map(str::to_owned),
            });
        }
    }
    assert!(child.wait().expect("wait").success(), "storm child failed");
    report.expect("child printed a report")
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} missing"))
}

#[test]
fn child_entry() {
    let Ok(role) = std::env::var("OAUTH_STORE_TEST_CHILD") else {
        return;
    };
    if role == "hold" {
        return hold();
    }
    assert_eq!(role, "storm", "unknown child role");
    let home = std::path::PathBuf::from(env("CHILD_HOME"));
    let millis: u64 = env("CHILD_MILLIS").parse().expect("millis");
    let min_valid = Duration::from_millis(env("CHILD_MIN_VALID_MS").parse().expect("min valid"));
    let mode: StoreMode = env("CHILD_MODE").parse().expect("mode");
    let standin = env("CHILD_STANDIN") == "1";
    let uncoordinated = env("CHILD_UNCOORDINATED") == "1";
    let refresher = Arc::new(TestkitRefresher::new(Duration::from_secs(5)));

    let started = Instant::now();
    let mut calls = 0u64;
    let mut failures: BTreeMap<String, u64> = BTreeMap::new();
    let mut last_token = None;
    while started.elapsed() < Duration::from_millis(millis) {
        // A fresh store and handle per call, as separate invocations would have.
        let mut builder = OAuthStore::builder()
            .default_stores(false)
            .home(&home)
            .mode(mode)
            .refresher(refresher.clone());
        #[cfg(feature = "dangerous-uncoordinated")]
        if uncoordinated {
            builder = builder.dangerous_uncoordinated();
        }
        #[cfg(not(feature = "dangerous-uncoordinated"))]
        assert!(
            !uncoordinated,
            "an uncoordinated child needs the dangerous-uncoordinated feature"
        );
        if standin {
            builder = builder.keyring_store(keyring_standin(&home));
        }
        let store = builder.build().expect("store");
        calls += 1;
        match store.handle(SERVER, URL).refresh_if_needed(min_valid) {
            Ok(c) => last_token = Some(c.access_token.expose_secret().to_owned()),
            Err(e) => {
                let kind = match e.kind() {
                    ErrorKind::AuthorizationRequired => format!("auth: {}", e),
                    other => format!("{other:?}: {e}"),
                };
                *failures.entry(kind).or_default() += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let report =
        serde_json::json!({ "calls": calls, "failures": failures, "last_token": last_token });
    let mut stdout = std::io::stdout();
    writeln!(stdout, "\nREPORT {report}").expect("stdout");
    stdout.flush().expect("flush");
}
