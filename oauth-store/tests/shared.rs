//! The credential lock as an interface (DESIGN.md "Many machines"): a store built with
//! `OAuthStoreBuilder::shared_store` takes the shared lock in every transaction after the
//! file lock, its saves carry the lock's fence, and a save refused for a lost fence is
//! neither handed out nor preferred over the stored copy. The shared store and lock here
//! are in-memory stand-ins (fault injection); the real one is `oauth-store-postgres`'s.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use oauth_store::store_core::{
    BackendName, CredentialGuard, CredentialLocker, Fence, ListedCredential, LockError,
};
use oauth_store::{
    Credential, CredentialStore, Error, ExposeSecret, OAuthStore, StoreError, StoreKey, StoreKind,
};

use crate::support::{self, SERVER, TestResult, URL};

const SHARED: StoreKind = StoreKind::Other(BackendName::new("shared"));

/// One "database": credentials by key, the fences its saves were given, and whether the
/// current lock has been lost (its saves refused).
#[derive(Default)]
struct Shared {
    rows: Mutex<HashMap<StoreKey, Credential>>,
    fences: Mutex<Vec<Fence>>,
    lost: AtomicBool,
    locks: AtomicU64,
    held: Mutex<bool>,
}

struct SharedStore(Arc<Shared>);
struct SharedLocker(Arc<Shared>);
struct Guard(Arc<Shared>, u64);

impl CredentialStore for SharedStore {
    fn kind(&self) -> StoreKind {
        SHARED
    }
    fn load(&self, key: &StoreKey) -> Result<Option<Credential>, StoreError> {
        Ok(self.0.rows.lock().expect("rows").get(key).cloned())
    }
    fn save(&self, key: &StoreKey, credential: &Credential) -> Result<(), StoreError> {
        self.save_fenced(key, credential, &Fence::UNFENCED)
    }
    fn save_fenced(
        &self,
        key: &StoreKey,
        credential: &Credential,
        fence: &Fence,
    ) -> Result<(), StoreError> {
        self.0.fences.lock().expect("fences").push(*fence);
        if self.0.lost.load(Ordering::SeqCst) {
            return Err(StoreError::FenceRefused {
                kind: SHARED,
                reason: "the test cut the lock".into(),
            });
        }
        self.0
            .rows
            .lock()
            .expect("rows")
            .insert(key.clone(), credential.clone());
        Ok(())
    }
    fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
        Ok(self.0.rows.lock().expect("rows").remove(key).is_some())
    }
    fn list(&self) -> Result<Vec<ListedCredential>, StoreError> {
        Ok(self
            .0
            .rows
            .lock()
            .expect("rows")
            .iter()
            .map(|(k, c)| ListedCredential::new(k.clone(), Ok(c.clone())))
            .collect())
    }
}

impl CredentialLocker for SharedLocker {
    fn name(&self) -> &str {
        "shared"
    }
    fn lock(&self, key: &StoreKey, _: Duration) -> Result<Box<dyn CredentialGuard>, LockError> {
        let mut held = self.0.held.lock().expect("held");
        if *held {
            return Err(LockError::Timeout {
                locker: "shared".into(),
                key: key.clone(),
                waited: Duration::ZERO,
                holder: None,
            });
        }
        *held = true;
        let n = self.0.locks.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(Box::new(Guard(Arc::clone(&self.0), n)))
    }
}

impl CredentialGuard for Guard {
    fn fence(&self) -> Fence {
        Fence::new(7, self.1)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        *self.0.held.lock().expect("held") = false;
    }
}

fn shared_store(home: &std::path::Path, shared: &Arc<Shared>) -> OAuthStore {
    OAuthStore::builder()
        .home(home)
        .shared_store(
            Arc::new(SharedStore(Arc::clone(shared))),
            Arc::new(SharedLocker(Arc::clone(shared))),
        )
        .refresher(Arc::new(support::refresher::TestkitRefresher::new(
            Duration::from_secs(10),
        )))
        .build()
        .expect("store")
}

#[test]
fn every_transaction_takes_the_shared_lock_and_every_save_carries_its_fence() -> TestResult {
    let ep = support::endpoint(Duration::from_secs(3600));
    let shared = Arc::new(Shared::default());
    let home = tempfile::tempdir()?;
    let store = shared_store(home.path(), &shared);
    let handle = store.handle(SERVER, URL);
    let grant = ep.issue_grant(support::CLIENT, &["read"]);
    handle.save_grant(support::credential_from(&ep, &grant, support::now_ms()))?;
    handle.force_refresh()?;
    assert_eq!(shared.locks.load(Ordering::SeqCst), 2);
    let fences = shared.fences.lock().expect("fences").clone();
    assert_eq!(
        fences,
        vec![Fence::new(7, 1), Fence::new(7, 2)],
        "each save carried its own lock's fence"
    );
    handle.logout()?;
    assert_eq!(shared.locks.load(Ordering::SeqCst), 3);
    assert!(
        !home.path().join(".credentials.json").exists(),
        "nothing went to the File store"
    );
    Ok(())
}

#[test]
fn a_save_refused_for_a_lost_lock_is_not_handed_out_and_never_wins_over_the_stored_copy()
-> TestResult {
    let ep = support::endpoint(Duration::from_secs(3600));
    let shared = Arc::new(Shared::default());
    let home = tempfile::tempdir()?;
    let store = shared_store(home.path(), &shared);
    let handle = store.handle(SERVER, URL);
    let grant = ep.issue_grant(support::CLIENT, &["read"]);
    handle.save_grant(support::credential_from(&ep, &grant, support::now_ms()))?;
    shared.lost.store(true, Ordering::SeqCst);
    let error = handle.force_refresh().expect_err("the lock was lost");
    assert!(
        matches!(error, Error::Store(StoreError::FenceRefused { .. })),
        "{error:?}"
    );
    assert_eq!(ep.counters().refreshes, 1, "the provider rotated");
    // Kept (the provider rotated the refresh token) but stamped oldest: the stored copy,
    // which another holder may have replaced meanwhile, wins every read.
    let rescued = store
        .list()
        .0
        .into_iter()
        .find(|e| e.store == oauth_store::RESCUE)
        .expect("kept in the rescue file");
    assert_eq!(
        rescued.credential.as_ref().map(|c| c.updated_at).ok(),
        Some(None)
    );
    shared.lost.store(false, Ordering::SeqCst);
    let loaded = handle.load()?.expect("stored");
    assert_eq!(
        loaded.access_token.expose_secret(),
        grant.access_token.as_str(),
        "the stored copy, not the rescued one"
    );
    Ok(())
}
