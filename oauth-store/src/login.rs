//! Saving a new grant and logging out (DESIGN.md "Locks, order, waiting": the
//! credential lock covers the save of a login and the logout).

use oauth_store_core::{Credential, StoreError, StoreMode};

use crate::error::{Error, StoreOutcome};
use crate::handle::CredentialHandle;
use crate::resolution::Resolution;

impl CredentialHandle {
    /// Saves a new credential (after an authorization), replacing any stored one,
    /// under the credential lock; stamps `updated_at`; removes copies in other stores.
    /// Re-resolves under Auto's save rules and pins the result.
    ///
    /// # Errors
    /// [`Error::Lock`]; [`Error::Store`] (a keyring write that timed out is an error,
    /// never a fall-back to File).
    pub fn login(&self, mut credential: Credential) -> Result<Resolution, Error> {
        let _lock = self.inner.credential_lock(&self.key)?;
        credential.updated_at = Some(self.inner.clock.now_ms());
        let resolution = self.inner.resolve_save(&self.key, &credential)?;
        *self.pinned.lock().unwrap_or_else(|e| e.into_inner()) = Some(resolution);
        self.inner.observe(&self.key, resolution);
        self.inner.remove_other_copies(&self.key, resolution.store);
        Ok(resolution)
    }

    /// Removes every copy of the credential from every store of the layout, under the
    /// credential lock, and reports each store's outcome. Nothing stored is not an error.
    /// A store that cannot be used here ([`StoreError::Unavailable`], e.g. no session
    /// bus) is reported in its outcome but fails the logout only when the mode needs
    /// that store (`--store keyring` for the keyring): under Auto this process could not
    /// have saved there.
    ///
    /// # Errors
    /// [`Error::LogoutIncomplete`] naming each store where a copy stayed;
    /// [`Error::Lock`].
    pub fn logout(&self) -> Result<Vec<StoreOutcome>, Error> {
        let _lock = self.inner.credential_lock(&self.key)?;
        let outcomes: Vec<StoreOutcome> = self
            .inner
            .stores()
            .into_iter()
            .map(|(store, s)| StoreOutcome {
                store,
                result: s.delete(&self.key),
            })
            .collect();
        let needed = (self.inner.mode != StoreMode::Auto).then(|| self.inner.explicit_kind());
        let failed = outcomes.iter().any(|o| match &o.result {
            Ok(_) => false,
            Err(StoreError::Unavailable { .. }) => Some(o.store) == needed,
            Err(_) => true,
        });
        if failed {
            return Err(Error::LogoutIncomplete {
                key: self.key.clone(),
                outcomes,
            });
        }
        Ok(outcomes)
    }
}
