//! A real PostgreSQL server for tests, from the Debian `postgresql` package's binaries:
//! `initdb` and `postgres` in a temporary directory, on a unix socket directory and a
//! random 127.0.0.1 port, as an unprivileged user (the server refuses to run as root:
//! under root it runs as `nobody` through `setpriv`). One server per test binary
//! ([`PgServer::shared`]); it dies with the test process (`--pdeathsig`, sent when the
//! thread that owns it, which lives as long as the process, goes).
//!
//! Missing binaries: one loud `SKIPPED:` line naming `apt-get install postgresql`, or a
//! failure under `CI=true` ([`crate::peers::skip`]). Everything else here panics on
//! failure: it is for tests.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The superuser's password on TCP (unix socket connections are trusted).
pub const SUPERUSER_PASSWORD: &str = "pg-test-superuser-secret";

/// A running test server.
#[derive(Debug)]
pub struct PgServer {
    dir: PathBuf,
    socket_dir: PathBuf,
    port: u16,
    bin: PathBuf,
    control: mpsc::Sender<(Control, mpsc::Sender<()>)>,
}

#[derive(Debug)]
enum Control {
    Start,
    Stop,
}

/// The directory of the server binaries: the newest `/usr/lib/postgresql/<v>/bin`, else
/// the directory of `initdb` on `PATH`.
fn binaries() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("postgres").is_file().then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .find(|d| d.join("initdb").is_file() && d.join("postgres").is_file())
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// `command` run as the unprivileged user when this process is root, dying with its
/// parent thread.
fn unprivileged(bin: &Path, program: &str) -> Command {
    let mut command = Command::new("setpriv");
    if is_root() {
        command.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"]);
    }
    command.args(["--pdeathsig", "QUIT", "--"]);
    command.arg(bin.join(program));
    command
}

/// Removes the directories of earlier test processes that are gone (their servers died
/// with them).
fn remove_stale_directories() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("oauth-store-pg-"))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !Path::new("/proc").join(pid.to_string()).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl PgServer {
    /// The test binary's server, started on first use; `None` (after one loud skip line)
    /// when the binaries are not installed.
    pub fn shared() -> Option<&'static PgServer> {
        static SERVER: OnceLock<Option<PgServer>> = OnceLock::new();
        SERVER.get_or_init(PgServer::start_new).as_ref()
    }

    /// A server of its own, for a test that stops and restarts it
    /// ([`PgServer::stop`], [`PgServer::start_again`]) without disturbing the others;
    /// `None` (after one loud skip line) without the binaries. It too dies with the
    /// test process.
    pub fn start_new() -> Option<PgServer> {
        PgServer::start_with(false)
    }

    /// As [`PgServer::start_new`], with `fsync` on when `durable` (benchmarks, so a save
    /// costs what it costs on a real server); the tests' servers run without it.
    pub fn start_with(durable: bool) -> Option<PgServer> {
        PgServer::start_inner(durable, None)
    }

    /// A server of its own that also takes TLS connections with `cert_pem` (its
    /// certificate chain) and `key_pem` (its private key), for the tests of certificate
    /// verification.
    pub fn start_tls(cert_pem: &str, key_pem: &str) -> Option<PgServer> {
        PgServer::start_inner(false, Some((cert_pem, key_pem)))
    }

    fn start_inner(durable: bool, tls: Option<(&str, &str)>) -> Option<PgServer> {
        remove_stale_directories();
        let Some(bin) = binaries() else {
            crate::peers::skip(
                "the PostgreSQL server binaries (initdb, postgres) are not installed; install them with `apt-get install postgresql`",
            );
            return None;
        };
        let dir = std::env::temp_dir().join(format!(
            "oauth-store-pg-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0)
        ));
        let socket_dir = dir.join("socket");
        std::fs::create_dir_all(&socket_dir).expect("server directory");
        let pwfile = dir.join("pwfile");
        std::fs::write(&pwfile, SUPERUSER_PASSWORD).expect("pwfile");
        let mut tls_settings: Vec<String> = Vec::new();
        if let Some((cert, key)) = tls {
            let (cert_path, key_path) = (dir.join("server.crt"), dir.join("server.key"));
            std::fs::write(&cert_path, cert).expect("server certificate");
            std::fs::write(&key_path, key).expect("server key");
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                // The server refuses a key readable by others.
                std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600))
                    .expect("chmod key");
            }
            tls_settings = vec![
                "-c".into(),
                "ssl=on".into(),
                "-c".into(),
                format!("ssl_cert_file={}", cert_path.display()),
                "-c".into(),
                format!("ssl_key_file={}", key_path.display()),
            ];
        }
        if is_root() {
            let status = Command::new("chown")
                .args(["-R", "nobody:nogroup"])
                .arg(&dir)
                .status()
                .expect("chown");
            assert!(status.success(), "chown of the server directory");
        }
        let init = unprivileged(&bin, "initdb")
            .args(["-D"])
            .arg(dir.join("data"))
            .args([
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "-E",
                "UTF8",
                "--no-sync",
            ])
            .arg(format!("--pwfile={}", pwfile.display()))
            .stdout(Stdio::null())
            .output()
            .expect("initdb runs");
        assert!(
            init.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&init.stderr)
        );
        let port = free_port();
        let (control, commands) = mpsc::channel::<(Control, mpsc::Sender<()>)>();
        let server = PgServer {
            dir: dir.clone(),
            socket_dir,
            port,
            bin: bin.clone(),
            control,
        };
        let (data, sockets, log) = (
            dir.join("data"),
            server.socket_dir.clone(),
            dir.join("server.log"),
        );
        // The thread that owns the server lives as long as the process, so the server's
        // parent-death signal comes when the test process exits, not when a test ends.
        let fsync = if durable { "fsync=on" } else { "fsync=off" };
        std::thread::Builder::new()
            .name("postgres-server".into())
            .spawn(move || {
                let mut child: Option<Child> = None;
                for (command, done) in commands {
                    match command {
                        Control::Start => {
                            let log = std::fs::OpenOptions::new()
                                .create(true)
                                .append(true)
                                .open(&log)
                                .expect("server log");
                            child = Some(
                                unprivileged(&bin, "postgres")
                                    .arg("-D")
                                    .arg(&data)
                                    .args(["-c", "listen_addresses=127.0.0.1", "-c"])
                                    .arg(format!("unix_socket_directories={}", sockets.display()))
                                    .args([
                                        "-c",
                                        &format!("port={port}"),
                                        "-c",
                                        "max_connections=200",
                                        "-c",
                                        fsync,
                                    ])
                                    .args(&tls_settings)
                                    .stdout(Stdio::null())
                                    .stderr(log)
                                    .spawn()
                                    .expect("postgres starts"),
                            );
                        }
                        Control::Stop => {
                            if let Some(mut c) = child.take() {
                                // Fast shutdown: sessions are ended, as a restart ends them.
                                let _ = Command::new("kill")
                                    .args(["-INT", &c.id().to_string()])
                                    .status();
                                let _ = c.wait();
                            }
                        }
                    }
                    let _ = done.send(());
                }
            })
            .expect("server thread");
        server.start_again();
        Some(server)
    }

    fn send(&self, command: Control) {
        let (done, wait) = mpsc::channel();
        self.control.send((command, done)).expect("server thread");
        wait.recv().expect("server thread answers");
    }

    /// Starts the server (again, after [`PgServer::stop`]) and waits until it accepts
    /// connections.
    pub fn start_again(&self) {
        self.send(Control::Start);
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if self.psql_status("postgres", "SELECT 1") {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "the test PostgreSQL server did not start; see {}",
            self.dir.join("server.log").display()
        );
    }

    /// Stops the server (fast shutdown: every session ends).
    pub fn stop(&self) {
        self.send(Control::Stop);
    }

    /// The 127.0.0.1 port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The unix socket directory.
    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    /// A new, empty database with a role of its own (password `<name>-password`, owner
    /// of the database), for one test: its URL over TCP as that role, without the
    /// password (give it through a passfile, [`PgServer::passfile`]) when
    /// `with_password` is false.
    pub fn database(&self, prefix: &str, with_password: bool) -> TestDatabase {
        static NEXT: AtomicU32 = AtomicU32::new(1);
        let name = format!(
            "{prefix}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        )
        .to_lowercase()
        .replace(|c: char| !c.is_ascii_alphanumeric() && c != '_', "_");
        let password = format!("{name}-password");
        self.psql(
            "postgres",
            &format!("CREATE ROLE {name} LOGIN PASSWORD '{password}'"),
        );
        self.psql("postgres", &format!("CREATE DATABASE {name} OWNER {name}"));
        let url = if with_password {
            format!(
                "postgresql://{name}:{password}@127.0.0.1:{}/{name}",
                self.port
            )
        } else {
            format!("postgresql://{name}@127.0.0.1:{}/{name}", self.port)
        };
        TestDatabase {
            name,
            password,
            url,
        }
    }

    /// Runs `sql` in `database` as the superuser over the unix socket; its output
    /// (unaligned, tuples only). Panics when psql fails.
    pub fn psql(&self, database: &str, sql: &str) -> String {
        let out = self
            .psql_command(database, sql)
            .output()
            .expect("psql runs");
        assert!(
            out.status.success(),
            "psql `{sql}` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn psql_status(&self, database: &str, sql: &str) -> bool {
        self.psql_command(database, sql)
            .stderr(Stdio::null())
            .output()
            .is_ok_and(|o| o.status.success())
    }

    fn psql_command(&self, database: &str, sql: &str) -> Command {
        let mut command = Command::new(self.bin.join("psql"));
        command
            .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(&self.socket_dir)
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                database,
                "-c",
                sql,
            ])
            .stdin(Stdio::null());
        command
    }

    /// A 0600 passfile in `dir` holding `database`'s password for 127.0.0.1.
    pub fn passfile(&self, dir: &Path, database: &TestDatabase) -> PathBuf {
        let path = dir.join("pgpass");
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&path)
            .expect("passfile");
        writeln!(
            file,
            "127.0.0.1:{}:{}:{}:{}",
            self.port, database.name, database.name, database.password
        )
        .expect("passfile");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        }
        path
    }
}

/// A database of [`PgServer::database`].
#[derive(Debug, Clone)]
pub struct TestDatabase {
    /// Its name, also its role's.
    pub name: String,
    /// The role's password.
    pub password: String,
    /// Its URL over 127.0.0.1.
    pub url: String,
}
