//! How the transactions coordinate (DESIGN.md "Locks, order, waiting" and "Refresh
//! transaction", steps 1, 2 and 5), chosen once when the store is built.
//!
//! [`Coordination::Coordinated`] is the only choice of a normal build: in-process
//! single-flight, the credential lock (taken in a [`LockScope`] that the transaction
//! enters on its thread, so the stores' own locks are checked against it), the
//! authoritative every-store reread, and the removal of older copies after a save. The
//! uncoordinated variant, which turns all of that off, exists only with the
//! `dangerous-uncoordinated` feature (the demo's door).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use oauth_lock::{EnteredScope, LockGuard, LockScope, LockTarget};
use oauth_store_core::{Credential, StoreKey, StoreKind};

use crate::error::Error;
use crate::handle::CredentialHandle;
use crate::single_flight;
use crate::store::Inner;

/// How a store's transactions coordinate; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Coordination {
    /// Everything DESIGN.md asks for.
    Coordinated,
    /// Nothing: no credential lock, no reread (the caller's copy is trusted, as naive
    /// clients do), no sharing, older copies left behind. Replays rotated refresh
    /// tokens under concurrency, by design.
    #[cfg(feature = "dangerous-uncoordinated")]
    Uncoordinated,
}

/// The credential lock of one transaction, held until dropped, with its scope entered
/// on the transaction's thread.
#[must_use = "the credential lock is released as soon as this is dropped"]
pub(crate) struct CredentialLock {
    // Field order matters: the scope is left before the lock is released.
    _entered: EnteredScope,
    _guard: LockGuard,
}

impl Coordination {
    /// Runs `transaction` for `key` of `inner`, shared with the callers of the same key
    /// in this process when coordinated; a caller that joins another's transaction stops
    /// waiting at `deadline` ([`Error::ExpiredWhileWaiting`]).
    pub(crate) fn share(
        self,
        inner: &Inner,
        key: &StoreKey,
        deadline: Option<Instant>,
        transaction: impl FnOnce() -> Result<Credential, Error>,
    ) -> Result<Credential, Error> {
        match self {
            Coordination::Coordinated => {
                let id: (PathBuf, StoreKey) = (inner.locks.path().to_owned(), key.clone());
                single_flight::share(&id, deadline, transaction)
            }
            #[cfg(feature = "dangerous-uncoordinated")]
            Coordination::Uncoordinated => {
                let _ = deadline;
                transaction()
            }
        }
    }

    /// Runs `transaction` for `key` of `inner` only if no other caller of the key in this
    /// process is in one (refresh ahead never joins or waits); `None` when one is.
    pub(crate) fn try_share(
        self,
        inner: &Inner,
        key: &StoreKey,
        transaction: impl FnOnce() -> Result<Credential, Error>,
    ) -> Option<Result<Credential, Error>> {
        match self {
            Coordination::Coordinated => {
                let id: (PathBuf, StoreKey) = (inner.locks.path().to_owned(), key.clone());
                single_flight::try_share(&id, transaction)
            }
            #[cfg(feature = "dangerous-uncoordinated")]
            Coordination::Uncoordinated => Some(transaction()),
        }
    }

    /// Takes the credential lock of `key`, waiting up to the store's lock timeout; see
    /// [`Coordination::credential_lock_within`].
    ///
    /// # Errors
    /// As [`Coordination::credential_lock_within`].
    pub(crate) fn credential_lock(
        self,
        inner: &Inner,
        key: &StoreKey,
    ) -> Result<Option<CredentialLock>, Error> {
        self.credential_lock_within(inner, key, inner.lock_timeout)
    }

    /// Takes the credential lock of `key` (DESIGN.md "Locks, order, waiting"), waiting up
    /// to `timeout` (zero: only if it is free right now), in the thread's ambient scope
    /// when the caller is inside another transaction (so nesting is checked), and enters
    /// its scope for the transaction.
    ///
    /// # Errors
    /// [`Error::Lock`]: a timeout naming the holder, or an order or re-entry violation
    /// returned at once.
    pub(crate) fn credential_lock_within(
        self,
        inner: &Inner,
        key: &StoreKey,
        timeout: Duration,
    ) -> Result<Option<CredentialLock>, Error> {
        match self {
            Coordination::Coordinated => {
                let scope = LockScope::current();
                let target = LockTarget::credential(key.as_str(), key.credential_lock_file_name());
                let guard = if timeout.is_zero() {
                    // A try (refresh ahead): no contention event and no holder lookup,
                    // which would cost more than the try itself.
                    inner.locks.try_acquire(&scope, &target)?.ok_or_else(|| {
                        Error::Lock(oauth_lock::Error::Timeout {
                            path: inner.locks.lock_path(&target),
                            waited: Duration::ZERO,
                            holder_pid: None,
                        })
                    })?
                } else {
                    inner.locks.acquire(&scope, &target, timeout)?
                };
                Ok(Some(CredentialLock {
                    _entered: scope.enter(),
                    _guard: guard,
                }))
            }
            #[cfg(feature = "dangerous-uncoordinated")]
            Coordination::Uncoordinated => {
                let _ = timeout;
                Ok(None)
            }
        }
    }

    /// Step 2, the reread: the stored credential a transaction works from, and the store
    /// it came from. Coordinated: every store of the layout, newest copy wins (the
    /// caller's copy is only a hint). `None` when nothing is stored.
    ///
    /// # Errors
    /// Store errors of the reread.
    pub(crate) fn reread(
        self,
        handle: &CredentialHandle,
        hint: Option<&Credential>,
    ) -> Result<Option<(Credential, StoreKind)>, Error> {
        let pinned = handle.resolution().map(|p| p.store);
        match self {
            Coordination::Coordinated => {
                let _ = hint;
                handle.inner.authoritative_read(&handle.key, pinned)
            }
            #[cfg(feature = "dangerous-uncoordinated")]
            Coordination::Uncoordinated => match hint {
                Some(h) => Ok(Some((
                    h.clone(),
                    pinned.unwrap_or_else(|| handle.inner.file.kind()),
                ))),
                None => {
                    let (resolution, found) = handle.resolve()?;
                    Ok(found.map(|c| (c, resolution.store)))
                }
            },
        }
    }

    /// The reread after the provider rejected the grant that came from `from`: what
    /// decides between dropping the tokens and adopting a newer copy.
    ///
    /// # Errors
    /// Store errors of the reread.
    pub(crate) fn reread_after_rejection(
        self,
        handle: &CredentialHandle,
        from: StoreKind,
    ) -> Result<Option<(Credential, StoreKind)>, Error> {
        match self {
            Coordination::Coordinated => handle.inner.authoritative_read(&handle.key, Some(from)),
            #[cfg(feature = "dangerous-uncoordinated")]
            Coordination::Uncoordinated => Ok(handle
                .inner
                .store(from)?
                .load(&handle.key)?
                .map(|c| (c, from))),
        }
    }

    /// After a save to `kept`: removes older copies elsewhere when coordinated (so a
    /// process that cannot reach `kept` finds nothing stale to replay).
    pub(crate) fn after_save(self, inner: &Inner, key: &StoreKey, kept: StoreKind) {
        match self {
            Coordination::Coordinated => inner.remove_other_copies(key, kept),
            #[cfg(feature = "dangerous-uncoordinated")]
            Coordination::Uncoordinated => {}
        }
    }
}
