//! The credential record (DESIGN.md "Record") and the token-response merge rule.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use subtle::ConstantTimeEq;

/// What replaces a redacted value wherever a record is shown.
pub const REDACTED: &str = "<redacted>";

/// Whether a field of this name holds a secret and is redacted wherever a record is
/// shown: its name ends in `_token` or contains `secret` (DESIGN.md "Record"), also
/// in any case and in the camelCase other writers use (`ID_TOKEN`, `idToken`,
/// `clientSecret`).
pub fn is_secret_field(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with("_token") || name.ends_with("Token") || lower.contains("secret")
}

/// Compares two token values in constant time (for equal lengths), so a comparison
/// does not leak through timing how much of a token an attacker guessed.
pub fn tokens_equal(a: &SecretString, b: &SecretString) -> bool {
    let (a, b) = (a.expose_secret().as_bytes(), b.expose_secret().as_bytes());
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

fn opt_tokens_equal(a: Option<&SecretString>, b: Option<&SecretString>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => tokens_equal(a, b),
        (None, None) => true,
        _ => false,
    }
}

/// The members a record models, by their document names. A member of one of these names
/// is always taken as that field (or dropped), never kept among the unknown fields, so a
/// record is never written with a member twice.
pub const RECORD_FIELDS: [&str; 13] = [
    "server_name",
    "server_url",
    "client_id",
    "client_secret",
    "token_endpoint_auth_method",
    "issuer",
    "token_endpoint",
    "token_type",
    "access_token",
    "refresh_token",
    "scopes",
    "expires_at",
    "updated_at",
];

/// Whether `name` is one of the [`RECORD_FIELDS`].
pub fn is_record_field(name: &str) -> bool {
    RECORD_FIELDS.contains(&name)
}

/// The longest `expires_in` taken from a token response: 10 years (of 365 days), in
/// seconds. Longer values (up to `1e308`) are clamped to it, so an absurd lifetime never
/// overflows or reads as "never expires"; a negative one counts as 0 (expired on receipt).
pub const MAX_EXPIRES_IN: u64 = 10 * 365 * 86_400;

/// Whether `token` is a non-empty RFC 6750 section 2.1 `b64token`:
/// `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`. An access token
/// must be one, since it is sent as `Authorization: Bearer <token>` and printed for
/// shells to put into such a header; anything else (a line break, a space, a terminal
/// escape) could forge a header or a terminal line.
pub fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
}

/// Whether `token` is a non-empty RFC 6749 appendix A.17 refresh token: `1*VSCHAR`,
/// printable ASCII and space (`%x20-7E`). The refresh token is checked against this
/// wider set rather than [`is_b64token`]: it is only ever sent form-encoded in a request
/// body and never printed, and real providers issue refresh tokens with `!`, `*` or `$`
/// in them (Microsoft accounts do), which a stricter check would make impossible to keep.
pub fn is_vschar_token(token: &str) -> bool {
    !token.is_empty() && token.bytes().all(|b| (0x20..=0x7e).contains(&b))
}

/// How the client authenticates at the token endpoint (RFC 7591 section 2,
/// `token_endpoint_auth_method`; RFC 6749 section 2.3.1).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TokenEndpointAuthMethod {
    /// A public client: `client_id` in the request body, no secret.
    None,
    /// HTTP Basic with the form-urlencoded client id and secret.
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the request body.
    ClientSecretPost,
    /// A method this version does not implement (e.g. `private_key_jwt`), kept as written.
    Other(String),
}

impl TokenEndpointAuthMethod {
    /// The registered name, e.g. `client_secret_basic`.
    pub fn as_str(&self) -> &str {
        match self {
            Self::None => "none",
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::Other(name) => name,
        }
    }

    /// Parses a registered name; unknown names become [`Self::Other`].
    pub fn from_name(name: &str) -> Self {
        match name {
            "none" => Self::None,
            "client_secret_basic" => Self::ClientSecretBasic,
            "client_secret_post" => Self::ClientSecretPost,
            other => Self::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for TokenEndpointAuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for TokenEndpointAuthMethod {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for TokenEndpointAuthMethod {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Ok(Self::from_name(&name))
    }
}

/// Fields a record carries that this version does not model, in document order, each
/// kept byte-exact as raw JSON.
pub type ExtraFields = Vec<(String, Box<RawValue>)>;

/// One MCP server's OAuth credential: the client registration and the current tokens.
///
/// Serialized with the Codex CLI's field names and order (`server_name, server_url,
/// client_id, access_token, expires_at, refresh_token, scopes, issuer`, with
/// `expires_at` and `refresh_token` written as `null` when absent), then the fields
/// this project adds when set, then [`Credential::extra`] byte-exact.
///
/// Token values and the client secret are [`SecretString`]s; `Debug` shows none of
/// them. An empty access token with no refresh token means "tokens dropped, the
/// client registration kept" (after a rejected grant): see [`Credential::has_tokens`].
///
/// ```
/// use oauth_store_core::Credential;
/// let c = Credential::builder("notion", "https://mcp.notion.com/mcp", "at-1".to_owned().into())
///     .refresh_token("rt-1".to_owned().into())
///     .expires_at(1_893_456_000_000)
///     .build();
/// assert!(!format!("{c:?}").contains("at-1"));
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct Credential {
    /// The MCP server's configured name.
    pub server_name: String,
    /// The MCP server's URL; also the RFC 8707 `resource` of every token request.
    pub server_url: String,
    /// The OAuth client id (RFC 6749 section 2.2), often from dynamic registration.
    pub client_id: String,
    /// The client secret from dynamic client registration (RFC 7591); losing it breaks refresh.
    pub client_secret: Option<SecretString>,
    /// How to authenticate at the token endpoint; see [`Credential::effective_auth_method`].
    pub token_endpoint_auth_method: Option<TokenEndpointAuthMethod>,
    /// The authorization server's issuer identifier (RFC 8414), used for discovery.
    pub issuer: Option<String>,
    /// The token endpoint URL, when known without discovery.
    pub token_endpoint: Option<String>,
    /// The access token's type, usually `Bearer` (RFC 6749 section 7.1).
    pub token_type: Option<String>,
    /// The access token; empty once the tokens were dropped.
    pub access_token: SecretString,
    /// The refresh token (rotating: each use may return a new one).
    pub refresh_token: Option<SecretString>,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// When the access token expires, in ms since the Unix epoch; `None` when unknown.
    pub expires_at: Option<u64>,
    /// When this record was last saved by this project, in ms since the Unix epoch;
    /// `None` in documents written by others (then it counts as oldest).
    pub updated_at: Option<u64>,
    /// Fields this version does not model, kept byte-exact.
    pub extra: ExtraFields,
}

impl Credential {
    /// Starts a record with the three fields every credential has.
    pub fn builder(
        server_name: impl Into<String>,
        server_url: impl Into<String>,
        access_token: SecretString,
    ) -> CredentialBuilder {
        CredentialBuilder(Credential {
            server_name: server_name.into(),
            server_url: server_url.into(),
            client_id: String::new(),
            client_secret: None,
            token_endpoint_auth_method: None,
            issuer: None,
            token_endpoint: None,
            token_type: None,
            access_token,
            refresh_token: None,
            scopes: Vec::new(),
            expires_at: None,
            updated_at: None,
            extra: Vec::new(),
        })
    }

    /// The store key of this record's server.
    pub fn store_key(&self) -> crate::StoreKey {
        crate::compute_store_key(&self.server_name, &self.server_url)
    }

    /// The client authentication method in force: the recorded one, else
    /// `client_secret_basic` when there is a client secret, else `none` (DESIGN.md).
    pub fn effective_auth_method(&self) -> TokenEndpointAuthMethod {
        match (&self.token_endpoint_auth_method, &self.client_secret) {
            (Some(method), _) => method.clone(),
            (None, Some(_)) => TokenEndpointAuthMethod::ClientSecretBasic,
            (None, None) => TokenEndpointAuthMethod::None,
        }
    }

    /// Whether the record still holds a usable token (an access token or a refresh token).
    pub fn has_tokens(&self) -> bool {
        !self.access_token.expose_secret().is_empty() || self.refresh_token.is_some()
    }

    /// Milliseconds until the access token expires at `now_ms` (negative once
    /// expired); `None` when the expiry is unknown.
    pub fn expires_in_ms(&self, now_ms: u64) -> Option<i64> {
        self.expires_at.map(|at| {
            (i128::from(at) - i128::from(now_ms)).clamp(i64::MIN.into(), i64::MAX.into()) as i64
        })
    }

    /// Whether the access token has `min_valid_ms` or less left at `now_ms` (so with
    /// `min_valid_ms` 0 it is due at its expiry instant). A token of unknown expiry is
    /// never due; a record without an access token is always due.
    pub fn is_due(&self, now_ms: u64, min_valid_ms: u64) -> bool {
        if self.access_token.expose_secret().is_empty() {
            return true;
        }
        self.expires_at
            .is_some_and(|at| at <= now_ms.saturating_add(min_valid_ms))
    }

    /// Whether the access token equals `token`, compared in constant time.
    pub fn access_token_is(&self, token: &SecretString) -> bool {
        tokens_equal(&self.access_token, token)
    }

    /// Whether both records hold the same access and refresh tokens (constant time).
    pub fn same_tokens(&self, other: &Credential) -> bool {
        tokens_equal(&self.access_token, &other.access_token)
            & opt_tokens_equal(self.refresh_token.as_ref(), other.refresh_token.as_ref())
    }

    /// Whether the refresh token equals `token` (constant time); false when there is none.
    pub fn refresh_token_is(&self, token: Option<&SecretString>) -> bool {
        match (&self.refresh_token, token) {
            (Some(mine), Some(theirs)) => tokens_equal(mine, theirs),
            _ => false,
        }
    }

    /// Merges a refresh or token response into this record (RFC 6749 section 5.1 and
    /// section 6): the access token is replaced; the refresh token and scopes are kept
    /// when the response omits them; `expires_in` (seconds, at most [`MAX_EXPIRES_IN`])
    /// becomes `expires_at` = `now_ms` + `expires_in` x 1000, saturating, or unknown when
    /// omitted; the client registration is untouched.
    ///
    /// The response's unknown members are kept in [`Self::extra`] (replacing one of the
    /// same name in place), except those named like a record field ([`RECORD_FIELDS`]),
    /// which never become unknown fields (the record would then hold the member twice):
    /// - `expires_at` (Strava answers one: seconds since the Unix epoch; a value of 10^11
    ///   or more is taken as ms) is taken when the response has no `expires_in`, clamped
    ///   to at most [`MAX_EXPIRES_IN`] from `now_ms`; otherwise dropped;
    /// - `scopes` (an array of strings) is taken when the response has no `scope`;
    ///   otherwise dropped;
    /// - every other record field (`server_name`, `server_url`, `client_id`,
    ///   `client_secret`, `token_endpoint_auth_method`, `issuer`, `token_endpoint`,
    ///   `updated_at`, and the tokens themselves) is dropped: a token response does not
    ///   change the credential's identity or registration.
    ///
    /// A pure function of its inputs (no clock, no I/O), so fuzz targets can call it.
    pub fn apply_token_response(&mut self, response: &TokenResponse, now_ms: u64) {
        self.access_token = response.access_token.clone();
        if let Some(refresh) = &response.refresh_token {
            self.refresh_token = Some(refresh.clone());
        }
        if let Some(token_type) = &response.token_type {
            self.token_type = Some(token_type.clone());
        }
        if let Some(scope) = &response.scope {
            self.scopes = scope.split_whitespace().map(str::to_owned).collect();
        }
        self.expires_at = response
            .expires_in
            .map(|secs| now_ms.saturating_add(secs.min(MAX_EXPIRES_IN).saturating_mul(1000)));
        for (name, value) in &response.extra {
            if !is_record_field(name) {
                set_extra(&mut self.extra, name, value.clone());
                continue;
            }
            match name.as_str() {
                "expires_at" if response.expires_in.is_none() => {
                    if let Some(at) = provider_expires_at(value, now_ms) {
                        self.expires_at = Some(at);
                    }
                }
                "scopes" if response.scope.is_none() => {
                    if let Ok(scopes) = serde_json::from_str::<Vec<String>>(value.get()) {
                        self.scopes = scopes;
                    }
                }
                _ => {}
            }
            // A member of a record field's name that an older version kept as unknown.
            self.extra.retain(|(n, _)| n != name);
        }
    }

    /// Drops the access and refresh tokens and keeps everything else (the client
    /// registration above all), after the provider rejected the grant.
    pub fn drop_tokens(&mut self) {
        self.access_token = SecretString::from(String::new());
        self.refresh_token = None;
        self.expires_at = None;
    }

    /// The record as JSON with every secret field (see [`is_secret_field`]), at any
    /// depth, replaced by `"<redacted>"`; what `show` prints.
    ///
    /// An unknown field that a `serde_json::Value` cannot hold (a number beyond `f64`
    /// such as `1e400`, which the raw record keeps byte-exact) is shown as
    /// `"<not shown: ...>"`; the others as they are. Never panics.
    pub fn to_redacted_json(&self) -> serde_json::Value {
        let mut value = match serde_json::to_value(self) {
            Ok(value) => value,
            Err(_) => {
                let mut modelled = self.clone();
                let extra = std::mem::take(&mut modelled.extra);
                let mut value = serde_json::to_value(&modelled).unwrap_or_default();
                if let serde_json::Value::Object(map) = &mut value {
                    for (name, raw) in &extra {
                        let shown = serde_json::from_str(raw.get()).unwrap_or_else(|_| {
                            serde_json::Value::String(
                                "<not shown: a value this view cannot hold>".to_owned(),
                            )
                        });
                        map.insert(name.clone(), shown);
                    }
                }
                value
            }
        };
        redact_value(&mut value);
        value
    }
}

/// Replaces, at any depth, every object member whose name is a secret field by
/// `"<redacted>"` (strings that are empty stay empty, `null` stays `null`).
pub fn redact_value(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for (name, member) in map.iter_mut() {
                if is_secret_field(name) {
                    if !(member.is_null() || member.as_str() == Some("")) {
                        *member = serde_json::Value::String(REDACTED.to_owned());
                    }
                } else {
                    redact_value(member);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact_value),
        _ => {}
    }
}

fn set_extra(extra: &mut ExtraFields, name: &str, value: Box<RawValue>) {
    match extra.iter_mut().find(|(n, _)| n == name) {
        Some(slot) => slot.1 = value,
        None => extra.push((name.to_owned(), value)),
    }
}

/// A provider's `expires_at` (seconds since the Unix epoch, or ms when 10^11 or more)
/// as ms, clamped to at most [`MAX_EXPIRES_IN`] after `now_ms`; `None` unless a number.
fn provider_expires_at(value: &RawValue, now_ms: u64) -> Option<u64> {
    let seconds_or_ms = match serde_json::from_str::<serde_json::Value>(value.get()).ok()? {
        serde_json::Value::Number(n) => n.as_f64()?,
        _ => return None,
    };
    let ms = if seconds_or_ms >= 1e11 {
        seconds_or_ms
    } else {
        seconds_or_ms * 1000.0
    };
    let latest = now_ms.saturating_add(MAX_EXPIRES_IN * 1000);
    // `as` saturates: a negative time is 0 (long expired), a huge one the maximum.
    Some((ms as u64).min(latest))
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secret = |s: &Option<SecretString>| s.as_ref().map(|_| REDACTED);
        f.debug_struct("Credential")
            .field("server_name", &self.server_name)
            .field("server_url", &self.server_url)
            .field("client_id", &self.client_id)
            .field("client_secret", &secret(&self.client_secret))
            .field(
                "token_endpoint_auth_method",
                &self.token_endpoint_auth_method,
            )
            .field("issuer", &self.issuer)
            .field("token_endpoint", &self.token_endpoint)
            .field("token_type", &self.token_type)
            .field("access_token", &REDACTED)
            .field("refresh_token", &secret(&self.refresh_token))
            .field("scopes", &self.scopes)
            .field("expires_at", &self.expires_at)
            .field("updated_at", &self.updated_at)
            .field(
                "extra_fields",
                &self
                    .extra
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Builds a [`Credential`]; see [`Credential::builder`].
#[derive(Debug)]
#[must_use = "call build() to get the credential"]
pub struct CredentialBuilder(Credential);

impl CredentialBuilder {
    /// Sets the OAuth client id.
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.0.client_id = client_id.into();
        self
    }
    /// Sets the client secret (from dynamic client registration).
    pub fn client_secret(mut self, secret: SecretString) -> Self {
        self.0.client_secret = Some(secret);
        self
    }
    /// Sets the token endpoint authentication method.
    pub fn token_endpoint_auth_method(mut self, method: TokenEndpointAuthMethod) -> Self {
        self.0.token_endpoint_auth_method = Some(method);
        self
    }
    /// Sets the issuer identifier (RFC 8414).
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.0.issuer = Some(issuer.into());
        self
    }
    /// Sets the token endpoint URL.
    pub fn token_endpoint(mut self, url: impl Into<String>) -> Self {
        self.0.token_endpoint = Some(url.into());
        self
    }
    /// Sets the token type (usually `Bearer`).
    pub fn token_type(mut self, token_type: impl Into<String>) -> Self {
        self.0.token_type = Some(token_type.into());
        self
    }
    /// Sets the refresh token.
    pub fn refresh_token(mut self, token: SecretString) -> Self {
        self.0.refresh_token = Some(token);
        self
    }
    /// Sets the granted scopes.
    pub fn scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.0.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }
    /// Sets the access token's expiry, in ms since the Unix epoch.
    pub fn expires_at(mut self, ms: u64) -> Self {
        self.0.expires_at = Some(ms);
        self
    }
    /// Sets the time of the last save, in ms since the Unix epoch.
    pub fn updated_at(mut self, ms: u64) -> Self {
        self.0.updated_at = Some(ms);
        self
    }
    /// Adds (or replaces) a field this version does not model, as raw JSON. A name of
    /// one of the [`RECORD_FIELDS`] sets that field instead when the value parses as it,
    /// and is dropped otherwise: a record never holds a member twice.
    pub fn extra(mut self, name: impl Into<String>, value: Box<RawValue>) -> Self {
        let name = name.into();
        if is_record_field(&name) {
            // A value that does not parse as the field is dropped; the field is unchanged.
            let _ = assign(&mut self.0, &name, &value);
        } else {
            set_extra(&mut self.0.extra, &name, value);
        }
        self
    }
    /// The finished record.
    pub fn build(self) -> Credential {
        self.0
    }
}

impl Serialize for Credential {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("server_name", &self.server_name)?;
        map.serialize_entry("server_url", &self.server_url)?;
        map.serialize_entry("client_id", &self.client_id)?;
        map.serialize_entry("access_token", self.access_token.expose_secret())?;
        map.serialize_entry("expires_at", &self.expires_at)?;
        map.serialize_entry(
            "refresh_token",
            &self.refresh_token.as_ref().map(|t| t.expose_secret()),
        )?;
        map.serialize_entry("scopes", &self.scopes)?;
        if let Some(issuer) = &self.issuer {
            map.serialize_entry("issuer", issuer)?;
        }
        // The fields this project adds follow Codex's, as the type's docs promise.
        if let Some(secret) = &self.client_secret {
            map.serialize_entry("client_secret", secret.expose_secret())?;
        }
        if let Some(method) = &self.token_endpoint_auth_method {
            map.serialize_entry("token_endpoint_auth_method", method)?;
        }
        if let Some(endpoint) = &self.token_endpoint {
            map.serialize_entry("token_endpoint", endpoint)?;
        }
        if let Some(token_type) = &self.token_type {
            map.serialize_entry("token_type", token_type)?;
        }
        if let Some(updated_at) = &self.updated_at {
            map.serialize_entry("updated_at", updated_at)?;
        }
        // An unknown field named like a modelled one (only a caller filling `extra` by
        // hand makes one) is left out: the member would otherwise appear twice.
        for (name, value) in self.extra.iter().filter(|(n, _)| !is_record_field(n)) {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

/// Collects a JSON object's members as raw values, in order.
struct RawObject(Vec<(String, Box<RawValue>)>);

impl<'de> Deserialize<'de> for RawObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawObject;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            // serde's default texts quote a string found instead of an object, and that
            // string may be a token.
            fn visit_str<E: de::Error>(self, _: &str) -> Result<RawObject, E> {
                Err(E::invalid_type(de::Unexpected::Other("string"), &self))
            }
            fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<RawObject, E> {
                Err(E::invalid_type(de::Unexpected::Other("bytes"), &self))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<RawObject, A::Error> {
                let mut members = Vec::with_capacity(access.size_hint().unwrap_or(12));
                while let Some((name, value)) = access.next_entry::<String, Box<RawValue>>()? {
                    members.push((name, value));
                }
                Ok(RawObject(members))
            }
        }
        // `deserialize_any`, not `deserialize_map`: serde_json reports a non-object
        // given to `deserialize_map` itself, quoting it, without asking the visitor.
        deserializer.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for Credential {
    /// Parses a record. A member that appears more than once counts by its last
    /// occurrence, as for any duplicate JSON member (serde_json's `Value`, the Codex
    /// CLI): earlier occurrences of a modelled field are not even type-checked, so an
    /// entry written twice by an older version stays readable and the next save writes
    /// it once.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let RawObject(members) = RawObject::deserialize(deserializer)?;
        let mut last = [None; RECORD_FIELDS.len()];
        for (i, (name, _)) in members.iter().enumerate() {
            if let Some(field) = RECORD_FIELDS.iter().position(|f| f == name) {
                last[field] = Some(i);
            }
        }
        let mut record = Credential::builder("", "", SecretString::from(String::new())).build();
        for (i, (name, raw)) in members.iter().enumerate() {
            match RECORD_FIELDS.iter().position(|f| f == name) {
                Some(field) if last[field] == Some(i) => {
                    assign(&mut record, name, raw).map_err(de::Error::custom)?;
                }
                Some(_) => {}
                None => record.extra.push((name.clone(), raw.clone())),
            }
        }
        for required in ["server_name", "server_url", "access_token"] {
            if !members.iter().any(|(name, _)| name == required) {
                return Err(de::Error::missing_field(required));
            }
        }
        Ok(record)
    }
}

/// Sets the modelled field `name` of `record` from its raw JSON; `Ok(false)` when `name`
/// is not a record field. The error names the field and the expected type, never the
/// value (it may be a token).
fn assign(record: &mut Credential, name: &str, raw: &RawValue) -> Result<bool, String> {
    fn parse<'a, T: Deserialize<'a>>(
        name: &str,
        raw: &'a RawValue,
        expected: &str,
    ) -> Result<T, String> {
        serde_json::from_str(raw.get()).map_err(|_| format!("field `{name}`: expected {expected}"))
    }
    let secret = |value: Option<String>| value.map(SecretString::from);
    match name {
        "server_name" => record.server_name = parse(name, raw, "a string")?,
        "server_url" => record.server_url = parse(name, raw, "a string")?,
        "client_id" => {
            record.client_id = parse::<Option<String>>(name, raw, "a string")?.unwrap_or_default();
        }
        "client_secret" => record.client_secret = secret(parse(name, raw, "a string or null")?),
        "token_endpoint_auth_method" => {
            record.token_endpoint_auth_method = parse(name, raw, "a string or null")?;
        }
        "issuer" => record.issuer = parse(name, raw, "a string or null")?,
        "token_endpoint" => record.token_endpoint = parse(name, raw, "a string or null")?,
        "token_type" => record.token_type = parse(name, raw, "a string or null")?,
        "access_token" => {
            record.access_token = SecretString::from(
                parse::<Option<String>>(name, raw, "a string")?.unwrap_or_default(),
            );
        }
        "refresh_token" => record.refresh_token = secret(parse(name, raw, "a string or null")?),
        "scopes" => {
            record.scopes =
                parse::<Option<Vec<String>>>(name, raw, "an array of strings")?.unwrap_or_default();
        }
        "expires_at" => record.expires_at = parse(name, raw, "ms since the Unix epoch or null")?,
        "updated_at" => record.updated_at = parse(name, raw, "ms since the Unix epoch or null")?,
        _ => return Ok(false),
    }
    Ok(true)
}

/// The names of the members that appear more than once at the top level of the JSON
/// object `json`, each once, in order of their second appearance; empty when `json` is
/// not an object. A record read from such text counts each by its last occurrence
/// ([`Credential`]'s `Deserialize`); the File store's repair rewrites it with each once.
pub fn repeated_members(json: &str) -> Vec<String> {
    let Ok(RawObject(members)) = serde_json::from_str::<RawObject>(json) else {
        return Vec::new();
    };
    let mut seen = std::collections::HashSet::with_capacity(members.len());
    let mut repeated = Vec::new();
    for (name, _) in &members {
        if !seen.insert(name.as_str()) && !repeated.contains(name) {
            repeated.push(name.clone());
        }
    }
    repeated
}

/// `expires_in` seconds as kept: clamped to `0..=MAX_EXPIRES_IN` (negative: expired on
/// receipt; fractions cut).
fn clamp_expires_in(seconds: f64) -> u64 {
    // `as` saturates (negative -> 0); the minimum bounds absurd lifetimes like 1e308.
    (seconds as u64).min(MAX_EXPIRES_IN)
}

/// A successful token response (RFC 6749 section 5.1), from a refresh or a login.
///
/// `expires_in` is in seconds (a numeric string is accepted, as some providers send
/// one), clamped to `0..=`[`MAX_EXPIRES_IN`]: a negative one is 0 (the token counts as
/// expired on receipt), a larger one (`1e308`) the maximum. Members this version does
/// not model are kept in `extra`, byte-exact. [`TokenResponse::from_json`] checks the
/// tokens ([`TokenResponse::check`]).
#[derive(Clone)]
#[non_exhaustive]
pub struct TokenResponse {
    /// The new access token.
    pub access_token: SecretString,
    /// The token type, usually `Bearer`.
    pub token_type: Option<String>,
    /// Lifetime of the access token in seconds.
    pub expires_in: Option<u64>,
    /// A new refresh token (rotation), or `None` to keep the current one.
    pub refresh_token: Option<SecretString>,
    /// The granted scope, space separated; `None` keeps the current scopes.
    pub scope: Option<String>,
    /// Other members of the response, kept byte-exact.
    pub extra: ExtraFields,
}

impl TokenResponse {
    /// A response carrying only an access token.
    pub fn new(access_token: SecretString) -> Self {
        TokenResponse {
            access_token,
            token_type: None,
            expires_in: None,
            refresh_token: None,
            scope: None,
            extra: Vec::new(),
        }
    }

    /// Parses a token response body. The error never quotes the body (it holds tokens).
    pub fn from_json(body: &[u8]) -> Result<Self, TokenResponseError> {
        let RawObject(members) = serde_json::from_slice(body).map_err(|e| TokenResponseError {
            reason: crate::describe_json_error(&e),
        })?;
        let bad = |field: &str, expected: &str| TokenResponseError {
            reason: format!("field `{field}`: expected {expected}"),
        };
        let mut access_token = None;
        let mut response = TokenResponse::new(SecretString::from(String::new()));
        for (name, raw) in members {
            match name.as_str() {
                "access_token" => {
                    access_token = Some(SecretString::from(
                        serde_json::from_str::<String>(raw.get())
                            .map_err(|_| bad("access_token", "a string"))?,
                    ));
                }
                "refresh_token" => {
                    response.refresh_token = serde_json::from_str::<Option<String>>(raw.get())
                        .map_err(|_| bad("refresh_token", "a string"))?
                        .map(SecretString::from);
                }
                "token_type" => {
                    response.token_type = serde_json::from_str(raw.get())
                        .map_err(|_| bad("token_type", "a string"))?;
                }
                "scope" => {
                    response.scope =
                        serde_json::from_str(raw.get()).map_err(|_| bad("scope", "a string"))?;
                }
                "expires_in" => {
                    let value: serde_json::Value = serde_json::from_str(raw.get())
                        .map_err(|_| bad("expires_in", "a number"))?;
                    let seconds = match value {
                        serde_json::Value::Null => None,
                        serde_json::Value::Number(n) => n.as_f64(),
                        serde_json::Value::String(s) => Some(
                            s.trim()
                                .parse::<f64>()
                                .ok()
                                .filter(|f| f.is_finite())
                                .ok_or_else(|| bad("expires_in", "a number of seconds"))?,
                        ),
                        _ => return Err(bad("expires_in", "a number of seconds")),
                    };
                    response.expires_in = seconds.map(clamp_expires_in);
                }
                _ => response.extra.push((name, raw)),
            }
        }
        response.access_token = access_token.ok_or_else(|| TokenResponseError {
            reason: "missing field `access_token`".to_owned(),
        })?;
        response.check()?;
        Ok(response)
    }

    /// Checks the tokens before anything is saved or shown: the access token is a
    /// non-empty RFC 6750 section 2.1 `b64token` ([`is_b64token`]), a refresh token a
    /// non-empty RFC 6749 appendix A.17 `1*VSCHAR` ([`is_vschar_token`]). The
    /// [`TokenResponse::from_json`] parser calls it; call it on a response built by hand.
    ///
    /// # Errors
    /// [`TokenResponseError`] naming the field and what is wrong, never the value.
    pub fn check(&self) -> Result<(), TokenResponseError> {
        let bad = |reason: &str| {
            Err(TokenResponseError {
                reason: reason.to_owned(),
            })
        };
        let access = self.access_token.expose_secret();
        if access.is_empty() {
            return bad("field `access_token` is empty");
        }
        if !is_b64token(access) {
            return bad(
                "field `access_token` holds characters outside RFC 6750's b64token set (section 2.1)",
            );
        }
        match self.refresh_token.as_ref().map(ExposeSecret::expose_secret) {
            Some("") => bad("field `refresh_token` is empty"),
            Some(refresh) if !is_vschar_token(refresh) => bad(
                "field `refresh_token` holds characters outside RFC 6749's VSCHAR set (appendix A.17)",
            ),
            _ => Ok(()),
        }
    }
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &REDACTED)
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| REDACTED),
            )
            .field("scope", &self.scope)
            .field(
                "extra_fields",
                &self
                    .extra
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// A token response body that is not a usable RFC 6749 section 5.1 response. The
/// reason names the field or the JSON position, never a value.
#[derive(Debug, thiserror::Error)]
#[error("token response does not parse: {reason}")]
pub struct TokenResponseError {
    /// What is wrong, without any value from the body.
    pub reason: String,
}
