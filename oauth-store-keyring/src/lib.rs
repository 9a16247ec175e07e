//! One OS keyring entry per MCP OAuth credential, every call bounded by a timeout, and
//! never a D-Bus daemon started: the keyring side of the facade's Auto mode (DESIGN.md
//! "Auto resolution", "Layout").
//!
//! - [`KeyringStore`] implements [`CredentialStore`](oauth_store_core::CredentialStore):
//!   service and account per DESIGN.md "Layout" (the default layout's account carries
//!   the home), value = the record as JSON. "No entry" is `Ok(None)`; a keyring that
//!   cannot be used here is [`StoreError::Unavailable`](oauth_store_core::StoreError::Unavailable)
//!   (the facade's only reason to fall back to the File store); no answer in time is
//!   [`StoreError::Timeout`](oauth_store_core::StoreError::Timeout) (a timed-out write
//!   is indeterminate: never a fall-back).
//! - [`KeyringStore::probe`] says whether the keyring can be used, as a [`Usability`]
//!   with the reason (for `doctor`). It reads and never writes: a save is its own
//!   write probe.
//! - [`SecretEntry`] is the same machinery for one raw secret at (service, account):
//!   the Secrets store keeps its encryption key there.
//!
//! # Bounded calls
//! Every keyring call runs on one worker thread per process, which owns the keyring
//! connections, and carries a deadline (default [`DEFAULT_TIMEOUT`], 5 s, queueing
//! included). A queued call whose caller gave up is skipped; while the worker is stuck
//! in a call past its deadline (a stopped daemon, a prompt nobody answers), new calls
//! fail at once with a timeout instead of queueing; once the stuck call returns, the
//! next call is served as usual.
//!
//! # Usability, cheapest check first
//! 1. A store not built into this binary: [`Usability::NotBuiltIn`].
//! 2. Secret Service: no `DBUS_SESSION_BUS_ADDRESS` and no `$XDG_RUNTIME_DIR/bus`
//!    (zbus's own fallbacks): [`Usability::NoSessionBus`], from the environment and one
//!    stat, without touching D-Bus. zbus has no autolaunch on Unix, so no daemon is
//!    started in any case.
//! 3. On the worker: the bus has no Secret Service; the default collection is locked
//!    (read from its `Locked` property: no unlock prompt is ever started), missing, or
//!    gnome-keyring's in-memory `session` collection ([`Usability::Volatile`], refused
//!    for saves so that nothing is saved where it would be lost); access denied.
//! 4. Then a search for the entry, which needs no Secret Service session: "no entry"
//!    (and a probe) is answered without the session's key exchange, which is most of a
//!    first read's cost; an entry that exists only in a locked collection is
//!    [`Usability::Locked`], not a prompt.
//!
//! Measured on gnome-keyring (`benches/probe.rs`, release build): a whole process that
//! loads from the File store takes about 1.2 ms; with a keyring miss first (Auto's
//! fall-through) or a probe about 3.5 ms; with a keyring read about 11 ms, 5.5 ms of it
//! the store crate's Diffie-Hellman session set-up. With no session bus the answer
//! takes about a microsecond.
//!
//! # Crates
//! Built on `keyring-core` 1 and its platform stores, as the `keyring` 4 docs advise
//! libraries: `zbus-secret-service-keyring-store` on Linux and FreeBSD (pure Rust over
//! zbus with the `async-io` runtime and Rust crypto, so no libdbus to be missing, and no
//! autolaunch), `apple-native-keyring-store` (login keychain) on macOS,
//! `windows-native-keyring-store` on Windows, and `linux-keyutils-keyring-store` behind
//! the `keyutils` feature. The Secret Service checks above use zbus directly, because the
//! store crate neither exposes its connection nor avoids prompts.
//!
//! ```
//! use oauth_store_core::compute_store_key;
//! use oauth_store_keyring::{KeyringStore, OsStore, SecretEntry};
//! use std::time::Duration;
//!
//! // The default layout: the account carries a hash of the home.
//! let store = KeyringStore::new("oauth-store", Some("0123456789abcdef".to_owned()))
//!     .with_timeout(Duration::from_secs(2));
//! let key = compute_store_key("test-server", "https://example.test");
//! assert_eq!(store.account(&key), "0123456789abcdef/test-server|8c45d89ea13b3919");
//!
//! // The codex layout: the store key alone.
//! let codex = KeyringStore::new("Codex MCP Credentials", None);
//! assert_eq!(codex.account(&key), "test-server|8c45d89ea13b3919");
//!
//! // The Windows Credential Manager holds at most 2,560 bytes of UTF-16 per entry.
//! assert_eq!(OsStore::WindowsCredentialManager.value_cap(), Some(2560));
//! let _secrets_key = SecretEntry::new("oauth-store", "secrets|0123456789abcdef");
//! ```
//!
//! # Features
//! - `keyutils`: [`OsStore::Keyutils`], the Linux kernel key retention service.
//!
//! # Limitations
//! - The Secret Service checks look at the default collection and at the entry's own
//!   copies: an entry with copies both in an unlocked and in a locked collection can
//!   still make the store crate start an unlock prompt, which then ends in a timeout;
//!   and an existing entry in another collection is updated where it is, even if that
//!   collection is volatile.
//! - Volatility is known only for gnome-keyring's `session` collection; other providers
//!   may keep a collection in memory unseen.
//! - Listing works where the store can search by service: the Secret Service and the
//!   macOS keychain; elsewhere (Windows, keyutils) `list` is
//!   [`StoreError::Unsupported`](oauth_store_core::StoreError::Unsupported).
//! - keyutils keys live in kernel memory: they are lost at reboot (and unusable
//!   outside a login session, where the kernel denies the persistent keyring).
//! - A call that hangs forever (a daemon stopped and never resumed) keeps the worker
//!   busy for the life of the process: every later keyring call fails at once with a
//!   timeout. The code for macOS and Windows is compiled only on those platforms and has
//!   not been run by this project's tests, which use gnome-keyring.
//! - A secret crosses keyring-core and the platform crates as ordinary strings, which
//!   are not zeroized; a panic inside a platform crate prints that crate's message.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod backend;
mod entry;
mod error;
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing;
mod os;
mod store;
mod usability;
mod worker;

pub use keyring_core;
pub use oauth_store_core;

// The public interface is:
pub use entry::{DEFAULT_TIMEOUT, SecretEntry};
pub use error::KeyringError;
pub use os::OsStore;
pub use store::KeyringStore;
pub use usability::Usability;
