//! Child processes: this test binary re-executed by `oauth_store_testkit::child`
//! runs one role through the `child_entry` test and exits: `storm` (refresh in a loop)
//! or `hold` (hold a credential's locks until told to let go).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use oauth_store::lock::{LockDir, LockScope, LockTarget, StoreLock};
use oauth_store::{ErrorKind, LayoutPreset, OAuthStore, StoreKey, StoreLayout, StoreMode};
use oauth_store_core::ExposeSecret;
use oauth_store_testkit::child::{self, Report, env};

use super::refresher::TestkitRefresher;
use super::stores::keyring_standin;
use super::{SERVER, URL};

/// The test every child runs.
const ENTRY: &str = "support::child::child_entry";

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
    let flag = |on: bool| if on { "1" } else { "0" };
    child::command(ENTRY, "storm")
        .env("CHILD_HOME", home)
        .env("CHILD_MILLIS", storm.millis.to_string())
        .env("CHILD_MIN_VALID_MS", storm.min_valid_ms.to_string())
        .env("CHILD_MODE", storm.mode.as_str())
        .env("CHILD_STANDIN", flag(storm.standin))
        .env("CHILD_UNCOORDINATED", flag(storm.uncoordinated))
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
    let codex = if preset == LayoutPreset::Codex {
        "1"
    } else {
        "0"
    };
    let mut holder = child::command(ENTRY, "hold")
        .env("CHILD_HOME", home)
        .env("CHILD_CODEX", codex)
        .env("CHILD_KEY", key.as_str())
        .env("CHILD_STORE_LOCK", if store_lock { "1" } else { "0" })
        .stdin(Stdio::piped())
        .spawn()
        .expect("spawn lock holder");
    child::wait_for_line(&mut holder, "holding");
    holder
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

/// Waits for a storm child and parses its `REPORT {json}` line: calls, failures by
/// kind and `last_token`.
pub(crate) use oauth_store_testkit::child::report as storm_report;

#[test]
fn child_entry() {
    let Some(role) = child::role() else {
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
    Report::new(calls, failures)
        .with("last_token", last_token)
        .print();
}
