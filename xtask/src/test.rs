//! `cargo xtask test`: the project's test run, the command README.md gives.
//!
//! 1. One line per external test peer: present, or how to install it. The OAuth peer
//!    (`oidc-provider` from npm) is installed here when its lock file is there and
//!    `npm` is on `PATH`, so the command works on a fresh machine.
//! 2. `cargo test --workspace`: every crate, all test targets and doctests. Tests that
//!    need a peer check for it themselves: without it they print one loud line naming
//!    the install command and skip, or fail when `CI=true`.
//! 3. The keyring run ([`keyring_tests`]), once `oauth-store-keyring` exists.

use std::path::{Path, PathBuf};

use crate::Error;
use crate::step::{self, Step};
use crate::workspace::{Metadata, Workspace};

/// The crate whose tests need a Secret Service (gnome-keyring on a D-Bus session).
const KEYRING_CRATE: &str = "oauth-store-keyring";
/// Set to `1` in the keyring run: the tests may rely on an unlocked Secret Service.
const KEYRING_SESSION_ENV: &str = "OAUTH_STORE_TEST_KEYRING_SESSION";

const OIDC_DIR: &str = "test-peers/oidc";
const OIDC_INSTALL: &str = "npm ci --prefix test-peers/oidc";
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

/// `cargo xtask test`.
///
/// # Errors
/// The first failing step; [`Error::PeerMissing`] only under `CI=true` for a peer a
/// step requires.
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
    oidc_peer(ws, ci)?;
    keyring_peer_line(keyring_crate);

    // The keyring crate runs on its own in step 3, inside its session.
    let mut args = vec!["test", "--workspace"];
    if keyring_crate {
        args.extend(["--exclude", KEYRING_CRATE]);
    }
    step::run(ws.cargo(&args))?;
    keyring_tests(ws, &metadata, ci)?;
    Ok(())
}

fn oidc_present(root: &Path) -> bool {
    root.join(OIDC_DIR)
        .join("node_modules/oidc-provider/package.json")
        .is_file()
}

/// Reports the OAuth peer, installing it first when that is possible.
fn oidc_peer(ws: &Workspace, ci: bool) -> Result<(), Error> {
    let root = ws.root();
    let label = "peer oidc (npm oidc-provider in test-peers/oidc/node_modules, node >= 20)";
    let can_install =
        root.join(OIDC_DIR).join("package-lock.json").is_file() && which("npm").is_some();
    if !oidc_present(root) && can_install {
        println!("{label}: missing; installing it");
        let mut install = Step::new(
            "npm",
            "npm",
            &["ci", "--prefix", OIDC_DIR, "--no-audit", "--no-fund"],
        );
        install.command_mut().current_dir(root);
        if let Err(e) = step::run(install) {
            if ci {
                return Err(e);
            }
            println!("WARNING: {e}");
        }
    }
    if !oidc_present(root) {
        println!("{label}: MISSING: its tests skip (fail under CI=true); install: {OIDC_INSTALL}");
    } else if which("node").is_none() {
        println!(
            "{label}: installed, but `node` is not on PATH: its tests skip (fail under CI=true)"
        );
    } else {
        println!("{label}: present");
    }
    Ok(())
}

fn keyring_peer_present() -> bool {
    which("dbus-run-session").is_some() && which("gnome-keyring-daemon").is_some()
}

fn keyring_peer_line(keyring_crate: bool) {
    let label = "peer keyring (gnome-keyring-daemon + dbus-run-session)";
    let users = if keyring_crate {
        KEYRING_CRATE
    } else {
        "no crate yet (oauth-store-keyring does not exist)"
    };
    if keyring_peer_present() {
        println!("{label}: present; used by {users}");
    } else {
        println!("{label}: MISSING; needed by {users}; install: {KEYRING_INSTALL}");
    }
}

/// The keyring run: `cargo test -p oauth-store-keyring` on its own, inside
/// `dbus-run-session` with an unlocked gnome-keyring and a temporary `HOME` and XDG
/// directories, so its tests use a real Secret Service and never the user's keyring.
///
/// A no-op until the crate exists. Without the peer it runs the crate's tests plainly,
/// where the keyring tests skip loudly (fail under `CI=true`, as does this step).
/// The tests see `OAUTH_STORE_TEST_KEYRING_SESSION=1` inside the session.
///
/// # Errors
/// The failing step; [`Error::PeerMissing`] under `CI=true` without the peer.
fn keyring_tests(ws: &Workspace, metadata: &Metadata, ci: bool) -> Result<(), Error> {
    if !metadata.has_member(KEYRING_CRATE) {
        return Ok(());
    }
    if !keyring_peer_present() {
        if ci {
            return Err(Error::PeerMissing {
                peer: "keyring (gnome-keyring-daemon + dbus-run-session)",
                install: KEYRING_INSTALL,
            });
        }
        println!("SKIPPING the keyring session: install: {KEYRING_INSTALL}");
        return step::run(ws.cargo(&["test", "-p", KEYRING_CRATE]));
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
    // gnome-keyring creates and unlocks a login keyring with the password read from
    // stdin (an empty one makes it prompt, which fails headless), then the cargo
    // command runs on that session bus. The daemon returns before it owns its bus name,
    // and a call in between would D-Bus-activate a second, locked daemon: wait for the
    // name first (as oauth-store-keyring/tests/run-with-secret-service.sh does).
    let script = "printf 'oauth-store-test' | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1 || exit 2; \
        i=0; until dbus-send --session --dest=org.freedesktop.DBus --type=method_call --print-reply \
        /org/freedesktop/DBus org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null \
        | grep -q 'boolean true'; do i=$((i + 1)); \
        if [ \"$i\" -gt 200 ]; then echo 'gnome-keyring-daemon did not claim org.freedesktop.secrets' >&2; exit 2; fi; \
        sleep 0.05; done; exec \"$@\"";
    let cargo = ws.cargo_program().to_string_lossy().into_owned();
    let mut run = Step::new(
        "dbus-run-session",
        "dbus-run-session",
        &[
            "--",
            "sh",
            "-c",
            script,
            "sh",
            &cargo,
            "test",
            "-p",
            KEYRING_CRATE,
        ],
    )
    .env(KEYRING_SESSION_ENV, "1");
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
    step::run(run)
}
