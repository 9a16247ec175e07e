//! `oauth-store login` against the oidc-provider and MCP server peers: by a real
//! headless Chromium following the printed URL, by device code, the client registration
//! kept and reused, the refusals that save nothing, a login during a token storm, and
//! no secret in a trace log.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::TestResult;
use crate::codex::{SERVER, codex, codex_auth_status};
use crate::peer::{McpServer, Peer, browse, chromium, cli, codex_binary, mcp_server_available};

/// A running `oauth-store login`, its stderr read line by line.
struct Login {
    child: Child,
    lines: mpsc::Receiver<String>,
    said: Vec<String>,
}

impl Login {
    /// Starts `oauth-store --home HOME --store file login --server NAME --url URL ARGS`
    /// (never opening a browser: the test is the browser), with `env` set.
    fn start(home: &Path, name: &str, url: &str, args: &[&str], env: &[(&str, &str)]) -> Login {
        Login::start_in(home, &[], name, url, args, env)
    }

    /// As [`Login::start`], with global options (`--layout codex`) before `login`.
    fn start_in(
        home: &Path,
        global: &[&str],
        name: &str,
        url: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Login {
        let mut child = Command::new(env!("CARGO_BIN_EXE_oauth-store"))
            .arg("--home")
            .arg(home)
            .args(["--store", "file"])
            .args(global)
            .args(["login", "--server", name, "--url", url])
            .args(args)
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .env_remove("BROWSER")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn oauth-store login");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Login {
            child,
            lines,
            said: Vec::new(),
        }
    }

    /// The first stderr line `pick` accepts (waiting up to 30 s), mapped.
    fn wait_for<T>(&mut self, pick: impl Fn(&str) -> Option<T>) -> T {
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            let left = until.saturating_duration_since(Instant::now());
            let line = self.lines.recv_timeout(left).unwrap_or_else(|_| {
                panic!("login never printed the line; it said: {:?}", self.said)
            });
            self.said.push(line.clone());
            if let Some(found) = pick(&line) {
                return found;
            }
        }
    }

    /// The authorization URL (the stderr line that starts with `http`).
    fn authorization_url(&mut self) -> String {
        self.wait_for(|l| l.starts_with("http").then(|| l.to_owned()))
    }

    /// Waits for the exit: (code, stdout, all of stderr).
    fn finish(mut self) -> (Option<i32>, String, String) {
        let out = self.child.wait_with_output().expect("login output");
        let rest: Vec<String> = self.lines.iter().collect();
        self.said.extend(rest);
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            self.said.join("\n"),
        )
    }
}

/// The redirect URI and `state` of an authorization URL.
fn redirect_and_state(url: &str) -> (String, String) {
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
    let mut redirect = String::new();
    let mut state = String::new();
    for pair in query.split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode(value);
        match name {
            "redirect_uri" => redirect = value,
            "state" => state = value,
            _ => {}
        }
    }
    (redirect, state)
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("00");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The stored record of `name`, as the File store's document holds it (None: nothing).
fn stored(home: &Path) -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(home.join(".credentials.json")).ok()?;
    let document: serde_json::Value = serde_json::from_str(&text).ok()?;
    document.as_object()?.values().next().cloned()
}

fn bearer(token: &str) -> [(String, String); 1] {
    [("Authorization".to_owned(), format!("Bearer {token}"))]
}

/// A browser login of `name` at the MCP server, Chromium following the URL; returns the
/// login's (exit code, stdout, stderr) and the page Chromium ended on.
fn browser_login(
    home: &Path,
    chromium: &Path,
    mcp: &McpServer,
    name: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> ((Option<i32>, String, String), String) {
    let mut all = vec!["--no-browser"];
    all.extend_from_slice(args);
    let mut login = Login::start(home, name, &mcp.url, &all, env);
    let url = login.authorization_url();
    let page = browse(chromium, &url);
    (login.finish(), page)
}

/// The peers (access tokens living `ttl_s` seconds) and Chromium, when all are here.
fn peers(ttl_s: u64) -> Option<(Peer, McpServer, std::path::PathBuf)> {
    if !mcp_server_available() {
        return None;
    }
    let chromium = chromium()?;
    let peer = Peer::start(ttl_s);
    let mcp = McpServer::start(&peer);
    Some((peer, mcp, chromium))
}

#[test]
fn a_browser_login_by_chromium_is_saved_and_then_works_with_token_and_refresh_force() -> TestResult
{
    let Some((peer, mcp, chromium)) = peers(30) else {
        return Ok(());
    };
    let home = tempfile::tempdir()?;
    let ((code, stdout, stderr), page) =
        browser_login(home.path(), &chromium, &mcp, "peer", &[], &[]);
    assert_eq!(code, Some(0), "login: {stdout} {stderr}");
    assert!(page.contains("Logged in."), "page: {page}");
    assert!(stdout.contains("logged in: saved peer|"), "{stdout}");
    assert!(stdout.contains("(registered)"), "{stdout}");
    let record = stored(home.path()).expect("saved");
    assert!(
        record["refresh_token"].is_string(),
        "a refresh token was issued"
    );
    assert_eq!(record["issuer"], peer.issuer.as_str());

    // The provider saw the resource (RFC 8707) and PKCE S256 on the authorization
    // request, and the verifier and resource on the code exchange.
    let authorization = peer.events("authorization");
    assert_eq!(authorization.len(), 1, "{authorization:?}");
    assert_eq!(authorization[0]["resource"][0], mcp.url.as_str());
    assert_eq!(authorization[0]["code_challenge_method"], "S256");
    assert_eq!(authorization[0]["has_code_challenge"], true);
    assert_eq!(authorization[0]["has_state"], true);
    let exchange: Vec<_> = peer
        .events("grant.success")
        .into_iter()
        .filter(|e| e["grant_type"] == "authorization_code")
        .collect();
    assert_eq!(exchange.len(), 1);
    assert_eq!(exchange[0]["code_verifier"], true);
    assert_eq!(exchange[0]["resource"], mcp.url.as_str());

    // The saved credential works: `token` gives a bearer the MCP server takes, and
    // `refresh --force` spends the refresh token.
    let token = cli(
        home.path(),
        &["token", "--server", "peer", "--url", &mcp.url],
        None,
    );
    assert!(
        token.status.success(),
        "{}",
        String::from_utf8_lossy(&token.stderr)
    );
    let access = String::from_utf8(token.stdout)?.trim().to_owned();
    assert_eq!(mcp.call_echo(&bearer(&access), "hi").status, 200);
    let refresh = cli(
        home.path(),
        &["refresh", "--force", "--server", "peer", "--url", &mcp.url],
        None,
    );
    assert!(
        refresh.status.success(),
        "{}",
        String::from_utf8_lossy(&refresh.stderr)
    );
    assert!(String::from_utf8_lossy(&refresh.stdout).contains("refreshed peer|"));
    assert_eq!(peer.stat("refreshes"), 1);
    Ok(())
}

#[test]
fn a_device_login_approved_by_the_test_is_saved_and_works() -> TestResult {
    if !mcp_server_available() {
        return Ok(());
    }
    let peer = Peer::start(60);
    let mcp = McpServer::start(&peer);
    let home = tempfile::tempdir()?;
    let mut login = Login::start(home.path(), "peer", &mcp.url, &["--device"], &[]);
    let complete = login.wait_for(|l| l.starts_with("http").then(|| l.to_owned()));
    assert!(complete.contains("/device"), "{complete}");
    let user_code = login.wait_for(|l| l.strip_prefix("and enter the code: ").map(str::to_owned));
    assert!(peer.approve_device(&user_code), "approved at the peer");
    let (code, stdout, stderr) = login.finish();
    assert_eq!(code, Some(0), "{stdout} {stderr}");
    let record = stored(home.path()).expect("saved");
    let access = record["access_token"].as_str().expect("access token");
    assert_eq!(mcp.call_echo(&bearer(access), "hi").status, 200);
    let device_grants = peer
        .events("grant.success")
        .into_iter()
        .filter(|e| e["grant_type"] == "urn:ietf:params:oauth:grant-type:device_code")
        .count();
    assert_eq!(device_grants, 1);
    Ok(())
}

#[test]
fn a_device_login_approved_3_s_into_a_5_s_timeout_is_polled_up_to_the_deadline() -> TestResult {
    if !mcp_server_available() {
        return Ok(());
    }
    let peer = Peer::start(60);
    let mcp = McpServer::start(&peer);
    let home = tempfile::tempdir()?;
    // The peer's polling interval is 5 s: the one poll that can see the approval is
    // the last one, at the deadline (it once gave up at once, as the next poll at
    // `interval` would land past the deadline).
    let started = Instant::now();
    let mut login = Login::start(
        home.path(),
        "peer",
        &mcp.url,
        &["--device", "--timeout", "5"],
        &[],
    );
    let user_code = login.wait_for(|l| l.strip_prefix("and enter the code: ").map(str::to_owned));
    std::thread::sleep(Duration::from_secs(3).saturating_sub(started.elapsed()));
    assert!(peer.approve_device(&user_code), "approved at the peer");
    let (code, stdout, stderr) = login.finish();
    assert_eq!(code, Some(0), "{stdout} {stderr}");
    assert!(stored(home.path()).is_some(), "saved");
    Ok(())
}

#[test]
fn a_device_login_the_person_denies_stops_with_access_denied_and_saves_nothing() -> TestResult {
    if !mcp_server_available() {
        return Ok(());
    }
    let peer = Peer::start(60);
    let mcp = McpServer::start(&peer);
    let home = tempfile::tempdir()?;
    let mut login = Login::start(home.path(), "peer", &mcp.url, &["--device"], &[]);
    let user_code = login.wait_for(|l| l.strip_prefix("and enter the code: ").map(str::to_owned));
    assert!(peer.deny_device(&user_code), "denied at the peer");
    let (code, _, stderr) = login.finish();
    assert_eq!(code, Some(3), "{stderr}");
    assert!(stderr.contains("access_denied"), "{stderr}");
    assert!(stored(home.path()).is_none());
    Ok(())
}

#[test]
fn a_device_login_at_a_server_without_a_device_endpoint_is_refused() -> TestResult {
    if !mcp_server_available() {
        return Ok(());
    }
    let peer = Peer::start_with(60, &[("DISCOVERY_DROP", "device_authorization_endpoint")]);
    let mcp = McpServer::start(&peer);
    let home = tempfile::tempdir()?;
    let (code, _, stderr) =
        Login::start(home.path(), "peer", &mcp.url, &["--device"], &[]).finish();
    assert_eq!(code, Some(3), "{stderr}");
    assert!(
        stderr.contains("no device authorization endpoint"),
        "{stderr}"
    );
    assert!(stored(home.path()).is_none());
    Ok(())
}

#[test]
fn the_registration_is_made_once_reused_and_kept_when_the_grant_is_rejected() -> TestResult {
    let Some((peer, mcp, chromium)) = peers(30) else {
        return Ok(());
    };
    let home = tempfile::tempdir()?;
    let ((code, first, stderr), _) = browser_login(home.path(), &chromium, &mcp, "peer", &[], &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(first.contains("(registered)"), "{first}");
    let client_id = stored(home.path()).expect("saved")["client_id"].clone();

    let ((code, second, stderr), _) = browser_login(home.path(), &chromium, &mcp, "peer", &[], &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(second.contains("(stored)"), "{second}");
    assert_eq!(stored(home.path()).expect("saved")["client_id"], client_id);

    // The grant is revoked at the provider: the refresh is rejected, the tokens go, the
    // registration stays, and the next login uses it.
    let refresh_token = stored(home.path()).expect("saved")["refresh_token"]
        .as_str()
        .expect("refresh token")
        .to_owned();
    peer.revoke_grant(&refresh_token);
    let rejected = cli(
        home.path(),
        &["refresh", "--force", "--server", "peer", "--url", &mcp.url],
        None,
    );
    assert_eq!(
        rejected.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&rejected.stderr)
    );
    let kept = stored(home.path()).expect("kept");
    assert_eq!(kept["client_id"], client_id);
    assert!(kept["refresh_token"].is_null(), "{kept}");

    let ((code, third, stderr), _) = browser_login(home.path(), &chromium, &mcp, "peer", &[], &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(third.contains("(stored)"), "{third}");
    let clients: std::collections::HashSet<String> = peer
        .events("authorization")
        .iter()
        .map(|e| e["client_id"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        clients.len(),
        1,
        "one registration for three logins: {clients:?}"
    );
    Ok(())
}

#[test]
fn a_server_without_s256_is_refused_and_nothing_is_saved() -> TestResult {
    if !mcp_server_available() {
        return Ok(());
    }
    let peer = Peer::start_with(
        60,
        &[("DISCOVERY_DROP", "code_challenge_methods_supported")],
    );
    let mcp = McpServer::start(&peer);
    let home = tempfile::tempdir()?;
    let (code, _, stderr) =
        Login::start(home.path(), "peer", &mcp.url, &["--no-browser"], &[]).finish();
    assert_eq!(code, Some(3), "{stderr}");
    assert!(stderr.contains("S256"), "{stderr}");
    assert!(stored(home.path()).is_none());
    assert!(
        peer.events("authorization").is_empty(),
        "nothing was asked of the person"
    );
    Ok(())
}

/// Starts a login, then answers its redirect URI with `query(state)` as a forged or
/// failed callback would; returns the exit code and stderr.
fn forged_callback(
    home: &Path,
    mcp: &McpServer,
    query: impl Fn(&str) -> String,
) -> (Option<i32>, String) {
    let mut login = Login::start(
        home,
        "peer",
        &mcp.url,
        &["--no-browser", "--timeout", "60"],
        &[],
    );
    let url = login.authorization_url();
    let (redirect, state) = redirect_and_state(&url);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let answer = agent
        .get(format!("{redirect}?{}", query(&state)))
        .call()
        .expect("the loopback listener answers");
    assert_eq!(answer.status().as_u16(), 400, "the page says it failed");
    let (code, _, stderr) = login.finish();
    (code, stderr)
}

#[test]
fn a_wrong_state_a_wrong_iss_or_an_error_on_the_callback_is_refused_and_nothing_is_saved()
-> TestResult {
    if !mcp_server_available() {
        return Ok(());
    }
    let peer = Peer::start(60);
    let mcp = McpServer::start(&peer);
    let home = tempfile::tempdir()?;
    let issuer = peer.issuer.clone();

    let (code, stderr) = forged_callback(home.path(), &mcp, |_| {
        format!("code=forged&state=not-the-one&iss={issuer}")
    });
    assert_eq!(code, Some(3), "{stderr}");
    assert!(stderr.contains("state"), "{stderr}");

    let (code, stderr) = forged_callback(home.path(), &mcp, |state| {
        format!("code=forged&state={state}&iss=http%3A%2F%2Fevil.example.test")
    });
    assert_eq!(code, Some(3), "{stderr}");
    assert!(stderr.contains("iss"), "{stderr}");

    let (code, stderr) = forged_callback(home.path(), &mcp, |state| {
        format!("error=access_denied&error_description=no&state={state}&iss={issuer}")
    });
    assert_eq!(code, Some(3), "{stderr}");
    assert!(stderr.contains("access_denied"), "{stderr}");

    assert!(stored(home.path()).is_none(), "nothing saved");
    let exchanges = peer
        .events("grant.success")
        .iter()
        .chain(peer.events("grant.error").iter())
        .filter(|e| e["grant_type"] == "authorization_code")
        .count();
    assert_eq!(exchanges, 0, "no code was exchanged");

    // A callback that passes every check but whose code the provider does not know: the
    // exchange fails (invalid_grant), the browser is told so, nothing is saved.
    let (code, stderr) = forged_callback(home.path(), &mcp, |state| {
        format!("code=not-a-code&state={state}&iss={issuer}")
    });
    assert_eq!(code, Some(3), "{stderr}");
    assert!(stderr.contains("invalid_grant"), "{stderr}");
    assert!(
        !stderr.contains("not-a-code"),
        "the code is not shown: {stderr}"
    );
    assert!(stored(home.path()).is_none(), "nothing saved");
    Ok(())
}

#[test]
fn no_callback_within_the_timeout_is_refused_and_nothing_is_saved() -> TestResult {
    if !mcp_server_available() {
        return Ok(());
    }
    let peer = Peer::start(60);
    let mcp = McpServer::start(&peer);
    let home = tempfile::tempdir()?;
    // The browser was closed: the URL is printed and nothing comes back.
    let (code, _, stderr) = Login::start(
        home.path(),
        "peer",
        &mcp.url,
        &["--no-browser", "--timeout", "2"],
        &[],
    )
    .finish();
    assert_eq!(code, Some(3), "{stderr}");
    assert!(stderr.contains("no authorization within 2 s"), "{stderr}");
    assert!(stderr.contains("a longer `--timeout SECS`"), "{stderr}");
    assert!(stored(home.path()).is_none());
    Ok(())
}

#[test]
fn a_device_code_nobody_enters_in_time_says_so_and_suggests_a_longer_timeout() -> TestResult {
    if !mcp_server_available() {
        return Ok(());
    }
    let peer = Peer::start(60);
    let mcp = McpServer::start(&peer);
    let home = tempfile::tempdir()?;
    let (code, _, stderr) = Login::start(
        home.path(),
        "peer",
        &mcp.url,
        &["--device", "--timeout", "2"],
        &[],
    )
    .finish();
    assert_eq!(code, Some(3), "{stderr}");
    assert!(
        stderr.contains("no authorization within 2 s: the device code was not approved in time"),
        "{stderr}"
    );
    assert!(!stderr.contains("browser closed"), "{stderr}");
    assert!(stderr.contains("a longer `--timeout SECS`"), "{stderr}");
    assert!(stored(home.path()).is_none());
    Ok(())
}

#[test]
fn a_callback_port_in_use_is_a_usage_error_that_suggests_another_or_none() -> TestResult {
    let home = tempfile::tempdir()?;
    let taken = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = taken.local_addr()?.port().to_string();
    // The listener is bound before anything is sent: no server is needed.
    let out = cli(
        home.path(),
        &[
            "login",
            "--server",
            "x",
            "--url",
            "http://127.0.0.1:1/mcp",
            "--callback-port",
            &port,
        ],
        None,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "cannot listen on 127.0.0.1:{port}: the port is in use"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("give another `--callback-port`, or leave it out"),
        "{stderr}"
    );
    drop(taken);
    Ok(())
}

#[test]
fn a_trace_log_of_logins_and_their_use_holds_no_token_code_verifier_or_secret() -> TestResult {
    let Some((peer, mcp, chromium)) = peers(30) else {
        return Ok(());
    };
    let home = tempfile::tempdir()?;
    let secret_file = home.path().join("client-secret");
    std::fs::write(&secret_file, "test-confidential-secret\n")?;
    let trace = [("RUST_LOG", "trace")];
    let mut secrets = vec!["test-confidential-secret".to_owned()];
    let keep_tokens = |secrets: &mut Vec<String>| {
        let record = stored(home.path()).expect("saved");
        for field in ["access_token", "refresh_token"] {
            secrets.push(record[field].as_str().expect(field).to_owned());
        }
    };

    // A browser login with a confidential client.
    let secret_path = secret_file.to_str().expect("utf-8 path");
    let mut login = Login::start(
        home.path(),
        "peer",
        &mcp.url,
        &[
            "--no-browser",
            "--client-id",
            "test-confidential",
            "--client-secret-file",
            secret_path,
        ],
        &trace,
    );
    let url = login.authorization_url();
    browse(&chromium, &url);
    let (code, stdout, stderr) = login.finish();
    assert_eq!(code, Some(0), "{stderr}");
    keep_tokens(&mut secrets);
    let mut logged = format!("{stdout}\n{stderr}");

    // Its use: a refresh, show, list, token.
    for args in [
        &["refresh", "--force"][..],
        &["show"][..],
        &["list"][..],
        &["token"][..],
    ] {
        let mut all = args.to_vec();
        if args[0] != "list" {
            all.extend(["--server", "peer", "--url", &mcp.url]);
        }
        let out = Command::new(env!("CARGO_BIN_EXE_oauth-store"))
            .arg("--home")
            .arg(home.path())
            .args(["--store", "file"])
            .args(&all)
            .env("RUST_LOG", "trace")
            .output()?;
        assert!(
            out.status.success(),
            "{all:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if args[0] != "token" {
            // `token`'s stdout is the token: its job. Its stderr is checked.
            logged.push_str(&String::from_utf8_lossy(&out.stdout));
        }
        logged.push_str(&String::from_utf8_lossy(&out.stderr));
    }
    keep_tokens(&mut secrets);

    // A device login: the stored (pre-registered) client lacks the device grant, so a
    // client is registered anew (RFC 7591); the device code is polled.
    let mut login = Login::start(home.path(), "peer", &mcp.url, &["--device"], &trace);
    let user_code = login.wait_for(|l| l.strip_prefix("and enter the code: ").map(str::to_owned));
    assert!(peer.approve_device(&user_code));
    let (code, stdout, stderr) = login.finish();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("(registered)"), "{stdout}");
    keep_tokens(&mut secrets);
    logged.push_str(&format!("{stdout}\n{stderr}"));

    assert!(
        logged.contains("oauth_store::login"),
        "the trace log is on: {logged}"
    );
    for secret in &secrets {
        assert!(!logged.contains(secret.as_str()), "a secret in the log");
    }
    // The code, the verifier and the device code: never a parameter of theirs (the user
    // code is printed on purpose: the person types it).
    let without_user_code = logged.replace("user_code=", "");
    for name in ["code=", "code_verifier", "device_code"] {
        assert!(
            !without_user_code.contains(name),
            "{name} in the log: {logged}"
        );
    }
    Ok(())
}

#[test]
fn a_login_during_8_token_loops_on_the_old_grant_moves_every_loop_to_the_new_one() -> TestResult {
    let Some((peer, mcp, chromium)) = peers(2) else {
        return Ok(());
    };
    let home = tempfile::tempdir()?;
    let ((code, _, stderr), _) = browser_login(home.path(), &chromium, &mcp, "peer", &[], &[]);
    assert_eq!(code, Some(0), "{stderr}");
    let old_refresh = stored(home.path()).expect("saved")["refresh_token"]
        .as_str()
        .expect("refresh token")
        .to_owned();
    let servers = [("peer", mcp.url.as_str())];
    let (calls, failed, first, new_grant) = std::thread::scope(|scope| {
        let storm = scope.spawn(|| crate::token_storm(home.path(), &servers, 8, 12, &[]));
        std::thread::sleep(Duration::from_secs(3));
        let ((code, _, stderr), _) = browser_login(home.path(), &chromium, &mcp, "peer", &[], &[]);
        assert_eq!(code, Some(0), "{stderr}");
        // The old grant is gone at the provider: a loop still on it would fail.
        peer.revoke_grant(&old_refresh);
        let new_grant = peer
            .events("grant.success")
            .into_iter()
            .rfind(|e| e["grant_type"] == "authorization_code")
            .expect("the login's exchange")["grant_id"]
            .clone();
        let (calls, failed, first) = storm.join().expect("storm");
        (calls, failed, first, new_grant)
    });
    eprintln!(
        "8 token loops for 12 s across a login: {calls} calls, {failed} failed, stats {}",
        peer.stats()
    );
    assert_eq!(peer.reuse_events(), 0, "no refresh-token reuse");
    assert_eq!(failed, 0, "every call succeeded: {first}");
    // Every refresh after the login was on the new grant.
    let events = peer.events("grant.success");
    let login_at = events
        .iter()
        .rposition(|e| e["grant_type"] == "authorization_code")
        .expect("login");
    let after: Vec<_> = events[login_at + 1..].iter().collect();
    assert!(!after.is_empty(), "the loops refreshed after the login");
    assert!(
        after.iter().all(|e| e["grant_id"] == new_grant),
        "refreshes after the login: {after:?}"
    );
    Ok(())
}

#[test]
fn a_pre_registered_confidential_client_on_a_fixed_callback_port_then_a_step_up_asks_for_the_union()
-> TestResult {
    let Some((peer, mcp, chromium)) = peers(30) else {
        return Ok(());
    };
    let home = tempfile::tempdir()?;
    let secret_file = home.path().join("client-secret");
    std::fs::write(&secret_file, "test-confidential-secret\n")?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let port_text = port.to_string();
    let secret_path = secret_file.to_str().expect("utf-8 path");
    let args = [
        "--client-id",
        "test-confidential",
        "--client-secret-file",
        secret_path,
        "--callback-port",
        &port_text,
        "--json",
    ];
    let mut login = Login::start(
        home.path(),
        "peer",
        &mcp.url,
        &[&["--no-browser"][..], &args].concat(),
        &[],
    );
    let url = login.authorization_url();
    let (redirect, _) = redirect_and_state(&url);
    assert_eq!(redirect, format!("http://127.0.0.1:{port}/callback"));
    browse(&chromium, &url);
    let (code, stdout, stderr) = login.finish();
    assert_eq!(code, Some(0), "{stderr}");
    let answer: serde_json::Value = serde_json::from_str(&stdout)?;
    assert_eq!(answer["client"], "pre-registered", "{answer}");
    assert_eq!(answer["client_id"], "test-confidential");
    assert_eq!(answer["refresh_token"], true);
    assert!(
        !stdout.contains("test-confidential-secret")
            && !stderr.contains("test-confidential-secret")
    );
    let record = stored(home.path()).expect("saved");
    assert_eq!(record["token_endpoint_auth_method"], "client_secret_basic");
    // The stored secret authenticates the refresh (client_secret_basic).
    let refresh = cli(
        home.path(),
        &["refresh", "--force", "--server", "peer", "--url", &mcp.url],
        None,
    );
    assert!(
        refresh.status.success(),
        "{}",
        String::from_utf8_lossy(&refresh.stderr)
    );

    // Step-up: `--scope openid` on the stored credential asks for what it has and more.
    let granted: Vec<String> =
        serde_json::from_value(stored(home.path()).expect("saved")["scopes"].clone())?;
    assert!(granted.contains(&"mcp".to_owned()), "{granted:?}");
    let ((code, _, stderr), _) = browser_login(
        home.path(),
        &chromium,
        &mcp,
        "peer",
        &[
            "--scope",
            "openid",
            "--client-id",
            "test-confidential",
            "--client-secret-file",
            secret_path,
        ],
        &[],
    );
    assert_eq!(code, Some(0), "{stderr}");
    let asked = peer.events("authorization").last().expect("asked")["scope"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let asked: Vec<&str> = asked.split(' ').collect();
    for scope in granted.iter().map(String::as_str).chain(["openid"]) {
        assert!(asked.contains(&scope), "{scope} in {asked:?}");
    }
    Ok(())
}

/// A Codex home whose config names the MCP server peer as [`SERVER`], File store.
fn codex_home(dir: &Path, mcp: &McpServer) -> std::io::Result<std::path::PathBuf> {
    let home = dir.join("codex-home");
    std::fs::create_dir(&home)?;
    std::fs::write(
        home.join("config.toml"),
        format!(
            "mcp_oauth_credentials_store = \"file\"\n\n[mcp_servers.{SERVER}]\nurl = \"{}\"\n",
            mcp.url
        ),
    )?;
    Ok(home)
}

#[test]
fn a_codex_layout_login_is_listed_by_codex_and_a_codex_login_is_refreshed_by_token() -> TestResult {
    let Some((peer, mcp, chromium)) = peers(2) else {
        return Ok(());
    };
    let Some(binary) = codex_binary() else {
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let home = codex_home(dir.path(), &mcp)?;
    assert_eq!(codex_auth_status(&binary, &home), "not_logged_in");

    // oauth-store's login, in Codex's layout: Codex lists it as its OAuth login.
    let mut login = Login::start_in(
        &home,
        &["--layout", "codex"],
        SERVER,
        &mcp.url,
        &["--no-browser"],
        &[],
    );
    let url = login.authorization_url();
    browse(&chromium, &url);
    let (code, _, stderr) = login.finish();
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(codex_auth_status(&binary, &home), "o_auth");
    let out = codex(&binary, &home, &["mcp", "logout", SERVER]);
    assert!(
        out.status.success(),
        "codex mcp logout: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Codex's own login (`--no-browser`: it prints the URL and still listens on its
    // loopback redirect), Chromium following its URL; then `oauth-store token`
    // refreshes it at the provider with no reuse.
    let mut child = Command::new(&binary)
        .args(["mcp", "login", "--no-browser", SERVER])
        .env("CODEX_HOME", &home)
        .env("HOME", &home)
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    // Its stdout is read to the end (a closed pipe would stop it), the URL sent here.
    let stdout = child.stdout.take().expect("stdout");
    let (tx, urls) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.starts_with("http") {
                let _ = tx.send(line);
            }
        }
    });
    let url = urls
        .recv_timeout(Duration::from_secs(30))
        .expect("codex printed the authorization URL");
    let page = browse(&chromium, &url);
    let status = child.wait()?;
    assert!(status.success(), "codex mcp login; the page said: {page}");
    assert_eq!(codex_auth_status(&binary, &home), "o_auth");
    let before = peer.stat("refreshes");
    std::thread::sleep(Duration::from_millis(2_100));
    let token = cli(
        &home,
        &[
            "--layout",
            "codex",
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
    assert!(
        token.status.success(),
        "{}",
        String::from_utf8_lossy(&token.stderr)
    );
    let access = String::from_utf8(token.stdout)?.trim().to_owned();
    assert_eq!(
        peer.stat("refreshes"),
        before + 1,
        "oauth-store refreshed Codex's login"
    );
    assert_eq!(peer.reuse_events(), 0);
    assert_eq!(mcp.call_echo(&bearer(&access), "codex").status, 200);
    Ok(())
}

#[test]
fn a_callback_url_names_the_redirect_uri_and_the_listener_serves_its_path() -> TestResult {
    let Some((_peer, mcp, chromium)) = peers(30) else {
        return Ok(());
    };
    let home = tempfile::tempdir()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let callback = format!("http://127.0.0.1:{port}/oauth/done");
    let mut login = Login::start(
        home.path(),
        "peer",
        &mcp.url,
        &["--no-browser", "--callback-url", &callback],
        &[],
    );
    let url = login.authorization_url();
    assert_eq!(redirect_and_state(&url).0, callback);
    let page = browse(&chromium, &url);
    let (code, _, stderr) = login.finish();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(page.contains("Logged in."), "{page}");
    assert!(stored(home.path()).is_some());

    // One that is not on a loopback host is a usage error, before anything is sent.
    let out = cli(
        home.path(),
        &[
            "login",
            "--server",
            "peer",
            "--url",
            &mcp.url,
            "--callback-url",
            "http://example.test/cb",
        ],
        None,
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

#[test]
fn an_unreachable_server_is_exit_5_and_plain_http_off_loopback_exit_3() -> TestResult {
    let home = tempfile::tempdir()?;
    // Port 1 on loopback: nothing listens there.
    let out = cli(
        home.path(),
        &[
            "login",
            "--server",
            "x",
            "--url",
            "http://127.0.0.1:1/mcp",
            "--json",
        ],
        None,
    );
    assert_eq!(
        out.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let error: serde_json::Value = serde_json::from_slice(&out.stderr)?;
    assert_eq!(error["error"], "provider", "{error}");
    // Which server is not running, and where: the MCP server, port included.
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("the MCP server at 127.0.0.1:1: connecting failed")),
        "{error}"
    );
    // A query value is not shown (the URL as a whole is not part of the text).
    let out = cli(
        home.path(),
        &[
            "login",
            "--server",
            "x",
            "--url",
            "http://127.0.0.1:1/mcp?key=s3cr3t",
        ],
        None,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    assert!(
        stderr.contains("the MCP server at 127.0.0.1:1:"),
        "{stderr}"
    );
    assert!(!stderr.contains("s3cr3t"), "{stderr}");
    let out = cli(
        home.path(),
        &[
            "login",
            "--server",
            "x",
            "--url",
            "http://mcp.example.test/mcp",
        ],
        None,
    );
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not a loopback host"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stored(home.path()).is_none());
    Ok(())
}

#[test]
fn a_url_that_is_not_http_s_is_a_usage_error_and_a_missing_scheme_gets_https_suggested()
-> TestResult {
    let home = tempfile::tempdir()?;
    for (url, says) in [
        ("notaurl", "did you mean `https://notaurl`?"),
        (
            "127.0.0.1:35307/mcp",
            "did you mean `https://127.0.0.1:35307/mcp`?",
        ),
        (
            "localhost:35307/mcp",
            "did you mean `https://localhost:35307/mcp`?",
        ),
        ("ftp://mcp.example.test/mcp", "its scheme is `ftp`"),
    ] {
        let out = cli(home.path(), &["login", "--server", "x", "--url", url], None);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{url}: {stderr}");
        assert!(stderr.contains(says), "{url}: {stderr}");
        assert!(!stderr.contains("login refused"), "{url}: {stderr}");
    }
    assert!(stored(home.path()).is_none());
    Ok(())
}
