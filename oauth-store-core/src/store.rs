//! The `CredentialStore` trait every backend implements, and its error.

use std::error::Error as StdError;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::{Credential, StoreKey, StoreKind};

/// A place credentials are kept: the File document, the OS keyring, the Secrets
/// document, or a third-party backend.
///
/// Synchronous (blocking) and object-safe; async callers go through the facade's
/// async face. Implementations serialize their own read-modify-write (a store lock);
/// coordinating a refresh across processes is the facade's job (the credential lock),
/// not the store's.
pub trait CredentialStore: Send + Sync {
    /// Which kind of store this is.
    fn kind(&self) -> StoreKind;

    /// The credential stored under `key`, or `None` when there is none.
    ///
    /// # Errors
    /// [`StoreError::CorruptEntry`] when this key's entry does not parse (other keys
    /// still load); [`StoreError::CorruptDocument`] when the whole document does not;
    /// I/O, lock, availability and timeout errors of the backend.
    fn load(&self, key: &StoreKey) -> Result<Option<Credential>, StoreError>;

    /// Stores `credential` under `key`, replacing any previous one. Durable when it
    /// returns `Ok`.
    ///
    /// # Errors
    /// As [`CredentialStore::load`]; a document that does not parse as a whole is
    /// never replaced by a save.
    fn save(&self, key: &StoreKey, credential: &Credential) -> Result<(), StoreError>;

    /// Stores `credential` under `key` as [`CredentialStore::save`] does, carrying the
    /// `fence` of the credential lock the caller's transaction holds
    /// ([`crate::CredentialGuard::fence`]). A backend whose lock can be lost while its
    /// holder still runs (a database lock whose connection was cut) refuses the save
    /// when the fence is no longer valid, so a holder that lost its lock never
    /// overwrites a newer credential (DESIGN.md "Many machines").
    ///
    /// The fence goes through the store, not the lock, because only the store can make
    /// the check and the write one step (the same connection, the same transaction).
    /// The default ignores it and calls [`CredentialStore::save`]: right for every store
    /// whose lock cannot be lost (the file lock).
    ///
    /// # Errors
    /// As [`CredentialStore::save`]; [`StoreError::FenceRefused`] when the fence is no
    /// longer valid (nothing was written).
    fn save_fenced(
        &self,
        key: &StoreKey,
        credential: &Credential,
        fence: &crate::Fence,
    ) -> Result<(), StoreError> {
        let _ = fence;
        self.save(key, credential)
    }

    /// Removes the credential under `key` as [`CredentialStore::delete`] does, carrying
    /// the caller's `fence` (see [`CredentialStore::save_fenced`]). The default ignores
    /// it.
    ///
    /// # Errors
    /// As [`CredentialStore::save_fenced`].
    fn delete_fenced(&self, key: &StoreKey, fence: &crate::Fence) -> Result<bool, StoreError> {
        let _ = fence;
        self.delete(key)
    }

    /// Checks, without changing anything, that a save of `key` could be kept right now:
    /// the backend answers and is unlocked, its key is reachable, its document and lock
    /// are usable. The facade calls it before it sends a refresh token, because a
    /// provider that answers has rotated it: a refresh whose result cannot be kept loses
    /// the login (DESIGN.md "Persist rescue"). The default says yes; a backend that can
    /// tell should.
    ///
    /// # Errors
    /// Why a save would fail now ([`StoreError::Unavailable`], [`StoreError::Timeout`],
    /// [`StoreError::NotARegularFile`], a lock error, ...).
    fn prepare_save(&self, key: &StoreKey) -> Result<(), StoreError> {
        let _ = key;
        Ok(())
    }

    /// Whether [`CredentialStore::load`] never waits: it takes no lock, asks no daemon
    /// (D-Bus, a keyring service) and sends nothing over a network, as a plain read of
    /// a local file that writers replace atomically. The facade's async face then runs
    /// a nothing-due check on the caller's own thread (an async runtime's worker must
    /// never block on a lock) instead of starting a thread for it. The default says
    /// no, which is always safe; say yes only when no configuration of the store can
    /// make a load wait.
    fn load_never_waits(&self) -> bool {
        false
    }

    /// Removes the credential under `key`. Returns whether there was one.
    ///
    /// # Errors
    /// As [`CredentialStore::save`].
    fn delete(&self, key: &StoreKey) -> Result<bool, StoreError>;

    /// Every credential in the store, each parsed on its own: an entry that does not
    /// parse is listed with its error.
    ///
    /// # Errors
    /// [`StoreError::Unsupported`] where the backend cannot enumerate; otherwise as
    /// [`CredentialStore::load`].
    fn list(&self) -> Result<Vec<ListedCredential>, StoreError>;
}

/// One entry of [`CredentialStore::list`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ListedCredential {
    /// The key the entry is stored under.
    pub key: StoreKey,
    /// The record, or why it does not parse.
    pub credential: Result<Credential, StoreError>,
}

impl ListedCredential {
    /// A listed entry.
    pub fn new(key: StoreKey, credential: Result<Credential, StoreError>) -> Self {
        ListedCredential { key, credential }
    }
}

/// Why a store operation failed. No variant holds a token value; texts name files,
/// keys, fields and positions only.
///
/// `Clone`, so that callers sharing one operation (the facade's single-flight) all see
/// the same variant: foreign errors are kept behind an [`Arc`].
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// The document does not parse as a whole; it is left untouched, and saves for any
    /// key are refused until it is repaired.
    #[error("{}: the document does not parse ({reason}); it is left untouched, and saves are refused until it is repaired (a repair quarantines it and keeps the entries that parse)", path.display())]
    CorruptDocument {
        /// The document.
        path: PathBuf,
        /// Where and how it fails, never a value from it.
        reason: String,
    },
    /// One entry does not parse; other keys load and save, and it is kept unchanged.
    #[error("{}: the entry for `{key}` does not parse ({reason}); it is kept unchanged", path.display())]
    CorruptEntry {
        /// The document (or keyring location) holding it.
        path: PathBuf,
        /// The entry's key.
        key: StoreKey,
        /// What is wrong, never a value from it.
        reason: String,
    },
    /// The document is larger than the store reads.
    #[error("{}: {size} bytes is over the {cap}-byte limit; left untouched", path.display())]
    TooLarge {
        /// The document.
        path: PathBuf,
        /// Its size in bytes.
        size: u64,
        /// The limit in bytes.
        cap: u64,
    },
    /// Something other than a regular file is at the document's path (a symlink,
    /// directory, FIFO, socket or device); it is refused, never followed or waited on.
    #[error("{}: refused: a {what} is at the path where a regular file belongs", path.display())]
    NotARegularFile {
        /// The path.
        path: PathBuf,
        /// What is there, e.g. `symlink`.
        what: &'static str,
    },
    /// The document (or a lock file) belongs to another user, often after a run under sudo.
    #[error("{}: owned by uid {owner}, but this process runs as uid {current}; a run under sudo may have created it (fix with chown)", path.display())]
    ForeignOwner {
        /// The file.
        path: PathBuf,
        /// Its owner's uid.
        owner: u32,
        /// This process's uid.
        current: u32,
    },
    /// A document of a newer format version; it is refused and never overwritten.
    #[error("{}: format version {found} is newer than this version reads ({supported}); left untouched", path.display())]
    UnsupportedVersion {
        /// The document.
        path: PathBuf,
        /// The version found.
        found: u64,
        /// The highest version this build reads.
        supported: u64,
    },
    /// Taking a store lock failed (timeout, order violation, I/O).
    #[error("store lock: {0}")]
    Lock(#[source] Arc<dyn StdError + Send + Sync>),
    /// The backend cannot be used here (no session bus, no Secret Service, locked
    /// keyring, access denied), with the reason.
    #[error("{kind} store unavailable: {reason}")]
    Unavailable {
        /// The store.
        kind: StoreKind,
        /// Why, for a person.
        reason: String,
    },
    /// A backend call did not finish within its bound; for a write the outcome is
    /// unknown (indeterminate), which is never a reason to fall back to another store.
    #[error("{kind} store: {operation} timed out after {} ms; its outcome is unknown", waited.as_millis())]
    Timeout {
        /// The store.
        kind: StoreKind,
        /// The operation, e.g. `save`.
        operation: &'static str,
        /// How long it was waited for.
        waited: Duration,
    },
    /// The backend cannot perform this operation (e.g. listing an OS keyring that
    /// cannot be searched).
    #[error("{kind} store does not support {operation}")]
    Unsupported {
        /// The store.
        kind: StoreKind,
        /// The operation.
        operation: &'static str,
    },
    /// A fenced save or delete was refused: the credential lock its transaction took
    /// is no longer held (its connection was cut, another holder may have saved since),
    /// so nothing was written and the stored credential stays.
    #[error(
        "{kind} store: the save was refused because its credential lock was lost ({reason}); the stored credential is unchanged"
    )]
    FenceRefused {
        /// The store.
        kind: StoreKind,
        /// Why, for a person (never a value).
        reason: String,
    },
    /// Any other backend failure.
    #[error("{kind} store: {source}")]
    Backend {
        /// The store.
        kind: StoreKind,
        /// The backend's error; it must not hold a token value.
        #[source]
        source: Arc<dyn StdError + Send + Sync>,
    },
}

impl StoreError {
    /// [`StoreError::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StoreError::Io {
            path: path.into(),
            source: Arc::new(source),
        }
    }

    /// [`StoreError::Backend`] of `kind` with `source` (an error or a message; it must
    /// not hold a token value).
    pub fn backend(kind: StoreKind, source: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        StoreError::Backend {
            kind,
            source: Arc::from(source.into()),
        }
    }

    /// [`StoreError::Lock`] with `source` (an error or a message).
    pub fn lock(source: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        StoreError::Lock(Arc::from(source.into()))
    }

    /// Whether this error is about a single entry (other keys are unaffected).
    pub fn is_entry_error(&self) -> bool {
        matches!(self, StoreError::CorruptEntry { .. })
    }
}
