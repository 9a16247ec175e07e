//! The MCP authorization flow (MCP specification 2025-11-25, "Authorization"; feature
//! `http`): [`OAuthStore::login`] discovers the authorization server of an MCP
//! server, picks or registers a client, obtains a grant by browser (authorization code
//! with PKCE S256 through a 127.0.0.1 loopback listener, RFC 8252) or by device code
//! (RFC 8628), and saves it through the login transaction.
//!
//! The `oauth2` crate builds the PKCE pair, the authorization URL, the code exchange and
//! the device authorization request; `tiny_http` serves the loopback redirect. What is
//! written here is the order of the steps and the checks the specification asks for:
//! the protected resource metadata's `resource` is the server's URL (RFC 9728 section
//! 3.3), the authorization server metadata's `issuer` the one it was fetched for (RFC
//! 8414 section 3.3), S256 is offered, every endpoint is `https` or on a loopback host,
//! `state` and `iss` (RFC 9207) come back as sent, and `resource` (RFC 8707) is on the
//! authorization and token requests.
//!
//! # Limitations
//! - A stored registration rejected with `invalid_client` is replaced (registered anew)
//!   only where the rejection comes before the person is asked (the device
//!   authorization request); in the browser flow the login fails with the provider's
//!   error, and a second `login` with `client_id` unset reuses the same registration.
//! - Client authentication at the token endpoint: `none`, `client_secret_basic` and
//!   `client_secret_post`.
//! - The loopback listener binds 127.0.0.1 only (not `[::1]`).
//! - A stored registration is reused as registered: a callback URL whose path differs
//!   from the registered redirect URI's is refused by a strict server (register anew by
//!   logging out first, or pass a client id).

mod browser;
mod client;
mod device;
mod discovery;

use std::fmt;
use std::time::{Duration, Instant};

use oauth_store_core::{Credential, ExposeSecret, SecretString, TokenResponse};
use oauth2::url::Url;

use crate::error::Error;
use crate::http::redact::{Sent, provider_text};
use crate::http::transport::{Failure, Transport};
use crate::http::{HttpError, host_of};
use crate::resolution::Resolution;
use crate::store::OAuthStore;

pub use self::discovery::BearerChallenge;
pub(crate) use self::discovery::Discovered;

/// What a login asks for, and how (every field optional but the timeout).
///
/// ```
/// use std::time::Duration;
/// let options = oauth_store::LoginOptions::new()
///     .scope(["mcp"])
///     .device(true)
///     .timeout(Duration::from_secs(120));
/// assert!(options.device);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct LoginOptions {
    /// Scopes to ask for; `None`: the 401 challenge's `scope`, else the protected
    /// resource metadata's `scopes_supported` (plus `offline_access` when the
    /// authorization server lists it). With a stored credential, the union of its
    /// scopes and these (step-up after a 403 `insufficient_scope`).
    pub scope: Option<Vec<String>>,
    /// A pre-registered client id (RFC 6749 section 2.2); skips registration.
    pub client_id: Option<String>,
    /// The secret of a confidential pre-registered client (sent `client_secret_basic`).
    pub client_secret: Option<SecretString>,
    /// A client ID metadata document URL, used as the client id when the server says
    /// `client_id_metadata_document_supported`.
    pub client_metadata_url: Option<String>,
    /// The loopback port to listen on; `None`: the port of `callback_url`, else one the
    /// OS picks.
    pub callback_port: Option<u16>,
    /// The redirect URI to register and send (`http://127.0.0.1:PORT/callback` when
    /// `None`); the listener still binds 127.0.0.1 only.
    pub callback_url: Option<String>,
    /// The device authorization grant (RFC 8628) instead of the browser.
    pub device: bool,
    /// How long to wait for the person (browser callback, device approval): 300 s.
    pub timeout: Duration,
}

impl Default for LoginOptions {
    fn default() -> Self {
        LoginOptions::new()
    }
}

impl LoginOptions {
    /// Browser flow, everything discovered, a 300 s wait for the person.
    pub fn new() -> LoginOptions {
        LoginOptions {
            scope: None,
            client_id: None,
            client_secret: None,
            client_metadata_url: None,
            callback_port: None,
            callback_url: None,
            device: false,
            timeout: Duration::from_secs(300),
        }
    }

    /// Sets [`LoginOptions::scope`].
    #[must_use]
    pub fn scope<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.scope = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// Sets [`LoginOptions::client_id`] and, for a confidential client, its secret.
    #[must_use]
    pub fn client(mut self, client_id: impl Into<String>, secret: Option<SecretString>) -> Self {
        self.client_id = Some(client_id.into());
        self.client_secret = secret;
        self
    }

    /// Sets [`LoginOptions::client_metadata_url`].
    #[must_use]
    pub fn client_metadata_url(mut self, url: impl Into<String>) -> Self {
        self.client_metadata_url = Some(url.into());
        self
    }

    /// Sets [`LoginOptions::callback_port`].
    #[must_use]
    pub fn callback_port(mut self, port: u16) -> Self {
        self.callback_port = Some(port);
        self
    }

    /// Sets [`LoginOptions::callback_url`].
    #[must_use]
    pub fn callback_url(mut self, url: impl Into<String>) -> Self {
        self.callback_url = Some(url.into());
        self
    }

    /// Sets [`LoginOptions::device`].
    #[must_use]
    pub fn device(mut self, device: bool) -> Self {
        self.device = device;
        self
    }

    /// Sets [`LoginOptions::timeout`].
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

/// How a login reaches the person. Called on the login's thread; each call returns at
/// once (the wait is the login's).
pub trait LoginPrompt {
    /// The browser flow's authorization URL (it holds no secret: the PKCE challenge and
    /// `state` are public): show it, open a browser on it.
    fn authorization_url(&self, url: &str);
    /// The device flow's verification URI, the complete one when the server gave it
    /// (RFC 8628 section 3.3.1), and the user code to enter there.
    fn device_code(
        &self,
        verification_uri: &str,
        verification_uri_complete: Option<&str>,
        user_code: &str,
    );
}

/// What a successful login did.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct LoginOutcome {
    /// Where the credential was saved.
    pub resolution: Resolution,
    /// The authorization server's issuer.
    pub issuer: String,
    /// The client id used.
    pub client_id: String,
    /// How the client was chosen.
    pub client_source: ClientSource,
    /// The granted scopes as saved.
    pub scopes: Vec<String>,
    /// The access token's expiry, ms since the Unix epoch, when known.
    pub expires_at: Option<u64>,
    /// Whether a refresh token was issued.
    pub refresh_token: bool,
}

/// Where a login's client came from (MCP authorization, "Client Registration").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientSource {
    /// [`LoginOptions::client_id`].
    PreRegistered,
    /// The registration stored with the credential for this issuer, reused.
    Stored,
    /// A client ID metadata document URL.
    MetadataDocument,
    /// Dynamic client registration (RFC 7591), now.
    Registered,
}

impl ClientSource {
    /// `pre-registered`, `stored`, `metadata-document` or `registered`.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientSource::PreRegistered => "pre-registered",
            ClientSource::Stored => "stored",
            ClientSource::MetadataDocument => "metadata-document",
            ClientSource::Registered => "registered",
        }
    }
}

/// Why a login failed. Nothing was saved. No variant holds a code, verifier, token or
/// client secret (provider text has them cut out).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoginError {
    /// The options cannot be used (a callback URL that is not loopback http, ...).
    #[error("{0}")]
    Options(String),
    /// A check the specification asks for failed, or the server offers no way to do what
    /// was asked (no S256, an issuer or resource that differs, plain http to a remote
    /// host, `state` or `iss` that differ, no device endpoint, no way to get a client).
    #[error("login refused: {0}")]
    Refused(String),
    /// The person or the server said no (`access_denied`, an `error` on the callback,
    /// an expired device code, a token request refused with a 4xx).
    #[error("authorization denied: {error}{}", description.as_ref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Denied {
        /// The RFC 6749 `error` code.
        error: String,
        /// The `error_description`, secrets cut out.
        description: Option<String>,
    },
    /// No callback within [`LoginOptions::timeout`] (seconds): the browser was closed,
    /// or nobody answered.
    #[error("no authorization within {0} s (browser closed, or nobody answered)")]
    TimedOut(u64),
    /// The device code (RFC 8628) was not approved within [`LoginOptions::timeout`]
    /// (seconds).
    #[error("no authorization within {0} s: the device code was not approved in time")]
    DeviceTimedOut(u64),
    /// The configured callback port ([`LoginOptions::callback_port`], or the callback
    /// URL's) is in use on 127.0.0.1.
    #[error("cannot listen on 127.0.0.1:{0}: the port is in use")]
    CallbackPortInUse(u16),
    /// A network failure, or an answer that cannot be used (5xx, a body that does not
    /// parse).
    #[error("{0}")]
    Provider(String),
    /// The store or the credential lock failed while saving.
    #[error(transparent)]
    Store(#[from] Error),
}

impl LoginError {
    fn http(error: HttpError) -> LoginError {
        match error {
            HttpError::Endpoint { .. } => LoginError::Refused(error.to_string()),
            other => LoginError::Provider(other.to_string()),
        }
    }
}

/// Refuses, as [`LoginError::Options`], an MCP server URL that is not an `http(s)` URL:
/// a typo of the person's, not a check of the server's (plain `http` to a remote host
/// is left to [`crate::http::checked_url`], a refusal). The URL is shown as
/// [`oauth_store_core::display_server_url`] shows it (no user info, no query values).
fn usable_server_url(server_url: &str) -> Result<(), LoginError> {
    let shown = oauth_store_core::display_server_url(server_url);
    // `localhost:8080/mcp` parses, with `localhost` as its scheme: no `://` is the tell.
    let no_scheme = !server_url.contains("://");
    let hint = || {
        if no_scheme {
            format!("; it has no scheme: did you mean `https://{shown}`?")
        } else {
            String::new()
        }
    };
    match Url::parse(server_url) {
        Err(e) => Err(LoginError::Options(format!(
            "the MCP server URL {shown} is not a URL ({e}){}",
            hint()
        ))),
        Ok(url) if !matches!(url.scheme(), "http" | "https") || no_scheme => {
            Err(LoginError::Options(format!(
                "the MCP server URL {shown} is not an http(s) URL{}",
                if no_scheme {
                    hint()
                } else {
                    format!(" (its scheme is `{}`)", url.scheme())
                }
            )))
        }
        Ok(_) => Ok(()),
    }
}

/// A secret that prints as `<redacted>`: codes, verifiers.
pub(crate) struct Hidden(pub(crate) String);

impl fmt::Debug for Hidden {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The client a login uses.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    pub(crate) id: String,
    pub(crate) secret: Option<SecretString>,
    pub(crate) auth_method: Option<String>,
    pub(crate) source: ClientSource,
    /// The registration's `grant_types`, when known (kept in the record).
    pub(crate) grant_types: Option<Vec<String>>,
}

impl OAuthStore {
    /// Logs in to the MCP server `server_name` at `server_url` (MCP specification 2025-11-25,
    /// "Authorization") and saves the grant, replacing any stored tokens.
    ///
    /// Steps: an unauthenticated MCP request, whose 401 `WWW-Authenticate` names
    /// `resource_metadata` and `scope`, else the RFC 9728 well-known URIs (path, then
    /// root); the protected resource metadata's `resource` must be the server's URL
    /// (RFC 9728 section 3.3); the first of its `authorization_servers` is discovered
    /// (RFC 8414, then OpenID Connect Discovery) and its `issuer` must match (RFC 8414
    /// section 3.3); S256 must be in `code_challenge_methods_supported`. The client:
    /// [`LoginOptions::client_id`], else the registration stored for this issuer, else a
    /// client ID metadata document, else dynamic client registration (RFC 7591; again
    /// when the stored one lacks a grant type the flow needs). The grant: browser (PKCE
    /// S256, `state`, `resource`, loopback redirect; `prompt` is called with the URL) or
    /// device (RFC 8628, polling at `interval`, slower on `slow_down`). The code exchange
    /// or the last device poll and the save run under the credential lock, never the wait
    /// for the person; the registration is saved with the tokens.
    ///
    /// # Errors
    /// [`LoginError`]; nothing is saved on any of them.
    pub fn login(
        &self,
        server_name: &str,
        server_url: &str,
        options: &LoginOptions,
        prompt: &dyn LoginPrompt,
    ) -> Result<LoginOutcome, LoginError> {
        let handle = self.handle(server_name, server_url);
        let transport = Transport::new();
        let resource = oauth_store_core::resource_indicator(server_url).into_owned();
        usable_server_url(server_url)?;
        crate::http::checked_url(server_url, "MCP server URL").map_err(LoginError::http)?;
        let deadline = || Instant::now() + Duration::from_secs(30);

        // The listener first: a port in use or a bad callback URL fails before anything
        // is sent.
        let redirect = if options.device {
            None
        } else {
            Some(browser::Listener::bind(options)?)
        };
        let found = discovery::discover(&transport, server_url, &resource, deadline)?;
        let stored = handle.load().ok().flatten();
        let scopes = choose_scopes(options, &found, stored.as_ref());
        tracing::debug!(target: "oauth_store::login", issuer = %found.issuer, scopes = %scopes.join(" "), device = options.device, "discovered");

        let redirect_uri = redirect.as_ref().map(|l| l.redirect_uri.clone());
        let mut client = client::choose(
            &transport,
            options,
            &found,
            stored.as_ref().filter(|s| s.server_url == server_url),
            redirect_uri.as_deref(),
            deadline,
        )?;

        let mut code = None;
        let response = match redirect {
            Some(listener) => {
                code = Some((
                    browser::authorize(
                        &listener, &found, &client, &scopes, &resource, options, prompt,
                    )?,
                    listener.redirect_uri.clone(),
                ));
                None
            }
            None => {
                let (authorization, used) =
                    device::start(&transport, &found, client, &scopes, &resource, deadline)?;
                client = used;
                prompt.device_code(
                    &authorization.verification_uri,
                    authorization.verification_uri_complete.as_deref(),
                    authorization.user_code.0.as_str(),
                );
                // Polling waits for the person: outside the lock. The token it returns
                // is saved under the lock (nobody else can spend it: it is new).
                Some(device::poll(
                    &transport,
                    &found,
                    &client,
                    &authorization,
                    &resource,
                    options,
                )?)
            }
        };

        let saved = handle.obtain_and_save(|| {
            let response = match (response, &code) {
                (Some(response), _) => response,
                (None, Some((code, redirect_uri))) => {
                    browser::exchange(&transport, &found, &client, code, redirect_uri, &resource)?
                }
                (None, None) => {
                    return Err(LoginError::Provider("no grant was obtained".into()));
                }
            };
            Ok::<_, LoginError>(assemble(
                server_name,
                server_url,
                &found,
                &client,
                &scopes,
                &response,
            ))
        });
        if let Some((code, _)) = code.as_mut() {
            code.answer(saved.as_ref().map(|_| ()));
        }
        let (resolution, saved) = saved?;
        tracing::info!(target: "oauth_store::login", key = %handle.key(), issuer = %found.issuer, client = client.source.as_str(), "logged in");
        Ok(LoginOutcome {
            resolution,
            issuer: found.issuer.clone(),
            client_id: client.id.clone(),
            client_source: client.source,
            scopes: saved.scopes.clone(),
            expires_at: saved.expires_at,
            refresh_token: saved.refresh_token.is_some(),
        })
    }
}

/// The scopes to ask for (MCP authorization, "Scope Selection Strategy").
fn choose_scopes(
    options: &LoginOptions,
    found: &Discovered,
    stored: Option<&Credential>,
) -> Vec<String> {
    let mut scopes: Vec<String> = match &options.scope {
        Some(asked) => {
            // Step-up: what the stored grant has, plus what is asked now.
            let mut all: Vec<String> = stored.map(|s| s.scopes.clone()).unwrap_or_default();
            all.extend(asked.iter().cloned());
            all
        }
        None => found
            .challenge_scope
            .clone()
            .or_else(|| found.resource_scopes.clone())
            .unwrap_or_default(),
    };
    if found.server_scopes.iter().any(|s| s == "offline_access") {
        scopes.push("offline_access".into());
    }
    let mut seen = std::collections::HashSet::new();
    scopes.retain(|s| !s.is_empty() && seen.insert(s.clone()));
    scopes
}

/// The new record: the token response on a fresh record carrying the registration and
/// the issuer (a new grant is never merged with the old one).
fn assemble(
    server_name: &str,
    server_url: &str,
    found: &Discovered,
    client: &Client,
    asked: &[String],
    response: &TokenResponse,
) -> Credential {
    let mut builder = Credential::builder(server_name, server_url, response.access_token.clone())
        .client_id(client.id.clone())
        .issuer(found.issuer.clone())
        .token_endpoint(found.token_endpoint.to_string())
        .scopes(asked.iter().cloned());
    if let Some(secret) = &client.secret {
        builder = builder.client_secret(secret.clone());
    }
    if let Some(method) = &client.auth_method {
        builder = builder.token_endpoint_auth_method(
            oauth_store_core::TokenEndpointAuthMethod::from_name(method),
        );
    }
    if let Some(grant_types) = &client.grant_types
        && let Ok(raw) = serde_json::value::to_raw_value(grant_types)
    {
        builder = builder.extra(client::GRANT_TYPES_FIELD, raw);
    }
    let mut credential = builder.build();
    credential.apply_token_response(response, now_ms());
    credential
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Which server a login request goes to, for the text of a failure: "the MCP server at
/// 127.0.0.1:1" tells a person which of the two is not running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// The MCP server (the protected resource): the unauthenticated request and its
    /// protected resource metadata (RFC 9728).
    McpServer,
    /// The authorization server: its metadata (RFC 8414), registration (RFC 7591),
    /// device authorization and token endpoints.
    AuthorizationServer,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::McpServer => "the MCP server",
            Role::AuthorizationServer => "the authorization server",
        })
    }
}

/// `host[:port]` of a request target, for messages: never its user info, path or query.
fn authority_of(uri: &oauth2::http::Uri) -> String {
    match (uri.host(), uri.port_u16()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_owned(),
        (None, _) => "<no host>".to_owned(),
    }
}

/// Sends `request` to the server in `role`, reading the whole answer; a failure names
/// the role and `host[:port]`, never a body, user info or query.
pub(crate) fn send(
    transport: &Transport,
    request: oauth2::HttpRequest,
    deadline: Instant,
    role: Role,
) -> Result<oauth2::HttpResponse, LoginError> {
    let at = authority_of(request.uri());
    transport
        .call(request, deadline)
        .map_err(|Failure { reason, .. }| LoginError::Provider(format!("{role} at {at}: {reason}")))
}

/// A JSON GET of `url`, `Accept: application/json`.
pub(crate) fn get(url: &Url) -> oauth2::HttpRequest {
    let mut request = oauth2::http::Request::new(Vec::new());
    *request.uri_mut() = url.as_str().parse().unwrap_or_default();
    request.headers_mut().insert(
        oauth2::http::header::ACCEPT,
        oauth2::http::HeaderValue::from_static("application/json"),
    );
    request
}

/// Reads an OAuth error answer (RFC 6749 section 5.2): `(error, error_description)`,
/// the description with `sent` cut out.
pub(crate) fn oauth_error(body: &[u8], sent: &Sent<'_>) -> Option<(String, Option<String>)> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let error = value.get("error")?.as_str()?;
    let description = value
        .get("error_description")
        .and_then(|d| d.as_str())
        .map(|d| provider_text(d, sent));
    Some((provider_text(error, sent), description))
}

/// The outcome of a token request (code exchange, device poll): the response, or why
/// not. A 4xx with an `error` is [`LoginError::Denied`]; anything else is a provider
/// failure. The body of a 2xx is never shown.
pub(crate) fn token_answer(
    answer: oauth2::HttpResponse,
    url: &Url,
    sent: &Sent<'_>,
) -> Result<TokenResponse, TokenError> {
    let status = answer.status().as_u16();
    if (200..300).contains(&status) {
        let mut body = answer.into_body();
        let parsed = TokenResponse::from_json(&body);
        body.iter_mut().for_each(|b| *b = 0);
        return parsed.map_err(|e| {
            TokenError::Other(LoginError::Provider(format!(
                "{} answered a token response that cannot be used: {e}",
                host_of(url)
            )))
        });
    }
    match oauth_error(answer.body(), sent) {
        Some((error, description)) if (400..500).contains(&status) => {
            Err(TokenError::OAuth { error, description })
        }
        _ => Err(TokenError::Other(LoginError::Provider(format!(
            "{} answered {status}",
            host_of(url)
        )))),
    }
}

/// A token request's failure.
pub(crate) enum TokenError {
    /// An RFC 6749 section 5.2 error (4xx).
    OAuth {
        error: String,
        description: Option<String>,
    },
    /// Anything else, as the login reports it.
    Other(LoginError),
}

impl From<TokenError> for LoginError {
    fn from(error: TokenError) -> LoginError {
        match error {
            TokenError::OAuth { error, description } => LoginError::Denied { error, description },
            TokenError::Other(e) => e,
        }
    }
}

/// The secrets of a token request, to cut out of answers.
pub(crate) fn sent_of<'a>(client: &'a Client, more: &[&'a str]) -> Sent<'a> {
    let mut sent = Sent::nothing();
    if let Some(secret) = &client.secret {
        sent.push(secret.expose_secret());
    }
    for secret in more {
        sent.push(secret);
    }
    sent
}
