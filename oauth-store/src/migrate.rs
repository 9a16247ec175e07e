//! Moving a credential into one store (DESIGN.md "Auto resolution": the newest copy
//! wins, and a save removes the older copies it can reach), as a transaction under
//! the credential lock.

use oauth_store_core::{Credential, ResolutionReason, StoreError, StoreKind, StoreMode};

use crate::error::Error;
use crate::handle::CredentialHandle;
use crate::resolution::Resolution;

/// What [`CredentialHandle::migrate_to`] did with one credential.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Migration {
    /// The store the newest copy came from; `None` when no copy was left when the
    /// credential lock was taken (logged out meanwhile): nothing was moved.
    pub from: Option<StoreKind>,
    /// The stores an older copy was removed from.
    pub removed: Vec<StoreKind>,
    /// The stores where an older copy could not be removed, with why: a process that
    /// cannot reach the target could still find it.
    pub stayed: Vec<(StoreKind, StoreError)>,
}

impl Migration {
    /// Whether the newest copy was in the target already.
    pub fn was_already_there(&self, target: StoreKind) -> bool {
        self.from == Some(target)
    }
}

impl CredentialHandle {
    /// Moves this credential into the store of kind `target`, under its credential
    /// lock: reads every store's copy, saves the newest (by `updated_at`) in `target`
    /// stamped later than every copy, and only then removes the copies elsewhere. A
    /// store listed in `skip` (one that cannot be used here) is neither read nor
    /// cleaned: what it holds stays. Recorded in the drift sidecar as an explicit save
    /// in `target`, so the next Auto resolution starts a new baseline.
    ///
    /// # Errors
    /// [`Error::Lock`]; [`Error::Config`] when this store has no `target`;
    /// [`Error::Store`] when a copy cannot be read (it may be the newest: nothing is
    /// moved) or the save in `target` fails (every copy stays where it was).
    pub fn migrate_to(&self, target: StoreKind, skip: &[StoreKind]) -> Result<Migration, Error> {
        let inner = &*self.inner;
        let target_store = inner.store(target)?;
        let lock = inner.coordination.credential_lock(inner, &self.key)?;
        let fence = crate::coordination::fence_of(lock.as_ref());
        let mut copies: Vec<(StoreKind, Credential)> = Vec::new();
        for (kind, store) in inner.stores() {
            if skip.contains(&kind) {
                continue;
            }
            if let Some(credential) = store.load(&self.key)? {
                copies.push((kind, credential));
            }
        }
        // The newest copy wins (no `updated_at` = oldest); a tie goes to the target's.
        let Some((from, mut credential)) = copies
            .iter()
            .max_by_key(|(kind, c)| (c.updated_at, *kind == target))
            .map(|(kind, c)| (*kind, c.clone()))
        else {
            return Ok(Migration {
                from: None,
                removed: Vec::new(),
                stayed: Vec::new(),
            });
        };
        if from != target {
            // Later than every copy, so a reader that still sees an older one elsewhere
            // prefers this one.
            let now = inner.clock.now_ms();
            credential.updated_at = Some(now.max(credential.updated_at.map_or(0, |t| t + 1)));
            target_store.save_fenced(&self.key, &credential, &fence)?;
            let mode = match target {
                StoreKind::Keyring => StoreMode::Keyring,
                StoreKind::Secrets => StoreMode::Secrets,
                _ => StoreMode::File,
            };
            let saved = Resolution {
                store: target,
                reason: ResolutionReason::ConfiguredSave,
            };
            if let Some(observer) = &inner.observer {
                observer.observe(&self.key, mode, inner.backend, saved);
            }
            *self.pinned.lock().unwrap_or_else(|e| e.into_inner()) = Some(saved);
        }
        let mut removed = Vec::new();
        let mut stayed = Vec::new();
        for (kind, _) in copies.iter().filter(|(kind, _)| *kind != target) {
            match inner.store(*kind)?.delete_fenced(&self.key, &fence) {
                Ok(_) => removed.push(*kind),
                Err(e) => stayed.push((*kind, e)),
            }
        }
        Ok(Migration {
            from: Some(from),
            removed,
            stayed,
        })
    }
}
