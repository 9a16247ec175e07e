//! The File store (DESIGN.md "Layout", "Record", "Writes"): every server's credential in
//! one JSON document, changed one entry at a time under the store lock.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use oauth_lock::{LockDir, LockGuard, LockScope, LockTarget, StoreLock, atomic};
use oauth_store_core::{
    Credential, CredentialStore, ListedCredential, StoreError, StoreKey, StoreKind,
};

use crate::document::{self, Document};

/// The document's file name inside a home: `.credentials.json`.
pub const DOCUMENT_FILE_NAME: &str = ".credentials.json";
/// The lock directory's name inside a home: `mcp-oauth-locks`.
pub const LOCK_DIR_NAME: &str = "mcp-oauth-locks";
/// The default size cap: documents over 64 MiB are refused, never read or replaced.
pub const DEFAULT_SIZE_CAP: u64 = 64 * 1024 * 1024;

/// The largest output buffer kept per thread between saves: 8 MiB.
const SCRATCH_KEPT: usize = 8 * 1024 * 1024;

thread_local! {
    /// The output buffer of saves on this thread, kept so that each save does not map
    /// and fault in fresh pages for the whole document (measured at 1,000 entries:
    /// about 215 page faults per save before, none after; CPU per save 1.2 -> 0.7 ms).
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The File store: one compact JSON document from store key to record.
///
/// - `save` and `delete` take the store lock (`file-store.lock`), reread the document,
///   change one entry, replace the document durably and atomically
///   ([`oauth_lock::atomic::replace`]), and release. Every other entry is written back
///   byte-exact, including entries that do not parse and fields this version does not
///   know. When the last entry goes, the document is removed.
/// - `load` and `list` take no lock (writers replace the document atomically) unless
///   [`FileStore::with_locked_reads`] is set (the codex layout: that CLI writes in place).
/// - A document that does not parse as a whole is never replaced by a save or delete
///   ([`StoreError::CorruptDocument`]); [`FileStore::repair`] quarantines it.
///
/// The lock is taken in the thread's ambient [`LockScope`] ([`LockScope::current`]): a
/// caller that holds credential locks in an entered scope (the facade's transactions)
/// is checked against them, and one that already holds the File store lock in it gets
/// [`oauth_lock::Error::Reentry`] (inside [`StoreError::Lock`]) at once, never a wait on
/// itself until the timeout.
#[derive(Debug, Clone)]
pub struct FileStore {
    pub(crate) path: PathBuf,
    pub(crate) locks: LockDir,
    locked_reads: bool,
    lock_timeout: Duration,
    size_cap: u64,
}

impl FileStore {
    /// A store for the document at `document`, locking in `locks`. The document's
    /// directory must exist for a save to succeed ([`FileStore::in_home`] creates it).
    pub fn new(document: impl Into<PathBuf>, locks: LockDir) -> FileStore {
        FileStore {
            path: document.into(),
            locks,
            locked_reads: false,
            lock_timeout: oauth_lock::DEFAULT_TIMEOUT,
            size_cap: DEFAULT_SIZE_CAP,
        }
    }

    /// The store of a home: document `home/.credentials.json`, locks in
    /// `home/mcp-oauth-locks/`; the home and the lock directory are created 0700 when
    /// missing.
    ///
    /// # Errors
    /// [`StoreError::Io`] when a directory cannot be created;
    /// [`StoreError::Lock`] when the lock directory cannot be opened.
    pub fn in_home(home: &Path) -> Result<FileStore, StoreError> {
        atomic::ensure_private_dir(home).map_err(|e| from_atomic(e, home))?;
        let locks = LockDir::open(home.join(LOCK_DIR_NAME)).map_err(from_lock)?;
        Ok(FileStore::new(home.join(DOCUMENT_FILE_NAME), locks))
    }

    /// Whether `load` and `list` take the store lock (default false). The codex layout
    /// sets it: the Codex CLI writes the document in place, so an unlocked read could
    /// see it half-written.
    pub fn with_locked_reads(mut self, locked: bool) -> FileStore {
        self.locked_reads = locked;
        self
    }

    /// How long to wait for the store lock (default [`oauth_lock::DEFAULT_TIMEOUT`], 60 s).
    pub fn with_lock_timeout(mut self, timeout: Duration) -> FileStore {
        self.lock_timeout = timeout;
        self
    }

    /// The largest document read or written, in bytes (default [`DEFAULT_SIZE_CAP`],
    /// 64 MiB). A larger document is refused with [`StoreError::TooLarge`] and left
    /// untouched; a save that would make the document larger is refused too.
    pub fn with_size_cap(mut self, bytes: u64) -> FileStore {
        self.size_cap = bytes;
        self
    }

    /// The document's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The lock directory.
    pub fn lock_dir(&self) -> &LockDir {
        &self.locks
    }

    /// Takes the File store lock in the thread's ambient scope ([`LockScope::current`]),
    /// so that a caller already holding it in an entered scope gets a re-entry error at
    /// once.
    pub(crate) fn lock(&self) -> Result<LockGuard, StoreError> {
        self.locks
            .acquire(
                &LockScope::current(),
                &LockTarget::Store(StoreLock::File),
                self.lock_timeout,
            )
            .map_err(from_lock)
    }

    fn read_lock(&self) -> Result<Option<LockGuard>, StoreError> {
        self.locked_reads.then(|| self.lock()).transpose()
    }

    /// Reads the document's bytes, refusing what is not a regular file, is over the
    /// cap, or belongs to another user. `None` when there is no document.
    pub(crate) fn read(&self) -> Result<Option<atomic::Document>, StoreError> {
        let read = match atomic::read_document(&self.path, self.size_cap) {
            Ok(read) => read,
            Err(atomic::Error::Io { path, source })
                if source.kind() == io::ErrorKind::PermissionDenied =>
            {
                return Err(foreign_owner(&path).unwrap_or(StoreError::Io { path, source }));
            }
            Err(e) => return Err(from_atomic(e, &self.path)),
        };
        if let Some(doc) = &read
            && let Some(current) = atomic::current_uid()
            && doc.uid != current
        {
            return Err(StoreError::ForeignOwner {
                path: self.path.clone(),
                owner: doc.uid,
                current,
            });
        }
        Ok(read)
    }

    /// Parses the whole document lazily.
    pub(crate) fn parse<'a>(&self, bytes: &'a [u8]) -> Result<Document<'a>, StoreError> {
        Document::parse(bytes).map_err(|failure| StoreError::CorruptDocument {
            path: self.path.clone(),
            reason: failure.reason,
        })
    }

    fn warn_if_loose(&self, doc: &atomic::Document) {
        if doc.mode & 0o077 != 0 {
            tracing::warn!(
                path = %self.path.display(),
                mode = format_args!("{:04o}", doc.mode),
                "the credentials document is accessible to other users; the next save makes it 0600"
            );
        }
    }

    /// Writes `doc` over the document (or removes it when empty), under the store lock
    /// the caller holds.
    pub(crate) fn write(&self, doc: &Document<'_>) -> Result<(), StoreError> {
        if doc.is_empty() {
            atomic::remove(&self.path).map_err(|e| from_atomic(e, &self.path))?;
            return Ok(());
        }
        SCRATCH.with_borrow_mut(|bytes| {
            doc.write_into(bytes);
            let result = if bytes.len() as u64 > self.size_cap {
                Err(StoreError::TooLarge {
                    path: self.path.clone(),
                    size: bytes.len() as u64,
                    cap: self.size_cap,
                })
            } else {
                atomic::replace(&self.path, bytes).map_err(|e| from_atomic(e, &self.path))
            };
            // Keep a buffer the size of a usual document; give back a huge one.
            if bytes.capacity() > SCRATCH_KEPT {
                *bytes = Vec::new();
            } else {
                bytes.clear();
            }
            result
        })
    }

    fn corrupt_entry(&self, key: &StoreKey, reason: String) -> StoreError {
        StoreError::CorruptEntry {
            path: self.path.clone(),
            key: key.clone(),
            reason,
        }
    }
}

impl CredentialStore for FileStore {
    fn kind(&self) -> StoreKind {
        StoreKind::File
    }

    /// Loads `key`'s record; parses only that entry.
    ///
    /// # Errors
    /// [`StoreError::CorruptEntry`] when this entry does not parse (other keys still
    /// load); [`StoreError::CorruptDocument`] when the document does not;
    /// [`StoreError::NotARegularFile`], [`StoreError::TooLarge`],
    /// [`StoreError::ForeignOwner`], [`StoreError::Io`]; [`StoreError::Lock`] with locked
    /// reads.
    fn load(&self, key: &StoreKey) -> Result<Option<Credential>, StoreError> {
        let _guard = self.read_lock()?;
        let Some(read) = self.read()? else {
            return Ok(None);
        };
        self.warn_if_loose(&read);
        let doc = self.parse(&read.bytes)?;
        let Some(raw) = doc.get(key.as_str()) else {
            return Ok(None);
        };
        document::parse_record(raw)
            .map(Some)
            .map_err(|reason| self.corrupt_entry(key, reason))
    }

    /// True unless [`FileStore::with_locked_reads`] is set: an unlocked load is a read of
    /// a local file that writers replace atomically, with no lock to wait on.
    fn load_never_waits(&self) -> bool {
        !self.locked_reads
    }

    /// Checks that a save could be kept now, without writing: the store lock can be
    /// taken within the lock timeout (a stopped holder, a symlink or FIFO at the lock
    /// file are errors here), and the document, its temp name and its directory are
    /// usable for an atomic replace.
    ///
    /// # Errors
    /// [`StoreError::Lock`], [`StoreError::NotARegularFile`], [`StoreError::Io`].
    fn prepare_save(&self, _key: &StoreKey) -> Result<(), StoreError> {
        let _guard = self.lock()?;
        atomic::check_replaceable(&self.path).map_err(|e| from_atomic(e, &self.path))
    }

    /// Saves `credential` under `key`: store lock, reread, replace this one entry (or
    /// append it), durable atomic replace, release.
    ///
    /// # Errors
    /// [`StoreError::CorruptDocument`] (the file is left untouched); [`StoreError::Lock`]
    /// (timeout, I/O); [`StoreError::TooLarge`] when the document is, or would become,
    /// larger than the cap; as [`FileStore::load`] otherwise. A corrupt entry for `key`
    /// itself is no error: it is replaced.
    fn save(&self, key: &StoreKey, credential: &Credential) -> Result<(), StoreError> {
        let raw = serde_json::to_string(credential).expect("a credential always serializes");
        let _guard = self.lock()?;
        let read = self.read()?;
        let mut doc = self.parse(read.as_ref().map_or(&[][..], |r| &r.bytes))?;
        doc.set(key.as_str(), raw);
        self.write(&doc)
    }

    /// Deletes `key`'s entry under the store lock; removes the document when it was the
    /// last. Returns whether there was an entry.
    ///
    /// # Errors
    /// As [`FileStore::save`].
    fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
        let _guard = self.lock()?;
        let Some(read) = self.read()? else {
            return Ok(false);
        };
        let mut doc = self.parse(&read.bytes)?;
        if !doc.remove(key.as_str()) {
            return Ok(false);
        }
        self.write(&doc)?;
        Ok(true)
    }

    /// Every entry in document order, each parsed on its own (a bad entry is listed
    /// with [`StoreError::CorruptEntry`]).
    ///
    /// # Errors
    /// As [`FileStore::load`], for the document as a whole.
    fn list(&self) -> Result<Vec<ListedCredential>, StoreError> {
        let _guard = self.read_lock()?;
        let Some(read) = self.read()? else {
            return Ok(Vec::new());
        };
        self.warn_if_loose(&read);
        let doc = self.parse(&read.bytes)?;
        Ok(doc
            .unique()
            .into_iter()
            .map(|entry| {
                let key = StoreKey::from_raw(entry.key.as_ref());
                let credential = document::parse_record(&entry.raw)
                    .map_err(|reason| self.corrupt_entry(&key, reason));
                ListedCredential::new(key, credential)
            })
            .collect())
    }
}

/// The [`StoreError`] for an error of [`oauth_lock::atomic`] about `path`.
pub(crate) fn from_atomic(e: atomic::Error, path: &Path) -> StoreError {
    match e {
        atomic::Error::Io { path, source } => StoreError::Io { path, source },
        atomic::Error::NotARegularFile { path, what } => StoreError::NotARegularFile { path, what },
        atomic::Error::TooLarge { path, size, cap } => StoreError::TooLarge { path, size, cap },
        other => StoreError::Io {
            path: path.to_owned(),
            source: io::Error::other(other.to_string()).into(),
        },
    }
}

/// The [`StoreError`] for a store lock error: a lock file of another user is
/// [`StoreError::ForeignOwner`], anything else [`StoreError::Lock`].
pub(crate) fn from_lock(e: oauth_lock::Error) -> StoreError {
    match e {
        oauth_lock::Error::ForeignOwner {
            path,
            owner,
            current,
        } => StoreError::ForeignOwner {
            path,
            owner,
            current,
        },
        other => StoreError::Lock(std::sync::Arc::new(other)),
    }
}

/// [`StoreError::ForeignOwner`] when `path` belongs to another user than this process.
fn foreign_owner(path: &Path) -> Option<StoreError> {
    let owner = std::fs::symlink_metadata(path).ok()?.uid();
    let current = atomic::current_uid()?;
    (owner != current).then(|| StoreError::ForeignOwner {
        path: path.to_owned(),
        owner,
        current,
    })
}
