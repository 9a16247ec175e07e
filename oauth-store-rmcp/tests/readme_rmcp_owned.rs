//! An rmcp client whose token comes from oauth-store's refresh: one refresh per token
//! lifetime for the whole machine.
#![allow(clippy::print_stdout, reason = "an example program says what it did")]

use std::sync::Arc;

use oauth_store::{HttpRefresher, OAuthStore, StoreMode};
use oauth_store_rmcp::OwnedRefreshClient;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = "https://mcp.notion.com/mcp";
    // A temporary File store for this example, so that it runs anywhere. A client
    // builds its store with the default home and mode (the CLI's default `--store
    // auto`), where `oauth-store login` (or `import`) saved the login.
    let home = tempfile::tempdir()?;
    let store = OAuthStore::builder()
        .home(home.path())
        .mode(StoreMode::File)
        .refresher(Arc::new(HttpRefresher::new()))
        .build()?;

    // Every request asks the facade for the access token (adopting a fresher one any
    // process saved, refreshing once for the machine when due) and recovers a 401 once.
    let client = OwnedRefreshClient::new(reqwest::Client::new(), store.handle("notion", url));
    let transport = StreamableHttpClientTransport::with_client(
        client,
        StreamableHttpClientTransportConfig::with_uri(url),
    );
    // This example has no MCP server to reach, so it stops here. A client connects:
    //     let service = ().serve(transport).await?;   // rmcp::ServiceExt, `client` feature
    drop(transport);
    // Before exiting: a refresh cut off between the provider's answer and the save
    // would lose the rotated refresh token.
    oauth_store::wait_for_background(std::time::Duration::from_secs(30));
    println!("rmcp client ready for {url}");
    Ok(())
}
