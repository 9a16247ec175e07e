//! The File credential store: every MCP server's credential in one JSON document
//! (`.credentials.json` in a home), shared safely by many processes.
//!
//! [`FileStore`] implements [`CredentialStore`](oauth_store_core::CredentialStore) for a
//! compact JSON object from store key to record, in the Codex CLI's format (DESIGN.md
//! "Record"), so a home can be shared with that CLI.
//!
//! - **No lost updates.** `save` and `delete` take the File store lock
//!   ([`oauth_lock`]), reread the document, change one entry, replace the document
//!   durably and atomically (temp file, fsync, rename, directory fsync), and release.
//!   Two processes saving different servers both keep their entry.
//! - **No torn documents.** Readers see the old or the new document, never a mix, a
//!   shorter token never leaves an old tail, and a crash leaves at most one temp file,
//!   which the next save reuses. The document is written 0600 whatever the umask.
//! - **Nothing unknown is lost.** The document is parsed lazily: each entry stays as
//!   raw JSON until it is asked for, and a save writes every other entry back
//!   byte-exact: fields and entries this version does not know, and entries that do
//!   not parse (each an error for its own key only).
//! - **Bad input is refused, not replaced.** A document that does not parse as a whole
//!   is a [`StoreError::CorruptDocument`](oauth_store_core::StoreError::CorruptDocument)
//!   naming the file, for load and save alike; [`FileStore::repair`] quarantines it and
//!   rebuilds from the entries that parse. Symlinks, directories, FIFOs and sockets at
//!   the path are refused without blocking; documents over the size cap are refused;
//!   a document of another user (a run under sudo) is reported as such.
//!
//! ```
//! use oauth_store_core::{compute_store_key, Credential, CredentialStore};
//! use oauth_store_file::FileStore;
//!
//! let home = tempfile::tempdir()?;
//! let store = FileStore::in_home(home.path())?;
//! let key = compute_store_key("notion", "https://mcp.notion.com/mcp");
//! let record = Credential::builder("notion", "https://mcp.notion.com/mcp", "at-1".to_owned().into())
//!     .refresh_token("rt-1".to_owned().into())
//!     .build();
//! store.save(&key, &record)?;
//! assert_eq!(store.load(&key)?.map(|c| c.server_name), Some("notion".to_owned()));
//! assert!(store.delete(&key)?);
//! assert!(!store.path().exists(), "the last entry gone, the document is removed");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Duplicate keys
//! When a key appears more than once in a document, its last occurrence is the entry,
//! as serde_json and the Codex CLI read it. A save or delete of that key leaves a
//! single entry (at the last occurrence's place) or none; other duplicated keys are
//! written back as they were.
//!
//! # Limitations
//! - The store lock is a `flock`; on NFS it is emulated with POSIX locks, which do not
//!   exclude two users of the store within one process (two processes still exclude
//!   each other). [`FileStore::check`] reports such a home.
//! - The Codex CLI writes the document in place (no temp file), so a reader could see it
//!   half-written: the codex layout sets [`FileStore::with_locked_reads`]. That helps
//!   only as far as that CLI takes the same lock; its own saves are outside this
//!   crate's reach.
//! - A process whose uid is not the document's owner (root included) is refused, for
//!   load and save ([`StoreError::ForeignOwner`](oauth_store_core::StoreError::ForeignOwner)):
//!   a save under sudo would otherwise leave a document the user cannot read. A
//!   container running as root over a user's mounted home meets this too: run it as
//!   the owner's uid.
//! - Documents over the size cap (64 MiB by default) are refused, never read, replaced
//!   or repaired.
//! - An empty (or whitespace-only) file is read as an empty document, since replacing it
//!   loses nothing.
//! - Every save rereads, validates and rewrites the whole document, so its cost grows
//!   with the number of entries: about the raw durable write of the same bytes up to
//!   1,000 entries, about twice it at 10,000 (a 4.8 MB document), as
//!   `cargo bench -p oauth-store-file --bench file` shows.
//! - An entry's key is written back in serde_json's escaping: the same key, perhaps
//!   spelled differently (`\u00e9` becomes `é`). Record texts are kept byte-exact.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod check;
mod document;
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing;
mod repair;
mod store;

pub use oauth_lock;
pub use oauth_store_core;

// The public interface is:
pub use check::FileWarning;
pub use repair::RepairReport;
pub use store::{DEFAULT_SIZE_CAP, DOCUMENT_FILE_NAME, FileStore, LOCK_DIR_NAME};
