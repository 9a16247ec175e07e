//! Integration tests for oauth-store-file, mirroring its modules. Multi-process tests
//! (`processes`) re-execute this test binary as a child (see `child`).

mod check;
mod child;
mod document;
mod processes;
mod repair;
mod store;

use std::path::Path;

use oauth_store_core::{Credential, ExposeSecret, StoreKey, compute_store_key};
use oauth_store_file::FileStore;

pub(crate) use oauth_store_testkit::TestResult;

/// The Codex CLI's document, copied from the shared fixtures.
pub(crate) const CODEX_DOCUMENT: &str = include_str!("data/codex-home/.credentials.json");

/// A record for server `name` with access token `token`.
pub(crate) fn record(name: &str, token: &str) -> Credential {
    Credential::builder(
        name,
        format!("https://{name}.example/mcp"),
        token.to_owned().into(),
    )
    .client_id(format!("client-{name}"))
    .refresh_token(format!("rt-{token}").into())
    .scopes(["read"])
    .expires_at(1_893_456_000_000)
    .build()
}

/// The store key of [`record`]'s server `name`.
pub(crate) fn key(name: &str) -> StoreKey {
    compute_store_key(name, &format!("https://{name}.example/mcp"))
}

/// The File store of `home` (created when missing).
pub(crate) fn store_in(home: &Path) -> FileStore {
    FileStore::in_home(home).expect("open the store")
}

/// The access token of a loaded record, for comparisons.
pub(crate) fn token_of(c: &Credential) -> String {
    c.access_token.expose_secret().to_owned()
}
