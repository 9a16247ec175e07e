//! The builder of an [`OAuthStore`]: home, layout, mode, stores, clock, refresher and
//! observer.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use oauth_lock::LockDir;
use oauth_store_core::{
    Clock, CredentialLocker, CredentialStore, KeyringBackend, StoreError, StoreKey, StoreKind,
    StoreMode, SystemClock,
};
use oauth_store_file::FileStore;

use crate::coordination::Coordination;
use crate::error::Error;
use crate::layout::{LayoutPreset, StoreLayout};
use crate::provider::TokenRefresher;
use crate::resolution::{Resolution, ResolutionObserver};
use crate::store::{Inner, OAuthStore};
use crate::thresholds::Thresholds;

/// Configures an [`OAuthStore`]; see [`OAuthStore::builder`].
///
/// # Coordination
/// Every store built here coordinates as DESIGN.md asks (credential lock, reread,
/// single-flight). Switching that off needs the `dangerous-uncoordinated` feature; a
/// build without it has no door to it:
#[cfg_attr(
    not(feature = "dangerous-uncoordinated"),
    doc = "```compile_fail,E0599"
)]
#[cfg_attr(feature = "dangerous-uncoordinated", doc = "```ignore")]
/// // Does not compile without the `dangerous-uncoordinated` feature.
/// let builder = oauth_store::OAuthStore::builder().dangerous_uncoordinated();
/// ```
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
    thresholds: Thresholds,
    clock: Arc<dyn Clock>,
    refresher: Option<Arc<dyn TokenRefresher>>,
    observer: Option<Arc<dyn ResolutionObserver>>,
    drift: bool,
    default_stores: bool,
    coordination: Coordination,
    locker: Option<Arc<dyn CredentialLocker>>,
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
    /// Puts a store shared by many machines in the File store's place, with the
    /// credential lock that coordinates it (DESIGN.md "Many machines"; e.g.
    /// `oauth-store-postgres`). Every transaction takes the home's file lock and then
    /// `locker`'s lock, and its saves in `store` carry that lock's fence
    /// ([`CredentialStore::save_fenced`]), so a holder that lost the shared lock never
    /// overwrites a newer credential. Implies mode [`StoreMode::File`] and no default
    /// keyring or Secrets store; a refreshed credential that `store` refuses is rescued
    /// in the home's rescue file and moved back by the next transaction, with a fenced
    /// save.
    pub fn shared_store(
        mut self,
        store: Arc<dyn CredentialStore>,
        locker: Arc<dyn CredentialLocker>,
    ) -> Self {
        self.file = Some(store);
        self.locker = Some(locker);
        self.mode = StoreMode::File;
        self.default_stores = false;
        self
    }
    /// Adds `locker`'s lock after the file lock of every transaction, and its fence to
    /// every save, without replacing a store ([`OAuthStoreBuilder::shared_store`] does
    /// both): for a home whose shared store stands in the keyring's or the Secrets
    /// store's place, e.g. to migrate credentials into it or out of it.
    pub fn shared_locker(mut self, locker: Arc<dyn CredentialLocker>) -> Self {
        self.locker = Some(locker);
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
    /// The advisory refresh threshold (DESIGN.md "Refresh thresholds"): when an access
    /// token has this long or less left, [`crate::CredentialHandle::fresh`] and
    /// [`crate::CredentialHandle::refresh_if_needed`] refresh it ahead if the credential
    /// lock is free right now, and otherwise use it as is. Default: min(5 min, half the
    /// token's lifetime as issued), 5 min when the lifetime is unknown. Raised to the
    /// mandatory threshold when set below it.
    pub fn refresh_ahead(mut self, advisory: Duration) -> Self {
        self.thresholds.refresh_ahead = Some(advisory);
        self
    }
    /// The mandatory refresh threshold of [`crate::CredentialHandle::fresh`] (DESIGN.md
    /// "Refresh thresholds"): when an access token has this long or less left (or has
    /// expired), the caller waits for the credential lock and refreshes, but never past
    /// its own token's expiry. Default: min(30 s, a quarter of the token's lifetime as
    /// issued), 30 s when the lifetime is unknown, and never above the advisory
    /// threshold. [`crate::CredentialHandle::refresh_if_needed`] takes its own.
    pub fn min_valid(mut self, mandatory: Duration) -> Self {
        self.thresholds.min_valid = Some(mandatory);
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
    /// DANGEROUS, NEVER FOR REAL CREDENTIALS: switches coordination off (no credential
    /// lock, no authoritative reread, no in-process sharing, older copies left behind),
    /// so concurrent processes replay rotated refresh tokens and the provider revokes
    /// the grant. It exists for the demo and for tests that prove the tests can fail,
    /// and only with the `dangerous-uncoordinated` feature: a build without it cannot
    /// reach this mode.
    ///
    /// ```
    /// # #[cfg(feature = "dangerous-uncoordinated")] {
    /// let home = tempfile::tempdir().unwrap();
    /// let store = oauth_store::OAuthStore::builder()
    ///     .home(home.path())
    ///     .default_stores(false)
    ///     .dangerous_uncoordinated()
    ///     .build()
    ///     .unwrap();
    /// assert!(store.is_uncoordinated());
    /// # }
    /// ```
    #[cfg(feature = "dangerous-uncoordinated")]
    pub fn dangerous_uncoordinated(mut self) -> Self {
        self.coordination = Coordination::Uncoordinated;
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
                Error::Config(
                    "no home directory: give the builder a home, or set OAUTH_STORE_HOME or HOME"
                        .into(),
                )
            })?,
        };
        oauth_lock::atomic::ensure_private_dir(&home).map_err(|e| {
            Error::Store(StoreError::Backend {
                kind: StoreKind::File,
                source: std::sync::Arc::new(e),
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
        let rescue: Arc<dyn CredentialStore> =
            Arc::new(crate::rescue::RescueStore::new(locks.path()));
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
                thresholds: self.thresholds,
                clock: self.clock,
                refresher: self.refresher,
                observer,
                coordination: self.coordination,
                rescue,
                locker: self.locker,
            }),
        })
    }
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
            thresholds: Thresholds::default(),
            clock: Arc::new(SystemClock),
            refresher: None,
            observer: None,
            drift: true,
            default_stores: true,
            coordination: Coordination::Coordinated,
            locker: None,
        }
    }
}
