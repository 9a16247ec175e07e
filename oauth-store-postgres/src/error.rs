//! The crate's error: typed, with the SQLSTATE of a server error and never its message,
//! detail or hint (they can quote a row's values, tokens included), and never a password.

use std::sync::Arc;

use oauth_store_core::{BackendName, LockError, StoreError, StoreKind};

/// The kind every store and lock of this crate reports: `postgres`.
pub const POSTGRES: StoreKind = StoreKind::Other(BackendName::new("postgres"));

/// Why a PostgreSQL operation failed. Texts name the server (`host:port/database as
/// user`), the operation and the SQLSTATE; never a password, a token, or the server's own
/// message text.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database URL or an option is not usable (the URL itself is never quoted: it
    /// may hold a password).
    #[error("database configuration: {reason}")]
    Config {
        /// What is wrong.
        reason: String,
    },
    /// The server could not be reached (refused, unreachable, timed out, TLS failed).
    #[error("cannot reach the PostgreSQL server {target}: {reason}")]
    Connect {
        /// `host:port/database as user`.
        target: String,
        /// Why (the operating system's or the TLS library's reason).
        reason: String,
    },
    /// The server refused the login (wrong password, no such role, pg_hba). The
    /// password is never shown.
    #[error(
        "the PostgreSQL server {target} refused the login (SQLSTATE {sqlstate}); check the user and password (URL, passfile)"
    )]
    Authentication {
        /// `host:port/database as user`.
        target: String,
        /// `28P01` (invalid password) or `28000` (invalid authorization).
        sqlstate: String,
    },
    /// The server answered an operation with an error; only its SQLSTATE is kept.
    #[error("PostgreSQL {operation} failed (SQLSTATE {sqlstate})")]
    Server {
        /// What was done, e.g. `load`.
        operation: &'static str,
        /// The five-character SQLSTATE.
        sqlstate: String,
    },
    /// The connection closed during an operation (server restart, backend terminated,
    /// network cut); its outcome is unknown for a write.
    #[error("the connection to PostgreSQL closed during {operation}")]
    ConnectionLost {
        /// What was done.
        operation: &'static str,
    },
    /// The database has no oauth-store schema, and this connection was not allowed to
    /// create it.
    #[error(
        "the database {target} has no oauth-store schema, and this connection was opened without creating one (Options::create_schema off)"
    )]
    SchemaMissing {
        /// `host:port/database as user`.
        target: String,
    },
    /// The schema is newer than this build reads; nothing is changed.
    #[error(
        "the oauth-store schema in the database is version {found}, newer than this build reads ({supported}); upgrade oauth-store"
    )]
    SchemaNewer {
        /// The version found.
        found: i32,
        /// The highest this build reads.
        supported: i32,
    },
}

impl Error {
    /// Whether the server or the network is the problem (try again later), not the
    /// request.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            Error::Connect { .. } | Error::ConnectionLost { .. } | Error::Authentication { .. }
        )
    }

    /// The error of `operation` from the client's error `e`, keeping only its SQLSTATE,
    /// its connection state, or the operating system's reason.
    pub(crate) fn from_client(operation: &'static str, target: &str, e: &postgres::Error) -> Self {
        if let Some(code) = e.code() {
            let sqlstate = code.code().to_owned();
            return match sqlstate.as_str() {
                "28P01" | "28000" => Error::Authentication {
                    target: target.to_owned(),
                    sqlstate,
                },
                // admin_shutdown, crash_shutdown, cannot_connect_now: the server went
                // away (or is starting) under this connection.
                "57P01" | "57P02" | "57P03" if operation == "connect" => Error::Connect {
                    target: target.to_owned(),
                    reason: format!(
                        "the server is shutting down or starting (SQLSTATE {sqlstate})"
                    ),
                },
                "57P01" | "57P02" => Error::ConnectionLost { operation },
                _ => Error::Server {
                    operation,
                    sqlstate,
                },
            };
        }
        if operation == "connect" {
            return Error::Connect {
                target: target.to_owned(),
                reason: describe_source(e),
            };
        }
        if e.is_closed() || source_io(e).is_some() {
            return Error::ConnectionLost { operation };
        }
        Error::Server {
            operation,
            sqlstate: "client".to_owned(),
        }
    }

    /// As a [`StoreError`] of the `postgres` kind.
    pub fn into_store_error(self) -> StoreError {
        match self {
            Error::SchemaNewer { found, supported } => StoreError::UnsupportedVersion {
                path: "postgres:oauth_store_schema".into(),
                found: u64::try_from(found).unwrap_or(0),
                supported: u64::try_from(supported).unwrap_or(0),
            },
            e if e.is_unavailable() || matches!(e, Error::SchemaMissing { .. }) => {
                StoreError::Unavailable {
                    kind: POSTGRES,
                    reason: e.to_string(),
                }
            }
            e => StoreError::Backend {
                kind: POSTGRES,
                source: Arc::new(e),
            },
        }
    }

    /// As a [`LockError`] of the `postgres` locker.
    pub fn into_lock_error(self) -> LockError {
        if self.is_unavailable() {
            LockError::Unavailable {
                locker: "postgres".into(),
                reason: self.to_string(),
            }
        } else {
            LockError::Backend {
                locker: "postgres".into(),
                source: Arc::new(self),
            }
        }
    }
}

/// The operating system's (or TLS library's) reason under a client error, without the
/// client's own text (which can carry parts of the connection string).
fn describe_source(e: &postgres::Error) -> String {
    if let Some(io) = source_io(e) {
        return io.to_string();
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(tls) = s.downcast_ref::<rustls::Error>() {
            return format!("TLS: {tls}");
        }
        source = s.source();
    }
    if e.is_closed() {
        return "the server closed the connection".to_owned();
    }
    "the connection failed".to_owned()
}

/// The I/O error under a client error, if any; TLS errors come wrapped in one.
fn source_io(e: &postgres::Error) -> Option<&std::io::Error> {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        source = s.source();
    }
    None
}
