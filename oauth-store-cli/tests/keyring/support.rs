//! Running the `oauth-store` binary against the session's Secret Service (or without any
//! bus), homes, a provider, and private sessions of our own.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use oauth_store_testkit::{ClientRegistration, EndpointConfig, IssuedTokens, TokenEndpoint};

pub(crate) use oauth_store_testkit::TestResult as Result;

/// The binary under test.
pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_oauth-store");

/// Set to `1` by `cargo xtask test`'s keyring session: a private D-Bus session bus with
/// an unlocked gnome-keyring, under a temporary HOME.
pub(crate) const SESSION_ENV: &str = "OAUTH_STORE_TEST_KEYRING_SESSION";

/// Whether this run is inside the keyring session; otherwise prints one line for `test`
/// (straight to stderr, past libtest's capture) and returns false.
pub(crate) fn session(test: &str) -> bool {
    if std::env::var(SESSION_ENV).is_ok_and(|v| v == "1") {
        return true;
    }
    let _ = writeln!(
        std::io::stderr(),
        "{test}: skipped here: runs in cargo xtask test's keyring session (apt-get install -y dbus gnome-keyring)"
    );
    false
}

/// What one run printed and how it ended.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    pub(crate) took: Duration,
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

    /// stdout as JSON.
    #[track_caller]
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

/// Runs a prepared command to its end, feeding `stdin` when given.
pub(crate) fn finish(mut cmd: Command, stdin: Option<&str>) -> Run {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let started = std::time::Instant::now();
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
        took: started.elapsed(),
    }
}

/// How a command reaches (or does not reach) a Secret Service.
#[derive(Debug, Clone)]
pub(crate) enum Bus {
    /// The session's bus, as this test process has it.
    Session,
    /// No bus: `DBUS_SESSION_BUS_ADDRESS` removed, `XDG_RUNTIME_DIR` an empty directory.
    None(PathBuf),
    /// A private session of our own at this address.
    At(String),
}

/// A temporary home and the global options put before every command.
pub(crate) struct Home {
    dir: tempfile::TempDir,
    path: PathBuf,
    /// Global options before every command, e.g. `--store keyring`.
    pub(crate) options: Vec<String>,
    /// How commands reach the Secret Service.
    pub(crate) bus: Bus,
}

impl Home {
    /// A fresh home with `--store store`, on the session's bus.
    pub(crate) fn new(store: &str) -> Home {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("home");
        Home {
            dir,
            path,
            options: vec!["--store".into(), store.into()],
            bus: Bus::Session,
        }
    }

    /// A fresh home with `--store store` at `base/home` (e.g. on a [`SmallFs`]), on the
    /// session's bus.
    pub(crate) fn on(base: &Path, store: &str) -> Home {
        let mut home = Home::new(store);
        home.path = base.join("home");
        home
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The File store document.
    pub(crate) fn document(&self) -> PathBuf {
        self.path.join(".credentials.json")
    }

    /// The Secrets store document.
    pub(crate) fn secrets_document(&self) -> PathBuf {
        self.path.join("secrets/mcp_oauth.age")
    }

    /// An empty directory for `Bus::None`'s `XDG_RUNTIME_DIR`.
    pub(crate) fn no_bus(&self) -> Bus {
        let run = self.dir.path().join("no-bus-run");
        std::fs::create_dir_all(&run).expect("create the empty runtime directory");
        Bus::None(run)
    }

    /// The command `--home HOME OPTIONS... args` on `bus`.
    pub(crate) fn command_on(&self, bus: &Bus, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.arg("--home")
            .arg(&self.path)
            .args(&self.options)
            .args(args)
            .env_remove("RUST_LOG")
            .env_remove("OAUTH_STORE_HOME")
            .env_remove("CODEX_HOME");
        match bus {
            Bus::Session => {}
            Bus::None(run) => {
                cmd.env_remove("DBUS_SESSION_BUS_ADDRESS")
                    .env("XDG_RUNTIME_DIR", run);
            }
            Bus::At(address) => {
                cmd.env("DBUS_SESSION_BUS_ADDRESS", address);
            }
        }
        cmd
    }

    /// The command on the home's own bus.
    pub(crate) fn command(&self, args: &[&str]) -> Command {
        self.command_on(&self.bus, args)
    }

    pub(crate) fn run(&self, args: &[&str]) -> Run {
        finish(self.command(args), None)
    }

    pub(crate) fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Run {
        finish(self.command(args), Some(stdin))
    }

    pub(crate) fn run_on(&self, bus: &Bus, args: &[&str]) -> Run {
        finish(self.command_on(bus, args), None)
    }

    /// The keys of the File document (none when it does not exist).
    pub(crate) fn file_keys(&self) -> Vec<String> {
        std::fs::read_to_string(self.document())
            .ok()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
            .and_then(|v| v.as_object().map(|o| o.keys().cloned().collect()))
            .unwrap_or_default()
    }

    /// `(store_key, store)` of every listed copy, sorted.
    #[track_caller]
    pub(crate) fn listed(&self) -> Vec<(String, String)> {
        let rows = self.run(&["list", "--json"]).expect(0).json();
        let mut out: Vec<(String, String)> = rows
            .as_array()
            .expect("an array")
            .iter()
            .map(|r| {
                (
                    r["store_key"].as_str().unwrap_or("?").to_owned(),
                    r["store"].as_str().unwrap_or("?").to_owned(),
                )
            })
            .collect();
        out.sort();
        out
    }
}

/// `args` followed by `more`.
pub(crate) fn with<'a>(args: &[&'a str], more: &[&'a str]) -> Vec<&'a str> {
    let mut all = args.to_vec();
    all.extend_from_slice(more);
    all
}

/// A loopback provider with one public client and one grant.
pub(crate) struct Provider {
    pub(crate) endpoint: TokenEndpoint,
    pub(crate) grant: IssuedTokens,
    pub(crate) client_id: String,
    pub(crate) url: String,
}

impl Provider {
    /// A provider whose access tokens live `lifetime`, token values starting with `prefix`.
    pub(crate) fn start(lifetime: Duration, prefix: &str) -> Provider {
        let config = EndpointConfig::default()
            .with_access_token_lifetime(lifetime)
            .with_token_prefix(prefix);
        let endpoint = TokenEndpoint::start(config).expect("start the token endpoint");
        let client_id = "cli-keyring-test".to_owned();
        endpoint.register_client(ClientRegistration::public(&client_id));
        let grant = endpoint.issue_grant(&client_id, &["read"]);
        let url = format!("{}/mcp", endpoint.issuer());
        Provider {
            endpoint,
            grant,
            client_id,
            url,
        }
    }

    /// `--server provider --url <its URL>`.
    pub(crate) fn server(&self) -> [&str; 4] {
        ["--server", "provider", "--url", &self.url]
    }

    /// The grant as a token response with the client registration, for `import`;
    /// `expires_in` overrides the grant's lifetime (seconds).
    pub(crate) fn response(&self, expires_in: Option<u64>) -> String {
        serde_json::json!({
            "access_token": self.grant.access_token,
            "token_type": "Bearer",
            "expires_in": expires_in.unwrap_or(self.grant.expires_in),
            "refresh_token": self.grant.refresh_token,
            "scope": self.grant.scope,
            "client_id": self.client_id,
            "token_endpoint": self.endpoint.token_endpoint(),
            "issuer": self.endpoint.issuer(),
        })
        .to_string()
    }

    /// Imports the grant into `home` (on its bus, under its options).
    #[track_caller]
    pub(crate) fn import(&self, home: &Home, expires_in: Option<u64>) -> Run {
        home.run_with_stdin(
            &with(&["import", "--json"], &self.server()),
            &self.response(expires_in),
        )
        .expect(0)
    }
}

/// A private D-Bus session with its own unlocked gnome-keyring, for tests that stop the
/// daemon: the session's shared daemon serves the other tests meanwhile. Ended (the
/// daemon resumed first) when dropped.
pub(crate) struct PrivateSession {
    child: Child,
    _dir: tempfile::TempDir,
    /// The session bus address.
    pub(crate) address: String,
    /// The gnome-keyring-daemon's pid.
    pub(crate) daemon: u32,
}

const PRIVATE_SESSION: &str = r#"
printf %s oauth-store-test | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1
i=0
until dbus-send --session --dest=org.freedesktop.DBus --type=method_call --print-reply \
    /org/freedesktop/DBus org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null \
    | grep -q 'boolean true'; do
  i=$((i + 1))
  if [ "$i" -gt 200 ]; then echo "gnome-keyring-daemon did not claim org.freedesktop.secrets" >&2; exit 1; fi
  sleep 0.05
done
pid=$(dbus-send --session --dest=org.freedesktop.DBus --type=method_call --print-reply \
    /org/freedesktop/DBus org.freedesktop.DBus.GetConnectionUnixProcessID string:org.freedesktop.secrets \
    | awk '/uint32/ {print $2}')
echo "BUS=$DBUS_SESSION_BUS_ADDRESS"
echo "PID=$pid"
exec cat >/dev/null
"#;

impl PrivateSession {
    /// Starts the session and waits until its daemon owns its bus name.
    pub(crate) fn start() -> Result<PrivateSession> {
        let dir = tempfile::tempdir()?;
        let home = dir.path().join("home");
        let run = dir.path().join("run");
        for d in [&home, &run] {
            std::fs::create_dir(d)?;
            std::fs::set_permissions(d, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
        }
        let mut child = Command::new("dbus-run-session")
            .args(["--", "sh", "-c", PRIVATE_SESSION])
            .env("HOME", &home)
            .env("XDG_RUNTIME_DIR", &run)
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_CACHE_HOME", home.join(".cache"))
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child.stdout.take().ok_or("piped stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let (mut address, mut daemon) = (None, None);
        while address.is_none() || daemon.is_none() {
            let Some(line) = lines.next().transpose()? else {
                let _ = child.kill();
                let _ = child.wait();
                return Err("the private session ended before it was ready".into());
            };
            if let Some(a) = line.strip_prefix("BUS=") {
                address = Some(a.to_owned());
            } else if let Some(p) = line.strip_prefix("PID=") {
                daemon = Some(p.trim().parse::<u32>()?);
            }
        }
        Ok(PrivateSession {
            child,
            _dir: dir,
            address: address.expect("read above"),
            daemon: daemon.expect("read above"),
        })
    }

    /// Sends `signal` (e.g. `STOP`, `CONT`) to the daemon.
    pub(crate) fn signal(&self, signal: &str) -> Result {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.daemon.to_string())
            .status()?;
        if !status.success() {
            return Err(format!("kill -{signal} {} failed", self.daemon).into());
        }
        Ok(())
    }
}

impl Drop for PrivateSession {
    fn drop(&mut self) {
        // A stopped daemon cannot exit with its bus.
        let _ = self.signal("CONT");
        drop(self.child.stdin.take());
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A small tmpfs mounted for one test (we run as root here and in CI), to fill up while
/// a command runs: its saves then fail with ENOSPC. Unmounted when dropped.
pub(crate) struct SmallFs {
    _dir: tempfile::TempDir,
    mount: PathBuf,
}

impl SmallFs {
    /// Mounts a tmpfs of `size` (e.g. `1m`), or says in one loud line why it cannot and
    /// returns `None` (under `CI=true` that is a failure).
    pub(crate) fn mount(test: &str, size: &str) -> Result<Option<SmallFs>> {
        let dir = tempfile::tempdir()?;
        let mount = dir.path().join("fs");
        std::fs::create_dir(&mount)?;
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(&mount)
            .output();
        let refused = match out {
            Ok(out) if out.status.success() => None,
            Ok(out) => Some(String::from_utf8_lossy(&out.stderr).trim().to_owned()),
            Err(e) => Some(e.to_string()),
        };
        if let Some(why) = refused {
            let line = format!(
                "{test}: SKIPPED: `mount -t tmpfs` was refused ({why}); run the tests as root (or with CAP_SYS_ADMIN)"
            );
            if std::env::var("CI").as_deref() == Ok("true") {
                return Err(line.into());
            }
            eprintln!("{line}");
            return Ok(None);
        }
        Ok(Some(SmallFs { _dir: dir, mount }))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.mount
    }

    /// Writes a filler file until the file system is full (ENOSPC).
    pub(crate) fn fill(&self) -> Result {
        let mut filler = std::fs::File::create(self.mount.join("filler"))?;
        let block = [0u8; 4096];
        loop {
            match filler.write_all(&block).and_then(|()| filler.sync_all()) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(28) => return Ok(()),
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Removes the filler: the file system has room again.
    pub(crate) fn free(&self) -> Result {
        Ok(std::fs::remove_file(self.mount.join("filler"))?)
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        // Lazy: a process of the test may still hold a file there.
        let _ = Command::new("umount").arg("-l").arg(&self.mount).status();
    }
}
