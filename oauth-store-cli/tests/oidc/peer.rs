//! The oidc-provider test peer (`test-peers/oidc`): started on 127.0.0.1 on a port it
//! picks, its event lines collected, and the headless login (`login.mjs`).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};

pub(crate) fn peer_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../test-peers/oidc")
}

/// Whether the peer can run here. When it cannot: one loud skip line, or a failure
/// under `CI=true`.
pub(crate) fn available() -> bool {
    let installed = peer_dir().join("node_modules/oidc-provider").is_dir();
    let node = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if installed && node {
        return true;
    }
    let message = "SKIPPED: the oidc-provider test peer is not installed; install it with `npm ci --prefix test-peers/oidc` (needs node and npm)";
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{message} (CI=true: a missing peer fails the run)");
    }
    // Straight to stderr, past libtest's capture: the line is the point (and `cargo
    // xtask test` counts it as a skipped test).
    let _ = writeln!(std::io::stderr(), "\n*** {message} ***\n");
    false
}

/// A running peer; killed on drop (and it exits by itself when its stdin closes).
pub(crate) struct Peer {
    child: Child,
    _stdin: ChildStdin,
    pub(crate) issuer: String,
    events: Arc<Mutex<Vec<serde_json::Value>>>,
    agent: ureq::Agent,
}

impl Peer {
    /// Starts the peer with access tokens living `ttl_s` seconds.
    pub(crate) fn start(ttl_s: u64) -> Peer {
        let mut child = Command::new("node")
            .arg(peer_dir().join("server.mjs"))
            .env("ACCESS_TOKEN_TTL", ttl_s.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start node server.mjs");
        let stdin = child.stdin.take().expect("stdin");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let issuer = loop {
            let line = lines
                .next()
                .expect("peer exited before READY")
                .expect("read");
            if let Some(json) = line.strip_prefix("READY ") {
                let ready: serde_json::Value = serde_json::from_str(json).expect("READY json");
                break ready["issuer"].as_str().expect("issuer").to_owned();
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
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        Peer {
            child,
            _stdin: stdin,
            issuer,
            events,
            agent,
        }
    }

    /// The peer's own counters: refreshes, reuse_detections, grant_errors, revoked_grants.
    pub(crate) fn stats(&self) -> serde_json::Value {
        let mut response = self
            .agent
            .get(format!("{}/test/stats", self.issuer))
            .call()
            .expect("stats");
        serde_json::from_slice(&response.body_mut().read_to_vec().expect("body"))
            .expect("stats json")
    }

    pub(crate) fn stat(&self, name: &str) -> u64 {
        self.stats()[name]
            .as_u64()
            .unwrap_or_else(|| panic!("stat {name}"))
    }

    /// `grant.error` events whose reason is refresh-token reuse.
    pub(crate) fn reuse_events(&self) -> usize {
        self.events
            .lock()
            .expect("events")
            .iter()
            .filter(|e| e["event"] == "grant.error" && e["reuse"] == true)
            .count()
    }

    /// Revokes the grant of `refresh_token` at the peer.
    pub(crate) fn revoke_grant(&self, refresh_token: &str) {
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
    pub(crate) fn login(&self, resource: &str, register: Option<&str>) -> String {
        let mut cmd = Command::new("node");
        cmd.arg(peer_dir().join("login.mjs")).args([
            "--issuer",
            &self.issuer,
            "--resource",
            resource,
        ]);
        match register {
            Some(kind) => cmd.args(["--register", kind]),
            None => cmd.args(["--client-id", "test-public"]),
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

/// Runs `oauth-store` with `args` in `home`, feeding `stdin`.
pub(crate) fn cli(home: &Path, args: &[&str], stdin: Option<&str>) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_oauth-store"))
        .arg("--home")
        .arg(home)
        .args(["--store", "file"])
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn oauth-store");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
    }
    child.wait_with_output().expect("oauth-store output")
}
