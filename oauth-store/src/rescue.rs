//! Persist rescue (DESIGN.md "Persist rescue"): a refreshed credential whose pinned
//! store refused it is kept wherever it can be, and moved back later.
//!
//! A provider that answered a refresh has rotated the refresh token: the new credential
//! is the only one left. When the pinned store still refuses it after the retries, it
//! is saved in another store of the layout, in an order that never silently weakens
//! protection: a keyring or Secrets credential goes to the other protected store first,
//! then to the File store and last to the rescue file, the plain-text ones each with a
//! warning naming the file; a File credential goes to the rescue file first (the same
//! protection, beside the locks, often on another path than a broken document), then
//! to the protected stores. The rescue file is a store of the layout like the others
//! ([`RESCUE`], one 0600 file per credential in the lock directory), so the every-store
//! newest-wins reread finds the copy; the next refresh, `fresh` read or saved grant
//! moves it back to the pinned store and removes it, and logout and migration remove
//! or move it like any other copy. Under an explicit keyring or Secrets mode a copy
//! rescued into another store is moved back the same way.
//!
//! Before a refresh is sent, room for the rescue file is reserved beside it
//! (`<rescue file>.reserve`, 64 KiB of zeros) and given back just before a rescue, so
//! a disk that fills up while the provider answers still takes the rotated credential.
//! When not even the reservation can be written and the pinned store is plain text
//! (File, rescue), the refresh is not sent.
//!
//! # Limitations
//! - The reservation is room on the file system, not a claim on it: another writer
//!   that takes the freed room between the release and the rescue's write wins it.
//! - On a copy-on-write or compressing file system the freed room may not be enough.

use std::path::{Path, PathBuf};

use oauth_lock::atomic;
use oauth_store_core::{
    BackendName, Credential, CredentialStore, ListedCredential, StoreError, StoreKey, StoreKind,
    describe_json_error,
};

/// The rescue file's kind: `rescue`.
pub const RESCUE: StoreKind = StoreKind::Other(BackendName::new("rescue"));

/// The largest rescue file read: one credential, with room for provider extras.
const CAP: u64 = 1 << 20;

/// Rescued credentials: `<lock dir>/<sha256hex(key)>.rescued.json`, 0600, each
/// `{"store_key": KEY, "record": RECORD}`, written by durable atomic replacement under
/// the credential lock (so no store lock: one writer per key).
#[derive(Debug, Clone)]
pub(crate) struct RescueStore {
    dir: PathBuf,
}

const SUFFIX: &str = ".rescued.json";

impl RescueStore {
    pub(crate) fn new(lock_dir: &Path) -> RescueStore {
        RescueStore {
            dir: lock_dir.to_owned(),
        }
    }

    /// The file of `key`.
    pub(crate) fn path(&self, key: &StoreKey) -> PathBuf {
        let lock = key.credential_lock_file_name();
        let hash = lock.strip_suffix(".lock").unwrap_or(&lock);
        self.dir.join(format!("{hash}{SUFFIX}"))
    }

    fn read(&self, path: &Path) -> Result<Option<(StoreKey, Credential)>, StoreError> {
        let Some(doc) = atomic::read_document(path, CAP).map_err(|e| from_atomic(e, path))? else {
            return Ok(None);
        };
        let corrupt = |reason: String| StoreError::CorruptDocument {
            path: path.to_owned(),
            reason,
        };
        // Members as raw text, so the record is parsed from its own bytes (its unknown
        // fields stay byte-exact).
        let members: std::collections::HashMap<String, Box<serde_json::value::RawValue>> =
            serde_json::from_slice(&doc.bytes).map_err(|e| corrupt(describe_json_error(&e)))?;
        let member = |name: &str| {
            members
                .get(name)
                .ok_or_else(|| corrupt(format!("no `{name}` member")))
        };
        let key: String = serde_json::from_str(member("store_key")?.get())
            .map_err(|e| corrupt(describe_json_error(&e)))?;
        let record: Credential = serde_json::from_str(member("record")?.get())
            .map_err(|e| corrupt(describe_json_error(&e)))?;
        Ok(Some((StoreKey::from_raw(key), record)))
    }
}

/// Room a refresh reserves beside the rescue file before its request is sent: far more
/// than one credential takes.
const RESERVE_BYTES: usize = 64 * 1024;

impl RescueStore {
    /// Reserves room for `key`'s rescue file before a refresh is sent: `RESERVE_BYTES`
    /// zero bytes written to `<rescue file>.reserve` (0600). Not synced: the room is
    /// taken when the bytes are written (a full file system refuses the write), and a
    /// reservation that a crash loses is only a leftover the next refresh reuses, so a
    /// refresh still makes one durable write, its document's. A file system that fills up while the provider answers then still
    /// has that room for the rescue, once [`Reservation::release`] gives it back (DESIGN.md
    /// "Persist rescue": never spend a refresh token whose successor cannot be kept).
    ///
    /// # Errors
    /// [`StoreError::Io`] (e.g. ENOSPC: the file system is full already),
    /// [`StoreError::NotARegularFile`].
    pub(crate) fn reserve(&self, key: &StoreKey) -> Result<Reservation, StoreError> {
        let mut path = self.path(key).into_os_string();
        path.push(".reserve");
        let path = PathBuf::from(path);
        // The lock directory is 0700 and ours: a check of what is there suffices.
        if let Ok(meta) = std::fs::symlink_metadata(&path)
            && !meta.file_type().is_file()
        {
            return Err(StoreError::NotARegularFile {
                path,
                what: "non-regular file",
            });
        }
        let written = (|| {
            use std::io::Write;
            use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&path)?;
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
            file.write_all(&[0u8; RESERVE_BYTES])
        })();
        if let Err(e) = written {
            let _ = std::fs::remove_file(&path);
            return Err(StoreError::io(path, e));
        }
        Ok(Reservation { path })
    }
}

/// Room held for a rescue file while a refresh is at the provider; released (the file
/// removed) by [`Reservation::release`] or when dropped.
#[derive(Debug)]
pub(crate) struct Reservation {
    path: PathBuf,
}

impl Reservation {
    /// Gives the room back, e.g. just before the rescue needs it. Best effort: a
    /// reservation that cannot be removed only holds its bytes.
    pub(crate) fn release(&self) {
        if let Err(e) = std::fs::remove_file(&self.path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::debug!(target: "oauth_store::save", path = %self.path.display(), error = %e, "could not release the rescue reservation");
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.release();
    }
}

fn from_atomic(e: atomic::Error, path: &Path) -> StoreError {
    match e {
        atomic::Error::Io { path, source } => StoreError::Io { path, source },
        atomic::Error::NotARegularFile { path, what } => StoreError::NotARegularFile { path, what },
        atomic::Error::TooLarge { path, size, cap } => StoreError::TooLarge { path, size, cap },
        other => StoreError::io(path, std::io::Error::other(other.to_string())),
    }
}

impl CredentialStore for RescueStore {
    fn kind(&self) -> StoreKind {
        RESCUE
    }

    fn load(&self, key: &StoreKey) -> Result<Option<Credential>, StoreError> {
        Ok(self.read(&self.path(key))?.map(|(_, c)| c))
    }

    /// True: a load opens one file in the lock directory, written by atomic replace,
    /// and takes no lock.
    fn load_never_waits(&self) -> bool {
        true
    }

    fn prepare_save(&self, key: &StoreKey) -> Result<(), StoreError> {
        let path = self.path(key);
        atomic::check_replaceable(&path).map_err(|e| from_atomic(e, &path))
    }

    fn save(&self, key: &StoreKey, credential: &Credential) -> Result<(), StoreError> {
        let path = self.path(key);
        let text = serde_json::to_vec(&serde_json::json!({
            "store_key": key.as_str(),
            "record": credential,
        }))
        .map_err(|e| StoreError::backend(RESCUE, describe_json_error(&e)))?;
        atomic::replace(&path, &text).map_err(|e| from_atomic(e, &path))
    }

    fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
        let path = self.path(key);
        atomic::remove(&path).map_err(|e| from_atomic(e, &path))
    }

    fn list(&self) -> Result<Vec<ListedCredential>, StoreError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(StoreError::io(&self.dir, e)),
        };
        let mut listed = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            if !path.to_string_lossy().ends_with(SUFFIX) {
                continue;
            }
            match self.read(&path) {
                Ok(Some((key, credential))) => {
                    listed.push(ListedCredential::new(key, Ok(credential)));
                }
                Ok(None) => {}
                Err(e) => {
                    // The key is unknown when the file does not parse; name it by its file.
                    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
                    listed.push(ListedCredential::new(
                        StoreKey::from_raw(name.unwrap_or_default()),
                        Err(e),
                    ));
                }
            }
        }
        listed.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(listed)
    }
}
