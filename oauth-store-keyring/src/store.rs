//! The keyring credential store: one OS keyring entry per credential (DESIGN.md
//! "Layout": service, and an account that carries the home in the default layout).

use std::path::PathBuf;
use std::time::Duration;

use oauth_store_core::{
    Credential, CredentialStore, ListedCredential, StoreError, StoreKey, StoreKind,
    describe_json_error,
};
use secrecy::{ExposeSecret, SecretString};

use crate::entry::{self, DEFAULT_TIMEOUT, SecretEntry};
use crate::{KeyringError, OsStore, Usability};

/// One OS keyring entry per credential: service [`KeyringStore::service`], account
/// [`KeyringStore::account`], value = the record as JSON (the File document's entry
/// format).
///
/// | layout | service | account |
/// | --- | --- | --- |
/// | default | `oauth-store` | `<16 hex of SHA-256(canonical home)>/<store key>` |
/// | codex | `Codex MCP Credentials` | `<store key>` |
///
/// Every call runs on the process-wide keyring worker, bounded by
/// [`KeyringStore::timeout`] (default [`DEFAULT_TIMEOUT`], 5 s) queueing included; see
/// [`SecretEntry`] for how failures map to [`StoreError`]. In short: "no entry" is
/// `Ok(None)`; a keyring that cannot be used here is [`StoreError::Unavailable`] (the
/// facade's only reason to fall back to the File store); no answer within the bound is
/// [`StoreError::Timeout`] (for a save: indeterminate, never a fall-back); anything else
/// is [`StoreError::Backend`] with a [`KeyringError`], whose text never holds a value.
#[derive(Debug, Clone)]
pub struct KeyringStore {
    service: String,
    account_prefix: Option<String>,
    timeout: Duration,
    os: OsStore,
}

impl KeyringStore {
    /// A store of entries under `service`, each at account `<prefix>/<store key>`, or
    /// `<store key>` when `account_prefix` is `None`, in this platform's store
    /// ([`OsStore::native`]).
    ///
    /// The facade passes `layout.keyring_service()` and `Some(layout.home_hash())` for
    /// the default layout, `None` for the codex one.
    pub fn new(service: impl Into<String>, account_prefix: Option<String>) -> KeyringStore {
        KeyringStore {
            service: service.into(),
            account_prefix,
            timeout: DEFAULT_TIMEOUT,
            os: OsStore::native(),
        }
    }

    /// Bounds every call, queueing included, by `timeout` (default 5 s).
    pub fn with_timeout(mut self, timeout: Duration) -> KeyringStore {
        self.timeout = timeout;
        self
    }

    /// Uses `os` instead of this platform's store (e.g. [`OsStore::Keyutils`]).
    pub fn with_os_store(mut self, os: OsStore) -> KeyringStore {
        self.os = os;
        self
    }

    /// The service of every entry.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The account prefix, if any.
    pub fn account_prefix(&self) -> Option<&str> {
        self.account_prefix.as_deref()
    }

    /// The bound on every call.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The OS store.
    pub fn os_store(&self) -> OsStore {
        self.os
    }

    /// The account of `key`'s entry: `<prefix>/<store key>`, or the store key alone.
    pub fn account(&self, key: &StoreKey) -> String {
        match &self.account_prefix {
            Some(prefix) => format!("{prefix}/{}", key.as_str()),
            None => key.as_str().to_owned(),
        }
    }

    /// The raw entry of `key`.
    pub fn entry(&self, key: &StoreKey) -> SecretEntry {
        SecretEntry::new(self.service.clone(), self.account(key))
            .with_timeout(self.timeout)
            .with_os_store(self.os)
    }

    /// Whether the keyring can be used here, with the reason when not; never writes.
    ///
    /// Cheap checks first: a store not built in, and on the Secret Service a missing
    /// session bus, are answered from the environment alone (no D-Bus call, no daemon
    /// started). Then, within the bound: the Secret Service's default collection
    /// (missing, locked, volatile), and a read of an entry nobody writes. A save is its
    /// own write probe: it fails with [`StoreError::Unavailable`] when it cannot write.
    pub fn probe(&self) -> Usability {
        entry::probe(self.os, &self.service, self.timeout)
    }

    /// The location named in errors: `keyring:<service>/<account>`.
    fn location(&self, account: &str) -> PathBuf {
        PathBuf::from(format!("keyring:{}/{account}", self.service))
    }

    fn parse(
        &self,
        key: &StoreKey,
        account: &str,
        value: &SecretString,
    ) -> Result<Credential, StoreError> {
        serde_json::from_str::<Credential>(value.expose_secret()).map_err(|e| {
            StoreError::CorruptEntry {
                path: self.location(account),
                key: key.clone(),
                reason: entry_reason(value.expose_secret(), &e),
            }
        })
    }

    /// A value that is not text does not parse as a record: an error for its key alone.
    fn entry_error(&self, key: &StoreKey, account: &str, error: StoreError) -> StoreError {
        let not_text = matches!(&error, StoreError::Backend { source, .. }
            if matches!(source.downcast_ref::<KeyringError>(), Some(KeyringError::NotUtf8 { .. })));
        if not_text {
            StoreError::CorruptEntry {
                path: self.location(account),
                key: key.clone(),
                reason: "the value is not UTF-8 text".to_owned(),
            }
        } else {
            error
        }
    }

    /// The store key of an account, `None` when the account is not one of ours (another
    /// home's, or another user of the service).
    fn key_of(&self, account: &str) -> Option<StoreKey> {
        let key = match &self.account_prefix {
            Some(prefix) => account.strip_prefix(prefix.as_str())?.strip_prefix('/')?,
            None => account,
        };
        (!key.is_empty()).then(|| StoreKey::from_raw(key))
    }
}

impl CredentialStore for KeyringStore {
    fn kind(&self) -> StoreKind {
        StoreKind::Keyring
    }

    /// Checks that a save could be kept now: [`KeyringStore::probe`] (never writes; no
    /// D-Bus call and no daemon when there is no session bus).
    ///
    /// # Errors
    /// [`StoreError::Timeout`] when the keyring did not answer within the bound;
    /// [`StoreError::Unavailable`] with the reason otherwise.
    fn prepare_save(&self, _key: &StoreKey) -> Result<(), StoreError> {
        match self.probe() {
            Usability::Usable => Ok(()),
            Usability::TimedOut { waited } => Err(StoreError::Timeout {
                kind: StoreKind::Keyring,
                operation: "probe",
                waited,
            }),
            other => Err(StoreError::Unavailable {
                kind: StoreKind::Keyring,
                reason: other.to_string(),
            }),
        }
    }

    fn load(&self, key: &StoreKey) -> Result<Option<Credential>, StoreError> {
        let account = self.account(key);
        let value = self
            .entry(key)
            .get()
            .map_err(|e| self.entry_error(key, &account, rename(e, "load")))?;
        value.map(|v| self.parse(key, &account, &v)).transpose()
    }

    fn save(&self, key: &StoreKey, credential: &Credential) -> Result<(), StoreError> {
        let json = serde_json::to_string(credential).map_err(|e| {
            entry::backend(KeyringError::Platform {
                store: self.os,
                detail: format!("the record does not serialize: {}", describe_json_error(&e)),
            })
        })?;
        self.entry(key).set(&SecretString::from(json))
    }

    fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
        self.entry(key).delete()
    }

    fn list(&self) -> Result<Vec<ListedCredential>, StoreError> {
        if !self.os.can_list() {
            return Err(StoreError::Unsupported {
                kind: StoreKind::Keyring,
                operation: "list",
            });
        }
        let (os, service) = (self.os, self.service.clone());
        let found = entry::run(self.os, self.timeout, "list", move |b| {
            b.search(os, &service)
        })?;
        let mut listed: Vec<ListedCredential> = found
            .into_iter()
            .filter_map(|found| {
                let key = self.key_of(&found.account)?;
                let credential = match found.value {
                    Ok(value) => self.parse(&key, &found.account, &value),
                    Err(failure) => {
                        Err(self.entry_error(&key, &found.account, failure_error(failure)))
                    }
                };
                Some(ListedCredential::new(key, credential))
            })
            .collect();
        listed.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(listed)
    }
}

/// Names the operation as the store trait does (`load`, where the entry says `get`).
fn rename(error: StoreError, operation: &'static str) -> StoreError {
    match error {
        StoreError::Timeout { kind, waited, .. } => StoreError::Timeout {
            kind,
            operation,
            waited,
        },
        other => other,
    }
}

fn failure_error(failure: crate::backend::Failure) -> StoreError {
    use crate::backend::Failure;
    match failure {
        Failure::Unusable(u) => u.into_store_error("list"),
        Failure::Unsupported(_) => StoreError::Unsupported {
            kind: StoreKind::Keyring,
            operation: "list",
        },
        Failure::Error(e) => entry::backend(e),
    }
}

/// Why an entry's text does not parse as a record, without quoting any value from it
/// (serde's own text can, and it may be a token).
fn entry_reason(raw: &str, error: &serde_json::Error) -> String {
    let first = raw.trim_start().as_bytes().first().copied();
    if first != Some(b'{') {
        let kind = match first {
            None => "nothing",
            Some(b'[') => "an array",
            Some(b'"') => "a string",
            Some(b't' | b'f') => "a boolean",
            Some(b'n') => "null",
            Some(b'-' | b'0'..=b'9') => "a number",
            Some(_) => "something that is not JSON",
        };
        return format!("expected a JSON object, found {kind}");
    }
    // The record's own messages name fields only ("field `x`: expected ...", "missing
    // field `x`"); anything else is described by category and position.
    let text = error.to_string();
    let text = text
        .rsplit_once(" at line ")
        .map_or(text.as_str(), |(m, _)| m);
    if text.starts_with("field `") || text.starts_with("missing field `") {
        text.to_owned()
    } else {
        describe_json_error(error)
    }
}
