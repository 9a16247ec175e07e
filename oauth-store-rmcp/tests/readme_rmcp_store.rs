//! rmcp's own OAuth client with an oauth-store credential: safe across processes.
#![allow(clippy::print_stdout, reason = "an example program says what it did")]

use oauth_store::{OAuthStore, StoreMode};
use oauth_store_rmcp::RmcpCredentialStore;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::auth::{AuthClient, AuthorizationManager};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Keep rmcp's and reqwest's logs below debug: rmcp logs the authorization code and
    // the token response there.
    tracing_subscriber::fmt()
        .with_env_filter("info,rmcp=info,reqwest=info,hyper=info")
        .init();
    let url = "https://mcp.notion.com/mcp";
    // A temporary File store for this example, so that it runs anywhere. A client
    // builds `OAuthStore::builder().build()?`: the default home and mode (the CLI's
    // default `--store auto`), where `oauth-store login` saved the login.
    let home = tempfile::tempdir()?;
    let store = OAuthStore::builder()
        .home(home.path())
        .mode(StoreMode::File)
        .build()?;

    // rmcp's AuthorizationManager does the OAuth work (login, refresh); the credential
    // lives in the oauth-store home, and its refresh guard is the credential lock.
    let mut manager = AuthorizationManager::new(url).await?;
    manager.set_credential_store(RmcpCredentialStore::new(store.handle("notion", url)));
    // With a login stored (by `oauth-store login`, rmcp's own, or `oauth-store import`),
    // a client loads it first:
    //     manager.initialize_from_store().await?;
    let client = AuthClient::new(reqwest::Client::new(), manager);
    let transport = StreamableHttpClientTransport::with_client(
        client,
        StreamableHttpClientTransportConfig::with_uri(url),
    );
    // This example has no MCP server to reach, so it stops here. A client connects,
    // and every request carries the stored access token, refreshed by rmcp under the
    // lock:
    //     let service = ().serve(transport).await?;   // rmcp::ServiceExt, `client` feature
    //     let tools = service.list_tools(Default::default()).await?;
    drop(transport);
    println!("rmcp client ready for {url}");
    Ok(())
}
