//! MCP OAuth credentials shared by many machines through PostgreSQL: a
//! [`CredentialStore`] on a table and a
//! [`CredentialLocker`] on the same server, whose
//! fence every save carries (DESIGN.md "Many machines").
//!
//! - [`Postgres::connect`] opens a database and a namespace (one tenant), creating or
//!   migrating the schema ([`SCHEMA_VERSION`]; a newer one is [`Error::SchemaNewer`]).
//! - [`PostgresStore`] keeps one row per (namespace, store key): the record as JSON text,
//!   byte-exact; a `generation` every save increments (across machines "newest" is the
//!   generation, never a wall clock); the server's `updated_at`. A row that does not
//!   parse fails for its key alone.
//! - [`PostgresLocker`] is the credential lock: a session-level advisory lock
//!   (`pg_advisory_lock`) held by a connection of its own from before the reread until
//!   after the persist. The wait is bounded by `lock_timeout`; a killed holder's lock
//!   goes with its connection at once; a vanished host's within
//!   [`Options::dead_host_bound`] (client and server TCP keepalives, `TCP_USER_TIMEOUT`);
//!   a paused holder's after [`Options::hold_limit`] idle (`idle_session_timeout`, above
//!   the provider's timeout). The holder is named in `pg_stat_activity` by its
//!   `application_name`, `oauth-store <host> pid <pid>` ([`inspect`] lists them).
//! - Every save is fenced: a fenced save ([`CredentialStore::save_fenced`]) runs on the
//!   lock's own connection and only if the row is still the generation the lock saw, so
//!   a holder whose connection was cut can never overwrite a newer credential
//!   ([`StoreError::FenceRefused`]); an unfenced save or delete takes the key's lock in
//!   its own transaction (`pg_advisory_xact_lock`).
//! - Errors ([`Error`]) keep the SQLSTATE of a server error and never its message,
//!   detail or hint (they can quote a row, tokens included); no password is ever in an
//!   error, a log line or `Debug`.
//!
//! The client is the synchronous [`postgres`] crate: the `CredentialStore` and
//! `CredentialLocker` traits are synchronous, and a lock must live on one connection that
//! the caller's thread owns for the whole transaction, which a blocking client gives
//! without a runtime or a pool. sqlx and `tokio-postgres` are async: they would need a
//! runtime inside a blocking trait. The `postgres` crate runs a private current-thread
//! tokio runtime per connection, so it must not be called from a thread of an async
//! runtime; the facade's async face runs every operation on a thread of its own.
//!
//! TLS: rustls (ring) through `tokio-postgres-rustls`, verifying the server's certificate
//! and name against the webpki roots and [`Options::ca_file`]. A server that is not on
//! this machine (anything but a unix socket, `localhost` or a loopback address) is
//! reached only over TLS (`sslmode=require` is forced; `sslmode=disable` is refused); a
//! local one in plain text unless the URL asks for `sslmode=require`.
//!
//! ```no_run
//! use oauth_store_core::{CredentialLocker, CredentialStore, compute_store_key};
//! use oauth_store_postgres::{Options, Postgres};
//!
//! let db = Postgres::connect("postgresql://oauth@db.internal/oauth", Options::with_namespace("agents"))?;
//! let (store, locker) = (db.store(), db.locker());
//! let key = compute_store_key("test-server", "https://example.test");
//! let guard = locker.lock(&key, std::time::Duration::from_secs(60))?;
//! if let Some(credential) = store.load(&key)? {
//!     // ... refresh at the provider, then save under the lock's fence:
//!     store.save_fenced(&key, &credential, &guard.fence())?;
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Limitations
//! - The provider cannot check a fence: a holder cut off after it sent its refresh
//!   (killed, or its connection cut while the provider answers) may have had the
//!   refresh token rotated; the next holder then sends the old one, and a provider with
//!   reuse detection sees one reuse. Fencing keeps the store consistent (the cut holder's
//!   save is refused), not the provider's view. Some providers offer a reuse grace
//!   period for exactly this.
//! - Connection poolers in transaction mode (PgBouncer `pool_mode=transaction`) break
//!   session-level locks and are not supported for the lock; session mode, or a direct
//!   connection, is.
//! - The lock of a vanished host stays held until the keepalives give up (about
//!   [`Options::dead_host_bound`], 25-30 s by default); a paused (SIGSTOP) holder's until
//!   [`Options::hold_limit`]. Its later save is refused.
//! - The client blocks on a private runtime: calling it, or dropping the last clone of
//!   a [`Postgres`] (its store, its locker, a store built on them), on a thread of an
//!   async runtime panics in the client; use a blocking thread (`spawn_blocking`, or the
//!   facade's async face, which runs every operation on a thread of its own).
//! - `idle_session_timeout` needs PostgreSQL 14 or later; on older servers a paused
//!   holder keeps its lock until its connection goes.
//! - Each lock holds a connection for the length of a refresh: size `max_connections`
//!   for the number of concurrent refreshes (one per key per machine, since the facade
//!   takes the machine's file lock first).
//! - A holder whose save a lost fence refused keeps its token in its own home (the
//!   facade's rescue file, stamped oldest so the database's copy wins). When the row is
//!   gone (a logout on another machine), that kept copy is what the holder's machine
//!   reads next, and it moves it back: log out on that machine too.
//! - Tokens are stored as the record's JSON text: protect them at rest with the server's
//!   roles (a role per tenant, no `SELECT` for others), TLS, and disk or tablespace
//!   encryption; the crate does not encrypt rows.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod connect;
mod error;
mod inspect;
mod lock;
mod schema;
mod store;

// The public interface is:
pub use connect::{Options, application_name};
pub use error::{Error, POSTGRES};
pub use inspect::{LockHolder, ServerInfo, inspect};
pub use lock::{PostgresLocker, lock_key};
pub use schema::SCHEMA_VERSION;
pub use store::{Postgres, PostgresStore};

#[cfg(doc)]
use oauth_store_core::{CredentialLocker, CredentialStore, StoreError};
