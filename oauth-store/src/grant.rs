//! Saving a new grant and logging out (DESIGN.md "Locks, order, waiting": the
//! credential lock covers the save of a login and the logout). The login flow that
//! obtains a grant is not here; it ends by saving through [`CredentialHandle::save_grant`].

use oauth_store_core::{Credential, StoreError, StoreMode};

use crate::error::{Error, StoreOutcome};
use crate::handle::CredentialHandle;
use crate::resolution::Resolution;

impl CredentialHandle {
    /// Saves a new grant: a credential obtained by an authorization (a login flow, an
    /// imported token response), replacing any stored one, tokens included (a new grant
    /// is never merged with the old one). Under the credential lock, so it is serialized
    /// with every other process's refresh; stamps `updated_at`; removes copies in other
    /// stores. Re-resolves under Auto's save rules and pins the result.
    ///
    /// # Errors
    /// [`Error::Lock`]; [`Error::Store`] (a keyring write that timed out is an error,
    /// never a fall-back to File).
    pub fn save_grant(&self, mut credential: Credential) -> Result<Resolution, Error> {
        let lock = self
            .inner
            .coordination
            .credential_lock(&self.inner, &self.key)?;
        let fence = crate::coordination::fence_of(lock.as_ref());
        credential.updated_at = Some(self.inner.clock.now_ms());
        let resolution = self
            .inner
            .resolve_save_fenced(&self.key, &credential, &fence)?;
        *self.pinned.lock().unwrap_or_else(|e| e.into_inner()) = Some(resolution);
        self.inner.observe(&self.key, resolution);
        self.inner
            .coordination
            .after_save(&self.inner, &self.key, resolution.store);
        Ok(resolution)
    }

    /// Removes every copy of the credential from every store of the layout (a rescued
    /// copy included, DESIGN.md "Persist rescue", so it never comes back), under the
    /// credential lock, and reports each store's outcome. Nothing stored is not an error.
    /// A store that cannot be used here ([`StoreError::Unavailable`], e.g. no session
    /// bus) is reported in its outcome but fails the logout only when the mode needs
    /// that store (the keyring under [`StoreMode::Keyring`]): under Auto this process could not
    /// have saved there.
    ///
    /// # Errors
    /// [`Error::LogoutIncomplete`] naming each store where a copy stayed;
    /// [`Error::Lock`].
    pub fn logout(&self) -> Result<Vec<StoreOutcome>, Error> {
        let lock = self
            .inner
            .coordination
            .credential_lock(&self.inner, &self.key)?;
        let fence = crate::coordination::fence_of(lock.as_ref());
        let outcomes: Vec<StoreOutcome> = self
            .inner
            .stores()
            .into_iter()
            .map(|(store, s)| StoreOutcome {
                store,
                result: s.delete_fenced(&self.key, &fence),
            })
            // The rescue file is reported only when it held a copy or failed.
            .filter(|o| o.store != crate::rescue::RESCUE || !matches!(o.result, Ok(false)))
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
