//! Finding the test Secret Service, and starting private D-Bus sessions of our own.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Set to `1` by `run-with-secret-service.sh` (and `cargo xtask test`).
pub(crate) const SESSION_ENV: &str = "OAUTH_STORE_TEST_KEYRING_SESSION";

/// Whether this run is inside the script's session; otherwise prints one loud skip line
/// for `test` (straight to stderr, past libtest's capture) and returns false.
pub(crate) fn available(test: &str) -> bool {
    if std::env::var(SESSION_ENV).is_ok_and(|v| v == "1") {
        return true;
    }
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: needs a Secret Service: run oauth-store-keyring/tests/run-with-secret-service.sh \
         (it needs `apt-get install -y gnome-keyring dbus`); `cargo xtask test` runs it"
    );
    false
}

/// What a private session starts before the child runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Daemon {
    /// gnome-keyring with its login keyring created or unlocked (password `oauth-store-test`).
    Unlocked,
    /// gnome-keyring started without unlocking anything.
    Started,
    /// No gnome-keyring, and a bus that cannot activate one.
    Nothing,
}

const SESSION_SCRIPT: &str = r#"
mode=$1; shift
case "$mode" in
  unlocked) printf %s oauth-store-test | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1 ;;
  started) gnome-keyring-daemon --start --components=secrets >/dev/null 2>&1 ;;
  nothing) exec "$@" ;;
esac
# gnome-keyring-daemon returns before it owns its bus name: a call before that would
# activate a second daemon.
i=0
until dbus-send --session --dest=org.freedesktop.DBus --type=method_call --print-reply \
    /org/freedesktop/DBus org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null \
    | grep -q 'boolean true'; do
  i=$((i + 1))
  if [ "$i" -gt 200 ]; then echo "gnome-keyring-daemon did not claim org.freedesktop.secrets" >&2; exit 1; fi
  sleep 0.05
done
exec "$@"
"#;

/// A session bus that cannot activate anything: the standard session configuration
/// without its service directories.
const NO_ACTIVATION_CONFIG: &str = r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:tmpdir=/tmp</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#;

/// `command` wrapped in a private `dbus-run-session` whose HOME is `dir/home` (kept
/// across sessions in `dir`) and whose runtime directory is fresh, with `daemon`
/// started and owning its bus name before `command` runs.
pub(crate) fn nested(dir: &Path, daemon: Daemon, command: &Command) -> std::io::Result<Command> {
    let home = dir.join("home");
    std::fs::create_dir_all(&home)?;
    let runtime = tempfile::Builder::new()
        .prefix("run")
        .tempdir_in(dir)?
        .keep();
    let mut wrapped = Command::new("dbus-run-session");
    if daemon == Daemon::Nothing {
        let config = dir.join("no-activation.conf");
        std::fs::write(&config, NO_ACTIVATION_CONFIG)?;
        wrapped.arg(format!("--config-file={}", config.display()));
    }
    let mode = match daemon {
        Daemon::Unlocked => "unlocked",
        Daemon::Started => "started",
        Daemon::Nothing => "nothing",
    };
    wrapped
        .args(["--", "sh", "-c", SESSION_SCRIPT, "sh", mode])
        .arg(command.get_program())
        .args(command.get_args());
    for (name, value) in command.get_envs() {
        match value {
            Some(value) => wrapped.env(name, value),
            None => wrapped.env_remove(name),
        };
    }
    wrapped
        .env("HOME", &home)
        .env("XDG_RUNTIME_DIR", &runtime)
        .env("XDG_DATA_HOME", home.join(".local/share"))
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .env_remove("DBUS_SESSION_BUS_ADDRESS");
    Ok(wrapped)
}

/// The first executable called `name` on `PATH`.
pub(crate) fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}
