//! Running the `oauth-store` binary as a process, homes, and a provider to refresh at.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use oauth_store_testkit::child;
use oauth_store_testkit::{ClientRegistration, EndpointConfig, IssuedTokens, TokenEndpoint};

pub(crate) use oauth_store_testkit::TestResult as Result;

/// The binary under test.
pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_oauth-store");

/// What one run printed and how it ended.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    /// Asserts the exit code, showing the output when it differs.
    #[track_caller]
    pub(crate) fn expect(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// Asserts the exit code is one of `codes`.
    #[track_caller]
    pub(crate) fn expect_any(self, codes: &[i32]) -> Run {
        assert!(
            codes.contains(&self.code),
            "exit code {} not in {codes:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code,
            self.stdout,
            self.stderr
        );
        self
    }

    /// stdout as JSON.
    #[track_caller]
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }

    /// stderr as the one JSON error object of `--json`.
    #[track_caller]
    pub(crate) fn json_error(&self) -> serde_json::Value {
        assert_eq!(
            self.stderr.lines().count(),
            1,
            "one line on stderr: {}",
            self.stderr
        );
        serde_json::from_str(self.stderr.trim_end())
            .unwrap_or_else(|e| panic!("stderr is not JSON ({e}):\n{}", self.stderr))
    }
}

/// Where these tests point `XDG_RUNTIME_DIR`: a directory that does not exist, so no
/// D-Bus session bus is found there.
pub(crate) const NO_RUNTIME_DIR: &str = "/nonexistent/oauth-store-cli-tests/run";

/// A command line for the binary, with a clean environment for the things it reads.
///
/// Without a D-Bus session bus (`DBUS_SESSION_BUS_ADDRESS` removed, `XDG_RUNTIME_DIR`
/// pointing nowhere): these tests never reach the keyring of whoever runs them, and
/// see the keyring as unusable at once, as on a headless machine. The keyring tests
/// (`tests/keyring`) run against a private Secret Service instead.
pub(crate) fn command(args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("RUST_LOG")
        .env_remove("OAUTH_STORE_HOME")
        .env_remove("CODEX_HOME")
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env("XDG_RUNTIME_DIR", NO_RUNTIME_DIR)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Runs a prepared command to its end, feeding `stdin` when given.
pub(crate) fn finish(mut cmd: Command, stdin: Option<&str>) -> Run {
    if stdin.is_some() {
        cmd.stdin(Stdio::piped());
    }
    let mut child = cmd.spawn().expect("start oauth-store");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("piped stdin");
        // A command that does not read its input may exit before it is written.
        if let Err(e) = pipe.write_all(input.as_bytes()) {
            assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "write stdin: {e}");
        }
    }
    let out = child.wait_with_output().expect("wait for oauth-store");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs the binary with `args`.
pub(crate) fn run(args: &[&str]) -> Run {
    finish(command(args), None)
}

/// A temporary home and the global options that point at it.
pub(crate) struct Home {
    _dir: tempfile::TempDir,
    path: PathBuf,
    /// Extra global options put before every command, e.g. `--layout codex`.
    pub(crate) options: Vec<String>,
}

impl Home {
    /// A fresh home (not created yet: the CLI creates it) with `--store file`.
    pub(crate) fn new() -> Home {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("home");
        Home {
            _dir: dir,
            path,
            options: vec!["--store".into(), "file".into()],
        }
    }

    /// A home holding a copy of the Codex-shaped fixture, used with `--layout codex`.
    pub(crate) fn codex() -> Home {
        let mut home = Home::new();
        copy_dir(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/codex-home"),
            &home.path,
        );
        home.options = vec![
            "--layout".into(),
            "codex".into(),
            "--store".into(),
            "file".into(),
        ];
        home
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The File store document.
    pub(crate) fn document(&self) -> PathBuf {
        self.path.join(".credentials.json")
    }

    /// A command with `--home` and the home's options before `args`.
    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let mut all: Vec<&str> = vec!["--home", self.path.to_str().expect("utf-8 temp path")];
        all.extend(self.options.iter().map(String::as_str));
        all.extend_from_slice(args);
        command(&all)
    }

    pub(crate) fn run(&self, args: &[&str]) -> Run {
        finish(self.command(args), None)
    }

    pub(crate) fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Run {
        finish(self.command(args), Some(stdin))
    }
}

/// Copies a directory of files, private as the stores write them.
pub(crate) fn copy_dir(from: &Path, to: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(to).expect("create home");
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o700)).expect("chmod home");
    for entry in std::fs::read_dir(from).expect("read fixture") {
        let entry = entry.expect("fixture entry");
        let target = to.join(entry.file_name());
        std::fs::copy(entry.path(), &target).expect("copy fixture file");
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600))
            .expect("chmod fixture");
    }
}

/// A server name and URL for tests that do not need a provider.
pub(crate) const SERVER: [&str; 4] = ["--server", "notion", "--url", "https://mcp.notion.com/mcp"];
/// Its store key.
pub(crate) const SERVER_KEY: &str = "notion|eac663db915250e7";

/// A loopback provider with one public client and one grant.
pub(crate) struct Provider {
    pub(crate) endpoint: TokenEndpoint,
    pub(crate) grant: IssuedTokens,
    pub(crate) client_id: String,
    pub(crate) client_secret: Option<String>,
    pub(crate) url: String,
}

impl Provider {
    /// A provider whose access tokens live `lifetime`, with a public client.
    pub(crate) fn start(lifetime: Duration) -> Provider {
        Provider::with(
            EndpointConfig::default().with_access_token_lifetime(lifetime),
            None,
        )
    }

    /// A provider with `config`, and a confidential (HTTP Basic) client when `secret` is given.
    pub(crate) fn with(config: EndpointConfig, secret: Option<&str>) -> Provider {
        let endpoint = TokenEndpoint::start(config).expect("start the token endpoint");
        let client_id = "cli-test".to_owned();
        match secret {
            Some(secret) => endpoint.register_client(ClientRegistration::basic(&client_id, secret)),
            None => endpoint.register_client(ClientRegistration::public(&client_id)),
        }
        let grant = endpoint.issue_grant(&client_id, &["read", "write"]);
        let url = format!("{}/mcp", endpoint.issuer());
        Provider {
            endpoint,
            grant,
            client_id,
            client_secret: secret.map(str::to_owned),
            url,
        }
    }

    /// `--server provider --url <its URL>`.
    pub(crate) fn server(&self) -> [&str; 4] {
        ["--server", "provider", "--url", &self.url]
    }

    /// The grant as a token response with the client registration, for `import`;
    /// `expires_in` overrides the grant's lifetime (seconds).
    pub(crate) fn response(&self, expires_in: Option<i64>) -> String {
        let mut value = serde_json::json!({
            "access_token": self.grant.access_token,
            "token_type": "Bearer",
            "expires_in": expires_in.unwrap_or(self.grant.expires_in as i64),
            "refresh_token": self.grant.refresh_token,
            "scope": self.grant.scope,
            "client_id": self.client_id,
            "token_endpoint": self.endpoint.token_endpoint(),
            "issuer": self.endpoint.issuer(),
        });
        if let Some(secret) = &self.client_secret {
            value["client_secret"] = secret.clone().into();
        }
        value.to_string()
    }

    /// Imports the grant into `home`.
    pub(crate) fn import(&self, home: &Home, expires_in: Option<i64>) {
        let mut args = vec!["import"];
        args.extend(self.server());
        home.run_with_stdin(&args, &self.response(expires_in))
            .expect(0);
    }
}

/// `args` followed by `more`.
pub(crate) fn with<'a>(args: &[&'a str], more: &[&'a str]) -> Vec<&'a str> {
    let mut all = args.to_vec();
    all.extend_from_slice(more);
    all
}

/// In a re-executed test binary: the role's arguments, separated by tabs.
pub(crate) const CHILD_ARGS: &str = "OAUTH_STORE_CLI_TEST_CHILD_ARGS";

/// This test binary re-executed as another process that runs only the test `entry`
/// (e.g. `codex_locks::child_entry`, which does nothing unless it has a role),
/// as `role` with `args`; its stdout is piped for [`wait_for_line`].
pub(crate) fn spawn_child(entry: &str, role: &str, args: &[&str]) -> Child {
    child::spawn(entry, role, [(CHILD_ARGS, args.join("\t"))])
}

/// In a child: its role and arguments, or `None` in a normal test run.
pub(crate) fn child_role() -> Option<(String, Vec<String>)> {
    let role = child::role()?;
    let args = std::env::var(CHILD_ARGS).unwrap_or_default();
    Some((role, args.split('\t').map(str::to_owned).collect()))
}

pub(crate) use oauth_store_testkit::child::wait_for_line;
