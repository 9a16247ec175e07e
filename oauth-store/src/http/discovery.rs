//! Authorization server metadata (RFC 8414, then OpenID Connect Discovery 1.0), cached
//! per process by issuer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use oauth2::url::Url;
use oauth2::{SyncHttpClient, http};

use super::transport::Transport;
use super::{HttpError, checked_url, host_of};

/// The largest metadata document parsed; real ones are a few KiB.
const MAX_DOCUMENT: usize = 256 * 1024;

/// What this crate uses of an authorization server's metadata (RFC 8414 section 2).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuthorizationServerMetadata {
    /// `issuer`, as the document states it (equal to the issuer asked for, up to a
    /// trailing `/`).
    pub issuer: String,
    /// `token_endpoint` (RFC 6749 section 3.2).
    pub token_endpoint: String,
    /// `revocation_endpoint` (RFC 7009), when the server offers one.
    pub revocation_endpoint: Option<String>,
}

/// Discovered metadata by issuer (without a trailing `/`), for the life of the process.
type Cache = Mutex<HashMap<String, Arc<AuthorizationServerMetadata>>>;

fn cache() -> &'static Cache {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

fn cache_key(issuer: &str) -> &str {
    issuer.strip_suffix('/').unwrap_or(issuer)
}

/// Forgets the cached metadata of `issuer`, so the next use discovers again (after a
/// discovered endpoint answered 404: the server moved it).
pub(super) fn forget(issuer: &str) {
    cache()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(cache_key(issuer));
}

/// The metadata of `issuer`: from the process cache, else fetched and cached.
///
/// Tries, in order (RFC 8414 section 3.1; OpenID Connect Discovery 1.0 section 4; the
/// MCP authorization spec's order for issuers with a path):
/// `/.well-known/oauth-authorization-server{path}`, `/.well-known/openid-configuration{path}`,
/// then, for an issuer with a path, `{issuer}/.well-known/openid-configuration`. A
/// document counts only if its `issuer` equals the one asked for (RFC 8414 section 3.3;
/// a trailing `/` is ignored) and it names a `token_endpoint`.
pub(super) fn discover(
    transport: &Transport,
    issuer: &str,
) -> Result<Arc<AuthorizationServerMetadata>, HttpError> {
    let key = cache_key(issuer);
    if let Some(found) = cache().lock().unwrap_or_else(|e| e.into_inner()).get(key) {
        return Ok(Arc::clone(found));
    }
    let fail = |reason: String, transient: bool| HttpError::Discovery {
        issuer: issuer.to_owned(),
        reason,
        transient,
    };
    let base = checked_url(issuer, "issuer").map_err(|e| fail(e.to_string(), false))?;
    if base.query().is_some() || base.fragment().is_some() {
        return Err(fail(
            "an issuer has no query or fragment (RFC 8414 section 2)".into(),
            false,
        ));
    }
    let mut reasons = Vec::new();
    let mut transient = false;
    for url in candidates(&base) {
        match fetch(transport, &url, key) {
            Ok(metadata) => {
                tracing::debug!(target: "oauth_store::http", issuer = key, document = url.path(), "discovered the token endpoint");
                let metadata = Arc::new(metadata);
                cache()
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(key.to_owned(), Arc::clone(&metadata));
                return Ok(metadata);
            }
            Err((reason, is_transient)) => {
                tracing::debug!(target: "oauth_store::http", issuer = key, document = url.path(), reason, "no usable metadata document");
                transient |= is_transient;
                reasons.push(format!("{}: {reason}", url.path()));
            }
        }
    }
    Err(fail(reasons.join("; "), transient))
}

/// The well-known URLs to try for `issuer`, in order.
fn candidates(issuer: &Url) -> Vec<Url> {
    let path = issuer.path().trim_end_matches('/');
    let at_root = |well_known: &str| {
        let mut url = issuer.clone();
        url.set_path(&format!("/.well-known/{well_known}{path}"));
        url
    };
    let mut out = vec![
        at_root("oauth-authorization-server"),
        at_root("openid-configuration"),
    ];
    if !path.is_empty() {
        let mut appended = issuer.clone();
        appended.set_path(&format!("{path}/.well-known/openid-configuration"));
        out.push(appended);
    }
    out
}

/// Fetches and checks one metadata document; the error says whether trying again
/// later may help (network failure, 429, 5xx).
fn fetch(
    transport: &Transport,
    url: &Url,
    issuer: &str,
) -> Result<AuthorizationServerMetadata, (String, bool)> {
    let request = http::Request::get(url.as_str())
        .header(http::header::ACCEPT, "application/json")
        .body(Vec::new())
        .map_err(|_| ("the request could not be built".to_owned(), false))?;
    let response = transport.call(request).map_err(|f| (f.reason, true))?;
    let status = response.status().as_u16();
    match status {
        200 => {}
        429 | 500..=599 => return Err((format!("{} answered {status}", host_of(url)), true)),
        _ => return Err((format!("{} answered {status}", host_of(url)), false)),
    }
    parse_document(response.body(), issuer).map_err(|reason| (reason, false))
}

/// Checks one metadata document's body: size, JSON, `issuer` equal to `issuer` (up to
/// a trailing `/`), a `token_endpoint`. The reason quotes nothing of the body but the
/// `issuer` it states when that is another one.
pub(super) fn parse_document(
    body: &[u8],
    issuer: &str,
) -> Result<AuthorizationServerMetadata, String> {
    if body.len() > MAX_DOCUMENT {
        return Err("the document is too large".into());
    }
    let document: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        format!(
            "the document does not parse: {}",
            oauth_store_core::describe_json_error(&e)
        )
    })?;
    let text = |name: &str| {
        document
            .get(name)
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
    };
    let stated = text("issuer").ok_or_else(|| "the document names no issuer".to_owned())?;
    if cache_key(&stated) != issuer {
        return Err(format!("the document is for another issuer ({stated})"));
    }
    let token_endpoint =
        text("token_endpoint").ok_or_else(|| "the document names no token_endpoint".to_owned())?;
    Ok(AuthorizationServerMetadata {
        issuer: stated,
        token_endpoint,
        revocation_endpoint: text("revocation_endpoint"),
    })
}
