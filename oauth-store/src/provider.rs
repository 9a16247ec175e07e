//! The provider side of a refresh: the [`TokenRefresher`] trait and its four outcomes.

use std::time::Duration;

use oauth_store_core::{Credential, TokenResponse};

/// Performs one refresh_token grant (RFC 6749 section 6) for a stored credential.
///
/// Called at most once per refresh transaction, under the credential lock, with the
/// authoritative stored copy. Implementations classify the answer into a
/// [`RefreshOutcome`] and never put a token value into a reason text or a log line.
pub trait TokenRefresher: Send + Sync {
    /// Sends the refresh request for `credential` (its refresh token, client
    /// registration, token endpoint or issuer, and `server_url` as the RFC 8707
    /// `resource`) and classifies the answer.
    fn refresh(&self, credential: &Credential) -> RefreshOutcome;
}

impl<T: TokenRefresher + ?Sized> TokenRefresher for std::sync::Arc<T> {
    fn refresh(&self, credential: &Credential) -> RefreshOutcome {
        (**self).refresh(credential)
    }
}

/// How a refresh request ended (DESIGN.md "Refresh transaction").
#[derive(Debug)]
#[non_exhaustive]
pub enum RefreshOutcome {
    /// A usable token response (RFC 6749 section 5.1).
    Refreshed(TokenResponse),
    /// `invalid_grant` (RFC 6749 section 5.2): the refresh token is no longer valid. If
    /// the store still holds it, the tokens are dropped and the client registration
    /// kept; otherwise the stored (newer) one is adopted.
    Rejected {
        /// The provider's `error_description`, if any (never a token).
        description: Option<String>,
    },
    /// Any other 4xx error (`invalid_client`, `unauthorized_client`, `invalid_scope`,
    /// `invalid_target`, ...): everything is kept; callers treat it as authorization
    /// required.
    Refused {
        /// The provider's `error` code, or `http_<status>` when the body had none.
        error: String,
        /// The provider's `error_description`, if any.
        description: Option<String>,
        /// The HTTP status; 0 when the request was refused locally and nothing was
        /// sent (e.g. no token endpoint, an unsupported client authentication method).
        status: u16,
    },
    /// The request did not reach the provider or the provider failed (unreachable,
    /// 5xx, 429): everything is kept and the next attempt may succeed.
    Transient {
        /// What happened, for a person.
        reason: String,
        /// The provider's `Retry-After`, when given.
        retry_after: Option<Duration>,
    },
    /// The request was sent but no usable answer came (a timeout after sending, a 200
    /// whose body does not parse): the provider may have rotated the refresh token.
    /// Everything is kept; see the crate docs for the next attempt's policy.
    Indeterminate {
        /// What happened, for a person; never the body.
        reason: String,
    },
}
