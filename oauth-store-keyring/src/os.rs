//! Which OS credential store an entry lives in, and what each one can hold.

use std::fmt;

/// An OS credential store (what keyring-core calls a credential store).
///
/// Every variant exists on every platform, so a configuration names one anywhere;
/// [`OsStore::is_built_in`] says whether this binary can talk to it. Calls to a store
/// that is not built in fail with
/// [`StoreError::Unavailable`](oauth_store_core::StoreError::Unavailable).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OsStore {
    /// The freedesktop Secret Service (gnome-keyring, KWallet, KeePassXC) on the D-Bus
    /// session bus, through `zbus-secret-service-keyring-store`: pure Rust (zbus, no
    /// libdbus), and it never starts a D-Bus daemon. Linux and FreeBSD.
    SecretService,
    /// The Linux kernel key retention service (keyutils), cargo feature `keyutils`:
    /// kernel memory only, so entries are lost at reboot.
    Keyutils,
    /// The macOS login keychain.
    AppleKeychain,
    /// The Windows Credential Manager.
    WindowsCredentialManager,
}

/// The largest Windows credential blob: `CRED_MAX_CREDENTIAL_BLOB_SIZE` (5 × 512 bytes),
/// holding the value as UTF-16.
const WINDOWS_BLOB_CAP: usize = 5 * 512;
/// The largest payload of a keyutils `user` key, in bytes.
const KEYUTILS_PAYLOAD_CAP: usize = 32_767;

impl OsStore {
    /// Every store, in declaration order.
    pub const ALL: &'static [OsStore] = &[
        OsStore::SecretService,
        OsStore::Keyutils,
        OsStore::AppleKeychain,
        OsStore::WindowsCredentialManager,
    ];

    /// This platform's store: the Secret Service on Linux and FreeBSD, the login
    /// keychain on macOS, the Credential Manager on Windows (and the Secret Service,
    /// not built in, elsewhere).
    pub fn native() -> OsStore {
        if cfg!(target_os = "macos") {
            OsStore::AppleKeychain
        } else if cfg!(windows) {
            OsStore::WindowsCredentialManager
        } else {
            OsStore::SecretService
        }
    }

    /// Whether this binary can talk to the store (its platform, and for
    /// [`OsStore::Keyutils`] the `keyutils` feature).
    pub fn is_built_in(self) -> bool {
        match self {
            OsStore::SecretService => cfg!(any(target_os = "linux", target_os = "freebsd")),
            OsStore::Keyutils => cfg!(all(target_os = "linux", feature = "keyutils")),
            OsStore::AppleKeychain => cfg!(target_os = "macos"),
            OsStore::WindowsCredentialManager => cfg!(windows),
        }
    }

    /// The stable name: `secret-service`, `keyutils`, `apple-keychain` or
    /// `windows-credential-manager`.
    pub fn as_str(self) -> &'static str {
        match self {
            OsStore::SecretService => "secret-service",
            OsStore::Keyutils => "keyutils",
            OsStore::AppleKeychain => "apple-keychain",
            OsStore::WindowsCredentialManager => "windows-credential-manager",
        }
    }

    /// The largest value one entry holds, in bytes as the store encodes it (see
    /// [`OsStore::value_size`]); `None` where there is no practical limit. Windows
    /// Credential Manager: 2,560 bytes of UTF-16 (1,280 UTF-16 units); keyutils: 32,767.
    pub fn value_cap(self) -> Option<usize> {
        match self {
            OsStore::WindowsCredentialManager => Some(WINDOWS_BLOB_CAP),
            OsStore::Keyutils => Some(KEYUTILS_PAYLOAD_CAP),
            OsStore::SecretService | OsStore::AppleKeychain => None,
        }
    }

    /// The size of `value` in bytes as the store encodes it: UTF-16 for the Windows
    /// Credential Manager, UTF-8 elsewhere.
    pub fn value_size(self, value: &str) -> usize {
        match self {
            OsStore::WindowsCredentialManager => value.encode_utf16().count() * 2,
            _ => value.len(),
        }
    }

    /// Whether the store can enumerate the entries of a service, which
    /// [`CredentialStore::list`](oauth_store_core::CredentialStore::list) needs: the
    /// Secret Service (search by attribute) and the macOS keychain (search by service).
    pub fn can_list(self) -> bool {
        matches!(self, OsStore::SecretService | OsStore::AppleKeychain)
    }
}

impl std::str::FromStr for OsStore {
    type Err = oauth_store_core::UnknownName;

    /// Parses a stable name ([`OsStore::as_str`]), e.g. from a command-line flag.
    fn from_str(s: &str) -> Result<OsStore, Self::Err> {
        OsStore::ALL
            .iter()
            .copied()
            .find(|o| o.as_str() == s)
            .ok_or_else(|| oauth_store_core::UnknownName {
                what: "OS keyring store",
                name: s.to_owned(),
            })
    }
}

impl fmt::Display for OsStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
