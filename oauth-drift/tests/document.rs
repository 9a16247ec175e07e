//! The version-1 document: reading what others wrote, keeping what this version does
//! not know, and refusing to touch what it cannot read.

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use oauth_drift::{Change, DriftError, DriftSidecar, RecordOutcome, ResolvedStore, SkipReason};
use oauth_lock::LockDir;
use oauth_store_core::{
    KeyringBackend, ManualClock, ResolutionReason, StoreKey, StoreKind, StoreMode,
};
use serde_json::{Value, json};

use oauth_store_testkit::TestResult;

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/codex-resolutions.json"
);
const NOTION: &str = "notion|eac663db915250e7";
const LINEAR: &str = "linear|47ba737bac765ed4";

/// The time every test sidecar starts at, in ms since the Unix epoch.
pub(crate) const START_MS: u64 = 1_700_000_000_000;

/// A sidecar for `home` on a manual clock reading [`START_MS`].
pub(crate) fn sidecar_in(home: &std::path::Path) -> Result<DriftSidecar, oauth_lock::Error> {
    Ok(sidecar_with_clock(home)?.0)
}

/// A sidecar for `home` and the manual clock it reads.
pub(crate) fn sidecar_with_clock(
    home: &std::path::Path,
) -> Result<(DriftSidecar, Arc<ManualClock>), oauth_lock::Error> {
    let clock = Arc::new(ManualClock::new(START_MS));
    let sidecar = DriftSidecar::new(
        home.join(".mcp-oauth-store-resolutions.json"),
        LockDir::open(home.join("mcp-oauth-locks"))?,
    )
    .with_clock(clock.clone());
    Ok((sidecar, clock))
}

fn read_json(sidecar: &DriftSidecar) -> Result<Value, Box<dyn std::error::Error>> {
    Ok(serde_json::from_slice(&std::fs::read(sidecar.document())?)?)
}

#[test]
fn codex_fixture_reads_as_version_1() -> TestResult {
    let home = tempfile::tempdir()?;
    let sidecar = sidecar_in(home.path())?;
    std::fs::copy(FIXTURE, sidecar.document())?;
    let resolutions = sidecar.read()?;
    assert_eq!(resolutions.entries.len(), 2);
    assert!(resolutions.unreadable.is_empty());
    let notion = resolutions
        .get(&StoreKey::from_raw(NOTION))
        .ok_or("notion")?;
    assert_eq!(notion.last.store_mode, StoreMode::Auto);
    assert_eq!(notion.last.keyring_backend, KeyringBackend::Direct);
    assert_eq!(notion.last.resolved_store, ResolvedStore::Keyring);
    assert_eq!(notion.last.reason, None, "extra fields are optional");
    assert_eq!(notion.last.observed_at, None);
    assert_eq!((notion.previous, notion.change), (None, None));
    let linear = resolutions
        .get(&StoreKey::from_raw(LINEAR))
        .ok_or("linear")?;
    assert_eq!(linear.last.store_mode, StoreMode::File);
    assert_eq!(linear.last.resolved_store, ResolvedStore::File);
    assert_eq!(resolutions.drifted().count(), 0);
    Ok(())
}

#[test]
fn a_missing_document_reads_as_empty() -> TestResult {
    let home = tempfile::tempdir()?;
    let resolutions = sidecar_in(home.path())?.read()?;
    assert!(resolutions.entries.is_empty() && resolutions.unreadable.is_empty());
    Ok(())
}

#[test]
fn the_fixture_baseline_is_judged_like_any_other() -> TestResult {
    let home = tempfile::tempdir()?;
    let sidecar = sidecar_in(home.path())?;
    std::fs::copy(FIXTURE, sidecar.document())?;
    let outcome = sidecar.record(
        &StoreKey::from_raw(NOTION),
        StoreMode::Auto,
        KeyringBackend::Direct,
        StoreKind::File,
        ResolutionReason::AutoLoadFileKeyringError,
    );
    assert_eq!(
        outcome,
        RecordOutcome::Drift {
            previous: ResolvedStore::Keyring,
            resolved: ResolvedStore::File
        }
    );
    let doc = read_json(&sidecar)?;
    assert_eq!(
        doc["resolutions"][NOTION],
        json!({
            "store_mode": "auto",
            "keyring_backend": "direct",
            "resolved_store": "file",
            "reason": "auto_load_file_keyring_error",
            "observed_at": 1_700_000_000_000_u64,
            "change": "drift",
            "previous": {"store_mode": "auto", "keyring_backend": "direct", "resolved_store": "keyring"}
        })
    );
    assert_eq!(
        doc["resolutions"][LINEAR],
        json!({"store_mode": "file", "keyring_backend": "direct", "resolved_store": "file"}),
        "other entries are left as they were"
    );
    Ok(())
}

#[test]
fn unknown_fields_of_other_entries_and_the_top_level_survive_a_rewrite() -> TestResult {
    let home = tempfile::tempdir()?;
    let sidecar = sidecar_in(home.path())?;
    let before = json!({
        "version": 1,
        "x_top": {"written_by": "a newer version"},
        "resolutions": {
            LINEAR: {"store_mode": "file", "keyring_backend": "direct", "resolved_store": "file",
                     "x_pid": 4242, "x_nested": [1, {"a": null}]},
            NOTION: {"store_mode": "auto", "keyring_backend": "direct", "resolved_store": "keyring",
                     "x_stale": "described the replaced observation"}
        }
    });
    std::fs::write(sidecar.document(), serde_json::to_vec(&before)?)?;
    let outcome = sidecar.record(
        &StoreKey::from_raw(NOTION),
        StoreMode::Auto,
        KeyringBackend::Direct,
        StoreKind::File,
        ResolutionReason::AutoLoadFileKeyringError,
    );
    assert!(
        matches!(outcome, RecordOutcome::Drift { .. }),
        "{outcome:?}"
    );
    let after = read_json(&sidecar)?;
    assert_eq!(after["version"], 1);
    assert_eq!(after["x_top"], before["x_top"]);
    assert_eq!(after["resolutions"][LINEAR], before["resolutions"][LINEAR]);
    assert_eq!(
        after["resolutions"][NOTION].get("x_stale"),
        None,
        "the replaced entry's unknown fields go with it"
    );
    Ok(())
}

#[test]
fn written_document_is_0600_pretty_and_starts_with_its_version() -> TestResult {
    let home = tempfile::tempdir()?;
    let sidecar = sidecar_in(home.path())?;
    sidecar.record(
        &StoreKey::from_raw(NOTION),
        StoreMode::Auto,
        KeyringBackend::Secrets,
        StoreKind::Secrets,
        ResolutionReason::AutoSaveKeyring,
    );
    let meta = std::fs::metadata(sidecar.document())?;
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let text = std::fs::read_to_string(sidecar.document())?;
    assert!(
        text.starts_with("{\n  \"version\": 1,\n  \"resolutions\": {"),
        "{text}"
    );
    let doc: Value = serde_json::from_str(&text)?;
    assert_eq!(
        doc["resolutions"][NOTION]["resolved_store"], "keyring",
        "the Secrets store is written as keyring: resolved_store is file | keyring"
    );
    assert_eq!(doc["resolutions"][NOTION]["keyring_backend"], "secrets");
    Ok(())
}

#[test]
fn read_reports_corrupt_documents_and_other_versions() -> TestResult {
    let home = tempfile::tempdir()?;
    let sidecar = sidecar_in(home.path())?;
    let cases: [(&[u8], &str); 6] = [
        (b"{\"version\":1,\"resolutions\":{", "corrupt"),
        (b"", "corrupt"),
        (b"[1]", "corrupt"),
        (b"{\"version\":1,\"resolutions\":[]}", "corrupt"),
        (
            b"{\"version\":2,\"resolutions\":[\"a new shape\"]}",
            "version 2",
        ),
        (b"{\"resolutions\":{}}", "no version"),
    ];
    for (bytes, what) in cases {
        std::fs::write(sidecar.document(), bytes)?;
        match (sidecar.read(), what) {
            (Err(DriftError::Corrupt { path, .. }), "corrupt") => {
                assert_eq!(path, sidecar.document());
            }
            (Err(DriftError::OtherVersion { version, .. }), "version 2") => {
                assert_eq!(version, Some(2));
            }
            (Err(DriftError::OtherVersion { version, .. }), "no version") => {
                assert_eq!(version, None);
            }
            (other, _) => panic!("{what}: {other:?}"),
        }
    }
    Ok(())
}

#[test]
fn an_unreadable_entry_is_reported_and_replaced_by_the_next_observation() -> TestResult {
    let home = tempfile::tempdir()?;
    let sidecar = sidecar_in(home.path())?;
    let before = json!({"version": 1, "resolutions": {
        NOTION: {"store_mode": "auto", "keyring_backend": "direct", "resolved_store": "secrets"},
        LINEAR: {"store_mode": "file", "keyring_backend": "direct", "resolved_store": "file"}
    }});
    std::fs::write(sidecar.document(), serde_json::to_vec(&before)?)?;
    let resolutions = sidecar.read()?;
    let detail = resolutions
        .unreadable
        .get(&StoreKey::from_raw(NOTION))
        .ok_or("reported")?;
    assert!(
        !detail.contains("secrets"),
        "details never quote content: {detail}"
    );
    assert_eq!(resolutions.entries.len(), 1);

    let outcome = sidecar.record(
        &StoreKey::from_raw(NOTION),
        StoreMode::Auto,
        KeyringBackend::Direct,
        StoreKind::File,
        ResolutionReason::AutoLoadFileKeyringMissing,
    );
    assert_eq!(
        outcome,
        RecordOutcome::Recorded,
        "no baseline to judge against"
    );
    let resolutions = sidecar.read()?;
    assert!(resolutions.unreadable.is_empty());
    let entry = resolutions
        .get(&StoreKey::from_raw(NOTION))
        .ok_or("entry")?;
    assert_eq!(entry.last.resolved_store, ResolvedStore::File);
    assert_eq!(entry.change, None);
    Ok(())
}

#[test]
fn an_unreadable_entry_of_another_key_is_kept_as_found() -> TestResult {
    let home = tempfile::tempdir()?;
    let sidecar = sidecar_in(home.path())?;
    let odd = json!({"store_mode": "auto", "resolved_store": 7, "x": [true]});
    let before = json!({"version": 1, "resolutions": {LINEAR: odd}});
    std::fs::write(sidecar.document(), serde_json::to_vec(&before)?)?;
    sidecar.record(
        &StoreKey::from_raw(NOTION),
        StoreMode::File,
        KeyringBackend::Direct,
        StoreKind::File,
        ResolutionReason::ConfiguredLoad,
    );
    let after = read_json(&sidecar)?;
    assert_eq!(after["resolutions"][LINEAR], before["resolutions"][LINEAR]);
    assert_eq!(
        sidecar
            .read()?
            .get(&StoreKey::from_raw(NOTION))
            .map(|e| e.change),
        Some(None)
    );
    Ok(())
}

#[test]
fn a_document_this_version_cannot_read_is_left_byte_for_byte() -> TestResult {
    let home = tempfile::tempdir()?;
    let sidecar = sidecar_in(home.path())?;
    for (bytes, skip) in [
        (
            &b"{\"version\":2,\"resolutions\":{}}"[..],
            SkipReason::OtherVersion,
        ),
        (
            &b"{\"version\":1,\"resolutions\":{\"k\":"[..],
            SkipReason::Corrupt,
        ),
    ] {
        std::fs::write(sidecar.document(), bytes)?;
        let outcome = sidecar.record(
            &StoreKey::from_raw(NOTION),
            StoreMode::Auto,
            KeyringBackend::Direct,
            StoreKind::Keyring,
            ResolutionReason::AutoLoadKeyring,
        );
        assert_eq!(outcome, RecordOutcome::Skipped { reason: skip });
        assert_eq!(std::fs::read(sidecar.document())?, bytes);
    }
    Ok(())
}

#[test]
fn change_names_are_stable() {
    assert_eq!(Change::Drift.as_str(), "drift");
    assert_eq!(Change::Migration.as_str(), "migration");
    assert_eq!(Change::BaselineReset.as_str(), "baseline_reset");
    assert_eq!(
        ResolvedStore::from(StoreKind::Secrets),
        ResolvedStore::Keyring
    );
}
