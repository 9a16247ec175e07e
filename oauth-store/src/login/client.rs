//! The login's client (MCP authorization, "Client Registration Approaches"): the
//! pre-registered one, else the registration stored for this issuer, else a client ID
//! metadata document, else dynamic client registration (RFC 7591).

use std::time::Instant;

use oauth_store_core::{Credential, ExposeSecret, SecretString};
use oauth2::http::{self, HeaderValue, header};

use super::{Client, ClientSource, Discovered, LoginError, LoginOptions, Role, oauth_error, send};
use crate::http::redact::Sent;
use crate::http::transport::Transport;

/// The record's unknown field that keeps the registration's `grant_types` (RFC 7591
/// section 2), so a later login knows whether the registration covers its flow.
pub(crate) const GRANT_TYPES_FIELD: &str = "client_grant_types";

/// The device grant's type (RFC 8628 section 3.4).
pub(crate) const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// Picks the client, registering one when nothing else serves. `redirect_uri` is the
/// browser flow's (None for the device flow).
pub(crate) fn choose(
    transport: &Transport,
    options: &LoginOptions,
    found: &Discovered,
    stored: Option<&Credential>,
    redirect_uri: Option<&str>,
    deadline: impl Fn() -> Instant,
) -> Result<Client, LoginError> {
    if let Some(id) = &options.client_id {
        return Ok(Client {
            id: id.clone(),
            secret: options.client_secret.clone(),
            auth_method: options
                .client_secret
                .as_ref()
                .map(|_| "client_secret_basic".to_owned())
                .or_else(|| Some("none".into())),
            source: ClientSource::PreRegistered,
            grant_types: None,
        });
    }
    if let Some(client) = stored.and_then(|s| reusable(s, found, options.device)) {
        return Ok(client);
    }
    if let Some(url) = &options.client_metadata_url
        && found.client_id_metadata_document_supported
    {
        return Ok(Client {
            id: url.clone(),
            secret: None,
            auth_method: Some("none".into()),
            source: ClientSource::MetadataDocument,
            grant_types: None,
        });
    }
    register(transport, found, redirect_uri, options.device, deadline())
}

/// The stored registration, when it belongs to this issuer and (as far as the record
/// knows) covers the flow.
fn reusable(stored: &Credential, found: &Discovered, device: bool) -> Option<Client> {
    if stored.client_id.is_empty()
        || stored.issuer.as_deref().map(|i| i.trim_end_matches('/'))
            != Some(found.issuer.trim_end_matches('/'))
    {
        return None;
    }
    let grant_types: Option<Vec<String>> = stored
        .extra
        .iter()
        .find(|(name, _)| name == GRANT_TYPES_FIELD)
        .and_then(|(_, raw)| serde_json::from_str(raw.get()).ok());
    let needed = if device {
        DEVICE_GRANT
    } else {
        "authorization_code"
    };
    if let Some(types) = &grant_types
        && !types.iter().any(|t| t == needed)
    {
        tracing::debug!(target: "oauth_store::login", "the stored registration lacks the {needed} grant; registering anew");
        return None;
    }
    Some(Client {
        id: stored.client_id.clone(),
        secret: stored.client_secret.clone(),
        auth_method: stored
            .token_endpoint_auth_method
            .as_ref()
            .map(|m| m.as_str().to_owned()),
        source: ClientSource::Stored,
        grant_types,
    })
}

/// Dynamic client registration (RFC 7591 section 3.1): a native public client with a
/// loopback redirect URI and the grants the login and its refreshes need.
pub(crate) fn register(
    transport: &Transport,
    found: &Discovered,
    redirect_uri: Option<&str>,
    device: bool,
    deadline: Instant,
) -> Result<Client, LoginError> {
    let Some(endpoint) = &found.registration_endpoint else {
        return Err(LoginError::Refused(format!(
            "the authorization server {} offers no dynamic client registration (RFC 7591); pass a pre-registered client id",
            found.issuer
        )));
    };
    let mut grant_types = vec!["authorization_code".to_owned(), "refresh_token".to_owned()];
    if found.device_authorization_endpoint.is_some() {
        grant_types.push(DEVICE_GRANT.to_owned());
    }
    if device && found.device_authorization_endpoint.is_none() {
        return Err(LoginError::Refused(format!(
            "the authorization server {} offers no device authorization endpoint (RFC 8628)",
            found.issuer
        )));
    }
    // A device-only login still registers a loopback redirect URI, so the same
    // registration serves a later browser login.
    let redirect = redirect_uri.unwrap_or("http://127.0.0.1/callback");
    let body = serde_json::json!({
        "client_name": "oauth-store",
        "application_type": "native",
        "redirect_uris": [redirect],
        "token_endpoint_auth_method": "none",
        "grant_types": grant_types,
        "response_types": ["code"],
    });
    let mut request = http::Request::new(serde_json::to_vec(&body).unwrap_or_default());
    *request.method_mut() = http::Method::POST;
    *request.uri_mut() = endpoint.as_str().parse().map_err(|_| {
        LoginError::Refused("the registration endpoint is not a valid request target".into())
    })?;
    request.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    request
        .headers_mut()
        .insert(header::ACCEPT, HeaderValue::from_static("application/json"));
    let answer = send(transport, request, deadline, Role::AuthorizationServer)?;
    let status = answer.status().as_u16();
    let value: Option<serde_json::Value> = serde_json::from_slice(answer.body()).ok();
    if !(200..300).contains(&status) {
        let said = oauth_error(answer.body(), &Sent::nothing())
            .map(|(e, d)| format!(" ({e}{})", d.map(|d| format!(": {d}")).unwrap_or_default()))
            .unwrap_or_default();
        return Err(LoginError::Provider(format!(
            "dynamic client registration (RFC 7591) answered {status}{said}"
        )));
    }
    let value = value.ok_or_else(|| {
        LoginError::Provider("the registration answer is not JSON (RFC 7591 section 3.2.1)".into())
    })?;
    let id = value
        .get("client_id")
        .and_then(|v| v.as_str())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| LoginError::Provider("the registration answer has no client_id".into()))?;
    let secret = value
        .get("client_secret")
        .and_then(|v| v.as_str())
        .map(|s| SecretString::from(s.to_owned()));
    let auth_method = value
        .get("token_endpoint_auth_method")
        .and_then(|v| v.as_str())
        .map(str::to_owned)
        .or_else(|| Some("none".into()));
    let registered: Option<Vec<String>> = value
        .get("grant_types")
        .and_then(|g| serde_json::from_value(g.clone()).ok());
    tracing::debug!(target: "oauth_store::login", confidential = secret.as_ref().is_some_and(|s| !s.expose_secret().is_empty()), "registered a client (RFC 7591)");
    Ok(Client {
        id: id.to_owned(),
        secret,
        auth_method,
        source: ClientSource::Registered,
        grant_types: registered.or(Some(grant_types)),
    })
}
