//! The sidecar document (DESIGN.md "Drift sidecar"): version 1, one token-free entry
//! per store key.
//!
//! ```text
//! {"version":1,"resolutions":{"<key>":{"store_mode","keyring_backend","resolved_store",
//!   "reason","observed_at","change","previous":{...}}}}
//! ```
//! `store_mode`, `keyring_backend` and `resolved_store` are required; the rest are the
//! extra fields version 1 allows. Fields this version does not know are kept, in every
//! entry but the one being replaced (they described the observation it replaces), and
//! at the top level.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use oauth_store_core::{
    BackendName, KeyringBackend, ResolutionReason, StoreKey, StoreKind, StoreMode,
    describe_json_error,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The only document version this crate reads or writes: 1.
pub const DOCUMENT_VERSION: u64 = 1;

/// A document larger than this (4 MiB, some ten thousand entries) is not read: the
/// sidecar is diagnostic, and a runaway file must not slow an OAuth operation.
pub const MAX_DOCUMENT_BYTES: u64 = 4 << 20;

/// Why the sidecar document could not be read (for `doctor`; recording never fails).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DriftError {
    /// The file could not be read: I/O, too large, or not a regular file (a symlink,
    /// directory, FIFO or socket is refused without blocking).
    #[error("drift sidecar: {source}")]
    Read {
        /// What `oauth_lock::atomic::read_document` said, with the path.
        #[from]
        source: oauth_lock::atomic::Error,
    },
    /// The file is not a JSON object, or its `resolutions` is not an object. It is left
    /// untouched: recording skips until someone repairs or removes it.
    #[error("drift sidecar {}: corrupt ({detail}); left untouched", path.display())]
    Corrupt {
        /// The document.
        path: PathBuf,
        /// What is wrong, by category and position only (never quoting content).
        detail: String,
    },
    /// The document carries a `version` other than 1 (or none); it is left untouched.
    #[error("drift sidecar {}: version {} is not {DOCUMENT_VERSION}; left untouched", path.display(), version_text(*version))]
    OtherVersion {
        /// The document.
        path: PathBuf,
        /// Its `version` when that is a non-negative integer; `None` when missing or
        /// of another type.
        version: Option<u64>,
    },
}

fn version_text(version: Option<u64>) -> String {
    version.map_or_else(
        || "(missing or not an integer)".to_owned(),
        |v| v.to_string(),
    )
}

/// Where a credential resolved, as the sidecar writes it: `file` or `keyring`, or
/// the name of another crate's backend.
///
/// The Secrets store counts as `keyring` (DESIGN.md: `resolved_store` in
/// `file | keyring`); the entry's `keyring_backend` and `store_mode` tell which. A
/// backend of another crate is recorded under its own name (e.g. `postgres`), never
/// as one of ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ResolvedStore {
    /// The File store (`.credentials.json`).
    File,
    /// The keyring: one OS keyring entry, or the Secrets store whose key is there.
    Keyring,
    /// Another crate's backend, by its name.
    Other(BackendName),
}

impl ResolvedStore {
    /// `file`, `keyring`, or the other backend's name.
    pub fn as_str(&self) -> &'static str {
        match self {
            ResolvedStore::File => "file",
            ResolvedStore::Keyring => "keyring",
            ResolvedStore::Other(name) => name.as_str(),
        }
    }
}

impl Serialize for ResolvedStore {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ResolvedStore {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        match name.as_ref() {
            "file" => Ok(ResolvedStore::File),
            "keyring" => Ok(ResolvedStore::Keyring),
            other => BackendName::parse(other)
                .map(ResolvedStore::Other)
                .map_err(serde::de::Error::custom),
        }
    }
}

impl From<StoreKind> for ResolvedStore {
    fn from(kind: StoreKind) -> Self {
        match kind {
            StoreKind::File => ResolvedStore::File,
            StoreKind::Keyring | StoreKind::Secrets => ResolvedStore::Keyring,
            StoreKind::Other(name) => ResolvedStore::Other(name),
            // A kind a later core adds is named like another backend's.
            other => ResolvedStore::Other(
                BackendName::parse(other.as_str()).unwrap_or(BackendName::new("unknown")),
            ),
        }
    }
}

impl fmt::Display for ResolvedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How an entry's last observation differs from its `previous` one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Change {
    /// Two Auto observations with the same keyring backend resolved differently, not
    /// explained by a migration: the case that logs users out without saying why.
    Drift,
    /// File -> keyring on `auto_save_keyring`: Auto moved the credential on purpose.
    Migration,
    /// The mode or keyring backend changed, or the mode is explicit: a new baseline.
    BaselineReset,
}

impl Change {
    /// `drift`, `migration` or `baseline_reset`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Change::Drift => "drift",
            Change::Migration => "migration",
            Change::BaselineReset => "baseline_reset",
        }
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One observation as read back from the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Observation {
    /// The configured mode.
    pub store_mode: StoreMode,
    /// What "keyring" meant at the time.
    pub keyring_backend: KeyringBackend,
    /// Where the credential resolved.
    pub resolved_store: ResolvedStore,
    /// Why, as first observed (a repeat with another reason is not written); absent
    /// in entries written by others.
    pub reason: Option<ResolutionReason>,
    /// When this resolution was first observed, in ms since the Unix epoch (repeats
    /// are not written); absent in entries written by others.
    pub observed_at: Option<u64>,
}

/// One credential's entry: its last observation and the last one that resolved to
/// another store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Entry {
    /// The last observation (it survives logout: nothing deletes entries).
    pub last: Observation,
    /// The last observation that resolved to a store other than `last`'s, if any.
    pub previous: Option<Observation>,
    /// How `previous` became `last`'s store.
    pub change: Option<Change>,
}

impl Entry {
    /// Whether the last change of store was drift (what `doctor` flags).
    pub fn drifted(&self) -> bool {
        self.change == Some(Change::Drift)
    }
}

/// The whole document, as [`DriftSidecar::read`](crate::DriftSidecar::read) returns it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Resolutions {
    /// Every readable entry, by store key.
    pub entries: BTreeMap<StoreKey, Entry>,
    /// Entries that are not version-1 entries (a required field missing or of the
    /// wrong type), with what is wrong by category only; the next observation of that
    /// key replaces them.
    pub unreadable: BTreeMap<StoreKey, String>,
}

impl Resolutions {
    /// The entry of `key`, if one was recorded.
    pub fn get(&self, key: &StoreKey) -> Option<&Entry> {
        self.entries.get(key)
    }

    /// The entries whose last change of store was drift.
    pub fn drifted(&self) -> impl Iterator<Item = (&StoreKey, &Entry)> {
        self.entries.iter().filter(|(_, e)| e.drifted())
    }
}

/// An observation as written, with fields this version does not know.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct WireObservation {
    pub(crate) store_mode: StoreMode,
    pub(crate) keyring_backend: KeyringBackend,
    pub(crate) resolved_store: ResolvedStore,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) reason: Option<ResolutionReason>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) observed_at: Option<u64>,
    #[serde(flatten)]
    pub(crate) extra: BTreeMap<String, Value>,
}

impl WireObservation {
    fn public(&self) -> Observation {
        Observation {
            store_mode: self.store_mode,
            keyring_backend: self.keyring_backend,
            resolved_store: self.resolved_store,
            reason: self.reason,
            observed_at: self.observed_at,
        }
    }
}

/// An entry as written. Flat rather than nesting [`WireObservation`], so unknown
/// fields land in one map.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct WireEntry {
    pub(crate) store_mode: StoreMode,
    pub(crate) keyring_backend: KeyringBackend,
    pub(crate) resolved_store: ResolvedStore,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) reason: Option<ResolutionReason>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) observed_at: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) change: Option<Change>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) previous: Option<WireObservation>,
    #[serde(flatten)]
    pub(crate) extra: BTreeMap<String, Value>,
}

impl WireEntry {
    /// This entry's own observation, without `previous`, `change` or unknown fields.
    pub(crate) fn observation(&self) -> WireObservation {
        WireObservation {
            store_mode: self.store_mode,
            keyring_backend: self.keyring_backend,
            resolved_store: self.resolved_store,
            reason: self.reason,
            observed_at: self.observed_at,
            extra: BTreeMap::new(),
        }
    }

    fn public(&self) -> Entry {
        Entry {
            last: self.observation().public(),
            previous: self.previous.as_ref().map(WireObservation::public),
            change: self.change,
        }
    }
}

/// One key's slot: a version-1 entry, or something else kept as found (with what is
/// wrong with it, which is never written).
#[derive(Debug, Clone)]
pub(crate) enum Slot {
    Entry(WireEntry),
    Unreadable(Value, String),
}

impl Serialize for Slot {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Slot::Entry(entry) => entry.serialize(serializer),
            Slot::Unreadable(value, _) => value.serialize(serializer),
        }
    }
}

/// A parsed version-1 document.
#[derive(Debug, Serialize)]
pub(crate) struct Parsed {
    version: u64,
    pub(crate) resolutions: BTreeMap<String, Slot>,
    #[serde(flatten)]
    extra: BTreeMap<String, Value>,
}

/// Why bytes are not a version-1 document.
#[derive(Debug)]
pub(crate) enum Fault {
    Corrupt(String),
    OtherVersion(Option<u64>),
}

impl Fault {
    pub(crate) fn into_error(self, path: PathBuf) -> DriftError {
        match self {
            Fault::Corrupt(detail) => DriftError::Corrupt { path, detail },
            Fault::OtherVersion(version) => DriftError::OtherVersion { path, version },
        }
    }
}

impl Parsed {
    /// An empty version-1 document.
    pub(crate) fn empty() -> Self {
        Parsed {
            version: DOCUMENT_VERSION,
            resolutions: BTreeMap::new(),
            extra: BTreeMap::new(),
        }
    }

    /// Parses a document. The version is checked before anything else is looked at,
    /// so a document of another shape is reported as another version, not as corrupt.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, Fault> {
        let mut top: BTreeMap<String, Value> = serde_json::from_slice(bytes).map_err(|e| {
            Fault::Corrupt(format!("not a JSON object: {}", describe_json_error(&e)))
        })?;
        let version = top.remove("version");
        match version.as_ref().and_then(Value::as_u64) {
            Some(DOCUMENT_VERSION) => {}
            other => return Err(Fault::OtherVersion(other)),
        }
        let resolutions = match top.remove("resolutions") {
            None => BTreeMap::new(),
            Some(Value::Object(map)) => map
                .into_iter()
                .map(|(key, value)| {
                    let slot = match serde_json::from_value::<WireEntry>(value.clone()) {
                        Ok(entry) => Slot::Entry(entry),
                        Err(e) => Slot::Unreadable(value, describe_json_error(&e)),
                    };
                    (key, slot)
                })
                .collect(),
            Some(_) => return Err(Fault::Corrupt("`resolutions` is not an object".to_owned())),
        };
        Ok(Parsed {
            version: DOCUMENT_VERSION,
            resolutions,
            extra: top,
        })
    }

    /// The document as written: pretty JSON (people read it), a final newline.
    pub(crate) fn to_bytes(&self) -> Result<Vec<u8>, serde_json::Error> {
        let mut bytes = serde_json::to_vec_pretty(self)?;
        bytes.push(b'\n');
        Ok(bytes)
    }

    /// The public view.
    pub(crate) fn resolutions(&self) -> Resolutions {
        let mut out = Resolutions::default();
        for (key, slot) in &self.resolutions {
            let key = StoreKey::from_raw(key.clone());
            match slot {
                Slot::Entry(entry) => {
                    out.entries.insert(key, entry.public());
                }
                Slot::Unreadable(_, detail) => {
                    out.unreadable.insert(key, detail.clone());
                }
            }
        }
        out
    }
}
