//! The store ([`OAuthStore`]), its per-server handles, Auto resolution, and the login,
//! logout and refresh transactions (DESIGN.md "Auto resolution", "Refresh transaction").

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;

use oauth_lock::{LockDir, LockGuard, LockScope, LockTarget};
use oauth_store_core::{
    Clock, Credential, CredentialStore, KeyringBackend, ResolutionReason, SecretString, StoreError,
    StoreKey, StoreKind, StoreMode, SystemClock, compute_store_key,
};
use oauth_store_file::FileStore;

use crate::error::{AuthorizationReason, Error, StoreOutcome};
use crate::layout::{LayoutPreset, StoreLayout};
use crate::refresh::{RefreshOutcome, TokenRefresher};

/// Where a handle resolved and why; pinned for the handle's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Resolution {
    /// The store the handle reads first and writes to.
    pub store: StoreKind,
    /// Why (one of the seven reasons of DESIGN.md).
    pub reason: ResolutionReason,
}

/// Receives one observation per resolution and per save (the drift sidecar's input).
/// It is never asked which store to choose, and its failures are its own.
pub trait ResolutionObserver: Send + Sync {
    /// `key` resolved (or saved) to `resolution` under `mode` and `backend`.
    fn observe(
        &self,
        key: &StoreKey,
        mode: StoreMode,
        backend: KeyringBackend,
        resolution: Resolution,
    );
}

/// How many times a refreshed credential is saved before giving up, and the pauses
/// between attempts: the provider has already rotated the refresh token, so losing
/// the new one means logging in again.
const PERSIST_BACKOFF: [Duration; 3] = [
    Duration::ZERO,
    Duration::from_millis(100),
    Duration::from_millis(400),
];

struct Inner {
    layout: StoreLayout,
    mode: StoreMode,
    backend: KeyringBackend,
    file: Arc<dyn CredentialStore>,
    keyring: Option<Arc<dyn CredentialStore>>,
    secrets: Option<Arc<dyn CredentialStore>>,
    locks: LockDir,
    lock_timeout: Duration,
    clock: Arc<dyn Clock>,
    refresher: Option<Arc<dyn TokenRefresher>>,
    observer: Option<Arc<dyn ResolutionObserver>>,
    uncoordinated: bool,
}

/// Credentials of one home, shared safely by any number of processes.
///
/// Cheap to clone. Build one with [`OAuthStore::builder`], then take a
/// [`CredentialHandle`] per MCP server with [`OAuthStore::handle`].
#[derive(Clone)]
pub struct OAuthStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for OAuthStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthStore")
            .field("home", &self.inner.layout.home())
            .field("layout", &self.inner.layout.preset())
            .field("mode", &self.inner.mode)
            .field("keyring_backend", &self.inner.backend)
            .field("uncoordinated", &self.inner.uncoordinated)
            .finish_non_exhaustive()
    }
}

/// Configures an [`OAuthStore`]; see [`OAuthStore::builder`].
#[must_use = "call build() to get the store"]
pub struct OAuthStoreBuilder {
    home: Option<PathBuf>,
    preset: LayoutPreset,
    mode: StoreMode,
    backend: KeyringBackend,
    file: Option<Arc<dyn CredentialStore>>,
    keyring: Option<Arc<dyn CredentialStore>>,
    secrets: Option<Arc<dyn CredentialStore>>,
    lock_timeout: Duration,
    clock: Arc<dyn Clock>,
    refresher: Option<Arc<dyn TokenRefresher>>,
    observer: Option<Arc<dyn ResolutionObserver>>,
    drift: bool,
    default_stores: bool,
    uncoordinated: bool,
}

/// Records observations in the drift sidecar (DESIGN.md "Drift sidecar"); best
/// effort, bounded by the sidecar lock's 250 ms, never fails an operation.
struct DriftObserver(oauth_drift::DriftSidecar);

impl ResolutionObserver for DriftObserver {
    fn observe(
        &self,
        key: &StoreKey,
        mode: StoreMode,
        backend: KeyringBackend,
        resolution: Resolution,
    ) {
        let _ = self
            .0
            .record(key, mode, backend, resolution.store, resolution.reason);
    }
}

impl std::fmt::Debug for OAuthStoreBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthStoreBuilder")
            .field("home", &self.home)
            .field("preset", &self.preset)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl OAuthStoreBuilder {
    /// The home directory (default: [`StoreLayout::default_home`] of the preset); created
    /// 0700 when missing.
    pub fn home(mut self, home: impl Into<PathBuf>) -> Self {
        self.home = Some(home.into());
        self
    }
    /// The layout preset (default [`LayoutPreset::Default`]).
    pub fn layout(mut self, preset: LayoutPreset) -> Self {
        self.preset = preset;
        self
    }
    /// The store mode (default [`StoreMode::Auto`]).
    pub fn mode(mut self, mode: StoreMode) -> Self {
        self.mode = mode;
        self
    }
    /// What "keyring" means under Auto (default [`KeyringBackend::Direct`]).
    pub fn keyring_backend(mut self, backend: KeyringBackend) -> Self {
        self.backend = backend;
        self
    }
    /// Replaces the File store (default: a [`FileStore`] in the home, with locked reads
    /// under the codex preset).
    pub fn file_store(mut self, store: Arc<dyn CredentialStore>) -> Self {
        self.file = Some(store);
        self
    }
    /// Replaces the per-credential keyring store (default: the layout's OS keyring,
    /// [`StoreLayout::keyring_store`], unless [`OAuthStoreBuilder::default_stores`] is
    /// off). Any [`CredentialStore`] can stand in.
    pub fn keyring_store(mut self, store: Arc<dyn CredentialStore>) -> Self {
        self.keyring = Some(store);
        self
    }
    /// Replaces the Secrets store (default: [`StoreLayout::secrets_store`], unless
    /// [`OAuthStoreBuilder::default_stores`] is off).
    pub fn secrets_store(mut self, store: Arc<dyn CredentialStore>) -> Self {
        self.secrets = Some(store);
        self
    }
    /// How long to wait for a credential lock (default 60 s).
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }
    /// The clock for expiry and `updated_at` (default [`SystemClock`]).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }
    /// The refresher used by refresh transactions (none: refreshes fail with
    /// [`Error::Config`]).
    pub fn refresher(mut self, refresher: Arc<dyn TokenRefresher>) -> Self {
        self.refresher = Some(refresher);
        self
    }
    /// Receives resolutions and saves instead of the drift sidecar.
    pub fn observer(mut self, observer: Arc<dyn ResolutionObserver>) -> Self {
        self.observer = Some(observer);
        self
    }
    /// Whether the OS keyring store and the Secrets store of the layout are opened
    /// when none was given (default true; [`StoreLayout::keyring_store`],
    /// [`StoreLayout::secrets_store`]). Tests and services that want the File store
    /// alone turn this off.
    pub fn default_stores(mut self, enabled: bool) -> Self {
        self.default_stores = enabled;
        self
    }
    /// Whether observations go to the home's drift sidecar
    /// (`.mcp-oauth-store-resolutions.json`; default true). Never read to choose a store.
    pub fn drift_sidecar(mut self, enabled: bool) -> Self {
        self.drift = enabled;
        self
    }
    /// UNSAFE FOR REAL CREDENTIALS: switches coordination off (no credential lock, no
    /// authoritative reread, no in-process sharing), so concurrent processes replay
    /// rotated refresh tokens and the provider revokes the grant. For the demo and for
    /// tests that prove the tests can fail.
    pub fn unsafe_uncoordinated(mut self, yes: bool) -> Self {
        self.uncoordinated = yes;
        self
    }

    /// Opens the home (creating it 0700 and its lock directory) and the File store.
    ///
    /// # Errors
    /// [`Error::Config`] when no home can be found; [`Error::Lock`] or
    /// [`Error::Store`] when the home or lock directory cannot be created.
    pub fn build(self) -> Result<OAuthStore, Error> {
        let home = match self.home {
            Some(home) => home,
            None => StoreLayout::default_home(self.preset).ok_or_else(|| {
                Error::Config("no home directory: set --home, OAUTH_STORE_HOME or HOME".into())
            })?,
        };
        oauth_lock::atomic::ensure_private_dir(&home).map_err(|e| {
            Error::Store(StoreError::Backend {
                kind: StoreKind::File,
                source: Box::new(e),
            })
        })?;
        let layout = StoreLayout::new(home, self.preset);
        let locks = LockDir::open(layout.lock_dir())?;
        let file = match self.file {
            Some(file) => file,
            None => Arc::new(
                FileStore::new(layout.file_document(), locks.clone())
                    .with_locked_reads(self.preset == LayoutPreset::Codex)
                    .with_lock_timeout(self.lock_timeout),
            ),
        };
        let (mut keyring, mut secrets) = (self.keyring, self.secrets);
        if self.default_stores {
            if keyring.is_none() {
                keyring = Some(Arc::new(layout.keyring_store()) as Arc<dyn CredentialStore>);
            }
            if secrets.is_none() {
                secrets = Some(Arc::new(layout.secrets_store()?) as Arc<dyn CredentialStore>);
            }
        }
        let observer = match self.observer {
            Some(observer) => Some(observer),
            None if self.drift => {
                let sidecar =
                    oauth_drift::DriftSidecar::new(layout.sidecar_document(), locks.clone())
                        .with_metric_prefix(
                            (self.preset == LayoutPreset::Codex).then(|| "codex.".to_owned()),
                        );
                Some(Arc::new(DriftObserver(sidecar)) as Arc<dyn ResolutionObserver>)
            }
            None => None,
        };
        Ok(OAuthStore {
            inner: Arc::new(Inner {
                layout,
                mode: self.mode,
                backend: self.backend,
                file,
                keyring,
                secrets,
                locks,
                lock_timeout: self.lock_timeout,
                clock: self.clock,
                refresher: self.refresher,
                observer,
                uncoordinated: self.uncoordinated,
            }),
        })
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
    /// A builder with the defaults of DESIGN.md: default layout and home, mode `auto`,
    /// keyring backend `direct`, 60 s lock timeout.
    pub fn builder() -> OAuthStoreBuilder {
        OAuthStoreBuilder {
            home: None,
            preset: LayoutPreset::Default,
            mode: StoreMode::Auto,
            backend: KeyringBackend::Direct,
            file: None,
            keyring: None,
            secrets: None,
            lock_timeout: oauth_lock::DEFAULT_TIMEOUT,
            clock: Arc::new(SystemClock),
            refresher: None,
            observer: None,
            drift: true,
            default_stores: true,
            uncoordinated: false,
        }
    }

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

    /// Whether coordination is switched off ([`OAuthStoreBuilder::unsafe_uncoordinated`]).
    pub fn is_uncoordinated(&self) -> bool {
        self.inner.uncoordinated
    }

    /// The store of `kind`, when this store has one.
    pub fn store(&self, kind: StoreKind) -> Option<&Arc<dyn CredentialStore>> {
        match kind {
            StoreKind::File => Some(&self.inner.file),
            StoreKind::Keyring => self.inner.keyring.as_ref(),
            StoreKind::Secrets => self.inner.secrets.as_ref(),
        }
    }

    /// The handle of the MCP server `server_name` at `server_url`.
    pub fn handle(&self, server_name: &str, server_url: &str) -> CredentialHandle {
        self.handle_for_key(compute_store_key(server_name, server_url))
    }

    /// The handle of a key as stored.
    pub fn handle_for_key(&self, key: StoreKey) -> CredentialHandle {
        CredentialHandle {
            inner: Arc::clone(&self.inner),
            key,
            pinned: Mutex::new(None),
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
    /// Every store of the layout, File first.
    fn stores(&self) -> Vec<(StoreKind, &Arc<dyn CredentialStore>)> {
        let mut out = vec![(StoreKind::File, &self.file)];
        if let Some(k) = &self.keyring {
            out.push((StoreKind::Keyring, k));
        }
        if let Some(s) = &self.secrets {
            out.push((StoreKind::Secrets, s));
        }
        out
    }

    fn store(&self, kind: StoreKind) -> Result<&Arc<dyn CredentialStore>, Error> {
        match kind {
            StoreKind::File => Some(&self.file),
            StoreKind::Keyring => self.keyring.as_ref(),
            StoreKind::Secrets => self.secrets.as_ref(),
        }
        .ok_or_else(|| {
            Error::Config(format!(
                "the {kind} store is not available in this build or configuration"
            ))
        })
    }

    /// What "keyring" means under Auto.
    fn auto_keyring(&self) -> Option<(StoreKind, &Arc<dyn CredentialStore>)> {
        match self.backend {
            KeyringBackend::Direct => self.keyring.as_ref().map(|k| (StoreKind::Keyring, k)),
            KeyringBackend::Secrets => self.secrets.as_ref().map(|s| (StoreKind::Secrets, s)),
        }
    }

    fn explicit_kind(&self) -> StoreKind {
        match self.mode {
            StoreMode::File | StoreMode::Auto => StoreKind::File,
            StoreMode::Keyring => StoreKind::Keyring,
            StoreMode::Secrets => StoreKind::Secrets,
        }
    }

    fn observe(&self, key: &StoreKey, resolution: Resolution) {
        tracing::debug!(
            target: "oauth_store::resolution",
            key = %key,
            store = %resolution.store,
            reason = %resolution.reason,
            "resolved"
        );
        if let Some(observer) = &self.observer {
            observer.observe(key, self.mode, self.backend, resolution);
        }
    }

    /// Auto or configured resolution on load (DESIGN.md "Auto resolution").
    fn resolve_load(&self, key: &StoreKey) -> Result<(Resolution, Option<Credential>), Error> {
        if self.mode != StoreMode::Auto {
            let kind = self.explicit_kind();
            let found = self.store(kind)?.load(key)?;
            return Ok((
                Resolution {
                    store: kind,
                    reason: ResolutionReason::ConfiguredLoad,
                },
                found,
            ));
        }
        let reason = match self.auto_keyring() {
            Some((kind, keyring)) => match keyring.load(key) {
                Ok(Some(found)) => {
                    return Ok((
                        Resolution {
                            store: kind,
                            reason: ResolutionReason::AutoLoadKeyring,
                        },
                        Some(found),
                    ));
                }
                Ok(None) => ResolutionReason::AutoLoadFileKeyringMissing,
                Err(e @ StoreError::Lock(_)) => return Err(e.into()),
                Err(e) => {
                    tracing::debug!(target: "oauth_store::resolution", key = %key, error = %e, "keyring failed on load; using the File store");
                    ResolutionReason::AutoLoadFileKeyringError
                }
            },
            None => ResolutionReason::AutoLoadFileKeyringError,
        };
        let found = self.file.load(key)?;
        Ok((
            Resolution {
                store: StoreKind::File,
                reason,
            },
            found,
        ))
    }

    /// Auto or configured resolution on save, and the save itself.
    fn resolve_save(&self, key: &StoreKey, credential: &Credential) -> Result<Resolution, Error> {
        if self.mode != StoreMode::Auto {
            let kind = self.explicit_kind();
            self.store(kind)?.save(key, credential)?;
            return Ok(Resolution {
                store: kind,
                reason: ResolutionReason::ConfiguredSave,
            });
        }
        if let Some((kind, keyring)) = self.auto_keyring() {
            match keyring.save(key, credential) {
                Ok(()) => {
                    return Ok(Resolution {
                        store: kind,
                        reason: ResolutionReason::AutoSaveKeyring,
                    });
                }
                Err(StoreError::Unavailable { reason, .. }) => {
                    tracing::debug!(target: "oauth_store::resolution", key = %key, reason, "keyring unusable on save; using the File store");
                }
                // A timed-out or failed write is indeterminate, and a lock failure is
                // never a reason to fall back: the copy may be in the keyring.
                Err(e) => return Err(e.into()),
            }
        }
        self.file.save(key, credential)?;
        Ok(Resolution {
            store: StoreKind::File,
            reason: ResolutionReason::AutoSaveFileKeyringError,
        })
    }

    /// The authoritative reread: every store that answers; the newest copy by
    /// `updated_at` wins (absent = oldest; ties go to `prefer`).
    fn authoritative_read(
        &self,
        key: &StoreKey,
        prefer: Option<StoreKind>,
    ) -> Result<Option<(Credential, StoreKind)>, Error> {
        let mut stores = self.stores();
        if let Some(prefer) = prefer {
            stores.sort_by_key(|(kind, _)| *kind != prefer);
        }
        let mut best: Option<(Credential, StoreKind)> = None;
        let mut first_error: Option<(StoreKind, StoreError)> = None;
        for (kind, store) in stores {
            match store.load(key) {
                Ok(Some(found)) => {
                    if best
                        .as_ref()
                        .is_none_or(|(b, _)| found.updated_at > b.updated_at)
                    {
                        best = Some((found, kind));
                    }
                }
                Ok(None) => {}
                Err(e @ StoreError::Lock(_)) => return Err(e.into()),
                Err(e) => {
                    tracing::debug!(target: "oauth_store::refresh", key = %key, store = %kind, error = %e, "store did not answer the reread");
                    if first_error.is_none() {
                        first_error = Some((kind, e));
                    }
                }
            }
        }
        match (best, first_error) {
            (Some(found), _) => Ok(Some(found)),
            // Nothing found, and the store this handle is pinned to (or the only one)
            // failed: that is an error, not "nothing stored".
            (None, Some((kind, e)))
                if Some(kind) == prefer || self.stores().len() == 1 || e.is_entry_error() =>
            {
                Err(e.into())
            }
            (None, _) => Ok(None),
        }
    }

    fn credential_lock(&self, key: &StoreKey) -> Result<Option<LockGuard>, Error> {
        if self.uncoordinated {
            return Ok(None);
        }
        let target = LockTarget::credential(key.as_str(), key.credential_lock_file_name());
        Ok(Some(self.locks.acquire(
            &LockScope::new(),
            &target,
            self.lock_timeout,
        )?))
    }

    /// Removes copies of `key` in every store but `keep`; failures are logged (an
    /// older copy that stays loses the newest-wins reread anyway).
    fn remove_other_copies(&self, key: &StoreKey, keep: StoreKind) {
        for (kind, store) in self.stores() {
            if kind == keep {
                continue;
            }
            match store.delete(key) {
                Ok(true) => {
                    tracing::debug!(target: "oauth_store::save", key = %key, store = %kind, "removed an older copy");
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::debug!(target: "oauth_store::save", key = %key, store = %kind, error = %e, "could not remove an older copy");
                }
            }
        }
    }
}

/// What started a refresh transaction.
#[derive(Clone)]
enum Trigger {
    Due { min_valid_ms: u64 },
    Force,
    Unauthorized(SecretString),
}

/// A refresh shared by the callers of one key in one process (single-flight).
#[derive(Default)]
struct Flight {
    /// Callers waiting for the leader; only changed under the flights map's lock.
    followers: std::sync::atomic::AtomicUsize,
    result: Mutex<Option<Result<Credential, Arc<Error>>>>,
    done: Condvar,
}

/// In-flight refreshes by (lock directory, key).
type Flights = Mutex<HashMap<(PathBuf, StoreKey), Arc<Flight>>>;

fn flights() -> &'static Flights {
    static FLIGHTS: OnceLock<Flights> = OnceLock::new();
    FLIGHTS.get_or_init(Default::default)
}

/// One MCP server's credential in an [`OAuthStore`]. The first operation resolves the
/// store (DESIGN.md "Auto resolution") and pins it: reads start there, and writes go
/// there for the handle's life.
pub struct CredentialHandle {
    inner: Arc<Inner>,
    key: StoreKey,
    pinned: Mutex<Option<Resolution>>,
}

impl std::fmt::Debug for CredentialHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialHandle")
            .field("key", &self.key)
            .field("resolution", &self.resolution())
            .finish()
    }
}

impl CredentialHandle {
    /// The store key.
    pub fn key(&self) -> &StoreKey {
        &self.key
    }

    /// The pinned resolution, once the handle has resolved.
    pub fn resolution(&self) -> Option<Resolution> {
        *self.pinned.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn pin(&self, resolution: Resolution) {
        let mut pinned = self.pinned.lock().unwrap_or_else(|e| e.into_inner());
        if pinned.is_none() {
            *pinned = Some(resolution);
            drop(pinned);
            self.inner.observe(&self.key, resolution);
        }
    }

    /// Resolves (once) and returns the pinned resolution and what it found.
    fn resolve(&self) -> Result<(Resolution, Option<Credential>), Error> {
        if let Some(resolution) = self.resolution() {
            let found = self.inner.store(resolution.store)?.load(&self.key)?;
            return Ok((resolution, found));
        }
        let (resolution, found) = self.inner.resolve_load(&self.key)?;
        self.pin(resolution);
        Ok((resolution, found))
    }

    /// The stored credential, without taking any lock: the pinned store's copy, or,
    /// when it has none, the newest copy in any other store of the layout (a process
    /// that cannot reach the keyring never replays a File copy that moved). The mode
    /// decides where writes go; reads, like the authoritative reread, look at every
    /// store of the layout.
    ///
    /// # Errors
    /// Store errors of the pinned store ([`StoreError::CorruptEntry`] and the like).
    pub fn load(&self) -> Result<Option<Credential>, Error> {
        Ok(self.load_located()?.map(|(credential, _)| credential))
    }

    /// As [`CredentialHandle::load`], with the store the copy was found in (which is
    /// not the pinned store when the copy came from another store of the layout).
    ///
    /// # Errors
    /// As [`CredentialHandle::load`].
    pub fn load_located(&self) -> Result<Option<(Credential, StoreKind)>, Error> {
        let (resolution, found) = self.resolve()?;
        if let Some(found) = found {
            return Ok(Some((found, resolution.store)));
        }
        if self.inner.stores().len() == 1 {
            return Ok(None);
        }
        self.inner
            .authoritative_read(&self.key, Some(resolution.store))
    }

    /// Saves a new credential (after an authorization), replacing any stored one,
    /// under the credential lock; stamps `updated_at`; removes copies in other stores.
    /// Re-resolves under Auto's save rules and pins the result.
    ///
    /// # Errors
    /// [`Error::Lock`]; [`Error::Store`] (a keyring write that timed out is an error,
    /// never a fall-back to File).
    pub fn login(&self, mut credential: Credential) -> Result<Resolution, Error> {
        let _lock = self.inner.credential_lock(&self.key)?;
        credential.updated_at = Some(self.inner.clock.now_ms());
        let resolution = self.inner.resolve_save(&self.key, &credential)?;
        *self.pinned.lock().unwrap_or_else(|e| e.into_inner()) = Some(resolution);
        self.inner.observe(&self.key, resolution);
        self.inner.remove_other_copies(&self.key, resolution.store);
        Ok(resolution)
    }

    /// Removes every copy of the credential from every store of the layout, under the
    /// credential lock, and reports each store's outcome. Nothing stored is not an error.
    /// A store that cannot be used here ([`StoreError::Unavailable`], e.g. no session
    /// bus) is reported in its outcome but fails the logout only when the mode needs
    /// that store (`--store keyring` for the keyring): under Auto this process could not
    /// have saved there.
    ///
    /// # Errors
    /// [`Error::LogoutIncomplete`] naming each store where a copy stayed;
    /// [`Error::Lock`].
    pub fn logout(&self) -> Result<Vec<StoreOutcome>, Error> {
        let _lock = self.inner.credential_lock(&self.key)?;
        let outcomes: Vec<StoreOutcome> = self
            .inner
            .stores()
            .into_iter()
            .map(|(store, s)| StoreOutcome {
                store,
                result: s.delete(&self.key),
            })
            .collect();
        let needed = (self.inner.mode != StoreMode::Auto).then(|| self.inner.explicit_kind());
        let failed = outcomes.iter().any(|o| match &o.result {
            Ok(_) => false,
            Err(StoreError::Unavailable { .. }) => Some(o.store) == needed,
            Err(_) => true,
        });
        if failed {
            return Err(Error::LogoutIncomplete {
                key: self.key.clone(),
                outcomes,
            });
        }
        Ok(outcomes)
    }

    /// A credential whose access token has at least `min_valid` left, refreshing
    /// through the serialized transaction when needed. A token of unknown expiry is
    /// returned as is. Without any lock when nothing is due.
    ///
    /// # Errors
    /// [`Error::AuthorizationRequired`], [`Error::Transient`], [`Error::Indeterminate`],
    /// [`Error::PersistFailed`], [`Error::Lock`], [`Error::Store`].
    pub fn refresh_if_needed(&self, min_valid: Duration) -> Result<Credential, Error> {
        let current = self.load()?;
        let current = self.require_tokens(current)?;
        let min_valid_ms = u64::try_from(min_valid.as_millis()).unwrap_or(u64::MAX);
        if !current.is_due(self.inner.clock.now_ms(), min_valid_ms) {
            return Ok(current);
        }
        self.transact(&Trigger::Due { min_valid_ms }, Some(&current))
    }

    /// Refreshes now, unless another process refreshed since this handle's copy was
    /// read (then its fresh token is adopted instead of spending another rotation).
    ///
    /// # Errors
    /// As [`CredentialHandle::refresh_if_needed`].
    pub fn force_refresh(&self) -> Result<Credential, Error> {
        let current = self.load()?;
        let current = self.require_tokens(current)?;
        self.transact(&Trigger::Force, Some(&current))
    }

    /// One-shot recovery after the resource server answered 401 for
    /// `rejected_access_token`: refreshes at most once per rejected token across all
    /// processes, and not at all if the store already holds another access token
    /// (which is returned instead).
    ///
    /// # Errors
    /// As [`CredentialHandle::refresh_if_needed`].
    pub fn recover_unauthorized(
        &self,
        rejected_access_token: &SecretString,
    ) -> Result<Credential, Error> {
        self.transact(&Trigger::Unauthorized(rejected_access_token.clone()), None)
    }

    fn require_tokens(&self, found: Option<Credential>) -> Result<Credential, Error> {
        let auth = |reason| Error::AuthorizationRequired {
            key: self.key.clone(),
            reason,
        };
        let found = found.ok_or_else(|| auth(AuthorizationReason::NothingStored))?;
        if !found.has_tokens() {
            return Err(auth(AuthorizationReason::TokensDropped));
        }
        Ok(found)
    }

    /// Runs a transaction, sharing it with concurrent callers of the same key in this
    /// process: one leader runs it; the others wait for its result.
    fn transact(&self, trigger: &Trigger, hint: Option<&Credential>) -> Result<Credential, Error> {
        if self.inner.uncoordinated {
            return self.transact_locked(trigger, hint);
        }
        let id = (self.inner.locks.path().to_owned(), self.key.clone());
        let (flight, leader) = {
            let mut map = flights().lock().unwrap_or_else(|e| e.into_inner());
            match map.get(&id) {
                Some(flight) => {
                    flight
                        .followers
                        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    (Arc::clone(flight), false)
                }
                None => {
                    let flight = Arc::new(Flight::default());
                    map.insert(id.clone(), Arc::clone(&flight));
                    (flight, true)
                }
            }
        };
        if !leader {
            let mut result = flight.result.lock().unwrap_or_else(|e| e.into_inner());
            while result.is_none() {
                result = flight.done.wait(result).unwrap_or_else(|e| e.into_inner());
            }
            return match result.as_ref().expect("checked above") {
                Ok(credential) => Ok(credential.clone()),
                Err(e) => Err(Error::Shared(Arc::clone(e))),
            };
        }
        /// Ends the flight even if the transaction panics, so followers never wait forever.
        struct Land<'a> {
            flight: &'a Flight,
            id: &'a (PathBuf, StoreKey),
            landed: bool,
        }
        impl Land<'_> {
            /// Removes the flight from the map (no follower joins after this) and
            /// returns how many followers wait for its result.
            fn close(&mut self) -> usize {
                self.landed = true;
                let _map = flights().lock().map(|mut m| m.remove(self.id));
                self.flight
                    .followers
                    .load(std::sync::atomic::Ordering::SeqCst)
            }
            fn publish(&self, result: Result<Credential, Arc<Error>>) {
                *self.flight.result.lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
                self.flight.done.notify_all();
            }
        }
        impl Drop for Land<'_> {
            fn drop(&mut self) {
                if !self.landed {
                    self.close();
                    self.publish(Err(Arc::new(Error::Config(
                        "the in-flight refresh panicked".into(),
                    ))));
                }
            }
        }
        let mut land = Land {
            flight: &flight,
            id: &id,
            landed: false,
        };
        let outcome = self.transact_locked(trigger, hint);
        if land.close() == 0 {
            return outcome;
        }
        match outcome {
            Ok(credential) => {
                land.publish(Ok(credential.clone()));
                Ok(credential)
            }
            Err(e) => {
                let e = Arc::new(e);
                land.publish(Err(Arc::clone(&e)));
                Err(Error::Shared(e))
            }
        }
    }

    /// The refresh transaction of DESIGN.md: lock, reread, adopt or refresh once,
    /// merge and persist before anyone sees the new token, release.
    fn transact_locked(
        &self,
        trigger: &Trigger,
        hint: Option<&Credential>,
    ) -> Result<Credential, Error> {
        let inner = &*self.inner;
        let _lock = inner.credential_lock(&self.key)?;
        let pinned = self.resolution();
        let (stored, from) = if inner.uncoordinated {
            // Uncoordinated: the caller's copy is trusted, as naive clients do.
            match hint {
                Some(h) => (h.clone(), pinned.map_or(StoreKind::File, |p| p.store)),
                None => {
                    let (resolution, found) = self.resolve()?;
                    (self.require_tokens(found)?, resolution.store)
                }
            }
        } else {
            let found = inner.authoritative_read(&self.key, pinned.map(|p| p.store))?;
            let (credential, from) = match found {
                Some((c, from)) => (Some(c), from),
                None => (None, StoreKind::File),
            };
            (self.require_tokens(credential)?, from)
        };
        let now = inner.clock.now_ms();
        let hint_differs = hint.is_some_and(|h| !h.access_token_is(&stored.access_token));
        let adopt = match trigger {
            Trigger::Due { min_valid_ms } => !stored.is_due(now, *min_valid_ms),
            Trigger::Force => hint_differs && !stored.is_due(now, 0),
            Trigger::Unauthorized(rejected) => {
                !stored.access_token_is(rejected) && !stored.is_due(now, 0)
            }
        };
        if adopt {
            tracing::debug!(target: "oauth_store::refresh", key = %self.key, "adopted the stored credential; no provider request");
            return Ok(stored);
        }
        if stored.refresh_token.is_none() {
            return Err(Error::AuthorizationRequired {
                key: self.key.clone(),
                reason: AuthorizationReason::NoRefreshToken,
            });
        }
        let refresher = inner
            .refresher
            .as_ref()
            .ok_or_else(|| Error::Config("no token refresher is configured".into()))?;
        tracing::debug!(target: "oauth_store::refresh", key = %self.key, "refreshing at the provider");
        match refresher.refresh(&stored) {
            RefreshOutcome::Refreshed(response) => {
                let mut fresh = stored.clone();
                fresh.apply_token_response(&response, now);
                fresh.updated_at = Some(inner.clock.now_ms());
                let target = pinned.map_or(from, |p| p.store);
                self.persist(&fresh, target)?;
                tracing::info!(target: "oauth_store::refresh", key = %self.key, store = %target, "refreshed and saved");
                Ok(fresh)
            }
            RefreshOutcome::Rejected { description } => {
                self.on_rejected(&stored, from, description.as_deref())
            }
            RefreshOutcome::Refused {
                error,
                description,
                status,
            } => {
                tracing::warn!(target: "oauth_store::refresh", key = %self.key, error, status, "the provider refused the refresh; credential kept");
                Err(Error::AuthorizationRequired {
                    key: self.key.clone(),
                    reason: AuthorizationReason::Refused { error, description },
                })
            }
            RefreshOutcome::Transient { reason, .. } => {
                tracing::warn!(target: "oauth_store::refresh", key = %self.key, reason, "refresh failed transiently; credential kept");
                Err(Error::Transient {
                    key: self.key.clone(),
                    reason,
                })
            }
            RefreshOutcome::Indeterminate { reason } => {
                tracing::warn!(target: "oauth_store::refresh", key = %self.key, reason, "refresh outcome unknown; credential kept");
                Err(Error::Indeterminate {
                    key: self.key.clone(),
                    reason,
                })
            }
        }
    }

    /// `invalid_grant`: drop the tokens only if the store still holds the rejected
    /// refresh token; otherwise another writer saved a newer one, which is adopted.
    fn on_rejected(
        &self,
        sent: &Credential,
        from: StoreKind,
        description: Option<&str>,
    ) -> Result<Credential, Error> {
        let inner = &*self.inner;
        let current = if inner.uncoordinated {
            inner.store(from)?.load(&self.key)?.map(|c| (c, from))
        } else {
            inner.authoritative_read(&self.key, Some(from))?
        };
        let rejected = || Error::AuthorizationRequired {
            key: self.key.clone(),
            reason: AuthorizationReason::GrantRejected {
                description: description.map(str::to_owned),
            },
        };
        match current {
            Some((current, _)) if current.refresh_token_is(sent.refresh_token.as_ref()) => {
                tracing::warn!(target: "oauth_store::refresh", key = %self.key, "the provider rejected the grant; dropping the tokens");
                if inner.layout.preset() == LayoutPreset::Codex {
                    for (_, store) in inner.stores() {
                        let _ = store.delete(&self.key);
                    }
                } else {
                    let mut dropped = current;
                    dropped.drop_tokens();
                    dropped.updated_at = Some(inner.clock.now_ms());
                    let target = self.resolution().map_or(from, |p| p.store);
                    self.persist(&dropped, target)?;
                }
                Err(rejected())
            }
            Some((current, _)) if current.has_tokens() => {
                tracing::info!(target: "oauth_store::refresh", key = %self.key, "rejected token was already replaced by another process; adopting it");
                Ok(current)
            }
            _ => Err(rejected()),
        }
    }

    /// Saves with brief retries, then removes older copies elsewhere.
    fn persist(&self, credential: &Credential, target: StoreKind) -> Result<(), Error> {
        let store = self.inner.store(target)?;
        let mut last = None;
        for pause in PERSIST_BACKOFF {
            std::thread::sleep(pause);
            match store.save(&self.key, credential) {
                Ok(()) => {
                    last = None;
                    break;
                }
                Err(e) => {
                    tracing::warn!(target: "oauth_store::save", key = %self.key, store = %target, error = %e, "saving failed; retrying");
                    last = Some(e);
                }
            }
        }
        if let Some(source) = last {
            return Err(Error::PersistFailed {
                key: self.key.clone(),
                credential: Box::new(credential.clone()),
                source,
            });
        }
        let saved = Resolution {
            store: target,
            reason: match (self.inner.mode, target) {
                (StoreMode::Auto, StoreKind::File) => ResolutionReason::AutoSaveFileKeyringError,
                (StoreMode::Auto, _) => ResolutionReason::AutoSaveKeyring,
                _ => ResolutionReason::ConfiguredSave,
            },
        };
        self.pinned
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert(saved);
        self.inner.observe(&self.key, saved);
        if !self.inner.uncoordinated {
            self.inner.remove_other_copies(&self.key, target);
        }
        Ok(())
    }
}
