//! The provider side: the HTTP refresher (RFC 6749 section 6) and revocation (RFC 7009),
//! when the build has them (feature `http`, on by default).

use std::sync::Arc;

use oauth_store::{Credential, TokenRefresher};

/// The refresher refresh transactions call; `None` when the build has no HTTP refresher
/// (then a refresh fails with a configuration error, exit 2).
#[cfg(feature = "http")]
pub(crate) fn refresher() -> Option<Arc<dyn TokenRefresher>> {
    Some(Arc::new(oauth_store::HttpRefresher::new()))
}

/// The refresher refresh transactions call; `None` when the build has no HTTP refresher
/// (then a refresh fails with a configuration error, exit 2).
#[cfg(not(feature = "http"))]
pub(crate) fn refresher() -> Option<Arc<dyn TokenRefresher>> {
    None
}

/// Revokes `credential` at its provider (RFC 7009): the refresh token when there is one
/// (which revokes the grant at most providers), else the access token. Returns which one.
///
/// # Errors
/// A text for a person (never a token value) when there is no issuer or revocation
/// endpoint, or the request failed.
#[cfg(feature = "http")]
pub(crate) fn revoke(credential: &Credential) -> Result<&'static str, String> {
    oauth_store::HttpRefresher::new()
        .revoke(credential)
        .map_err(|e| e.to_string())?;
    Ok(if credential.refresh_token.is_some() {
        "refresh_token"
    } else {
        "access_token"
    })
}

/// Revokes `credential` at its provider (RFC 7009); this build has no HTTP client.
///
/// # Errors
/// Always: the build lacks the feature `http`.
#[cfg(not(feature = "http"))]
pub(crate) fn revoke(credential: &Credential) -> Result<&'static str, String> {
    let _ = credential;
    Err("this build has no HTTP client (feature `http`)".into())
}
