//! What the keyring worker owns: one connection per OS store, opened on first use, and
//! the operations on entries through keyring-core, with every failure classified here
//! into "unusable", "unsupported" or a [`KeyringError`] built from its kind.

use std::collections::HashMap;
use std::sync::Arc;

use keyring_core::{CredentialStore, Entry};
use secrecy::{ExposeSecret, SecretString};

use crate::{KeyringError, OsStore, Usability};

#[cfg(all(target_os = "linux", feature = "keyutils"))]
mod keyutils;
#[cfg(any(target_os = "macos", windows))]
mod native;
#[cfg(any(target_os = "linux", target_os = "freebsd"))]
pub(crate) mod secret_service;

/// The account of the entry a probe reads: nobody writes it, so the read answers
/// "no entry" when the store works.
pub(crate) const PROBE_ACCOUNT: &str = "oauth-store-keyring-probe";

/// Why a keyring operation failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The store cannot be used here; the facade may fall back to the File store.
    Unusable(Usability),
    /// The store cannot perform the operation.
    Unsupported(&'static str),
    /// Any other failure.
    Error(KeyringError),
}

impl Failure {
    fn into_usability(self) -> Usability {
        match self {
            Failure::Unusable(u) => u,
            Failure::Unsupported(operation) => Usability::Failed {
                detail: format!("the store does not support {operation}"),
            },
            Failure::Error(e) => Usability::Failed {
                detail: e.to_string(),
            },
        }
    }
}

/// What an operation needs from the store before it touches an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Read or delete: the store must answer without an unlock prompt.
    Read,
    /// Save: also a default collection that is kept on disk.
    Write,
    /// `probe`: every check, reported as found.
    Probe,
}

/// One entry found by a search: its account and its value (or why it could not be read).
pub(crate) struct Found {
    pub(crate) account: String,
    pub(crate) value: Result<SecretString, Failure>,
}

/// The worker's connections, one per OS store, opened on first use and dropped after a
/// failure so that the next call starts afresh.
#[derive(Default)]
pub(crate) struct Backends {
    #[cfg(any(target_os = "linux", target_os = "freebsd"))]
    secret_service: Option<secret_service::Connection>,
    #[cfg(all(target_os = "linux", feature = "keyutils"))]
    keyutils: Option<Arc<CredentialStore>>,
    #[cfg(any(target_os = "macos", windows))]
    native: Option<Arc<CredentialStore>>,
}

impl Backends {
    /// Connects to `os` when needed and runs the checks `access` needs. For the Secret
    /// Service, also searches for entries matching `lookup` (without a Secret Service
    /// session): `Some(false)` when there is none; `None` where the store cannot tell
    /// without reading.
    fn ready(
        &mut self,
        os: OsStore,
        access: Access,
        lookup: &[(&str, &str)],
    ) -> Result<Option<bool>, Failure> {
        let _ = (access, lookup);
        let ready = match os {
            #[cfg(any(target_os = "linux", target_os = "freebsd"))]
            OsStore::SecretService => {
                secret_service::ready(&mut self.secret_service, access, lookup)
            }
            #[cfg(all(target_os = "linux", feature = "keyutils"))]
            OsStore::Keyutils => keyutils::ready().map(|()| None),
            #[cfg(target_os = "macos")]
            OsStore::AppleKeychain => Ok(None),
            #[cfg(windows)]
            OsStore::WindowsCredentialManager => Ok(None),
            other => Err(Failure::Unusable(Usability::NotBuiltIn { store: other })),
        };
        ready.inspect_err(|_| self.forget(os))
    }

    /// The keyring-core store for `os`, opened on first use (after [`Backends::ready`]).
    fn store(&mut self, os: OsStore) -> Result<Arc<CredentialStore>, Failure> {
        let store = match os {
            #[cfg(any(target_os = "linux", target_os = "freebsd"))]
            OsStore::SecretService => secret_service::store(&mut self.secret_service),
            #[cfg(all(target_os = "linux", feature = "keyutils"))]
            OsStore::Keyutils => keyutils::store(&mut self.keyutils),
            #[cfg(target_os = "macos")]
            OsStore::AppleKeychain => native::store(&mut self.native, os),
            #[cfg(windows)]
            OsStore::WindowsCredentialManager => native::store(&mut self.native, os),
            other => Err(Failure::Unusable(Usability::NotBuiltIn { store: other })),
        };
        store.inspect_err(|_| self.forget(os))
    }

    /// Drops `os`'s connection, so the next call reconnects.
    fn forget(&mut self, os: OsStore) {
        match os {
            #[cfg(any(target_os = "linux", target_os = "freebsd"))]
            OsStore::SecretService => self.secret_service = None,
            #[cfg(all(target_os = "linux", feature = "keyutils"))]
            OsStore::Keyutils => self.keyutils = None,
            #[cfg(any(target_os = "macos", windows))]
            OsStore::AppleKeychain | OsStore::WindowsCredentialManager => self.native = None,
            _ => {}
        }
    }

    fn failed(&mut self, os: OsStore, error: keyring_core::Error, at: (&str, &str)) -> Failure {
        self.forget(os);
        classify(os, error, at)
    }

    fn entry(&mut self, os: OsStore, service: &str, account: &str) -> Result<Entry, Failure> {
        let store = self.store(os)?;
        Entry::new_in_store(&store, service, account)
            .map_err(|e| self.failed(os, e, (service, account)))
    }

    /// The value at (`service`, `account`), or `None` when there is no entry.
    pub(crate) fn get(
        &mut self,
        os: OsStore,
        service: &str,
        account: &str,
    ) -> Result<Option<SecretString>, Failure> {
        let lookup = [("service", service), ("username", account)];
        if self.ready(os, Access::Read, &lookup)? == Some(false) {
            return Ok(None);
        }
        match self.entry(os, service, account)?.get_password() {
            Ok(value) => Ok(Some(SecretString::from(value))),
            Err(keyring_core::Error::NoEntry) => Ok(None),
            Err(e) => Err(self.failed(os, e, (service, account))),
        }
    }

    /// Creates or replaces the entry at (`service`, `account`).
    pub(crate) fn set(
        &mut self,
        os: OsStore,
        service: &str,
        account: &str,
        value: &SecretString,
    ) -> Result<(), Failure> {
        // The look-up refuses an entry that exists only locked before the store crate
        // would prompt to unlock it.
        self.ready(
            os,
            Access::Write,
            &[("service", service), ("username", account)],
        )?;
        self.entry(os, service, account)?
            .set_password(value.expose_secret())
            .map_err(|e| self.failed(os, e, (service, account)))
    }

    /// Removes the entry at (`service`, `account`), every copy of it when several match
    /// (e.g. in two collections). Returns whether there was one.
    pub(crate) fn delete(
        &mut self,
        os: OsStore,
        service: &str,
        account: &str,
    ) -> Result<bool, Failure> {
        let lookup = [("service", service), ("username", account)];
        if self.ready(os, Access::Read, &lookup)? == Some(false) {
            return Ok(false);
        }
        match self.entry(os, service, account)?.delete_credential() {
            Ok(()) => Ok(true),
            Err(keyring_core::Error::NoEntry) => Ok(false),
            // A logout must not leave a copy behind because there were two.
            Err(keyring_core::Error::Ambiguous(copies)) => {
                for copy in copies {
                    match copy.delete_credential() {
                        Ok(()) | Err(keyring_core::Error::NoEntry) => {}
                        Err(e) => return Err(self.failed(os, e, (service, account))),
                    }
                }
                Ok(true)
            }
            Err(e) => Err(self.failed(os, e, (service, account))),
        }
    }

    /// Every entry of `service`, each read on its own.
    pub(crate) fn search(&mut self, os: OsStore, service: &str) -> Result<Vec<Found>, Failure> {
        if !os.can_list() {
            return Err(Failure::Unsupported("list"));
        }
        if self.ready(os, Access::Read, &[("service", service)])? == Some(false) {
            return Ok(Vec::new());
        }
        let store = self.store(os)?;
        let spec = HashMap::from([("service", service)]);
        let entries = match store.search(&spec) {
            Ok(entries) => entries,
            Err(keyring_core::Error::NotSupportedByStore(_)) => {
                return Err(Failure::Unsupported("list"));
            }
            Err(e) => return Err(self.failed(os, e, (service, "*"))),
        };
        let mut found = Vec::with_capacity(entries.len());
        for entry in entries {
            let Some((entry_service, account)) = entry.get_specifiers() else {
                continue;
            };
            // Secret Service attributes match exactly, but a store's search may be
            // looser; only this service's entries are ours.
            if entry_service != service {
                continue;
            }
            let value = match entry.get_password() {
                Ok(value) => Ok(SecretString::from(value)),
                Err(keyring_core::Error::NoEntry) => continue,
                Err(e) => Err(classify(os, e, (service, &account))),
            };
            found.push(Found { account, value });
        }
        Ok(found)
    }

    /// Whether `os` can be used: every check of a save, then a read of an entry nobody
    /// writes ([`PROBE_ACCOUNT`]): on the Secret Service a search, which needs no key
    /// exchange. Never writes.
    pub(crate) fn probe(&mut self, os: OsStore, service: &str) -> Usability {
        let lookup = [("service", service), ("username", PROBE_ACCOUNT)];
        match self.ready(os, Access::Probe, &lookup) {
            Ok(Some(false)) => return Usability::Usable,
            Ok(_) => {}
            Err(failure) => return failure.into_usability(),
        }
        let read = self
            .entry(os, service, PROBE_ACCOUNT)
            .map(|entry| entry.get_password());
        match read {
            Err(failure) => failure.into_usability(),
            Ok(Ok(_) | Err(keyring_core::Error::NoEntry | keyring_core::Error::Ambiguous(_))) => {
                Usability::Usable
            }
            Ok(Err(e)) => self
                .failed(os, e, (service, PROBE_ACCOUNT))
                .into_usability(),
        }
    }
}

/// Classifies a keyring-core error by its variant; the platform error inside is looked
/// at by type, never shown.
fn classify(os: OsStore, error: keyring_core::Error, (service, account): (&str, &str)) -> Failure {
    use keyring_core::Error as E;
    let platform = |detail: &str| {
        Failure::Error(KeyringError::Platform {
            store: os,
            detail: detail.to_owned(),
        })
    };
    match error {
        E::NoStorageAccess(inner) => classify_platform(os, inner.as_ref(), true),
        E::PlatformFailure(inner) => classify_platform(os, inner.as_ref(), false),
        E::BadEncoding(_) => Failure::Error(KeyringError::NotUtf8 { store: os }),
        E::BadDataFormat(..) => platform("the stored data is malformed"),
        E::BadStoreFormat(_) => platform("the store's own data is malformed"),
        E::TooLong(what, _) | E::Invalid(what, _) => {
            Failure::Error(KeyringError::Refused { store: os, what })
        }
        E::Ambiguous(copies) => Failure::Error(KeyringError::Ambiguous {
            store: os,
            service: service.to_owned(),
            account: account.to_owned(),
            count: copies.len(),
        }),
        E::NotSupportedByStore(_) => Failure::Unsupported("this operation"),
        E::NoEntry => platform("the entry vanished during the call"),
        E::NoDefaultStore => platform("no store was configured"),
        _ => platform("an error keyring-core added after this version"),
    }
}

/// Classifies the platform error inside a keyring-core error by its type.
fn classify_platform(
    os: OsStore,
    inner: &(dyn std::error::Error + Send + Sync + 'static),
    no_access: bool,
) -> Failure {
    #[cfg(any(target_os = "linux", target_os = "freebsd"))]
    if let Some(failure) = secret_service::classify(inner) {
        return failure;
    }
    #[cfg(all(target_os = "linux", feature = "keyutils"))]
    if let Some(failure) = keyutils::classify(inner) {
        return failure;
    }
    let _ = inner;
    if no_access {
        Failure::Unusable(Usability::AccessDenied {
            detail: format!("the {os} store refused access"),
        })
    } else {
        Failure::Error(KeyringError::Platform {
            store: os,
            detail: "the platform call failed".to_owned(),
        })
    }
}
