//! `oauth-store headers` and `token` as MCP clients use them: the printed header is
//! what the MCP server peer (`test-peers/mcp-server`) accepts on a real tool call over
//! Streamable HTTP, and a missing or dead login is exit 3 with nothing on stdout.

use std::time::Duration;

use crate::peer::{McpServer, Peer, cli, mcp_server_available};
use crate::{TestResult, import};

const SERVER: &str = "peer-mcp";

/// `headers` for the MCP server peer in `home`, refreshing when under 1 s is left.
fn headers(home: &std::path::Path, url: &str) -> std::process::Output {
    cli(
        home,
        &[
            "headers",
            "--server",
            SERVER,
            "--url",
            url,
            "--min-valid",
            "1",
        ],
        None,
    )
}

/// stdout of `headers` as (name, value) pairs, checking it is one JSON object of
/// strings on one line.
fn parse_headers(stdout: &[u8]) -> Vec<(String, String)> {
    let text = std::str::from_utf8(stdout).expect("utf-8");
    assert_eq!(text.lines().count(), 1, "one line: {text:?}");
    let object: serde_json::Value = serde_json::from_str(text).expect("a JSON object");
    object
        .as_object()
        .expect("an object")
        .iter()
        .map(|(name, value)| {
            let value = value.as_str().expect("string values").to_owned();
            (name.clone(), value)
        })
        .collect()
}

#[test]
fn headers_output_is_accepted_by_the_mcp_server_after_the_same_refresh_as_token() -> TestResult {
    if !mcp_server_available() {
        return Ok(());
    }
    let peer = Peer::start(2);
    let mcp = McpServer::start(&peer);
    let home = tempfile::tempdir()?;

    // Without a token: 401 naming the protected resource metadata and the scope.
    let anonymous = mcp.call_echo(&[], "hi");
    assert_eq!(anonymous.status, 401, "{anonymous:?}");
    let challenge = anonymous.www_authenticate.expect("WWW-Authenticate");
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    assert!(
        challenge.contains(&format!("resource_metadata=\"{}\"", mcp.resource_metadata)),
        "{challenge}"
    );
    assert!(challenge.contains("scope=\"mcp\""), "{challenge}");

    let response = import(home.path(), &peer, SERVER, &mcp.url, Some("public"));
    let login_token = response["access_token"].as_str().expect("access token");
    std::thread::sleep(Duration::from_millis(2_100)); // the imported token expires

    // The expired token is refused: the server really checks what it is given.
    let expired = mcp.call_echo(
        &[("Authorization".into(), format!("Bearer {login_token}"))],
        "hi",
    );
    assert_eq!(expired.status, 401, "{expired:?}");

    let out = headers(home.path(), &mcp.url);
    assert!(
        out.status.success(),
        "headers: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = parse_headers(&out.stdout);
    assert_eq!(printed.len(), 1, "{printed:?}");
    assert_eq!(printed[0].0, "Authorization");
    let bearer = printed[0].1.strip_prefix("Bearer ").expect("Bearer scheme");
    assert_ne!(bearer, login_token, "refreshed, as token would");
    assert_eq!(peer.stat("refreshes"), 1);

    let reply = mcp.call_echo(&printed, "hello through headers");
    assert_eq!(reply.status, 200, "{reply:?}");
    let result = &reply.body["result"]["structuredContent"];
    assert_eq!(result["text"], "hello through headers", "{reply:?}");
    assert_eq!(result["subject"], "test-user");
    assert_eq!(result["client_id"], response["client_id"]);
    assert_eq!(mcp.stat("tool_calls"), 1);
    assert_eq!(mcp.events("tool_call").len(), 1);

    // `token` right after: the same token, no second refresh (one code path).
    let token = cli(
        home.path(),
        &[
            "token",
            "--server",
            SERVER,
            "--url",
            &mcp.url,
            "--min-valid",
            "1",
        ],
        None,
    );
    assert_eq!(String::from_utf8(token.stdout)?.trim(), bearer);
    assert_eq!(peer.stat("refreshes"), 1);
    assert_eq!(peer.reuse_events(), 0);
    Ok(())
}

#[test]
fn headers_without_a_login_or_with_a_revoked_one_exits_3_and_prints_nothing() -> TestResult {
    if !mcp_server_available() {
        return Ok(());
    }
    let peer = Peer::start(2);
    let mcp = McpServer::start(&peer);
    let home = tempfile::tempdir()?;

    let missing = headers(home.path(), &mcp.url);
    assert_eq!(missing.status.code(), Some(3), "nothing stored");
    assert!(missing.stdout.is_empty());
    assert!(String::from_utf8_lossy(&missing.stderr).starts_with("error: "));

    let response = import(home.path(), &peer, SERVER, &mcp.url, Some("public"));
    peer.revoke_grant(response["refresh_token"].as_str().expect("refresh token"));
    std::thread::sleep(Duration::from_millis(2_100)); // the access token expires
    let revoked = headers(home.path(), &mcp.url);
    assert_eq!(
        revoked.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&revoked.stderr)
    );
    assert!(revoked.stdout.is_empty(), "nothing a client could send");
    assert_eq!(mcp.stat("tool_calls"), 0);
    Ok(())
}
