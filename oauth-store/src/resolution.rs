//! Auto resolution (DESIGN.md "Auto resolution"): where a handle reads and writes,
//! the seven reasons, the authoritative every-store reread, and the removal of older
//! copies after a save.

use std::sync::Arc;

use oauth_store_core::{
    Credential, CredentialStore, KeyringBackend, ResolutionReason, StoreError, StoreKey, StoreKind,
    StoreMode,
};

use crate::error::Error;
use crate::store::Inner;

/// Where a handle resolved and why; pinned for the handle's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Resolution {
    /// The store the handle reads first and writes to.
    pub store: StoreKind,
    /// Why (one of the seven reasons of DESIGN.md).
    pub reason: ResolutionReason,
}

/// Receives one observation per resolution and per save (the drift sidecar's input).
/// It is never asked which store to choose, and its failures are its own.
pub trait ResolutionObserver: Send + Sync {
    /// `key` resolved (or saved) to `resolution` under `mode` and `backend`.
    fn observe(
        &self,
        key: &StoreKey,
        mode: StoreMode,
        backend: KeyringBackend,
        resolution: Resolution,
    );
}

impl Inner {
    /// What "keyring" means under Auto.
    pub(crate) fn auto_keyring(&self) -> Option<(StoreKind, &Arc<dyn CredentialStore>)> {
        match self.backend {
            KeyringBackend::Direct => self.keyring.as_ref().map(|k| (k.kind(), k)),
            KeyringBackend::Secrets => self.secrets.as_ref().map(|s| (s.kind(), s)),
        }
    }

    pub(crate) fn explicit_kind(&self) -> StoreKind {
        match self.mode {
            StoreMode::File | StoreMode::Auto => self.file.kind(),
            StoreMode::Keyring => self
                .keyring
                .as_ref()
                .map_or(StoreKind::Keyring, |k| k.kind()),
            StoreMode::Secrets => self
                .secrets
                .as_ref()
                .map_or(StoreKind::Secrets, |s| s.kind()),
        }
    }

    pub(crate) fn observe(&self, key: &StoreKey, resolution: Resolution) {
        tracing::debug!(
            target: "oauth_store::resolution",
            key = %key,
            store = %resolution.store,
            reason = %resolution.reason,
            "resolved"
        );
        if let Some(observer) = &self.observer {
            observer.observe(key, self.mode, self.backend, resolution);
        }
    }

    /// Auto or configured resolution on load (DESIGN.md "Auto resolution").
    pub(crate) fn resolve_load(
        &self,
        key: &StoreKey,
    ) -> Result<(Resolution, Option<Credential>), Error> {
        if self.mode != StoreMode::Auto {
            let kind = self.explicit_kind();
            let found = self.store(kind)?.load(key)?;
            return Ok((
                Resolution {
                    store: kind,
                    reason: ResolutionReason::ConfiguredLoad,
                },
                found,
            ));
        }
        let reason = match self.auto_keyring() {
            Some((kind, keyring)) => match keyring.load(key) {
                Ok(Some(found)) => {
                    return Ok((
                        Resolution {
                            store: kind,
                            reason: ResolutionReason::AutoLoadKeyring,
                        },
                        Some(found),
                    ));
                }
                Ok(None) => ResolutionReason::AutoLoadFileKeyringMissing,
                Err(e @ StoreError::Lock(_)) => return Err(e.into()),
                Err(e) => {
                    tracing::debug!(target: "oauth_store::resolution", key = %key, error = %e, "keyring failed on load; using the File store");
                    ResolutionReason::AutoLoadFileKeyringError
                }
            },
            None => ResolutionReason::AutoLoadFileKeyringError,
        };
        let found = self.file.load(key)?;
        Ok((
            Resolution {
                store: self.file.kind(),
                reason,
            },
            found,
        ))
    }

    /// Auto or configured resolution on save, and the save itself, unfenced.
    // Kept for saves made outside a shared lock's transaction.
    #[allow(dead_code)]
    pub(crate) fn resolve_save(
        &self,
        key: &StoreKey,
        credential: &Credential,
    ) -> Result<Resolution, Error> {
        self.resolve_save_fenced(key, credential, &oauth_store_core::Fence::UNFENCED)
    }

    /// [`Inner::resolve_save`] with the `fence` of the caller's credential lock on the
    /// save (an explicit mode's store; Auto's stores are file-locked, unfenced).
    pub(crate) fn resolve_save_fenced(
        &self,
        key: &StoreKey,
        credential: &Credential,
        fence: &oauth_store_core::Fence,
    ) -> Result<Resolution, Error> {
        if self.mode != StoreMode::Auto {
            let kind = self.explicit_kind();
            self.store(kind)?.save_fenced(key, credential, fence)?;
            return Ok(Resolution {
                store: kind,
                reason: ResolutionReason::ConfiguredSave,
            });
        }
        if let Some((kind, keyring)) = self.auto_keyring() {
            match keyring.save(key, credential) {
                Ok(()) => {
                    return Ok(Resolution {
                        store: kind,
                        reason: ResolutionReason::AutoSaveKeyring,
                    });
                }
                Err(StoreError::Unavailable { reason, .. }) => {
                    tracing::debug!(target: "oauth_store::resolution", key = %key, reason, "keyring unusable on save; using the File store");
                }
                // A timed-out or failed write is indeterminate, and a lock failure is
                // never a reason to fall back: the copy may be in the keyring.
                Err(e) => return Err(e.into()),
            }
        }
        self.file.save(key, credential)?;
        Ok(Resolution {
            store: StoreKind::File,
            reason: ResolutionReason::AutoSaveFileKeyringError,
        })
    }

    /// The authoritative reread: every store that answers; the newest copy by
    /// `updated_at` wins (absent = oldest; ties go to `prefer`).
    pub(crate) fn authoritative_read(
        &self,
        key: &StoreKey,
        prefer: Option<StoreKind>,
    ) -> Result<Option<(Credential, StoreKind)>, Error> {
        let mut stores = self.stores();
        if let Some(prefer) = prefer {
            stores.sort_by_key(|(kind, _)| *kind != prefer);
        }
        let mut best: Option<(Credential, StoreKind)> = None;
        let mut first_error: Option<(StoreKind, StoreError)> = None;
        for (kind, store) in stores {
            match store.load(key) {
                Ok(Some(found)) => {
                    if best
                        .as_ref()
                        .is_none_or(|(b, _)| found.updated_at > b.updated_at)
                    {
                        best = Some((found, kind));
                    }
                }
                Ok(None) => {}
                Err(e @ StoreError::Lock(_)) => return Err(e.into()),
                Err(e) => {
                    tracing::debug!(target: "oauth_store::refresh", key = %key, store = %kind, error = %e, "store did not answer the reread");
                    if first_error.is_none() {
                        first_error = Some((kind, e));
                    }
                }
            }
        }
        match (best, first_error) {
            (Some(found), _) => Ok(Some(found)),
            // Nothing found, and the store this handle is pinned to (or the only one)
            // failed: that is an error, not "nothing stored".
            (None, Some((kind, e)))
                if Some(kind) == prefer || self.file_alone() || e.is_entry_error() =>
            {
                Err(e.into())
            }
            (None, _) => Ok(None),
        }
    }

    /// Removes copies of `key` in every store but `keep`; failures are logged (an
    /// older copy that stays loses the newest-wins reread anyway).
    pub(crate) fn remove_other_copies(&self, key: &StoreKey, keep: StoreKind) {
        for (kind, store) in self.stores() {
            if kind == keep {
                continue;
            }
            match store.delete(key) {
                Ok(true) => {
                    tracing::debug!(target: "oauth_store::save", key = %key, store = %kind, "removed an older copy");
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::debug!(target: "oauth_store::save", key = %key, store = %kind, error = %e, "could not remove an older copy");
                }
            }
        }
    }
}
