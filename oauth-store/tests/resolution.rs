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

/// A third-party backend with a kind of its own (here a File document under another
/// name), as a database or vault backend would be.
struct Vault(FileStore);

const VAULT: StoreKind = StoreKind::Other(oauth_store_core::BackendName::new("vault"));

impl CredentialStore for Vault {
    fn kind(&self) -> StoreKind {
        VAULT
    }
    fn load(
        &self,
        key: &oauth_store::StoreKey,
    ) -> Result<Option<Credential>, oauth_store::StoreError> {
        self.0.load(key)
    }
    fn save(
        &self,
        key: &oauth_store::StoreKey,
        c: &Credential,
    ) -> Result<(), oauth_store::StoreError> {
        self.0.save(key, c)
    }
    fn delete(&self, key: &oauth_store::StoreKey) -> Result<bool, oauth_store::StoreError> {
        self.0.delete(key)
    }
    fn list(&self) -> Result<Vec<oauth_store_core::ListedCredential>, oauth_store::StoreError> {
        self.0.list()
    }
}

#[test]
fn a_third_party_store_of_its_own_kind_resolves_lists_and_is_recorded_under_its_name() -> TestResult
{
    let home = tempfile::tempdir()?;
    let open = || -> Result<OAuthStore, oauth_store::Error> {
        let locks = oauth_store::lock::LockDir::open(home.path().join("vault-locks"))?;
        OAuthStore::builder()
            .default_stores(false)
            .home(home.path())
            .keyring_store(Arc::new(Vault(FileStore::new(
                home.path().join("vault.json"),
                locks,
            ))))
            .build()
    };
    let store = open()?;
    let c = Credential::builder(SERVER, URL, "at-1".to_owned().into()).build();
    let saved = store.handle(SERVER, URL).save_grant(c.clone())?;
    assert_eq!(
        (saved.store, saved.reason),
        (VAULT, ResolutionReason::AutoSaveKeyring)
    );
    // Auto resolution on load, in a new store as another process would have.
    let handle = open()?.handle(SERVER, URL);
    assert!(handle.load()?.is_some());
    let loaded = handle.resolution().expect("resolved");
    assert_eq!(
        (loaded.store, loaded.reason),
        (VAULT, ResolutionReason::AutoLoadKeyring)
    );
    // `list` names it by its own kind.
    let (entries, failures) = store.list();
    assert!(failures.is_empty());
    let kinds: Vec<_> = entries.iter().map(|e| e.store).collect();
    assert_eq!(kinds, vec![VAULT]);
    // So does the drift sidecar.
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(store.layout().sidecar_document())?)?;
    assert_eq!(
        doc["resolutions"][c.store_key().as_str()]["resolved_store"],
        "vault"
    );
    Ok(())
}
