//! The credential lock as an interface (DESIGN.md "Locks, order, waiting" and "Many
//! machines"): [`CredentialLocker`] takes the lock a transaction holds across reread ->
//! provider request -> persist, [`CredentialGuard`] holds it, and its [`Fence`] is what
//! the saves of that transaction carry ([`crate::CredentialStore::save_fenced`]).
//!
//! No I/O here: the file lock (the facade's default, `flock` through `oauth-lock`) and a
//! database lock (`oauth-store-postgres`) implement it.

use std::error::Error as StdError;
use std::sync::Arc;
use std::time::Duration;

/// What a save carries to prove that its transaction still holds the credential lock.
///
/// Opaque and comparable: `issuer` names the locker instance that issued it (so a
/// store refuses a fence from another backend's lock), `token` the guard within it.
/// [`Fence::UNFENCED`] is the fence of a lock that cannot be lost while its process
/// lives (the file lock: the OS holds it until the process exits, and then no save of
/// it follows), and of saves outside any transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fence {
    issuer: u64,
    token: u64,
}

impl Fence {
    /// The fence of a lock that cannot be lost (the file lock), or of no lock: a store
    /// saves as [`crate::CredentialStore::save`] does.
    pub const UNFENCED: Fence = Fence {
        issuer: 0,
        token: 0,
    };

    /// A fence issued by the locker `issuer` (not 0) for its guard `token`.
    pub fn new(issuer: u64, token: u64) -> Self {
        Fence { issuer, token }
    }

    /// The locker instance that issued this fence (0: [`Fence::UNFENCED`]).
    pub fn issuer(&self) -> u64 {
        self.issuer
    }

    /// The guard within its locker.
    pub fn token(&self) -> u64 {
        self.token
    }

    /// Whether this is [`Fence::UNFENCED`].
    pub fn is_unfenced(&self) -> bool {
        *self == Fence::UNFENCED
    }
}

/// A held credential lock; dropping it releases the lock.
///
/// Not `Send` by contract: the file lock's guard enters a lock scope on the thread that
/// took it (so the order of locks is checked there), and a transaction runs on one
/// thread.
pub trait CredentialGuard {
    /// The fence the saves of this transaction carry.
    fn fence(&self) -> Fence;

    /// Whether the lock is still held, as far as this guard can tell without waiting
    /// (a database lock whose connection was cut is not). The default: yes.
    ///
    /// # Errors
    /// [`LockError::Lost`] when it is known to be lost.
    fn check(&self) -> Result<(), LockError> {
        Ok(())
    }
}

/// Takes the credential lock of a store key: one holder per key at a time, across
/// every process (and, for a shared backend, every machine) that uses the same locker
/// configuration.
///
/// Synchronous and object-safe, as [`crate::CredentialStore`] is.
pub trait CredentialLocker: Send + Sync {
    /// A short name for logs and `doctor`, e.g. `file` or `postgres`.
    fn name(&self) -> &str;

    /// Takes the lock of `key`, waiting up to `timeout`; a zero `timeout` takes it only
    /// if it is free right now.
    ///
    /// # Errors
    /// [`LockError::Timeout`] (naming the holder when known), [`LockError::Unavailable`]
    /// when the lock service cannot be reached, [`LockError::Backend`] otherwise.
    fn lock(
        &self,
        key: &crate::StoreKey,
        timeout: Duration,
    ) -> Result<Box<dyn CredentialGuard>, LockError>;
}

/// Why a [`CredentialLocker`] did not give a lock, or a guard lost it. No variant holds
/// a token value or a password.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum LockError {
    /// Another holder kept the lock for the whole wait.
    #[error("the {locker} credential lock of `{key}` is held{}; waited {} ms", holder.as_deref().map(|h| format!(" by {h}")).unwrap_or_default(), waited.as_millis())]
    Timeout {
        /// The locker's name.
        locker: String,
        /// The store key.
        key: crate::StoreKey,
        /// How long it waited.
        waited: Duration,
        /// The holder when known (e.g. `host myhost pid 4242`).
        holder: Option<String>,
    },
    /// The lock was held but is no longer (its connection was cut, its session ended):
    /// another holder may have taken it, so nothing may be saved under it.
    #[error(
        "the {locker} credential lock of `{key}` was lost ({reason}); nothing was saved under it"
    )]
    Lost {
        /// The locker's name.
        locker: String,
        /// The store key.
        key: crate::StoreKey,
        /// Why, for a person (never a value).
        reason: String,
    },
    /// The lock service cannot be reached (a database down, refused).
    #[error("the {locker} credential lock is unavailable: {reason}")]
    Unavailable {
        /// The locker's name.
        locker: String,
        /// Why, for a person (never a password or a server's detail text).
        reason: String,
    },
    /// Any other failure of the locker.
    #[error("the {locker} credential lock: {source}")]
    Backend {
        /// The locker's name.
        locker: String,
        /// The error; it must not hold a token value or a password.
        #[source]
        source: Arc<dyn StdError + Send + Sync>,
    },
}
