//! The provider's model: clients, grants, single-use refresh tokens and reuse detection.
//!
//! No I/O here; `http` turns requests into [`TokenRequest`]s and answers what this returns.

use std::collections::HashMap;
use std::fmt;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::{AuthMethod, ClientRegistration, EndpointConfig, Fault};

use OAuthError as E;

/// What the endpoint has counted since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counters {
    /// `POST /token` requests received, whatever their outcome; faulted ones included.
    pub token_requests: u64,
    /// Successful `refresh_token` grants (RFC 6749 section 6), including those answered
    /// late ([`Fault::Slow`]) or garbled ([`Fault::UnparsableSuccess`]).
    pub refreshes: u64,
    /// Consumed refresh tokens presented again (RFC 6819 section 5.2.2.3), while
    /// [`EndpointConfig::reuse_detection`] is on.
    pub reuse_detections: u64,
    /// Grants revoked, by reuse detection, `POST /revoke` or
    /// [`TokenEndpoint::revoke_grant_of`](crate::TokenEndpoint::revoke_grant_of); each
    /// grant counts once.
    pub revoked_grants: u64,
    /// `invalid_grant` answers, injected ones ([`Fault::InvalidGrant`]) included.
    pub rejected: u64,
    /// `GET` requests for either discovery document (RFC 8414 section 3).
    pub discovery_requests: u64,
    /// `POST /revoke` requests (RFC 7009 section 2.1).
    pub revocations: u64,
    /// Token requests answered by an injected [`Fault`].
    pub faults_injected: u64,
}

/// Tokens of a fresh grant, as if an authorization code had just been exchanged
/// (RFC 6749 section 4.1.4). `Debug` does not show the tokens.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IssuedTokens {
    /// The access token, `<prefix>at_<32 hex>`.
    pub access_token: String,
    /// The refresh token, `<prefix>rt_<32 hex>`.
    pub refresh_token: String,
    /// Access token lifetime in whole seconds (at least 1).
    pub expires_in: u64,
    /// Granted scopes, space-separated (RFC 6749 section 3.3); empty when none.
    pub scope: String,
}

impl fmt::Debug for IssuedTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedTokens")
            .field("access_token", &"<redacted>")
            .field("refresh_token", &"<redacted>")
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish()
    }
}

/// One `POST /token` request as the endpoint saw it. `Debug` does not show the token.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordedRequest {
    /// When it arrived, Unix epoch ms.
    pub at_ms: u64,
    /// The `grant_type` parameter.
    pub grant_type: Option<String>,
    /// How the client authenticated: Basic header, secret in the body, or neither.
    pub auth_method: AuthMethod,
    /// The client id from the Basic header or the body.
    pub client_id: Option<String>,
    /// The `refresh_token` parameter presented.
    pub refresh_token: Option<String>,
    /// Every `resource` parameter in order (RFC 8707 section 2; it may repeat).
    pub resources: Vec<String>,
    /// The `scope` parameter.
    pub scope: Option<String>,
    /// The HTTP status answered; `None` when the connection was closed unanswered.
    pub status: Option<u16>,
    /// The RFC 6749 section 5.2 `error` code answered, if any.
    pub error: Option<String>,
    /// The injected fault that shaped the answer, if any.
    pub fault: Option<Fault>,
}

impl fmt::Debug for RecordedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordedRequest")
            .field("at_ms", &self.at_ms)
            .field("grant_type", &self.grant_type)
            .field("auth_method", &self.auth_method)
            .field("client_id", &self.client_id)
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .field("resources", &self.resources)
            .field("scope", &self.scope)
            .field("status", &self.status)
            .field("error", &self.error)
            .field("fault", &self.fault)
            .finish()
    }
}

/// An RFC 6749 section 5.2 error answer; the message is its `error_description`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum OAuthError {
    /// Malformed request: missing or repeated parameter, wrong content type.
    #[error("{0}")]
    InvalidRequest(String),
    /// Unknown client, wrong secret, or another method than the registered one.
    #[error("{0}")]
    InvalidClient(String),
    /// Unknown, consumed or revoked refresh token, or one of another client.
    #[error("{0}")]
    InvalidGrant(&'static str),
    /// A `grant_type` other than `refresh_token`.
    #[error("only grant_type=refresh_token is supported")]
    UnsupportedGrantType,
    /// A `scope` beyond the grant's.
    #[error("the requested scope exceeds the scope of the grant")]
    InvalidScope,
    /// A missing or unknown `resource` (RFC 8707 section 2).
    #[error("{0}")]
    InvalidTarget(String),
}

impl OAuthError {
    /// The `error` code.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            OAuthError::InvalidRequest(_) => "invalid_request",
            OAuthError::InvalidClient(_) => "invalid_client",
            OAuthError::InvalidGrant(_) => "invalid_grant",
            OAuthError::UnsupportedGrantType => "unsupported_grant_type",
            OAuthError::InvalidScope => "invalid_scope",
            OAuthError::InvalidTarget(_) => "invalid_target",
        }
    }

    /// The HTTP status: 401 for `invalid_client`, else 400.
    pub(crate) fn status(&self) -> u16 {
        match self {
            OAuthError::InvalidClient(_) => 401,
            _ => 400,
        }
    }
}

/// The client authentication a request carried, before it is checked. `Debug` does not
/// show the secret.
#[derive(Clone)]
pub(crate) struct ClientAuth {
    pub(crate) method: AuthMethod,
    pub(crate) client_id: Option<String>,
    pub(crate) secret: Option<String>,
}

impl fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientAuth")
            .field("method", &self.method)
            .field("client_id", &self.client_id)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// A parsed `POST /token` request; `problem` is the first thing found wrong while parsing.
/// `Debug` does not show the refresh token.
#[derive(Clone)]
pub(crate) struct TokenRequest {
    pub(crate) auth: ClientAuth,
    pub(crate) grant_type: Option<String>,
    pub(crate) refresh_token: Option<String>,
    pub(crate) resources: Vec<String>,
    pub(crate) scope: Option<String>,
    pub(crate) problem: Option<OAuthError>,
}

impl fmt::Debug for TokenRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenRequest")
            .field("auth", &self.auth)
            .field("grant_type", &self.grant_type)
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .field("resources", &self.resources)
            .field("scope", &self.scope)
            .field("problem", &self.problem)
            .finish()
    }
}

/// The tokens a successful refresh answers; `refresh_token` is `None` without rotation.
#[derive(Debug, Clone)]
pub(crate) struct Minted {
    pub(crate) access_token: String,
    pub(crate) refresh_token: Option<String>,
    pub(crate) expires_in: u64,
    pub(crate) scope: String,
}

struct Grant {
    client_id: String,
    scopes: Vec<String>,
    active: bool,
}

struct RefreshEntry {
    grant: usize,
    consumed: bool,
}

struct AccessEntry {
    grant: usize,
    expires: Instant,
    revoked: bool,
}

/// Everything the provider knows; one mutex guards it, so each request is atomic.
#[derive(Default)]
pub(crate) struct State {
    clients: HashMap<String, ClientRegistration>,
    grants: Vec<Grant>,
    refresh: HashMap<String, RefreshEntry>,
    access: HashMap<String, AccessEntry>,
    pub(crate) counters: Counters,
    pub(crate) requests: Vec<RecordedRequest>,
    /// The fault and how many more token requests it applies to (`None`: until cleared).
    fault: Option<(Fault, Option<u32>)>,
}

impl State {
    pub(crate) fn register(&mut self, client: ClientRegistration) {
        self.clients.insert(client.client_id.clone(), client);
    }

    pub(crate) fn set_fault(&mut self, fault: Option<Fault>, times: Option<u32>) {
        self.fault = fault.filter(|_| times != Some(0)).map(|f| (f, times));
    }

    /// The fault for the token request being handled, using up one of its count.
    pub(crate) fn take_fault(&mut self) -> Option<Fault> {
        let (fault, remaining) = self.fault?;
        self.fault = match remaining {
            None => Some((fault, None)),
            Some(n) if n > 1 => Some((fault, Some(n - 1))),
            Some(_) => None,
        };
        self.counters.faults_injected += 1;
        Some(fault)
    }

    pub(crate) fn issue_grant(
        &mut self,
        config: &EndpointConfig,
        client_id: &str,
        scopes: Vec<String>,
    ) -> IssuedTokens {
        let grant = self.grants.len();
        let scope = scopes.join(" ");
        self.grants.push(Grant {
            client_id: client_id.to_owned(),
            scopes,
            active: true,
        });
        IssuedTokens {
            refresh_token: self.new_refresh_token(config, grant),
            access_token: self.new_access_token(config, grant),
            expires_in: config.expires_in(),
            scope,
        }
    }

    /// The `refresh_token` grant (RFC 6749 section 6) with rotation and reuse detection.
    pub(crate) fn refresh(
        &mut self,
        config: &EndpointConfig,
        req: &TokenRequest,
    ) -> Result<Minted, E> {
        if let Some(problem) = &req.problem {
            return Err(problem.clone());
        }
        let client_id = self.authenticate(&req.auth)?;
        match req.grant_type.as_deref() {
            Some("refresh_token") => {}
            Some(_) => return Err(E::UnsupportedGrantType),
            None => return Err(E::InvalidRequest("missing grant_type".into())),
        }
        let presented = req
            .refresh_token
            .as_deref()
            .ok_or_else(|| E::InvalidRequest("missing refresh_token".into()))?;
        let entry = self
            .refresh
            .get(presented)
            .ok_or(E::InvalidGrant("unknown refresh token"))?;
        let (grant_id, consumed) = (entry.grant, entry.consumed);
        let grant = &self.grants[grant_id];
        if !grant.active {
            return Err(E::InvalidGrant("the grant has been revoked"));
        }
        if grant.client_id != client_id {
            return Err(E::InvalidGrant(
                "the refresh token was issued to another client",
            ));
        }
        if consumed {
            if !config.reuse_detection {
                return Err(E::InvalidGrant("the refresh token has already been used"));
            }
            self.counters.reuse_detections += 1;
            self.revoke_grant(grant_id);
            return Err(E::InvalidGrant(
                "refresh token reuse detected; the whole grant has been revoked",
            ));
        }
        if let Some(required) = &config.require_resource
            && (req.resources.is_empty() || req.resources.iter().any(|r| r != required))
        {
            return Err(E::InvalidTarget(format!("the resource must be {required}")));
        }
        let scope = match &req.scope {
            None => grant.scopes.join(" "),
            Some(asked) => {
                let mut scopes = asked.split(' ').filter(|s| !s.is_empty());
                if !scopes.all(|s| grant.scopes.iter().any(|g| g == s)) {
                    return Err(E::InvalidScope);
                }
                asked.clone()
            }
        };
        let refresh_token = if config.rotate_refresh_tokens {
            if let Some(entry) = self.refresh.get_mut(presented) {
                entry.consumed = true;
            }
            Some(self.new_refresh_token(config, grant_id))
        } else {
            None
        };
        self.counters.refreshes += 1;
        Ok(Minted {
            access_token: self.new_access_token(config, grant_id),
            refresh_token,
            expires_in: config.expires_in(),
            scope,
        })
    }

    /// Checks the client against its registration (RFC 6749 section 2.3.1); its id on success.
    fn authenticate(&self, auth: &ClientAuth) -> Result<String, E> {
        let id = auth
            .client_id
            .as_deref()
            .ok_or_else(|| E::InvalidClient("no client identification".into()))?;
        let registered = self
            .clients
            .get(id)
            .ok_or_else(|| E::InvalidClient("unknown client".into()))?;
        if registered.auth_method != auth.method {
            return Err(E::InvalidClient(format!(
                "the client is registered for {} but used {}",
                registered.auth_method, auth.method
            )));
        }
        if auth.method != AuthMethod::None && registered.client_secret != auth.secret {
            return Err(E::InvalidClient("wrong client secret".into()));
        }
        Ok(id.to_owned())
    }

    /// Records a token request and counts an `invalid_grant` answer.
    pub(crate) fn record(
        &mut self,
        req: &TokenRequest,
        at_ms: u64,
        status: Option<u16>,
        error: Option<&str>,
        fault: Option<Fault>,
    ) {
        if error == Some("invalid_grant") {
            self.counters.rejected += 1;
        }
        self.requests.push(RecordedRequest {
            at_ms,
            grant_type: req.grant_type.clone(),
            auth_method: req.auth.method,
            client_id: req.auth.client_id.clone(),
            refresh_token: req.refresh_token.clone(),
            resources: req.resources.clone(),
            scope: req.scope.clone(),
            status,
            error: error.map(str::to_owned),
            fault,
        });
    }

    /// Revokes the grant of a refresh token; `true` if this call revoked an active grant.
    pub(crate) fn revoke_grant_of(&mut self, refresh_token: &str) -> bool {
        match self.refresh.get(refresh_token) {
            Some(entry) => self.revoke_grant(entry.grant),
            None => false,
        }
    }

    /// RFC 7009 section 2.1: a refresh token takes its grant along, an access token goes alone.
    pub(crate) fn revoke_token(&mut self, token: &str) {
        if !self.revoke_grant_of(token)
            && let Some(entry) = self.access.get_mut(token)
        {
            entry.revoked = true;
        }
    }

    pub(crate) fn grant_is_active(&self, refresh_token: &str) -> bool {
        self.refresh
            .get(refresh_token)
            .is_some_and(|entry| self.grants[entry.grant].active)
    }

    pub(crate) fn access_token_is_active(&self, access_token: &str) -> bool {
        self.access.get(access_token).is_some_and(|entry| {
            !entry.revoked && self.grants[entry.grant].active && entry.expires > Instant::now()
        })
    }

    fn revoke_grant(&mut self, grant: usize) -> bool {
        let grant = &mut self.grants[grant];
        let was_active = std::mem::replace(&mut grant.active, false);
        if was_active {
            self.counters.revoked_grants += 1;
        }
        was_active
    }

    fn new_refresh_token(&mut self, config: &EndpointConfig, grant: usize) -> String {
        let token = unused_token(&self.refresh, &config.token_prefix, "rt_");
        let entry = RefreshEntry {
            grant,
            consumed: false,
        };
        self.refresh.insert(token.clone(), entry);
        token
    }

    fn new_access_token(&mut self, config: &EndpointConfig, grant: usize) -> String {
        let token = unused_token(&self.access, &config.token_prefix, "at_");
        let expires = Instant::now() + config.access_token_lifetime;
        let entry = AccessEntry {
            grant,
            expires,
            revoked: false,
        };
        self.access.insert(token.clone(), entry);
        token
    }
}

/// A random token not yet in `issued`; a repeat is all but impossible, but must not merge grants.
fn unused_token<V>(issued: &HashMap<String, V>, prefix: &str, kind: &str) -> String {
    loop {
        let token = random_token(prefix, kind);
        if !issued.contains_key(&token) {
            return token;
        }
    }
}

/// `<prefix><kind><32 lowercase hex>` from 128 bits of the operating system's randomness.
fn random_token(prefix: &str, kind: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system's random source works");
    let mut token = String::with_capacity(prefix.len() + kind.len() + 32);
    token.push_str(prefix);
    token.push_str(kind);
    for byte in bytes {
        token.push(char::from(HEX[usize::from(byte >> 4)]));
        token.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    token
}

/// Now as Unix epoch ms.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
