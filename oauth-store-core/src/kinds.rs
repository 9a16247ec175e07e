//! Which store, which mode, which keyring backend, and why a store was chosen.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Generates `as_str`, `Display` and `FromStr` from one table of stable names.
macro_rules! named_enum {
    ($ty:ident { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// The stable name used on the command line, in documents and in logs.
            pub fn as_str(&self) -> &'static str {
                match self { $(Self::$variant => $name),+ }
            }
            /// Every value, in declaration order.
            pub const ALL: &'static [$ty] = &[$(Self::$variant),+];
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl FromStr for $ty {
            type Err = UnknownName;
            fn from_str(s: &str) -> Result<Self, UnknownName> {
                match s {
                    $($name => Ok(Self::$variant),)+
                    _ => Err(UnknownName { what: stringify!($ty), name: s.to_owned() }),
                }
            }
        }
    };
}

/// A name that is not one of a type's stable names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{name}`")]
pub struct UnknownName {
    /// The type that was parsed.
    pub what: &'static str,
    /// The name that did not match.
    pub name: String,
}

/// A kind of credential store: one of this project's three, or another backend's
/// (a database, a vault) under a name of its own.
///
/// `#[non_exhaustive]`: match with a wildcard arm. Names are stable: they appear on
/// documents (the drift sidecar), in output and in logs.
///
/// ```
/// use oauth_store_core::{BackendName, StoreKind};
///
/// const VAULT: StoreKind = StoreKind::Other(BackendName::new("vault"));
/// assert_eq!(VAULT.as_str(), "vault");
/// assert_eq!("vault".parse::<StoreKind>()?, VAULT);
/// assert_eq!("file".parse::<StoreKind>()?, StoreKind::File);
/// # Ok::<(), oauth_store_core::UnknownName>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum StoreKind {
    /// The aggregate JSON document `.credentials.json`.
    File,
    /// One OS keyring entry per credential.
    Keyring,
    /// The encrypted aggregate document `secrets/mcp_oauth.age`.
    Secrets,
    /// Another backend, by its own name (e.g. `postgres`); it never claims to be one of
    /// the three above.
    Other(BackendName),
}

impl StoreKind {
    /// This project's own kinds, in declaration order.
    pub const ALL: &'static [StoreKind] =
        &[StoreKind::File, StoreKind::Keyring, StoreKind::Secrets];

    /// The stable name: `file`, `keyring`, `secrets`, or the other backend's name.
    pub fn as_str(&self) -> &'static str {
        match self {
            StoreKind::File => "file",
            StoreKind::Keyring => "keyring",
            StoreKind::Secrets => "secrets",
            StoreKind::Other(name) => name.as_str(),
        }
    }

    /// Whether this is one of this project's own kinds ([`StoreKind::ALL`]).
    pub fn is_builtin(&self) -> bool {
        !matches!(self, StoreKind::Other(_))
    }
}

impl fmt::Display for StoreKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for StoreKind {
    type Err = UnknownName;
    /// One of the three names, or a valid backend name ([`BackendName::parse`]).
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        match s {
            "file" => Ok(StoreKind::File),
            "keyring" => Ok(StoreKind::Keyring),
            "secrets" => Ok(StoreKind::Secrets),
            other => BackendName::parse(other).map(StoreKind::Other),
        }
    }
}

impl Serialize for StoreKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for StoreKind {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// The name of a backend of another crate ([`StoreKind::Other`]): 1 to 32 characters of
/// `a-z`, `0-9`, `-` and `_`, starting with a letter, and none of `file`, `keyring`,
/// `secrets`. `Copy`, like the kind it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BackendName(&'static str);

/// How many distinct names [`BackendName::parse`] keeps for the life of the process: a
/// handful of backends is expected; the bound keeps hostile documents from growing it.
const MAX_PARSED_NAMES: usize = 64;

impl BackendName {
    /// A backend's name, checked at compile time when used in a `const`.
    ///
    /// # Panics
    /// When `name` breaks the rules above (in a `const`, a compile error).
    pub const fn new(name: &'static str) -> Self {
        assert!(
            Self::valid(name),
            "a backend name is 1-32 of a-z 0-9 - _, starting with a letter, and not file, keyring or secrets"
        );
        BackendName(name)
    }

    /// A name read from a document or a command line.
    ///
    /// # Errors
    /// [`UnknownName`] when it breaks the rules above, or when this process has
    /// already seen 64 other names.
    pub fn parse(name: &str) -> Result<Self, UnknownName> {
        let unknown = || UnknownName {
            what: "StoreKind",
            name: name.to_owned(),
        };
        if !Self::valid(name) {
            return Err(unknown());
        }
        static SEEN: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
        let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(known) = seen.iter().find(|n| **n == name) {
            return Ok(BackendName(known));
        }
        if seen.len() >= MAX_PARSED_NAMES {
            return Err(unknown());
        }
        // Kept for the process's life, so the kind stays `Copy`; bounded above.
        let kept: &'static str = Box::leak(name.to_owned().into_boxed_str());
        seen.push(kept);
        Ok(BackendName(kept))
    }

    /// The name.
    pub fn as_str(&self) -> &'static str {
        self.0
    }

    const fn valid(name: &str) -> bool {
        let bytes = name.as_bytes();
        if bytes.is_empty() || bytes.len() > 32 || !bytes[0].is_ascii_lowercase() {
            return false;
        }
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            if !(b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_') {
                return false;
            }
            i += 1;
        }
        !(eq(bytes, b"file") || eq(bytes, b"keyring") || eq(bytes, b"secrets"))
    }
}

const fn eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

impl fmt::Display for BackendName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// Where credentials are stored: `auto` prefers the keyring and falls back to the File
/// store (DESIGN.md "Auto resolution"); the others pin one store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreMode {
    /// Keyring when usable, else the File store.
    #[default]
    Auto,
    /// Always the File store.
    File,
    /// Always the keyring (as [`KeyringBackend`] says).
    Keyring,
    /// Always the Secrets store.
    Secrets,
}
named_enum!(StoreMode { Auto => "auto", File => "file", Keyring => "keyring", Secrets => "secrets" });

/// What "keyring" means in [`StoreMode::Auto`]: one entry per credential, or the
/// encrypted Secrets document whose key is in the keyring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyringBackend {
    /// One OS keyring entry per credential.
    #[default]
    Direct,
    /// The Secrets store.
    Secrets,
}
named_enum!(KeyringBackend { Direct => "direct", Secrets => "secrets" });

/// Why a handle resolved to its store: the seven reasons of DESIGN.md "Auto
/// resolution", recorded everywhere (drift sidecar, `doctor`, logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResolutionReason {
    /// Auto, load: the keyring holds the key.
    AutoLoadKeyring,
    /// Auto, load: the keyring answered "no entry", so the File store.
    AutoLoadFileKeyringMissing,
    /// Auto, load: the keyring failed, so the File store.
    AutoLoadFileKeyringError,
    /// Auto, save: the keyring is usable; the File copy is removed.
    AutoSaveKeyring,
    /// Auto, save: the keyring is not usable, so the File store.
    AutoSaveFileKeyringError,
    /// An explicit mode, on load.
    ConfiguredLoad,
    /// An explicit mode, on save.
    ConfiguredSave,
}
named_enum!(ResolutionReason {
    AutoLoadKeyring => "auto_load_keyring",
    AutoLoadFileKeyringMissing => "auto_load_file_keyring_missing",
    AutoLoadFileKeyringError => "auto_load_file_keyring_error",
    AutoSaveKeyring => "auto_save_keyring",
    AutoSaveFileKeyringError => "auto_save_file_keyring_error",
    ConfiguredLoad => "configured_load",
    ConfiguredSave => "configured_save",
});
