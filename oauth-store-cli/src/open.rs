//! Opening the home the global options name: layout, mode, keyring backend, the three
//! stores (File, OS keyring, Secrets) with the command line's timeouts, and the
//! refresher.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use oauth_store::keyring::KeyringStore;
use oauth_store::secrets::SecretsStore;
use oauth_store::{
    CredentialStore, KeyringBackend, LayoutPreset, OAuthStore, OAuthStoreBuilder, StoreError,
    StoreKind, StoreLayout, StoreMode,
};

use crate::cli::{Global, StoreArg};
use crate::error::CliError;
use crate::provider;

/// The home the options name: `--home`, else the layout's default home.
pub(crate) fn home(global: &Global) -> Result<PathBuf, CliError> {
    let preset = LayoutPreset::from(global.layout);
    match &global.home {
        Some(home) => Ok(home.clone()),
        None => StoreLayout::default_home(preset).ok_or_else(|| {
            CliError::Usage(
                "no home directory: pass --home DIR or set OAUTH_STORE_HOME (or HOME)".into(),
            )
        }),
    }
}

/// The layout of the home the options name, the home created (0700) first: keyring
/// accounts carry a hash of the canonical home path, which only an existing home has, so
/// the first run and every later one name the same entries.
///
/// # Errors
/// [`CliError::Usage`] without a home; [`CliError::Store`] when it cannot be created.
pub(crate) fn layout(global: &Global) -> Result<StoreLayout, CliError> {
    let home = home(global)?;
    oauth_store::lock::atomic::ensure_private_dir(&home).map_err(|e| {
        CliError::Store(StoreError::Backend {
            kind: StoreKind::File,
            source: std::sync::Arc::new(e),
        })
    })?;
    Ok(StoreLayout::new(home, LayoutPreset::from(global.layout)))
}

/// The layout's OS keyring store, every call bounded by `--keyring-timeout`.
pub(crate) fn keyring_store(global: &Global, layout: &StoreLayout) -> KeyringStore {
    layout
        .keyring_store()
        .with_timeout(Duration::from_secs(global.keyring_timeout))
}

/// The layout's Secrets store: its key in the OS keyring (the Codex CLI's passphrase
/// under `--layout codex`), as [`StoreLayout::secrets_store`] opens it, with
/// `--keyring-timeout` on the key's keyring calls and `--lock-timeout` on its store lock.
///
/// # Errors
/// [`CliError::Store`] when the home or its lock directory cannot be created.
pub(crate) fn secrets_store(
    global: &Global,
    layout: &StoreLayout,
) -> Result<SecretsStore, CliError> {
    Ok(layout
        .secrets_store_with(Duration::from_secs(global.keyring_timeout))?
        .with_lock_timeout(Duration::from_secs(global.lock_timeout)))
}

/// The stores the options cannot do without: `--store keyring` the keyring, `--store
/// secrets` the Secrets store (whose key lives in the keyring). A store that cannot be
/// used here is an error for these, and information for the others: `--store auto` uses
/// the File store by design when the keyring cannot be used.
pub(crate) fn required(global: &Global) -> Option<StoreKind> {
    match StoreMode::from(global.store) {
        StoreMode::Keyring => Some(StoreKind::Keyring),
        StoreMode::Secrets => Some(StoreKind::Secrets),
        _ => None,
    }
}

/// Whether `error` of the store `kind` only says the store cannot be used here (no
/// session bus, a locked keyring, the Secrets key out of reach), and the options do not
/// need that store: then it is a note, not a failure.
pub(crate) fn tolerable(global: &Global, kind: StoreKind, error: &StoreError) -> bool {
    matches!(error, StoreError::Unavailable { .. }) && required(global) != Some(kind)
}

/// Whether a command that only reads or copies every store (`list`, `migrate`) may go
/// on without the store `kind`: as [`tolerable`], and also when a keyring-backed store
/// (the OS keyring, or the Secrets store whose key lives there) did not answer within
/// `--keyring-timeout` under options that do not need it, since `--store auto` reads the
/// File store then too. Not for logout or saves: a copy a hung keyring may hold cannot be
/// reported gone, and a timed-out write's outcome is unknown.
pub(crate) fn skippable(global: &Global, kind: StoreKind, error: &StoreError) -> bool {
    tolerable(global, kind, error)
        || (matches!(error, StoreError::Timeout { .. })
            && matches!(kind, StoreKind::Keyring | StoreKind::Secrets)
            && required(global).is_none())
}

/// How [`open_with`] opens the home.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Opening {
    /// Whether resolutions are recorded in the drift sidecar (`doctor` reads the
    /// sidecar and must not change it).
    pub(crate) record_drift: bool,
    /// The File store alone (the demo, which says it uses the File store).
    pub(crate) file_only: bool,
}

/// Opens the home as the global options say, with the File, OS keyring and Secrets
/// stores and the HTTP refresher when the build has it.
///
/// Opening never touches the keyring: a keyring that cannot be used here fails the
/// first operation that needs it (at once without a session bus, within
/// `--keyring-timeout` otherwise), under `--store keyring|secrets` as a store error
/// (exit 4); `--store auto` then uses the File store.
///
/// # Errors
/// The facade's errors when the home or its lock directory cannot be created.
pub(crate) fn open(global: &Global) -> Result<OAuthStore, CliError> {
    open_with(
        global,
        Opening {
            record_drift: true,
            file_only: false,
        },
    )
}

/// [`open`], as `how` says.
///
/// # Errors
/// As [`open`].
pub(crate) fn open_with(global: &Global, how: Opening) -> Result<OAuthStore, CliError> {
    Ok(builder(global, how)?.build()?)
}

/// The builder [`open_with`] builds, for commands that add settings of their own
/// (`token`'s refresh thresholds).
///
/// # Errors
/// As [`open`].
pub(crate) fn builder(global: &Global, how: Opening) -> Result<OAuthStoreBuilder, CliError> {
    let layout = layout(global)?;
    let mut builder = OAuthStore::builder()
        .home(layout.home())
        .layout(layout.preset())
        .mode(StoreMode::from(global.store))
        .keyring_backend(KeyringBackend::from(global.keyring_backend))
        .lock_timeout(Duration::from_secs(global.lock_timeout))
        .drift_sidecar(how.record_drift)
        .default_stores(false);
    if global.unsafe_uncoordinated {
        builder = builder.dangerous_uncoordinated();
    }
    if global.store == StoreArg::Postgres && !how.file_only {
        // The database's store in the File store's place, its lock after the home's
        // file lock: the home keeps the lock directory and the rescue file.
        let db = postgres(global)?;
        builder = builder.shared_store(Arc::new(db.store()), Arc::new(db.locker()));
    } else if !how.file_only {
        builder = builder
            .keyring_store(Arc::new(keyring_store(global, &layout)) as Arc<dyn CredentialStore>)
            .secrets_store(Arc::new(secrets_store(global, &layout)?) as Arc<dyn CredentialStore>);
    }
    if let Some(refresher) = provider::configured(global, &layout) {
        builder = builder.refresher(refresher);
    }
    Ok(builder)
}

/// One short note for the stores a command skipped because they cannot be used here
/// (`keyring and secrets stores not <what>: no D-Bus session bus; ...`), or `None`
/// when none was skipped. Said once per command: the full reason is `doctor`'s.
pub(crate) fn skipped_note(skipped: &[StoreError], what: &str) -> Option<String> {
    let mut kinds: Vec<&'static str> = Vec::new();
    let mut reasons: Vec<String> = Vec::new();
    for error in skipped {
        let timed_out;
        let (kind, reason) = match error {
            StoreError::Unavailable { kind, reason } => (kind, reason),
            StoreError::Timeout { kind, waited, .. } => {
                timed_out = format!("no answer within {} s", waited.as_secs_f64());
                (kind, &timed_out)
            }
            _ => continue,
        };
        if !kinds.contains(&kind.as_str()) {
            kinds.push(kind.as_str());
        }
        // The reason's first clause: the details are doctor's.
        let short = reason
            .split([';', '('])
            .next()
            .unwrap_or(reason)
            .trim()
            .to_owned();
        if !reasons.contains(&short) {
            reasons.push(short);
        }
    }
    if kinds.is_empty() {
        return None;
    }
    Some(format!(
        "{} store{} not {what}: {} (`oauth-store doctor` says more)",
        kinds.join(" and "),
        if kinds.len() == 1 { "" } else { "s" },
        reasons.join("; ")
    ))
}

/// Fails at once, with one line, when `target` (a store a command is about to save
/// into) cannot be used here: the keyring, and the Secrets store whose key lives there,
/// need a usable OS keyring. The File store is always tried.
///
/// # Errors
/// [`CliError::Store`] with [`StoreError::Unavailable`] naming the store and why.
pub(crate) fn ensure_usable(
    global: &Global,
    layout: &StoreLayout,
    target: StoreKind,
) -> Result<(), CliError> {
    if target == StoreKind::File {
        return Ok(());
    }
    let usability = keyring_store(global, layout).probe();
    if usability.is_usable() {
        return Ok(());
    }
    Err(CliError::Store(StoreError::Unavailable {
        kind: target,
        reason: if target == StoreKind::Secrets {
            format!("its key lives in the OS keyring, which cannot be used here: {usability}")
        } else {
            usability.to_string()
        },
    }))
}

/// The database URL: `--database-url`, else `$OAUTH_STORE_DATABASE_URL`.
///
/// # Errors
/// [`CliError::Usage`] when neither is set.
pub(crate) fn database_url(global: &Global) -> Result<String, CliError> {
    global
        .database_url
        .clone()
        .or_else(|| {
            std::env::var("OAUTH_STORE_DATABASE_URL")
                .ok()
                .filter(|v| !v.is_empty())
        })
        .ok_or_else(|| {
            CliError::Usage(
                "--store postgres needs --database-url URL (or OAUTH_STORE_DATABASE_URL)".into(),
            )
        })
}

/// The connection options of the command line: `--namespace`, `--passfile`,
/// `--database-ca`; the lock wait is `--lock-timeout`, the provider's bound
/// `--http-timeout`, which the lock holder's server-side idle limit stays above.
pub(crate) fn postgres_options(global: &Global) -> oauth_store_postgres::Options {
    let mut options = oauth_store_postgres::Options::with_namespace(global.namespace.clone());
    options.passfile.clone_from(&global.passfile);
    options.ca_file.clone_from(&global.database_ca);
    options.hold_limit = options
        .hold_limit
        .max(Duration::from_secs(global.http_timeout.saturating_mul(4)));
    options
}

/// Connects to the database of `--database-url` (creating or migrating its schema).
///
/// # Errors
/// [`CliError::Usage`] without a URL; [`CliError::Store`] with the connection's error
/// (never the password or the server's message text).
pub(crate) fn postgres(global: &Global) -> Result<oauth_store_postgres::Postgres, CliError> {
    let url = database_url(global)?;
    Ok(oauth_store_postgres::Postgres::connect(
        &url,
        postgres_options(global),
    )?)
}

impl From<oauth_store_postgres::Error> for CliError {
    fn from(error: oauth_store_postgres::Error) -> Self {
        CliError::Store(error.into_store_error())
    }
}
