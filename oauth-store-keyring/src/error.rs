//! The keyring's own failures, as the source of
//! [`StoreError::Backend`](oauth_store_core::StoreError::Backend).
//!
//! Texts are built here from the error's kind, never copied from the keyring crates:
//! keyring-core's `Debug` shows a non-UTF-8 secret's bytes, and platform texts are not
//! ours to vouch for.

use crate::OsStore;

/// A keyring failure that is neither "unusable here" nor a timeout. No variant holds a
/// secret or a text taken from a keyring crate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyringError {
    /// The value does not fit in one entry of the store; nothing was sent to it.
    #[error(
        "the value is {size} bytes as the {store} store encodes it, over its {cap}-byte limit for one entry; nothing was written"
    )]
    TooLarge {
        /// The store.
        store: OsStore,
        /// The value's size in bytes as the store encodes it.
        size: usize,
        /// The store's limit in bytes.
        cap: usize,
    },
    /// More than one entry matches the service and account (e.g. in two Secret Service
    /// collections), so which one is meant is unknown.
    #[error("{count} {store} entries match service `{service}` and account `{account}`")]
    Ambiguous {
        /// The store.
        store: OsStore,
        /// The entries' service.
        service: String,
        /// The entries' account.
        account: String,
        /// How many match.
        count: usize,
    },
    /// The stored value is not UTF-8 text.
    #[error("the {store} entry's value is not UTF-8 text")]
    NotUtf8 {
        /// The store.
        store: OsStore,
    },
    /// The store refused a parameter or value (too long, or invalid).
    #[error("the {store} store refused the {what}")]
    Refused {
        /// The store.
        store: OsStore,
        /// What was refused, as the store names it (e.g. `user`, `secret`).
        what: String,
    },
    /// Any other failure of the store, described by its kind (e.g. a D-Bus error name).
    #[error("{store} store failure: {detail}")]
    Platform {
        /// The store.
        store: OsStore,
        /// The failure's kind, never a value.
        detail: String,
    },
    /// The call panicked inside the keyring worker; the worker dropped its connections
    /// and goes on with the next call.
    #[error("the {store} call panicked inside the keyring worker")]
    Panicked {
        /// The store.
        store: OsStore,
    },
    /// The keyring worker thread could not be started.
    #[error("the keyring worker thread could not be started ({kind})")]
    NoWorker {
        /// The operating system's error kind.
        kind: std::io::ErrorKind,
    },
}
