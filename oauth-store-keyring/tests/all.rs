//! Integration tests for oauth-store-keyring, mirroring its modules.
//!
//! Tests that need a Secret Service run only inside
//! `oauth-store-keyring/tests/run-with-secret-service.sh` (a private D-Bus session with
//! an unlocked gnome-keyring and a temporary HOME), which sets
//! `OAUTH_STORE_TEST_KEYRING_SESSION=1`; elsewhere each prints one loud skip line and
//! passes. Some start sessions of their own inside it (a stopped daemon, a locked or
//! volatile keyring). Every keyring operation under test runs in a child process: this
//! test binary re-executed (see `child`), so each runs in a fresh process, with its own
//! environment and its own keyring worker.

mod child;
mod entry;
mod os;
mod redaction;
mod session;
mod store;
mod usability;
mod worker;

use oauth_store_core::{Credential, StoreError, StoreKey, compute_store_key};

pub(crate) use oauth_store_testkit::TestResult;

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

/// A service name no other test (or run) uses.
pub(crate) fn unique_service(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "oauth-store-keyring-test-{test}-{}-{nanos}",
        std::process::id()
    )
}

/// The variant of a store error, as children print it.
pub(crate) fn kind_of(error: &StoreError) -> &'static str {
    match error {
        StoreError::Unavailable { .. } => "unavailable",
        StoreError::Timeout { .. } => "timeout",
        StoreError::Backend { .. } => "backend",
        StoreError::Unsupported { .. } => "unsupported",
        StoreError::CorruptEntry { .. } => "corrupt_entry",
        _ => "other",
    }
}
