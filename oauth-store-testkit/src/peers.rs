//! The npm test peers of this repository, for the tests of every crate: the
//! oidc-provider authorization server (`test-peers/oidc`), started on 127.0.0.1 on a port
//! it picks with its event lines collected, and its headless login (`login.mjs`); the MCP
//! server (`test-peers/mcp-server`) that it protects; the Codex CLI (`test-peers/codex`).
//!
//! Each `*_available` function says whether its peer can run here; when not, it prints
//! one loud `SKIPPED:` line naming the install command, or panics under `CI=true`.
//! Everything here panics on failure: it is for tests.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};

/// The repository's root (the peers live in its `test-peers/`).
pub fn repo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The oidc peer's directory, `test-peers/oidc`.
pub fn peer_dir() -> PathBuf {
    repo_dir().join("test-peers/oidc")
}

/// Whether the peer can run here. When it cannot: one loud skip line, or a failure
/// under `CI=true`.
pub fn available() -> bool {
    installed_or_skip(
        peer_dir().join("node_modules/oidc-provider").is_dir(),
        "the oidc-provider test peer is not installed; install it with `npm ci --prefix test-peers/oidc` (needs node and npm)",
    )
}

/// `installed` and `node` on `PATH`: true. Otherwise one loud line saying `what` (how to
/// install), or a panic under `CI=true`.
fn installed_or_skip(installed: bool, what: &str) -> bool {
    let node = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if installed && node {
        return true;
    }
    skip(what)
}

/// One loud line saying `what` is missing (and how to install it), or a panic under
/// `CI=true`; false.
pub fn skip(what: &str) -> bool {
    let message = format!("SKIPPED: {what}");
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{message} (CI=true: a missing peer fails the run)");
    }
    // Straight to stderr, past libtest's capture: the line is the point (and `cargo
    // xtask test` counts it as a skipped test).
    let _ = writeln!(std::io::stderr(), "\n*** {message} ***\n");
    false
}

/// The pinned Codex CLI's binary (`test-peers/codex`, npm `@openai/codex`: a static
/// binary in its platform package), when installed for this machine. When not: one loud
/// skip line, or a failure under `CI=true`.
pub fn codex_binary() -> Option<PathBuf> {
    let (package, triple) = match std::env::consts::ARCH {
        "x86_64" => ("codex-linux-x64", "x86_64-unknown-linux-musl"),
        "aarch64" => ("codex-linux-arm64", "aarch64-unknown-linux-musl"),
        _ => ("", ""),
    };
    let binary = repo_dir()
        .join("test-peers/codex/node_modules/@openai")
        .join(package)
        .join("vendor")
        .join(triple)
        .join("bin/codex");
    if cfg!(target_os = "linux") && binary.is_file() {
        return Some(binary);
    }
    skip(
        "the Codex CLI test peer is not installed for this platform (linux x86_64/aarch64); install it with `npm ci --prefix test-peers/codex`",
    );
    None
}

/// Reads `child`'s stdout up to its `READY {json}` line, then collects every later JSON
/// line into the returned list on a thread of its own. `stderr`: what the child said
/// there so far, shown if it exits before READY.
fn ready_and_events(
    child: &mut Child,
    stderr: Option<&Arc<Mutex<String>>>,
) -> (serde_json::Value, Arc<Mutex<Vec<serde_json::Value>>>) {
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let ready = loop {
        let Some(line) = lines.next() else {
            let _ = child.wait();
            std::thread::sleep(std::time::Duration::from_millis(100)); // the drain thread
            let said = stderr.map(|s| s.lock().expect("stderr").clone());
            panic!(
                "peer exited before READY; its stderr: {}",
                said.as_deref().unwrap_or("(not captured)")
            );
        };
        let line = line.expect("read");
        if let Some(json) = line.strip_prefix("READY ") {
            break serde_json::from_str(json).expect("READY json");
        }
    };
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            if let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) {
                sink.lock().expect("events").push(event);
            }
        }
    });
    (ready, events)
}

/// Reads `child`'s stderr on a thread of its own (so the child never blocks on a full
/// pipe), keeping the last 4 KiB.
fn drain_stderr(child: &mut Child) -> Arc<Mutex<String>> {
    let kept = Arc::new(Mutex::new(String::new()));
    let sink = Arc::clone(&kept);
    let stderr = child.stderr.take().expect("piped stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let mut kept = sink.lock().expect("stderr");
            kept.push_str(&line);
            kept.push('\n');
            if kept.len() > 4096 {
                let cut = kept.len() - 4096;
                let cut = (cut..kept.len())
                    .find(|&i| kept.is_char_boundary(i))
                    .unwrap_or(cut);
                kept.replace_range(..cut, "");
            }
        }
    });
    kept
}

/// An HTTP client that returns 4xx/5xx answers instead of failing on them.
fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// GET `url` as JSON.
fn get_json(agent: &ureq::Agent, url: &str) -> serde_json::Value {
    let mut response = agent.get(url).call().expect("GET");
    serde_json::from_slice(&response.body_mut().read_to_vec().expect("body")).expect("json")
}

/// A running oidc peer; killed on drop (and it exits by itself when its stdin closes).
#[derive(Debug)]
pub struct Peer {
    child: Child,
    _stdin: ChildStdin,
    /// Its issuer, `http://127.0.0.1:PORT` (RFC 8414 metadata under it).
    pub issuer: String,
    events: Arc<Mutex<Vec<serde_json::Value>>>,
    agent: ureq::Agent,
}

impl Peer {
    /// Starts the peer with access tokens living `ttl_s` seconds.
    pub fn start(ttl_s: u64) -> Peer {
        Peer::start_with(ttl_s, &[])
    }

    /// Starts the peer with access tokens living `ttl_s` seconds and `env` set (its
    /// test-only switches, e.g. `DISCOVERY_DROP`; see its README).
    pub fn start_with(ttl_s: u64, env: &[(&str, &str)]) -> Peer {
        let mut child = Command::new("node")
            .arg(peer_dir().join("server.mjs"))
            .env("ACCESS_TOKEN_TTL", ttl_s.to_string())
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start node server.mjs");
        let stdin = child.stdin.take().expect("stdin");
        let (ready, events) = ready_and_events(&mut child, None);
        let issuer = ready["issuer"].as_str().expect("issuer").to_owned();
        Peer {
            child,
            _stdin: stdin,
            issuer,
            events,
            agent: agent(),
        }
    }

    /// The peer's own counters: refreshes, reuse_detections, grant_errors, revoked_grants.
    pub fn stats(&self) -> serde_json::Value {
        get_json(&self.agent, &format!("{}/test/stats", self.issuer))
    }

    /// One of [`Self::stats`] as a number; panics when absent.
    pub fn stat(&self, name: &str) -> u64 {
        self.stats()[name]
            .as_u64()
            .unwrap_or_else(|| panic!("stat {name}"))
    }

    /// `grant.error` events whose reason is refresh-token reuse.
    pub fn reuse_events(&self) -> usize {
        self.events
            .lock()
            .expect("events")
            .iter()
            .filter(|e| e["event"] == "grant.error" && e["reuse"] == true)
            .count()
    }

    /// Its event lines named `name` (`authorization`, `grant.success`, ...), in order.
    pub fn events(&self, name: &str) -> Vec<serde_json::Value> {
        self.events
            .lock()
            .expect("events")
            .iter()
            .filter(|e| e["event"] == name)
            .cloned()
            .collect()
    }

    /// Approves a device authorization (RFC 8628) by its user code, as a person at the
    /// verification URI would (the peer walks its own `/device` forms); true when it
    /// was approved.
    pub fn approve_device(&self, user_code: &str) -> bool {
        self.agent
            .post(format!("{}/test/device-approve", self.issuer))
            .send_form([("user_code", user_code)])
            .expect("device-approve")
            .status()
            .as_u16()
            == 200
    }

    /// Denies a device authorization by its user code (the person presses Abort at the
    /// verification URI); true when that was taken.
    pub fn deny_device(&self, user_code: &str) -> bool {
        self.agent
            .post(format!("{}/test/device-approve", self.issuer))
            .send_form([("user_code", user_code), ("deny", "1")])
            .expect("device-approve deny")
            .status()
            .as_u16()
            == 200
    }

    /// Revokes the grant of `refresh_token` at the peer.
    pub fn revoke_grant(&self, refresh_token: &str) {
        let status = self
            .agent
            .post(format!("{}/test/revoke-grant", self.issuer))
            .send_form([("refresh_token", refresh_token)])
            .expect("revoke")
            .status();
        assert_eq!(status.as_u16(), 200, "grant revoked at the peer");
    }

    /// Headless authorization code + PKCE login for `resource`; `register` is
    /// `public`, `basic` or `post` for dynamic client registration, or `None` for the
    /// static public client. Returns the token response JSON (with the client fields).
    pub fn login(&self, resource: &str, register: Option<&str>) -> String {
        let mut cmd = Command::new("node");
        cmd.arg(peer_dir().join("login.mjs")).args([
            "--issuer",
            &self.issuer,
            "--resource",
            resource,
        ]);
        match register {
            Some(kind) => cmd.args(["--register", kind]),
            None => cmd.args(["--client", "test-public"]),
        };
        let out = cmd.output().expect("run login.mjs");
        assert!(
            out.status.success(),
            "login failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf8")
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The MCP server peer's directory, `test-peers/mcp-server`.
pub fn mcp_server_dir() -> PathBuf {
    repo_dir().join("test-peers/mcp-server")
}

/// Whether the MCP server peer (and the oidc peer it needs) can run here. When not: one
/// loud skip line, or a failure under `CI=true`.
pub fn mcp_server_available() -> bool {
    available()
        && installed_or_skip(
            mcp_server_dir()
                .join("node_modules/@modelcontextprotocol/sdk")
                .is_dir(),
            "the MCP server test peer is not installed; install it with `npm ci --prefix test-peers/mcp-server` (needs node and npm)",
        )
}

/// The MCP server peer (`test-peers/mcp-server`), protected by an oidc [`Peer`]; killed
/// on drop (and it exits by itself when its stdin closes).
#[derive(Debug)]
pub struct McpServer {
    child: Child,
    _stdin: ChildStdin,
    /// The MCP endpoint, `http://127.0.0.1:PORT/mcp`: also the resource indicator
    /// (RFC 8707) its tokens must be issued for.
    pub url: String,
    /// Its path-suffixed protected resource metadata URL (RFC 9728), as its 401 names it.
    pub resource_metadata: String,
    events: Arc<Mutex<Vec<serde_json::Value>>>,
    agent: ureq::Agent,
}

/// One answer of the MCP endpoint.
#[derive(Debug)]
pub struct McpReply {
    /// The HTTP status.
    pub status: u16,
    /// The `WWW-Authenticate` header, if any.
    pub www_authenticate: Option<String>,
    /// The body as JSON (`Null` when empty or not JSON).
    pub body: serde_json::Value,
}

impl McpServer {
    /// Starts the server with `auth` as its authorization server.
    pub fn start(auth: &Peer) -> McpServer {
        let mut child = Command::new("node")
            .arg(mcp_server_dir().join("server.mjs"))
            .env("ISSUER", &auth.issuer)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start node server.mjs (mcp-server)");
        let stdin = child.stdin.take().expect("stdin");
        let stderr = drain_stderr(&mut child);
        let (ready, events) = ready_and_events(&mut child, Some(&stderr));
        McpServer {
            child,
            _stdin: stdin,
            url: ready["url"].as_str().expect("url").to_owned(),
            resource_metadata: ready["resource_metadata"]
                .as_str()
                .expect("resource_metadata")
                .to_owned(),
            events,
            agent: agent(),
        }
    }

    /// Its counters: authorized_requests, unauthorized, forbidden, tool_calls,
    /// introspections, sessions, metadata_requests.
    pub fn stats(&self) -> serde_json::Value {
        let origin = self.url.trim_end_matches("/mcp");
        get_json(&self.agent, &format!("{origin}/test/stats"))
    }

    /// One of [`Self::stats`] as a number; panics when absent.
    pub fn stat(&self, name: &str) -> u64 {
        self.stats()[name]
            .as_u64()
            .unwrap_or_else(|| panic!("stat {name}"))
    }

    /// Event lines it printed so far with `"event": name`.
    pub fn events(&self, name: &str) -> Vec<serde_json::Value> {
        self.events
            .lock()
            .expect("events")
            .iter()
            .filter(|e| e["event"] == name)
            .cloned()
            .collect()
    }

    /// POSTs one JSON-RPC message with these request `headers` (name, value) and the
    /// session, if any.
    fn post(
        &self,
        headers: &[(String, String)],
        session: Option<&str>,
        message: &serde_json::Value,
    ) -> (McpReply, Option<String>) {
        let mut request = self
            .agent
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream");
        for (name, value) in headers {
            request = request.header(name.as_str(), value.as_str());
        }
        if let Some(id) = session {
            request = request
                .header("mcp-session-id", id)
                .header("mcp-protocol-version", "2025-11-25");
        }
        let mut response = request.send(message.to_string()).expect("POST /mcp");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (www_authenticate, session) = (header("www-authenticate"), header("mcp-session-id"));
        let status = response.status().as_u16();
        let bytes = response.body_mut().read_to_vec().expect("body");
        let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        (
            McpReply {
                status,
                www_authenticate,
                body,
            },
            session,
        )
    }

    /// A whole MCP exchange over Streamable HTTP with these request `headers` on every
    /// request: `initialize`, `notifications/initialized`, then `tools/call` of `echo`
    /// with `text`. Returns the first answer that is not a success, else the tool
    /// call's.
    pub fn call_echo(&self, headers: &[(String, String)], text: &str) -> McpReply {
        let initialize = serde_json::json!({
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "oauth-store-tests", "version": "0"}
            }
        });
        let (reply, session) = self.post(headers, None, &initialize);
        if reply.status != 200 {
            return reply;
        }
        let session = session.expect("initialize returns an Mcp-Session-Id");
        let initialized =
            serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let (reply, _) = self.post(headers, Some(&session), &initialized);
        if reply.status != 202 {
            return reply;
        }
        let call = serde_json::json!({
            "jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": {"name": "echo", "arguments": {"text": text}}
        });
        self.post(headers, Some(&session), &call).0
    }
}

impl Drop for McpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Debian's `chromium`, when installed. When not: one loud skip line, or a failure under
/// `CI=true`.
pub fn chromium() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("chromium"))
            .find(|candidate| candidate.is_file())
    });
    if found.is_none() {
        skip("chromium is not installed; install it with `apt-get install chromium`");
    }
    found
}

/// Opens `url` in a real headless Chromium (a fresh profile, no network besides the
/// page) and returns the DOM it ended on, after redirects: a browser following an
/// authorization URL to a loopback redirect. A browser still running after 60 s is
/// killed (the page is then whatever it printed). Panics when it cannot be run.
pub fn browse(chromium: &Path, url: &str) -> String {
    static PROFILES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let profile = std::env::temp_dir().join(format!(
        "oauth-store-chromium-{}-{}",
        std::process::id(),
        PROFILES.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            // Containers often have a small /dev/shm.
            "--disable-dev-shm-usage",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run chromium");
    // The page is read on a thread of its own, so a browser that never finishes is
    // killed after a minute instead of hanging the test.
    let mut stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut page = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stdout, &mut page);
        page
    });
    let until = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while child.try_wait().expect("chromium status").is_none() {
        if std::time::Instant::now() > until {
            let _ = child.kill();
            let _ = child.wait();
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let page = reader.join().expect("page reader");
    let _ = std::fs::remove_dir_all(&profile);
    String::from_utf8_lossy(&page).into_owned()
}
