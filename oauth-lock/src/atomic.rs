//! Durable atomic replacement of documents, and reads that refuse what is not a
//! regular file (DESIGN.md "Writes").
//!
//! Every document of the project (the File store, the Secrets store, the drift
//! sidecar) is written by [`replace`]: a fixed temp name beside the target
//! (`<name>.tmp`; callers hold the document's store lock, so one writer uses it at a
//! time and a crash leaves at most one, which the next save reuses), created 0600
//! whatever the umask and never through a symlink, written, fsynced, renamed over the
//! target, then the directory fsynced. Readers never see a half-written document.

use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Why a read, write or directory creation failed. `Clone` (the OS error is behind an
/// `Arc`), so that callers sharing one operation see the same error.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The operating system refused, with the path it was about.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::sync::Arc<io::Error>,
    },
    /// A symlink, directory, FIFO, socket or device is where a regular file belongs;
    /// refused at once (never followed, never waited on).
    #[error("{}: refused: a {what} is at the path where a regular file belongs", path.display())]
    NotARegularFile {
        /// The path.
        path: PathBuf,
        /// What is there: `symlink`, `directory`, `FIFO`, `socket` or `device`.
        what: &'static str,
    },
    /// The file is larger than the caller reads.
    #[error("{}: {size} bytes is over the {cap}-byte limit", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size in bytes.
        size: u64,
        /// The limit in bytes.
        cap: u64,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_owned(),
        source: source.into(),
    }
}

/// A document read by [`read_document`], with what was seen of its file.
#[derive(Debug)]
#[non_exhaustive]
pub struct Document {
    /// The whole content.
    pub bytes: Vec<u8>,
    /// The permission bits (e.g. `0o600`).
    pub mode: u32,
    /// The owner's uid.
    pub uid: u32,
}

fn file_type_name(meta: &fs::Metadata) -> Option<&'static str> {
    let ft = meta.file_type();
    if ft.is_file() {
        None
    } else if ft.is_symlink() {
        Some("symlink")
    } else if ft.is_dir() {
        Some("directory")
    } else if ft.is_fifo() {
        Some("FIFO")
    } else if ft.is_socket() {
        Some("socket")
    } else {
        Some("device")
    }
}

/// Opens an existing file for reading without following a symlink and without
/// blocking on a FIFO, and checks that it is a regular file.
fn open_regular(path: &Path) -> Result<Option<(File, fs::Metadata)>, Error> {
    let opened = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path);
    let file = match opened {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
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
        Err(e) => return Err(io_err(path)(e)),
    };
    let meta = file.metadata().map_err(io_err(path))?;
    if let Some(what) = file_type_name(&meta) {
        return Err(Error::NotARegularFile {
            path: path.to_owned(),
            what,
        });
    }
    Ok(Some((file, meta)))
}

/// Reads a whole document, or `None` when there is no file at `path`.
///
/// Takes no lock: writers replace documents atomically.
///
/// # Errors
/// [`Error::NotARegularFile`] for a symlink, directory, FIFO, socket or device (at
/// once, never blocking); [`Error::TooLarge`] over `cap` bytes; [`Error::Io`].
pub fn read_document(path: &Path, cap: u64) -> Result<Option<Document>, Error> {
    let Some((mut file, meta)) = open_regular(path)? else {
        return Ok(None);
    };
    if meta.len() > cap {
        return Err(Error::TooLarge {
            path: path.to_owned(),
            size: meta.len(),
            cap,
        });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0) + 1);
    (&mut file)
        .take(cap.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io_err(path))?;
    if bytes.len() as u64 > cap {
        return Err(Error::TooLarge {
            path: path.to_owned(),
            size: bytes.len() as u64,
            cap,
        });
    }
    Ok(Some(Document {
        bytes,
        mode: meta.mode() & 0o7777,
        uid: meta.uid(),
    }))
}

/// The fixed temp name [`replace`] writes beside `target`: `<name>.tmp`.
pub fn temp_path(target: &Path) -> PathBuf {
    let mut name = target
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".tmp");
    target.with_file_name(name)
}

/// Checks, without writing anything, that [`replace`] could write `target` now: nothing
/// but a regular file (or nothing) at `target` and at its temp name, and a directory
/// that lets this user create files. For callers that must know before they act
/// (a refresh that would spend a rotating refresh token).
///
/// # Errors
/// [`Error::NotARegularFile`] naming the path; [`Error::Io`] when the directory is
/// missing or not writable.
pub fn check_replaceable(target: &Path) -> Result<(), Error> {
    for path in [target.to_owned(), temp_path(target)] {
        match fs::symlink_metadata(&path) {
            Ok(meta) => {
                if let Some(what) = file_type_name(&meta) {
                    return Err(Error::NotARegularFile { path, what });
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(&path)(e)),
        }
    }
    let dir = parent_of(target);
    let meta = fs::metadata(dir).map_err(io_err(dir))?;
    let writable = meta.is_dir()
        && match atomic_uid() {
            // Owner bits for the owner, else "other" bits (groups are not looked up:
            // a group-writable directory of another user is reported, not guessed).
            Some(uid) if uid == meta.uid() => meta.mode() & 0o200 != 0,
            Some(0) => true,
            _ => meta.mode() & 0o002 != 0,
        };
    if !writable {
        return Err(io_err(dir)(io::Error::from(
            io::ErrorKind::PermissionDenied,
        )));
    }
    Ok(())
}

fn atomic_uid() -> Option<u32> {
    current_uid()
}

fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Replaces `target` with `bytes`, durably and atomically: after `Ok`, the new content
/// survives a crash; at any moment a reader sees the old or the new content, never a
/// mix. The file is 0600 whatever the umask.
///
/// The caller holds the document's store lock (the temp name is fixed).
///
/// # Errors
/// [`Error::NotARegularFile`] when a symlink, directory, FIFO or socket is at
/// `target` (nothing is written); [`Error::Io`] naming the file that failed.
pub fn replace(target: &Path, bytes: &[u8]) -> Result<(), Error> {
    match fs::symlink_metadata(target) {
        Ok(meta) => {
            if let Some(what) = file_type_name(&meta) {
                return Err(Error::NotARegularFile {
                    path: target.to_owned(),
                    what,
                });
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(target)(e)),
    }
    let temp = temp_path(target);
    match fs::remove_file(&temp) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(&temp)(e)),
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&temp)
        .map_err(io_err(&temp))?;
    let written = (|| {
        // The umask may have removed bits from 0600; set them exactly.
        file.set_permissions(Permissions::from_mode(0o600))?;
        file.write_all(bytes)?;
        file.sync_data()
    })();
    if let Err(e) = written {
        drop(file);
        let _ = fs::remove_file(&temp);
        return Err(io_err(&temp)(e));
    }
    drop(file);
    fs::rename(&temp, target).map_err(io_err(target))?;
    sync_dir(parent_of(target))
}

/// Removes `target` durably (the directory is fsynced). Returns whether it existed.
///
/// # Errors
/// [`Error::NotARegularFile`] when something other than a regular file is there;
/// [`Error::Io`].
pub fn remove(target: &Path) -> Result<bool, Error> {
    match fs::symlink_metadata(target) {
        Ok(meta) => {
            if let Some(what) = file_type_name(&meta) {
                return Err(Error::NotARegularFile {
                    path: target.to_owned(),
                    what,
                });
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(io_err(target)(e)),
    }
    match fs::remove_file(target) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(io_err(target)(e)),
    }
    sync_dir(parent_of(target))?;
    Ok(true)
}

/// Fsyncs a directory, so a rename or unlink in it is durable.
///
/// # Errors
/// [`Error::Io`] naming the directory.
pub fn sync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

/// Creates `dir` (and missing parents) when missing; a directory this call creates is
/// 0700 whatever the umask. An existing directory is left as it is.
///
/// # Errors
/// [`Error::NotARegularFile`]-style refusal is not used here: a non-directory at
/// `dir` is [`Error::Io`] with `NotADirectory`; other failures are [`Error::Io`].
pub fn ensure_private_dir(dir: &Path) -> Result<(), Error> {
    match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => return Ok(()),
        Ok(_) => {
            return Err(Error::Io {
                path: dir.to_owned(),
                source: io::Error::new(io::ErrorKind::NotADirectory, "not a directory").into(),
            });
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(dir)(e)),
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        ensure_private_dir(parent)?;
    }
    match fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => fs::set_permissions(dir, Permissions::from_mode(0o700)).map_err(io_err(dir)),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(io_err(dir)(e)),
    }
}

/// The uid this process runs as (the owner of `/proc/self`), or `None` where `/proc`
/// is not mounted. Used to report files left by another user (a run under sudo).
pub fn current_uid() -> Option<u32> {
    fs::metadata("/proc/self").ok().map(|m| m.uid())
}

/// The file system type holding `path` (e.g. `ext4`, `nfs4`), from
/// `/proc/self/mountinfo`; `None` where it cannot be told.
pub fn filesystem_type(path: &Path) -> Option<String> {
    let path = fs::canonicalize(path).ok()?;
    let info = fs::read_to_string("/proc/self/mountinfo").ok()?;
    let mut best: Option<(usize, String)> = None;
    for line in info.lines() {
        let (left, right) = line.split_once(" - ")?;
        let mount_point = left.split(' ').nth(4)?.replace("\\040", " ");
        let fs_type = right.split(' ').next()?.to_owned();
        if path.starts_with(&mount_point)
            && best
                .as_ref()
                .is_none_or(|(len, _)| mount_point.len() >= *len)
        {
            best = Some((mount_point.len(), fs_type));
        }
    }
    best.map(|(_, t)| t)
}

/// Whether `path` is on a network file system (NFS, SMB/CIFS, sshfs), where flock is
/// emulated and does not exclude within one process.
pub fn is_network_filesystem(path: &Path) -> bool {
    filesystem_type(path).is_some_and(|t| {
        t.starts_with("nfs")
            || t == "cifs"
            || t.starts_with("smb")
            || t.contains("sshfs")
            || t == "9p"
    })
}
