//! The HTTP token refresher (feature `http`): [`HttpRefresher`], a [`TokenRefresher`]
//! that sends the RFC 6749 section 6 refresh_token grant with the `oauth2` crate over a
//! blocking ureq client, and classifies the answer by HTTP status. What it sends and how
//! it classifies is documented on [`HttpRefresher`] (this module is private).

mod classify;
mod discovery;
#[cfg(fuzzing)]
mod fuzzing;
pub(crate) mod redact;
pub(crate) mod transport;

use std::cell::RefCell;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use oauth_store_core::{Credential, ExposeSecret, TokenEndpointAuthMethod};
use oauth2::basic::BasicClient;
use oauth2::url::{Host, Url};
use oauth2::{
    AccessToken, AuthType, ClientId, ClientSecret, HttpRequest, HttpResponse, RefreshToken,
    RevocationUrl, StandardRevocableToken, SyncHttpClient, TokenUrl, http,
};

pub use self::discovery::AuthorizationServerMetadata;
use self::redact::Sent;
use self::transport::{Failure, Transport};
use crate::provider::{RefreshOutcome, TokenRefresher};

/// Why a discovery or revocation failed, or a URL cannot be used. No variant holds a
/// token, a client secret or an answer body.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// An issuer or endpoint URL cannot be used.
    #[error("the {what} cannot be used: {reason}")]
    Endpoint {
        /// Which URL (`token endpoint`, `issuer`, `revocation endpoint`).
        what: &'static str,
        /// Why: not a URL, plain `http` to a host other than loopback, or another scheme.
        reason: String,
        /// True when the URL is `https` and this build has no TLS (the `rustls` feature).
        needs_tls: bool,
    },
    /// No usable metadata document was found for an issuer (RFC 8414 section 3).
    #[error("discovery for issuer {issuer} failed: {reason}")]
    Discovery {
        /// The issuer asked about.
        issuer: String,
        /// What each document URL answered.
        reason: String,
        /// True when a document could not be fetched (network, 429, 5xx): trying later
        /// may help.
        transient: bool,
    },
    /// The credential names no issuer, so its revocation endpoint cannot be discovered.
    #[error("the credential names no issuer")]
    NoIssuer,
    /// The authorization server's metadata names no `revocation_endpoint`.
    #[error("issuer {issuer} offers no revocation endpoint")]
    NoRevocationEndpoint {
        /// The issuer.
        issuer: String,
    },
    /// The client cannot authenticate as its record says.
    #[error("client authentication `{method}` cannot be used: {reason}")]
    ClientAuthentication {
        /// The record's method.
        method: String,
        /// Why (an unsupported method, or a secret-based method without a secret).
        reason: String,
    },
    /// The request got no HTTP answer.
    #[error("{host}: {reason}")]
    Request {
        /// The endpoint's host (and port).
        host: String,
        /// What happened.
        reason: String,
        /// Whether the request may have reached the server.
        sent: bool,
    },
    /// The server answered with a status other than 200.
    #[error("{host} answered {status}{}", error.as_ref().map(|e| format!(" ({e})")).unwrap_or_default())]
    Status {
        /// The endpoint's host (and port).
        host: String,
        /// The HTTP status.
        status: u16,
        /// The RFC 6749 section 5.2 `error` code, when the body had one.
        error: Option<String>,
    },
}

/// A [`TokenRefresher`] over HTTP: the RFC 6749 section 6 refresh_token grant, built
/// and authenticated by the `oauth2` crate, sent by a blocking ureq client, classified by
/// HTTP status. Cheap to clone (the agent is shared).
///
/// - Client authentication (RFC 6749 section 2.3.1) as the record's
///   [`Credential::effective_auth_method`] says: `none` (`client_id` in the body),
///   `client_secret_basic` (HTTP Basic with the form-encoded id and secret),
///   `client_secret_post` (both in the body). Other methods (`private_key_jwt`, ...) are
///   refused without sending anything.
/// - `resource` = the record's `server_url` on every refresh (RFC 8707 section 2): a
///   server that bound the grant to its URL otherwise answers `invalid_target` from the
///   first expiry on. It is sent as [`oauth_store_core::resource_indicator`] gives it:
///   without a fragment (which the RFC forbids) and without user info.
/// - The token endpoint is the record's `token_endpoint`, else discovered from its
///   `issuer` (RFC 8414, then OpenID Connect Discovery) and cached for the process. A
///   failed discovery is remembered for [`HttpRefresher::DISCOVERY_FAILURE_MEMORY`] (60 s): in the process, and
///   across processes with [`HttpRefresher::with_discovery_memory`].
/// - One time budget for the whole provider interaction of a refresh, discovery
///   included ([`HttpRefresher::with_timeout`], default 30 s: half the default credential
///   lock timeout, so the holder of the credential lock lets go before other processes
///   stop waiting for it); discovery may use at most half of it, so the token request
///   always keeps the other half. Revocation has its own, shorter budget
///   ([`HttpRefresher::with_revoke_timeout`], default 10 s). Redirects are never
///   followed; each request gets a fresh connection.
/// - Plain `http` only to a loopback host (`localhost`, 127.0.0.0/8, `::1`); `https`
///   needs the `rustls` feature. Anything else is refused before a token leaves.
///
/// oauth2 builds and authenticates each request; the answer is classified here from
/// the HTTP status ([`RefreshOutcome`]), and a success body is parsed with
/// [`TokenResponse::from_json`](oauth_store_core::TokenResponse::from_json), which keeps
/// unknown response fields. oauth2 itself never sees an answer: its parse error carries
/// the raw body, which holds the new tokens, so no such error is ever made.
///
/// Requests whose client authentication or endpoint is unusable are refused locally:
/// [`RefreshOutcome::Refused`] with `status` 0 and one of the codes
/// `unsupported_client_auth`, `missing_client_secret`, `no_token_endpoint`,
/// `invalid_token_endpoint`, `insecure_token_endpoint`. An `https` endpoint in a build
/// without TLS, and a failed discovery, are [`RefreshOutcome::Transient`] (nothing was
/// sent, everything is kept).
///
/// # Outcomes, by HTTP status (DESIGN.md "Refresh transaction")
/// | answer | outcome |
/// | --- | --- |
/// | 2xx with a token response (RFC 6749 section 5.1) | `Refreshed` |
/// | 2xx whose body does not parse | `Indeterminate` (the provider may have rotated) |
/// | 400 or 401 with `invalid_grant` | `Rejected` |
/// | any other 4xx except 408 and 429 | `Refused`, with the provider's `error`, else `http_<status>` |
/// | 408, 429 (with `Retry-After` seconds), 5xx | `Transient` |
/// | 3xx (a redirect is not followed) | `Transient` |
/// | no connection made (resolve, refused, unreachable, connect timeout) | `Transient` |
/// | sent, then no answer (timeout, reset, end of file, TLS or HTTP error) | `Indeterminate` |
///
/// A failure after the connection was made counts as sent, the side that never claims
/// the provider did nothing when it may have rotated the refresh token (a TLS handshake
/// failure included: ureq reports it as plain I/O). An `error_description` is kept with
/// any token or secret that was sent cut out (control and invisible format characters
/// removed first, so none can split a secret); a 2xx body is wiped after parsing and
/// never quoted, logged or put into an error. A 2xx whose access token is empty or not
/// an RFC 6750 `b64token`, or whose refresh token is empty or not RFC 6749 `VSCHAR`s
/// ([`TokenResponse::check`](oauth_store_core::TokenResponse::check)), is
/// `Indeterminate`: nothing is saved.
///
/// # Logging
/// Events go to the `oauth_store::http` target (host, status, outcome; never a body or
/// a token). ureq's own HTTP engine, `ureq_proto`, logs raw request and answer bytes,
/// tokens and client secret included, through the `log` crate at TRACE level: an
/// application that bridges `log` must filter `ureq_proto` out (e.g. `ureq_proto=off`).
///
/// # Example
/// ```no_run
/// use std::{sync::Arc, time::Duration};
/// use oauth_store::{HttpRefresher, OAuthStore, StoreMode};
///
/// let store = OAuthStore::builder()
///     .mode(StoreMode::File)
///     .refresher(Arc::new(HttpRefresher::new().with_timeout(Duration::from_secs(10))))
///     .build()?;
/// let credential = store
///     .handle("notion", "https://mcp.notion.com/mcp")
///     .refresh_if_needed(Duration::from_secs(60))?;
/// # Ok::<(), oauth_store::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct HttpRefresher {
    transport: Transport,
    timeout: Duration,
    revoke_timeout: Duration,
    discovery_memory: Option<PathBuf>,
}

impl Default for HttpRefresher {
    fn default() -> Self {
        HttpRefresher::new()
    }
}

impl HttpRefresher {
    /// How long a failed discovery is remembered (60 s): within it, a new attempt for
    /// the same issuer fails at once with the remembered reason instead of asking again.
    /// Long enough that a queue of processes waiting on one credential lock does not ask
    /// again one after the other, short enough that a provider back up is found within a
    /// minute.
    pub const DISCOVERY_FAILURE_MEMORY: Duration = discovery::FAILURE_MEMORY;

    /// The file, in the directory of [`HttpRefresher::with_discovery_memory`], that
    /// remembers failed discoveries across processes: `discovery-failures.json`, holding
    /// `{"version":1,"failures":{"<sha256 hex of the issuer>":{"until_ms","transient","reason"}}}`
    /// (0600; no token, no URL).
    pub const DISCOVERY_FAILURE_FILE: &'static str = discovery::FAILURE_FILE;

    /// The time budget of a refresh in [`HttpRefresher::new`]: 30 s.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

    /// The time budget of a revocation in [`HttpRefresher::new`]: 10 s (revocation is
    /// best effort; a logout does not wait long for it).
    pub const DEFAULT_REVOKE_TIMEOUT: Duration = Duration::from_secs(10);

    /// A refresher with the [default timeout](Self::DEFAULT_TIMEOUT) and
    /// [revocation timeout](Self::DEFAULT_REVOKE_TIMEOUT), remembering failed
    /// discoveries in this process only.
    pub fn new() -> HttpRefresher {
        HttpRefresher {
            transport: Transport::new(),
            timeout: Self::DEFAULT_TIMEOUT,
            revoke_timeout: Self::DEFAULT_REVOKE_TIMEOUT,
            discovery_memory: None,
        }
    }

    /// The same refresher with the whole provider interaction of a refresh (discovery,
    /// when needed, and the token request, connecting included) bounded by `timeout`;
    /// discovery may use at most half of it. A refresh that was sent and then ran out
    /// of time is [`RefreshOutcome::Indeterminate`] (the provider may have rotated), so
    /// keep it long enough for slow providers, and shorter than the credential lock
    /// timeout other processes wait with (60 s by default). [`HttpRefresher::discover`]
    /// is bounded by it too.
    #[must_use = "with_timeout returns a new refresher"]
    pub fn with_timeout(mut self, timeout: Duration) -> HttpRefresher {
        self.timeout = timeout;
        self
    }

    /// The same refresher with a revocation ([`HttpRefresher::revoke`], discovery
    /// included) bounded by `timeout` as a whole.
    #[must_use = "with_revoke_timeout returns a new refresher"]
    pub fn with_revoke_timeout(mut self, timeout: Duration) -> HttpRefresher {
        self.revoke_timeout = timeout;
        self
    }

    /// The same refresher remembering failed discoveries for other processes too, in
    /// `dir/`[`HttpRefresher::DISCOVERY_FAILURE_FILE`] (0600; issuers hashed, no token, no URL): a process that
    /// finds a failure younger than [`HttpRefresher::DISCOVERY_FAILURE_MEMORY`] there fails at once instead of
    /// asking again, so a queue of processes waiting on one credential lock does not
    /// each wait out an unreachable issuer. A directory private to the user is expected
    /// (the home's lock directory); failing to read or write the file only loses the
    /// memory.
    #[must_use = "with_discovery_memory returns a new refresher"]
    pub fn with_discovery_memory(mut self, dir: impl Into<PathBuf>) -> HttpRefresher {
        self.discovery_memory = Some(dir.into());
        self
    }

    /// The time budget of a refresh.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The time budget of a revocation.
    pub fn revoke_timeout(&self) -> Duration {
        self.revoke_timeout
    }

    /// The authorization server metadata of `issuer` (RFC 8414 section 3, then OpenID
    /// Connect Discovery), from the process-wide cache or fetched into it.
    ///
    /// # Errors
    /// [`HttpError::Endpoint`] for an unusable issuer URL; [`HttpError::Discovery`] when
    /// no document answered, parsed, matched the issuer and named a token endpoint.
    pub fn discover(&self, issuer: &str) -> Result<AuthorizationServerMetadata, HttpError> {
        checked_url(issuer, "issuer")?;
        discovery::discover(
            &self.transport,
            issuer,
            Instant::now() + self.timeout,
            &Sent::nothing(),
            self.discovery_memory.as_deref(),
        )
        .map(|m| (*m).clone())
    }

    /// Revokes the credential's refresh token, else its access token, at the issuer's
    /// `revocation_endpoint` (RFC 7009 section 2, with `token_type_hint`), authenticating
    /// the client as for a refresh. Best effort: nothing is stored or changed here, and
    /// a credential without tokens is `Ok` at once. A 200 answer is success (RFC 7009
    /// section 2.2: also for a token the server did not know). Bounded as a whole,
    /// discovery included, by the [revocation timeout](Self::with_revoke_timeout);
    /// provider text in an error has the credential's secrets cut out (a server may
    /// answer `{"error":"<the refresh token>"}`).
    ///
    /// # Errors
    /// [`HttpError::NoIssuer`], [`HttpError::Discovery`],
    /// [`HttpError::NoRevocationEndpoint`], [`HttpError::Endpoint`],
    /// [`HttpError::ClientAuthentication`], [`HttpError::Request`],
    /// [`HttpError::Status`].
    pub fn revoke(&self, credential: &Credential) -> Result<(), HttpError> {
        let token = match &credential.refresh_token {
            Some(refresh) => StandardRevocableToken::RefreshToken(RefreshToken::new(
                refresh.expose_secret().to_owned(),
            )),
            None if credential.access_token.expose_secret().is_empty() => return Ok(()),
            None => StandardRevocableToken::AccessToken(AccessToken::new(
                credential.access_token.expose_secret().to_owned(),
            )),
        };
        let issuer = credential.issuer.as_deref().ok_or(HttpError::NoIssuer)?;
        checked_url(issuer, "issuer")?;
        let start = Instant::now();
        let sent = Sent::of(credential);
        let metadata = discovery::discover(
            &self.transport,
            issuer,
            start + self.revoke_timeout / 2,
            &sent,
            self.discovery_memory.as_deref(),
        )?;
        let endpoint = metadata.revocation_endpoint.as_deref().ok_or_else(|| {
            HttpError::NoRevocationEndpoint {
                issuer: issuer.to_owned(),
            }
        })?;
        let url = checked_url(endpoint, "revocation endpoint")?;
        let host = host_of(&url);
        // oauth2 insists on an https revocation URL (RFC 7009 section 2); plain http is
        // allowed here on loopback only, so oauth2 gets the https spelling and the
        // recorder sends to the checked URL.
        let mut spelled = url.clone();
        let _ = spelled.set_scheme("https");
        let client = oauth_client(credential)?.set_revocation_url(RevocationUrl::from_url(spelled));
        let recorder = Recorder::new(&self.transport, url, start + self.revoke_timeout);
        let request = client
            .revoke_token(token)
            .map_err(|e| HttpError::Endpoint {
                what: "revocation endpoint",
                reason: e.to_string(),
                needs_tls: false,
            })?;
        let result = request.request(&recorder);
        let Some(answer) = recorder.take() else {
            return Err(HttpError::Request {
                host,
                reason: format!(
                    "the request could not be built ({})",
                    describe_oauth2_error(&result)
                ),
                sent: false,
            });
        };
        match answer {
            Ok(response) if response.status() == http::StatusCode::OK => {
                tracing::debug!(target: "oauth_store::http", host, "revoked");
                Ok(())
            }
            Ok(response) => {
                let status = response.status().as_u16();
                let (error, _) = classify::error_fields(response.body(), &sent);
                Err(HttpError::Status {
                    host,
                    status,
                    error,
                })
            }
            Err(failure) => Err(HttpError::Request {
                host,
                reason: failure.reason,
                sent: failure.sent,
            }),
        }
    }

    /// The token endpoint to use for `credential`, and the issuer it was discovered
    /// from (None when the record names it).
    fn token_endpoint(
        &self,
        credential: &Credential,
        deadline: Instant,
    ) -> Result<(Url, Option<String>), RefreshOutcome> {
        if let Some(endpoint) = &credential.token_endpoint {
            return checked_url(endpoint, "token endpoint")
                .map(|u| (u, None))
                .map_err(url_outcome);
        }
        let Some(issuer) = &credential.issuer else {
            return Err(refused_locally(
                "no_token_endpoint",
                "the credential names neither a token endpoint nor an issuer",
            ));
        };
        let metadata = discovery::discover(
            &self.transport,
            issuer,
            deadline,
            &Sent::of(credential),
            self.discovery_memory.as_deref(),
        )
        .map_err(|e| match e {
            HttpError::Discovery { reason, .. } => RefreshOutcome::Transient {
                reason: format!(
                    "the token endpoint of issuer {issuer} could not be discovered: {reason}"
                ),
                retry_after: None,
            },
            other => url_outcome(other),
        })?;
        let url = checked_url(&metadata.token_endpoint, "token endpoint").map_err(url_outcome)?;
        Ok((url, Some(issuer.clone())))
    }
}

impl TokenRefresher for HttpRefresher {
    fn refresh(&self, credential: &Credential) -> RefreshOutcome {
        let Some(refresh_token) = &credential.refresh_token else {
            return refused_locally("invalid_request", "the credential holds no refresh token");
        };
        // One budget for the whole interaction, so the holder of the credential lock
        // lets go in time; discovery gets at most half, the token request the rest.
        let start = Instant::now();
        let (url, discovered_from) = match self.token_endpoint(credential, start + self.timeout / 2)
        {
            Ok(found) => found,
            Err(outcome) => return outcome,
        };
        let client = match oauth_client(credential) {
            Ok(client) => client,
            Err(error) => {
                let code = match credential.effective_auth_method() {
                    TokenEndpointAuthMethod::ClientSecretBasic
                    | TokenEndpointAuthMethod::ClientSecretPost => "missing_client_secret",
                    _ => "unsupported_client_auth",
                };
                return refused_locally(code, &error.to_string());
            }
        };
        let host = host_of(&url);
        let client = client.set_token_uri(TokenUrl::from_url(url.clone()));
        let refresh = RefreshToken::new(refresh_token.expose_secret().to_owned());
        let recorder = Recorder::new(&self.transport, url, start + self.timeout);
        tracing::debug!(target: "oauth_store::http", host, method = %credential.effective_auth_method(), "sending the refresh request");
        let result = client
            .exchange_refresh_token(&refresh)
            .add_extra_param(
                "resource",
                oauth_store_core::resource_indicator(&credential.server_url),
            )
            .request(&recorder);
        let Some(answer) = recorder.take() else {
            return refused_locally(
                "invalid_token_endpoint",
                &format!(
                    "the request could not be built ({})",
                    describe_oauth2_error(&result)
                ),
            );
        };
        let status = answer.as_ref().map(|r| r.status().as_u16()).ok();
        let outcome = classify::token_answer(answer, &host, &Sent::of(credential));
        if let (Some(issuer), Some(404)) = (&discovered_from, status) {
            discovery::forget(issuer);
        }
        tracing::debug!(target: "oauth_store::http", host, status, outcome = outcome_name(&outcome), "refresh answered");
        outcome
    }
}

/// Sends what oauth2 built to the checked URL and keeps the answer for classification,
/// handing oauth2 an error instead: oauth2 would otherwise parse the body, and its parse
/// error carries the raw body with the new tokens.
pub(crate) struct Recorder<'a> {
    transport: &'a Transport,
    send_to: Url,
    deadline: Instant,
    answer: RefCell<Option<Result<HttpResponse, Failure>>>,
}

/// What the recorder hands oauth2 in place of the answer.
#[derive(Debug, thiserror::Error)]
#[error("the answer was taken for classification")]
pub(crate) struct Recorded;

impl<'a> Recorder<'a> {
    pub(crate) fn new(transport: &'a Transport, send_to: Url, deadline: Instant) -> Self {
        Recorder {
            transport,
            send_to,
            deadline,
            answer: RefCell::new(None),
        }
    }

    pub(crate) fn take(&self) -> Option<Result<HttpResponse, Failure>> {
        self.answer.borrow_mut().take()
    }
}

impl SyncHttpClient for Recorder<'_> {
    type Error = Recorded;

    fn call(&self, request: HttpRequest) -> Result<HttpResponse, Recorded> {
        let (mut parts, body) = request.into_parts();
        let answer = match self.send_to.as_str().parse::<http::Uri>() {
            Ok(uri) => {
                parts.uri = uri;
                self.transport
                    .call(http::Request::from_parts(parts, body), self.deadline)
            }
            Err(_) => Err(Failure {
                sent: false,
                status: None,
                reason: "the URL is not a valid request target".into(),
            }),
        };
        *self.answer.borrow_mut() = Some(answer);
        Err(Recorded)
    }
}

/// oauth2's error before sending, by category (its `Parse` variant, which quotes a body,
/// cannot occur: the recorder never hands it one).
fn describe_oauth2_error<T, E: oauth2::ErrorResponse>(
    result: &Result<T, oauth2::RequestTokenError<Recorded, E>>,
) -> String {
    match result {
        Err(oauth2::RequestTokenError::Other(text)) => text.clone(),
        Err(oauth2::RequestTokenError::Request(_)) => "no request was made".into(),
        Err(_) | Ok(_) => "unexpected".into(),
    }
}

/// An oauth2 client authenticating as the record says (RFC 6749 section 2.3.1).
fn oauth_client(credential: &Credential) -> Result<BasicClient, HttpError> {
    let method = credential.effective_auth_method();
    let client = BasicClient::new(ClientId::new(credential.client_id.clone()));
    let auth_type = match &method {
        TokenEndpointAuthMethod::None => return Ok(client.set_auth_type(AuthType::RequestBody)),
        TokenEndpointAuthMethod::ClientSecretBasic => AuthType::BasicAuth,
        TokenEndpointAuthMethod::ClientSecretPost => AuthType::RequestBody,
        _ => {
            return Err(HttpError::ClientAuthentication {
                method: method.as_str().to_owned(),
                reason: "this version implements none, client_secret_basic and client_secret_post"
                    .into(),
            });
        }
    };
    let secret =
        credential
            .client_secret
            .as_ref()
            .ok_or_else(|| HttpError::ClientAuthentication {
                method: method.as_str().to_owned(),
                reason: "the credential holds no client secret".into(),
            })?;
    Ok(client
        .set_client_secret(ClientSecret::new(secret.expose_secret().to_owned()))
        .set_auth_type(auth_type))
}

/// Parses `text` and checks that a token may be sent there: `https` (with TLS compiled
/// in), or plain `http` to a loopback host.
pub(crate) fn checked_url(text: &str, what: &'static str) -> Result<Url, HttpError> {
    let bad = |reason: String, needs_tls: bool| HttpError::Endpoint {
        what,
        reason,
        needs_tls,
    };
    let url = Url::parse(text).map_err(|e| bad(format!("not a URL ({e})"), false))?;
    match url.scheme() {
        "https" if cfg!(feature = "rustls") => Ok(url),
        "https" => Err(bad(
            format!(
                "{} needs TLS, which this build lacks (enable the `rustls` feature)",
                host_of(&url)
            ),
            true,
        )),
        "http" if is_loopback(&url) => Ok(url),
        "http" => Err(bad(
            format!(
                "plain http to {}, which is not a loopback host, would expose the tokens",
                host_of(&url)
            ),
            false,
        )),
        other => Err(bad(format!("the scheme `{other}` is not http(s)"), false)),
    }
}

pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// `host[:port]` for messages: never the user info, path or query of a URL.
pub(crate) fn host_of(url: &Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_owned(),
        (None, _) => "<no host>".to_owned(),
    }
}

fn refused_locally(error: &str, description: &str) -> RefreshOutcome {
    RefreshOutcome::Refused {
        error: error.to_owned(),
        description: Some(format!("not sent: {description}")),
        status: 0,
    }
}

/// An unusable URL as a refresh outcome: missing TLS is this build's problem, not the
/// credential's, so it keeps "provider unavailable".
fn url_outcome(error: HttpError) -> RefreshOutcome {
    match error {
        HttpError::Endpoint {
            needs_tls: true,
            reason,
            ..
        } => RefreshOutcome::Transient {
            reason,
            retry_after: None,
        },
        HttpError::Endpoint { reason, what, .. } => {
            let code = if reason.starts_with("plain http") {
                "insecure_token_endpoint"
            } else {
                "invalid_token_endpoint"
            };
            refused_locally(code, &format!("{what}: {reason}"))
        }
        other => refused_locally("invalid_token_endpoint", &other.to_string()),
    }
}

fn outcome_name(outcome: &RefreshOutcome) -> &'static str {
    match outcome {
        RefreshOutcome::Refreshed(_) => "refreshed",
        RefreshOutcome::Rejected { .. } => "rejected",
        RefreshOutcome::Refused { .. } => "refused",
        RefreshOutcome::Transient { .. } => "transient",
        RefreshOutcome::Indeterminate { .. } => "indeterminate",
    }
}
