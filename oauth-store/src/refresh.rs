//! The refresh transaction (DESIGN.md "Refresh transaction"): take the credential
//! lock, reread every store, adopt a fresher copy or call the provider once, merge and
//! persist before anyone sees the new token, release; and the four outcomes.

use std::time::{Duration, Instant};

use oauth_store_core::{
    Credential, Fence, LockError, ResolutionReason, SecretString, StoreError, StoreKind, StoreMode,
};

use crate::error::{AuthorizationReason, Error};
use crate::handle::CredentialHandle;
use crate::layout::LayoutPreset;
use crate::provider::RefreshOutcome;
use crate::rescue::RESCUE;
use crate::resolution::Resolution;
use crate::thresholds::{Thresholds, Zone};

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
    /// The access token is past a threshold (DESIGN.md "Refresh thresholds").
    Due(Thresholds, Zone),
    Force,
    Unauthorized(SecretString),
}

/// How long a transaction waits for the credential lock.
#[derive(Debug, Clone, Copy)]
enum LockWait {
    /// Not at all: refresh ahead only if the lock is free right now.
    Try,
    /// Up to the store's lock timeout.
    Timeout,
    /// Up to the caller's own token's expiry (shorter than the lock timeout).
    UntilExpiry(Duration),
}

impl CredentialHandle {
    /// A credential whose access token has more than `min_valid` left (the mandatory
    /// threshold, DESIGN.md "Refresh thresholds"), refreshing through the serialized
    /// transaction when needed. A token of unknown expiry is returned as is. Without any
    /// lock when nothing is due.
    ///
    /// Between the advisory threshold ([`crate::OAuthStoreBuilder::refresh_ahead`], else
    /// min(5 min, half the token's lifetime); never below `min_valid`) and `min_valid`,
    /// it refreshes ahead only if the credential lock is free right now; when another
    /// caller holds it, or that refresh fails transiently or with an unknown outcome,
    /// the current (still valid) token is returned at once. Past `min_valid`, or
    /// expired, it waits for the lock, but never past the token's own expiry.
    ///
    /// # Errors
    /// [`Error::AuthorizationRequired`], [`Error::Transient`], [`Error::Indeterminate`],
    /// [`Error::PersistFailed`], [`Error::Lock`], [`Error::ExpiredWhileWaiting`],
    /// [`Error::Store`].
    pub fn refresh_if_needed(&self, min_valid: Duration) -> Result<Credential, Error> {
        self.refresh_within(self.thresholds_with(min_valid))
    }

    /// The thresholds of [`CredentialHandle::refresh_if_needed`]: the store's advisory
    /// one, `min_valid` as the mandatory one.
    pub(crate) fn thresholds_with(&self, min_valid: Duration) -> Thresholds {
        Thresholds {
            refresh_ahead: self.inner.thresholds.refresh_ahead,
            min_valid: Some(min_valid),
        }
    }

    /// A credential refreshed as the store's two thresholds say (DESIGN.md "Refresh
    /// thresholds"): [`crate::OAuthStoreBuilder::refresh_ahead`] (advisory) and
    /// [`crate::OAuthStoreBuilder::min_valid`] (mandatory), each, when not set, scaled
    /// to the token's lifetime as issued (`expires_at - updated_at`): advisory
    /// min(5 min, half of it), mandatory min(30 s, a quarter of it); 5 min and 30 s
    /// when the lifetime is unknown. So a just-issued token is never due, and a 2 s
    /// token is refreshed about once a second, not on every call.
    ///
    /// Before the advisory threshold: the stored token, no lock. Past it: refreshed
    /// only if the credential lock is free right now, else (or when that refresh fails
    /// transiently or with an unknown outcome) the current token at once. Past the
    /// mandatory threshold, or expired: waits for the lock and refreshes (or adopts
    /// what the holder saved), but never past its own token's expiry
    /// ([`Error::ExpiredWhileWaiting`]). A token of unknown expiry is returned as is.
    ///
    /// # Errors
    /// As [`CredentialHandle::refresh_if_needed`].
    pub fn fresh(&self) -> Result<Credential, Error> {
        self.refresh_within(self.inner.thresholds)
    }

    fn refresh_within(&self, thresholds: Thresholds) -> Result<Credential, Error> {
        let current = self.load_unrescued()?;
        let current = self.require_tokens(current)?;
        let now = self.inner.clock.now_ms();
        match thresholds.zone(&current, now) {
            Zone::Fresh => Ok(current),
            Zone::Advisory => self.refresh_ahead(thresholds, current),
            Zone::Mandatory => {
                // Bounded by the token's own expiry while it still works: a caller that
                // waited longer than that could not use the token it waited for.
                let left = current
                    .expires_in_ms(now)
                    .and_then(|ms| u64::try_from(ms).ok())
                    .filter(|&ms| ms > 0)
                    .map(Duration::from_millis)
                    .filter(|left| *left < self.inner.lock_timeout);
                let wait = left.map_or(LockWait::Timeout, LockWait::UntilExpiry);
                let trigger = Trigger::Due(thresholds, Zone::Mandatory);
                self.transact_waiting(&trigger, Some(&current), wait)
            }
        }
    }

    /// The nothing-due answer of a refresh within `thresholds`, when it can be had
    /// without waiting and without writing: `Some` only when the handle is pinned, the
    /// pinned store and the rescue file are the only stores the read touches and
    /// neither load ever waits ([`oauth_store_core::CredentialStore::load_never_waits`]:
    /// no lock, daemon or network), no rescued copy is there to be moved back, and the
    /// stored access token is short of both thresholds. Then the full refresh would make
    /// the same reads and return the same credential, with no lock and no write.
    ///
    /// `None` in every other case (not pinned yet, a store that may wait, a rescued
    /// copy, a read error, nothing stored, tokens dropped, a token due): the caller runs
    /// the full refresh. The async face answers its nothing-due calls with this on the
    /// caller's thread.
    #[cfg(feature = "tokio")]
    pub(crate) fn nothing_due_without_waiting(&self, thresholds: Thresholds) -> Option<Credential> {
        let inner = &*self.inner;
        let pinned = self.resolution()?.store;
        // Under an explicit keyring or Secrets mode a read also looks at the File store,
        // where a rescue may have put a newer copy: the full read's business.
        if inner.mode != StoreMode::Auto && pinned != inner.file.kind() {
            return None;
        }
        let store = inner.store(pinned).ok()?;
        if !store.load_never_waits() || !inner.rescue.load_never_waits() {
            return None;
        }
        // A rescued copy (or one that does not read) may be moved back under the
        // credential lock by the full read.
        if !matches!(inner.rescue.load(&self.key), Ok(None)) {
            return None;
        }
        let current = store.load(&self.key).ok()??;
        if !current.has_tokens() || self.displaced(pinned) {
            return None;
        }
        match thresholds.zone(&current, inner.clock.now_ms()) {
            Zone::Fresh => Some(current),
            Zone::Advisory | Zone::Mandatory => None,
        }
    }

    /// Past the advisory threshold only: refreshes if nobody else is refreshing, else
    /// keeps `current`, which is still valid until the mandatory threshold.
    fn refresh_ahead(
        &self,
        thresholds: Thresholds,
        current: Credential,
    ) -> Result<Credential, Error> {
        if current.refresh_token.is_none() || self.inner.refresher.is_none() {
            return Ok(current);
        }
        let trigger = Trigger::Due(thresholds, Zone::Advisory);
        let attempt = self
            .inner
            .coordination
            .try_share(&self.inner, &self.key, || {
                self.transact_locked(&trigger, Some(&current), LockWait::Try)
            });
        match attempt {
            None => {
                tracing::debug!(target: "oauth_store::refresh", key = %self.key, "another caller in this process is refreshing; using the current access token");
                Ok(current)
            }
            Some(Err(
                Error::Lock(oauth_lock::Error::Timeout { .. })
                | Error::SharedLock(LockError::Timeout { .. }),
            )) => {
                tracing::debug!(target: "oauth_store::refresh", key = %self.key, "the credential lock is held (another process is refreshing); using the current access token");
                Ok(current)
            }
            Some(Err(e @ (Error::Transient { .. } | Error::Indeterminate { .. }))) => {
                tracing::warn!(target: "oauth_store::refresh", key = %self.key, error = %e, "refreshing ahead failed; using the current access token, which is still valid");
                Ok(current)
            }
            Some(result) => result,
        }
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
        self.transact_waiting(trigger, hint, LockWait::Timeout)
    }

    /// As [`CredentialHandle::transact`], waiting for the lock (or another caller's
    /// transaction) as `wait` says.
    fn transact_waiting(
        &self,
        trigger: &Trigger,
        hint: Option<&Credential>,
        wait: LockWait,
    ) -> Result<Credential, Error> {
        let coordination = self.inner.coordination;
        let deadline = match wait {
            LockWait::UntilExpiry(left) => Some(Instant::now() + left),
            LockWait::Try | LockWait::Timeout => None,
        };
        coordination.share(&self.inner, &self.key, deadline, || {
            self.transact_locked(trigger, hint, wait)
        })
    }

    /// Steps 1 to 6 of DESIGN.md "Refresh transaction": lock, reread, adopt or refresh
    /// once, merge and persist before anyone sees the new token, release.
    fn transact_locked(
        &self,
        trigger: &Trigger,
        hint: Option<&Credential>,
        wait: LockWait,
    ) -> Result<Credential, Error> {
        let inner = &*self.inner;
        let coordination = inner.coordination;
        let timeout = match wait {
            LockWait::Try => Duration::ZERO,
            LockWait::Timeout => inner.lock_timeout,
            LockWait::UntilExpiry(left) => left,
        };
        let lock = match coordination.credential_lock_within(inner, &self.key, timeout) {
            Err(Error::Lock(oauth_lock::Error::Timeout {
                waited, holder_pid, ..
            })) if matches!(wait, LockWait::UntilExpiry(_)) => {
                tracing::warn!(target: "oauth_store::refresh", key = %self.key, holder_pid, "the access token expired while another process was refreshing it");
                return Err(Error::ExpiredWhileWaiting {
                    key: self.key.clone(),
                    waited,
                    holder_pid,
                });
            }
            Err(Error::SharedLock(LockError::Timeout { waited, holder, .. }))
                if matches!(wait, LockWait::UntilExpiry(_)) =>
            {
                tracing::warn!(target: "oauth_store::refresh", key = %self.key, holder, "the access token expired while another machine was refreshing it");
                return Err(Error::ExpiredWhileWaiting {
                    key: self.key.clone(),
                    waited,
                    holder_pid: None,
                });
            }
            other => other?,
        };
        let fence = crate::coordination::fence_of(lock.as_ref());
        let pinned = self.resolution();
        let (found, from) = match coordination.reread(self, hint)? {
            Some((credential, from)) => (Some(credential), from),
            None => (None, inner.file.kind()),
        };
        let stored = self.require_tokens(found)?;
        let now = inner.clock.now_ms();
        let hint_differs = hint.is_some_and(|h| !h.access_token_is(&stored.access_token));
        let adopt = match trigger {
            // Another caller's token is adopted unless it is past the mandatory threshold;
            // the caller's own token only while it is short of the threshold it crossed.
            Trigger::Due(thresholds, zone) => {
                let margins = thresholds.margins(&stored);
                let keep_ms = if hint_differs || *zone == Zone::Mandatory {
                    margins.mandatory_ms
                } else {
                    margins.advisory_ms
                };
                !stored.is_due(now, keep_ms)
            }
            Trigger::Force => hint_differs && !stored.is_due(now, 0),
            Trigger::Unauthorized(rejected) => {
                !stored.access_token_is(rejected) && !stored.is_due(now, 0)
            }
        };
        let target = self.save_target(pinned.map(|p| p.store), from)?;
        if adopt {
            tracing::debug!(target: "oauth_store::refresh", key = %self.key, "adopted the stored credential; no provider request");
            if self.displaced(from) {
                self.move_back(&stored, target, &fence);
            }
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
        // The spend guard (DESIGN.md "Persist rescue"): a provider that answers has
        // rotated the refresh token, so it is never sent when its successor could not
        // be kept where this handle writes.
        if let Err(source) = inner.store(target)?.prepare_save(&self.key) {
            tracing::warn!(target: "oauth_store::refresh", key = %self.key, store = %target, error = %source, "the store cannot keep a refreshed credential now; nothing sent");
            return Err(Error::CannotKeep {
                key: self.key.clone(),
                store: target,
                source: Box::new(source),
            });
        }
        // Room for a rescue, taken before the request: a disk that fills up while the
        // provider answers still takes the rotated credential. A plain-text store that
        // cannot even reserve it now would not keep it either; a protected one may.
        let reserved = match crate::rescue::RescueStore::new(inner.locks.path()).reserve(&self.key)
        {
            Ok(reservation) => Some(reservation),
            Err(source) if target == inner.file.kind() || target == RESCUE => {
                tracing::warn!(target: "oauth_store::refresh", key = %self.key, store = %target, error = %source, "no room for a rescue; nothing sent");
                return Err(Error::CannotKeep {
                    key: self.key.clone(),
                    store: target,
                    source: Box::new(source),
                });
            }
            Err(e) => {
                tracing::debug!(target: "oauth_store::refresh", key = %self.key, error = %e, "no room reserved for a rescue");
                None
            }
        };
        // A shared lock that is already known to be lost (its connection cut) would have
        // its save refused: the refresh token is not sent.
        if let Some(lock) = &lock {
            lock.check()?;
        }
        tracing::debug!(target: "oauth_store::refresh", key = %self.key, "refreshing at the provider");
        match refresher.refresh(&stored) {
            RefreshOutcome::Refreshed(response) => {
                let mut fresh = stored.clone();
                fresh.apply_token_response(&response, now);
                fresh.updated_at = Some(inner.clock.now_ms());
                let kept = self.persist(&fresh, target, reserved.as_ref(), &fence)?;
                tracing::info!(target: "oauth_store::refresh", key = %self.key, store = %kept, "refreshed and saved");
                Ok(fresh)
            }
            RefreshOutcome::Rejected { description } => {
                self.on_rejected(&stored, from, description.as_deref(), &fence)
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
        fence: &Fence,
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
                    let target = self.save_target(self.resolution().map(|p| p.store), from)?;
                    self.persist(&dropped, target, None, fence)?;
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

    /// [`CredentialHandle::load`], moving a rescued copy back to the store this handle
    /// writes first when that is where the newest copy is (best effort: it stays
    /// rescued, and is returned, when that store still refuses it).
    fn load_unrescued(&self) -> Result<Option<Credential>, Error> {
        let found = self.load_located()?;
        if found
            .as_ref()
            .is_some_and(|(_, from)| self.displaced(*from))
            && let Err(e) = self.restore_rescued()
        {
            tracing::debug!(target: "oauth_store::save", key = %self.key, error = %e, "the rescued credential stays rescued");
        }
        Ok(found.map(|(credential, _)| credential))
    }

    /// Whether the newest copy, found in `from`, is out of place and a read moves it
    /// to the store this handle writes (DESIGN.md "Persist rescue"): a copy in the
    /// rescue file; and, under an explicit keyring or Secrets mode, a copy in any other
    /// store, where only a rescue (or an older process) puts one: moving it into the
    /// protected store never weakens it. Under Auto a File copy is a resolution, not a
    /// rescue, so only the rescue file counts there.
    fn displaced(&self, from: StoreKind) -> bool {
        if from == RESCUE {
            return true;
        }
        if self.inner.mode == StoreMode::Auto {
            return false;
        }
        let explicit = self.inner.explicit_kind();
        from != explicit && explicit != self.inner.file.kind()
    }

    /// Where a transaction saves: the pinned store; else the configured one in an
    /// explicit mode; else (Auto) the store the copy came from, or, for a copy found
    /// only in the rescue file, the store Auto resolution picks.
    pub(crate) fn save_target(
        &self,
        pinned: Option<StoreKind>,
        from: StoreKind,
    ) -> Result<StoreKind, Error> {
        match pinned {
            Some(store) => Ok(store),
            None if self.inner.mode != StoreMode::Auto => Ok(self.inner.explicit_kind()),
            None if from != RESCUE => Ok(from),
            None => Ok(self.resolve()?.0.store),
        }
    }

    /// Saves with brief retries, then removes older copies elsewhere, and returns where
    /// the credential was kept: `target`, or, when `target` kept refusing, the store
    /// that rescued it (DESIGN.md "Persist rescue"; the order is in the `rescue`
    /// module's docs).
    ///
    /// `reserved`, the room held for a rescue, is given back just before the rescue.
    pub(crate) fn persist(
        &self,
        credential: &Credential,
        target: StoreKind,
        reserved: Option<&crate::rescue::Reservation>,
        fence: &Fence,
    ) -> Result<StoreKind, Error> {
        let store = self.inner.store(target)?;
        let mut last = None;
        for pause in PERSIST_BACKOFF {
            std::thread::sleep(pause);
            match store.save_fenced(&self.key, credential, fence) {
                Ok(()) => {
                    last = None;
                    break;
                }
                // The shared lock was lost: another holder may have saved a newer
                // credential, and no retry can get the lock back.
                Err(e @ StoreError::FenceRefused { .. }) => {
                    tracing::warn!(target: "oauth_store::save", key = %self.key, store = %target, error = %e, "the save was refused: the credential lock was lost");
                    last = Some(e);
                    break;
                }
                Err(e) => {
                    tracing::warn!(target: "oauth_store::save", key = %self.key, store = %target, error = %e, "saving failed; retrying");
                    last = Some(e);
                }
            }
        }
        if let Some(source) = last {
            if let Some(reservation) = reserved {
                reservation.release();
            }
            if let StoreError::FenceRefused { .. } = source {
                // Kept here (never drop a token the provider issued), but not handed
                // out: the shared store may hold a newer credential, and this one was
                // not saved where every machine sees it.
                // Stamped oldest: another holder may have saved since, so this copy never
                // wins the newest-wins reread over a stored one (it would overwrite a
                // newer credential); it is used only if nothing else is stored.
                let mut kept_copy = credential.clone();
                kept_copy.updated_at = None;
                let kept = self.rescue(&kept_copy, target, source.clone());
                tracing::warn!(target: "oauth_store::save", key = %self.key, kept = ?kept.as_ref().ok(), "the refreshed credential is kept locally only; it is not handed out");
                return Err(Error::Store(source));
            }
            return self.rescue(credential, target, source);
        }
        let saved = Resolution {
            store: target,
            reason: match self.inner.mode {
                StoreMode::Auto if target == self.inner.file.kind() => {
                    ResolutionReason::AutoSaveFileKeyringError
                }
                StoreMode::Auto => ResolutionReason::AutoSaveKeyring,
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
        *self.rescued.lock().unwrap_or_else(|e| e.into_inner()) = None;
        Ok(target)
    }

    /// The pinned store refused `credential` (the `refused` error): keeps it in the
    /// first store of the rescue order that takes it, with a warning (naming the file
    /// when it is plain text and the pinned store was not), or fails with everything
    /// that was tried.
    fn rescue(
        &self,
        credential: &Credential,
        target: StoreKind,
        refused: StoreError,
    ) -> Result<StoreKind, Error> {
        let inner = &*self.inner;
        let protected = |kind: StoreKind| kind != inner.file.kind() && kind != RESCUE;
        let mut order: Vec<(
            StoreKind,
            &std::sync::Arc<dyn oauth_store_core::CredentialStore>,
        )> = inner
            .stores()
            .into_iter()
            .filter(|(k, _)| *k != target)
            .collect();
        if protected(target) {
            // Protected stores first, then the File store, the rescue file last.
            order.sort_by_key(|(k, _)| (!protected(*k), *k == RESCUE));
        } else {
            // The rescue file first (as plain as the File store), then the others.
            order.sort_by_key(|(k, _)| *k != RESCUE);
        }
        let mut tried = vec![(target, refused)];
        for (kind, store) in order {
            match store.save(&self.key, credential) {
                Ok(()) => {
                    let location = if kind == RESCUE {
                        format!(" ({})", self.rescue_path().display())
                    } else if kind == inner.file.kind() {
                        format!(" ({})", inner.layout.file_document().display())
                    } else {
                        String::new()
                    };
                    if protected(target) && !protected(kind) {
                        tracing::warn!(target: "oauth_store::save", key = %self.key, pinned = %target, store = %kind, "the {target} store refused the refreshed credential; it is kept in PLAIN TEXT in the {kind} store{location} until the next refresh moves it back");
                    } else {
                        tracing::warn!(target: "oauth_store::save", key = %self.key, pinned = %target, store = %kind, "the {target} store refused the refreshed credential; it is kept in the {kind} store{location} until the next refresh moves it back");
                    }
                    *self.rescued.lock().unwrap_or_else(|e| e.into_inner()) = Some(kind);
                    return Ok(kind);
                }
                Err(e) => tried.push((kind, e)),
            }
        }
        let (_, source) = tried.remove(0);
        Err(Error::PersistFailed {
            key: self.key.clone(),
            credential: Box::new(credential.clone()),
            source,
            rescue_tried: tried.into_boxed_slice(),
        })
    }

    /// The rescue file of this credential.
    fn rescue_path(&self) -> std::path::PathBuf {
        crate::rescue::RescueStore::new(self.inner.locks.path()).path(&self.key)
    }

    /// Moves a rescued copy back to `target` (under the credential lock the caller
    /// holds); if `target` still refuses it, it stays rescued.
    fn move_back(&self, credential: &Credential, target: StoreKind, fence: &Fence) {
        let Ok(store) = self.inner.store(target) else {
            return;
        };
        match store.save_fenced(&self.key, credential, fence) {
            Ok(()) => {
                tracing::info!(target: "oauth_store::save", key = %self.key, store = %target, "moved the rescued credential back");
                self.inner
                    .coordination
                    .after_save(&self.inner, &self.key, target);
                *self.rescued.lock().unwrap_or_else(|e| e.into_inner()) = None;
            }
            Err(e) => {
                tracing::debug!(target: "oauth_store::save", key = %self.key, store = %target, error = %e, "the rescued credential stays rescued");
            }
        }
    }

    /// Moves a copy that the rescue file holds back to the store this handle writes,
    /// under the credential lock; what a read finds there is rescued (DESIGN.md
    /// "Persist rescue"). Nothing happens when no rescued copy is the newest.
    fn restore_rescued(&self) -> Result<(), Error> {
        let inner = &*self.inner;
        let lock = inner.coordination.credential_lock(inner, &self.key)?;
        let fence = crate::coordination::fence_of(lock.as_ref());
        if let Some((credential, from)) = inner.coordination.reread(self, None)?
            && self.displaced(from)
        {
            let target = self.save_target(self.resolution().map(|p| p.store), from)?;
            self.move_back(&credential, target, &fence);
        }
        Ok(())
    }

    /// Where the last refresh of this handle had to keep its credential because the
    /// pinned store refused it (DESIGN.md "Persist rescue"), until a later save lands
    /// in the pinned store again. `None` when nothing was rescued.
    pub fn rescued_in(&self) -> Option<StoreKind> {
        *self.rescued.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The plain-text file that holds the rescued copy when [`Self::rescued_in`] is the
    /// File store (its document) or the rescue file (`<lock dir>/<sha256hex(key)>.rescued.json`),
    /// so a caller can warn with the file named (DESIGN.md "Persist rescue": plain text
    /// only as a last resort, with a warning). `None` when nothing was rescued, or when
    /// it went to a protected store (the OS keyring, the Secrets store).
    pub fn rescued_in_plain_text(&self) -> Option<std::path::PathBuf> {
        let kind = self.rescued_in()?;
        if kind == RESCUE {
            Some(self.rescue_path())
        } else if kind == self.inner.file.kind() {
            Some(self.inner.layout.file_document())
        } else {
            None
        }
    }
}
