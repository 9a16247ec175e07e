//! Whether the keyring can be used here, and why not (DESIGN.md "Auto resolution").

use std::fmt;
use std::time::Duration;

use oauth_store_core::{StoreError, StoreKind};

use crate::OsStore;

/// Whether an OS keyring can be used, with the reason when it cannot: what
/// [`KeyringStore::probe`](crate::KeyringStore::probe) answers and `doctor` shows.
///
/// `Display` gives one sentence for a person, with what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Usability {
    /// The store answered: reads work, and a save would land in persistent storage as
    /// far as the store can tell.
    Usable,
    /// No D-Bus session bus: neither `DBUS_SESSION_BUS_ADDRESS` nor
    /// `$XDG_RUNTIME_DIR/bus` leads to one. Answered from the environment and one stat,
    /// without touching D-Bus; no daemon is ever started.
    NoSessionBus {
        /// What was looked for.
        detail: String,
    },
    /// The session bus has no Secret Service (`org.freedesktop.secrets` has no owner
    /// and cannot be activated).
    NoSecretService {
        /// What the bus answered (a D-Bus error name).
        detail: String,
    },
    /// The Secret Service has no default collection to save into (e.g. gnome-keyring
    /// without a login keyring).
    NoDefaultCollection,
    /// The default collection is locked. No unlock prompt is started: on a headless
    /// machine it never completes.
    Locked,
    /// The store refused access (a dismissed prompt, a D-Bus policy, or keyutils
    /// outside a login session).
    AccessDenied {
        /// Why, as far as the store says.
        detail: String,
    },
    /// The store did not answer within the bound: a hung daemon, or a prompt nobody
    /// answers.
    TimedOut {
        /// How long the keyring went without answering.
        waited: Duration,
    },
    /// The default collection is held in memory only (gnome-keyring's `session`
    /// collection): saved credentials would be lost when the daemon exits.
    Volatile {
        /// The collection's D-Bus object path.
        collection: String,
    },
    /// This binary cannot talk to the store (another platform, or a cargo feature off).
    NotBuiltIn {
        /// The store.
        store: OsStore,
    },
    /// Another failure of the store, described by its kind.
    Failed {
        /// What failed, never a value.
        detail: String,
    },
}

impl Usability {
    /// Whether the keyring can be used.
    pub fn is_usable(&self) -> bool {
        matches!(self, Usability::Usable)
    }

    /// A stable one-word name for logs and the drift sidecar: `usable`,
    /// `no_session_bus`, `no_secret_service`, `no_default_collection`, `locked`,
    /// `access_denied`, `timed_out`, `volatile`, `not_built_in` or `failed`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Usability::Usable => "usable",
            Usability::NoSessionBus { .. } => "no_session_bus",
            Usability::NoSecretService { .. } => "no_secret_service",
            Usability::NoDefaultCollection => "no_default_collection",
            Usability::Locked => "locked",
            Usability::AccessDenied { .. } => "access_denied",
            Usability::TimedOut { .. } => "timed_out",
            Usability::Volatile { .. } => "volatile",
            Usability::NotBuiltIn { .. } => "not_built_in",
            Usability::Failed { .. } => "failed",
        }
    }

    /// The store error for an operation that met this condition:
    /// [`StoreError::Timeout`] for [`Usability::TimedOut`] (never a reason to fall back),
    /// [`StoreError::Unavailable`] otherwise (the facade falls back to the File store).
    pub fn into_store_error(self, operation: &'static str) -> StoreError {
        match self {
            Usability::TimedOut { waited } => StoreError::Timeout {
                kind: StoreKind::Keyring,
                operation,
                waited,
            },
            other => StoreError::Unavailable {
                kind: StoreKind::Keyring,
                reason: other.to_string(),
            },
        }
    }
}

impl fmt::Display for Usability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Usability::Usable => f.write_str("usable"),
            Usability::NoSessionBus { detail } => write!(
                f,
                "no D-Bus session bus ({detail}); the Secret Service needs a desktop session or `dbus-run-session`, and none is started"
            ),
            Usability::NoSecretService { detail } => write!(
                f,
                "no Secret Service on the session bus ({detail}); start gnome-keyring, KWallet or KeePassXC"
            ),
            Usability::NoDefaultCollection => f.write_str(
                "the Secret Service has no default collection (no login keyring); create one, e.g. `echo -n PASSWORD | gnome-keyring-daemon --unlock`",
            ),
            Usability::Locked => f.write_str(
                "the keyring's default collection is locked; unlock it (log into the desktop session, or `echo -n PASSWORD | gnome-keyring-daemon --unlock`)",
            ),
            Usability::AccessDenied { detail } => write!(f, "access to the keyring was denied: {detail}"),
            Usability::TimedOut { waited } => write!(
                f,
                "the keyring did not answer within {} ms (a hung daemon, or an unlock prompt nobody answers)",
                waited.as_millis()
            ),
            Usability::Volatile { collection } => write!(
                f,
                "the keyring's default collection is kept in memory only ({collection}); credentials saved there are lost when the daemon exits"
            ),
            Usability::NotBuiltIn { store } => write!(
                f,
                "the {store} store is not built into this binary (another platform, or a cargo feature is off)"
            ),
            Usability::Failed { detail } => write!(f, "the keyring failed: {detail}"),
        }
    }
}

/// Whether a D-Bus session bus may be there, answered from the environment and at most
/// a few stats, without touching D-Bus (microseconds). `Err` says what was looked for.
///
/// Follows zbus's choice of address: `DBUS_SESSION_BUS_ADDRESS` when set, else
/// `$XDG_RUNTIME_DIR/bus`, else `/run/user/<euid>/bus`. Only `unix:path=` addresses can
/// be checked; any other kind counts as present and is left to the connection.
#[cfg(any(target_os = "linux", target_os = "freebsd"))]
pub(crate) fn session_bus_presence() -> Result<(), String> {
    use std::os::unix::fs::FileTypeExt;
    use std::path::PathBuf;

    if let Some(address) = std::env::var_os("DBUS_SESSION_BUS_ADDRESS") {
        return check_bus_address(&address.to_string_lossy());
    }
    let runtime = std::env::var_os("XDG_RUNTIME_DIR")
        .filter(|d| !d.is_empty())
        .map_or_else(
            || PathBuf::from(format!("/run/user/{}", rustix::process::geteuid().as_raw())),
            PathBuf::from,
        );
    let bus = runtime.join("bus");
    match std::fs::metadata(&bus) {
        Ok(meta) if meta.file_type().is_socket() => Ok(()),
        Ok(_) => Err(format!(
            "DBUS_SESSION_BUS_ADDRESS is not set and {} is not a socket",
            bus.display()
        )),
        Err(_) => Err(format!(
            "DBUS_SESSION_BUS_ADDRESS is not set and {} does not exist",
            bus.display()
        )),
    }
}

/// Checks a `DBUS_SESSION_BUS_ADDRESS` value: `;`-separated alternatives, of which
/// `unix:path=` ones are stat'ed.
#[cfg(any(target_os = "linux", target_os = "freebsd"))]
fn check_bus_address(address: &str) -> Result<(), String> {
    let mut problems = Vec::new();
    for alternative in address.split(';').filter(|a| !a.trim().is_empty()) {
        let (transport, params) = alternative.split_once(':').unwrap_or((alternative, ""));
        let path = params
            .split(',')
            .find_map(|kv| kv.strip_prefix("path="))
            .map(unescape_address_value);
        match (transport, path) {
            ("unix", Some(path)) if std::path::Path::new(&path).exists() => return Ok(()),
            ("unix", Some(path)) => problems.push(format!("{path} does not exist")),
            // zbus has no autolaunch on Unix, and launching a daemon is what this
            // check exists to prevent.
            ("autolaunch", _) => problems.push("autolaunch is never used".to_owned()),
            ("disabled", _) => problems.push("the address is `disabled:`".to_owned()),
            _ => return Ok(()),
        }
    }
    if problems.is_empty() {
        problems.push("it is empty".to_owned());
    }
    Err(format!(
        "DBUS_SESSION_BUS_ADDRESS leads to no bus: {}",
        problems.join("; ")
    ))
}

/// Undoes D-Bus address escaping (`%XX`).
#[cfg(any(target_os = "linux", target_os = "freebsd"))]
fn unescape_address_value(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(&h), Some(&l)) = (bytes.get(i + 1), bytes.get(i + 2))
            && let (Some(h), Some(l)) = (hex(h), hex(l))
        {
            out.push(u8::try_from(h * 16 + l).expect("two hex digits fit a byte"));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
