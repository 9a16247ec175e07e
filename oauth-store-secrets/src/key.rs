//! Where the Secrets document's key lives (DESIGN.md "Layout", Secrets key in the
//! keyring): the [`KeySource`] trait and the sources that need no keyring, a key file
//! ([`KeyFile`]) and a key the caller supplies ([`StaticKey`]), plus the Codex CLI's
//! passphrase mode ([`CodexPassphrase`]).

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use oauth_lock::atomic;
use oauth_store_core::{ExposeSecret, SecretString, sha256_hex};
use secrecy::zeroize::Zeroizing;

/// The keyring service of the Secrets key in the default layout: `oauth-store`.
pub const DEFAULT_KEYRING_SERVICE: &str = "oauth-store";
/// The keyring service of the Secrets key under the codex preset: `codex`.
pub const CODEX_KEYRING_SERVICE: &str = "codex";
/// The largest key file read, in bytes (64 KiB); a larger one is refused.
pub const KEY_FILE_SIZE_CAP: u64 = 64 * 1024;

/// What the key text of a [`KeySource`] is, which decides how the document is
/// encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyKind {
    /// An age X25519 identity, the Bech32 text `AGE-SECRET-KEY-1...`; the document is
    /// encrypted to its public key (age's `X25519` recipient). The default: no key
    /// stretching, so a read or write costs microseconds.
    X25519Identity,
    /// An age scrypt passphrase, the Codex CLI's way (its passphrases are the base64
    /// text of 32 random bytes); each read and write costs about a second of CPU at
    /// age's default work factor.
    ScryptPassphrase,
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyKind::X25519Identity => "an age X25519 identity",
            KeyKind::ScryptPassphrase => "an age scrypt passphrase",
        })
    }
}

/// Where the Secrets document's key is kept: the OS keyring ([`KeyringKey`](crate::KeyringKey), the
/// default), a key file ([`KeyFile`]), or the caller ([`StaticKey`]).
///
/// The store calls [`KeySource::store`] only while it holds the Secrets store lock,
/// after rereading the source with [`KeySource::load`], so two processes never create
/// two keys; a source shared by two homes (two locks) must not be used by both.
/// Implementations never put the key text in an error, a log line or `Debug`.
pub trait KeySource: Send + Sync + fmt::Debug {
    /// What the key text is.
    fn kind(&self) -> KeyKind;

    /// Where the key is, for messages: e.g. `key file /home/u/key.txt` or
    /// `keyring entry oauth-store/secrets|0123456789abcdef`. Two sources with the
    /// same location are the same place.
    fn location(&self) -> String;

    /// The key text, or `None` when the source holds no key (yet).
    ///
    /// # Errors
    /// [`KeyError`] when the source cannot be read; never "no key", which is `Ok(None)`.
    fn load(&self) -> Result<Option<SecretString>, KeyError>;

    /// Stores `key`, replacing any key there. Durable when it returns `Ok`.
    ///
    /// # Errors
    /// [`KeyError`]; [`KeyError::ReadOnly`] for a source that cannot hold a new key.
    fn store(&self, key: &SecretString) -> Result<(), KeyError>;
}

/// Why a key source could not be read or written. Never holds the key text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Reading or writing a key file failed.
    #[error("key file {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::sync::Arc<io::Error>,
    },
    /// Something other than a regular file is at the key file's path; it is refused,
    /// never followed or waited on.
    #[error("key file {}: refused: a {what} is at the path where a regular file belongs", path.display())]
    NotARegularFile {
        /// The path.
        path: PathBuf,
        /// What is there, e.g. `symlink`.
        what: &'static str,
    },
    /// The source holds something that is not one key (e.g. a key file with two key
    /// lines, or none); it is left as it is and no new key is made over it.
    #[error("{location}: {reason}; it is left untouched")]
    Malformed {
        /// Where.
        location: String,
        /// What is wrong, never the text itself.
        reason: String,
    },
    /// The source cannot take a new key (a key the caller supplies).
    #[error("{location} is read-only: it cannot take a new key")]
    ReadOnly {
        /// Where.
        location: String,
    },
    /// The source cannot be used here (no keyring session, locked keyring, access
    /// denied).
    #[error("{location}: unavailable: {reason}")]
    Unavailable {
        /// Where.
        location: String,
        /// Why, for a person.
        reason: String,
    },
    /// A keyring call did not finish within its bound; for a write the outcome is
    /// unknown.
    #[error("{location}: {operation} timed out after {} ms; its outcome is unknown", waited.as_millis())]
    Timeout {
        /// Where.
        location: String,
        /// `load` or `store`.
        operation: &'static str,
        /// How long it was waited for.
        waited: Duration,
    },
    /// Any other failure of the source.
    #[error("{location}: {source}")]
    Backend {
        /// Where.
        location: String,
        /// The source's error; it must not hold the key.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// The keyring account of a home's Secrets key: `secrets|` + the first 16 hex of
/// SHA-256 of the canonical home path (the home as given when it cannot be
/// canonicalized), as the Codex CLI computes it. The service is
/// [`DEFAULT_KEYRING_SERVICE`], or [`CODEX_KEYRING_SERVICE`] under the codex preset.
///
/// ```
/// let account = oauth_store_secrets::secrets_key_account(std::path::Path::new("/nonexistent/home"));
/// assert!(account.starts_with("secrets|") && account.len() == "secrets|".len() + 16);
/// ```
pub fn secrets_key_account(home: &Path) -> String {
    let canonical = home.canonicalize().unwrap_or_else(|_| home.to_owned());
    let hex = sha256_hex(canonical.to_string_lossy().as_bytes());
    format!("secrets|{}", &hex[..16])
}

/// A key kept in a file, created 0600 (its directory 0700 when missing) and replaced
/// atomically ([`oauth_lock::atomic::replace`]).
///
/// The file is an age identity file: lines starting with `#` and blank lines are
/// ignored, and exactly one other line is the key. An X25519 key is written with a
/// `# public key: age1...` comment, so `age -d -i <file>` opens the document too.
#[derive(Debug, Clone)]
pub struct KeyFile {
    path: PathBuf,
    kind: KeyKind,
}

impl KeyFile {
    /// The key file at `path`, holding an X25519 identity.
    pub fn new(path: impl Into<PathBuf>) -> KeyFile {
        KeyFile {
            path: path.into(),
            kind: KeyKind::X25519Identity,
        }
    }

    /// Says what the file's key is (default [`KeyKind::X25519Identity`]).
    pub fn with_kind(mut self, kind: KeyKind) -> KeyFile {
        self.kind = kind;
        self
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl KeySource for KeyFile {
    fn kind(&self) -> KeyKind {
        self.kind
    }

    fn location(&self) -> String {
        format!("key file {}", self.path.display())
    }

    fn load(&self) -> Result<Option<SecretString>, KeyError> {
        let read = atomic::read_document(&self.path, KEY_FILE_SIZE_CAP).map_err(|e| match e {
            atomic::Error::Io { path, source } => KeyError::Io { path, source },
            atomic::Error::NotARegularFile { path, what } => {
                KeyError::NotARegularFile { path, what }
            }
            other => KeyError::Malformed {
                location: self.location(),
                reason: other.to_string(),
            },
        })?;
        let Some(read) = read else {
            return Ok(None);
        };
        if read.mode & 0o077 != 0 {
            tracing::warn!(
                path = %self.path.display(),
                mode = format_args!("{:04o}", read.mode),
                "the Secrets key file is accessible to other users; chmod 600 it"
            );
        }
        let bytes = Zeroizing::new(read.bytes);
        let Ok(text) = std::str::from_utf8(&bytes) else {
            return Err(self.malformed("the file is not UTF-8 text"));
        };
        let mut lines = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'));
        match (lines.next(), lines.next()) {
            (Some(key), None) => Ok(Some(SecretString::from(key.to_owned()))),
            (None, _) => Err(self.malformed("the file holds no key line")),
            (Some(_), Some(_)) => Err(self.malformed("the file holds more than one key line")),
        }
    }

    fn store(&self, key: &SecretString) -> Result<(), KeyError> {
        let text = key.expose_secret();
        if text.is_empty() || text.contains(['\n', '\r']) || text.trim() != text {
            return Err(self.malformed("a key must be one line without surrounding spaces"));
        }
        if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            atomic::ensure_private_dir(parent).map_err(|e| self.atomic_error(e))?;
        }
        let mut content = Zeroizing::new(String::with_capacity(text.len() + 96));
        if self.kind == KeyKind::X25519Identity
            && let Ok(identity) = text.parse::<age::x25519::Identity>()
        {
            content.push_str(&format!("# public key: {}\n", identity.to_public()));
        }
        content.push_str(text);
        content.push('\n');
        atomic::replace(&self.path, content.as_bytes()).map_err(|e| self.atomic_error(e))
    }
}

impl KeyFile {
    fn malformed(&self, reason: &str) -> KeyError {
        KeyError::Malformed {
            location: self.location(),
            reason: reason.to_owned(),
        }
    }

    fn atomic_error(&self, e: atomic::Error) -> KeyError {
        match e {
            atomic::Error::Io { path, source } => KeyError::Io { path, source },
            atomic::Error::NotARegularFile { path, what } => {
                KeyError::NotARegularFile { path, what }
            }
            other => KeyError::Io {
                path: self.path.clone(),
                source: io::Error::other(other.to_string()).into(),
            },
        }
    }
}

/// A key the caller supplies (e.g. from its own secret manager). Read-only: storing
/// any other key is [`KeyError::ReadOnly`], so the store never creates or changes it.
pub struct StaticKey {
    key: SecretString,
    kind: KeyKind,
}

impl StaticKey {
    /// The X25519 identity `key` (`AGE-SECRET-KEY-1...`).
    pub fn new(key: SecretString) -> StaticKey {
        StaticKey {
            key,
            kind: KeyKind::X25519Identity,
        }
    }

    /// Says what the key is (default [`KeyKind::X25519Identity`]).
    pub fn with_kind(mut self, kind: KeyKind) -> StaticKey {
        self.kind = kind;
        self
    }
}

impl fmt::Debug for StaticKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticKey")
            .field("kind", &self.kind)
            .field("key", &oauth_store_core::REDACTED)
            .finish()
    }
}

impl KeySource for StaticKey {
    fn kind(&self) -> KeyKind {
        self.kind
    }

    fn location(&self) -> String {
        "the key supplied by the caller".to_owned()
    }

    fn load(&self) -> Result<Option<SecretString>, KeyError> {
        Ok(Some(self.key.clone()))
    }

    fn store(&self, key: &SecretString) -> Result<(), KeyError> {
        if key.expose_secret() == self.key.expose_secret() {
            Ok(())
        } else {
            Err(KeyError::ReadOnly {
                location: self.location(),
            })
        }
    }
}

/// The Codex CLI's Secrets key: an age scrypt passphrase kept by another source,
/// normally the keyring entry service [`CODEX_KEYRING_SERVICE`], account
/// [`secrets_key_account`] of the Codex home ([`CodexPassphrase::for_home`]).
///
/// Under the codex preset the store reads and writes the document the Codex CLI's
/// way (age scrypt recipient); a new passphrase is, as that CLI makes it, the base64
/// text of 32 random bytes.
#[derive(Debug, Clone)]
pub struct CodexPassphrase {
    inner: Arc<dyn KeySource>,
}

impl CodexPassphrase {
    /// The passphrase kept in `inner` (whatever `inner`'s own kind says).
    pub fn over(inner: Arc<dyn KeySource>) -> CodexPassphrase {
        CodexPassphrase { inner }
    }
}

impl KeySource for CodexPassphrase {
    fn kind(&self) -> KeyKind {
        KeyKind::ScryptPassphrase
    }

    fn location(&self) -> String {
        self.inner.location()
    }

    fn load(&self) -> Result<Option<SecretString>, KeyError> {
        self.inner.load()
    }

    fn store(&self, key: &SecretString) -> Result<(), KeyError> {
        self.inner.store(key)
    }
}
