//! One MCP server's credential ([`CredentialHandle`]): its key, its pinned resolution
//! and lock-free reads. The transactions on it live in `refresh`, `single_flight` and
//! `login`.

use std::sync::{Arc, Mutex};

use oauth_store_core::{Credential, StoreKey, StoreKind, StoreMode};

use crate::rescue::RESCUE;

use crate::error::{AuthorizationReason, Error};
use crate::resolution::Resolution;
use crate::store::Inner;

/// One MCP server's credential in an [`OAuthStore`](crate::OAuthStore). The first operation resolves the
/// store (DESIGN.md "Auto resolution") and pins it: reads start there, and writes go
/// there for the handle's life.
pub struct CredentialHandle {
    pub(crate) inner: Arc<Inner>,
    pub(crate) key: StoreKey,
    pub(crate) pinned: Mutex<Option<Resolution>>,
    /// Where the last refresh rescued its credential ([`CredentialHandle::rescued_in`]).
    pub(crate) rescued: Mutex<Option<StoreKind>>,
    /// The server name and URL it was made for ([`crate::OAuthStore::handle`]); `None`
    /// for a handle made from a key alone.
    pub(crate) server: Option<(String, String)>,
}

impl std::fmt::Debug for CredentialHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialHandle")
            .field("key", &self.key)
            .field("resolution", &self.resolution())
            .finish()
    }
}

impl CredentialHandle {
    /// The store key.
    pub fn key(&self) -> &StoreKey {
        &self.key
    }

    /// The pinned resolution, once the handle has resolved.
    pub fn resolution(&self) -> Option<Resolution> {
        *self.pinned.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn pin(&self, resolution: Resolution) {
        let mut pinned = self.pinned.lock().unwrap_or_else(|e| e.into_inner());
        if pinned.is_none() {
            *pinned = Some(resolution);
            drop(pinned);
            self.inner.observe(&self.key, resolution);
        }
    }

    /// Resolves (once) and returns the pinned resolution and what it found.
    pub(crate) fn resolve(&self) -> Result<(Resolution, Option<Credential>), Error> {
        if let Some(resolution) = self.resolution() {
            let found = self.inner.store(resolution.store)?.load(&self.key)?;
            return Ok((resolution, found));
        }
        let (resolution, found) = self.inner.resolve_load(&self.key)?;
        self.pin(resolution);
        Ok((resolution, found))
    }

    /// The stored credential, without taking any lock: the pinned store's copy, or,
    /// when it has none, the newest copy in any other store of the layout (a process
    /// that cannot reach the keyring never replays a File copy that moved). The mode
    /// decides where writes go; reads, like the authoritative reread, look at every
    /// store of the layout.
    ///
    /// # Errors
    /// Store errors of the pinned store ([`StoreError::CorruptEntry`](oauth_store_core::StoreError::CorruptEntry) and the like).
    pub fn load(&self) -> Result<Option<Credential>, Error> {
        Ok(self.load_located()?.map(|(credential, _)| credential))
    }

    /// As [`CredentialHandle::load`], with the store the copy was found in (which is
    /// not the pinned store when the copy came from another store of the layout).
    ///
    /// # Errors
    /// As [`CredentialHandle::load`].
    pub fn load_located(&self) -> Result<Option<(Credential, StoreKind)>, Error> {
        // A rescued copy (DESIGN.md "Persist rescue") is newer than any other when it
        // exists; looking costs one failed open of a file in the lock directory.
        let rescued = match self.inner.rescue.load(&self.key) {
            Ok(found) => found,
            Err(e) => {
                tracing::debug!(target: "oauth_store::save", key = %self.key, error = %e, "the rescue file does not read");
                None
            }
        };
        let newer = |found: &Credential| {
            rescued
                .as_ref()
                .filter(|r| r.updated_at > found.updated_at)
                .map(|r| (r.clone(), RESCUE))
        };
        match self.resolve() {
            Ok((resolution, Some(found))) => {
                // Under an explicit keyring or Secrets mode a rescue may have put a newer
                // copy in the File store (DESIGN.md "Persist rescue"): one more file read.
                let file = self.inner.file.kind();
                let rescued_to_file = (self.inner.mode != StoreMode::Auto
                    && resolution.store != file)
                    .then(|| self.inner.file.load(&self.key).ok().flatten())
                    .flatten()
                    .filter(|copy| copy.updated_at > found.updated_at);
                let found = match rescued_to_file {
                    Some(copy) => (copy, file),
                    None => (found, resolution.store),
                };
                Ok(Some(newer(&found.0).unwrap_or(found)))
            }
            Ok((_, None)) if self.inner.file_alone() => Ok(rescued.map(|r| (r, RESCUE))),
            Ok((resolution, None)) => self
                .inner
                .authoritative_read(&self.key, Some(resolution.store)),
            // The store this handle resolves to cannot be read (a document replaced by
            // a directory, say) but a rescued copy exists: it serves.
            Err(Error::Store(_)) if rescued.is_some() => Ok(rescued.map(|r| (r, RESCUE))),
            Err(e) => Err(e),
        }
    }

    pub(crate) fn require_tokens(&self, found: Option<Credential>) -> Result<Credential, Error> {
        let auth = |reason| Error::AuthorizationRequired {
            key: self.key.clone(),
            reason,
        };
        let found = found.ok_or_else(|| auth(AuthorizationReason::NothingStored))?;
        if !found.has_tokens() {
            return Err(auth(AuthorizationReason::TokensDropped));
        }
        Ok(found)
    }
}
