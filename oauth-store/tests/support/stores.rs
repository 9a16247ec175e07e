//! Stand-in stores: a second File store relabelled as the keyring, a keyring that is
//! unusable, and a store whose saves fail (fault injection).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use oauth_store::file::FileStore;
use oauth_store::lock::LockDir;
use oauth_store::{Credential, CredentialStore, StoreError, StoreKey, StoreKind};
use oauth_store_core::ListedCredential;

/// A store that reports another kind (a File document standing in for the keyring).
pub(crate) struct Relabeled(pub(crate) Arc<dyn CredentialStore>, pub(crate) StoreKind);

impl CredentialStore for Relabeled {
    fn kind(&self) -> StoreKind {
        self.1
    }
    fn load(&self, key: &StoreKey) -> Result<Option<Credential>, StoreError> {
        self.0.load(key)
    }
    fn save(&self, key: &StoreKey, credential: &Credential) -> Result<(), StoreError> {
        self.0.save(key, credential)
    }
    fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
        self.0.delete(key)
    }
    fn list(&self) -> Result<Vec<ListedCredential>, StoreError> {
        self.0.list()
    }
}

/// The keyring stand-in of a home: `<home>/keyring-standin.json` with its own locks.
pub(crate) fn keyring_standin(home: &Path) -> Arc<dyn CredentialStore> {
    let locks = LockDir::open(home.join("standin-locks")).expect("standin locks");
    Arc::new(Relabeled(
        Arc::new(FileStore::new(home.join("keyring-standin.json"), locks)),
        StoreKind::Keyring,
    ))
}

/// A keyring that is not usable (as without a session bus).
pub(crate) struct Unusable;

impl Unusable {
    fn err() -> StoreError {
        StoreError::Unavailable {
            kind: StoreKind::Keyring,
            reason: "no session bus (test stand-in)".into(),
        }
    }
}

impl CredentialStore for Unusable {
    fn kind(&self) -> StoreKind {
        StoreKind::Keyring
    }
    fn load(&self, _: &StoreKey) -> Result<Option<Credential>, StoreError> {
        Err(Self::err())
    }
    fn save(&self, _: &StoreKey, _: &Credential) -> Result<(), StoreError> {
        Err(Self::err())
    }
    fn delete(&self, _: &StoreKey) -> Result<bool, StoreError> {
        Err(Self::err())
    }
    fn list(&self) -> Result<Vec<ListedCredential>, StoreError> {
        Err(Self::err())
    }
}

/// Wraps a store; its next `fail_saves` saves fail with an I/O error, and so do its
/// deletes while any are left.
pub(crate) struct FailingSaves {
    pub(crate) inner: Arc<dyn CredentialStore>,
    pub(crate) fail_saves: AtomicU32,
    pub(crate) attempts: AtomicU32,
}

impl FailingSaves {
    /// `inner`, failing nothing yet.
    pub(crate) fn wrapping(inner: Arc<dyn CredentialStore>) -> Arc<FailingSaves> {
        Arc::new(FailingSaves {
            inner,
            fail_saves: AtomicU32::new(0),
            attempts: AtomicU32::new(0),
        })
    }
}

impl CredentialStore for FailingSaves {
    fn kind(&self) -> StoreKind {
        self.inner.kind()
    }
    fn load(&self, key: &StoreKey) -> Result<Option<Credential>, StoreError> {
        self.inner.load(key)
    }
    fn save(&self, key: &StoreKey, credential: &Credential) -> Result<(), StoreError> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        if self.fail_saves.load(Ordering::SeqCst) > 0 {
            self.fail_saves.fetch_sub(1, Ordering::SeqCst);
            return Err(StoreError::Io {
                path: "/injected/fault".into(),
                source: std::io::Error::other("injected save failure").into(),
            });
        }
        self.inner.save(key, credential)
    }
    fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
        if self.fail_saves.load(Ordering::SeqCst) > 0 {
            return Err(StoreError::Io {
                path: "/injected/fault".into(),
                source: std::io::Error::other("injected delete failure").into(),
            });
        }
        self.inner.delete(key)
    }
    fn list(&self) -> Result<Vec<ListedCredential>, StoreError> {
        self.inner.list()
    }
}
