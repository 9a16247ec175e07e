//! Opening the home the global options name: layout, mode, keyring backend, the stores
//! this build has, and the refresher.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use oauth_store::{
    CredentialStore, KeyringBackend, LayoutPreset, OAuthStore, StoreKind, StoreLayout, StoreMode,
};

use crate::cli::Global;
use crate::error::CliError;
use crate::provider;

/// The store of `kind` that this build has, for `layout`; `None` when the build does not
/// have it yet. The File store is always there (the facade opens it itself).
///
/// Adding a store to the CLI is one line here, e.g.
/// `StoreKind::Keyring => Some(Arc::new(KeyringStore::new(layout))),`.
fn built_in(kind: StoreKind, layout: &StoreLayout) -> Option<Arc<dyn CredentialStore>> {
    let _ = layout;
    match kind {
        StoreKind::File => None,
        StoreKind::Keyring => None,
        StoreKind::Secrets => None,
    }
}

/// The crate that will bring a store this build does not have.
fn crate_of(kind: StoreKind) -> &'static str {
    match kind {
        StoreKind::Keyring => "oauth-store-keyring",
        StoreKind::Secrets => "oauth-store-secrets",
        StoreKind::File => "oauth-store-file",
    }
}

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

/// Opens the home as the global options say, with every store this build has and the
/// HTTP refresher when the build has it.
///
/// # Errors
/// [`CliError::Usage`] naming a store the options need that this build does not have
/// (`--store keyring|secrets`, `--keyring-backend secrets`); the facade's errors when
/// the home or its lock directory cannot be created.
pub(crate) fn open(global: &Global) -> Result<OAuthStore, CliError> {
    open_with(global, true)
}

/// [`open`], with the drift sidecar recording resolutions or not (`doctor` reads the
/// sidecar and must not change it).
///
/// # Errors
/// As [`open`].
pub(crate) fn open_with(global: &Global, record_drift: bool) -> Result<OAuthStore, CliError> {
    let preset = LayoutPreset::from(global.layout);
    let mode = StoreMode::from(global.store);
    let backend = KeyringBackend::from(global.keyring_backend);
    let layout = StoreLayout::new(home(global)?, preset);

    // What the options demand outright; Auto with the direct backend tolerates a missing
    // keyring (it resolves to the File store with an `auto_*_keyring_error` reason).
    let mut required = Vec::new();
    match mode {
        StoreMode::Keyring => required.push((StoreKind::Keyring, "--store keyring")),
        StoreMode::Secrets => required.push((StoreKind::Secrets, "--store secrets")),
        _ => {}
    }
    if backend == KeyringBackend::Secrets {
        required.push((StoreKind::Secrets, "--keyring-backend secrets"));
    }
    let keyring = built_in(StoreKind::Keyring, &layout);
    let secrets = built_in(StoreKind::Secrets, &layout);
    for (kind, option) in required {
        let present = match kind {
            StoreKind::Keyring => keyring.is_some(),
            _ => secrets.is_some(),
        };
        if !present {
            return Err(CliError::Usage(format!(
                "{option}: the {kind} store is not in this build yet ({} has not landed); use --store file or --store auto",
                crate_of(kind)
            )));
        }
    }

    let mut builder = OAuthStore::builder()
        .home(layout.home())
        .layout(preset)
        .mode(mode)
        .keyring_backend(backend)
        .lock_timeout(Duration::from_secs(global.lock_timeout))
        .unsafe_uncoordinated(global.unsafe_uncoordinated)
        .drift_sidecar(record_drift);
    if let Some(keyring) = keyring {
        builder = builder.keyring_store(keyring);
    }
    if let Some(secrets) = secrets {
        builder = builder.secrets_store(secrets);
    }
    if let Some(refresher) = provider::refresher() {
        builder = builder.refresher(refresher);
    }
    Ok(builder.build()?)
}
