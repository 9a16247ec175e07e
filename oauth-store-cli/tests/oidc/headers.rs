//! `oauth-store headers` and `token` as MCP clients use them: the printed header is
//! what the MCP server peer (`test-peers/mcp-server`) accepts on a real tool call over
//! Streamable HTTP, and a missing or dead login is exit 3 with nothing on stdout.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::peer::{McpServer, Peer, cli, mcp_server_available, skip};
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

/// The `bash` block of README.md's section "Using one login from your MCP clients".
fn readme_curl_recipe() -> String {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .expect("README.md");
    let section = &readme[readme
        .find("## Using one login from your MCP clients")
        .expect("the README section")..];
    let start = section.find("```bash\n").expect("a bash block") + "```bash\n".len();
    let end = start + section[start..].find("```").expect("its end");
    section[start..end].to_owned()
}

#[test]
fn the_readme_curl_recipe_lists_the_tools_of_the_mcp_server_peer() -> TestResult {
    if !mcp_server_available() {
        return Ok(());
    }
    let tools = ["bash", "curl", "sed", "tr"];
    if let Some(missing) = tools.iter().find(|tool| {
        Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .map_or(true, |s| !s.success())
    }) {
        skip(&format!(
            "`{missing}` is not on PATH (the README's curl recipe needs bash, curl, sed and tr)"
        ));
        return Ok(());
    }
    let peer = Peer::start(2);
    let mcp = McpServer::start(&peer);
    let dir = tempfile::tempdir()?;
    let home = dir.path().join("home");
    import(&home, &peer, "notion", &mcp.url, Some("public"));
    std::thread::sleep(Duration::from_millis(2_100)); // `token` in the recipe refreshes

    let recipe = readme_curl_recipe();
    let script = recipe.replace("https://mcp.notion.com/mcp", &mcp.url);
    assert_ne!(script, recipe, "the recipe names the example URL");
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_oauth-store"))
        .parent()
        .expect("bin dir")
        .to_owned();
    let path = std::env::join_paths(std::iter::once(bin_dir).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))?;
    let out = Command::new("bash")
        .args(["-c", &script])
        .env("PATH", path)
        .env("OAUTH_STORE_HOME", &home)
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env("XDG_RUNTIME_DIR", dir.path().join("no-runtime-dir"))
        .stdin(Stdio::null())
        .output()?;
    assert!(
        out.status.success(),
        "the recipe: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout)?;
    let last: serde_json::Value =
        serde_json::from_str(stdout.lines().last().expect("output")).expect("JSON");
    let names: Vec<&str> = last["result"]["tools"]
        .as_array()
        .expect("tools/list result")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(names, ["echo"]);
    assert_eq!(mcp.stat("sessions"), 1);
    assert_eq!(mcp.stat("unauthorized"), 0);
    assert_eq!(peer.stat("refreshes"), 1);
    assert_eq!(peer.reuse_events(), 0);
    Ok(())
}
