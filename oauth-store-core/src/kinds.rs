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

/// A kind of credential store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreKind {
    /// The aggregate JSON document `.credentials.json`.
    File,
    /// One OS keyring entry per credential.
    Keyring,
    /// The encrypted aggregate document `secrets/mcp_oauth.age`.
    Secrets,
}
named_enum!(StoreKind { File => "file", Keyring => "keyring", Secrets => "secrets" });

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
