//! The drift sidecar: a token-free record of which store each MCP OAuth credential
//! resolved to, so that Auto mode landing a credential somewhere else than last time
//! is visible instead of a bare "authorization required" (DESIGN.md "Drift sidecar").
//!
//! The facade reports one observation per resolution and per save to
//! [`DriftSidecar::record`]: the store key, the mode, the keyring backend, the store
//! it resolved to and one of the seven reasons of DESIGN.md "Auto resolution". Never a
//! token, never a store handle: this crate depends on `oauth-store-core` and
//! `oauth-lock` only (`cargo xtask deps` checks that it reaches no store crate, no
//! keyring crate and not the facade). The document is never read to choose a store;
//! `doctor` reads it with [`DriftSidecar::read`].
//!
//! - Document: `{"version":1,"resolutions":{"<key>":{"store_mode","keyring_backend",
//!   "resolved_store","reason","observed_at","change","previous"}}}`, `resolved_store`
//!   in `file | keyring`, written by `oauth_lock::atomic::replace_with` under the
//!   sidecar lock, and only when an observation changes what it records (mode, keyring
//!   backend or store; a new reason or time alone is no change), so a read with
//!   nothing to change neither writes nor takes the lock. Unknown fields of other
//!   entries and of the top level are kept.
//! - Drift: two Auto observations with the same keyring backend that resolved
//!   differently, not explained by a migration: one `tracing` warning and the counter
//!   [`STORE_RESOLUTION_CHANGED`] (labels `previous_store`, `resolved_store`,
//!   `reason`).
//! - Migration: File -> keyring on `auto_save_keyring`: info, and [`STORE_MIGRATED`].
//! - Baseline reset: an explicit mode, or a change of mode or keyring backend: the new
//!   observation is the baseline, nothing is counted.
//! - Counters go through the `metrics` facade, with an optional name prefix (the codex
//!   preset uses `codex.`).
//! - Best effort: the lock is waited for at most 250 ms ([`SIDECAR_TIMEOUT`]); any
//!   fault skips the observation with a debug or warn line and never reaches the
//!   OAuth operation.
//!
//! ```
//! use oauth_drift::{DriftSidecar, RecordOutcome, ResolvedStore};
//! use oauth_lock::LockDir;
//! use oauth_store_core::{compute_store_key, KeyringBackend, ResolutionReason, StoreKind, StoreMode};
//!
//! let home = tempfile::tempdir()?;
//! let sidecar = DriftSidecar::new(
//!     home.path().join(".mcp-oauth-store-resolutions.json"),
//!     LockDir::open(home.path().join("mcp-oauth-locks"))?,
//! );
//! let key = compute_store_key("notion", "https://mcp.notion.example/mcp");
//! let (auto, direct) = (StoreMode::Auto, KeyringBackend::Direct);
//!
//! sidecar.record(&key, auto, direct, StoreKind::Keyring, ResolutionReason::AutoLoadKeyring);
//! // The keyring failed this time: Auto fell back to the File store. That is drift.
//! let outcome = sidecar.record(&key, auto, direct, StoreKind::File, ResolutionReason::AutoLoadFileKeyringError);
//! assert_eq!(outcome, RecordOutcome::Drift { previous: ResolvedStore::Keyring, resolved: ResolvedStore::File });
//!
//! let resolutions = sidecar.read()?;
//! let entry = resolutions.get(&key).expect("recorded");
//! assert!(entry.drifted());
//! assert_eq!(entry.previous.map(|p| p.resolved_store), Some(ResolvedStore::Keyring));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Limitations
//! - Drift is judged against the last observation in this home's document, whoever
//!   wrote it. A credential another tool moved (e.g. the Codex CLI migrating it to the
//!   keyring without recording) shows up as drift at the next load here.
//! - A skipped observation (lock busy past 250 ms, a failed write) is lost, and a
//!   change it carried is not reported until the next observation that differs.
//!   Changes are logged and counted only once their observation is written, so a
//!   sidecar that cannot be written reports no drift (its warn lines say so instead).
//! - A corrupt document, or one of another version, is left untouched and recording
//!   stays off until it is repaired or removed: the sidecar is diagnostic and never
//!   overwrites what it cannot read (as DESIGN.md "Writes" says of every document).
//! - An entry whose required fields do not parse (e.g. a reason this version does not
//!   know) is reported as unreadable and replaced by the key's next observation.
//! - `observed_at` and `reason` are those of the observation that established the
//!   entry's resolution, not of the latest repeat (repeats are not written): a
//!   credential that resolves to the File store because the keyring had no entry,
//!   and later because the keyring failed, keeps the first reason.
//! - Every changed observation is one atomic replacement of the whole document, with
//!   the data fsynced but not the directory (it is diagnostic: after a crash it may
//!   hold the observation before): fine for tens or hundreds of credentials;
//!   documents over 4 MiB are not read.
//! - Counters go to whatever `metrics` recorder the process installed; without one
//!   they are dropped (the `tracing` lines remain).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod document;
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing;
mod sidecar;

pub use oauth_lock::SIDECAR_TIMEOUT;

// The public interface is:
pub use document::{
    Change, DOCUMENT_VERSION, DriftError, Entry, MAX_DOCUMENT_BYTES, Observation, Resolutions,
    ResolvedStore,
};
pub use sidecar::{
    DriftSidecar, RecordOutcome, STORE_MIGRATED, STORE_RESOLUTION_CHANGED, SkipReason,
};
