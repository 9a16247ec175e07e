//! The provider side: the HTTP refresher (RFC 6749 section 6) and revocation (RFC 7009),
//! when the build has them (feature `http`).

use std::sync::Arc;

use oauth_store::{Credential, TokenRefresher};

/// The refresher refresh transactions call; `None` when the build has no HTTP refresher
/// (then a refresh fails with a configuration error, exit 2).
pub(crate) fn refresher() -> Option<Arc<dyn TokenRefresher>> {
    None
}

/// What a revocation did.
#[derive(Debug)]
pub(crate) enum Revoked {
    /// The provider accepted the revocation of this token type.
    Yes(&'static str),
}

/// Revokes `credential` at its provider (RFC 7009): the refresh token when there is one
/// (which revokes the grant), else the access token.
///
/// # Errors
/// A text for a person (never a token value) when there is no revocation endpoint or the
/// request failed.
pub(crate) fn revoke(credential: &Credential) -> Result<Revoked, String> {
    let _ = credential;
    Err("this build has no HTTP client (feature `http`)".into())
}
