//! Coordination: the locks a transaction takes, its stores' own locks included, are
//! checked for order and re-entry in one scope, so a mistake is an error at once and
//! never a wait on oneself until the lock timeout.

use std::sync::Arc;
use std::time::Duration;

use oauth_store::file::FileStore;
use oauth_store::lock::{LockDir, LockScope, LockTarget, StoreLock};
use oauth_store::{
    Credential, CredentialStore, Error, OAuthStore, StoreError, StoreKey, StoreKind, StoreMode,
};
use oauth_store_core::ListedCredential;

use crate::support::{SERVER, TestResult, URL};

/// The lock timeout of these stores: long, so that a wait on oneself would show as a
/// timeout error instead of the re-entry or order error the tests expect.
const LONG: Duration = Duration::from_secs(60);

/// A plug-in store that wrongly takes the File store lock itself and then saves
/// through the File store, which takes it again.
struct LocksThenSaves {
    file: FileStore,
    locks: LockDir,
}

impl CredentialStore for LocksThenSaves {
    fn kind(&self) -> StoreKind {
        StoreKind::Keyring
    }
    fn load(&self, key: &StoreKey) -> Result<Option<Credential>, StoreError> {
        self.file.load(key)
    }
    fn save(&self, key: &StoreKey, credential: &Credential) -> Result<(), StoreError> {
        let _held = self
            .locks
            .acquire(
                &LockScope::current(),
                &LockTarget::Store(StoreLock::File),
                LONG,
            )
            .map_err(StoreError::lock)?;
        self.file.save(key, credential)
    }
    fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
        self.file.delete(key)
    }
    fn list(&self) -> Result<Vec<ListedCredential>, StoreError> {
        self.file.list()
    }
}

fn lock_error(error: &Error) -> Option<&oauth_store::lock::Error> {
    match error {
        Error::Lock(e) => Some(e),
        Error::Store(StoreError::Lock(source)) => source.downcast_ref(),
        _ => None,
    }
}

#[test]
fn a_save_through_the_file_store_while_the_transaction_holds_its_lock_is_reentry_at_once()
-> TestResult {
    let home = tempfile::tempdir()?;
    let locks = LockDir::open(home.path().join("mcp-oauth-locks"))?;
    let file = FileStore::new(home.path().join(".credentials.json"), locks.clone())
        .with_lock_timeout(LONG);
    let store = OAuthStore::builder()
        .default_stores(false)
        .home(home.path())
        .mode(StoreMode::Keyring)
        .lock_timeout(LONG)
        .keyring_store(Arc::new(LocksThenSaves {
            file,
            locks: locks.clone(),
        }))
        .build()?;
    let handle = store.handle(SERVER, URL);
    let error = handle
        .save_grant(Credential::builder(SERVER, URL, "at-1".to_owned().into()).build())
        .expect_err("the plug-in re-enters the File store lock");
    assert!(
        matches!(
            lock_error(&error),
            Some(oauth_store::lock::Error::Reentry { .. })
        ),
        "{error:?}"
    );
    // Nothing was saved, and the locks were all released.
    assert!(handle.load()?.is_none());
    assert!(locks.holders().iter().all(|(_, pid)| pid.is_none()));
    Ok(())
}

#[test]
fn a_credential_lock_asked_for_while_a_store_lock_is_held_is_an_order_violation_at_once()
-> TestResult {
    let home = tempfile::tempdir()?;
    let store = OAuthStore::builder()
        .default_stores(false)
        .home(home.path())
        .mode(StoreMode::File)
        .lock_timeout(LONG)
        .build()?;
    let scope = LockScope::new();
    let _entered = scope.enter();
    let _file_lock = store
        .locks()
        .acquire(&scope, &LockTarget::Store(StoreLock::File), LONG)?;
    let handle = store.handle(SERVER, URL);
    let error = handle
        .save_grant(Credential::builder(SERVER, URL, "at-1".to_owned().into()).build())
        .expect_err("credential after store is the wrong order");
    assert!(
        matches!(
            lock_error(&error),
            Some(oauth_store::lock::Error::OrderViolation { .. })
        ),
        "{error:?}"
    );
    let error = handle.logout().expect_err("the same for logout");
    assert!(
        matches!(
            lock_error(&error),
            Some(oauth_store::lock::Error::OrderViolation { .. })
        ),
        "{error:?}"
    );
    Ok(())
}

#[test]
fn transactions_on_other_threads_are_not_mistaken_for_reentry() -> TestResult {
    let home = tempfile::tempdir()?;
    let store = OAuthStore::builder()
        .default_stores(false)
        .home(home.path())
        .mode(StoreMode::File)
        .build()?;
    let handle = store.handle(SERVER, URL);
    // This thread holds the File store lock in an entered scope; another thread's
    // transaction waits for it like another process would, and succeeds once it is
    // released.
    let scope = LockScope::new();
    let entered = scope.enter();
    let file_lock = store
        .locks()
        .acquire(&scope, &LockTarget::Store(StoreLock::File), LONG)?;
    std::thread::scope(|s| {
        let other = s.spawn(|| {
            handle.save_grant(Credential::builder(SERVER, URL, "at-1".to_owned().into()).build())
        });
        std::thread::sleep(Duration::from_millis(50));
        drop(file_lock);
        other.join().expect("thread")
    })?;
    drop(entered);
    assert!(handle.load()?.is_some());
    Ok(())
}
