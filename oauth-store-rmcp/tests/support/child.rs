//! Child processes: this test binary re-executed by `oauth_store_testkit::child` runs
//! one role through the `child_entry` test, prints `REPORT {json}` and exits.
//!
//! Roles: `store` (an rmcp client, `AuthClient` over `AuthorizationManager` with
//! [`RmcpCredentialStore`]), `owned` (an rmcp client with [`OwnedRefreshClient`]),
//! `memory` (an rmcp client with rmcp's `InMemoryCredentialStore` seeded from one login:
//! what people plug in today), `token` (the facade's refresh transaction in a loop, what
//! `oauth-store token` runs), `cli` (`oauth-store token` processes in a loop; the binary
//! is `CHILD_CLI`), `hold` (takes the credential lock and never lets go).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use oauth_store_rmcp::{OwnedRefreshClient, RmcpCredentialStore};
use oauth_store_testkit::child::{self, env};
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::auth::{
    AuthClient, AuthorizationManager, CredentialStore, InMemoryCredentialStore, OAuthTokenResponse,
    StoredCredentials,
};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;

use super::{SERVER, quiet_logs, store};

/// A storm child: `role` against the MCP server at `url` for `millis`, with the
/// credential of `home`; `seed` is a login's output for the `memory` role.
pub(crate) fn spawn(role: &str, home: &Path, url: &str, millis: u64, seed: Option<&str>) -> Child {
    let mut command = child::command("support::child::child_entry", role);
    command
        .env("CHILD_HOME", home)
        .env("CHILD_URL", url)
        .env("CHILD_MILLIS", millis.to_string());
    if let Some(seed) = seed {
        command.env("CHILD_SEED", seed);
    }
    if role == "cli"
        && let Some(cli) = super::cli_binary()
    {
        command.env("CHILD_CLI", cli);
    }
    command.spawn().expect("spawn child")
}

/// What a child reports (calls, failures by kind, and `auth_required` of the rmcp
/// roles), and [`report`], which waits for a child, asserts it exited 0 and parses its
/// `REPORT {json}` line.
pub(crate) use oauth_store_testkit::child::{Report, report};

#[test]
fn child_entry() {
    let Some(role) = child::role() else {
        return;
    };
    quiet_logs();
    let home = PathBuf::from(env("CHILD_HOME"));
    let url = env("CHILD_URL");
    let millis: u64 = env("CHILD_MILLIS").parse().expect("millis");
    let report = match role.as_str() {
        "hold" => hold(&home, &url),
        "token" => token_loop(&home, &url, millis),
        "cli" => cli_loop(&home, &url, millis),
        _ => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(rmcp_storm(&role, &home, &url, millis)),
    };
    // The async face's threads finish before the process exits (a refresh cut off
    // between the provider's answer and the save would lose the rotated token).
    assert!(oauth_store::wait_for_background(Duration::from_secs(30)));
    report.print();
}

/// Takes the credential lock and keeps it until killed.
fn hold(home: &Path, url: &str) -> Report {
    let handle = Arc::new(store(home).handle(SERVER, url));
    let _guard = handle
        .lock_credential(Duration::from_secs(10))
        .expect("lock");
    let mut stdout = std::io::stdout();
    writeln!(stdout, "HOLDING").expect("stdout");
    stdout.flush().expect("flush");
    std::thread::sleep(Duration::from_secs(120));
    Report::default()
}

/// The facade's refresh transaction in a loop, a new store per call as separate
/// `oauth-store token` runs have.
fn token_loop(home: &Path, url: &str, millis: u64) -> Report {
    let started = Instant::now();
    let (mut calls, mut failures) = (0u64, BTreeMap::<String, u64>::new());
    while started.elapsed() < Duration::from_millis(millis) {
        calls += 1;
        if let Err(e) = store(home).handle(SERVER, url).fresh() {
            *failures.entry(e.to_string()).or_default() += 1;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Report::new(calls, failures)
}

/// `oauth-store token` processes back to back (`--min-valid 1`: a token with a second
/// left is refreshed first).
fn cli_loop(home: &Path, url: &str, millis: u64) -> Report {
    let cli = env("CHILD_CLI");
    let started = Instant::now();
    let (mut calls, mut failures) = (0u64, BTreeMap::<String, u64>::new());
    while started.elapsed() < Duration::from_millis(millis) {
        calls += 1;
        let out = Command::new(&cli)
            .arg("--home")
            .arg(home)
            .args(["--store", "file", "token", "--server", SERVER, "--url", url])
            .args(["--min-valid", "1"])
            .stdin(Stdio::null())
            .output()
            .expect("run oauth-store");
        if !out.status.success() || out.stdout.is_empty() {
            let said = String::from_utf8_lossy(&out.stderr).trim().to_owned();
            *failures
                .entry(format!("{:?}: {said}", out.status.code()))
                .or_default() += 1;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Report::new(calls, failures)
}

type Client = RunningService<RoleClient, ()>;

/// An rmcp client of the role's kind, connected (MCP `initialize` done).
async fn connect(role: &str, home: &Path, url: &str) -> Result<Client, String> {
    let config = StreamableHttpClientTransportConfig::with_uri(url);
    let manager = || async {
        AuthorizationManager::new(url)
            .await
            .map_err(|e| format!("manager: {e}"))
    };
    let served = match role {
        "owned" => {
            let client =
                OwnedRefreshClient::new(reqwest::Client::new(), store(home).handle(SERVER, url));
            ().serve(StreamableHttpClientTransport::with_client(client, config))
                .await
        }
        "store" | "memory" => {
            let mut manager = manager().await?;
            if role == "store" {
                manager.set_credential_store(RmcpCredentialStore::new(
                    store(home).handle(SERVER, url),
                ));
            } else {
                let memory = InMemoryCredentialStore::new();
                memory
                    .save(seed_credentials(&env("CHILD_SEED")))
                    .await
                    .map_err(|e| format!("seed: {e}"))?;
                manager.set_credential_store(memory);
            }
            let found = manager
                .initialize_from_store()
                .await
                .map_err(|e| format!("initialize_from_store: {e}"))?;
            if !found {
                return Err("initialize_from_store: no credentials".into());
            }
            let client = AuthClient::new(reqwest::Client::new(), manager);
            ().serve(StreamableHttpClientTransport::with_client(client, config))
                .await
        }
        other => panic!("unknown child role {other}"),
    };
    served.map_err(|e| format!("initialize: {e}"))
}

/// rmcp's stored credentials of a login's output, as a client caching them would keep.
pub(crate) fn seed_credentials(login: &str) -> StoredCredentials {
    let json: serde_json::Value = serde_json::from_str(login).expect("login json");
    let response: OAuthTokenResponse = serde_json::from_value(json.clone()).expect("response");
    let scopes = json["scope"]
        .as_str()
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    StoredCredentials::new(
        json["client_id"].as_str().expect("client_id").to_owned(),
        Some(response),
        scopes,
        Some(super::now_ms() / 1000),
    )
    .with_issuer(json["issuer"].as_str().map(str::to_owned))
}

/// Calls the `echo` tool in a loop for `millis`; stops at the first
/// authorization-required error (a client would ask its user to log in again).
async fn rmcp_storm(role: &str, home: &Path, url: &str, millis: u64) -> Report {
    let started = Instant::now();
    let (mut calls, mut auth_required) = (0u64, 0u64);
    let mut failures = BTreeMap::<String, u64>::new();
    let client = match connect(role, home, url).await {
        Ok(client) => Some(client),
        Err(e) => {
            *failures.entry(e).or_default() += 1;
            None
        }
    };
    if let Some(client) = &client {
        while started.elapsed() < Duration::from_millis(millis) {
            calls += 1;
            let arguments = serde_json::json!({ "text": format!("call {calls}") });
            let params = CallToolRequestParams::new("echo")
                .with_arguments(arguments.as_object().cloned().unwrap_or_default());
            match client.call_tool(params).await {
                Ok(result) if result.is_error != Some(true) => {}
                Ok(_) => {
                    *failures
                        .entry("the tool answered an error".into())
                        .or_default() += 1;
                }
                Err(e) => {
                    let auth = e.auth_challenge().is_some() || e.to_string().contains("Auth");
                    *failures.entry(e.to_string()).or_default() += 1;
                    if auth {
                        auth_required += 1;
                        break;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    if let Some(client) = client {
        let _ = client.cancel().await;
    }
    Report::new(calls, failures).with("auth_required", auth_required)
}
