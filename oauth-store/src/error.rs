//! The facade's error and its coarse [`ErrorKind`] (what a caller or the CLI does next).

use oauth_store_core::{Credential, StoreError, StoreKey, StoreKind};

/// Why the user must authorize again.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthorizationReason {
    /// No credential is stored for the server.
    NothingStored,
    /// The credential holds no tokens (they were dropped after a rejected grant); the
    /// client registration is kept.
    TokensDropped,
    /// The access token is due (or expired) and there is no refresh token.
    NoRefreshToken,
    /// The provider rejected the refresh token (`invalid_grant`); the tokens were dropped.
    GrantRejected {
        /// The provider's `error_description`, if any.
        description: Option<String>,
    },
    /// The provider refused the request with another 4xx error; everything was kept.
    Refused {
        /// The provider's `error` code (e.g. `invalid_client`).
        error: String,
        /// The provider's `error_description`, if any.
        description: Option<String>,
    },
}

impl std::fmt::Display for AuthorizationReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let desc = |d: &Option<String>| d.as_ref().map(|d| format!(": {d}")).unwrap_or_default();
        match self {
            AuthorizationReason::NothingStored => f.write_str("no credential is stored"),
            AuthorizationReason::TokensDropped => {
                f.write_str("the tokens were dropped after the provider rejected the grant")
            }
            AuthorizationReason::NoRefreshToken => {
                f.write_str("the access token is due for renewal and there is no refresh token")
            }
            AuthorizationReason::GrantRejected { description } => {
                write!(
                    f,
                    "the provider rejected the refresh token (invalid_grant{})",
                    desc(description)
                )
            }
            AuthorizationReason::Refused { error, description } => {
                write!(
                    f,
                    "the provider refused the refresh ({error}{})",
                    desc(description)
                )
            }
        }
    }
}

/// What a caller does next, by error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Authorize again (a login): nothing stored, tokens dropped, grant rejected or refused.
    AuthorizationRequired,
    /// A store, lock or keyring failed, or persisting failed.
    Store,
    /// The provider was unreachable, failing, or the outcome is unknown.
    Provider,
    /// The facade was configured wrongly.
    Config,
    /// A bug in the library or a plug-in (a panic was caught); nothing to fix on the
    /// caller's side.
    Internal,
}

/// What logout did in one store.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StoreOutcome {
    /// The store.
    pub store: StoreKind,
    /// `Ok(true)`: a copy was removed; `Ok(false)`: there was none; `Err`: it stayed.
    pub result: Result<bool, StoreError>,
}

/// Why a handle operation failed. No variant holds a token value in its text.
///
/// `Clone`, with foreign errors behind an `Arc` (as rustls's errors are): callers of one
/// key in one process that share an in-flight refresh all receive the same variant,
/// whether they led it or waited for it.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The user must authorize again.
    #[error("{key}: authorization required: {reason}")]
    AuthorizationRequired {
        /// The credential.
        key: StoreKey,
        /// Why.
        reason: AuthorizationReason,
    },
    /// A store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The credential lock could not be taken (a lock failure is never a reason to
    /// fall back to another store).
    #[error(transparent)]
    Lock(#[from] oauth_lock::Error),
    /// The shared credential lock of a store built with
    /// [`crate::OAuthStoreBuilder::shared_store`] (e.g. a database lock) was not given,
    /// or was lost (DESIGN.md "Many machines").
    #[error(transparent)]
    SharedLock(#[from] oauth_store_core::LockError),
    /// The access token expired while this caller waited for the credential lock, which
    /// another process (or another caller in this one) held to refresh it (DESIGN.md
    /// "Refresh thresholds": no waiter waits past its own token's expiry). Nothing was
    /// changed; the holder's refresh goes on, and the next call finds its result.
    #[error(
        "{key}: the access token expired after {} ms of waiting for the credential lock, while another process{} was refreshing it; nothing was changed, try again",
        waited.as_millis(),
        holder_pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
    )]
    ExpiredWhileWaiting {
        /// The credential.
        key: StoreKey,
        /// How long this call waited.
        waited: std::time::Duration,
        /// The lock holder's process id, when the OS tells.
        holder_pid: Option<u32>,
    },
    /// The provider could not be reached or failed (unreachable, 5xx, 429); nothing
    /// was changed.
    #[error("{key}: refresh failed, provider unavailable: {reason}")]
    Transient {
        /// The credential.
        key: StoreKey,
        /// What happened.
        reason: String,
    },
    /// The refresh was sent but its outcome is unknown (timeout after sending, an
    /// unparsable 200); nothing was changed.
    #[error("{key}: refresh outcome unknown: {reason}")]
    Indeterminate {
        /// The credential.
        key: StoreKey,
        /// What happened; never the body.
        reason: String,
    },
    /// The provider answered with new tokens but neither the store this handle writes
    /// (after retries) nor any store of the rescue order could keep them (DESIGN.md
    /// "Persist rescue"). The new credential is carried here (its refresh token may be
    /// the only valid one now: the old one was rotated away), so the caller can use it
    /// and try [`crate::CredentialHandle::save_grant`] with it later.
    #[error(
        "{key}: the provider issued new tokens but saving them failed: {source}; the rescue also failed in {}",
        describe_tried(rescue_tried)
    )]
    PersistFailed {
        /// The credential.
        key: StoreKey,
        /// The refreshed credential that could not be saved.
        credential: Box<Credential>,
        /// The last save error of the store this handle writes.
        #[source]
        source: StoreError,
        /// Every other store tried, in order, with its error.
        rescue_tried: Box<[(StoreKind, StoreError)]>,
    },
    /// The store this handle writes cannot keep a refreshed credential now (a keyring
    /// without a session bus, a Secrets key out of reach, a document path or lock that
    /// cannot be used), so the refresh token was NOT sent: a provider that answers
    /// rotates it, and its successor would be lost. Nothing changed.
    #[error(
        "{key}: the {store} store cannot keep a refreshed credential now ({source}); the refresh token was not sent and nothing changed"
    )]
    CannotKeep {
        /// The credential.
        key: StoreKey,
        /// The store that cannot take the save.
        store: StoreKind,
        /// Why.
        #[source]
        source: Box<StoreError>,
    },
    /// Logout could not remove every copy; the outcomes name what stayed.
    #[error("{key}: logout incomplete: {}", describe_outcomes(outcomes))]
    LogoutIncomplete {
        /// The credential.
        key: StoreKey,
        /// Per store: removed, absent, or the error that kept a copy.
        outcomes: Vec<StoreOutcome>,
    },
    /// No refresher is configured, or another configuration problem.
    #[error("configuration: {0}")]
    Config(String),
    /// A bug: an operation panicked (e.g. inside a refresher) and was stopped; nothing
    /// was changed beyond what it had persisted. Report it.
    #[error("internal error: {0}")]
    Internal(String),
}

fn describe_tried(tried: &[(StoreKind, StoreError)]) -> String {
    if tried.is_empty() {
        return "no other store".to_owned();
    }
    tried
        .iter()
        .map(|(kind, e)| format!("{kind} ({e})"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn describe_outcomes(outcomes: &[StoreOutcome]) -> String {
    outcomes
        .iter()
        .map(|o| match &o.result {
            Ok(true) => format!("{}: removed", o.store),
            Ok(false) => format!("{}: none", o.store),
            Err(e) => format!("{}: STAYED ({e})", o.store),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

impl Error {
    /// What a caller does next.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::AuthorizationRequired { .. } => ErrorKind::AuthorizationRequired,
            Error::Store(_)
            | Error::Lock(_)
            | Error::SharedLock(_)
            | Error::ExpiredWhileWaiting { .. }
            | Error::PersistFailed { .. }
            | Error::CannotKeep { .. }
            | Error::LogoutIncomplete { .. } => ErrorKind::Store,
            Error::Transient { .. } | Error::Indeterminate { .. } => ErrorKind::Provider,
            Error::Config(_) => ErrorKind::Config,
            Error::Internal(_) => ErrorKind::Internal,
        }
    }
}
