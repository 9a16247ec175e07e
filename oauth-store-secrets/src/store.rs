//! The Secrets store (DESIGN.md "Layout", "Writes"): every server's credential in one
//! age-encrypted document, changed one entry at a time under the store lock.

use std::fmt;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use oauth_lock::{LockDir, LockGuard, LockScope, LockTarget, StoreLock, atomic};
use oauth_store_core::{
    Credential, CredentialStore, ExposeSecret, ListedCredential, SecretString, StoreError,
    StoreKey, StoreKind,
};
use secrecy::zeroize::Zeroizing;

use crate::cipher::{DecryptFailure, Key};
use crate::document::{self, FORMAT_VERSION, Plain};
use crate::key::{KeyError, KeyKind, KeySource};

/// The document's directory inside a home: `secrets` (created 0700).
pub const DOCUMENT_DIR_NAME: &str = "secrets";
/// The document's file name inside [`DOCUMENT_DIR_NAME`]: `mcp_oauth.age`.
pub const DOCUMENT_FILE_NAME: &str = "mcp_oauth.age";
/// The lock directory's name inside a home: `mcp-oauth-locks`.
pub const LOCK_DIR_NAME: &str = "mcp-oauth-locks";
/// The default size cap: documents over 64 MiB are refused, never read or replaced.
pub const DEFAULT_SIZE_CAP: u64 = 64 * 1024 * 1024;

/// Why the Secrets store failed in a way [`StoreError`] has no variant for. It reaches
/// callers as the source of [`StoreError::Backend`] (kind `secrets`), so a caller
/// can downcast to tell a missing key from a wrong one. Never holds key or
/// plaintext text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretsError {
    /// The document exists but the key source holds no key. No new key is made: it
    /// would orphan every credential in the document.
    #[error("{}: the document exists, but {location} holds no key; no new key is made (it would orphan every credential): put the exported key back (`SecretsStore::import_key`)", document.display())]
    KeyMissing {
        /// The document.
        document: PathBuf,
        /// The key source's location.
        location: String,
    },
    /// The key does not open the document. The document is left untouched.
    #[error("{}: the key in {location} does not open the document; it is left untouched", document.display())]
    KeyMismatch {
        /// The document.
        document: PathBuf,
        /// The key source's location.
        location: String,
    },
    /// The document is encrypted with a key of the other kind (e.g. the Codex CLI's
    /// passphrase document opened outside the codex preset).
    #[error("{}: the document is encrypted to {found}, but {location} holds {expected}; open it with the matching key source (the codex preset reads the Codex CLI's passphrase document)", document.display())]
    WrongKeyKind {
        /// The document.
        document: PathBuf,
        /// The key source's location.
        location: String,
        /// What the document needs.
        found: KeyKind,
        /// What the source holds.
        expected: KeyKind,
    },
    /// The key source holds text that is not a key of its kind.
    #[error("{location}: the key is not {kind} ({reason})")]
    KeyInvalid {
        /// The key source's location.
        location: String,
        /// What it should be.
        kind: KeyKind,
        /// What is wrong, never the text.
        reason: &'static str,
    },
    /// The passphrase document asks for more scrypt work than this machine accepts
    /// (age's bound: about 16 times its one-second target).
    #[error("{}: opening the document needs scrypt work factor 2^{required}, over this machine's bound; left untouched", document.display())]
    ExcessiveWork {
        /// The document.
        document: PathBuf,
        /// log2 of the work it asks for.
        required: u8,
    },
    /// A re-key or import target already holds another key, which is never overwritten.
    #[error("{location} already holds a different key; it is left as it is")]
    TargetHoldsKey {
        /// The target's location.
        location: String,
    },
    /// The key source did not give back the key it was just given.
    #[error("{location} did not keep the key it was given")]
    KeyNotKept {
        /// The key source's location.
        location: String,
    },
    /// Re-keying in place is not crash-safe for passphrase documents (age allows an
    /// scrypt recipient only alone), so it is refused; re-key into another source.
    #[error(
        "{location}: re-keying a passphrase document in place is not supported; re-key into another key source"
    )]
    RekeyInPlaceUnsupported {
        /// The key source's location.
        location: String,
    },
    /// Generating a key failed (no randomness from the OS).
    #[error("generating a key failed: {0}")]
    Random(String),
    /// Encrypting the document failed.
    #[error("{}: encrypting the document failed: {reason}", document.display())]
    Encrypt {
        /// The document.
        document: PathBuf,
        /// age's reason.
        reason: String,
    },
    /// The key source failed.
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// The [`StoreError`] for a [`SecretsError`]: key-file I/O, availability and timeouts
/// map to their own variants, everything else to [`StoreError::Backend`].
impl From<SecretsError> for StoreError {
    fn from(e: SecretsError) -> StoreError {
        match e {
            SecretsError::Key(KeyError::Io { path, source }) => StoreError::Io { path, source },
            SecretsError::Key(KeyError::NotARegularFile { path, what }) => {
                StoreError::NotARegularFile { path, what }
            }
            SecretsError::Key(KeyError::Unavailable { location, reason }) => {
                StoreError::Unavailable {
                    kind: StoreKind::Secrets,
                    reason: format!("{location}: {reason}"),
                }
            }
            SecretsError::Key(KeyError::Timeout {
                operation, waited, ..
            }) => StoreError::Timeout {
                kind: StoreKind::Secrets,
                operation,
                waited,
            },
            other => StoreError::Backend {
                kind: StoreKind::Secrets,
                source: std::sync::Arc::new(other),
            },
        }
    }
}

/// The Secrets store: one age-encrypted document whose plaintext is
/// `{"version":1,"secrets":{"global/MCP_OAUTH_<32HEX>":"<record JSON>"}}`.
///
/// - `save` and `delete` take the Secrets store lock (`secrets-store.lock`), reread
///   the document and the key, decrypt, change one entry, encrypt, replace the
///   document durably and atomically ([`oauth_lock::atomic::replace`], 0600, its
///   directory created 0700), and release. Every other entry is written back
///   byte-exact, including secrets this store does not own and fields this version
///   does not know. When nothing is left, the document is removed.
/// - The key is created on first save, under the store lock after rereading the
///   source, so two processes never make two keys. A document whose source holds no
///   key is [`SecretsError::KeyMissing`], never a new key that would orphan it.
/// - A document that does not decrypt or parse is never replaced: not an age file or
///   damaged -> [`StoreError::CorruptDocument`]; a newer format ->
///   [`StoreError::UnsupportedVersion`]; the wrong key -> [`SecretsError`] inside
///   [`StoreError::Backend`].
/// - `load` and `list` take no lock (writers replace the document atomically) unless
///   [`SecretsStore::with_locked_reads`] is set. A handle (and its clones) remembers
///   the key and the last document it read or wrote, and reuses the decryption while
///   the file holds exactly those bytes; reads reread the source only when the
///   remembered key no longer opens the document, writes unless the bytes are what
///   this handle last wrote or opened under the lock (see the crate's Limitations).
///
/// The lock is taken in a fresh [`LockScope`] per call, so a caller must not hold the
/// Secrets store lock itself while calling these methods; holding credential locks or
/// the File store lock is fine.
#[derive(Clone)]
pub struct SecretsStore {
    path: PathBuf,
    locks: LockDir,
    key_source: Arc<dyn KeySource>,
    locked_reads: bool,
    lock_timeout: Duration,
    size_cap: u64,
    work_factor: Option<u8>,
    memory: Arc<Mutex<Memory>>,
}

impl fmt::Debug for SecretsStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretsStore")
            .field("path", &self.path)
            .field("key_source", &self.key_source.location())
            .field("kind", &self.key_source.kind())
            .finish_non_exhaustive()
    }
}

/// What a handle keeps between calls: the key it last used, with the source's text
/// of it, and the last document it read or wrote, encrypted and decrypted (the
/// decryption is reused while the file's bytes are exactly these).
#[derive(Default)]
struct Memory {
    key: Option<(SecretString, Key)>,
    document: Option<(Vec<u8>, Plaintext)>,
    /// The document was written, or opened, under the store lock with the key the
    /// source held then. While the file keeps exactly these bytes, a write need not
    /// reread the source: this crate changes the source's key only after it changes
    /// the document (a re-key writes the document to both keys first).
    verified: bool,
}

/// A decrypted document, shared between a handle's memory and its readers.
type Plaintext = Arc<Zeroizing<Vec<u8>>>;

/// What a locked read found: the plaintext, and the key that opened it.
struct Opened {
    plaintext: Plaintext,
    secret: SecretString,
    key: Key,
}

impl SecretsStore {
    /// A store for the document at `document` (normally `<home>/secrets/mcp_oauth.age`),
    /// locking in `locks`, with its key in `key_source`. The document's directory is
    /// created 0700 by the first save.
    pub fn new(document: PathBuf, locks: LockDir, key_source: Arc<dyn KeySource>) -> SecretsStore {
        SecretsStore {
            path: document,
            locks,
            key_source,
            locked_reads: false,
            lock_timeout: oauth_lock::DEFAULT_TIMEOUT,
            size_cap: DEFAULT_SIZE_CAP,
            work_factor: None,
            memory: Arc::new(Mutex::new(Memory::default())),
        }
    }

    /// The store of a home: document `home/secrets/mcp_oauth.age`, locks in
    /// `home/mcp-oauth-locks/`; the home and the lock directory are created 0700 when
    /// missing.
    ///
    /// # Errors
    /// [`StoreError::Io`] when a directory cannot be created; [`StoreError::Lock`]
    /// when the lock directory cannot be opened.
    pub fn in_home(
        home: &Path,
        key_source: Arc<dyn KeySource>,
    ) -> Result<SecretsStore, StoreError> {
        atomic::ensure_private_dir(home).map_err(|e| from_atomic(e, home))?;
        let locks = LockDir::open(home.join(LOCK_DIR_NAME)).map_err(from_lock)?;
        let document = home.join(DOCUMENT_DIR_NAME).join(DOCUMENT_FILE_NAME);
        Ok(SecretsStore::new(document, locks, key_source))
    }

    /// Whether `load` and `list` take the store lock (default false).
    pub fn with_locked_reads(mut self, locked: bool) -> SecretsStore {
        self.locked_reads = locked;
        self
    }

    /// How long to wait for the store lock (default [`oauth_lock::DEFAULT_TIMEOUT`], 60 s).
    pub fn with_lock_timeout(mut self, timeout: Duration) -> SecretsStore {
        self.lock_timeout = timeout;
        self
    }

    /// The largest document read or written, in bytes (default [`DEFAULT_SIZE_CAP`],
    /// 64 MiB); a larger one is refused with [`StoreError::TooLarge`] and left untouched.
    pub fn with_size_cap(mut self, bytes: u64) -> SecretsStore {
        self.size_cap = bytes;
        self
    }

    /// The scrypt work factor (log2 N, 1..=63) passphrase documents are written at.
    /// Default `None`: age's own, calibrated to about one second on this machine, as
    /// the Codex CLI writes. Reads accept what age accepts (up to about 16 times its
    /// target). No effect on X25519 documents.
    ///
    /// # Panics
    /// When `log_n` is `Some(0)` or `Some(64..)`.
    pub fn with_scrypt_work_factor(mut self, log_n: Option<u8>) -> SecretsStore {
        assert!(
            log_n.is_none_or(|n| (1..64).contains(&n)),
            "scrypt work factor 1..=63"
        );
        self.work_factor = log_n;
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

    /// The key source.
    pub fn key_source(&self) -> &Arc<dyn KeySource> {
        &self.key_source
    }

    /// The key text, for a backup: losing the key
    /// source's entry loses every credential in the document. `None` when the source
    /// holds no key yet (nothing has been saved). When the document exists, the key is
    /// checked to open it first (under the store lock).
    ///
    /// # Errors
    /// [`SecretsError::KeyMissing`] when the document exists but the source holds no
    /// key; the errors of [`CredentialStore::load`].
    pub fn export_key(&self) -> Result<Option<SecretString>, StoreError> {
        let _guard = self.lock()?;
        let read = self.read()?;
        let Some(secret) = self.source_key()? else {
            return match read {
                Some(_) => Err(self.key_missing()),
                None => Ok(None),
            };
        };
        if let Some(read) = read {
            let key = self.parse_key(self.key_source.kind(), &secret)?;
            self.decrypt_with(&key, &read.bytes)?;
        }
        Ok(Some(secret))
    }

    /// Replaces the key with a new one in the same source: `new_key`, or a fresh
    /// random key when `None`. Crash-safe: the document
    /// is first written to both keys, then the source takes the new key, then the
    /// document is written to the new key alone; at every moment the key in the source
    /// opens it. Export the new key afterwards.
    ///
    /// # Errors
    /// [`SecretsError::RekeyInPlaceUnsupported`] for a passphrase source;
    /// [`SecretsError::KeyMissing`]; [`SecretsError::Key`] ([`KeyError::ReadOnly`] for a
    /// key the caller supplies); the errors of [`CredentialStore::save`].
    pub fn rekey(&self, new_key: Option<SecretString>) -> Result<(), StoreError> {
        let kind = self.key_source.kind();
        if kind != KeyKind::X25519Identity {
            return Err(SecretsError::RekeyInPlaceUnsupported {
                location: self.key_source.location(),
            }
            .into());
        }
        let _guard = self.lock()?;
        let opened = self.open_locked()?;
        let new_secret = self.new_secret(kind, new_key)?;
        let new = self.parse_key(kind, &new_secret)?;
        let Some(Opened {
            plaintext,
            key: old,
            ..
        }) = opened
        else {
            // No document: nothing to re-encrypt.
            self.store_key(self.key_source.as_ref(), &new_secret)?;
            self.memory().key = Some((new_secret, new));
            return Ok(());
        };
        if new.same_as(&old) {
            return Ok(());
        }
        self.write_encrypted(&new, Some(&old), &plaintext)?;
        self.store_key(self.key_source.as_ref(), &new_secret)?;
        let ciphertext = self.write_encrypted(&new, None, &plaintext)?;
        *self.memory() = Memory {
            key: Some((new_secret, new)),
            document: Some((ciphertext, plaintext)),
            verified: true,
        };
        Ok(())
    }

    /// Moves the document to a key in another source (e.g. from a key file to the
    /// keyring, or from the Codex CLI's passphrase to an X25519 identity): `new_key`,
    /// or a fresh random key of `target`'s kind. `target` must hold no key or
    /// `new_key` itself (so it is never the old source under another name). Crash-safe:
    /// the target takes the key before the document is written to it, and the old
    /// source is left as it is. Export the new key afterwards.
    /// Returns the store bound to `target`; this store no longer opens the document.
    ///
    /// # Errors
    /// [`SecretsError::TargetHoldsKey`]; as [`SecretsStore::rekey`].
    pub fn rekey_into(
        &self,
        target: Arc<dyn KeySource>,
        new_key: Option<SecretString>,
    ) -> Result<SecretsStore, StoreError> {
        let kind = target.kind();
        if target.location() == self.key_source.location() {
            // One place holds one key: only the two-recipient path is crash-safe there.
            if kind != self.key_source.kind() {
                return Err(SecretsError::RekeyInPlaceUnsupported {
                    location: target.location(),
                }
                .into());
            }
            self.rekey(new_key)?;
            let mut moved = self.clone();
            moved.key_source = target;
            return Ok(moved);
        }
        let _guard = self.lock()?;
        let opened = self.open_locked()?;
        let new_secret = self.new_secret(kind, new_key)?;
        let new = self
            .parse_key_at(target.as_ref(), &new_secret)?
            .with_work_factor(self.work_factor);
        let held = load_source(target.as_ref())?;
        if held
            .as_ref()
            .is_some_and(|h| h.expose_secret() != new_secret.expose_secret())
        {
            return Err(SecretsError::TargetHoldsKey {
                location: target.location(),
            }
            .into());
        }
        // The target takes the key before the document is written to it, while the old
        // source still holds the old key; a target already holding another key (which
        // includes the old source under another name) was refused above.
        if held.is_none() {
            self.store_key(target.as_ref(), &new_secret)?;
        }
        let document = match opened {
            Some(Opened { plaintext, .. }) => {
                Some((self.write_encrypted(&new, None, &plaintext)?, plaintext))
            }
            None => None,
        };
        *self.memory() = Memory::default();
        let mut moved = self.clone();
        moved.key_source = target;
        moved.memory = Arc::new(Mutex::new(Memory {
            key: Some((new_secret, new)),
            document,
            verified: true,
        }));
        Ok(moved)
    }

    /// Puts an exported key ([`SecretsStore::export_key`]) back into the source, after
    /// checking that it opens the document. With no document, the source must
    /// hold no key or this one.
    ///
    /// # Errors
    /// [`SecretsError::KeyMismatch`] when `key` does not open the document;
    /// [`SecretsError::TargetHoldsKey`] with no document and another key in the source;
    /// the key source's errors.
    pub fn import_key(&self, key: SecretString) -> Result<(), StoreError> {
        let _guard = self.lock()?;
        let parsed = self.parse_key(self.key_source.kind(), &key)?;
        let held = self.source_key()?;
        match self.read()? {
            Some(read) => {
                self.decrypt_with(&parsed, &read.bytes)?;
            }
            None => {
                if held
                    .as_ref()
                    .is_some_and(|h| h.expose_secret() != key.expose_secret())
                {
                    return Err(SecretsError::TargetHoldsKey {
                        location: self.key_source.location(),
                    }
                    .into());
                }
            }
        }
        if held.is_none_or(|h| h.expose_secret() != key.expose_secret()) {
            self.store_key(self.key_source.as_ref(), &key)?;
        }
        *self.memory() = Memory {
            key: Some((key, parsed)),
            ..Memory::default()
        };
        Ok(())
    }

    // ---- locking, reading, writing ----

    fn lock(&self) -> Result<LockGuard, StoreError> {
        self.locks
            .acquire(
                &LockScope::current(),
                &LockTarget::Store(StoreLock::Secrets),
                self.lock_timeout,
            )
            .map_err(from_lock)
    }

    fn read_lock(&self) -> Result<Option<LockGuard>, StoreError> {
        self.locked_reads.then(|| self.lock()).transpose()
    }

    /// Reads the document's bytes, refusing what is not a regular file, is over the
    /// cap, or belongs to another user. `None` when there is no document.
    fn read(&self) -> Result<Option<atomic::Document>, StoreError> {
        let read = match atomic::read_document(&self.path, self.size_cap) {
            Ok(read) => read,
            Err(atomic::Error::Io { path, source })
                if source.kind() == io::ErrorKind::PermissionDenied =>
            {
                return Err(foreign_owner(&path).unwrap_or(StoreError::Io { path, source }));
            }
            Err(e) => return Err(from_atomic(e, &self.path)),
        };
        if let Some(doc) = &read {
            if let Some(current) = atomic::current_uid()
                && doc.uid != current
            {
                return Err(StoreError::ForeignOwner {
                    path: self.path.clone(),
                    owner: doc.uid,
                    current,
                });
            }
            if doc.mode & 0o077 != 0 {
                tracing::warn!(
                    path = %self.path.display(),
                    mode = format_args!("{:04o}", doc.mode),
                    "the Secrets document is accessible to other users; the next save makes it 0600"
                );
            }
        }
        Ok(read)
    }

    fn memory(&self) -> std::sync::MutexGuard<'_, Memory> {
        self.memory.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn source_key(&self) -> Result<Option<SecretString>, StoreError> {
        load_source(self.key_source.as_ref())
    }

    fn parse_key(&self, kind: KeyKind, secret: &SecretString) -> Result<Key, StoreError> {
        Key::parse(kind, secret)
            .map(|k| k.with_work_factor(self.work_factor))
            .map_err(|reason| {
                SecretsError::KeyInvalid {
                    location: self.key_source.location(),
                    kind,
                    reason,
                }
                .into()
            })
    }

    fn parse_key_at(
        &self,
        source: &dyn KeySource,
        secret: &SecretString,
    ) -> Result<Key, StoreError> {
        Key::parse(source.kind(), secret).map_err(|reason| {
            SecretsError::KeyInvalid {
                location: source.location(),
                kind: source.kind(),
                reason,
            }
            .into()
        })
    }

    fn key_missing(&self) -> StoreError {
        SecretsError::KeyMissing {
            document: self.path.clone(),
            location: self.key_source.location(),
        }
        .into()
    }

    fn new_secret(
        &self,
        kind: KeyKind,
        given: Option<SecretString>,
    ) -> Result<SecretString, StoreError> {
        match given {
            Some(secret) => Ok(secret),
            None => Key::generate(kind).map_err(|e| SecretsError::Random(e.to_string()).into()),
        }
    }

    /// Stores `secret` in `source` and rereads it, so a source that silently dropped
    /// it is caught before anything is encrypted to it.
    fn store_key(&self, source: &dyn KeySource, secret: &SecretString) -> Result<(), StoreError> {
        source.store(secret).map_err(SecretsError::Key)?;
        match load_source(source)? {
            Some(kept) if kept.expose_secret() == secret.expose_secret() => Ok(()),
            _ => Err(SecretsError::KeyNotKept {
                location: source.location(),
            }
            .into()),
        }
    }

    /// Decrypts `bytes` with `key`, mapping every failure to its error.
    fn decrypt_with(&self, key: &Key, bytes: &[u8]) -> Result<Zeroizing<Vec<u8>>, StoreError> {
        key.decrypt(bytes)
            .map_err(|failure| self.decrypt_error(key, failure))
    }

    fn decrypt_error(&self, key: &Key, failure: DecryptFailure) -> StoreError {
        let location = self.key_source.location();
        let document = self.path.clone();
        match failure {
            DecryptFailure::WrongKey { scrypt } => {
                let (found, expected) = match (scrypt, key) {
                    (true, Key::X25519(..)) => (KeyKind::ScryptPassphrase, KeyKind::X25519Identity),
                    (false, Key::Passphrase(..)) => {
                        (KeyKind::X25519Identity, KeyKind::ScryptPassphrase)
                    }
                    _ => return SecretsError::KeyMismatch { document, location }.into(),
                };
                SecretsError::WrongKeyKind {
                    document,
                    location,
                    found,
                    expected,
                }
                .into()
            }
            DecryptFailure::ExcessiveWork { required } => {
                SecretsError::ExcessiveWork { document, required }.into()
            }
            DecryptFailure::Corrupt(reason) => StoreError::CorruptDocument {
                path: document,
                reason,
            },
        }
    }

    /// Decrypts for a read: the remembered plaintext when the file holds exactly the
    /// remembered bytes; else with the remembered key, then (when it no longer opens
    /// the document, e.g. after another process re-keyed) with the source's key.
    fn decrypt_for_read(&self, bytes: Vec<u8>) -> Result<Plaintext, StoreError> {
        let remembered = {
            let memory = self.memory();
            if let Some((ciphertext, plaintext)) = &memory.document
                && *ciphertext == bytes
            {
                return Ok(plaintext.clone());
            }
            memory.key.clone()
        };
        if let Some((secret, key)) = remembered {
            match key.decrypt(&bytes) {
                Ok(plaintext) => return Ok(self.remember(secret, key, bytes, plaintext, false)),
                Err(DecryptFailure::WrongKey { .. }) => {}
                Err(failure) => return Err(self.decrypt_error(&key, failure)),
            }
        }
        let Some(secret) = self.source_key()? else {
            return Err(self.key_missing());
        };
        let key = self.parse_key(self.key_source.kind(), &secret)?;
        let plaintext = self.decrypt_with(&key, &bytes)?;
        Ok(self.remember(secret, key, bytes, plaintext, false))
    }

    /// Remembers a document and the key that opened it (`verified`: under the store
    /// lock, with the key the source held then); returns the shared plaintext.
    fn remember(
        &self,
        secret: SecretString,
        key: Key,
        ciphertext: Vec<u8>,
        plaintext: Zeroizing<Vec<u8>>,
        verified: bool,
    ) -> Plaintext {
        let plaintext = Arc::new(plaintext);
        *self.memory() = Memory {
            key: Some((secret, key)),
            document: Some((ciphertext, plaintext.clone())),
            verified,
        };
        plaintext
    }

    /// Under the store lock: rereads the document and the key, and decrypts. When the
    /// file holds exactly the remembered bytes, the remembered plaintext is reused:
    /// without asking the source if they were verified (see [`Memory::verified`]),
    /// else if the source still holds the key that opened them. `None` when there is
    /// no document. A missing key with a document is an error.
    fn open_locked(&self) -> Result<Option<Opened>, StoreError> {
        let Some(read) = self.read()? else {
            return Ok(None);
        };
        let verified = {
            let memory = self.memory();
            match (&memory.key, &memory.document) {
                (Some((secret, key)), Some((ciphertext, plaintext)))
                    if memory.verified && *ciphertext == read.bytes =>
                {
                    Some(Opened {
                        plaintext: plaintext.clone(),
                        secret: secret.clone(),
                        key: key.clone(),
                    })
                }
                _ => None,
            }
        };
        if verified.is_some() {
            return Ok(verified);
        }
        let Some(secret) = self.source_key()? else {
            return Err(self.key_missing());
        };
        let hit = {
            let memory = self.memory();
            match (&memory.key, &memory.document) {
                (Some((known, key)), Some((ciphertext, plaintext)))
                    if known.expose_secret() == secret.expose_secret()
                        && *ciphertext == read.bytes =>
                {
                    Some((key.clone(), plaintext.clone()))
                }
                _ => None,
            }
        };
        if let Some((key, plaintext)) = hit {
            return Ok(Some(Opened {
                plaintext,
                secret,
                key,
            }));
        }
        let key = self.parse_key(self.key_source.kind(), &secret)?;
        let plaintext = Arc::new(self.decrypt_with(&key, &read.bytes)?);
        Ok(Some(Opened {
            plaintext,
            secret,
            key,
        }))
    }

    /// Under the store lock, with no document: the source's key, created (and stored,
    /// and reread) when the source holds none.
    fn key_for_new_document(&self) -> Result<(SecretString, Key), StoreError> {
        let kind = self.key_source.kind();
        if let Some(secret) = self.source_key()? {
            let key = self.parse_key(kind, &secret)?;
            return Ok((secret, key));
        }
        let secret = self.new_secret(kind, None)?;
        self.store_key(self.key_source.as_ref(), &secret)?;
        tracing::info!(
            location = %self.key_source.location(),
            "created the Secrets store key; back it up (`SecretsStore::export_key`): losing it loses every credential in the document"
        );
        let key = self.parse_key(kind, &secret)?;
        Ok((secret, key))
    }

    fn parse_plain<'a>(&self, plaintext: &'a [u8]) -> Result<Plain<'a>, StoreError> {
        let plain = Plain::parse(plaintext).map_err(|reason| StoreError::CorruptDocument {
            path: self.path.clone(),
            reason: format!("the decrypted document does not parse: {reason}"),
        })?;
        if plain.version > FORMAT_VERSION {
            return Err(StoreError::UnsupportedVersion {
                path: self.path.clone(),
                found: plain.version,
                supported: FORMAT_VERSION,
            });
        }
        Ok(plain)
    }

    /// Encrypts `plaintext` to `key` (and `also`) and replaces the document, creating
    /// its directory 0700 when missing.
    fn write_encrypted(
        &self,
        key: &Key,
        also: Option<&Key>,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, StoreError> {
        let bytes = key
            .encrypt(also, plaintext)
            .map_err(|reason| SecretsError::Encrypt {
                document: self.path.clone(),
                reason,
            })?;
        if bytes.len() as u64 > self.size_cap {
            return Err(StoreError::TooLarge {
                path: self.path.clone(),
                size: bytes.len() as u64,
                cap: self.size_cap,
            });
        }
        if let Some(dir) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            atomic::ensure_private_dir(dir).map_err(|e| from_atomic(e, dir))?;
        }
        atomic::replace(&self.path, &bytes).map_err(|e| from_atomic(e, &self.path))?;
        Ok(bytes)
    }

    /// Writes `plain` (or removes the document when nothing is left) under the lock,
    /// and remembers what was written.
    fn write(&self, secret: SecretString, key: Key, plain: &Plain<'_>) -> Result<(), StoreError> {
        if plain.is_empty() {
            atomic::remove(&self.path).map_err(|e| from_atomic(e, &self.path))?;
            *self.memory() = Memory {
                key: Some((secret, key)),
                ..Memory::default()
            };
            return Ok(());
        }
        let plaintext = plain.to_bytes();
        let ciphertext = self.write_encrypted(&key, None, &plaintext)?;
        self.remember(secret, key, ciphertext, plaintext, true);
        Ok(())
    }

    fn corrupt_entry(&self, key: &StoreKey, reason: String) -> StoreError {
        StoreError::CorruptEntry {
            path: self.path.clone(),
            key: key.clone(),
            reason,
        }
    }
}

/// The map name of `key`'s entry: `global/` + [`StoreKey::secret_name`].
pub fn secret_map_name(key: &StoreKey) -> String {
    format!("global/{}", key.secret_name())
}

fn load_source(source: &dyn KeySource) -> Result<Option<SecretString>, StoreError> {
    source.load().map_err(|e| SecretsError::Key(e).into())
}

/// Parses one entry's raw value (a JSON string holding the record JSON).
fn parse_entry(raw: &str) -> Result<Credential, String> {
    let Some(text) = document::string_value(raw) else {
        return Err("the value is not a JSON string holding a record".to_owned());
    };
    serde_json::from_str::<Credential>(&text).map_err(|e| {
        // The record's own messages name fields only; anything else is described by
        // category and position, never quoting a value.
        let message = e.to_string();
        let message = message
            .rsplit_once(" at line ")
            .map_or(message.as_str(), |(m, _)| m);
        if message.starts_with("field `") || message.starts_with("missing field `") {
            message.to_owned()
        } else {
            oauth_store_core::describe_json_error(&e)
        }
    })
}

impl CredentialStore for SecretsStore {
    fn kind(&self) -> StoreKind {
        StoreKind::Secrets
    }

    /// Checks that a save could be kept now, without writing: the store lock can be
    /// taken, the key source answers (an OS keyring without a session bus, or hung,
    /// fails here) and holds the document's key (or there is no document yet), and the
    /// document's path is usable for an atomic replace.
    ///
    /// # Errors
    /// The key source's errors ([`StoreError::Unavailable`], [`StoreError::Timeout`]),
    /// [`SecretsError::KeyMissing`], [`StoreError::Lock`], [`StoreError::NotARegularFile`],
    /// [`StoreError::Io`].
    fn prepare_save(&self, _key: &StoreKey) -> Result<(), StoreError> {
        let _guard = self.lock()?;
        if self.source_key()?.is_none() && self.path.exists() {
            return Err(self.key_missing());
        }
        atomic::check_replaceable(&self.path).map_err(|e| from_atomic(e, &self.path))
    }

    /// Loads `key`'s record: decrypts the document and parses only that entry.
    ///
    /// # Errors
    /// [`StoreError::CorruptEntry`] when this entry does not parse (other keys still
    /// load); [`StoreError::CorruptDocument`] when the document is not a readable age
    /// file or its plaintext does not parse; [`StoreError::UnsupportedVersion`];
    /// [`StoreError::Backend`] with a [`SecretsError`] for key problems (missing,
    /// mismatched, wrong kind); key-source availability and timeout errors;
    /// [`StoreError::NotARegularFile`], [`StoreError::TooLarge`],
    /// [`StoreError::ForeignOwner`], [`StoreError::Io`].
    fn load(&self, key: &StoreKey) -> Result<Option<Credential>, StoreError> {
        let _guard = self.read_lock()?;
        let Some(read) = self.read()? else {
            return Ok(None);
        };
        let plaintext = self.decrypt_for_read(read.bytes)?;
        let plain = self.parse_plain(&plaintext)?;
        let Some(raw) = plain.get(&secret_map_name(key)) else {
            return Ok(None);
        };
        parse_entry(raw)
            .map(Some)
            .map_err(|reason| self.corrupt_entry(key, reason))
    }

    /// Saves `credential` under `key`: store lock, reread the document and the key
    /// (creating the key when there is neither), decrypt, replace this one entry,
    /// encrypt, durable atomic replace, release.
    ///
    /// # Errors
    /// As [`SecretsStore::load`]; [`StoreError::Lock`]; a document that does not
    /// decrypt or parse is never replaced.
    fn save(&self, key: &StoreKey, credential: &Credential) -> Result<(), StoreError> {
        let text = Zeroizing::new(
            serde_json::to_string(credential).expect("a credential always serializes"),
        );
        let _guard = self.lock()?;
        let opened = self.open_locked()?;
        let (mut plain, secret, key_used) = match &opened {
            Some(Opened {
                plaintext,
                secret,
                key,
            }) => (self.parse_plain(plaintext)?, secret.clone(), key.clone()),
            None => {
                let (secret, key) = self.key_for_new_document()?;
                (Plain::new(), secret, key)
            }
        };
        plain.set(secret_map_name(key), &text);
        self.write(secret, key_used, &plain)
    }

    /// Deletes `key`'s entry under the store lock; removes the document when nothing
    /// is left. Returns whether there was an entry.
    ///
    /// # Errors
    /// As [`SecretsStore::save`].
    fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
        let _guard = self.lock()?;
        let Some(Opened {
            plaintext,
            secret,
            key: key_used,
        }) = self.open_locked()?
        else {
            return Ok(false);
        };
        let mut plain = self.parse_plain(&plaintext)?;
        if !plain.remove(&secret_map_name(key)) {
            return Ok(false);
        }
        self.write(secret, key_used, &plain)?;
        Ok(true)
    }

    /// Every credential entry (`global/MCP_OAUTH_...`), each parsed on its own. The
    /// key of an entry is computed from its record's server name and URL; an entry
    /// that does not parse is listed under its map name (e.g.
    /// `global/MCP_OAUTH_0123...`) with [`StoreError::CorruptEntry`], as is a record
    /// stored under a name that is not its own. Other secrets are not listed.
    ///
    /// # Errors
    /// As [`SecretsStore::load`], for the document as a whole.
    fn list(&self) -> Result<Vec<ListedCredential>, StoreError> {
        let _guard = self.read_lock()?;
        let Some(read) = self.read()? else {
            return Ok(Vec::new());
        };
        let plaintext = self.decrypt_for_read(read.bytes)?;
        let plain = self.parse_plain(&plaintext)?;
        Ok(plain
            .own_entries()
            .map(|(name, raw)| match parse_entry(raw) {
                Ok(record) => {
                    let key = record.store_key();
                    if secret_map_name(&key) == name {
                        ListedCredential::new(key, Ok(record))
                    } else {
                        let raw_key = StoreKey::from_raw(name);
                        let error = self.corrupt_entry(
                            &raw_key,
                            format!("the record is for `{key}`, whose entry name differs"),
                        );
                        ListedCredential::new(raw_key, Err(error))
                    }
                }
                Err(reason) => {
                    let raw_key = StoreKey::from_raw(name);
                    let error = self.corrupt_entry(&raw_key, reason);
                    ListedCredential::new(raw_key, Err(error))
                }
            })
            .collect())
    }
}

/// The [`StoreError`] for an error of [`oauth_lock::atomic`] about `path`.
fn from_atomic(e: atomic::Error, path: &Path) -> StoreError {
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
fn from_lock(e: oauth_lock::Error) -> StoreError {
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
