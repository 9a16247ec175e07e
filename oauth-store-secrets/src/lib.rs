//! The Secrets credential store: every MCP server's credential in one age-encrypted
//! document (`secrets/mcp_oauth.age` in a home), whose key lives in the OS keyring,
//! a key file, or the caller's hands: encryption at rest without one keyring entry
//! per server.
//!
//! [`SecretsStore`] implements [`CredentialStore`](oauth_store_core::CredentialStore).
//! The document is binary age; its plaintext is the Codex CLI's format,
//! `{"version":1,"secrets":{"global/MCP_OAUTH_<32HEX>":"<record JSON>"}}` (the map
//! name is `global/` + [`StoreKey::secret_name`](oauth_store_core::StoreKey::secret_name),
//! the value the record's JSON as a string).
//!
//! - **The key.** By default an age X25519 identity (`AGE-SECRET-KEY-1...`): reads
//!   and writes cost microseconds, not the second of CPU an scrypt passphrase costs.
//!   A [`KeySource`] keeps it: the OS keyring ([`KeyringKey`], service
//!   [`DEFAULT_KEYRING_SERVICE`], account [`secrets_key_account`]), a key file
//!   ([`KeyFile`], 0600), or a key the caller supplies ([`StaticKey`]). It is created
//!   on the first save, under the Secrets store lock after rereading the source, so
//!   two processes never make two keys; a document whose key is gone is
//!   [`SecretsError::KeyMissing`], never a new key that would orphan it. Losing the
//!   key loses every credential: [`SecretsStore::export_key`] gives it for a backup,
//!   [`SecretsStore::import_key`] puts it back, [`SecretsStore::rekey`] and
//!   [`SecretsStore::rekey_into`] replace it without a moment where the source's key
//!   does not open the document.
//! - **The File store's discipline.** `save` and `delete` take the store lock
//!   ([`oauth_lock`]), reread, decrypt, change one entry, encrypt and replace the
//!   document durably and atomically (0600, its directory 0700). Entries and fields
//!   this version does not recognise are kept. A document that does not decrypt or
//!   parse, or has a newer format version, is a typed error and is never replaced.
//! - **The Codex CLI's document.** Under the codex preset the key is that CLI's age
//!   scrypt passphrase ([`CodexPassphrase`], keyring service
//!   [`CODEX_KEYRING_SERVICE`]), so its users can read, and migrate, what it wrote;
//!   documents are written that way only under that preset.
//!
//! ```
//! use std::sync::Arc;
//! use oauth_store_core::{compute_store_key, Credential, CredentialStore};
//! use oauth_store_secrets::{KeyFile, SecretsStore};
//!
//! let home = tempfile::tempdir()?;
//! let key_file = Arc::new(KeyFile::new(home.path().join("secrets-key.txt")));
//! let store = SecretsStore::in_home(home.path(), key_file)?;
//! let key = compute_store_key("notion", "https://mcp.notion.com/mcp");
//! let record = Credential::builder("notion", "https://mcp.notion.com/mcp", "at-1".to_owned().into())
//!     .refresh_token("rt-1".to_owned().into())
//!     .build();
//! store.save(&key, &record)?;
//! assert_eq!(store.load(&key)?.map(|c| c.server_name), Some("notion".to_owned()));
//! let document = std::fs::read(store.path())?;
//! assert!(!document.windows(4).any(|w| w == b"rt-1"), "no token on disk");
//! assert!(store.export_key()?.is_some(), "the key was made on the first save");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Limitations
//! - Every read decrypts, and every write re-encrypts, the whole document, so costs
//!   grow with the number of entries. With an scrypt passphrase (the codex preset)
//!   each read costs about a second of CPU and each write about two.
//! - A handle remembers its key and the last document it read or wrote (the
//!   plaintext zeroized when dropped) and reuses the decryption while the file holds
//!   exactly those bytes. A write rereads the key source under the lock unless the
//!   file is byte-for-byte what this handle last wrote or opened under the lock: this
//!   crate changes a source's key only after changing the document, so a key replaced
//!   behind its back (by hand, by another tool) is noticed by new handles and by
//!   handles that only read, while a handle that wrote the document keeps writing it
//!   to the key that opens it.
//! - Plaintext buffers are zeroized when dropped, but serde_json and age make
//!   copies that are ordinary memory.
//! - The Codex CLI does not take our lock: a save of ours and one of that CLI can
//!   lose one another's update (it, too, writes by atomic rename, so neither sees a
//!   torn document).
//! - Re-keying a passphrase document in place is refused (age allows an scrypt
//!   recipient only alone, so there is no crash-safe path); re-key it into another
//!   source instead.
//! - The store lock is a `flock`; on NFS it is emulated with POSIX locks, which do not
//!   exclude two users of the store within one process.
//! - [`CredentialStore::list`](oauth_store_core::CredentialStore::list) computes each
//!   key from its record's server name and URL (the map name is a hash); an entry that
//!   does not parse is listed under its map name.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod cipher;
mod document;
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing;
mod key;
mod keyring;
mod store;

pub use oauth_lock;
pub use oauth_store_core;
pub use oauth_store_keyring;

// The public interface is:
pub use document::FORMAT_VERSION;
pub use key::{
    CODEX_KEYRING_SERVICE, CodexPassphrase, DEFAULT_KEYRING_SERVICE, KEY_FILE_SIZE_CAP, KeyError,
    KeyFile, KeyKind, KeySource, StaticKey, secrets_key_account,
};
pub use keyring::KeyringKey;
pub use store::{
    DEFAULT_SIZE_CAP, DOCUMENT_DIR_NAME, DOCUMENT_FILE_NAME, LOCK_DIR_NAME, SecretsError,
    SecretsStore, secret_map_name,
};
