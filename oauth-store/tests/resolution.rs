//! Auto resolution in one process (DESIGN.md "Auto resolution"): the seven reasons,
//! newest copy wins, and the drift sidecar as an observer only.

use std::sync::Arc;
use std::time::Duration;

use oauth_store::file::FileStore;
use oauth_store::{Credential, CredentialStore, OAuthStore, StoreKind, StoreMode};
use oauth_store_core::ResolutionReason;

use crate::support::refresher::TestkitRefresher;
use crate::support::stores::{Unusable, keyring_standin};
use crate::support::{SERVER, TestResult, URL, credential_from, endpoint, now_ms};

const SECOND: Duration = Duration::from_secs(1);

#[test]
fn auto_resolution_reasons_and_newest_copy_wins() -> TestResult {
    let home = tempfile::tempdir()?;
    let standin = keyring_standin(home.path());
    let file: Arc<dyn CredentialStore> = Arc::new(FileStore::in_home(home.path())?);
    let auto = |keyring: Arc<dyn CredentialStore>| {
        OAuthStore::builder()
            .default_stores(false)
            .home(home.path())
            .keyring_store(keyring)
            .build()
            .expect("store")
    };
    let c = Credential::builder(SERVER, URL, "at-1".to_owned().into()).build();
    let key = c.store_key();

    // Keyring usable: auto_save_keyring, and the File copy is removed.
    file.save(&key, &c)?;
    let h = auto(standin.clone()).handle(SERVER, URL);
    assert_eq!(
        h.save_grant(c.clone())?.reason,
        ResolutionReason::AutoSaveKeyring
    );
    assert!(file.load(&key)?.is_none(), "the File copy is removed");
    let h = auto(standin.clone()).handle(SERVER, URL);
    h.load()?;
    assert_eq!(
        h.resolution().map(|r| (r.store, r.reason)),
        Some((StoreKind::Keyring, ResolutionReason::AutoLoadKeyring))
    );

    // Keyring answers "no entry": File.
    standin.delete(&key)?;
    file.save(&key, &c)?;
    let h = auto(standin.clone()).handle(SERVER, URL);
    assert!(h.load()?.is_some());
    assert_eq!(
        h.resolution().map(|r| r.reason),
        Some(ResolutionReason::AutoLoadFileKeyringMissing)
    );

    // Keyring unusable: File on load and on save.
    let h = auto(Arc::new(Unusable)).handle(SERVER, URL);
    assert!(h.load()?.is_some());
    assert_eq!(
        h.resolution().map(|r| r.reason),
        Some(ResolutionReason::AutoLoadFileKeyringError)
    );
    let h = auto(Arc::new(Unusable)).handle(SERVER, URL);
    assert_eq!(
        h.save_grant(c.clone())?.reason,
        ResolutionReason::AutoSaveFileKeyringError
    );

    // Explicit modes.
    let explicit = OAuthStore::builder()
        .default_stores(false)
        .home(home.path())
        .mode(StoreMode::File)
        .build()?;
    let h = explicit.handle(SERVER, URL);
    h.load()?;
    assert_eq!(
        h.resolution().map(|r| r.reason),
        Some(ResolutionReason::ConfiguredLoad)
    );
    assert_eq!(
        h.save_grant(c.clone())?.reason,
        ResolutionReason::ConfiguredSave
    );

    // Every-store reread: a newer keyring copy wins over an older File copy even for a
    // handle pinned to File, and the save removes the older copy.
    let ep = endpoint(Duration::from_secs(60));
    let tokens = ep.issue_grant(crate::support::CLIENT, &["mcp"]);
    let mut newer = credential_from(&ep, &tokens, now_ms());
    newer.expires_at = Some(now_ms() - 1);
    newer.updated_at = Some(now_ms() + 10_000);
    let mut older = Credential::builder(SERVER, URL, "at-stale".to_owned().into())
        .refresh_token("rt-stale".to_owned().into())
        .build();
    older.expires_at = Some(now_ms() - 1);
    older.updated_at = Some(1);
    file.save(&key, &older)?;
    standin.save(&key, &newer)?;
    let pinned_file = OAuthStore::builder()
        .default_stores(false)
        .home(home.path())
        .mode(StoreMode::File)
        .keyring_store(standin.clone())
        .refresher(Arc::new(TestkitRefresher::new(Duration::from_secs(2))))
        .build()?;
    let fresh = pinned_file.handle(SERVER, URL).refresh_if_needed(SECOND)?;
    assert_eq!(
        ep.counters().reuse_detections,
        0,
        "the stale File copy was not replayed"
    );
    assert_eq!(ep.counters().refreshes, 1);
    assert!(
        file.load(&key)?
            .expect("saved to the pinned store")
            .same_tokens(&fresh)
    );
    assert!(standin.load(&key)?.is_none(), "the older copy is removed");
    Ok(())
}

#[test]
fn resolutions_and_saves_are_recorded_in_the_drift_sidecar_and_never_read_to_choose() -> TestResult
{
    let home = tempfile::tempdir()?;
    let store = OAuthStore::builder()
        .default_stores(false)
        .home(home.path())
        .build()?; // auto, no keyring in this build
    let c = Credential::builder(SERVER, URL, "SENTINEL-at".to_owned().into())
        .refresh_token("SENTINEL-rt".to_owned().into())
        .build();
    store.handle(SERVER, URL).save_grant(c.clone())?;
    let sidecar = store.layout().sidecar_document();
    let text = std::fs::read_to_string(&sidecar)?;
    let doc: serde_json::Value = serde_json::from_str(&text)?;
    let entry = &doc["resolutions"][c.store_key().as_str()];
    assert_eq!(entry["resolved_store"], "file");
    assert_eq!(entry["reason"], "auto_save_file_keyring_error");
    assert!(!text.contains("SENTINEL-"), "the sidecar is token-free");
    // A corrupt sidecar never fails an operation.
    std::fs::write(&sidecar, b"{ not json")?;
    let h = store.handle(SERVER, URL);
    assert!(h.load()?.is_some());
    assert_eq!(std::fs::read(&sidecar)?, b"{ not json", "left untouched");
    Ok(())
}
