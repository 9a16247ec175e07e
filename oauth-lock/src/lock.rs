//! Cross-process locks with a documented order (DESIGN.md "Locks, order, waiting").
//!
//! Three ranks: a credential lock per store key (held across reread, provider request
//! and persist), a store lock per aggregate document (held across a local
//! read-modify-write only), and the sidecar lock (best effort). Within a [`LockScope`]
//! locks must be taken credential, then store, then sidecar; within a rank by key
//! bytes (credentials) or File before Secrets (stores). A wrong order or re-entry is
//! an error returned at once. The scope travels inside every guard, so the check
//! holds when guards move across threads (async tasks, `spawn_blocking`).

use std::fmt;
use std::fs::{File, OpenOptions, Permissions, TryLockError};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::atomic;

/// The default time to wait for a credential or store lock: 60 s.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// The sidecar lock's bound: 250 ms.
pub const SIDECAR_TIMEOUT: Duration = Duration::from_millis(250);
/// After this long a waiter is reported once through the wait-notice hook: 1 s.
pub const SLOW_WAIT_NOTICE: Duration = Duration::from_secs(1);

/// Why a lock could not be taken. `Clone` (the OS error is behind an `Arc`), so that
/// callers sharing one operation see the same error.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Another holder kept the lock past the timeout.
    #[error("timed out after {} ms waiting for the lock {}{}", waited.as_millis(), path.display(), holder_suffix(*holder_pid))]
    Timeout {
        /// The lock file.
        path: PathBuf,
        /// How long this call waited.
        waited: Duration,
        /// The holder's process id, when the OS tells (`/proc/locks` on Linux).
        holder_pid: Option<u32>,
    },
    /// The lock would be taken out of order within its scope (DESIGN.md: credential,
    /// then store, then sidecar; by key bytes within a rank), which could deadlock.
    #[error("lock order violation: {requested} requested while {held} is held")]
    OrderViolation {
        /// The lock asked for.
        requested: String,
        /// The held lock that must come after it.
        held: String,
    },
    /// The scope already holds this lock; taking it again would wait forever.
    #[error("re-entry: the lock {} is already held in this scope", path.display())]
    Reentry {
        /// The lock file.
        path: PathBuf,
    },
    /// The lock file or its directory could not be opened or created.
    #[error("lock {}: {source}", path.display())]
    Io {
        /// The lock file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: Arc<io::Error>,
    },
    /// Something other than a regular file is at the lock file's path.
    #[error("lock {}: refused: a {what} is where the lock file belongs", path.display())]
    NotARegularFile {
        /// The path.
        path: PathBuf,
        /// What is there.
        what: &'static str,
    },
    /// Something other than a directory (a symlink, a regular file) is where the lock
    /// directory belongs; a symlink is never followed.
    #[error("lock directory {}: refused: a {what} is where the lock directory belongs", path.display())]
    NotADirectory {
        /// The path of the lock directory.
        path: PathBuf,
        /// What is there, e.g. `symlink`.
        what: &'static str,
    },
    /// The lock file belongs to another user (often a run under sudo).
    #[error("lock {}: owned by uid {owner}, but this process runs as uid {current} (a run under sudo?)", path.display())]
    ForeignOwner {
        /// The lock file.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// This process's uid.
        current: u32,
    },
}

fn holder_suffix(pid: Option<u32>) -> String {
    pid.map(|p| format!(" (held by pid {p})"))
        .unwrap_or_default()
}

/// Which store document a store lock guards. File comes before Secrets in the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StoreLock {
    /// `file-store.lock`, for `.credentials.json`.
    File,
    /// `secrets-store.lock`, for `secrets/mcp_oauth.age`.
    Secrets,
}

/// A lock to take, with its place in the order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockTarget {
    /// The credential transaction lock of one store key.
    Credential {
        /// The store key's bytes: the order within the rank.
        order_key: Vec<u8>,
        /// The lock file's name (`<sha256 hex of the key>.lock`).
        file_name: String,
    },
    /// The store lock of one aggregate document.
    Store(StoreLock),
    /// The drift sidecar's lock (`resolution-state.lock`).
    Sidecar,
}

impl LockTarget {
    /// A credential lock for `store_key`, whose lock file is `file_name`.
    pub fn credential(store_key: &str, file_name: impl Into<String>) -> Self {
        LockTarget::Credential {
            order_key: store_key.as_bytes().to_vec(),
            file_name: file_name.into(),
        }
    }

    /// The lock file's name inside the lock directory.
    pub fn file_name(&self) -> &str {
        match self {
            LockTarget::Credential { file_name, .. } => file_name,
            LockTarget::Store(StoreLock::File) => "file-store.lock",
            LockTarget::Store(StoreLock::Secrets) => "secrets-store.lock",
            LockTarget::Sidecar => "resolution-state.lock",
        }
    }

    /// `credential`, `store` or `sidecar`: the `kind` field of the contention event.
    pub fn kind(&self) -> &'static str {
        match self {
            LockTarget::Credential { .. } => "credential",
            LockTarget::Store(_) => "store",
            LockTarget::Sidecar => "sidecar",
        }
    }

    fn rank(&self) -> (u8, Vec<u8>) {
        match self {
            LockTarget::Credential { order_key, .. } => (0, order_key.clone()),
            LockTarget::Store(s) => (1, vec![*s as u8]),
            LockTarget::Sidecar => (2, Vec::new()),
        }
    }

    fn describe(&self) -> String {
        match self {
            LockTarget::Credential { order_key, .. } => {
                format!("credential lock `{}`", String::from_utf8_lossy(order_key))
            }
            LockTarget::Store(StoreLock::File) => "File store lock".to_owned(),
            LockTarget::Store(StoreLock::Secrets) => "Secrets store lock".to_owned(),
            LockTarget::Sidecar => "sidecar lock".to_owned(),
        }
    }
}

/// What a waiter reports once after [`SLOW_WAIT_NOTICE`]; see [`set_wait_notice`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WaitNotice {
    /// `credential`, `store` or `sidecar`.
    pub kind: &'static str,
    /// The lock file.
    pub path: PathBuf,
    /// The holder's pid, when known.
    pub holder_pid: Option<u32>,
    /// How long the waiter has waited so far.
    pub waited: Duration,
}

type NoticeHook = Box<dyn Fn(&WaitNotice) + Send + Sync>;
static WAIT_NOTICE: OnceLock<NoticeHook> = OnceLock::new();

/// Installs, once per process, what to do when a lock wait passes about 1 s (a CLI
/// prints what it waits for, as cargo does). Returns false if a hook was already set.
pub fn set_wait_notice(hook: impl Fn(&WaitNotice) + Send + Sync + 'static) -> bool {
    WAIT_NOTICE.set(Box::new(hook)).is_ok()
}

#[derive(Debug)]
struct Held {
    id: u64,
    rank: (u8, Vec<u8>),
    description: String,
}

/// The set of locks one logical operation holds, for the order and re-entry checks.
///
/// Clone it to share; each guard keeps it alive, so the check holds wherever the
/// guards travel. Independent operations (two threads, two tasks) use two scopes and
/// exclude each other like two processes.
#[derive(Clone, Default)]
pub struct LockScope(Arc<Mutex<Vec<Held>>>);

impl fmt::Debug for LockScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let held = self.0.lock().unwrap_or_else(|e| e.into_inner());
        f.debug_list()
            .entries(held.iter().map(|h| &h.description))
            .finish()
    }
}

impl LockScope {
    /// A scope holding nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many locks the scope holds.
    pub fn held(&self) -> usize {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Makes this scope the current thread's ambient scope until the returned guard is
    /// dropped (the previous one, if any, is current again then).
    ///
    /// A transaction enters its scope so that every lock taken on its thread while it
    /// runs, by code that does not know about the transaction (a store's own store
    /// lock), is checked against what the transaction holds: re-entry or a wrong order
    /// is then an error at once instead of a wait on oneself until the timeout.
    pub fn enter(&self) -> EnteredScope {
        let previous = AMBIENT.with(|a| a.replace(Some(self.clone())));
        EnteredScope {
            previous,
            _not_send: std::marker::PhantomData,
        }
    }

    /// The current thread's ambient scope ([`LockScope::enter`]), or a new empty one
    /// when none is entered. Stores take their locks in it.
    pub fn current() -> Self {
        AMBIENT.with(|a| a.borrow().clone()).unwrap_or_default()
    }
}

thread_local! {
    /// The scope entered on this thread, if any.
    static AMBIENT: std::cell::RefCell<Option<LockScope>> = const { std::cell::RefCell::new(None) };
}

/// Keeps a [`LockScope`] entered on the current thread; see [`LockScope::enter`].
///
/// Not `Send`: it must be dropped on the thread that entered the scope.
#[must_use = "the scope stops being the thread's ambient scope as soon as this is dropped"]
pub struct EnteredScope {
    previous: Option<LockScope>,
    _not_send: std::marker::PhantomData<*const ()>,
}

impl fmt::Debug for EnteredScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnteredScope").finish_non_exhaustive()
    }
}

impl Drop for EnteredScope {
    fn drop(&mut self) {
        let previous = self.previous.take();
        // try_with: during thread teardown the slot may be gone, and then so is the scope.
        let _ = AMBIENT.try_with(|a| *a.borrow_mut() = previous);
    }
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A held lock. Dropping it releases the lock (also during a panic); the OS releases
/// it if the process dies.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard {
    _file: File,
    scope: LockScope,
    id: u64,
    path: PathBuf,
}

impl fmt::Debug for LockGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockGuard")
            .field("path", &self.path)
            .finish()
    }
}

impl LockGuard {
    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        let mut held = self.scope.0.lock().unwrap_or_else(|e| e.into_inner());
        held.retain(|h| h.id != self.id);
        // The file closes after this, which releases the flock.
    }
}

/// The lock directory of a home (`mcp-oauth-locks/`, 0700), where every lock file lives.
#[derive(Debug, Clone)]
pub struct LockDir {
    dir: PathBuf,
}

enum WaitState {
    Waiting,
    Acquired(File),
    Failed(io::Error),
    Abandoned,
}

impl LockDir {
    /// Opens (creating 0700 when missing) the lock directory `dir`.
    ///
    /// A symlink at `dir` is refused, as a symlink at a document's path is: followed,
    /// it would put every lock file in a directory chosen by whoever planted it.
    ///
    /// # Errors
    /// [`Error::NotADirectory`] when a symlink, a regular file or anything else but a
    /// directory is at `dir`; [`Error::Io`] when it cannot be created.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, Error> {
        let dir = dir.into();
        if let Ok(meta) = std::fs::symlink_metadata(&dir) {
            let file_type = meta.file_type();
            let what = if file_type.is_symlink() {
                Some("symlink")
            } else if file_type.is_file() {
                Some("regular file")
            } else if !file_type.is_dir() {
                Some("FIFO, socket or device")
            } else {
                None
            };
            if let Some(what) = what {
                return Err(Error::NotADirectory { path: dir, what });
            }
        }
        atomic::ensure_private_dir(&dir).map_err(|e| match e {
            atomic::Error::Io { path, source } => Error::Io { path, source },
            other => Error::Io {
                path: dir.clone(),
                source: io::Error::other(other.to_string()).into(),
            },
        })?;
        Ok(LockDir { dir })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The path of `target`'s lock file.
    pub fn lock_path(&self, target: &LockTarget) -> PathBuf {
        self.dir.join(target.file_name())
    }

    /// Takes `target` within `scope`, waiting up to `timeout`.
    ///
    /// Tries once without blocking; on contention emits one `tracing` debug event
    /// (target `oauth_lock::contention`, fields `kind`, `path`, `holder_pid`) and
    /// blocks in the kernel, so the waiter wakes as soon as the holder releases. After
    /// about 1 s of waiting the hook of [`set_wait_notice`] is called once.
    ///
    /// # Errors
    /// [`Error::OrderViolation`] or [`Error::Reentry`] at once; [`Error::Timeout`]
    /// naming the path, the wait and the holder pid; I/O and file-type errors.
    pub fn acquire(
        &self,
        scope: &LockScope,
        target: &LockTarget,
        timeout: Duration,
    ) -> Result<LockGuard, Error> {
        // With a timeout, `take` waits or fails: never `None`.
        self.take(scope, target, Some(timeout))?
            .ok_or_else(|| Error::Io {
                path: self.lock_path(target),
                source: Arc::new(std::io::Error::other("the lock was not taken")),
            })
    }

    /// [`LockDir::acquire`] waiting up to `timeout`, or, with `None`, not at all:
    /// `Ok(None)` on contention, without the contention event or the holder lookup (a
    /// try that does not wait has nothing to report, and reading `/proc/locks` would
    /// cost more than the try).
    fn take(
        &self,
        scope: &LockScope,
        target: &LockTarget,
        timeout: Option<Duration>,
    ) -> Result<Option<LockGuard>, Error> {
        let path = self.lock_path(target);
        let rank = target.rank();
        {
            let held = scope.0.lock().unwrap_or_else(|e| e.into_inner());
            for h in held.iter() {
                if h.rank == rank {
                    return Err(Error::Reentry { path });
                }
                if h.rank > rank {
                    return Err(Error::OrderViolation {
                        requested: target.describe(),
                        held: h.description.clone(),
                    });
                }
            }
        }
        let file = open_lock_file(&path)?;
        let file = match file.try_lock() {
            Ok(()) => file,
            Err(TryLockError::WouldBlock) => match timeout {
                Some(timeout) => wait_for(file, target.kind(), &path, timeout)?,
                None => return Ok(None),
            },
            Err(TryLockError::Error(source)) => {
                return Err(Error::Io {
                    path,
                    source: source.into(),
                });
            }
        };
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        scope
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Held {
                id,
                rank,
                description: target.describe(),
            });
        Ok(Some(LockGuard {
            _file: file,
            scope: scope.clone(),
            id,
            path,
        }))
    }

    /// Takes `target` only if it is free right now: `Ok(None)` when another holder has it.
    ///
    /// # Errors
    /// As [`LockDir::acquire`], without [`Error::Timeout`].
    pub fn try_acquire(
        &self,
        scope: &LockScope,
        target: &LockTarget,
    ) -> Result<Option<LockGuard>, Error> {
        self.take(scope, target, None)
    }

    /// Every lock file in the directory with its live holder's pid, when one holds it
    /// and the OS tells (for `doctor`).
    pub fn holders(&self) -> Vec<(PathBuf, Option<u32>)> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut out: Vec<_> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "lock"))
            .map(|p| {
                let pid = holder_pid(&p);
                (p, pid)
            })
            .collect();
        out.sort();
        out
    }
}

fn open_lock_file(path: &Path) -> Result<File, Error> {
    let opened = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path);
    let file = match opened {
        Ok(f) => f,
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(Error::NotARegularFile {
                path: path.to_owned(),
                what: "symlink",
            });
        }
        Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {
            return Err(Error::NotARegularFile {
                path: path.to_owned(),
                what: "socket",
            });
        }
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            if let (Ok(meta), Some(current)) =
                (std::fs::symlink_metadata(path), atomic::current_uid())
                && meta.uid() != current
            {
                return Err(Error::ForeignOwner {
                    path: path.to_owned(),
                    owner: meta.uid(),
                    current,
                });
            }
            return Err(Error::Io {
                path: path.to_owned(),
                source: e.into(),
            });
        }
        Err(source) => {
            return Err(Error::Io {
                path: path.to_owned(),
                source: source.into(),
            });
        }
    };
    let meta = file.metadata().map_err(|source| Error::Io {
        path: path.to_owned(),
        source: source.into(),
    })?;
    if !meta.is_file() {
        let what = if meta.is_dir() {
            "directory"
        } else {
            "FIFO or device"
        };
        return Err(Error::NotARegularFile {
            path: path.to_owned(),
            what,
        });
    }
    if meta.mode() & 0o077 != 0 {
        // A lock file made by another tool with a looser mode: tighten it.
        let _ = file.set_permissions(Permissions::from_mode(0o600));
    }
    Ok(file)
}

/// Waits for a contended lock: a helper thread blocks in the kernel (so it wakes on
/// release, not on a polling tick) while this thread waits with a timeout; a helper
/// that gets the lock after the caller gave up releases it at once.
fn wait_for(file: File, kind: &'static str, path: &Path, timeout: Duration) -> Result<File, Error> {
    let started = Instant::now();
    let holder = holder_pid(path);
    tracing::debug!(
        target: "oauth_lock::contention",
        kind,
        path = %path.display(),
        holder_pid = holder,
        "lock is held by another process or task; waiting"
    );
    if timeout.is_zero() {
        return Err(Error::Timeout {
            path: path.to_owned(),
            waited: started.elapsed(),
            holder_pid: holder,
        });
    }
    let shared = Arc::new((Mutex::new(WaitState::Waiting), Condvar::new()));
    let for_thread = Arc::clone(&shared);
    let spawned = std::thread::Builder::new()
        .name("oauth-lock-wait".into())
        .spawn(move || {
            let result = file.lock();
            let (state, cvar) = &*for_thread;
            let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
            if matches!(*state, WaitState::Abandoned) {
                return; // dropping `file` releases the lock nobody wants any more
            }
            *state = match result {
                Ok(()) => WaitState::Acquired(file),
                Err(e) => WaitState::Failed(e),
            };
            cvar.notify_all();
        });
    if let Err(source) = spawned {
        return Err(Error::Io {
            path: path.to_owned(),
            source: source.into(),
        });
    }
    let (state, cvar) = &*shared;
    let mut guard = state.lock().unwrap_or_else(|e| e.into_inner());
    let mut noticed = false;
    loop {
        match std::mem::replace(&mut *guard, WaitState::Waiting) {
            WaitState::Acquired(file) => return Ok(file),
            WaitState::Failed(source) => {
                return Err(Error::Io {
                    path: path.to_owned(),
                    source: source.into(),
                });
            }
            WaitState::Waiting | WaitState::Abandoned => {}
        }
        let waited = started.elapsed();
        if waited >= timeout {
            *guard = WaitState::Abandoned;
            drop(guard);
            return Err(Error::Timeout {
                path: path.to_owned(),
                waited,
                holder_pid: holder_pid(path).or(holder),
            });
        }
        let mut next = timeout - waited;
        if !noticed {
            if waited >= SLOW_WAIT_NOTICE {
                noticed = true;
                if let Some(hook) = WAIT_NOTICE.get() {
                    drop(guard);
                    hook(&WaitNotice {
                        kind,
                        path: path.to_owned(),
                        holder_pid: holder_pid(path).or(holder),
                        waited,
                    });
                    guard = state.lock().unwrap_or_else(|e| e.into_inner());
                    continue;
                }
            } else {
                next = next.min(SLOW_WAIT_NOTICE - waited);
            }
        }
        guard = cvar
            .wait_timeout(guard, next)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
}

/// The pid of the process holding a flock on `path`, from `/proc/locks` (Linux); `None`
/// when nobody holds it or the OS does not tell.
pub fn holder_pid(path: &Path) -> Option<u32> {
    let meta = std::fs::metadata(path).ok()?;
    let table = std::fs::read_to_string("/proc/locks").ok()?;
    let dev = meta.dev();
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    let exact = format!("{major:02x}:{minor:02x}:{}", meta.ino());
    let inode_suffix = format!(":{}", meta.ino());
    let mut by_inode = None;
    for line in table.lines() {
        // "1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF"; waiters are marked "->".
        if line.contains("->") {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (Some(pid), Some(id)) = (fields.get(4), fields.get(5)) else {
            continue;
        };
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        if *id == exact {
            return Some(pid);
        }
        if id.ends_with(&inode_suffix) {
            by_inode = Some(pid);
        }
    }
    by_inode
}
