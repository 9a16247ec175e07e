//! What the tests share: the peers, a seeded home, and the storm children.

pub(crate) mod child;

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use oauth_store::{Credential, HttpRefresher, OAuthStore, StoreMode, TokenResponse};
use oauth_store_testkit::peers::{McpServer, Peer, mcp_server_available};

/// The server name every test stores its credential under.
pub(crate) const SERVER: &str = "mcp-peer";

/// The two peers, started together: the oidc provider with `ttl_s` access tokens and
/// the MCP server it protects.
pub(crate) struct Peers {
    pub(crate) mcp: McpServer,
    pub(crate) auth: Peer,
}

/// The peers, or `None` (after one loud skip line; a failure under `CI=true`) when they
/// are not installed.
pub(crate) fn peers(ttl_s: u64) -> Option<Peers> {
    if !mcp_server_available() {
        return None;
    }
    let auth = Peer::start(ttl_s);
    let mcp = McpServer::start(&auth);
    Some(Peers { mcp, auth })
}

/// One storm at a time in this test binary: eight children and two node peers each are
/// what a shared machine can run without starving the 2 s tokens.
pub(crate) fn one_storm_at_a_time() -> MutexGuard<'static, ()> {
    static STORMS: Mutex<()> = Mutex::new(());
    STORMS.lock().unwrap_or_else(|e| e.into_inner())
}

/// The facade store of `home` (File mode) with the HTTP refresher.
pub(crate) fn store(home: &Path) -> OAuthStore {
    OAuthStore::builder()
        .home(home)
        .mode(StoreMode::File)
        .default_stores(false)
        .refresher(Arc::new(
            HttpRefresher::new().with_timeout(Duration::from_secs(10)),
        ))
        .build()
        .expect("store")
}

/// A login at the peer (authorization code + PKCE, the static public client) for the MCP
/// server, as the token response JSON `login.mjs` prints (with the client fields).
pub(crate) fn login(peers: &Peers) -> String {
    peers.auth.login(&peers.mcp.url, None)
}

/// The record of a login's output, as `oauth-store import` builds it.
pub(crate) fn credential_of(url: &str, login: &str) -> Credential {
    let response = TokenResponse::from_json(login.as_bytes()).expect("token response");
    let json: serde_json::Value = serde_json::from_str(login).expect("json");
    let text = |name: &str| json[name].as_str().expect(name).to_owned();
    let mut credential = Credential::builder(SERVER, url, response.access_token.clone())
        .client_id(text("client_id"))
        .issuer(text("issuer"))
        .token_endpoint(text("token_endpoint"))
        .build();
    credential.apply_token_response(&response, now_ms());
    credential
}

/// A home holding one login for the MCP server; returns the login's output too.
pub(crate) fn seeded_home(peers: &Peers) -> (tempfile::TempDir, String) {
    let home = tempfile::tempdir().expect("home");
    let login = login(peers);
    store(home.path())
        .handle(SERVER, &peers.mcp.url)
        .save_grant(credential_of(&peers.mcp.url, &login))
        .expect("seed");
    (home, login)
}

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64
}

/// The `oauth-store` command of this build (`target/<profile>/oauth-store`, beside this
/// test binary's `deps/`), or `None` after one loud skip line (a failure under `CI=true`)
/// when it is not built.
pub(crate) fn cli_binary() -> Option<std::path::PathBuf> {
    let exe = std::env::current_exe().expect("test binary");
    let binary = exe.parent()?.parent()?.join("oauth-store");
    if binary.is_file() {
        return Some(binary);
    }
    oauth_store_testkit::peers::skip(
        "the oauth-store command is not built; build it with `cargo build -p oauth-store-cli`",
    );
    None
}

/// The log filter of every process here: rmcp logs the authorization code and token
/// responses at debug, reqwest and hyper requests at debug/trace, so they stay at warn.
pub(crate) fn quiet_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            "warn,rmcp=warn,reqwest=warn,hyper=warn,hyper_util=warn",
        ))
        .with_writer(std::io::stderr)
        .try_init();
}

/// Runs one child per role against `peers`' MCP server for `millis` and returns their
/// reports (each child asserted to exit 0).
pub(crate) fn storm(
    roles: &[&str],
    home: &Path,
    peers: &Peers,
    millis: u64,
    seed: Option<&str>,
) -> Vec<child::Report> {
    let children: Vec<_> = roles
        .iter()
        .map(|role| child::spawn(role, home, &peers.mcp.url, millis, seed))
        .collect();
    children.into_iter().map(child::report).collect()
}

/// Tool calls and failed calls over all reports.
pub(crate) fn totals(reports: &[child::Report]) -> (u64, u64) {
    (
        reports.iter().map(|r| r.calls).sum(),
        reports.iter().map(child::Report::failed).sum(),
    )
}
