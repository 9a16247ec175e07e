//! Discovery for a login: the MCP server's 401 challenge, its protected resource
//! metadata (RFC 9728) and its authorization server's metadata (RFC 8414, then OpenID
//! Connect Discovery 1.0), with the checks RFC 9728 section 3.3 and RFC 8414 section 3.3
//! ask for, and the MCP specification's S256 requirement.

use std::time::Instant;

use oauth2::http::{self, HeaderValue, header};
use oauth2::url::Url;

use super::{LoginError, Role, get, send};
use crate::http::redact::{Sent, provider_text};
use crate::http::transport::Transport;
use crate::http::{checked_url, host_of};

/// The largest metadata document parsed.
const MAX_DOCUMENT: usize = 256 * 1024;

/// What a login needs to know about the server and its authorization server.
#[derive(Debug, Clone)]
pub(crate) struct Discovered {
    /// The authorization server's `issuer`, as its metadata states it.
    pub(crate) issuer: String,
    pub(crate) authorization_endpoint: Option<Url>,
    pub(crate) token_endpoint: Url,
    pub(crate) registration_endpoint: Option<Url>,
    pub(crate) device_authorization_endpoint: Option<Url>,
    /// `authorization_response_iss_parameter_supported` (RFC 9207 section 3).
    pub(crate) iss_parameter_supported: bool,
    /// `client_id_metadata_document_supported`.
    pub(crate) client_id_metadata_document_supported: bool,
    /// The authorization server's `scopes_supported`.
    pub(crate) server_scopes: Vec<String>,
    /// The 401 challenge's `scope`.
    pub(crate) challenge_scope: Option<Vec<String>>,
    /// The protected resource metadata's `scopes_supported`.
    pub(crate) resource_scopes: Option<Vec<String>>,
}

/// Runs discovery for the MCP server at `server_url`, whose resource indicator is
/// `resource`; each request gets the deadline `deadline()` gives when it starts.
pub(crate) fn discover(
    transport: &Transport,
    server_url: &str,
    resource: &str,
    deadline: impl Fn() -> Instant,
) -> Result<Discovered, LoginError> {
    let server = checked_url(server_url, "MCP server URL").map_err(LoginError::http)?;
    let challenge = challenge(transport, &server, deadline())?;
    let mut candidates = Vec::new();
    if let Some(named) = challenge
        .as_ref()
        .and_then(|c| c.param("resource_metadata"))
    {
        candidates.push(checked_url(named, "resource metadata URL").map_err(LoginError::http)?);
    }
    candidates.extend(well_known(&server, "oauth-protected-resource"));
    let mut tried = Vec::new();
    let mut metadata = None;
    for url in candidates {
        match document(transport, &url, deadline(), Role::McpServer)? {
            Ok(found) => {
                metadata = Some(found);
                break;
            }
            Err(why) => tried.push(format!("{url}: {why}")),
        }
    }
    let Some(metadata) = metadata else {
        return Err(LoginError::Refused(format!(
            "no protected resource metadata (RFC 9728) found for {}: {}",
            host_of(&server),
            tried.join("; ")
        )));
    };
    let stated = metadata
        .get("resource")
        .and_then(|r| r.as_str())
        .unwrap_or_default();
    if stated.trim_end_matches('/') != resource.trim_end_matches('/') {
        return Err(LoginError::Refused(format!(
            "the protected resource metadata names the resource `{}`, not this server's `{resource}` (RFC 9728 section 3.3)",
            provider_text(stated, &Sent::nothing())
        )));
    }
    let issuer = metadata
        .get("authorization_servers")
        .and_then(|a| a.as_array())
        .and_then(|a| a.first())
        .and_then(|i| i.as_str())
        .ok_or_else(|| {
            LoginError::Refused(
                "the protected resource metadata names no authorization server".into(),
            )
        })?
        .to_owned();
    let mut found = authorization_server(transport, &issuer, &deadline)?;
    found.challenge_scope = challenge
        .as_ref()
        .and_then(|c| c.param("scope"))
        .map(|s| s.split_whitespace().map(str::to_owned).collect());
    found.resource_scopes = strings(&metadata, "scopes_supported");
    Ok(found)
}

/// The authorization server metadata of `issuer`: RFC 8414 first, then OpenID Connect
/// Discovery, in the MCP specification's order; the first document whose `issuer` is
/// the one asked for (RFC 8414 section 3.3; a trailing `/` aside) counts.
fn authorization_server(
    transport: &Transport,
    issuer: &str,
    deadline: &impl Fn() -> Instant,
) -> Result<Discovered, LoginError> {
    let base = checked_url(issuer, "issuer").map_err(LoginError::http)?;
    let path = base.path().trim_end_matches('/').to_owned();
    let at = |p: String| {
        let mut url = base.clone();
        url.set_path(&p);
        url
    };
    // The MCP specification's order: RFC 8414 with the path inserted, OpenID Connect
    // with the path inserted, then OpenID Connect with the path appended.
    let candidates = if path.is_empty() {
        vec![
            at("/.well-known/oauth-authorization-server".into()),
            at("/.well-known/openid-configuration".into()),
        ]
    } else {
        vec![
            at(format!("/.well-known/oauth-authorization-server{path}")),
            at(format!("/.well-known/openid-configuration{path}")),
            at(format!("{path}/.well-known/openid-configuration")),
        ]
    };
    let mut tried = Vec::new();
    let mut wrong_issuer = None;
    for url in candidates {
        let document = match document(transport, &url, deadline(), Role::AuthorizationServer)? {
            Ok(document) => document,
            Err(why) => {
                tried.push(format!("{url}: {why}"));
                continue;
            }
        };
        let stated = document
            .get("issuer")
            .and_then(|i| i.as_str())
            .unwrap_or_default();
        if stated.trim_end_matches('/') != issuer.trim_end_matches('/') {
            wrong_issuer = Some(provider_text(stated, &Sent::nothing()));
            continue;
        }
        return parse_metadata(stated, &document);
    }
    if let Some(stated) = wrong_issuer {
        return Err(LoginError::Refused(format!(
            "the authorization server metadata states the issuer `{stated}`, not `{issuer}` (RFC 8414 section 3.3)"
        )));
    }
    Err(LoginError::Provider(format!(
        "no authorization server metadata found for {issuer}: {}",
        tried.join("; ")
    )))
}

fn parse_metadata(issuer: &str, document: &serde_json::Value) -> Result<Discovered, LoginError> {
    let endpoint = |name: &'static str| -> Result<Option<Url>, LoginError> {
        document
            .get(name)
            .and_then(|v| v.as_str())
            .map(|text| {
                checked_url(text, name).map_err(|e| match e {
                    crate::http::HttpError::Endpoint { reason, .. } => {
                        LoginError::Refused(format!("the {name} cannot be used: {reason}"))
                    }
                    other => LoginError::http(other),
                })
            })
            .transpose()
    };
    let methods = strings(document, "code_challenge_methods_supported").unwrap_or_default();
    if !methods.iter().any(|m| m == "S256") {
        return Err(LoginError::Refused(format!(
            "the authorization server {issuer} does not list S256 in code_challenge_methods_supported, which the MCP authorization specification requires (PKCE, RFC 7636)"
        )));
    }
    let token_endpoint = endpoint("token_endpoint")?.ok_or_else(|| {
        LoginError::Refused(format!(
            "the authorization server {issuer} names no token_endpoint"
        ))
    })?;
    Ok(Discovered {
        issuer: issuer.to_owned(),
        authorization_endpoint: endpoint("authorization_endpoint")?,
        token_endpoint,
        registration_endpoint: endpoint("registration_endpoint")?,
        device_authorization_endpoint: endpoint("device_authorization_endpoint")?,
        iss_parameter_supported: document
            .get("authorization_response_iss_parameter_supported")
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false),
        client_id_metadata_document_supported: document
            .get("client_id_metadata_document_supported")
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false),
        server_scopes: strings(document, "scopes_supported").unwrap_or_default(),
        challenge_scope: None,
        resource_scopes: None,
    })
}

/// A JSON array of strings at `name`.
fn strings(document: &serde_json::Value, name: &str) -> Option<Vec<String>> {
    document.get(name).and_then(|v| v.as_array()).map(|a| {
        a.iter()
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect()
    })
}

/// The well-known URLs of `base` for `suffix` (RFC 8615): path-suffixed first when
/// `base` has a path, then the root one.
fn well_known(base: &Url, suffix: &str) -> Vec<Url> {
    let path = base.path().trim_end_matches('/');
    let mut urls = Vec::new();
    let mut at = |path: String| {
        let mut url = base.clone();
        url.set_path(&path);
        url.set_query(None);
        url.set_fragment(None);
        urls.push(url);
    };
    if !path.is_empty() {
        at(format!("/.well-known/{suffix}{path}"));
    }
    at(format!("/.well-known/{suffix}"));
    urls
}

/// GETs a JSON document: `Ok(Ok(object))`, `Ok(Err(why))` for an answer that is not one
/// (to try the next URL), `Err` when nothing answered.
fn document(
    transport: &Transport,
    url: &Url,
    deadline: Instant,
    role: Role,
) -> Result<Result<serde_json::Value, String>, LoginError> {
    let answer = send(transport, get(url), deadline, role)?;
    let status = answer.status().as_u16();
    if status != 200 {
        return Ok(Err(format!("answered {status}")));
    }
    if answer.body().len() > MAX_DOCUMENT {
        return Ok(Err("the document is too large".into()));
    }
    match serde_json::from_slice::<serde_json::Value>(answer.body()) {
        Ok(value) if value.is_object() => Ok(Ok(value)),
        _ => Ok(Err("not a JSON object".into())),
    }
}

/// The `WWW-Authenticate` challenge of an unauthenticated MCP request, when it is 401.
fn challenge(
    transport: &Transport,
    server: &Url,
    deadline: Instant,
) -> Result<Option<BearerChallenge>, LoginError> {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "oauth-store", "version": env!("CARGO_PKG_VERSION")}
        }
    });
    let mut request = http::Request::new(serde_json::to_vec(&body).unwrap_or_default());
    *request.method_mut() = http::Method::POST;
    *request.uri_mut() = server.as_str().parse().map_err(|_| {
        LoginError::Options("the MCP server URL is not a valid request target".into())
    })?;
    let headers = request.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(
        header::ACCEPT,
        HeaderValue::from_static("application/json, text/event-stream"),
    );
    let answer = send(transport, request, deadline, Role::McpServer)?;
    if answer.status().as_u16() != 401 {
        tracing::debug!(target: "oauth_store::login", status = answer.status().as_u16(), "the MCP server did not answer 401; trying the well-known URLs");
        return Ok(None);
    }
    Ok(answer
        .headers()
        .get_all(header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(BearerChallenge::parse))
}

/// The `Bearer` challenge of a `WWW-Authenticate` header (RFC 6750 section 3; RFC 9110
/// section 11.6.1 syntax): its auth-params, names lowercased, quoted values unescaped.
/// An MCP server's 401 names `resource_metadata` (RFC 9728 section 5.1) and `scope`; a
/// 403 `error="insufficient_scope"` names the `scope` a step-up login asks for.
///
/// Other schemes in the same header (`Basic realm="x", Bearer ...`) are skipped; a
/// malformed header yields what could be read, never a panic.
///
/// ```
/// use oauth_store::BearerChallenge;
/// let header = r#"Basic realm="r", Bearer error="insufficient_scope", scope="mcp files:write", resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp""#;
/// let challenge = BearerChallenge::parse(header).expect("a Bearer challenge");
/// assert_eq!(challenge.param("scope"), Some("mcp files:write"));
/// assert_eq!(challenge.param("error"), Some("insufficient_scope"));
/// assert!(BearerChallenge::parse(r#"Basic realm="bearer""#).is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BearerChallenge {
    params: Vec<(String, String)>,
}

impl BearerChallenge {
    /// The first `Bearer` challenge (scheme name case-insensitive) in a
    /// `WWW-Authenticate` header value, or `None` when there is none.
    pub fn parse(header: &str) -> Option<BearerChallenge> {
        let mut rest = header;
        let mut current: Option<(&str, Vec<(String, String)>)> = None;
        let mut found = None;
        let mut finish = |challenge: Option<(&str, Vec<(String, String)>)>| {
            if let Some((scheme, params)) = challenge
                && scheme.eq_ignore_ascii_case("bearer")
                && found.is_none()
            {
                found = Some(BearerChallenge { params });
            }
        };
        loop {
            rest = rest.trim_start_matches([' ', '\t', ',']);
            let Some(first) = rest.chars().next() else {
                break;
            };
            let end = rest.find(|c: char| !is_tchar(c)).unwrap_or(rest.len());
            if end == 0 {
                // Not a token (a stray quote, a control character): skip it.
                rest = &rest[first.len_utf8()..];
                continue;
            }
            let token = &rest[..end];
            let after = rest[end..].trim_start_matches([' ', '\t']);
            match after.strip_prefix('=') {
                Some(value) => {
                    let value = value.trim_start_matches([' ', '\t']);
                    let (value, remaining) = match value.strip_prefix('"') {
                        Some(quoted) => unquote(quoted),
                        None => {
                            let end = value.find([',', ' ', '\t']).unwrap_or(value.len());
                            (value[..end].to_owned(), &value[end..])
                        }
                    };
                    if let Some((_, params)) = current.as_mut() {
                        params.push((token.to_ascii_lowercase(), value));
                    }
                    rest = remaining;
                }
                None => {
                    finish(current.take());
                    current = Some((token, Vec::new()));
                    rest = after;
                }
            }
        }
        finish(current);
        found
    }

    /// The auth-param `name` (give it lowercase), if present; the first when repeated.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// RFC 9110 `tchar`.
fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// A quoted-string's content after its opening quote, unescaped, and what follows its
/// closing quote (an unterminated one runs to the end).
fn unquote(quoted: &str) -> (String, &str) {
    let mut out = String::new();
    let mut chars = quoted.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                if let Some((_, escaped)) = chars.next() {
                    out.push(escaped);
                }
            }
            '"' => return (out, &quoted[i + 1..]),
            c => out.push(c),
        }
    }
    (out, "")
}
