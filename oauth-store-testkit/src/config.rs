//! How the endpoint behaves, and which clients it knows.

use std::fmt;
use std::time::Duration;

/// How the endpoint behaves: token lifetime, rotation, reuse detection, RFC 8707 resources.
///
/// Build it from [`EndpointConfig::default()`] with the `with_*` setters.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EndpointConfig {
    /// Lifetime of every access token; `expires_in` is its whole seconds, at least 1 s.
    /// Default: 60 s.
    pub access_token_lifetime: Duration,
    /// Whether each refresh answers a new refresh token and consumes the presented one
    /// (OAuth 2.1 section 4.3.1). Without rotation the answer omits `refresh_token` and the
    /// presented one stays valid. Default: `true`.
    pub rotate_refresh_tokens: bool,
    /// Whether presenting a consumed refresh token revokes its whole grant
    /// (RFC 6819 section 5.2.2.3); without it the request only answers `invalid_grant`.
    /// Default: `true`.
    pub reuse_detection: bool,
    /// When set, a refresh must carry this `resource` (RFC 8707 section 2) and no other,
    /// else it answers `invalid_target`. Default: `None`, resources are only recorded.
    pub require_resource: Option<String>,
    /// Text put before every token this endpoint mints (`<prefix>at_<32 hex>`,
    /// `<prefix>rt_<32 hex>`), so a test can search logs and files for a sentinel.
    /// Default: empty.
    pub token_prefix: String,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            access_token_lifetime: Duration::from_secs(60),
            rotate_refresh_tokens: true,
            reuse_detection: true,
            require_resource: None,
            token_prefix: String::new(),
        }
    }
}

impl EndpointConfig {
    /// Sets [`access_token_lifetime`](Self::access_token_lifetime).
    pub fn with_access_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.access_token_lifetime = lifetime;
        self
    }

    /// Sets [`rotate_refresh_tokens`](Self::rotate_refresh_tokens).
    pub fn with_rotation(mut self, rotate: bool) -> Self {
        self.rotate_refresh_tokens = rotate;
        self
    }

    /// Sets [`reuse_detection`](Self::reuse_detection).
    pub fn with_reuse_detection(mut self, detect: bool) -> Self {
        self.reuse_detection = detect;
        self
    }

    /// Sets [`require_resource`](Self::require_resource).
    pub fn with_required_resource(mut self, resource: impl Into<String>) -> Self {
        self.require_resource = Some(resource.into());
        self
    }

    /// Sets [`token_prefix`](Self::token_prefix).
    pub fn with_token_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.token_prefix = prefix.into();
        self
    }

    /// `expires_in` as answered: whole seconds of the lifetime, at least 1.
    pub(crate) fn expires_in(&self) -> u64 {
        self.access_token_lifetime.as_secs().max(1)
    }
}

/// How a client authenticates at the token endpoint (RFC 6749 section 2.3.1; names from
/// RFC 7591 section 2, `token_endpoint_auth_method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthMethod {
    /// `none`: a public client that sends only `client_id` in the body.
    None,
    /// `client_secret_basic`: HTTP Basic with the form-urlencoded id and secret.
    ClientSecretBasic,
    /// `client_secret_post`: `client_id` and `client_secret` in the body.
    ClientSecretPost,
}

impl AuthMethod {
    /// The RFC 7591 name: `none`, `client_secret_basic` or `client_secret_post`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::None => "none",
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::ClientSecretPost => "client_secret_post",
        }
    }
}

impl fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A client the endpoint knows, as dynamic registration (RFC 7591) would have created it.
///
/// The endpoint is strict: a client must authenticate with exactly its registered method and
/// secret, else it gets `401 invalid_client`. `Debug` does not show the secret.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientRegistration {
    /// The `client_id`.
    pub client_id: String,
    /// The `client_secret`; `None` for a public client.
    pub client_secret: Option<String>,
    /// The one method this client may authenticate with.
    pub auth_method: AuthMethod,
}

impl ClientRegistration {
    /// A public client (`none`): identifies itself with `client_id` in the body only.
    pub fn public(client_id: impl Into<String>) -> Self {
        ClientRegistration {
            client_id: client_id.into(),
            client_secret: None,
            auth_method: AuthMethod::None,
        }
    }

    /// A confidential client that authenticates with HTTP Basic (`client_secret_basic`).
    pub fn basic(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        ClientRegistration {
            client_id: client_id.into(),
            client_secret: Some(client_secret.into()),
            auth_method: AuthMethod::ClientSecretBasic,
        }
    }

    /// A confidential client that sends its secret in the body (`client_secret_post`).
    pub fn post(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        ClientRegistration {
            client_id: client_id.into(),
            client_secret: Some(client_secret.into()),
            auth_method: AuthMethod::ClientSecretPost,
        }
    }
}

impl fmt::Debug for ClientRegistration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientRegistration")
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("auth_method", &self.auth_method)
            .finish()
    }
}
