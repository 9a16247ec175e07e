//! What a tool call costs through each adapter path beside the same call with a static
//! bearer token, measured in one run against the real peers (the oidc-provider and the
//! MCP server of `test-peers/`): `cargo bench -p oauth-store-rmcp --bench rmcp` (what
//! `cargo xtask bench rmcp` runs).
//!
//! Rows, each an rmcp client (`StreamableHttpClientTransport`, one MCP session) calling
//! the `echo` tool, with a token living an hour (nothing is due):
//! - static bearer: rmcp's reqwest client with the access token in the transport's
//!   `auth_header`, no store at all: the baseline;
//! - `RmcpCredentialStore`: rmcp's `AuthClient` over `AuthorizationManager` with the
//!   store (a lock-free load of the record on a blocking thread per request);
//! - `OwnedRefreshClient`: the facade's `AsyncCredentialHandle::fresh` per request.
//!
//! Samples alternate row by row, each round starting at another row; medians and p90
//! are reported, with each median's ratio to the baseline. Without the peers installed,
//! one line says so and nothing is measured. `OAUTH_STORE_BENCH_SCALE` (a positive
//! float, default 1) scales the sample counts.
#![allow(clippy::print_stdout, reason = "a benchmark prints its table")]

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use oauth_store::{Credential, HttpRefresher, OAuthStore, StoreMode, TokenResponse};
use oauth_store_rmcp::{OwnedRefreshClient, RmcpCredentialStore};
use oauth_store_testkit::peers::{McpServer, Peer, mcp_server_available};
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::auth::{AuthClient, AuthorizationManager};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;
type Client = RunningService<RoleClient, ()>;

const SERVER: &str = "bench-server";

fn main() -> Result<()> {
    if !mcp_server_available() {
        println!("rmcp bench: skipped: the MCP server and oidc test peers are not installed");
        return Ok(());
    }
    let scale = std::env::var("OAUTH_STORE_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| *s > 0.0)
        .unwrap_or(1.0);
    let rounds = ((300.0 * scale).round() as usize).max(10);
    let auth = Peer::start(3600);
    let mcp = McpServer::start(&auth);
    let login = auth.login(&mcp.url, None);
    let home = tempfile::tempdir()?;
    let store = OAuthStore::builder()
        .home(home.path())
        .mode(StoreMode::File)
        .default_stores(false)
        .refresher(Arc::new(HttpRefresher::new()))
        .build()?;
    let response = TokenResponse::from_json(login.as_bytes())?;
    let json: serde_json::Value = serde_json::from_str(&login)?;
    let mut credential = Credential::builder(SERVER, &mcp.url, response.access_token.clone())
        .client_id(json["client_id"].as_str().unwrap_or_default())
        .issuer(json["issuer"].as_str().unwrap_or_default())
        .build();
    credential.apply_token_response(&response, now_ms());
    store.handle(SERVER, &mcp.url).save_grant(credential)?;
    let access = json["access_token"].as_str().unwrap_or_default().to_owned();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let url = mcp.url.as_str();
        let config = || StreamableHttpClientTransportConfig::with_uri(url);
        let baseline: Client = ()
            .serve(StreamableHttpClientTransport::with_client(
                reqwest::Client::new(),
                config().auth_header(access.clone()),
            ))
            .await?;
        let mut manager = AuthorizationManager::new(url).await?;
        manager.set_credential_store(RmcpCredentialStore::new(store.handle(SERVER, url)));
        if !manager.initialize_from_store().await? {
            return Err("initialize_from_store found nothing".into());
        }
        let through_store: Client = ()
            .serve(StreamableHttpClientTransport::with_client(
                AuthClient::new(reqwest::Client::new(), manager),
                config(),
            ))
            .await?;
        let owned: Client = ()
            .serve(StreamableHttpClientTransport::with_client(
                OwnedRefreshClient::new(reqwest::Client::new(), store.handle(SERVER, url)),
                config(),
            ))
            .await?;
        let rows: [(&str, &Client); 3] = [
            ("static bearer (baseline)", &baseline),
            ("RmcpCredentialStore + AuthClient", &through_store),
            ("OwnedRefreshClient", &owned),
        ];
        println!(
            "oauth-store-rmcp bench: one run, {} cpus, {rounds} tool calls per row",
            std::thread::available_parallelism().map_or(1, usize::from)
        );
        let mut samples: Vec<Vec<Duration>> = vec![Vec::with_capacity(rounds); rows.len()];
        let n = rows.len();
        for round in 0..rounds + rounds / 10 {
            for i in (0..n).map(|k| (k + round) % n) {
                let params = CallToolRequestParams::new("echo").with_arguments(
                    serde_json::json!({"text": "bench"})
                        .as_object()
                        .cloned()
                        .unwrap_or_default(),
                );
                let start = Instant::now();
                let result = rows[i].1.call_tool(params).await?;
                let took = start.elapsed();
                if result.is_error == Some(true) {
                    return Err(format!("{}: the tool answered an error", rows[i].0).into());
                }
                // The first tenth warms up and is not kept.
                if round >= rounds / 10 {
                    samples[i].push(took);
                }
            }
        }
        println!(
            "  {:<36} {:>10} {:>10} {:>10}",
            "", "median", "p90", "/ static"
        );
        let base = percentile(&mut samples[0].clone(), 0.5);
        for ((name, _), mut s) in rows.iter().zip(samples) {
            let m = percentile(&mut s, 0.5);
            let p90 = percentile(&mut s, 0.9);
            println!(
                "  {name:<36} {:>10} {:>10} {:>9.2}x",
                fmt(m),
                fmt(p90),
                m.as_secs_f64() / base.as_secs_f64().max(1e-9)
            );
        }
        for client in [baseline, through_store, owned] {
            let _ = client.cancel().await;
        }
        Ok::<(), Box<dyn std::error::Error>>(())
    })?;
    oauth_store::wait_for_background(Duration::from_secs(30));
    Ok(())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort_unstable();
    let i = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples.get(i).copied().unwrap_or_default()
}

fn fmt(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1_000.0 {
        format!("{us:.1} us")
    } else {
        format!("{:.2} ms", us / 1_000.0)
    }
}
