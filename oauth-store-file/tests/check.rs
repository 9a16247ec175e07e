//! `check`: what `doctor` reports about the store's files.

use std::os::unix::fs::PermissionsExt;

use oauth_lock::{LockScope, LockTarget, StoreLock};
use oauth_store_core::CredentialStore;
use oauth_store_file::FileWarning;

use crate::{TestResult, key, record, store_in};

#[test]
fn a_fresh_store_has_nothing_to_report() -> TestResult {
    let home = tempfile::tempdir()?;
    let store = store_in(home.path());
    assert_eq!(store.check(), []);
    store.save(&key("a"), &record("a", "at-a"))?;
    assert_eq!(store.check(), []);
    Ok(())
}

#[test]
fn loose_permissions_are_reported_for_the_document_and_the_lock_directory() -> TestResult {
    let home = tempfile::tempdir()?;
    let store = store_in(home.path());
    store.save(&key("a"), &record("a", "at-a"))?;
    std::fs::set_permissions(store.path(), std::fs::Permissions::from_mode(0o644))?;
    std::fs::set_permissions(
        store.lock_dir().path(),
        std::fs::Permissions::from_mode(0o755),
    )?;
    let warnings = store.check();
    assert!(warnings.contains(&FileWarning::LoosePermissions {
        path: store.path().to_owned(),
        mode: 0o644
    }));
    assert!(warnings.contains(&FileWarning::LoosePermissions {
        path: store.lock_dir().path().to_owned(),
        mode: 0o755
    }));
    assert!(warnings.iter().all(|w| w.to_string().contains("mode")));
    store.save(&key("b"), &record("b", "at-b"))?;
    assert_eq!(store.check().len(), 1, "the save tightened the document");
    Ok(())
}

#[test]
fn a_leftover_temp_file_is_reported_only_while_no_save_runs() -> TestResult {
    let home = tempfile::tempdir()?;
    let store = store_in(home.path());
    let temp = home.path().join(".credentials.json.tmp");
    std::fs::write(&temp, b"{")?;
    assert_eq!(
        store.check(),
        [FileWarning::LeftoverTempFile { path: temp.clone() }]
    );
    let _writer = store.lock_dir().acquire(
        &LockScope::new(),
        &LockTarget::Store(StoreLock::File),
        std::time::Duration::from_secs(1),
    )?;
    assert_eq!(store.check(), [], "a save in progress owns its temp file");
    Ok(())
}

#[test]
fn files_of_another_user_are_reported() -> TestResult {
    if oauth_lock::atomic::current_uid() != Some(0) {
        return Ok(()); // only root can give a file away; CI runs as root
    }
    let home = tempfile::tempdir()?;
    let store = store_in(home.path());
    store.save(&key("a"), &record("a", "at-a"))?;
    let lock = store.lock_dir().path().join("file-store.lock");
    std::os::unix::fs::chown(store.path(), Some(4242), None)?;
    std::os::unix::fs::chown(&lock, Some(4243), None)?;
    let warnings = store.check();
    assert!(warnings.contains(&FileWarning::ForeignOwner {
        path: store.path().to_owned(),
        owner: 4242,
        current: 0
    }));
    assert!(warnings.contains(&FileWarning::ForeignOwner {
        path: lock,
        owner: 4243,
        current: 0
    }));
    assert!(warnings.iter().any(|w| w.to_string().contains("sudo")));
    Ok(())
}
