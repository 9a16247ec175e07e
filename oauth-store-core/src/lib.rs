//! The MCP OAuth credential record, its store key, and the [`CredentialStore`] trait
//! every backend implements. No I/O: this crate is what a third-party backend depends
//! on, and nothing more (as `tower-service` is for tower).
//!
//! - [`compute_store_key`] gives the identity of a server's credential, the same key
//!   the Codex CLI writes ([`StoreKey::secret_name`] and
//!   [`StoreKey::credential_lock_file_name`] derive from it).
//! - [`Credential`] is the record: secrecy-typed tokens, a redacting `Debug`, fields
//!   this version does not model kept byte-exact, and the merge rule for token
//!   responses ([`Credential::apply_token_response`]).
//! - [`CredentialStore`] is the synchronous, object-safe store interface, with
//!   [`StoreError`] as its error.
//! - [`CredentialLocker`] is the credential lock as an interface: its guard's [`Fence`]
//!   is what saves carry ([`CredentialStore::save_fenced`]), so a backend whose lock can
//!   be lost (a database connection) refuses a holder's save after it lost the lock.
//! - [`check_server_url`], [`display_server_url`] and [`resource_indicator`] are the
//!   rules for a server URL: no user info, no fragment (RFC 8707 section 2), shown
//!   without user info or query values, sent as a resource without either.
//!
//! ```
//! use oauth_store_core::{compute_store_key, Credential, TokenResponse};
//!
//! let key = compute_store_key("test-server", "https://example.test");
//! assert_eq!(key.as_str(), "test-server|8c45d89ea13b3919");
//!
//! let mut record = Credential::builder("test-server", "https://example.test", "at-1".to_owned().into())
//!     .client_id("client-1")
//!     .refresh_token("rt-1".to_owned().into())
//!     .build();
//! let response = TokenResponse::from_json(br#"{"access_token":"at-2","expires_in":3600}"#)?;
//! record.apply_token_response(&response, 1_000);
//! assert_eq!(record.expires_at, Some(3_601_000));
//! assert!(record.refresh_token.is_some(), "a response without a refresh token keeps the old one");
//! # Ok::<(), oauth_store_core::TokenResponseError>(())
//! ```
//!
//! # Limitations
//! - Only HTTP MCP servers have store keys (the hashed text has `"type":"http"` and no
//!   headers), as in the Codex CLI.
//! - Token values are zeroized when dropped (secrecy), but copies made by serializing
//!   a record into a document or a request body are ordinary memory.
//! - Unknown fields are kept byte-exact only as long as the record is not rebuilt from
//!   a `serde_json::Value`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod clock;
mod key;
mod kinds;
mod lock;
mod record;
mod server_url;
mod store;

// The public interface is:
pub use clock::{Clock, ManualClock, SystemClock};
pub use key::{StoreKey, compute_store_key, sha256_hex};
pub use kinds::{BackendName, KeyringBackend, ResolutionReason, StoreKind, StoreMode, UnknownName};
pub use lock::{CredentialGuard, CredentialLocker, Fence, LockError};
pub use record::{
    Credential, CredentialBuilder, ExtraFields, MAX_EXPIRES_IN, RECORD_FIELDS, REDACTED,
    TokenEndpointAuthMethod, TokenResponse, TokenResponseError, is_b64token, is_record_field,
    is_secret_field, is_vschar_token, redact_value, repeated_members, tokens_equal,
};
pub use secrecy::{self, ExposeSecret, SecretString};
pub use server_url::{ServerUrlError, check_server_url, display_server_url, resource_indicator};
pub use store::{CredentialStore, ListedCredential, StoreError};

/// Describes a serde_json error by its category and position only: serde's own text
/// can quote the offending value, which may be a token.
pub fn describe_json_error(error: &serde_json::Error) -> String {
    let what = match error.classify() {
        serde_json::error::Category::Io => "I/O error",
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Data => "unexpected value",
        serde_json::error::Category::Eof => "unexpected end of input",
    };
    format!("{what} at line {} column {}", error.line(), error.column())
}
