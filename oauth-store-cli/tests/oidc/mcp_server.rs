//! The MCP server peer itself does what the MCP authorization specification
//! (2025-11-25) asks, so that tests of clients against it mean something: protected
//! resource metadata at both well-known URIs (RFC 9728), and only tokens issued for
//! its resource (RFC 8707) accepted.

use crate::TestResult;
use crate::peer::{McpServer, Peer, mcp_server_available};

#[test]
fn serves_its_metadata_and_refuses_a_token_issued_for_another_resource() -> TestResult {
    if !mcp_server_available() {
        return Ok(());
    }
    let peer = Peer::start(60);
    let mcp = McpServer::start(&peer);
    let origin = mcp.url.trim_end_matches("/mcp");
    for url in [
        mcp.resource_metadata.clone(),
        format!("{origin}/.well-known/oauth-protected-resource"),
    ] {
        let mut response = ureq::get(&url).call()?;
        let metadata: serde_json::Value =
            serde_json::from_slice(&response.body_mut().read_to_vec()?)?;
        assert_eq!(metadata["resource"], mcp.url.as_str(), "{url}");
        assert_eq!(metadata["authorization_servers"][0], peer.issuer.as_str());
        assert_eq!(metadata["scopes_supported"][0], "mcp");
    }
    assert_eq!(mcp.stat("metadata_requests"), 2);

    let foreign: serde_json::Value =
        serde_json::from_str(&peer.login("https://other.example.test/mcp", None))?;
    let bearer = |token: &serde_json::Value| {
        [(
            "Authorization".to_owned(),
            format!("Bearer {}", token.as_str().expect("access token")),
        )]
    };
    let refused = mcp.call_echo(&bearer(&foreign["access_token"]), "hi");
    assert_eq!(refused.status, 401, "{refused:?}");
    assert!(
        refused
            .www_authenticate
            .as_deref()
            .is_some_and(|c| c.contains("not issued for this resource")),
        "{refused:?}"
    );

    let own: serde_json::Value = serde_json::from_str(&peer.login(&mcp.url, None))?;
    let accepted = mcp.call_echo(&bearer(&own["access_token"]), "hi");
    assert_eq!(accepted.status, 200, "{accepted:?}");
    assert_eq!(mcp.stat("tool_calls"), 1);
    assert_eq!(mcp.stat("unauthorized"), 1);
    assert_eq!(mcp.events("unauthorized").len(), 1);
    Ok(())
}
