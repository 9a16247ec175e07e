//! One secret at a (service, account) in an OS keyring, every call bounded: the
//! building block of [`KeyringStore`](crate::KeyringStore), and what the Secrets store
//! keeps its encryption key in.

use std::time::Duration;

use oauth_store_core::{StoreError, StoreKind};
use secrecy::{ExposeSecret, SecretString};

use crate::backend::{Backends, Failure};
use crate::worker::{self, CallError};
use crate::{KeyringError, OsStore, Usability};

/// How long a keyring call may take, queueing included, before it fails with
/// [`StoreError::Timeout`]: 5 s.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// A secret string at (`service`, `account`) in an OS keyring.
///
/// Every call runs on the process-wide keyring worker and is bounded by
/// [`SecretEntry::timeout`] (default [`DEFAULT_TIMEOUT`]), queueing included. On the
/// Secret Service, a missing session bus is answered before any D-Bus call
/// ([`Usability::NoSessionBus`]), and a locked default collection is reported as
/// [`Usability::Locked`] instead of starting an unlock prompt.
///
/// # Errors
/// Every method maps failures the same way:
/// - [`StoreError::Unavailable`] when the keyring cannot be used here (the reason is a
///   [`Usability`]'s text); a caller may fall back to another store;
/// - [`StoreError::Timeout`] when the keyring did not answer within the bound; for
///   [`SecretEntry::set`] and [`SecretEntry::delete`] the outcome is unknown, which is
///   never a reason to fall back;
/// - [`StoreError::Backend`] with a [`KeyringError`] for any other failure.
#[derive(Debug, Clone)]
pub struct SecretEntry {
    service: String,
    account: String,
    timeout: Duration,
    os: OsStore,
}

impl SecretEntry {
    /// The entry at (`service`, `account`) in this platform's store
    /// ([`OsStore::native`]), bounded by [`DEFAULT_TIMEOUT`].
    pub fn new(service: impl Into<String>, account: impl Into<String>) -> SecretEntry {
        SecretEntry {
            service: service.into(),
            account: account.into(),
            timeout: DEFAULT_TIMEOUT,
            os: OsStore::native(),
        }
    }

    /// Bounds every call, queueing included, by `timeout`.
    pub fn with_timeout(mut self, timeout: Duration) -> SecretEntry {
        self.timeout = timeout;
        self
    }

    /// Uses `os` instead of this platform's store.
    pub fn with_os_store(mut self, os: OsStore) -> SecretEntry {
        self.os = os;
        self
    }

    /// The service.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The account.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// The bound on every call.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The OS store.
    pub fn os_store(&self) -> OsStore {
        self.os
    }

    /// The secret, or `None` when there is no entry.
    ///
    /// # Errors
    /// As the type's docs say; a value that is not UTF-8 is a
    /// [`KeyringError::NotUtf8`].
    pub fn get(&self) -> Result<Option<SecretString>, StoreError> {
        let (service, account) = (self.service.clone(), self.account.clone());
        let os = self.os;
        run(self.os, self.timeout, "get", move |b| {
            b.get(os, &service, &account)
        })
    }

    /// Creates or replaces the entry with `secret`.
    ///
    /// # Errors
    /// As the type's docs say; a secret over the store's size limit
    /// ([`OsStore::value_cap`]) is a [`KeyringError::TooLarge`] before any call to the
    /// store. On the Secret Service, a missing or volatile default collection is
    /// [`StoreError::Unavailable`], so nothing is saved where it would be lost.
    pub fn set(&self, secret: &SecretString) -> Result<(), StoreError> {
        check_size(self.os, secret.expose_secret())?;
        let (service, account) = (self.service.clone(), self.account.clone());
        let (os, secret) = (self.os, secret.clone());
        run(self.os, self.timeout, "save", move |b| {
            b.set(os, &service, &account, &secret)
        })
    }

    /// Removes the entry (every copy, when several match). Returns whether there was one.
    ///
    /// # Errors
    /// As the type's docs say.
    pub fn delete(&self) -> Result<bool, StoreError> {
        let (service, account) = (self.service.clone(), self.account.clone());
        let os = self.os;
        run(self.os, self.timeout, "delete", move |b| {
            b.delete(os, &service, &account)
        })
    }

    /// Whether the store can be used, with the reason when not: see
    /// [`KeyringStore::probe`](crate::KeyringStore::probe). Never writes.
    pub fn probe(&self) -> Usability {
        probe(self.os, &self.service, self.timeout)
    }
}

/// Refuses a value over `os`'s size limit, before any call to the store.
pub(crate) fn check_size(os: OsStore, value: &str) -> Result<(), StoreError> {
    match os.value_cap() {
        Some(cap) if os.value_size(value) > cap => Err(backend(KeyringError::TooLarge {
            store: os,
            size: os.value_size(value),
            cap,
        })),
        _ => Ok(()),
    }
}

pub(crate) fn backend(error: KeyringError) -> StoreError {
    StoreError::Backend {
        kind: StoreKind::Keyring,
        source: std::sync::Arc::new(error),
    }
}

/// What is known before the worker is asked: a store not built in, and (Secret Service)
/// a missing session bus, answered from the environment alone.
fn precheck(os: OsStore) -> Result<(), Usability> {
    if !os.is_built_in() {
        return Err(Usability::NotBuiltIn { store: os });
    }
    #[cfg(any(target_os = "linux", target_os = "freebsd"))]
    if os == OsStore::SecretService {
        crate::usability::session_bus_presence()
            .map_err(|detail| Usability::NoSessionBus { detail })?;
    }
    Ok(())
}

/// Runs `f` on the worker within `timeout` and maps its failures to [`StoreError`].
pub(crate) fn run<T, F>(
    os: OsStore,
    timeout: Duration,
    operation: &'static str,
    f: F,
) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce(&mut Backends) -> Result<T, Failure> + Send + 'static,
{
    precheck(os).map_err(|u| u.into_store_error(operation))?;
    let error = match worker::call(timeout, f) {
        Ok(Ok(value)) => return Ok(value),
        Ok(Err(Failure::Unusable(usability))) => usability.into_store_error(operation),
        Ok(Err(Failure::Unsupported(_))) => StoreError::Unsupported {
            kind: StoreKind::Keyring,
            operation,
        },
        Ok(Err(Failure::Error(error))) => backend(error),
        Err(e) => call_error(os, e).into_store_error(operation),
    };
    tracing::debug!(store = %os, operation, %error, "keyring call failed");
    Err(error)
}

/// The usability a worker failure means.
fn call_error(os: OsStore, error: CallError) -> CallOutcome {
    match error {
        CallError::TimedOut { waited } => CallOutcome::Usability(Usability::TimedOut { waited }),
        CallError::Panicked => CallOutcome::Error(KeyringError::Panicked { store: os }),
        CallError::NoWorker(kind) => CallOutcome::Error(KeyringError::NoWorker { kind }),
    }
}

enum CallOutcome {
    Usability(Usability),
    Error(KeyringError),
}

impl CallOutcome {
    fn into_store_error(self, operation: &'static str) -> StoreError {
        match self {
            CallOutcome::Usability(u) => u.into_store_error(operation),
            CallOutcome::Error(e) => backend(e),
        }
    }

    fn into_usability(self) -> Usability {
        match self {
            CallOutcome::Usability(u) => u,
            CallOutcome::Error(e) => Usability::Failed {
                detail: e.to_string(),
            },
        }
    }
}

/// Whether `os` can be used for `service`, within `timeout`.
pub(crate) fn probe(os: OsStore, service: &str, timeout: Duration) -> Usability {
    if let Err(usability) = precheck(os) {
        return usability;
    }
    let service = service.to_owned();
    let usability = match worker::call(timeout, move |b| b.probe(os, &service)) {
        Ok(usability) => usability,
        Err(e) => call_error(os, e).into_usability(),
    };
    tracing::debug!(store = %os, usability = usability.as_str(), "keyring probed");
    usability
}
