//! The async face (feature `tokio`): [`AsyncCredentialHandle`], whose operations run the
//! synchronous transaction on a thread of their own and hand the result back through a
//! `tokio::sync::oneshot` channel, except a nothing-due check whose read never waits,
//! answered on the caller's thread. The why is documented on [`AsyncCredentialHandle`]
//! (this module is private).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use oauth_store_core::{Credential, SecretString, StoreKey};
use tokio::sync::oneshot;

use crate::error::{Error, StoreOutcome};
use crate::handle::CredentialHandle;
use crate::resolution::Resolution;
use crate::thresholds::Thresholds;

/// A [`CredentialHandle`] for async callers. Cheap to clone; clones share the handle
/// (and its pinned resolution).
///
/// Every operation that can wait, write or send starts at once on a new thread, when the
/// method is called (not when the returned [`OperationFuture`] is first polled), and runs to
/// completion whatever happens to the [`OperationFuture`]: dropping it, or shutting the
/// runtime down, loses only the result. Callers of one key in one process still share one
/// in-flight refresh (the handle's single-flight works across these threads). Any executor
/// can await a [`OperationFuture`]; no tokio runtime is needed.
///
/// # Nothing due: no thread
/// [`AsyncCredentialHandle::fresh`] and [`AsyncCredentialHandle::refresh_if_needed`],
/// called before every request, are answered on the caller's thread when the method is
/// called, and their future is ready at once, when nothing is due and nothing can wait:
/// the handle is pinned (its first call resolves on a thread), its store's read never
/// waits ([`CredentialStore::load_never_waits`](oauth_store_core::CredentialStore::load_never_waits):
/// the File store, unless its reads take the store lock, as under the codex layout), no
/// rescued copy is to be moved back, and the stored access token is short of both
/// thresholds. That is one read of a local file and of the rescue file's absence: no
/// lock, no write, no request, nothing to run to completion, and no wait for a runtime
/// worker to block on (another process holding the credential lock does not slow it).
/// Everything else (a refresh or adoption due, the keyring or Secrets store, a locked
/// read, a rescued copy, an error) goes to a thread of its own as above, through the same
/// single-flight and credential lock.
///
/// # Why a thread per operation, not an async HTTP client
/// The refresh transaction waits on cross-process locks, reads and writes files and the
/// keyring, and must finish (provider call, then persist) even if its caller stops
/// waiting: by then the provider has rotated the refresh token. A future dropped
/// mid-request, or a runtime shut down, would cancel an async client's request between
/// "rotated" and "saved"; a thread of its own is not cancelled. So the HTTP client of
/// the async face is the blocking one (`HttpRefresher`, feature `http`), on that thread,
/// and no worker thread of the caller's runtime ever blocks on a lock, a file, the
/// keyring or the network. The cost is a thread start per call that needs one (tens of
/// microseconds, milliseconds at p90 on a loaded machine), which the nothing-due calls
/// above do not pay (see `cargo xtask bench refresh`).
///
/// # Limitations
/// A thread outlives a runtime, not the process: call [`wait_for_background`] before
/// the process exits, or a refresh cut off between the provider's answer and the save
/// loses the rotated refresh token.
///
/// ```
/// use std::time::Duration;
/// use oauth_store::{AsyncCredentialHandle, Credential, OAuthStore, StoreMode};
///
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let home = tempfile::tempdir()?;
/// let store = OAuthStore::builder().home(home.path()).mode(StoreMode::File).build()?;
/// let handle = AsyncCredentialHandle::new(store.handle("notion", "https://mcp.notion.com/mcp"));
/// let credential = Credential::builder("notion", "https://mcp.notion.com/mcp", "at-1".to_owned().into())
///     .client_id("client-1")
///     .build();
/// handle.save_grant(credential).await?;
/// let current = handle.refresh_if_needed(Duration::from_secs(30)).await?;
/// assert_eq!(current.client_id, "client-1");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct AsyncCredentialHandle {
    handle: Arc<CredentialHandle>,
}

impl fmt::Debug for AsyncCredentialHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AsyncCredentialHandle")
            .field(&self.handle)
            .finish()
    }
}

impl From<CredentialHandle> for AsyncCredentialHandle {
    fn from(handle: CredentialHandle) -> Self {
        AsyncCredentialHandle::new(handle)
    }
}

impl From<Arc<CredentialHandle>> for AsyncCredentialHandle {
    fn from(handle: Arc<CredentialHandle>) -> Self {
        AsyncCredentialHandle { handle }
    }
}

impl AsyncCredentialHandle {
    /// Wraps a handle ([`crate::OAuthStore::handle`] is synchronous and cheap: it does
    /// no I/O).
    pub fn new(handle: CredentialHandle) -> Self {
        AsyncCredentialHandle {
            handle: Arc::new(handle),
        }
    }

    /// The synchronous handle, shared.
    pub fn sync_handle(&self) -> &Arc<CredentialHandle> {
        &self.handle
    }

    /// The store key (no I/O).
    pub fn key(&self) -> &StoreKey {
        self.handle.key()
    }

    /// The pinned resolution, once the handle has resolved (no I/O).
    pub fn resolution(&self) -> Option<Resolution> {
        self.handle.resolution()
    }

    /// [`CredentialHandle::load`] on a thread of its own.
    pub fn load(&self) -> OperationFuture<Option<Credential>> {
        self.spawn("load", CredentialHandle::load)
    }

    /// [`CredentialHandle::save_grant`] on a thread of its own; completes even if the
    /// [`OperationFuture`] is dropped.
    pub fn save_grant(&self, credential: Credential) -> OperationFuture<Resolution> {
        self.spawn("save_grant", move |h| h.save_grant(credential))
    }

    /// [`CredentialHandle::logout`] on a thread of its own; completes even if the
    /// [`OperationFuture`] is dropped.
    pub fn logout(&self) -> OperationFuture<Vec<StoreOutcome>> {
        self.spawn("logout", CredentialHandle::logout)
    }

    /// [`CredentialHandle::refresh_if_needed`]: a credential whose access token has more
    /// than `min_valid` (the mandatory threshold) left; past the advisory threshold it
    /// refreshes ahead only if the credential lock is free. Nothing due on a store whose
    /// read never waits: answered on the caller's thread, the future ready at once
    /// ([`AsyncCredentialHandle`], "Nothing due: no thread"). Otherwise on a thread of its
    /// own, where the provider call and the persist run to completion even if the
    /// [`OperationFuture`] is dropped or the runtime shuts down.
    pub fn refresh_if_needed(&self, min_valid: Duration) -> OperationFuture<Credential> {
        let thresholds = self.handle.thresholds_with(min_valid);
        self.nothing_due_or_spawn(thresholds, move |h| h.refresh_if_needed(min_valid))
    }

    /// [`CredentialHandle::fresh`]: the credential refreshed as the store's two
    /// thresholds say (advisory: refresh ahead if the credential lock is free, else use
    /// the current token at once; mandatory: wait and refresh, never past the token's
    /// expiry; DESIGN.md "Refresh thresholds"). Nothing due on a store whose read never
    /// waits: answered on the caller's thread, the future ready at once. Otherwise on a
    /// thread of its own, where the provider call and the persist run to completion even
    /// if the [`OperationFuture`] is dropped.
    pub fn fresh(&self) -> OperationFuture<Credential> {
        self.nothing_due_or_spawn(self.handle.inner.thresholds, CredentialHandle::fresh)
    }

    /// [`CredentialHandle::force_refresh`] on a thread of its own; completes even if the
    /// [`OperationFuture`] is dropped.
    pub fn force_refresh(&self) -> OperationFuture<Credential> {
        self.spawn("refresh", CredentialHandle::force_refresh)
    }

    /// [`CredentialHandle::recover_unauthorized`] on a thread of its own: one-shot
    /// recovery after the resource server answered 401 for `rejected_access_token`;
    /// completes even if the [`OperationFuture`] is dropped.
    pub fn recover_unauthorized(
        &self,
        rejected_access_token: &SecretString,
    ) -> OperationFuture<Credential> {
        let rejected = rejected_access_token.clone();
        self.spawn("refresh", move |h| h.recover_unauthorized(&rejected))
    }

    /// The stored credential, ready at once, when nothing is due within `thresholds` and
    /// the read never waits; otherwise `refresh` started on a new thread now. The check
    /// writes nothing, so a caller that stops waiting loses nothing.
    fn nothing_due_or_spawn<F>(
        &self,
        thresholds: Thresholds,
        refresh: F,
    ) -> OperationFuture<Credential>
    where
        F: FnOnce(&CredentialHandle) -> Result<Credential, Error> + Send + 'static,
    {
        match self.handle.nothing_due_without_waiting(thresholds) {
            Some(current) => OperationFuture {
                what: "refresh",
                state: State::Done(Some(Ok(current))),
            },
            None => self.spawn("refresh", refresh),
        }
    }

    /// Starts `op` on a new thread now; the [`OperationFuture`] receives its result.
    fn spawn<T, F>(&self, what: &'static str, op: F) -> OperationFuture<T>
    where
        T: Send + 'static,
        F: FnOnce(&CredentialHandle) -> Result<T, Error> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let handle = Arc::clone(&self.handle);
        let running = Running::start();
        let spawned = std::thread::Builder::new()
            .name(format!("oauth-store-{what}"))
            .spawn(move || {
                let _running = running;
                // The receiver may be gone (the caller stopped waiting): the work is done
                // and saved all the same, only the result is dropped.
                let _ = tx.send(op(&handle));
            });
        match spawned {
            Ok(_) => OperationFuture {
                what,
                state: State::Running(rx),
            },
            Err(e) => OperationFuture {
                what,
                state: State::Done(Some(Err(Error::Config(format!(
                    "could not start a thread for the {what}: {e}"
                ))))),
            },
        }
    }
}

/// The result of an operation started by [`AsyncCredentialHandle`]: a future that
/// resolves when the operation's thread finishes (at once for a nothing-due answer,
/// which needs no thread). Dropping it does not stop the operation.
#[must_use = "the operation runs to completion anyway; dropping this loses only its result"]
pub struct OperationFuture<T> {
    what: &'static str,
    state: State<T>,
}

enum State<T> {
    /// On its thread.
    Running(oneshot::Receiver<Result<T, Error>>),
    /// Answered when the operation was called (nothing due), or its thread did not
    /// start; `None` once taken.
    Done(Option<Result<T, Error>>),
}

impl<T> fmt::Debug for OperationFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OperationFuture")
            .field("operation", &self.what)
            .finish_non_exhaustive()
    }
}

// The result inside is moved out, never pinned or polled itself: an `OperationFuture`
// stays `Unpin` whatever `T` is, as it was when it only held a channel receiver.
impl<T> Unpin for OperationFuture<T> {}

impl<T> Future for OperationFuture<T> {
    type Output = Result<T, Error>;

    /// # Panics
    /// When polled again after it returned `Ready` (as the oneshot receiver does).
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        match &mut this.state {
            State::Running(rx) => match Pin::new(rx).poll(cx) {
                Poll::Ready(Ok(result)) => Poll::Ready(result),
                Poll::Ready(Err(_)) => Poll::Ready(Err(Error::Config(format!(
                    "the {} thread ended without a result (it panicked)",
                    this.what
                )))),
                Poll::Pending => Poll::Pending,
            },
            State::Done(result) => Poll::Ready(result.take().unwrap_or_else(|| {
                Err(Error::Config(format!(
                    "the {} result was already taken",
                    this.what
                )))
            })),
        }
    }
}

/// Operations started by the async face and not yet finished, process-wide.
fn running() -> &'static (Mutex<usize>, Condvar) {
    static RUNNING: OnceLock<(Mutex<usize>, Condvar)> = OnceLock::new();
    RUNNING.get_or_init(Default::default)
}

/// Counts one operation from before its thread starts until the thread ends (a panic
/// included).
struct Running;

impl Running {
    fn start() -> Running {
        *running().0.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        Running
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let (count, done) = running();
        let mut count = count.lock().unwrap_or_else(|e| e.into_inner());
        *count = count.saturating_sub(1);
        done.notify_all();
    }
}

/// How many operations started by any [`AsyncCredentialHandle`] of this process are
/// still running (their callers may have stopped waiting).
pub fn background_operations() -> usize {
    *running().0.lock().unwrap_or_else(|e| e.into_inner())
}

/// Blocks until every operation started by the async face has finished, or `timeout`
/// passed; true when none is left. Call it before the process exits (after the runtime
/// is shut down): threads outlive a runtime, not the process, and a refresh cut off
/// between the provider's answer and the save loses the rotated refresh token.
pub fn wait_for_background(timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    let (count, done) = running();
    let mut count = count.lock().unwrap_or_else(|e| e.into_inner());
    while *count > 0 {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        count = done
            .wait_timeout(count, left)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
    true
}
