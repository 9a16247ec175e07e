//! The shared server and a fresh database per test.

use oauth_store_core::Credential;
use oauth_store_postgres::{Options, Postgres};
use oauth_store_testkit::postgres::{PgServer, TestDatabase};

/// The server and a new database, or `None` (skipped loudly) without the binaries.
pub(crate) fn database(prefix: &str) -> Option<(&'static PgServer, TestDatabase)> {
    let server = PgServer::shared()?;
    let db = server.database(prefix, true);
    Some((server, db))
}

/// Connects to `db` in `namespace`, creating the schema.
pub(crate) fn connect(db: &TestDatabase, namespace: &str) -> Postgres {
    Postgres::connect(&db.url, Options::with_namespace(namespace)).expect("connects")
}

/// A credential of `server` with tokens `at`/`rt`.
pub(crate) fn credential(server: &str, at: &str, rt: &str) -> Credential {
    Credential::builder(server, "https://example.test/mcp", at.to_owned().into())
        .client_id("client-1")
        .refresh_token(rt.to_owned().into())
        .expires_at(4_000_000_000_000)
        .updated_at(1_000)
        .build()
}
