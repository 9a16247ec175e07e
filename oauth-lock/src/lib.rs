//! Cross-process locks and durable atomic file replacement for oauth-store.
//!
//! Two things every store and the drift sidecar share:
//! - [`LockDir`]: credential, store and sidecar locks (advisory `flock`s on files in a
//!   home's `mcp-oauth-locks/`), taken in a fixed order within a [`LockScope`], with a
//!   timeout whose error names the path, the time waited and the holder's pid.
//! - [`atomic`]: durable atomic replacement of a document, and reads that refuse a
//!   symlink, directory, FIFO or socket without blocking.
//!
//! ```
//! use std::time::Duration;
//! use oauth_lock::{LockDir, LockScope, LockTarget, StoreLock};
//!
//! let home = tempfile::tempdir()?;
//! let locks = LockDir::open(home.path().join("mcp-oauth-locks"))?;
//! let scope = LockScope::new();
//! let credential = locks.acquire(&scope, &LockTarget::credential("srv|0123456789abcdef", "x.lock"), Duration::from_secs(1))?;
//! let store = locks.acquire(&scope, &LockTarget::Store(StoreLock::File), Duration::from_secs(1))?;
//! oauth_lock::atomic::replace(&home.path().join(".credentials.json"), b"{}")?;
//! drop((store, credential));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Why `std::fs::File::lock` and not `fslock`
//! The design card names `fslock`. It cannot meet two requirements: it creates lock
//! files 0644 (ours must be 0600 whatever the umask, with no window), and it opens by
//! path with no way to refuse a symlink planted at the lock path (`O_NOFOLLOW`). Its
//! pid writing truncates the file on unlock, after the next holder may have written
//! to it. `std::fs::File::lock` (stable since Rust 1.89) is the same `flock` on a file
//! we open ourselves; the holder pid comes from `/proc/locks` instead.
//!
//! # Limitations
//! - `flock` on NFS is emulated with POSIX locks, which do not exclude within one
//!   process; [`atomic::is_network_filesystem`] lets `doctor` warn about such a home.
//! - The order check covers locks taken within one [`LockScope`]; two scopes of one
//!   process exclude each other like two processes and are not order-checked together.
//! - A waiter whose timeout passed leaves a helper thread blocked in the kernel until
//!   the holder releases; it then releases at once.
//! - Holder pids are read from `/proc/locks` (Linux); elsewhere they are unknown.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod atomic;
mod lock;

// The public interface is:
pub use lock::{
    DEFAULT_TIMEOUT, EnteredScope, Error, LockDir, LockGuard, LockScope, LockTarget,
    SIDECAR_TIMEOUT, SLOW_WAIT_NOTICE, StoreLock, WaitNotice, holder_pid, set_wait_notice,
};
