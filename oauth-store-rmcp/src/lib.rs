//! oauth-store inside rmcp MCP clients (rmcp, the official Rust MCP SDK, 3.11): the
//! credentials of an OAuth-protected MCP server (MCP authorization, 2025-11-25) shared by
//! any number of processes without ever replaying a rotated refresh token (RFC 6749
//! section 10.4; DESIGN.md "rmcp clients").
//!
//! Two ways in:
//! - [`RmcpCredentialStore`]: rmcp's `CredentialStore` over one credential of an
//!   oauth-store home. rmcp's `AuthorizationManager` keeps doing the OAuth work (login,
//!   refresh); the store makes its refresh guard the facade's credential lock across
//!   processes, its saves merges or new grants as the facade's are, and its clears
//!   compare-then-clear. Guarantees: no refresh token is ever replayed and no newer login
//!   is wiped, whatever the number of processes. rmcp rereads under the guard but does
//!   not recheck freshness, so N processes waiting on one expired token still make N
//!   rotations in a row: safe, but N provider requests.
//! - [`OwnedRefreshClient`]: an rmcp `StreamableHttpClient` whose bearer token comes from
//!   the facade's refresh transaction (adopt a fresher stored token first, refresh once
//!   per lifetime for the whole machine, one-shot 401 recovery). Guarantees all of the
//!   above, and provider refreshes stay about `duration / (lifetime - skew)` whatever the
//!   number of processes. The login itself happens elsewhere (rmcp's manager with
//!   [`RmcpCredentialStore`], the facade's `OAuthStore::login`, or a token response saved
//!   with `CredentialHandle::save_grant`).
//!
//! ```
//! use oauth_store::{Credential, OAuthStore, StoreMode};
//! use oauth_store_rmcp::RmcpCredentialStore;
//! use rmcp::transport::auth::CredentialStore;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! let home = tempfile::tempdir()?;
//! let store = OAuthStore::builder().home(home.path()).mode(StoreMode::File).build()?;
//! let handle = store.handle("notion", "https://mcp.notion.com/mcp");
//! handle.save_grant(
//!     Credential::builder("notion", "https://mcp.notion.com/mcp", "at-1".to_owned().into())
//!         .client_id("client-1")
//!         .refresh_token("rt-1".to_owned().into())
//!         .build(),
//! )?;
//! // What rmcp's AuthorizationManager sees (`set_credential_store(credentials)`).
//! let credentials = RmcpCredentialStore::new(handle);
//! let stored = credentials.load().await?.expect("stored");
//! assert_eq!(stored.client_id, "client-1");
//! assert!(stored.token_response.is_some());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Logging
//! rmcp logs the authorization code and the whole token response (access and refresh
//! tokens) at `debug` level (targets `rmcp::...`), and reqwest and its HTTP stack log
//! requests at `debug`/`trace`. Keep the `rmcp` and `reqwest` targets (and `hyper`,
//! `hyper_util`) below debug in any subscriber of a program that holds real
//! credentials, e.g. `EnvFilter::new("info,rmcp=info,reqwest=info,hyper=info")`. This
//! crate's own logs (target `oauth_store_rmcp`) and the facade's never hold a token.
//!
//! # Limitations
//! - Needs a tokio runtime with its time driver (as rmcp's transports do): the lock wait
//!   runs on tokio's blocking threads and the in-process queue is bounded with
//!   `tokio::time`.
//! - "Inside the guard" is told by the tokio task that took it (`tokio::task::try_id`):
//!   an rmcp fork that loads or saves from another task than the one holding its refresh
//!   guard is treated as outside it (its save becomes a new grant, its load lock-free).
//! - rmcp's `StoredCredentials` carry no client secret: a confidential client
//!   (`client_secret_basic`/`post`) refreshes through rmcp only if rmcp is configured
//!   with the secret; the stored one is kept but not handed to rmcp.
//! - A record written by another program without `updated_at` loads as obtained now
//!   with its remaining lifetime, so rmcp refreshes it only close to its expiry.
//! - The owned-refresh client pays the facade's async face on every request (a thread
//!   per call today; see `cargo xtask bench rmcp`).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod client;
mod convert;
mod store;

// The public interface is:
pub use client::OwnedRefreshClient;
pub use store::RmcpCredentialStore;
