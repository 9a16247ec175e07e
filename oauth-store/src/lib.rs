//! Shared MCP OAuth credentials for any number of processes: a thin facade over the
//! stores that pins each server's credential to one store, and serializes refresh,
//! login and logout so that a rotating refresh token is never replayed and a newer
//! token is never deleted.
//!
//! # Design
//! - [`OAuthStore`] is one home (a [`StoreLayout`]: the File document, locks, keyring
//!   names) in a mode (`auto | file | keyring | secrets`).
//! - [`CredentialHandle`] is one MCP server's credential. Its first operation resolves
//!   the store (DESIGN.md "Auto resolution", one of seven [`ResolutionReason`]s) and
//!   pins it.
//! - Refresh is a transaction (DESIGN.md "Refresh transaction"): callers of one key in
//!   one process share one in-flight refresh; across processes the credential lock
//!   serializes them; under it the stores are reread and a fresher copy saved by
//!   another process is adopted instead of spending the refresh token again; otherwise
//!   the [`TokenRefresher`] is called once, the answer merged and persisted before
//!   anyone sees the new token.
//! - When to refresh (DESIGN.md "Refresh thresholds"): past the advisory threshold
//!   ([`OAuthStoreBuilder::refresh_ahead`]) a caller refreshes only if the credential
//!   lock is free right now, else keeps its still-valid token at once; past the
//!   mandatory one ([`OAuthStoreBuilder::min_valid`], or the `min_valid` of
//!   [`CredentialHandle::refresh_if_needed`]) it waits, never past its own token's
//!   expiry. Both default to a share of the token's issued lifetime
//!   ([`CredentialHandle::fresh`]).
//! - An SDK that refreshes by itself (rmcp's `AuthorizationManager`, through
//!   `oauth-store-rmcp`) holds the credential lock with
//!   [`CredentialHandle::lock_credential`] across its own reread, token request and save,
//!   and reads and writes under it through the [`LockedCredential`] (DESIGN.md "rmcp
//!   clients").
//! - The four provider outcomes ([`RefreshOutcome`]) decide what is kept: only a
//!   rejected grant whose refresh token is still the stored one drops tokens (and
//!   keeps the client registration); a transient or indeterminate failure changes
//!   nothing.
//!
//! ```
//! use std::time::Duration;
//! use oauth_store::{Credential, OAuthStore, StoreMode};
//!
//! let home = tempfile::tempdir()?;
//! let store = OAuthStore::builder().home(home.path()).mode(StoreMode::File).build()?;
//! let handle = store.handle("notion", "https://mcp.notion.com/mcp");
//! let credential = Credential::builder("notion", "https://mcp.notion.com/mcp", "at-1".to_owned().into())
//!     .client_id("client-1")
//!     .build();
//! handle.save_grant(credential)?;
//! // Unknown expiry: returned as is, no refresh needed.
//! let current = handle.refresh_if_needed(Duration::from_secs(30))?;
//! assert_eq!(current.client_id, "client-1");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Indeterminate refreshes
//! When a refresh was sent but no usable answer came back (a timeout after sending, a
//! 200 whose body does not parse), the provider may or may not have rotated the
//! refresh token. Nothing is changed, and the next attempt retries with the same
//! refresh token: providers with a reuse grace window accept it; others answer
//! `invalid_grant` (and may revoke the grant), which then drops the tokens and asks
//! for a new authorization. The body of such a 200 is never logged: it holds tokens.
//!
//! # Persist failures (DESIGN.md "Persist rescue")
//! A refresh token is sent only when the store the transaction writes can keep its
//! successor ([`CredentialStore::prepare_save`]); otherwise [`Error::CannotKeep`] and
//! nothing is sent. If saving still fails after the provider issued new tokens, the save
//! is retried briefly (3 attempts over about 0.5 s) and the new credential is then
//! rescued into another store of the layout, or a 0600 rescue file ([`RESCUE`]) beside
//! the locks, where every read finds it and the next read or refresh moves it back
//! ([`CredentialHandle::rescued_in`] says where). Only when nothing can keep it is
//! [`Error::PersistFailed`] returned, carrying the new credential: the old refresh token
//! has been rotated away, so dropping the new one would force a new authorization.
//!
//! # Features
//! None is on by default.
//! - `http`: `HttpRefresher`, the [`TokenRefresher`] for real providers: RFC 6749
//!   section 6 refresh with `resource` (RFC 8707), client authentication as the record
//!   says, discovery (RFC 8414), revocation (RFC 7009), classified by HTTP status; a
//!   blocking ureq client; plain HTTP goes to loopback hosts only. And the login
//!   (`OAuthStore::login`): MCP authorization by browser (PKCE S256 through a
//!   127.0.0.1 listener) or device code (RFC 8628), saved through the login transaction. `ureq_proto` logs raw HTTP
//!   bytes (tokens, the client secret) at `log` TRACE level: filter that target out of
//!   any logger that bridges `log`.
//! - `rustls`: TLS for `https` endpoints (implies `http`).
//! - `tokio`: `AsyncCredentialHandle`, the async face. Each operation that can wait,
//!   write or send runs on a thread of its own, so it completes (and persists) even if
//!   its future is dropped or the runtime shuts down; that thread uses the blocking HTTP
//!   client, by design. A `fresh` or `refresh_if_needed` with nothing due, on a store
//!   whose read never waits (the File store outside the codex layout), is answered on the
//!   caller's thread: one file read, no thread, lock or write.
//!
//! # Limitations
//! - Coordination is per machine: credential locks are `flock`s in the home, so homes
//!   on NFS, or shared between machines, are not coordinated.
//! - Single-flight covers callers in one process using the same home path; two paths
//!   to one home (symlinks) still exclude each other through the credential lock.
//! - The codex preset shares a home with the Codex CLI, which takes the same lock files
//!   from version 0.154.0 on (the credential lock across refresh and logout,
//!   `file-store.lock` across its writes; tested with 0.171.0 and its File store).
//!   Earlier versions take fewer (0.145-0.153: none across logout; 0.144: only the
//!   store lock) or none (0.143 and before), and their writes are not coordinated with
//!   ours.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(feature = "tokio")]
mod asynch;
mod builder;
mod coordination;
mod error;
mod grant;
mod guard;
mod handle;
#[cfg(feature = "http")]
mod http;
mod layout;
#[cfg(feature = "http")]
mod login;
mod migrate;
mod provider;
mod refresh;
mod rescue;
mod resolution;
mod single_flight;
mod store;
mod thresholds;

// The public interface is:
#[cfg(feature = "tokio")]
pub use asynch::{
    AsyncCredentialHandle, OperationFuture, background_operations, wait_for_background,
};
pub use builder::OAuthStoreBuilder;
pub use coordination::FileCredentialLocker;
pub use error::{AuthorizationReason, Error, ErrorKind, StoreOutcome};
pub use guard::LockedCredential;
pub use handle::CredentialHandle;
#[cfg(feature = "http")]
pub use http::{AuthorizationServerMetadata, HttpError, HttpRefresher};
pub use layout::{LayoutPreset, StoreLayout};
#[cfg(feature = "http")]
pub use login::{
    BearerChallenge, ClientSource, LoginError, LoginOptions, LoginOutcome, LoginPrompt,
};
pub use migrate::Migration;
pub use provider::{RefreshOutcome, TokenRefresher};
pub use rescue::RESCUE;
pub use resolution::{Resolution, ResolutionObserver};
pub use store::{ListedEntry, OAuthStore};

pub use oauth_drift as drift;
pub use oauth_lock as lock;
// Named `store_core`, not `core`, so that it never shadows the `core` crate in paths.
pub use oauth_store_core as store_core;
pub use oauth_store_core::{
    BackendName, Credential, CredentialStore, ExposeSecret, KeyringBackend, ResolutionReason,
    SecretString, StoreError, StoreKey, StoreKind, StoreMode, TokenResponse, compute_store_key,
};
pub use oauth_store_file as file;
pub use oauth_store_keyring as keyring;
pub use oauth_store_secrets as secrets;
