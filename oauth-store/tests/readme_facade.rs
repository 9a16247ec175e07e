//! The facade with the HTTP refresher: one credential of the machine, used and refreshed safely.
#![allow(clippy::print_stdout, reason = "an example program says what it did")]

use std::sync::Arc;
use std::time::Duration;

use oauth_store::store_core::{Clock, ExposeSecret, SystemClock};
use oauth_store::{Credential, ErrorKind, HttpRefresher, OAuthStore, StoreMode};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A temporary home and the File store for this example. A service leaves both out:
    // the default home ($OAUTH_STORE_HOME, else ~/.local/share/oauth-store) is shared by
    // every process of the machine, and Auto uses the OS keyring when it can.
    let home = tempfile::tempdir()?;
    let store = OAuthStore::builder()
        .home(home.path())
        .mode(StoreMode::File)
        .refresher(Arc::new(HttpRefresher::new()))
        .refresh_ahead(Duration::from_secs(120)) // advisory; default scaled to the lifetime
        .min_valid(Duration::from_secs(30)) // mandatory: the token must outlive a request
        .build()?;
    let handle = store.handle("notion", "https://mcp.notion.com/mcp");

    // A valid token is returned as stored: no provider request. A due one is refreshed
    // once for every process of the machine, as the store's two thresholds say (DESIGN.md
    // "Refresh thresholds"): ahead of time only if nobody else is refreshing it, and
    // waiting only when it is about to expire. `refresh_if_needed(min_valid)` sets the
    // mandatory one per call instead.
    let credential = match handle.fresh() {
        Ok(credential) => credential,
        Err(e) if e.kind() == ErrorKind::AuthorizationRequired => {
            // Nothing stored (or the grant is gone): run your login flow and save what
            // it obtained. Here, a token response that arrived a moment ago.
            let now_ms = SystemClock.now_ms();
            let obtained = Credential::builder(
                "notion",
                "https://mcp.notion.com/mcp",
                "at-1".to_owned().into(),
            )
            .client_id("mcp-client-42")
            .refresh_token("rt-1".to_owned().into())
            .token_endpoint("https://auth.example.com/oauth/token")
            .expires_at(now_ms + 3_600_000)
            .build();
            handle.save_grant(obtained)?;
            handle.fresh()?
        }
        Err(e) => return Err(e.into()),
    };

    let mut status = call_mcp_server(credential.access_token.expose_secret());
    if status == 401 {
        // The server refused a token that has not expired (revoked, or rotated by another
        // client): refresh at most once for this token, and not at all if another process
        // already stored a newer one.
        let fresh = handle.recover_unauthorized(&credential.access_token)?;
        status = call_mcp_server(fresh.access_token.expose_secret());
    }

    let resolution = handle
        .resolution()
        .ok_or("resolved by the first operation")?;
    let left_s = credential
        .expires_in_ms(SystemClock.now_ms())
        .map(|ms| ms / 1000);
    println!(
        "{}: in the {} store ({}); the access token expires in {} s; the MCP server answered {status}",
        handle.key(),
        resolution.store,
        resolution.reason,
        left_s.map_or_else(|| "unknown".to_owned(), |s| s.to_string()),
    );
    Ok(())
}

/// Stands in for your HTTP client: sends `Authorization: Bearer <access token>` to the
/// MCP server and returns the status.
fn call_mcp_server(_access_token: &str) -> u16 {
    200
}
