//! Saving a new grant and logging out (DESIGN.md "Locks, order, waiting": the
//! credential lock covers the save of a login and the logout). The login flow
//! (`login`, feature `http`) obtains its grant inside `obtain_and_save`.

use oauth_store_core::{Credential, Fence, StoreError, StoreMode};

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
    pub fn save_grant(&self, credential: Credential) -> Result<Resolution, Error> {
        self.obtain_and_save(|| Ok::<_, Error>(credential))
            .map(|(resolution, _)| resolution)
    }

    /// The login transaction: under the credential lock, `obtain` makes the new grant (a
    /// code exchange, the last poll of a device grant) and it is saved as
    /// [`CredentialHandle::save_grant`] saves. The lock covers the provider request and
    /// the save, never the wait for a person before it, so no other process refreshes the
    /// old grant between the two. Nothing is saved when `obtain` fails. Returns where it
    /// went and what was saved.
    pub(crate) fn obtain_and_save<E: From<Error>>(
        &self,
        obtain: impl FnOnce() -> Result<Credential, E>,
    ) -> Result<(Resolution, Credential), E> {
        let lock = self
            .inner
            .coordination
            .credential_lock(&self.inner, &self.key)?;
        let fence = crate::coordination::fence_of(lock.as_ref());
        let mut credential = obtain()?;
        let resolution = self.save_stamped(&mut credential, &fence)?;
        Ok((resolution, credential))
    }

    /// [`CredentialHandle::save_grant`] under a credential lock the caller holds, its
    /// save carrying that lock's `fence`.
    pub(crate) fn save_grant_locked(
        &self,
        mut credential: Credential,
        fence: &Fence,
    ) -> Result<Resolution, Error> {
        self.save_stamped(&mut credential, fence)
    }

    /// Stamps `updated_at`, saves under Auto's save rules, pins the result and removes
    /// copies in other stores; the caller holds the credential lock.
    fn save_stamped(
        &self,
        credential: &mut Credential,
        fence: &Fence,
    ) -> Result<Resolution, Error> {
        credential.updated_at = Some(self.inner.clock.now_ms());
        let resolution = self
            .inner
            .resolve_save_fenced(&self.key, credential, fence)?;
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
