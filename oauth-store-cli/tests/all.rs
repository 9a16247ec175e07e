//! The `oauth-store` command, run as a process (`CARGO_BIN_EXE_oauth-store`) against
//! real homes and a loopback token endpoint: one module per command, then the
//! cross-cutting rules (global options, exit codes and error lines, the codex layout,
//! lock-wait notices, no token value in any output).

mod util;

mod codex;
mod codex_locks;
mod demo;
mod doctor;
mod errors;
mod headers;
mod hostile;
mod import;
mod key;
mod list;
mod logout;
mod migrate;
mod options;
mod postgres;
mod readme;
mod refresh;
mod refresh_ahead;
mod repair;
mod rescue;
mod secrets;
mod sentinel;
mod show;
mod texts;
mod token;
mod wait;
mod writes;
