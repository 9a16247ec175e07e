//! Recording observations and telling drift from migration and baseline resets
//! (DESIGN.md "Drift sidecar").
//!
//! Each [`DriftSidecar::record`] first reads the document without a lock: an
//! observation that repeats the key's recorded resolution (same mode, keyring backend
//! and store; a new reason or time alone is no change) ends there, with no lock and no
//! write. That is safe without the lock because writers replace the document
//! atomically: the read sees one whole version, and an observation equal to it can be
//! ordered just after that version, which is what recording it would have produced.
//! Otherwise it takes the sidecar lock for at most [`SIDECAR_TIMEOUT`], rereads,
//! classifies the observation against the key's last one, rewrites the document
//! (atomically, without the directory fsync: see [`DriftSidecar::record`]), releases
//! the lock, and only then logs and counts what changed. Every fault is skipped with
//! a line saying what was skipped: debug for the expected ones (lock busy, a document
//! of another version), warn for the rest.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use oauth_lock::atomic::{Durability, read_document, replace_with};
use oauth_lock::{LockDir, LockScope, LockTarget, SIDECAR_TIMEOUT};
use oauth_store_core::{
    Clock, KeyringBackend, ResolutionReason, StoreKey, StoreKind, StoreMode, SystemClock,
};

use crate::document::{
    Change, DriftError, Fault, MAX_DOCUMENT_BYTES, Parsed, Resolutions, ResolvedStore, Slot,
    WireEntry, WireObservation,
};

/// The drift counter's name (before any prefix); labels `previous_store`,
/// `resolved_store` (`file` or `keyring`) and `reason` (the new observation's).
pub const STORE_RESOLUTION_CHANGED: &str = "mcp.oauth.store_resolution_changed";

/// The migration counter's name (before any prefix); no labels, since a migration is
/// always File -> keyring on `auto_save_keyring`.
pub const STORE_MIGRATED: &str = "mcp.oauth.store_migrated";

/// What [`DriftSidecar::record`] did. Callers may ignore it: recording is best effort.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordOutcome {
    /// Written; nothing to report (a first observation, or the same store again).
    Recorded,
    /// The key's recorded resolution already (same mode, keyring backend and store;
    /// the reason or time may differ): nothing written, no lock taken, nothing to
    /// report.
    Unchanged,
    /// Written, and drift was logged at warn and counted.
    Drift {
        /// Where the key resolved last time.
        previous: ResolvedStore,
        /// Where it resolved now.
        resolved: ResolvedStore,
    },
    /// Written, and a File -> keyring migration was logged at info and counted.
    Migration,
    /// Written as a new baseline (explicit mode, or mode or backend changed); nothing
    /// counted.
    BaselineReset,
    /// Nothing written; a debug or warn line said why.
    Skipped {
        /// Why.
        reason: SkipReason,
    },
}

/// Why an observation was not recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SkipReason {
    /// Another process held the sidecar lock past [`SIDECAR_TIMEOUT`] (logged at debug).
    LockBusy,
    /// The sidecar lock could not be opened (unwritable lock directory, foreign owner;
    /// logged at warn).
    LockFailed,
    /// The document could not be read: I/O, over [`MAX_DOCUMENT_BYTES`], or not a
    /// regular file (logged at warn).
    Unreadable,
    /// The document is not JSON, or not shaped as version 1; left untouched until an
    /// explicit repair (logged at warn).
    Corrupt,
    /// The document is of another version; left untouched (logged at debug).
    OtherVersion,
    /// Writing the document failed, e.g. an unwritable directory (logged at warn).
    WriteFailed,
}

/// The drift sidecar of one home: records, token-free, where each credential
/// resolved, and reports drift. Never read to choose a store.
///
/// Cheap to clone. Its API takes a [`StoreKey`] and what was resolved, never a
/// token or a store handle.
#[derive(Debug, Clone)]
pub struct DriftSidecar {
    document: PathBuf,
    locks: LockDir,
    metric_prefix: Option<String>,
    clock: Arc<dyn Clock>,
}

impl DriftSidecar {
    /// A sidecar writing `document` (a layout's `.mcp-oauth-store-resolutions.json`)
    /// under the sidecar lock of `locks`, with no metric prefix and the system clock.
    pub fn new(document: impl Into<PathBuf>, locks: LockDir) -> Self {
        DriftSidecar {
            document: document.into(),
            locks,
            metric_prefix: None,
            clock: Arc::new(SystemClock),
        }
    }

    /// Prepends `prefix` verbatim to both counter names; the codex preset uses
    /// `codex.` (giving `codex.mcp.oauth.store_resolution_changed`).
    pub fn with_metric_prefix(mut self, prefix: Option<String>) -> Self {
        self.metric_prefix = prefix;
        self
    }

    /// Takes `observed_at` (ms since the Unix epoch) from `clock`.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The document's path.
    pub fn document(&self) -> &Path {
        &self.document
    }

    /// Records that `key` resolved (or was saved) to `resolved` under `mode` and
    /// `backend`, for `reason`. Best effort: never fails, and never waits longer than
    /// [`SIDECAR_TIMEOUT`] for the lock.
    ///
    /// Against the key's last observation: two Auto observations with the same
    /// backend that resolved differently are drift (warn, and
    /// [`STORE_RESOLUTION_CHANGED`] counted), unless File -> keyring on
    /// `auto_save_keyring`, a migration (info, and [`STORE_MIGRATED`] counted). An
    /// explicit mode, or a change of mode or backend, is a baseline reset (debug,
    /// nothing counted). `StoreKind::Secrets` is written as `keyring`.
    ///
    /// Only an observation that changes what the document records is written: one
    /// whose mode, backend or store differs from the key's entry (or a key without a
    /// readable entry). A repeat, with another reason (a save after a load) or at a
    /// later time, is [`RecordOutcome::Unchanged`], found by a lock-free read, so a
    /// storm of short-lived processes neither writes nor takes the sidecar lock.
    /// `observed_at` is therefore when the key was first seen resolving this way.
    ///
    /// A write is atomic but skips the directory fsync
    /// ([`Durability::RenameMayBeLost`]): after a crash the document holds this
    /// observation or the one before, never a broken file; a lost observation is the
    /// same loss as a skipped one, and the next observation that differs writes again.
    pub fn record(
        &self,
        key: &StoreKey,
        mode: StoreMode,
        backend: KeyringBackend,
        resolved: StoreKind,
        reason: ResolutionReason,
    ) -> RecordOutcome {
        let observed = WireObservation {
            store_mode: mode,
            keyring_backend: backend,
            resolved_store: resolved.into(),
            reason: Some(reason),
            observed_at: Some(self.clock.now_ms()),
            extra: BTreeMap::new(),
        };
        if self.unchanged_without_lock(key, &observed) {
            return RecordOutcome::Unchanged;
        }
        let outcome = match self.record_locked(key, &observed) {
            Ok(outcome) => outcome,
            Err(reason) => return RecordOutcome::Skipped { reason },
        };
        self.report(key, backend, reason, outcome);
        outcome
    }

    /// Reads the document for `doctor`: each key's last observation, the last one
    /// that differed, and how it changed. Takes no lock (writes are atomic
    /// replacements). A missing document reads as empty.
    ///
    /// # Errors
    /// [`DriftError::Read`] (I/O, too large, not a regular file),
    /// [`DriftError::Corrupt`], [`DriftError::OtherVersion`].
    pub fn read(&self) -> Result<Resolutions, DriftError> {
        let Some(document) = read_document(&self.document, MAX_DOCUMENT_BYTES)? else {
            return Ok(Resolutions::default());
        };
        Parsed::parse(&document.bytes)
            .map(|parsed| parsed.resolutions())
            .map_err(|fault| fault.into_error(self.document.clone()))
    }

    /// Whether the document already records `observed`'s resolution for `key`. Any
    /// fault answers no: the locked path reports it.
    fn unchanged_without_lock(&self, key: &StoreKey, observed: &WireObservation) -> bool {
        let Ok(Some(document)) = read_document(&self.document, MAX_DOCUMENT_BYTES) else {
            return false;
        };
        let Ok(parsed) = Parsed::parse(&document.bytes) else {
            return false;
        };
        matches!(
            parsed.resolutions.get(key.as_str()),
            Some(Slot::Entry(last)) if unchanged(last, observed)
        )
    }

    /// The read-classify-write under the sidecar lock; logs its own skips.
    fn record_locked(
        &self,
        key: &StoreKey,
        observed: &WireObservation,
    ) -> Result<RecordOutcome, SkipReason> {
        let path = self.document.display();
        // A scope of its own: the sidecar ranks last, so whatever locks the caller
        // holds, this never violates the order, and it excludes other recorders.
        let scope = LockScope::new();
        let _guard = match self
            .locks
            .acquire(&scope, &LockTarget::Sidecar, SIDECAR_TIMEOUT)
        {
            Ok(guard) => guard,
            Err(oauth_lock::Error::Timeout {
                waited, holder_pid, ..
            }) => {
                tracing::debug!(
                    key = %key,
                    path = %path,
                    waited_ms = u64::try_from(waited.as_millis()).unwrap_or(u64::MAX),
                    holder_pid,
                    "drift sidecar: lock busy; observation skipped"
                );
                return Err(SkipReason::LockBusy);
            }
            Err(error) => {
                tracing::warn!(key = %key, path = %path, %error, "drift sidecar: lock failed; observation skipped");
                return Err(SkipReason::LockFailed);
            }
        };
        let mut parsed = match read_document(&self.document, MAX_DOCUMENT_BYTES) {
            Ok(None) => Parsed::empty(),
            Ok(Some(document)) => match Parsed::parse(&document.bytes) {
                Ok(parsed) => parsed,
                Err(Fault::OtherVersion(version)) => {
                    tracing::debug!(
                        key = %key, path = %path, version,
                        "drift sidecar: document of another version left untouched; observation skipped"
                    );
                    return Err(SkipReason::OtherVersion);
                }
                Err(Fault::Corrupt(detail)) => {
                    tracing::warn!(
                        key = %key, path = %path, %detail,
                        "drift sidecar: corrupt document left untouched (remove or repair it); observation skipped"
                    );
                    return Err(SkipReason::Corrupt);
                }
            },
            Err(error) => {
                tracing::warn!(key = %key, %error, "drift sidecar: document unreadable; observation skipped");
                return Err(SkipReason::Unreadable);
            }
        };

        let last = match parsed.resolutions.get(key.as_str()) {
            Some(Slot::Entry(entry)) => Some(entry),
            Some(Slot::Unreadable(_, detail)) => {
                tracing::debug!(key = %key, path = %path, %detail, "drift sidecar: replacing an unreadable entry");
                None
            }
            None => None,
        };
        if last.is_some_and(|last| unchanged(last, observed)) {
            // Another process wrote the same observation since the lock-free check.
            return Ok(RecordOutcome::Unchanged);
        }
        let (entry, outcome) = next_entry(last, observed);
        parsed
            .resolutions
            .insert(key.as_str().to_owned(), Slot::Entry(entry));

        let written = parsed
            .to_bytes()
            .map_err(|e| e.to_string())
            .and_then(|bytes| {
                replace_with(&self.document, &bytes, Durability::RenameMayBeLost)
                    .map_err(|e| e.to_string())
            });
        if let Err(error) = written {
            tracing::warn!(key = %key, %error, "drift sidecar: write failed; observation skipped");
            return Err(SkipReason::WriteFailed);
        }
        Ok(outcome)
    }

    /// Logs and counts a recorded change, after the lock is released.
    fn report(
        &self,
        key: &StoreKey,
        backend: KeyringBackend,
        reason: ResolutionReason,
        outcome: RecordOutcome,
    ) {
        match outcome {
            RecordOutcome::Drift { previous, resolved } => {
                tracing::warn!(
                    key = %key,
                    previous_store = previous.as_str(),
                    resolved_store = resolved.as_str(),
                    reason = reason.as_str(),
                    keyring_backend = backend.as_str(),
                    "credential store drift: Auto mode resolved this credential to {resolved} \
                     after {previous} last time; a credential left in the {previous} store is \
                     not seen (a cause of 'authorization required')"
                );
                metrics::counter!(
                    self.metric_name(STORE_RESOLUTION_CHANGED),
                    "previous_store" => previous.as_str(),
                    "resolved_store" => resolved.as_str(),
                    "reason" => reason.as_str(),
                )
                .increment(1);
            }
            RecordOutcome::Migration => {
                tracing::info!(
                    key = %key,
                    keyring_backend = backend.as_str(),
                    "credential migrated from the File store to the keyring (auto_save_keyring)"
                );
                metrics::counter!(self.metric_name(STORE_MIGRATED)).increment(1);
            }
            RecordOutcome::BaselineReset => {
                tracing::debug!(
                    key = %key,
                    reason = reason.as_str(),
                    "drift sidecar: new baseline (explicit mode, or mode or keyring backend changed)"
                );
            }
            RecordOutcome::Recorded | RecordOutcome::Unchanged | RecordOutcome::Skipped { .. } => {}
        }
    }

    fn metric_name(&self, name: &str) -> String {
        format!("{}{name}", self.metric_prefix.as_deref().unwrap_or(""))
    }
}

/// Whether `observed` repeats the resolution `last` records: same mode, backend and
/// store. The reason and the time are not compared: a save after a load, or a later
/// load, changes nothing the sidecar is for (where the key resolved, and when that
/// changed).
pub(crate) fn unchanged(last: &WireEntry, observed: &WireObservation) -> bool {
    last.store_mode == observed.store_mode
        && last.keyring_backend == observed.keyring_backend
        && last.resolved_store == observed.resolved_store
}

/// The key's next entry and what the change was (DESIGN.md "Drift sidecar").
///
/// `previous` moves to the replaced observation whenever mode, backend or store
/// differ, so it always names the last observation that differed; otherwise the old
/// `previous` and `change` are kept.
pub(crate) fn next_entry(
    last: Option<&WireEntry>,
    observed: &WireObservation,
) -> (WireEntry, RecordOutcome) {
    let mut entry = WireEntry {
        store_mode: observed.store_mode,
        keyring_backend: observed.keyring_backend,
        resolved_store: observed.resolved_store,
        reason: observed.reason,
        observed_at: observed.observed_at,
        change: None,
        previous: None,
        // Unknown fields of the replaced entry described the replaced observation.
        extra: BTreeMap::new(),
    };
    let Some(last) = last else {
        return (entry, RecordOutcome::Recorded);
    };
    let same_settings =
        last.store_mode == observed.store_mode && last.keyring_backend == observed.keyring_backend;
    let moved = last.resolved_store != observed.resolved_store;
    let change = if !same_settings || observed.store_mode != StoreMode::Auto {
        (!same_settings || moved).then_some(Change::BaselineReset)
    } else if !moved {
        None
    } else if last.resolved_store == ResolvedStore::File
        && observed.resolved_store == ResolvedStore::Keyring
        && observed.reason == Some(ResolutionReason::AutoSaveKeyring)
    {
        Some(Change::Migration)
    } else {
        Some(Change::Drift)
    };
    let outcome = match change {
        None => {
            entry.previous = last.previous.clone();
            entry.change = last.change;
            return (entry, RecordOutcome::Recorded);
        }
        Some(Change::Drift) => RecordOutcome::Drift {
            previous: last.resolved_store,
            resolved: observed.resolved_store,
        },
        Some(Change::Migration) => RecordOutcome::Migration,
        Some(Change::BaselineReset) => RecordOutcome::BaselineReset,
    };
    entry.previous = Some(last.observation());
    entry.change = change;
    (entry, outcome)
}
