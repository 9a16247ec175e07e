//! The credential lock held for a caller that does the provider work itself
//! ([`LockedCredential`]): an SDK with its own refresh (rmcp's `AuthorizationManager`)
//! holds it across its reread, its token request and its save, and the guard's methods
//! read and write under it without relocking (DESIGN.md "Locks, order, waiting" and
//! "rmcp clients").

use std::fmt;
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use oauth_lock::{LockScope, LockTarget};
use oauth_store_core::{Credential, Fence, TokenResponse};

use crate::error::{AuthorizationReason, Error};
use crate::handle::CredentialHandle;
use crate::layout::LayoutPreset;
use crate::resolution::Resolution;

/// The credential lock of one [`CredentialHandle`], held until dropped, for a caller
/// that talks to the provider itself (DESIGN.md "rmcp clients"). Made by
/// [`CredentialHandle::lock_credential`].
///
/// `Send` and `Sync`: it can be held by one async task while its methods run on other
/// threads (`spawn_blocking`). Each method enters the lock's scope on the thread it runs
/// on, so the stores' own locks are checked against the credential lock (a wrong order
/// is an error at once), while other threads and tasks of the process, which have not
/// entered it, wait for the lock like other processes. Methods run one at a time.
///
/// The lock itself is held by a thread of its own (a lock's scope is entered on the
/// thread that took it and must be left there); dropping the guard ends that thread and
/// so releases the lock before `drop` returns.
#[must_use = "the credential lock is released as soon as the guard is dropped"]
pub struct LockedCredential {
    handle: Arc<CredentialHandle>,
    /// The scope holding the credential lock; `None` when coordination is off.
    scope: Option<LockScope>,
    /// The fence every save under this lock carries (a shared lock's generation;
    /// unfenced for the file lock alone).
    fence: Fence,
    /// One method at a time: two at once would take the same store lock in one scope.
    serial: Mutex<()>,
    holder: Option<Holder>,
}

/// The thread holding the lock, and the channel whose closing releases it.
struct Holder {
    release: mpsc::Sender<()>,
    thread: JoinHandle<()>,
}

impl fmt::Debug for LockedCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockedCredential")
            .field("key", &self.handle.key)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl Drop for LockedCredential {
    fn drop(&mut self) {
        if let Some(Holder { release, thread }) = self.holder.take() {
            drop(release);
            // The holder only drops its lock when the channel closes: joining it makes
            // the release happen before the next waiter (of this process) is let in.
            let _ = thread.join();
        }
    }
}

impl CredentialHandle {
    /// The store's lock timeout ([`crate::OAuthStoreBuilder::lock_timeout`], 60 s by
    /// default): how long a transaction waits for the credential lock.
    pub fn lock_timeout(&self) -> Duration {
        self.inner.lock_timeout
    }

    /// The credential lock file of this handle's key
    /// (`<lock dir>/<sha256 hex of the key>.lock`, DESIGN.md "Identity").
    pub fn credential_lock_path(&self) -> PathBuf {
        self.inner.locks.lock_path(&LockTarget::credential(
            self.key.as_str(),
            self.key.credential_lock_file_name(),
        ))
    }

    /// The server name and URL this handle was made for by
    /// [`crate::OAuthStore::handle`]; `None` for a handle made from a key alone
    /// ([`crate::OAuthStore::handle_for_key`]).
    pub fn server(&self) -> Option<(&str, &str)> {
        self.server
            .as_ref()
            .map(|(name, url)| (name.as_str(), url.as_str()))
    }

    /// Takes this credential's lock (DESIGN.md "Locks, order, waiting"), waiting up to
    /// `timeout`, for a caller that does the provider request itself and reads and
    /// writes under the lock through the returned [`LockedCredential`]. Blocks the
    /// calling thread while it waits: async callers call it on a blocking thread.
    ///
    /// The lock is taken in the calling thread's ambient lock scope, so taking it while
    /// this thread already holds it (or a store lock) is an error at once, never a wait
    /// on oneself.
    ///
    /// # Errors
    /// [`Error::Lock`]: a timeout naming the lock file and its holder's pid, or an order
    /// or re-entry violation; [`Error::Config`] when no thread can be started.
    pub fn lock_credential(self: &Arc<Self>, timeout: Duration) -> Result<LockedCredential, Error> {
        let caller = LockScope::current();
        let handle = Arc::clone(self);
        let (ready_tx, ready_rx) = mpsc::channel();
        let (release, released) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("oauth-store-credential-lock".to_owned())
            .spawn(move || {
                // The caller's scope, so that nesting is checked as if it took the lock.
                let _caller = caller.enter();
                let inner = &*handle.inner;
                match inner
                    .coordination
                    .credential_lock_within(inner, &handle.key, timeout)
                {
                    Ok(lock) => {
                        let scope = lock.as_ref().map(|_| LockScope::current());
                        let fence = crate::coordination::fence_of(lock.as_ref());
                        if ready_tx.send(Ok((scope, fence))).is_ok() {
                            // Until the guard is dropped (the sender closes).
                            let _ = released.recv();
                        }
                        drop(lock);
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            })
            .map_err(|e| {
                Error::Config(format!("could not start the credential lock's thread: {e}"))
            })?;
        let (scope, fence) = match ready_rx.recv() {
            Ok(result) => result?,
            Err(_) => {
                let _ = thread.join();
                return Err(Error::Config(
                    "the credential lock's thread ended without a result (it panicked)".into(),
                ));
            }
        };
        Ok(LockedCredential {
            handle: Arc::clone(self),
            scope,
            fence,
            serial: Mutex::new(()),
            holder: Some(Holder { release, thread }),
        })
    }
}

impl LockedCredential {
    /// The handle whose credential lock this is.
    pub fn handle(&self) -> &Arc<CredentialHandle> {
        &self.handle
    }

    /// Runs `op` with the lock's scope entered on this thread, one at a time.
    fn run<T>(&self, op: impl FnOnce(&CredentialHandle) -> Result<T, Error>) -> Result<T, Error> {
        let _serial = self.serial.lock().unwrap_or_else(|e| e.into_inner());
        let _entered = self.scope.as_ref().map(LockScope::enter);
        op(&self.handle)
    }

    /// The authoritative reread under the lock (DESIGN.md "Auto resolution": every
    /// store of the layout, the newest copy by `updated_at` wins); `None` when nothing
    /// is stored. What a refresh must start from: no other process can change it while
    /// the guard is held.
    ///
    /// # Errors
    /// [`Error::Store`] of the reread.
    pub fn load(&self) -> Result<Option<Credential>, Error> {
        self.run(|handle| {
            Ok(handle
                .inner
                .coordination
                .reread(handle, None)?
                .map(|(credential, _)| credential))
        })
    }

    /// Saves the answer of a refresh (RFC 6749 section 6) the caller made with the
    /// stored refresh token: merged into the stored record as the facade's own refresh
    /// does (DESIGN.md "Refresh transaction", step 5: the refresh token, scopes, client
    /// secret and unknown fields are kept when the response omits them; `expires_in`
    /// counts from now), stamped, and persisted (with the retries and the rescue of
    /// DESIGN.md "Persist rescue") before this returns. Returns the saved record.
    ///
    /// # Errors
    /// [`Error::AuthorizationRequired`] when nothing is stored (nothing to merge into);
    /// [`Error::PersistFailed`] carrying the new credential when no store keeps it;
    /// [`Error::Store`].
    pub fn save_refreshed(&self, response: &TokenResponse) -> Result<Credential, Error> {
        self.run(|handle| {
            let inner = &*handle.inner;
            let Some((stored, from)) = inner.coordination.reread(handle, None)? else {
                return Err(Error::AuthorizationRequired {
                    key: handle.key.clone(),
                    reason: AuthorizationReason::NothingStored,
                });
            };
            let mut fresh = stored;
            fresh.apply_token_response(response, inner.clock.now_ms());
            fresh.updated_at = Some(inner.clock.now_ms());
            let target = handle.save_target(handle.resolution().map(|p| p.store), from)?;
            handle.persist(&fresh, target, None, &self.fence)?;
            Ok(fresh)
        })
    }

    /// Saves a new grant (a login's token response, built into `credential` by the
    /// caller) under the held lock: [`CredentialHandle::save_grant`] without taking the
    /// lock again. Tokens are replaced, never merged.
    ///
    /// # Errors
    /// As [`CredentialHandle::save_grant`], without the lock errors.
    pub fn save_grant(&self, credential: Credential) -> Result<Resolution, Error> {
        self.run(|handle| handle.save_grant_locked(credential, &self.fence))
    }

    /// Drops the stored tokens, keeping the client registration (DESIGN.md "Refresh
    /// transaction": what a rejected grant does; the codex layout removes the entry, as
    /// that CLI expects), only if a stored record with tokens satisfies `still` (compare,
    /// then clear, under the lock: a newer login saved by another process is never
    /// wiped). Returns whether the tokens were dropped.
    ///
    /// # Errors
    /// [`Error::Store`]; [`Error::PersistFailed`].
    pub fn drop_tokens_if(&self, still: impl FnOnce(&Credential) -> bool) -> Result<bool, Error> {
        self.run(|handle| {
            let inner = &*handle.inner;
            let Some((current, from)) = inner.coordination.reread(handle, None)? else {
                return Ok(false);
            };
            if !current.has_tokens() || !still(&current) {
                return Ok(false);
            }
            if inner.layout.preset() == LayoutPreset::Codex {
                for (_, store) in inner.stores() {
                    store.delete_fenced(&handle.key, &self.fence)?;
                }
            } else {
                let mut dropped = current;
                dropped.drop_tokens();
                dropped.updated_at = Some(inner.clock.now_ms());
                let target = handle.save_target(handle.resolution().map(|p| p.store), from)?;
                handle.persist(&dropped, target, None, &self.fence)?;
            }
            tracing::warn!(target: "oauth_store::refresh", key = %handle.key, "dropped the stored tokens; the client registration is kept");
            Ok(true)
        })
    }
}
