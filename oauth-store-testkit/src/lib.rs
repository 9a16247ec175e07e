//! A loopback OAuth token endpoint that rotates refresh tokens and detects their reuse, for
//! tests and the `demo` command.
//!
//! [`TokenEndpoint::start`] serves HTTP/1.1 on `127.0.0.1` at a port the OS picks and models
//! a provider the way OAuth 2.1 (section 4.3.1) and RFC 6819 (section 5.2.2.3) ask:
//! each refresh token is single-use, and presenting a consumed one revokes the whole grant,
//! the newest refresh token included. That is the failure two processes sharing one
//! credential run into, so tests can show that a store avoids it.
//!
//! Routes:
//! - `POST /token`: `grant_type=refresh_token` (RFC 6749 section 6) with client
//!   authentication per RFC 6749 section 2.3.1 (HTTP Basic, secret in the body, or a public
//!   client's `client_id` alone), checked strictly against [`ClientRegistration`]s. Answers
//!   `{"access_token","token_type":"Bearer","expires_in","refresh_token","scope"}` with
//!   `Cache-Control: no-store`, or an RFC 6749 section 5.2 error: 400 `invalid_request`,
//!   `invalid_grant`, `unsupported_grant_type`, `invalid_scope`, `invalid_target` (RFC 8707),
//!   or 401 `invalid_client`.
//! - `GET /.well-known/oauth-authorization-server` (RFC 8414) and
//!   `GET /.well-known/openid-configuration`: the same document, naming `issuer`,
//!   `token_endpoint`, `revocation_endpoint`, `grant_types_supported` and
//!   `token_endpoint_auth_methods_supported`.
//! - `POST /revoke` (RFC 7009): `token=...`; a refresh token revokes its grant, an access
//!   token only itself; always 200 unless `token` is missing.
//!
//! A test reads what happened from [`TokenEndpoint::counters`],
//! [`TokenEndpoint::requests`] and [`TokenEndpoint::hits`], and makes the provider
//! misbehave with [`TokenEndpoint::set_fault`] (see [`Fault`] for what each answers), or
//! turns it into a hostile provider with [`TokenEndpoint::script`]: any status, headers,
//! body and delay on any path ([`ScriptedAnswer`]).
//!
//! # Limitations
//! - Plain HTTP on loopback only; no TLS.
//! - No authorization endpoint and no `authorization_code` grant:
//!   [`TokenEndpoint::issue_grant`] stands in for the code exchange.
//! - No reuse grace window: some providers accept the previous refresh token for a few
//!   seconds after rotation; this one never does.
//! - `POST /revoke` does not authenticate the client.
//! - [`Fault::Unreachable`] closes the connection after the request was read; it does not
//!   refuse connections. Clients see end-of-file or a reset, never "connection refused".
//! - Every connection passes through an in-process relay (two threads per connection) so
//!   that the endpoint can close it unanswered; every request gets a thread. Fine for tests,
//!   not for load measurements.
//! - State lives in memory and only grows: tokens and recorded requests are never pruned.
//!
//! # Example
//! ```
//! use oauth_store_testkit::{ClientRegistration, EndpointConfig, TokenEndpoint};
//!
//! let endpoint = TokenEndpoint::start(EndpointConfig::default())?;
//! endpoint.register_client(ClientRegistration::public("cli"));
//! let first = endpoint.issue_grant("cli", &["read"]);
//!
//! let form = [
//!     ("grant_type", "refresh_token"),
//!     ("refresh_token", first.refresh_token.as_str()),
//!     ("client_id", "cli"),
//! ];
//! let refreshed = ureq::post(endpoint.token_endpoint()).send_form(form)?;
//! assert_eq!(refreshed.status(), 200);
//!
//! // The first refresh token was consumed: presenting it again revokes the grant.
//! let agent = ureq::Agent::config_builder().http_status_as_error(false).build().new_agent();
//! let replayed = agent.post(endpoint.token_endpoint()).send_form(form)?;
//! assert_eq!(replayed.status(), 400);
//! assert!(!endpoint.grant_is_active(&first.refresh_token));
//! assert_eq!(endpoint.counters().reuse_detections, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod child;
mod config;
mod endpoint;
mod fault;
mod front;
mod grants;
mod http;
pub mod peers;
pub mod postgres;
mod script;

// The public interface is:
pub use config::{AuthMethod, ClientRegistration, EndpointConfig};
pub use endpoint::TokenEndpoint;
pub use fault::Fault;
pub use grants::{Counters, IssuedTokens, RecordedRequest};
pub use script::ScriptedAnswer;

/// What a test returns so that it can use `?`: `Ok(T)` (by default `()`), or any error,
/// which fails the test with its `Debug` form.
pub type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;
