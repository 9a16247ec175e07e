//! Repair of a document that does not parse as a whole (DESIGN.md "Writes": "an explicit
//! repair quarantines it").

use std::fs::{OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use oauth_store_core::StoreError;

use crate::FileStore;
use crate::document::{self, Document};

/// What [`FileStore::repair`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RepairReport {
    /// Where the document that did not parse was kept
    /// (`<document>.corrupt-<ms since the Unix epoch>`, 0600); `None` when there was
    /// nothing to repair (no document, or one that parses).
    pub quarantined: Option<PathBuf>,
    /// Entries in the document now: all of them when it was healthy, else the complete
    /// entries before the point where it breaks whose record parses.
    pub kept: usize,
    /// Complete entries found before the break whose record does not parse; they are
    /// left out of the rebuilt document and stay in the quarantined copy. Entries after
    /// the break are not counted: only the quarantined copy has them.
    pub dropped: usize,
    /// Entries that parsed but held a member more than once (an older version wrote a
    /// provider's `expires_at` after the record's own): rewritten with each member once,
    /// its last occurrence kept, as readers take it. No copy is quarantined for these:
    /// nothing is lost.
    pub rewritten: usize,
    /// The size in bytes of a document too large to read (over the size cap): it was
    /// set aside whole, and `kept` counts the entries rebuilt from its first size-cap
    /// bytes. `None` for a document that could be read.
    pub too_large: Option<u64>,
}

impl FileStore {
    /// Repairs a document that does not parse as a whole, under the store lock: copies
    /// it to `<document>.corrupt-<ms since the Unix epoch>` (0600), then replaces the
    /// document durably with the complete entries before the point where it breaks
    /// whose record parses (or removes it when none does).
    ///
    /// A document that parses is left as it is, even when some of its entries do not
    /// (each is an error for its key alone and is kept unchanged), except that an entry
    /// holding a member more than once is rewritten with each member once (the last
    /// occurrence, which is what every reader sees): [`RepairReport::rewritten`].
    ///
    /// A document over the size cap cannot be read whole, so it is set aside whole (a
    /// hard link to the quarantine name) and the document is rebuilt from the complete
    /// entries of its first size-cap bytes whose record parses (removed when none
    /// does); [`RepairReport::too_large`] says so.
    ///
    /// # Errors
    /// [`StoreError::Lock`]; [`StoreError::NotARegularFile`],
    /// [`StoreError::ForeignOwner`] (nothing is changed); [`StoreError::Io`].
    pub fn repair(&self) -> Result<RepairReport, StoreError> {
        let _guard = self.lock()?;
        let read = match self.read() {
            // Too large to read: set the whole file aside so the home works again; its
            // entries stay in the quarantined copy.
            Err(StoreError::TooLarge { size, cap, .. }) => {
                return self.quarantine_unread(size, cap);
            }
            other => other?,
        };
        let Some(read) = read else {
            return Ok(RepairReport {
                quarantined: None,
                kept: 0,
                dropped: 0,
                rewritten: 0,
                too_large: None,
            });
        };
        if let Ok(mut doc) = Document::parse(&read.bytes) {
            let rewritten = rewrite_repeated(&mut doc);
            if rewritten > 0 {
                self.write(&doc)?;
                tracing::warn!(
                    path = %self.path.display(),
                    rewritten,
                    "rewrote credentials whose entries held a member twice"
                );
            }
            return Ok(RepairReport {
                quarantined: None,
                kept: doc.unique().len(),
                dropped: 0,
                rewritten,
                too_large: None,
            });
        }
        let (mut rebuilt, dropped) = rebuild(&read.bytes);
        let rewritten = rewrite_repeated(&mut rebuilt);
        let kept = rebuilt.unique().len();
        let quarantined = quarantine(&self.path, &read.bytes)?;
        self.write(&rebuilt)?;
        tracing::warn!(
            path = %self.path.display(),
            quarantined = %quarantined.display(),
            kept,
            dropped,
            "repaired a credentials document that did not parse"
        );
        Ok(RepairReport {
            quarantined: Some(quarantined),
            kept,
            dropped,
            rewritten,
            too_large: None,
        })
    }
}

/// A document of the entries of `bytes` before any damage whose record parses, and
/// how many entries before the damage were left out because theirs does not.
fn rebuild(bytes: &[u8]) -> (Document<'_>, usize) {
    let salvaged = Document::salvage(bytes);
    let mut rebuilt = Document::default();
    let mut dropped = 0;
    for entry in salvaged.unique() {
        if document::parse_record(&entry.raw).is_ok() {
            rebuilt.push(entry.clone());
        } else {
            dropped += 1;
        }
    }
    (rebuilt, dropped)
}

/// Rewrites, in place, each entry readers see that parses as a record but holds a
/// member more than once, as the record serializes (each member once); returns how
/// many. Entries that do not parse are left as they are.
fn rewrite_repeated(doc: &mut Document<'_>) -> usize {
    let fixed: Vec<(String, String)> = doc
        .unique()
        .into_iter()
        .filter(|entry| !oauth_store_core::repeated_members(&entry.raw).is_empty())
        .filter_map(|entry| {
            let record = document::parse_record(&entry.raw).ok()?;
            let raw = serde_json::to_string(&record).ok()?;
            Some((entry.key.to_string(), raw))
        })
        .collect();
    for (key, raw) in &fixed {
        doc.set(key, raw.clone());
    }
    fixed.len()
}

impl FileStore {
    /// Moves a document too large to read to `<document>.corrupt-<ms>` (a hard link),
    /// then rebuilds the document from the complete entries in its first size-cap
    /// bytes whose record parses, or removes it when none does.
    fn quarantine_unread(&self, size: u64, cap: u64) -> Result<RepairReport, StoreError> {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source: std::io::Error| StoreError::Io {
                path,
                source: source.into(),
            }
        };
        let prefix = read_prefix(&self.path, cap).map_err(io(&self.path))?;
        let (rebuilt, dropped) = rebuild(&prefix);
        let kept = rebuilt.unique().len();
        let mut attempt = 0u32;
        let quarantined = loop {
            let suffix = if attempt == 0 {
                String::new()
            } else {
                format!("-{attempt}")
            };
            let path = self
                .path
                .with_file_name(format!("{name}.corrupt-{ms}{suffix}"));
            match std::fs::hard_link(&self.path, &path) {
                Ok(()) => break path,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 100 => {
                    attempt += 1;
                }
                Err(e) => return Err(io(&path)(e)),
            }
        };
        oauth_lock::atomic::remove(&self.path).map_err(|e| StoreError::Io {
            path: self.path.clone(),
            source: std::io::Error::other(e.to_string()).into(),
        })?;
        if kept > 0 {
            self.write(&rebuilt)?;
        } else {
            oauth_lock::atomic::remove(&self.path).map_err(|e| StoreError::Io {
                path: self.path.clone(),
                source: std::io::Error::other(e.to_string()).into(),
            })?;
        }
        tracing::warn!(
            path = %self.path.display(),
            quarantined = %quarantined.display(),
            size,
            kept,
            dropped,
            "set aside a credentials document too large to read; rebuilt from its first part"
        );
        Ok(RepairReport {
            quarantined: Some(quarantined),
            kept,
            dropped,
            rewritten: 0,
            too_large: Some(size),
        })
    }
}

/// The first `cap` bytes of `path`, opened without following a symlink or blocking
/// (the caller's read already refused anything but a regular file).
fn read_prefix(path: &Path, cap: u64) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)?;
    let mut bytes = Vec::new();
    file.take(cap).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Writes `bytes` durably to a new `<document>.corrupt-<ms>` file (0600) beside the
/// document; a name already taken gets a `-<n>` suffix.
fn quarantine(document: &Path, bytes: &[u8]) -> Result<PathBuf, StoreError> {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let name = document
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut attempt = 0u32;
    loop {
        let suffix = if attempt == 0 {
            String::new()
        } else {
            format!("-{attempt}")
        };
        let path = document.with_file_name(format!("{name}.corrupt-{ms}{suffix}"));
        let opened = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path);
        let mut file = match opened {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 1000 => {
                attempt += 1;
                continue;
            }
            Err(source) => {
                return Err(StoreError::Io {
                    path,
                    source: source.into(),
                });
            }
        };
        let written = (|| {
            // The umask may have removed bits from 0600; set them exactly.
            file.set_permissions(Permissions::from_mode(0o600))?;
            file.write_all(bytes)?;
            file.sync_all()
        })();
        return match written {
            Ok(()) => Ok(path),
            Err(source) => {
                drop(file);
                let _ = std::fs::remove_file(&path);
                Err(StoreError::Io {
                    path,
                    source: source.into(),
                })
            }
        };
    }
}
