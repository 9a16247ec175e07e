//! The Secrets key in the OS keyring (DESIGN.md "Layout": service `oauth-store`, or
//! `codex` under the codex preset; account `secrets|` + 16 hex of SHA-256 of the
//! canonical home), through oauth-store-keyring's bounded calls.

use std::path::Path;
use std::sync::Arc;

use oauth_store_core::{SecretString, StoreError};
use oauth_store_keyring::SecretEntry;

use crate::key::{
    CODEX_KEYRING_SERVICE, CodexPassphrase, DEFAULT_KEYRING_SERVICE, KeyError, KeyKind, KeySource,
    secrets_key_account,
};

/// The key in an OS keyring entry at (service, account), every call bounded by the
/// entry's timeout ([`oauth_store_keyring::DEFAULT_TIMEOUT`], 5 s, by default). The
/// default key source.
///
/// A keyring that cannot be used here is [`KeyError::Unavailable`] (the store's
/// [`StoreError::Unavailable`]); no answer in time is [`KeyError::Timeout`] (the store's
/// [`StoreError::Timeout`]); a keyring session is never started.
#[derive(Debug, Clone)]
pub struct KeyringKey {
    entry: SecretEntry,
    kind: KeyKind,
}

impl KeyringKey {
    /// The X25519 identity at (`service`, `account`) in this platform's keyring.
    pub fn new(service: impl Into<String>, account: impl Into<String>) -> KeyringKey {
        KeyringKey::from_entry(SecretEntry::new(service, account))
    }

    /// The default layout's key of `home`: service [`DEFAULT_KEYRING_SERVICE`], account
    /// [`secrets_key_account`]`(home)`.
    pub fn for_home(home: &Path) -> KeyringKey {
        KeyringKey::new(DEFAULT_KEYRING_SERVICE, secrets_key_account(home))
    }

    /// The X25519 identity in `entry` (with its own timeout and OS store).
    pub fn from_entry(entry: SecretEntry) -> KeyringKey {
        KeyringKey {
            entry,
            kind: KeyKind::X25519Identity,
        }
    }

    /// Says what the entry's key is (default [`KeyKind::X25519Identity`]).
    pub fn with_kind(mut self, kind: KeyKind) -> KeyringKey {
        self.kind = kind;
        self
    }

    /// The keyring entry.
    pub fn entry(&self) -> &SecretEntry {
        &self.entry
    }

    fn key_error(&self, e: StoreError) -> KeyError {
        match e {
            StoreError::Unavailable { reason, .. } => KeyError::Unavailable {
                location: self.location(),
                reason,
            },
            StoreError::Timeout {
                operation, waited, ..
            } => KeyError::Timeout {
                location: self.location(),
                operation,
                waited,
            },
            other => KeyError::Backend {
                location: self.location(),
                source: Box::new(other),
            },
        }
    }
}

impl KeySource for KeyringKey {
    fn kind(&self) -> KeyKind {
        self.kind
    }

    fn location(&self) -> String {
        format!(
            "keyring entry (service `{}`, account `{}`)",
            self.entry.service(),
            self.entry.account()
        )
    }

    fn load(&self) -> Result<Option<SecretString>, KeyError> {
        self.entry.get().map_err(|e| self.key_error(e))
    }

    fn store(&self, key: &SecretString) -> Result<(), KeyError> {
        self.entry.set(key).map_err(|e| self.key_error(e))
    }
}

impl CodexPassphrase {
    /// The Codex CLI's passphrase of `home` (its `CODEX_HOME`): keyring service
    /// [`CODEX_KEYRING_SERVICE`], account [`secrets_key_account`]`(home)`.
    pub fn for_home(home: &Path) -> CodexPassphrase {
        CodexPassphrase::over(Arc::new(
            KeyringKey::new(CODEX_KEYRING_SERVICE, secrets_key_account(home))
                .with_kind(KeyKind::ScryptPassphrase),
        ))
    }
}
