//! Recording: drift, migration and baseline reset through a metrics test recorder and
//! a tracing test subscriber; every sidecar fault skipped within the lock bound; and
//! no token ever reaching the document.

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use oauth_drift::{
    Change, DriftSidecar, RecordOutcome, ResolvedStore, SIDECAR_TIMEOUT, STORE_MIGRATED,
    STORE_RESOLUTION_CHANGED, SkipReason,
};
use oauth_store_core::{
    Credential, KeyringBackend, ResolutionReason, StoreKey, StoreKind, StoreMode,
};
use serde_json::Value;

use crate::capture::observe;
use crate::child::{self, Privilege};
use crate::document::{START_MS, sidecar_in, sidecar_with_clock};

use oauth_store_testkit::TestResult;

use KeyringBackend::{Direct, Secrets};
use ResolutionReason as R;
use StoreMode::Auto;

fn key() -> StoreKey {
    StoreKey::from_raw("notion|eac663db915250e7")
}

fn record(
    sidecar: &DriftSidecar,
    mode: StoreMode,
    backend: KeyringBackend,
    kind: StoreKind,
    reason: ResolutionReason,
) -> RecordOutcome {
    sidecar.record(&key(), mode, backend, kind, reason)
}

/// Generous slack over the lock bound for a loaded 2-core machine; the point is that
/// no fault waits on anything unbounded (the held lock below is held for 10 s).
const BOUND: Duration = Duration::from_millis(250 + 1_750);

#[test]
fn drift_is_one_warning_and_one_labelled_counter() -> TestResult {
    let home = tempfile::tempdir()?;
    let sidecar = sidecar_in(home.path())?;
    let (outcomes, seen) = observe(|| {
        [
            record(
                &sidecar,
                Auto,
                Direct,
                StoreKind::Keyring,
                R::AutoLoadKeyring,
            ),
            record(
                &sidecar,
                Auto,
                Direct,
                StoreKind::Keyring,
                R::AutoSaveKeyring,
            ),
            record(
                &sidecar,
                Auto,
                Direct,
                StoreKind::File,
                R::AutoLoadFileKeyringError,
            ),
            // The same fallback again is no new drift.
            record(
                &sidecar,
                Auto,
                Direct,
                StoreKind::File,
                R::AutoSaveFileKeyringError,
            ),
        ]
    });
    assert_eq!(
        outcomes,
        [
            RecordOutcome::Recorded,
            // A save after a load, to the same store: nothing the sidecar records changed.
            RecordOutcome::Unchanged,
            RecordOutcome::Drift {
                previous: ResolvedStore::Keyring,
                resolved: ResolvedStore::File
            },
            RecordOutcome::Unchanged,
        ]
    );
    let labels = [
        ("previous_store", "keyring"),
        ("resolved_store", "file"),
        ("reason", "auto_load_file_keyring_error"),
    ];
    assert_eq!(seen.counter(STORE_RESOLUTION_CHANGED, &labels), 1);
    assert_eq!(seen.total(STORE_RESOLUTION_CHANGED), 1);
    assert_eq!(seen.total(STORE_MIGRATED), 0);
    let warnings = seen.logs.at("WARN");
    assert_eq!(warnings.len(), 1, "{}", seen.logs.text());
    for part in [
        "drift",
        "notion|eac663db915250e7",
        "previous_store=\"keyring\"",
        "resolved_store=\"file\"",
        "reason=\"auto_load_file_keyring_error\"",
    ] {
        assert!(warnings[0].contains(part), "{part}: {}", warnings[0]);
    }

    let entry = *sidecar.read()?.get(&key()).ok_or("entry")?;
    assert!(entry.drifted());
    assert_eq!(
        entry.last.reason,
        Some(R::AutoLoadFileKeyringError),
        "the observation that established the resolution"
    );
    let previous = entry.previous.ok_or("previous")?;
    assert_eq!(previous.resolved_store, ResolvedStore::Keyring);
    assert_eq!(
        previous.reason,
        Some(R::AutoLoadKeyring),
        "previous is the last recorded observation before the change"
    );
    Ok(())
}

#[test]
fn keyring_drift_back_from_file_is_drift_too() -> TestResult {
    // File -> keyring is a migration only on auto_save_keyring; found on load, it is
    // a resolution change nobody recorded making.
    let home = tempfile::tempdir()?;
    let sidecar = sidecar_in(home.path())?;
    let (outcome, seen) = observe(|| {
        record(
            &sidecar,
            Auto,
            Secrets,
            StoreKind::File,
            R::AutoLoadFileKeyringMissing,
        );
        record(
            &sidecar,
            Auto,
            Secrets,
            StoreKind::Secrets,
            R::AutoLoadKeyring,
        )
    });
    assert_eq!(
        outcome,
        RecordOutcome::Drift {
            previous: ResolvedStore::File,
            resolved: ResolvedStore::Keyring
        }
    );
    let labels = [
        ("previous_store", "file"),
        ("resolved_store", "keyring"),
        ("reason", "auto_load_keyring"),
    ];
    assert_eq!(seen.counter(STORE_RESOLUTION_CHANGED, &labels), 1);
    assert_eq!(seen.total(STORE_MIGRATED), 0);
    assert_eq!(seen.logs.at("WARN").len(), 1);
    Ok(())
}

#[test]
fn metric_prefix_is_prepended_verbatim() -> TestResult {
    let home = tempfile::tempdir()?;
    let sidecar = sidecar_in(home.path())?.with_metric_prefix(Some("codex.".to_owned()));
    let ((), seen) = observe(|| {
        record(
            &sidecar,
            Auto,
            Direct,
            StoreKind::Keyring,
            R::AutoLoadKeyring,
        );
        record(
            &sidecar,
            Auto,
            Direct,
            StoreKind::File,
            R::AutoLoadFileKeyringError,
        );
        record(
            &sidecar,
            Auto,
            Direct,
            StoreKind::Keyring,
            R::AutoSaveKeyring,
        );
    });
    assert_eq!(seen.total("codex.mcp.oauth.store_resolution_changed"), 1);
    assert_eq!(seen.total("codex.mcp.oauth.store_migrated"), 1);
    assert_eq!(
        seen.total(STORE_RESOLUTION_CHANGED),
        0,
        "only prefixed names"
    );
    Ok(())
}

#[test]
fn migration_is_info_and_counted_not_drift() -> TestResult {
    let home = tempfile::tempdir()?;
    let sidecar = sidecar_in(home.path())?;
    let (outcomes, seen) = observe(|| {
        [
            record(
                &sidecar,
                Auto,
                Direct,
                StoreKind::File,
                R::AutoLoadFileKeyringMissing,
            ),
            record(
                &sidecar,
                Auto,
                Direct,
                StoreKind::Keyring,
                R::AutoSaveKeyring,
            ),
            record(
                &sidecar,
                Auto,
                Direct,
                StoreKind::Keyring,
                R::AutoLoadKeyring,
            ),
        ]
    });
    assert_eq!(
        outcomes,
        [
            RecordOutcome::Recorded,
            RecordOutcome::Migration,
            RecordOutcome::Unchanged
        ]
    );
    assert_eq!(seen.total(STORE_MIGRATED), 1);
    assert_eq!(seen.total(STORE_RESOLUTION_CHANGED), 0);
    assert!(seen.logs.at("WARN").is_empty(), "{}", seen.logs.text());
    let infos = seen.logs.at("INFO");
    assert_eq!(infos.len(), 1, "{}", seen.logs.text());
    assert!(infos[0].contains("migrated"), "{}", infos[0]);

    let entry = *sidecar.read()?.get(&key()).ok_or("entry")?;
    assert_eq!(entry.change, Some(Change::Migration));
    assert!(!entry.drifted());
    assert_eq!(
        entry.previous.map(|p| p.resolved_store),
        Some(ResolvedStore::File)
    );
    Ok(())
}

#[test]
fn explicit_modes_and_backend_changes_reset_the_baseline_and_count_nothing() -> TestResult {
    let home = tempfile::tempdir()?;
    let sidecar = sidecar_in(home.path())?;
    let (outcomes, seen) = observe(|| {
        [
            record(
                &sidecar,
                Auto,
                Direct,
                StoreKind::Keyring,
                R::AutoLoadKeyring,
            ),
            // An explicit mode: a new baseline, though the store changed.
            record(
                &sidecar,
                StoreMode::File,
                Direct,
                StoreKind::File,
                R::ConfiguredLoad,
            ),
            record(
                &sidecar,
                StoreMode::File,
                Direct,
                StoreKind::File,
                R::ConfiguredSave,
            ),
            // Back to Auto: judged against nothing but the new baseline.
            record(
                &sidecar,
                Auto,
                Direct,
                StoreKind::Keyring,
                R::AutoLoadKeyring,
            ),
            // The keyring backend changed: keyring -> file is no drift.
            record(
                &sidecar,
                Auto,
                Secrets,
                StoreKind::File,
                R::AutoLoadFileKeyringError,
            ),
            // But under the new backend, the next change is.
            record(
                &sidecar,
                Auto,
                Secrets,
                StoreKind::Secrets,
                R::AutoLoadKeyring,
            ),
        ]
    });
    assert_eq!(
        outcomes,
        [
            RecordOutcome::Recorded,
            RecordOutcome::BaselineReset,
            RecordOutcome::Unchanged,
            RecordOutcome::BaselineReset,
            RecordOutcome::BaselineReset,
            RecordOutcome::Drift {
                previous: ResolvedStore::File,
                resolved: ResolvedStore::Keyring
            },
        ]
    );
    assert_eq!(seen.total(STORE_RESOLUTION_CHANGED), 1, "only the last one");
    assert_eq!(seen.total(STORE_MIGRATED), 0);
    assert_eq!(seen.logs.at("WARN").len(), 1, "{}", seen.logs.text());
    let resets: Vec<_> = seen
        .logs
        .at("DEBUG")
        .into_iter()
        .filter(|l| l.contains("new baseline"))
        .collect();
    assert_eq!(resets.len(), 3, "{}", seen.logs.text());
    Ok(())
}

#[test]
fn a_reset_clears_the_drift_flag_but_keeps_the_differing_observation() -> TestResult {
    let home = tempfile::tempdir()?;
    let sidecar = sidecar_in(home.path())?;
    let ((), seen) = observe(|| {
        record(
            &sidecar,
            Auto,
            Direct,
            StoreKind::Keyring,
            R::AutoLoadKeyring,
        );
        record(
            &sidecar,
            Auto,
            Direct,
            StoreKind::File,
            R::AutoLoadFileKeyringError,
        );
        record(
            &sidecar,
            StoreMode::File,
            Direct,
            StoreKind::File,
            R::ConfiguredLoad,
        );
    });
    assert_eq!(seen.total(STORE_RESOLUTION_CHANGED), 1);
    let entry = *sidecar.read()?.get(&key()).ok_or("entry")?;
    assert_eq!(entry.change, Some(Change::BaselineReset));
    assert_eq!(entry.previous.map(|p| p.store_mode), Some(Auto));
    assert!(!entry.drifted());
    Ok(())
}

#[test]
fn every_key_keeps_its_last_observation() -> TestResult {
    // Nothing deletes entries: the last observation outlives logout, so `doctor` can
    // say where a credential was last seen after it is gone.
    let home = tempfile::tempdir()?;
    let sidecar = sidecar_in(home.path())?;
    let other = StoreKey::from_raw("linear|47ba737bac765ed4");
    record(
        &sidecar,
        Auto,
        Direct,
        StoreKind::Keyring,
        R::AutoSaveKeyring,
    );
    sidecar.record(
        &other,
        Auto,
        Direct,
        StoreKind::File,
        R::AutoSaveFileKeyringError,
    );
    record(
        &sidecar,
        Auto,
        Direct,
        StoreKind::Keyring,
        R::AutoLoadKeyring,
    );
    let resolutions = sidecar.read()?;
    assert_eq!(resolutions.entries.len(), 2);
    assert_eq!(
        resolutions.get(&other).map(|e| e.last.resolved_store),
        Some(ResolvedStore::File)
    );
    Ok(())
}

#[test]
fn a_repeated_resolution_is_never_written_again_and_takes_no_lock() -> TestResult {
    let home = tempfile::tempdir()?;
    let (sidecar, clock) = sidecar_with_clock(home.path())?;
    let at = |s: &DriftSidecar, reason| record(s, Auto, Direct, StoreKind::Keyring, reason);
    let (first, seen) = observe(|| at(&sidecar, R::AutoLoadKeyring));
    assert_eq!(first, RecordOutcome::Recorded);
    assert_eq!(
        durable_writes(&seen),
        [(false, sidecar.document().to_owned())]
    );
    let bytes = std::fs::read(sidecar.document())?;

    // Later, and with the save's reason: what the sidecar records is the same.
    clock.advance(2 * 3_600_000);
    let (outcomes, seen) = observe(|| {
        [
            at(&sidecar, R::AutoLoadKeyring),
            at(&sidecar, R::AutoSaveKeyring),
        ]
    });
    assert_eq!(outcomes, [RecordOutcome::Unchanged; 2]);
    assert_eq!(durable_writes(&seen), []);
    assert_eq!(std::fs::read(sidecar.document())?, bytes, "nothing written");
    let entry = *sidecar.read()?.get(&key()).ok_or("entry")?;
    assert_eq!(entry.last.observed_at, Some(START_MS), "first observed");
    assert_eq!(entry.last.reason, Some(R::AutoLoadKeyring));

    // A lock held elsewhere does not matter to an unchanged observation: no lock taken.
    let mut holder = child::spawn("hold-sidecar", home.path(), "10", Privilege::Same);
    child::wait_for_line(&mut holder, "LOCKED");
    let (outcome, elapsed) = timed(|| at(&sidecar, R::AutoSaveKeyring));
    holder.kill()?;
    holder.wait()?;
    assert_eq!(outcome, RecordOutcome::Unchanged);
    assert!(elapsed < SIDECAR_TIMEOUT, "{elapsed:?}");

    // A change of store is written (once), without the directory fsync.
    let (outcome, seen) = observe(|| {
        record(
            &sidecar,
            Auto,
            Direct,
            StoreKind::File,
            R::AutoLoadFileKeyringError,
        )
    });
    assert!(
        matches!(outcome, RecordOutcome::Drift { .. }),
        "{outcome:?}"
    );
    assert_eq!(
        durable_writes(&seen),
        [(false, sidecar.document().to_owned())]
    );
    Ok(())
}

/// The `oauth_lock::write` events seen: (directory fsynced, path) per write.
fn durable_writes(seen: &crate::capture::Seen) -> Vec<(bool, std::path::PathBuf)> {
    seen.logs
        .text()
        .lines()
        .filter(|line| line.contains("oauth_lock::write"))
        .map(|line| {
            let field = |name: &str| {
                line.split(&format!(" {name}="))
                    .nth(1)
                    .and_then(|rest| rest.split(' ').next())
                    .unwrap_or_default()
                    .to_owned()
            };
            (field("dir_synced") == "true", field("path").into())
        })
        .collect()
}

// ---- Faults: each skipped, within the lock bound, with a line saying what. ----

/// Asserts a skip: the outcome, the time, one line at `level` containing `what`, and
/// that nothing was counted.
fn assert_skipped(
    (outcome, seen): (RecordOutcome, crate::capture::Seen),
    elapsed: Duration,
    reason: SkipReason,
    level: &str,
    what: &str,
) {
    assert_eq!(outcome, RecordOutcome::Skipped { reason });
    assert!(elapsed < BOUND, "{reason:?} took {elapsed:?}");
    let lines = seen.logs.at(level);
    assert!(
        lines
            .iter()
            .any(|l| l.contains(what) && l.contains("skipped")),
        "no {level} line with {what:?}: {}",
        seen.logs.text()
    );
    assert!(
        seen.counters.iter().all(|c| c.value == 0),
        "{:?}",
        seen.counters
    );
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let started = Instant::now();
    let value = f();
    (value, started.elapsed())
}

#[test]
fn sidecar_lock_held_by_another_process_for_10_s_is_skipped_within_the_bound() -> TestResult {
    let home = tempfile::tempdir()?;
    let sidecar = sidecar_in(home.path())?;
    let mut holder = child::spawn("hold-sidecar", home.path(), "10", Privilege::Same);
    child::wait_for_line(&mut holder, "LOCKED");
    let (seen, elapsed) = timed(|| {
        observe(|| {
            record(
                &sidecar,
                Auto,
                Direct,
                StoreKind::Keyring,
                R::AutoLoadKeyring,
            )
        })
    });
    let lock_line = seen.1.logs.at("DEBUG").join("\n");
    holder.kill()?;
    holder.wait()?;
    assert!(elapsed >= SIDECAR_TIMEOUT, "waited the bound: {elapsed:?}");
    assert!(
        lock_line.contains(&format!("holder_pid={}", holder.id())),
        "names the holder: {lock_line}"
    );
    assert_skipped(seen, elapsed, SkipReason::LockBusy, "DEBUG", "lock busy");
    assert!(!sidecar.document().exists(), "nothing was written");
    Ok(())
}

#[test]
fn corrupt_document_is_skipped_with_a_warning_and_left_untouched() -> TestResult {
    let home = tempfile::tempdir()?;
    let sidecar = sidecar_in(home.path())?;
    let bytes = b"{\"version\":1,\"resolutions\":{\"notion|eac663db915250e7\":{\"store_";
    std::fs::write(sidecar.document(), bytes)?;
    let (seen, elapsed) = timed(|| {
        observe(|| {
            record(
                &sidecar,
                Auto,
                Direct,
                StoreKind::Keyring,
                R::AutoLoadKeyring,
            )
        })
    });
    assert_skipped(seen, elapsed, SkipReason::Corrupt, "WARN", "corrupt");
    assert_eq!(std::fs::read(sidecar.document())?, bytes);
    Ok(())
}

#[test]
fn version_2_document_is_skipped_at_debug_and_left_untouched() -> TestResult {
    let home = tempfile::tempdir()?;
    let sidecar = sidecar_in(home.path())?;
    let bytes = br#"{"version":2,"resolutions":{"notion|eac663db915250e7":[{"store":"keyring"}]}}"#;
    std::fs::write(sidecar.document(), bytes)?;
    let (seen, elapsed) = timed(|| {
        observe(|| {
            record(
                &sidecar,
                Auto,
                Direct,
                StoreKind::File,
                R::AutoLoadFileKeyringError,
            )
        })
    });
    assert!(seen.1.logs.at("WARN").is_empty(), "{}", seen.1.logs.text());
    assert_skipped(
        seen,
        elapsed,
        SkipReason::OtherVersion,
        "DEBUG",
        "another version",
    );
    assert_eq!(std::fs::read(sidecar.document())?, bytes);
    Ok(())
}

#[test]
fn failing_write_is_skipped_with_a_warning() -> TestResult {
    let home = tempfile::tempdir()?;
    let sidecar = sidecar_in(home.path())?;
    record(
        &sidecar,
        Auto,
        Direct,
        StoreKind::Keyring,
        R::AutoLoadKeyring,
    );
    let before = std::fs::read(sidecar.document())?;
    // A directory where the fixed temp name goes: the replacement cannot start, even
    // for root.
    std::fs::create_dir(oauth_lock::atomic::temp_path(sidecar.document()))?;
    let (seen, elapsed) = timed(|| {
        observe(|| {
            record(
                &sidecar,
                Auto,
                Direct,
                StoreKind::File,
                R::AutoLoadFileKeyringError,
            )
        })
    });
    assert_skipped(
        seen,
        elapsed,
        SkipReason::WriteFailed,
        "WARN",
        "write failed",
    );
    assert_eq!(
        std::fs::read(sidecar.document())?,
        before,
        "the old document stands"
    );
    Ok(())
}

#[test]
fn document_that_is_not_a_regular_file_is_skipped_without_blocking() -> TestResult {
    let home = tempfile::tempdir()?;
    let sidecar = sidecar_in(home.path())?;
    // A FIFO would block a naive open forever; a symlink could redirect the write.
    let status = std::process::Command::new("mkfifo")
        .arg(sidecar.document())
        .status()?;
    assert!(status.success());
    let (seen, elapsed) = timed(|| {
        observe(|| {
            record(
                &sidecar,
                Auto,
                Direct,
                StoreKind::Keyring,
                R::AutoLoadKeyring,
            )
        })
    });
    assert_skipped(seen, elapsed, SkipReason::Unreadable, "WARN", "unreadable");
    std::fs::remove_file(sidecar.document())?;

    let target = home.path().join("elsewhere.json");
    std::os::unix::fs::symlink(&target, sidecar.document())?;
    let (seen, elapsed) = timed(|| {
        observe(|| {
            record(
                &sidecar,
                Auto,
                Direct,
                StoreKind::Keyring,
                R::AutoLoadKeyring,
            )
        })
    });
    assert_skipped(seen, elapsed, SkipReason::Unreadable, "WARN", "unreadable");
    assert!(!target.exists(), "nothing written through the symlink");
    Ok(())
}

/// Runs the `record` child role (without root's permission override) on `home`, after
/// `prepare` made part of it unwritable, and returns its stdout.
fn record_in_child(
    home: &std::path::Path,
    arg: &str,
) -> Result<String, Box<dyn std::error::Error>> {
    let out =
        child::spawn("record", home, arg, Privilege::NoPermissionOverride).wait_with_output()?;
    assert!(out.status.success(), "child failed: {:?}", out.status);
    Ok(String::from_utf8(out.stdout)?)
}

fn child_line<'a>(stdout: &'a str, tag: &str) -> &'a str {
    stdout
        .lines()
        .find_map(|l| l.split_once(tag).map(|(_, rest)| rest.trim()))
        .unwrap_or("")
}

#[test]
fn unwritable_home_directory_is_skipped_with_a_warning() -> TestResult {
    let home = tempfile::tempdir()?;
    std::fs::create_dir(home.path().join("mcp-oauth-locks"))?;
    std::fs::set_permissions(home.path(), std::fs::Permissions::from_mode(0o500))?;
    let stdout = record_in_child(home.path(), "home");
    std::fs::set_permissions(home.path(), std::fs::Permissions::from_mode(0o700))?;
    let stdout = stdout?;
    assert_eq!(child_line(&stdout, "PROBE "), "denied", "{stdout}");
    assert_eq!(
        child_line(&stdout, "OUTCOME "),
        "Skipped { reason: WriteFailed }",
        "{stdout}"
    );
    let ms: u64 = child_line(&stdout, "ELAPSED_MS ").parse()?;
    assert!(Duration::from_millis(ms) < BOUND, "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("LOG") && l.contains("WARN") && l.contains("write failed")),
        "{stdout}"
    );
    assert!(
        !home
            .path()
            .join(".mcp-oauth-store-resolutions.json")
            .exists()
    );
    Ok(())
}

#[test]
fn unwritable_lock_directory_is_skipped_with_a_warning() -> TestResult {
    let home = tempfile::tempdir()?;
    let locks = home.path().join("mcp-oauth-locks");
    std::fs::create_dir(&locks)?;
    std::fs::set_permissions(&locks, std::fs::Permissions::from_mode(0o500))?;
    let stdout = record_in_child(home.path(), "lock-dir");
    std::fs::set_permissions(&locks, std::fs::Permissions::from_mode(0o700))?;
    let stdout = stdout?;
    assert_eq!(child_line(&stdout, "PROBE "), "denied", "{stdout}");
    assert_eq!(
        child_line(&stdout, "OUTCOME "),
        "Skipped { reason: LockFailed }",
        "{stdout}"
    );
    let ms: u64 = child_line(&stdout, "ELAPSED_MS ").parse()?;
    assert!(Duration::from_millis(ms) < BOUND, "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("LOG") && l.contains("WARN") && l.contains("lock failed")),
        "{stdout}"
    );
    Ok(())
}

// ---- Tokens ----

const SENTINELS: [&str; 3] = [
    "SENTINEL-ACCESS-7f3a9c",
    "SENTINEL-REFRESH-51d2e8",
    "SENTINEL-CLIENT-SECRET-0b6c4d",
];

/// Fields a version-1 entry may hold, as this crate writes it.
const ENTRY_FIELDS: [&str; 7] = [
    "store_mode",
    "keyring_backend",
    "resolved_store",
    "reason",
    "observed_at",
    "change",
    "previous",
];

#[test]
fn the_sidecar_never_holds_a_token() -> TestResult {
    let home = tempfile::tempdir()?;
    let sidecar = sidecar_in(home.path())?;
    // Credentials as the facade holds them: only their store key may reach the
    // sidecar, and the API has no parameter through which anything else could.
    let credentials: Vec<Credential> = ["notion", "linear", "github"]
        .iter()
        .map(|name| {
            Credential::builder(
                *name,
                format!("https://{name}.example/mcp"),
                SENTINELS[0].to_owned().into(),
            )
            .client_id("client")
            .client_secret(SENTINELS[2].to_owned().into())
            .refresh_token(SENTINELS[1].to_owned().into())
            .build()
        })
        .collect();
    let ((), seen) = observe(|| {
        for credential in &credentials[1..] {
            sidecar.record(
                &credential.store_key(),
                Auto,
                Direct,
                StoreKind::Keyring,
                R::AutoSaveKeyring,
            );
        }
        // Every value of every field, for one credential.
        {
            let key = credentials[0].store_key();
            for mode in StoreMode::ALL {
                for backend in KeyringBackend::ALL {
                    for kind in StoreKind::ALL {
                        for reason in ResolutionReason::ALL {
                            sidecar.record(&key, *mode, *backend, *kind, *reason);
                        }
                    }
                }
            }
        }
    });
    let bytes = std::fs::read(sidecar.document())?;
    let text = String::from_utf8(bytes)?;
    for sentinel in SENTINELS {
        assert!(!text.contains(sentinel), "{sentinel} in the document");
        assert!(
            !seen.logs.text().contains(sentinel),
            "{sentinel} in the logs"
        );
    }
    let doc: Value = serde_json::from_str(&text)?;
    let top: Vec<&String> = doc.as_object().ok_or("object")?.keys().collect();
    assert_eq!(top, ["resolutions", "version"]);
    let resolutions = doc["resolutions"].as_object().ok_or("resolutions")?;
    let keys: Vec<String> = credentials
        .iter()
        .map(|c| c.store_key().to_string())
        .collect();
    assert_eq!(resolutions.len(), keys.len());
    for (key, entry) in resolutions {
        assert!(keys.contains(key), "{key}");
        let entry = entry.as_object().ok_or("entry")?;
        for (field, value) in entry {
            assert!(ENTRY_FIELDS.contains(&field.as_str()), "{field}");
            match field.as_str() {
                "observed_at" => assert!(value.is_u64()),
                "previous" => {
                    for (inner, value) in value.as_object().ok_or("previous")? {
                        assert!(ENTRY_FIELDS[..5].contains(&inner.as_str()), "{inner}");
                        assert!(value.is_string() || value.is_u64());
                    }
                }
                _ => assert!(value.is_string()),
            }
        }
        for value in entry.values().filter_map(Value::as_str) {
            assert!(value.len() < 40, "a short stable name: {value}");
        }
    }
    Ok(())
}
