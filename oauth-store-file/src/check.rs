//! What `doctor` reports about a File store's files without changing them.

use std::fmt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use oauth_lock::{LockScope, LockTarget, StoreLock, atomic};

use crate::FileStore;

/// Something about a File store's files worth telling a person; see [`FileStore::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileWarning {
    /// The document, a lock file or the lock directory is open to other users (group
    /// or other bits set); the next save writes the document 0600.
    LoosePermissions {
        /// The file or directory.
        path: PathBuf,
        /// Its permission bits, e.g. `0o644`.
        mode: u32,
    },
    /// The document or a lock file belongs to another user, often after a run under
    /// sudo; loads and saves fail until it is fixed (chown).
    ForeignOwner {
        /// The file.
        path: PathBuf,
        /// Its owner's uid.
        owner: u32,
        /// This process's uid.
        current: u32,
    },
    /// A temp file of an interrupted save is beside the document while no save runs;
    /// harmless (the next save reuses the name), and it may hold tokens.
    LeftoverTempFile {
        /// The temp file.
        path: PathBuf,
    },
    /// A copy kept by [`FileStore::repair`]; it may hold tokens, and can be deleted once
    /// nothing more is wanted from it.
    QuarantinedCopy {
        /// The copy (`<document>.corrupt-<ms since the Unix epoch>`).
        path: PathBuf,
    },
    /// The home is on a network file system, where the store lock does not exclude
    /// two users of the store within one process.
    NetworkFilesystem {
        /// The document's directory.
        path: PathBuf,
        /// The file system type, e.g. `nfs4`.
        fs_type: String,
    },
}

impl fmt::Display for FileWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileWarning::LoosePermissions { path, mode } => write!(
                f,
                "{}: mode {mode:04o} lets other users in; expected 0600 (0700 for a directory)",
                path.display()
            ),
            FileWarning::ForeignOwner {
                path,
                owner,
                current,
            } => write!(
                f,
                "{}: owned by uid {owner}, but this process runs as uid {current}; a run under sudo may have created it (fix with chown)",
                path.display()
            ),
            FileWarning::LeftoverTempFile { path } => write!(
                f,
                "{}: left by an interrupted save; the next save replaces it",
                path.display()
            ),
            FileWarning::QuarantinedCopy { path } => write!(
                f,
                "{}: a copy of a document that did not parse, kept by repair; it may hold tokens",
                path.display()
            ),
            FileWarning::NetworkFilesystem { path, fs_type } => write!(
                f,
                "{}: on a network file system ({fs_type}); locks do not exclude within one process there",
                path.display()
            ),
        }
    }
}

impl FileStore {
    /// Looks at the document, its temp file, copies kept by repair, the lock directory and
    /// the store lock file, and reports what a person should know (for `doctor`). Changes nothing, and takes
    /// the store lock only for an instant, without waiting, to tell a leftover temp file
    /// from one a save is writing.
    pub fn check(&self) -> Vec<FileWarning> {
        let mut warnings = Vec::new();
        let current = atomic::current_uid();
        let store_lock = self.locks.lock_path(&LockTarget::Store(StoreLock::File));
        let files = [
            (self.path.as_path(), false),
            (self.locks.path(), true),
            (store_lock.as_path(), false),
        ];
        for (path, is_dir) in files {
            inspect(path, is_dir, current, &mut warnings);
        }
        let temp = atomic::temp_path(&self.path);
        if std::fs::symlink_metadata(&temp).is_ok()
            && let Ok(Some(_guard)) = self
                .locks
                .try_acquire(&LockScope::current(), &LockTarget::Store(StoreLock::File))
            && std::fs::symlink_metadata(&temp).is_ok()
        {
            warnings.push(FileWarning::LeftoverTempFile { path: temp });
        }
        let dir = match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let prefix = self
            .path
            .file_name()
            .map(|n| format!("{}.corrupt-", n.to_string_lossy()));
        if let (Some(prefix), Ok(entries)) = (prefix, std::fs::read_dir(dir)) {
            let mut copies: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
                .map(|e| e.path())
                .collect();
            copies.sort();
            warnings.extend(
                copies
                    .into_iter()
                    .map(|path| FileWarning::QuarantinedCopy { path }),
            );
        }
        if atomic::is_network_filesystem(dir) {
            warnings.push(FileWarning::NetworkFilesystem {
                path: dir.to_owned(),
                fs_type: atomic::filesystem_type(dir).unwrap_or_default(),
            });
        }
        warnings
    }
}

fn inspect(path: &Path, is_dir: bool, current: Option<u32>, out: &mut Vec<FileWarning>) {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return;
    };
    if meta.is_dir() != is_dir || !(meta.is_dir() || meta.is_file()) {
        return; // what is wrong with it is an error of load or save, with its own text
    }
    if let Some(current) = current
        && meta.uid() != current
    {
        out.push(FileWarning::ForeignOwner {
            path: path.to_owned(),
            owner: meta.uid(),
            current,
        });
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        out.push(FileWarning::LoosePermissions {
            path: path.to_owned(),
            mode,
        });
    }
}
