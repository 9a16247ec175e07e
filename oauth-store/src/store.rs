//! The store of one home ([`OAuthStore`]): its layout, its stores, its handles and
//! the listing of every credential.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use oauth_lock::LockDir;
use oauth_store_core::{
    Clock, Credential, CredentialStore, KeyringBackend, StoreError, StoreKey, StoreKind, StoreMode,
    compute_store_key,
};

use crate::coordination::Coordination;
use crate::error::Error;
use crate::handle::CredentialHandle;
use crate::layout::StoreLayout;
use crate::provider::TokenRefresher;
use crate::resolution::ResolutionObserver;
use crate::thresholds::Thresholds;

pub(crate) struct Inner {
    pub(crate) layout: StoreLayout,
    pub(crate) mode: StoreMode,
    pub(crate) backend: KeyringBackend,
    pub(crate) file: Arc<dyn CredentialStore>,
    pub(crate) keyring: Option<Arc<dyn CredentialStore>>,
    pub(crate) secrets: Option<Arc<dyn CredentialStore>>,
    pub(crate) locks: LockDir,
    pub(crate) lock_timeout: Duration,
    pub(crate) thresholds: Thresholds,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) refresher: Option<Arc<dyn TokenRefresher>>,
    pub(crate) observer: Option<Arc<dyn ResolutionObserver>>,
    pub(crate) coordination: Coordination,
    /// The rescue file store (DESIGN.md "Persist rescue"), a store of the layout like the others.
    pub(crate) rescue: Arc<dyn CredentialStore>,
    /// The shared credential lock taken after the file lock, for a store in the File
    /// store's place that coordinates across machines ([`crate::OAuthStoreBuilder::shared_store`]).
    pub(crate) locker: Option<Arc<dyn oauth_store_core::CredentialLocker>>,
}

/// Credentials of one home, shared safely by any number of processes.
///
/// Cheap to clone. Build one with [`OAuthStore::builder`], then take a
/// [`CredentialHandle`] per MCP server with [`OAuthStore::handle`].
#[derive(Clone)]
pub struct OAuthStore {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for OAuthStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthStore")
            .field("home", &self.inner.layout.home())
            .field("layout", &self.inner.layout.preset())
            .field("mode", &self.inner.mode)
            .field("keyring_backend", &self.inner.backend)
            .field("coordination", &self.inner.coordination)
            .finish_non_exhaustive()
    }
}

/// One credential found by [`OAuthStore::list`].
#[derive(Debug)]
#[non_exhaustive]
pub struct ListedEntry {
    /// The store holding this copy.
    pub store: StoreKind,
    /// The key.
    pub key: StoreKey,
    /// The record, or why it does not parse.
    pub credential: Result<Credential, StoreError>,
}

impl OAuthStore {
    /// The layout (home, preset, paths).
    pub fn layout(&self) -> &StoreLayout {
        &self.inner.layout
    }

    /// The configured mode.
    pub fn mode(&self) -> StoreMode {
        self.inner.mode
    }

    /// The configured keyring backend.
    pub fn keyring_backend(&self) -> KeyringBackend {
        self.inner.backend
    }

    /// The lock directory.
    pub fn locks(&self) -> &LockDir {
        &self.inner.locks
    }

    /// Whether coordination is switched off (only possible with the
    /// `dangerous-uncoordinated` feature).
    pub fn is_uncoordinated(&self) -> bool {
        self.inner.coordination != Coordination::Coordinated
    }

    /// The store of `kind` (as the store reports it: a third-party backend in the
    /// keyring's place answers to its own kind), when this store has one.
    pub fn store(&self, kind: StoreKind) -> Option<&Arc<dyn CredentialStore>> {
        self.inner.store(kind).ok()
    }

    /// The handle of the MCP server `server_name` at `server_url`.
    pub fn handle(&self, server_name: &str, server_url: &str) -> CredentialHandle {
        let mut handle = self.handle_for_key(compute_store_key(server_name, server_url));
        handle.server = Some((server_name.to_owned(), server_url.to_owned()));
        handle
    }

    /// The handle of a key as stored.
    pub fn handle_for_key(&self, key: StoreKey) -> CredentialHandle {
        CredentialHandle {
            inner: Arc::clone(&self.inner),
            key,
            pinned: Mutex::new(None),
            rescued: Mutex::new(None),
            server: None,
        }
    }

    /// Every credential in every store of the layout. A store that cannot list (or is
    /// unavailable) is reported in the second element instead of failing the call.
    pub fn list(&self) -> (Vec<ListedEntry>, Vec<(StoreKind, StoreError)>) {
        let mut entries = Vec::new();
        let mut failures = Vec::new();
        for (kind, store) in self.inner.stores() {
            match store.list() {
                Ok(listed) => entries.extend(listed.into_iter().map(|l| ListedEntry {
                    store: kind,
                    key: l.key,
                    credential: l.credential,
                })),
                Err(e) => failures.push((kind, e)),
            }
        }
        (entries, failures)
    }
}

impl Inner {
    /// Every store of the layout with the kind it reports, File's place first, then
    /// the keyring's, the Secrets store's and the rescue file.
    pub(crate) fn stores(&self) -> Vec<(StoreKind, &Arc<dyn CredentialStore>)> {
        std::iter::once(&self.file)
            .chain(&self.keyring)
            .chain(&self.secrets)
            .chain(std::iter::once(&self.rescue))
            .map(|s| (s.kind(), s))
            .collect()
    }

    /// Whether the File store is the only store of the layout (the rescue file aside).
    pub(crate) fn file_alone(&self) -> bool {
        self.keyring.is_none() && self.secrets.is_none()
    }

    /// The store that reports `kind` (the first, in [`Inner::stores`]'s order).
    pub(crate) fn store(&self, kind: StoreKind) -> Result<&Arc<dyn CredentialStore>, Error> {
        self.stores()
            .into_iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, s)| s)
            .ok_or_else(|| {
                Error::Config(format!(
                    "the {kind} store is not available in this build or configuration"
                ))
            })
    }
}
