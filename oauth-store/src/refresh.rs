//! The refresh transaction (DESIGN.md "Refresh transaction"): take the credential
//! lock, reread every store, adopt a fresher copy or call the provider once, merge and
//! persist before anyone sees the new token, release; and the four outcomes.

use std::time::Duration;

use oauth_store_core::{Credential, ResolutionReason, SecretString, StoreKind, StoreMode};

use crate::error::{AuthorizationReason, Error};
use crate::handle::CredentialHandle;
use crate::layout::LayoutPreset;
use crate::provider::RefreshOutcome;
use crate::resolution::Resolution;

/// How many times a refreshed credential is saved before giving up, and the pauses
/// between attempts: the provider has already rotated the refresh token, so losing
/// the new one means logging in again.
const PERSIST_BACKOFF: [Duration; 3] = [
    Duration::ZERO,
    Duration::from_millis(100),
    Duration::from_millis(400),
];

/// What started a refresh transaction.
#[derive(Clone)]
pub(crate) enum Trigger {
    Due { min_valid_ms: u64 },
    Force,
    Unauthorized(SecretString),
}

impl CredentialHandle {
    /// A credential whose access token has at least `min_valid` left, refreshing
    /// through the serialized transaction when needed. A token of unknown expiry is
    /// returned as is. Without any lock when nothing is due.
    ///
    /// # Errors
    /// [`Error::AuthorizationRequired`], [`Error::Transient`], [`Error::Indeterminate`],
    /// [`Error::PersistFailed`], [`Error::Lock`], [`Error::Store`].
    pub fn refresh_if_needed(&self, min_valid: Duration) -> Result<Credential, Error> {
        let current = self.load()?;
        let current = self.require_tokens(current)?;
        let min_valid_ms = u64::try_from(min_valid.as_millis()).unwrap_or(u64::MAX);
        if !current.is_due(self.inner.clock.now_ms(), min_valid_ms) {
            return Ok(current);
        }
        self.transact(&Trigger::Due { min_valid_ms }, Some(&current))
    }

    /// Refreshes now, unless another process refreshed since this handle's copy was
    /// read (then its fresh token is adopted instead of spending another rotation).
    ///
    /// # Errors
    /// As [`CredentialHandle::refresh_if_needed`].
    pub fn force_refresh(&self) -> Result<Credential, Error> {
        let current = self.load()?;
        let current = self.require_tokens(current)?;
        self.transact(&Trigger::Force, Some(&current))
    }

    /// One-shot recovery after the resource server answered 401 for
    /// `rejected_access_token`: refreshes at most once per rejected token across all
    /// processes, and not at all if the store already holds another access token
    /// (which is returned instead).
    ///
    /// # Errors
    /// As [`CredentialHandle::refresh_if_needed`].
    pub fn recover_unauthorized(
        &self,
        rejected_access_token: &SecretString,
    ) -> Result<Credential, Error> {
        self.transact(&Trigger::Unauthorized(rejected_access_token.clone()), None)
    }

    /// Step 1: shares the transaction with the callers of this key in this process,
    /// as the store's coordination says.
    fn transact(&self, trigger: &Trigger, hint: Option<&Credential>) -> Result<Credential, Error> {
        let coordination = self.inner.coordination;
        coordination.share(&self.inner, &self.key, || {
            self.transact_locked(trigger, hint)
        })
    }

    /// Steps 1 to 6 of DESIGN.md "Refresh transaction": lock, reread, adopt or refresh
    /// once, merge and persist before anyone sees the new token, release.
    fn transact_locked(
        &self,
        trigger: &Trigger,
        hint: Option<&Credential>,
    ) -> Result<Credential, Error> {
        let inner = &*self.inner;
        let coordination = inner.coordination;
        let _lock = coordination.credential_lock(inner, &self.key)?;
        let pinned = self.resolution();
        let (found, from) = match coordination.reread(self, hint)? {
            Some((credential, from)) => (Some(credential), from),
            None => (None, StoreKind::File),
        };
        let stored = self.require_tokens(found)?;
        let now = inner.clock.now_ms();
        let hint_differs = hint.is_some_and(|h| !h.access_token_is(&stored.access_token));
        let adopt = match trigger {
            Trigger::Due { min_valid_ms } => !stored.is_due(now, *min_valid_ms),
            Trigger::Force => hint_differs && !stored.is_due(now, 0),
            Trigger::Unauthorized(rejected) => {
                !stored.access_token_is(rejected) && !stored.is_due(now, 0)
            }
        };
        if adopt {
            tracing::debug!(target: "oauth_store::refresh", key = %self.key, "adopted the stored credential; no provider request");
            return Ok(stored);
        }
        if stored.refresh_token.is_none() {
            return Err(Error::AuthorizationRequired {
                key: self.key.clone(),
                reason: AuthorizationReason::NoRefreshToken,
            });
        }
        let refresher = inner
            .refresher
            .as_ref()
            .ok_or_else(|| Error::Config("no token refresher is configured".into()))?;
        tracing::debug!(target: "oauth_store::refresh", key = %self.key, "refreshing at the provider");
        match refresher.refresh(&stored) {
            RefreshOutcome::Refreshed(response) => {
                let mut fresh = stored.clone();
                fresh.apply_token_response(&response, now);
                fresh.updated_at = Some(inner.clock.now_ms());
                let target = pinned.map_or(from, |p| p.store);
                self.persist(&fresh, target)?;
                tracing::info!(target: "oauth_store::refresh", key = %self.key, store = %target, "refreshed and saved");
                Ok(fresh)
            }
            RefreshOutcome::Rejected { description } => {
                self.on_rejected(&stored, from, description.as_deref())
            }
            RefreshOutcome::Refused {
                error,
                description,
                status,
            } => {
                tracing::warn!(target: "oauth_store::refresh", key = %self.key, error, status, "the provider refused the refresh; credential kept");
                Err(Error::AuthorizationRequired {
                    key: self.key.clone(),
                    reason: AuthorizationReason::Refused { error, description },
                })
            }
            RefreshOutcome::Transient { reason, .. } => {
                tracing::warn!(target: "oauth_store::refresh", key = %self.key, reason, "refresh failed transiently; credential kept");
                Err(Error::Transient {
                    key: self.key.clone(),
                    reason,
                })
            }
            RefreshOutcome::Indeterminate { reason } => {
                tracing::warn!(target: "oauth_store::refresh", key = %self.key, reason, "refresh outcome unknown; credential kept");
                Err(Error::Indeterminate {
                    key: self.key.clone(),
                    reason,
                })
            }
        }
    }

    /// `invalid_grant`: drop the tokens only if the store still holds the rejected
    /// refresh token; otherwise another writer saved a newer one, which is adopted.
    fn on_rejected(
        &self,
        sent: &Credential,
        from: StoreKind,
        description: Option<&str>,
    ) -> Result<Credential, Error> {
        let inner = &*self.inner;
        let current = inner.coordination.reread_after_rejection(self, from)?;
        let rejected = || Error::AuthorizationRequired {
            key: self.key.clone(),
            reason: AuthorizationReason::GrantRejected {
                description: description.map(str::to_owned),
            },
        };
        match current {
            Some((current, _)) if current.refresh_token_is(sent.refresh_token.as_ref()) => {
                tracing::warn!(target: "oauth_store::refresh", key = %self.key, "the provider rejected the grant; dropping the tokens");
                if inner.layout.preset() == LayoutPreset::Codex {
                    for (_, store) in inner.stores() {
                        let _ = store.delete(&self.key);
                    }
                } else {
                    let mut dropped = current;
                    dropped.drop_tokens();
                    dropped.updated_at = Some(inner.clock.now_ms());
                    let target = self.resolution().map_or(from, |p| p.store);
                    self.persist(&dropped, target)?;
                }
                Err(rejected())
            }
            Some((current, _)) if current.has_tokens() => {
                tracing::info!(target: "oauth_store::refresh", key = %self.key, "rejected token was already replaced by another process; adopting it");
                Ok(current)
            }
            _ => Err(rejected()),
        }
    }

    /// Saves with brief retries, then removes older copies elsewhere.
    fn persist(&self, credential: &Credential, target: StoreKind) -> Result<(), Error> {
        let store = self.inner.store(target)?;
        let mut last = None;
        for pause in PERSIST_BACKOFF {
            std::thread::sleep(pause);
            match store.save(&self.key, credential) {
                Ok(()) => {
                    last = None;
                    break;
                }
                Err(e) => {
                    tracing::warn!(target: "oauth_store::save", key = %self.key, store = %target, error = %e, "saving failed; retrying");
                    last = Some(e);
                }
            }
        }
        if let Some(source) = last {
            return Err(Error::PersistFailed {
                key: self.key.clone(),
                credential: Box::new(credential.clone()),
                source,
            });
        }
        let saved = Resolution {
            store: target,
            reason: match (self.inner.mode, target) {
                (StoreMode::Auto, StoreKind::File) => ResolutionReason::AutoSaveFileKeyringError,
                (StoreMode::Auto, _) => ResolutionReason::AutoSaveKeyring,
                _ => ResolutionReason::ConfiguredSave,
            },
        };
        self.pinned
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert(saved);
        self.inner.observe(&self.key, saved);
        self.inner
            .coordination
            .after_save(&self.inner, &self.key, target);
        Ok(())
    }
}
