//! The `oauth-store` command against a real Secret Service: `cargo xtask test` runs this
//! target inside a private D-Bus session with an unlocked gnome-keyring and a temporary
//! HOME (`OAUTH_STORE_TEST_KEYRING_SESSION=1`); elsewhere each session test prints one
//! line, "skipped here: runs in cargo xtask test's keyring session", and passes. The
//! no-bus tests run everywhere.
//!
//! Every operation runs in a separate `oauth-store` process, as users run it: a save in
//! one process and a load in the next prove the keyring kept it.

mod support;

mod auto;
mod no_bus;
mod rescue;
mod secrets;
mod stopped;
mod store;
mod storm;
