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

use std::sync::Arc;

use oauth_lock::{EnteredScope, LockDir, LockGuard, LockScope, LockTarget};
use oauth_store_core::{
    Credential, CredentialGuard, CredentialLocker, Fence, LockError, StoreKey, StoreKind,
};

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
/// on the transaction's thread: the file lock of this home, and, for a store built with
/// [`crate::OAuthStoreBuilder::shared_store`], the shared lock taken after it (DESIGN.md
/// "Locks, order, waiting": file credential lock, shared credential lock, store locks).
#[must_use = "the credential lock is released as soon as this is dropped"]
pub(crate) struct CredentialLock {
    // Field order matters: the shared lock is released first, then the scope is left,
    // then the file lock is released (the reverse of taking them).
    shared: Option<Box<dyn CredentialGuard>>,
    _entered: EnteredScope,
    _guard: LockGuard,
}

impl CredentialLock {
    /// The fence the saves of this transaction carry: the shared lock's, else
    /// [`Fence::UNFENCED`] (a file lock cannot be lost while its process lives).
    pub(crate) fn fence(&self) -> Fence {
        self.shared.as_ref().map_or(Fence::UNFENCED, |g| g.fence())
    }

    /// Whether the shared lock is still held, as far as it can tell at once.
    ///
    /// # Errors
    /// [`Error::SharedLock`] with [`LockError::Lost`] when it is not.
    pub(crate) fn check(&self) -> Result<(), Error> {
        match &self.shared {
            Some(guard) => Ok(guard.check()?),
            None => Ok(()),
        }
    }
}

/// The fence of a transaction's lock, [`Fence::UNFENCED`] when uncoordinated.
pub(crate) fn fence_of(lock: Option<&CredentialLock>) -> Fence {
    lock.map_or(Fence::UNFENCED, CredentialLock::fence)
}

/// The file credential lock (`flock` on `<sha256hex(key)>.lock` in a home's lock
/// directory, DESIGN.md "Locks, order, waiting") as a [`CredentialLocker`]: the default
/// of every [`crate::OAuthStore`], which takes it itself (with typed
/// [`oauth_lock::Error`]s); this type is the same lock for code written against the
/// interface. Its guard enters the lock's scope on the calling thread and its fence is
/// [`Fence::UNFENCED`]: the OS holds a `flock` until the process exits.
#[derive(Debug, Clone)]
pub struct FileCredentialLocker {
    locks: LockDir,
}

impl FileCredentialLocker {
    /// The credential locks of the lock directory `locks`.
    pub fn new(locks: LockDir) -> Self {
        FileCredentialLocker { locks }
    }
}

struct FileGuard {
    // The scope is left before the lock is released.
    _entered: EnteredScope,
    _guard: LockGuard,
}

impl CredentialGuard for FileGuard {
    fn fence(&self) -> Fence {
        Fence::UNFENCED
    }
}

impl CredentialLocker for FileCredentialLocker {
    fn name(&self) -> &str {
        "file"
    }

    fn lock(
        &self,
        key: &StoreKey,
        timeout: Duration,
    ) -> Result<Box<dyn CredentialGuard>, LockError> {
        let (entered, guard) =
            acquire_file_lock(&self.locks, key, timeout).map_err(|e| match e {
                oauth_lock::Error::Timeout {
                    waited, holder_pid, ..
                } => LockError::Timeout {
                    locker: "file".into(),
                    key: key.clone(),
                    waited,
                    holder: holder_pid.map(|p| format!("pid {p}")),
                },
                other => LockError::Backend {
                    locker: "file".into(),
                    source: Arc::new(other),
                },
            })?;
        Ok(Box::new(FileGuard {
            _entered: entered,
            _guard: guard,
        }))
    }
}

/// Takes the file credential lock of `key` in `locks` (zero `timeout`: a try), in the
/// thread's ambient scope, and enters its scope.
fn acquire_file_lock(
    locks: &LockDir,
    key: &StoreKey,
    timeout: Duration,
) -> Result<(EnteredScope, LockGuard), oauth_lock::Error> {
    let scope = LockScope::current();
    let target = LockTarget::credential(key.as_str(), key.credential_lock_file_name());
    let guard = if timeout.is_zero() {
        // A try (refresh ahead): no contention event and no holder lookup, which would
        // cost more than the try itself.
        locks
            .try_acquire(&scope, &target)?
            .ok_or_else(|| oauth_lock::Error::Timeout {
                path: locks.lock_path(&target),
                waited: Duration::ZERO,
                holder_pid: None,
            })?
    } else {
        locks.acquire(&scope, &target, timeout)?
    };
    Ok((scope.enter(), guard))
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
    /// returned at once; [`Error::SharedLock`] from the shared locker.
    pub(crate) fn credential_lock_within(
        self,
        inner: &Inner,
        key: &StoreKey,
        timeout: Duration,
    ) -> Result<Option<CredentialLock>, Error> {
        match self {
            Coordination::Coordinated => {
                let started = Instant::now();
                let (entered, guard) = acquire_file_lock(&inner.locks, key, timeout)?;
                // The shared lock after the file lock: one waiter per machine reaches the
                // shared lock service, and the wait stays within the same bound.
                let shared = match &inner.locker {
                    Some(locker) => {
                        let left = if timeout.is_zero() {
                            Duration::ZERO
                        } else {
                            timeout
                                .saturating_sub(started.elapsed())
                                .max(Duration::from_millis(1))
                        };
                        Some(locker.lock(key, left)?)
                    }
                    None => None,
                };
                Ok(Some(CredentialLock {
                    shared,
                    _entered: entered,
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
