//! `cargo xtask test`: the project's test run, the command README.md gives.
//!
//! 1. One line per external test peer: present, or how to install it. The npm peers
//!    ([`NPM_PEERS`]: the OAuth server, the MCP server, the Codex CLI) are installed here
//!    when their lock file is there and `npm` is on `PATH`, so the command works on a
//!    fresh machine.
//! 2. `cargo test --workspace --no-fail-fast`: every crate, all test targets and
//!    doctests. Tests that need a peer check for it themselves: without it they print
//!    one loud line naming the install command and skip, or fail when `CI=true`. Then
//!    the facade's doctests alone, without the features other members turn on for it.
//! 3. The keyring session ([`keyring_tests`]): the crates whose tests need a Secret
//!    Service (`oauth-store-keyring`, `oauth-store-secrets`, left out of step 2) and the
//!    CLI's `keyring` test target (feature `keyring-session`, so step 2 leaves it out),
//!    inside one private D-Bus session with an unlocked gnome-keyring.
//! 4. One line, `N passed, N failed, N skipped`, over every step ([`Tally`]).

use std::path::{Path, PathBuf};

use crate::Error;
use crate::step::{self, Step, Tally};
use crate::workspace::{Metadata, Workspace};

/// The crate whose tests need a Secret Service (gnome-keyring on a D-Bus session).
const KEYRING_CRATE: &str = "oauth-store-keyring";
/// The crates whose whole test run belongs in the keyring session (their tests that
/// need it skip without `OAUTH_STORE_TEST_KEYRING_SESSION=1`, so the workspace run
/// leaves them out rather than running them twice).
const SESSION_CRATES: [&str; 2] = [KEYRING_CRATE, "oauth-store-secrets"];
/// A test target run in the keyring session, besides [`SESSION_CRATES`]: (package,
/// `[[test]]` name, the feature it requires). The workspace run does not enable the
/// feature, so cargo leaves the target out there: it runs once, in the session.
const SESSION_TARGET: (&str, &str, &str) = ("oauth-store-cli", "keyring", "keyring-session");
/// Set to `1` in the keyring run: the tests may rely on an unlocked Secret Service.
const KEYRING_SESSION_ENV: &str = "OAUTH_STORE_TEST_KEYRING_SESSION";

/// A test peer installed from the npm registry with `npm ci --prefix DIR`.
struct NpmPeer {
    /// Its directory (package.json and package-lock.json), from the workspace root.
    dir: &'static str,
    /// A file under `dir` that exists once it is installed.
    marker: &'static str,
    /// How the peer line names it.
    label: &'static str,
    /// Whether it runs on node (the Codex CLI is a static binary that does not).
    needs_node: bool,
}

/// The npm peers, in the order their lines are printed.
const NPM_PEERS: [NpmPeer; 3] = [
    NpmPeer {
        dir: "test-peers/oidc",
        marker: "node_modules/oidc-provider/package.json",
        label: "peer oidc (npm oidc-provider in test-peers/oidc/node_modules, node >= 20)",
        needs_node: true,
    },
    NpmPeer {
        dir: "test-peers/mcp-server",
        marker: "node_modules/@modelcontextprotocol/sdk/package.json",
        label: "peer mcp-server (npm @modelcontextprotocol/sdk in test-peers/mcp-server/node_modules)",
        needs_node: true,
    },
    NpmPeer {
        dir: "test-peers/codex",
        marker: "node_modules/@openai/codex/package.json",
        label: "peer codex (npm @openai/codex, the released Codex CLI, in test-peers/codex/node_modules)",
        needs_node: false,
    },
];
const KEYRING_INSTALL: &str = "apt-get install -y dbus gnome-keyring libsecret-tools";

/// Whether this run is CI (`CI` set to anything but empty, `0` or `false`): there a
/// missing peer fails instead of skipping.
pub(crate) fn is_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false"))
}

/// The first executable called `name` on `PATH`.
fn which(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// `cargo xtask test`: every step runs (also after one failed, and `cargo test` with
/// `--no-fail-fast`), and the run ends with one line, `N passed, N failed, N skipped`,
/// counting every test of every step, the keyring session's included (a build that
/// fails counts as one failure; a test that skips itself for a missing peer, or
/// libtest's ignored ones, as skipped).
///
/// # Errors
/// [`Error::TestsFailed`] (already reported by the summary line) when a step failed;
/// [`Error::PeerMissing`] only under `CI=true` for a peer a step requires.
pub(crate) fn run(ws: &Workspace) -> Result<(), Error> {
    let ci = is_ci();
    let metadata = ws.metadata()?;
    let keyring_crate = metadata.has_member(KEYRING_CRATE);
    step::header(&format!(
        "test peers{}",
        if ci {
            " (CI=true: a test whose peer is missing fails)"
        } else {
            ""
        }
    ));
    for peer in &NPM_PEERS {
        npm_peer(ws, ci, peer)?;
    }
    keyring_peer_line(keyring_crate);
    chromium_peer_line();
    postgres_peer_line();

    let mut tally = Tally::default();
    let mut failed: Vec<String> = Vec::new();
    // The session crates run in step 3, inside the keyring session; the CLI's keyring
    // target needs its feature, so the workspace run leaves it out by itself.
    let mut args = vec!["test", "--workspace", "--no-fail-fast"];
    for krate in SESSION_CRATES {
        if metadata.has_member(krate) {
            args.extend(["--exclude", krate]);
        }
    }
    if let Err(e) = step::run_counted(ws.cargo(&args), &mut tally) {
        failed.push(e.to_string());
    }
    // The facade alone, without the features other members turn on for it: its
    // doctests hold the compile-fail proof that coordination cannot be switched off
    // without the `dangerous-uncoordinated` feature.
    if let Err(e) = step::run_counted(
        ws.cargo(&["test", "-p", "oauth-store", "--doc"]),
        &mut tally,
    ) {
        failed.push(e.to_string());
    }
    match keyring_tests(ws, &metadata, ci, &mut tally) {
        Ok(()) => {}
        Err(e @ Error::PeerMissing { .. }) => return Err(e),
        Err(e) => failed.push(e.to_string()),
    }
    println!();
    for failure in &failed {
        println!("FAILED: {failure}");
    }
    println!("{}", tally.line());
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Error::TestsFailed)
    }
}

fn npm_peer_present(root: &Path, peer: &NpmPeer) -> bool {
    root.join(peer.dir).join(peer.marker).is_file()
}

/// Reports an npm peer, installing it first when that is possible.
fn npm_peer(ws: &Workspace, ci: bool, peer: &NpmPeer) -> Result<(), Error> {
    let root = ws.root();
    let label = peer.label;
    let install_command = format!("npm ci --prefix {}", peer.dir);
    let can_install =
        root.join(peer.dir).join("package-lock.json").is_file() && which("npm").is_some();
    if !npm_peer_present(root, peer) && can_install {
        println!("{label}: missing; installing it");
        let mut install = Step::new(
            "npm",
            "npm",
            &["ci", "--prefix", peer.dir, "--no-audit", "--no-fund"],
        );
        install.command_mut().current_dir(root);
        if let Err(e) = step::run(install) {
            if ci {
                return Err(e);
            }
            println!("WARNING: {e}");
        }
    }
    if !npm_peer_present(root, peer) {
        println!(
            "{label}: MISSING: its tests skip (fail under CI=true); install: {install_command}"
        );
    } else if peer.needs_node && which("node").is_none() {
        println!(
            "{label}: installed, but `node` is not on PATH: its tests skip (fail under CI=true)"
        );
    } else {
        println!("{label}: present");
    }
    Ok(())
}

fn keyring_peer_present() -> bool {
    ["dbus-run-session", "dbus-send", "gnome-keyring-daemon"]
        .iter()
        .all(|tool| which(tool).is_some())
}

fn keyring_peer_line(keyring_crate: bool) {
    let label = "peer keyring (gnome-keyring-daemon + dbus-run-session + dbus-send)";
    let users = if keyring_crate {
        "oauth-store-keyring, oauth-store-secrets, oauth-store-cli --test keyring"
    } else {
        "no crate yet (oauth-store-keyring does not exist)"
    };
    if keyring_peer_present() {
        println!("{label}: present; used by {users}");
    } else {
        println!("{label}: MISSING; needed by {users}; install: {KEYRING_INSTALL}");
    }
}

/// Reports the headless browser of the login tests (Debian's `chromium`); those tests
/// skip loudly without it, and fail under `CI=true`.
fn chromium_peer_line() {
    let label = "peer chromium (a real headless browser, for the login tests)";
    let users = "oauth-store (login), oauth-store-cli --test oidc (login)";
    if which("chromium").is_some() {
        println!("{label}: present; used by {users}");
    } else {
        println!("{label}: MISSING; needed by {users}; install: apt-get install chromium");
    }
}

/// The PostgreSQL server binaries the `oauth-store-postgres` and CLI tests start a
/// server from (`oauth_store_testkit::postgres`): present, or how to install them.
fn postgres_peer_line() {
    let label = "peer postgresql (initdb + postgres)";
    let users = "oauth-store-postgres, oauth-store-cli (--store postgres)";
    let versions = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| e.path().join("bin/postgres").is_file());
    let on_path = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|d| d.join("initdb").is_file()));
    if versions || on_path {
        println!("{label}: present; used by {users}");
    } else {
        println!("{label}: MISSING; needed by {users}; install: apt-get install postgresql");
    }
}

/// The `cargo test` commands of the keyring session: the session crates that exist,
/// then the CLI's keyring target when it exists.
fn session_commands(metadata: &Metadata) -> Vec<Vec<&'static str>> {
    let mut crates = vec!["test", "--no-fail-fast"];
    for krate in SESSION_CRATES {
        if metadata.has_member(krate) {
            crates.extend(["-p", krate]);
        }
    }
    let mut commands = vec![crates];
    let (package, target, feature) = SESSION_TARGET;
    let has_target = metadata
        .member(package)
        .and_then(|p| p.get("targets"))
        .and_then(serde_json::Value::as_array)
        .is_some_and(|targets| {
            targets.iter().any(|t| {
                t.get("name").and_then(serde_json::Value::as_str) == Some(target)
                    && t.get("kind")
                        .and_then(serde_json::Value::as_array)
                        .is_some_and(|k| k.iter().any(|k| k == "test"))
            })
        });
    if has_target {
        commands.push(vec![
            "test",
            "--no-fail-fast",
            "-p",
            package,
            "--test",
            target,
            "--features",
            feature,
        ]);
    }
    commands
}

/// Inside the session: create and unlock the login keyring (the password comes on
/// stdin; an empty one would make it prompt, which fails headless), wait until the
/// daemon owns its bus name (it returns before that, and a call in between would
/// activate a second daemon), then run each command: `$1` is cargo, each later
/// argument one command's arguments separated by spaces (package and target names,
/// which have none), stopping at the first failure.
const SESSION_SCRIPT: &str = r#"
printf %s oauth-store-test | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1
i=0
until dbus-send --session --dest=org.freedesktop.DBus --type=method_call --print-reply \
    /org/freedesktop/DBus org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null \
    | grep -q 'boolean true'; do
  i=$((i + 1))
  if [ "$i" -gt 200 ]; then echo "gnome-keyring-daemon did not claim org.freedesktop.secrets" >&2; exit 1; fi
  sleep 0.05
done
cargo=$1; shift
for command in "$@"; do
  echo "==> (in the keyring session) cargo $command"
  "$cargo" $command || exit $?
done
"#;

/// The keyring session: `cargo test -p oauth-store-keyring -p oauth-store-secrets` and
/// `cargo test -p oauth-store-cli --test keyring`, one after the other inside one
/// `dbus-run-session` with an unlocked gnome-keyring and a temporary `HOME` and XDG
/// directories, so the tests use a real Secret Service and never the user's keyring.
///
/// A no-op until the keyring crate exists. Without the peer it runs the session crates'
/// tests plainly, where the keyring tests skip loudly (fail under `CI=true`, as does
/// this step). The tests see `OAUTH_STORE_TEST_KEYRING_SESSION=1` inside the session.
///
/// # Errors
/// The failing step; [`Error::PeerMissing`] under `CI=true` without the peer.
fn keyring_tests(
    ws: &Workspace,
    metadata: &Metadata,
    ci: bool,
    tally: &mut Tally,
) -> Result<(), Error> {
    if !metadata.has_member(KEYRING_CRATE) {
        return Ok(());
    }
    let commands = session_commands(metadata);
    if !keyring_peer_present() {
        if ci {
            return Err(Error::PeerMissing {
                peer: "keyring (gnome-keyring-daemon + dbus-run-session + dbus-send)",
                install: KEYRING_INSTALL,
            });
        }
        println!("SKIPPING the keyring session: install: {KEYRING_INSTALL}");
        // Run plainly, where each session test says once that it skips.
        let mut result = Ok(());
        for command in &commands {
            if let Err(e) = step::run_counted(ws.cargo(command), tally) {
                result = Err(e);
            }
        }
        return result;
    }
    let io = |what: &str| {
        let what = what.to_owned();
        move |source| Error::Io { what, source }
    };
    let tmp = tempfile::Builder::new()
        .prefix("oauth-store-keyring-run")
        .tempdir()
        .map_err(io("creating the keyring run's temporary home"))?;
    let home = tmp.path().join("home");
    let runtime = tmp.path().join("run");
    for dir in [&home, &runtime] {
        std::fs::create_dir(dir).map_err(io("creating the keyring run's directories"))?;
        std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .map_err(io("setting the keyring run's directories to 0700"))?;
    }
    // The new HOME would move cargo's and rustup's homes: pin them where they are.
    let real_home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let cargo_home =
        std::env::var_os("CARGO_HOME").map_or_else(|| real_home.join(".cargo"), PathBuf::from);
    let rustup_home =
        std::env::var_os("RUSTUP_HOME").map_or_else(|| real_home.join(".rustup"), PathBuf::from);
    let cargo = ws.cargo_program().to_string_lossy().into_owned();
    let joined: Vec<String> = commands.iter().map(|c| c.join(" ")).collect();
    let mut args = vec!["--", "sh", "-c", SESSION_SCRIPT, "sh", cargo.as_str()];
    args.extend(joined.iter().map(String::as_str));
    let label = format!(
        "{KEYRING_SESSION_ENV}=1 dbus-run-session (a private session bus, an unlocked gnome-keyring, a temporary HOME): {}",
        joined
            .iter()
            .map(|c| format!("cargo {c}"))
            .collect::<Vec<_>>()
            .join("; ")
    );
    let mut run = Step::new("dbus-run-session", "dbus-run-session", &args)
        .env(KEYRING_SESSION_ENV, "1")
        .labelled(&label);
    run.command_mut()
        .current_dir(ws.root())
        .env("HOME", &home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_DATA_HOME", home.join(".local/share"))
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .env("XDG_RUNTIME_DIR", &runtime)
        .env("CARGO_HOME", cargo_home)
        .env("RUSTUP_HOME", rustup_home)
        .env_remove("DBUS_SESSION_BUS_ADDRESS");
    step::run_counted(run, tally)
}
