//! Entry points for the fuzz targets in `fuzz/`, compiled only with `--cfg fuzzing`
//! (which cargo-fuzz sets): the sidecar document's parser and the rewrite a
//! recorded observation makes.

use std::collections::BTreeMap;
use std::path::PathBuf;

use oauth_store_core::{KeyringBackend, ResolutionReason, StoreKey, StoreKind, StoreMode};

use crate::document::{DriftError, Parsed, Resolutions, Slot, WireObservation};
use crate::sidecar::{next_entry, unchanged};

/// Parses `bytes` as the sidecar document and, when it parses, records one
/// observation (chosen by `choice`) for its first key (or a new one) as
/// [`DriftSidecar::record`](crate::DriftSidecar::record) would, checking that the
/// rewrite parses, keeps every other entry and reads back the observation.
///
/// # Errors
/// The document's fault, as [`DriftSidecar::read`](crate::DriftSidecar::read)
/// reports it.
///
/// # Panics
/// When an invariant does not hold (that is the finding).
pub fn document(bytes: &[u8], choice: u8) -> Result<Resolutions, DriftError> {
    let path = PathBuf::from("sidecar.json");
    let mut parsed = Parsed::parse(bytes).map_err(|f| f.into_error(path.clone()))?;
    let resolutions = parsed.resolutions();
    let written = parsed.to_bytes().expect("a parsed document serializes");
    let again = Parsed::parse(&written).expect("a written document parses");
    assert_eq!(again.resolutions(), resolutions, "read back the same");

    let modes = [
        StoreMode::Auto,
        StoreMode::File,
        StoreMode::Keyring,
        StoreMode::Secrets,
    ];
    let kinds = [StoreKind::File, StoreKind::Keyring, StoreKind::Secrets];
    let reasons = [
        ResolutionReason::AutoLoadKeyring,
        ResolutionReason::AutoLoadFileKeyringMissing,
        ResolutionReason::AutoLoadFileKeyringError,
        ResolutionReason::AutoSaveKeyring,
        ResolutionReason::AutoSaveFileKeyringError,
        ResolutionReason::ConfiguredLoad,
        ResolutionReason::ConfiguredSave,
    ];
    let c = usize::from(choice);
    let observed = WireObservation {
        store_mode: modes[c % 4],
        keyring_backend: if c & 0x80 == 0 {
            KeyringBackend::Direct
        } else {
            KeyringBackend::Secrets
        },
        resolved_store: kinds[(c / 4) % 3].into(),
        reason: Some(reasons[(c / 12) % 7]),
        observed_at: Some(1_700_000_000_000),
        extra: BTreeMap::new(),
    };
    let key = parsed
        .resolutions
        .keys()
        .next()
        .cloned()
        .unwrap_or_else(|| "fuzz|0123456789abcdef".to_owned());
    let last = match parsed.resolutions.get(&key) {
        Some(Slot::Entry(entry)) => Some(entry.clone()),
        _ => None,
    };
    if last.as_ref().is_some_and(|l| unchanged(l, &observed)) {
        return Ok(resolutions);
    }
    let (entry, _) = next_entry(last.as_ref(), &observed);
    parsed.resolutions.insert(key.clone(), Slot::Entry(entry));
    let rewritten = parsed.to_bytes().expect("a recorded document serializes");
    let after = Parsed::parse(&rewritten)
        .expect("a recorded document parses")
        .resolutions();
    let store_key = StoreKey::from_raw(key);
    let recorded = after.get(&store_key).expect("the observation is read back");
    assert_eq!(recorded.last.store_mode, observed.store_mode);
    assert_eq!(recorded.last.keyring_backend, observed.keyring_backend);
    assert_eq!(recorded.last.resolved_store, observed.resolved_store);
    let others = |r: &Resolutions| -> Resolutions {
        let mut r = r.clone();
        r.entries.remove(&store_key);
        r.unreadable.remove(&store_key);
        r
    };
    assert_eq!(
        others(&after),
        others(&resolutions),
        "other entries untouched"
    );
    Ok(resolutions)
}
