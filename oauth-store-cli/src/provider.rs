//! The provider side: the HTTP refresher (RFC 6749 section 6) and revocation (RFC 7009),
//! when the build has them (feature `http`, on by default).

use std::sync::Arc;

use oauth_store::{Credential, StoreLayout, TokenRefresher};

use crate::cli::Global;

/// The HTTP refresher the options describe: `--http-timeout` for a refresh as a whole,
/// `--revoke-timeout` for a revocation, failed discoveries remembered for other
/// processes in the home's lock directory (so a queue of processes waiting on one
/// credential lock does not each wait out an issuer that does not answer).
#[cfg(feature = "http")]
fn http(global: &Global, layout: &StoreLayout) -> oauth_store::HttpRefresher {
    use std::time::Duration;
    oauth_store::HttpRefresher::new()
        .with_timeout(Duration::from_secs(global.http_timeout))
        .with_revoke_timeout(Duration::from_secs(global.revoke_timeout))
        .with_discovery_memory(layout.lock_dir())
}

/// The refresher refresh transactions call, as the options set it; `None` when the
/// build has no HTTP refresher (then a refresh fails with a configuration error, exit 2).
#[cfg(feature = "http")]
pub(crate) fn configured(global: &Global, layout: &StoreLayout) -> Option<Arc<dyn TokenRefresher>> {
    Some(Arc::new(http(global, layout)))
}

/// The refresher refresh transactions call, as the options set it; `None` when the
/// build has no HTTP refresher (then a refresh fails with a configuration error, exit 2).
#[cfg(not(feature = "http"))]
pub(crate) fn configured(global: &Global, layout: &StoreLayout) -> Option<Arc<dyn TokenRefresher>> {
    let _ = (global, layout);
    None
}

/// A refresher with the default settings; `None` when the build has no HTTP refresher.
#[cfg(feature = "http")]
pub(crate) fn refresher() -> Option<Arc<dyn TokenRefresher>> {
    Some(Arc::new(oauth_store::HttpRefresher::new()))
}

/// A refresher with the default settings; `None` when the build has no HTTP refresher.
#[cfg(not(feature = "http"))]
pub(crate) fn refresher() -> Option<Arc<dyn TokenRefresher>> {
    None
}

/// Revokes `credential` at its provider (RFC 7009) within `--revoke-timeout`: the refresh
/// token when there is one (which revokes the grant at most providers), else the access
/// token. Returns which one.
///
/// # Errors
/// A text for a person (never a token value) when there is no issuer or revocation
/// endpoint, or the request failed.
#[cfg(feature = "http")]
pub(crate) fn revoke(
    global: &Global,
    layout: &StoreLayout,
    credential: &Credential,
) -> Result<&'static str, String> {
    http(global, layout)
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
pub(crate) fn revoke(
    global: &Global,
    layout: &StoreLayout,
    credential: &Credential,
) -> Result<&'static str, String> {
    let _ = (global, layout, credential);
    Err("this build has no HTTP client (feature `http`)".into())
}
