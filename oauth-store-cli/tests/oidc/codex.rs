//! The released Codex CLI (`test-peers/codex`, npm `@openai/codex` pinned) and
//! `oauth-store --layout codex` in one `CODEX_HOME`: a credential saved by `import` is
//! Codex's OAuth login, `token` refreshes it at the oidc peer with no reuse, and
//! `codex mcp logout` removes it; and Codex's `http_headers_helper` running
//! `oauth-store headers` connects Codex to the MCP server peer.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::peer::{McpServer, Peer, cli, codex_binary, mcp_server_available};
use crate::{TestResult, import};

pub(crate) const SERVER: &str = "peer-mcp";

/// Runs the Codex CLI with `args` in `codex_home`, away from any keyring and the
/// user's own `~/.codex`.
pub(crate) fn codex(binary: &Path, codex_home: &Path, args: &[&str]) -> Output {
    Command::new(binary)
        .args(args)
        .env("CODEX_HOME", codex_home)
        .env("HOME", codex_home)
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("run codex")
}

/// `codex mcp list --json`: the `auth_status` of [`SERVER`].
pub(crate) fn codex_auth_status(binary: &Path, codex_home: &Path) -> String {
    let out = codex(binary, codex_home, &["mcp", "list", "--json"]);
    assert!(
        out.status.success(),
        "codex mcp list: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let servers: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("codex mcp list --json");
    let server = servers
        .as_array()
        .expect("a list")
        .iter()
        .find(|s| s["name"] == SERVER)
        .unwrap_or_else(|| panic!("{SERVER} listed: {servers}"));
    server["auth_status"]
        .as_str()
        .expect("auth_status")
        .to_owned()
}

/// `oauth-store --layout codex ARGS` in `codex_home` (File store).
fn ours(codex_home: &Path, args: &[&str]) -> Output {
    let mut all = vec!["--layout", "codex"];
    all.extend_from_slice(args);
    cli(codex_home, &all, None)
}

#[test]
fn a_login_saved_by_oauth_store_is_listed_refreshed_and_logged_out_by_codex() -> TestResult {
    if !mcp_server_available() {
        return Ok(());
    }
    let Some(binary) = codex_binary() else {
        return Ok(());
    };
    let peer = Peer::start(2);
    let mcp = McpServer::start(&peer);
    let dir = tempfile::tempdir()?;
    let home = dir.path().join("codex-home");
    std::fs::create_dir(&home)?;
    // Codex's MCP server entry (config.toml, `[mcp_servers.NAME]` with `url` for
    // Streamable HTTP), and its File store for OAuth credentials (the keyring is not
    // reachable here: no D-Bus session bus).
    std::fs::write(
        home.join("config.toml"),
        format!(
            "mcp_oauth_credentials_store = \"file\"\n\n[mcp_servers.{SERVER}]\nurl = \"{}\"\n",
            mcp.url
        ),
    )?;
    assert_eq!(codex_auth_status(&binary, &home), "not_logged_in");

    // A login saved by oauth-store is Codex's OAuth login.
    let response = {
        let response = peer.login(&mcp.url, Some("public"));
        let out = cli(
            &home,
            &[
                "--layout", "codex", "import", "--server", SERVER, "--url", &mcp.url,
            ],
            Some(&response),
        );
        assert!(
            out.status.success(),
            "import: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_str::<serde_json::Value>(&response)?
    };
    assert_eq!(codex_auth_status(&binary, &home), "o_auth");

    // oauth-store refreshes it at the provider; Codex still sees its login.
    std::thread::sleep(Duration::from_millis(2_100));
    let out = ours(
        &home,
        &[
            "token",
            "--server",
            SERVER,
            "--url",
            &mcp.url,
            "--min-valid",
            "1",
        ],
    );
    assert!(
        out.status.success(),
        "token: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout)?.trim().to_owned();
    assert_ne!(token, response["access_token"].as_str().expect("at"));
    assert_eq!(peer.stat("refreshes"), 1);
    assert_eq!(peer.reuse_events(), 0, "no refresh-token reuse");
    assert_eq!(peer.stat("reuse_detections"), 0);
    let reply = mcp.call_echo(
        &[("Authorization".into(), format!("Bearer {token}"))],
        "codex",
    );
    assert_eq!(reply.status, 200, "the refreshed token works: {reply:?}");
    assert_eq!(codex_auth_status(&binary, &home), "o_auth");

    // Codex logs out: the credential is gone for oauth-store too.
    let out = codex(&binary, &home, &["mcp", "logout", SERVER]);
    assert!(
        out.status.success(),
        "codex mcp logout: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(codex_auth_status(&binary, &home), "not_logged_in");
    let show = ours(&home, &["show", "--server", SERVER, "--url", &mcp.url]);
    assert_eq!(
        show.status.code(),
        Some(3),
        "nothing stored after codex logout"
    );
    let token = ours(&home, &["token", "--server", SERVER, "--url", &mcp.url]);
    assert_eq!(token.status.code(), Some(3));
    assert!(token.stdout.is_empty());
    Ok(())
}

#[test]
fn codex_connects_to_the_mcp_server_with_the_header_oauth_store_headers_prints() -> TestResult {
    if !mcp_server_available() {
        return Ok(());
    }
    let Some(binary) = codex_binary() else {
        return Ok(());
    };
    let peer = Peer::start(2);
    let mcp = McpServer::start(&peer);
    let dir = tempfile::tempdir()?;
    let ours = dir.path().join("oauth-store-home");
    import(&ours, &peer, SERVER, &mcp.url, Some("public"));
    let codex_home = dir.path().join("codex-home");
    std::fs::create_dir(&codex_home)?;
    // Codex runs the helper with a cleaned environment (HOME, PATH, LANG, SHELL, TERM
    // and CA bundle variables: no OAUTH_STORE_HOME, no D-Bus address), so the command
    // names its home.
    let helper = format!(
        "{} --home {} --store file headers --server {SERVER} --url {}",
        env!("CARGO_BIN_EXE_oauth-store"),
        ours.display(),
        mcp.url
    );
    // One command line, which Codex runs with a shell: no spaces or quotes inside a part.
    assert!(
        [
            env!("CARGO_BIN_EXE_oauth-store"),
            &ours.to_string_lossy(),
            &mcp.url
        ]
        .iter()
        .all(|part| !part.contains([' ', '"', '\''])),
        "{helper}"
    );
    std::fs::write(
        codex_home.join("config.toml"),
        format!(
            "[mcp_servers.{SERVER}]\nurl = \"{}\"\nhttp_headers_helper = \"{helper}\"\n",
            mcp.url
        ),
    )?;
    std::thread::sleep(Duration::from_millis(2_100)); // the helper refreshes first
    // `codex exec` connects to its MCP servers as the session starts; its model
    // provider points at a closed port, so nothing leaves the machine. It is stopped
    // once the MCP server has seen it.
    let mut session = Command::new(&binary)
        .args(["exec", "--skip-git-repo-check", "say hi"])
        .current_dir(dir.path())
        .env("CODEX_HOME", &codex_home)
        .env("HOME", &codex_home)
        .env("OPENAI_API_KEY", "sk-not-a-real-key")
        .env("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while mcp.stat("sessions") == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = session.kill();
    session.wait()?;
    let stats = mcp.stats();
    assert!(
        stats["sessions"].as_u64() >= Some(1),
        "Codex opened an MCP session with the helper's header: {stats}"
    );
    assert_eq!(
        stats["unauthorized"], 0,
        "no request went without it: {stats}"
    );
    assert_eq!(
        peer.stat("refreshes"),
        1,
        "the helper refreshed the expired token"
    );
    assert_eq!(peer.reuse_events(), 0);
    Ok(())
}
