//! `oauth-store`: MCP OAuth credentials from a terminal, for people and for scripts.
//!
//! The command is a thin face over the `oauth-store` facade: every command opens one
//! home ([`--home`](cli::Global), layout, store mode), works on one credential through a
//! pinned handle, and maps the facade's [`ErrorKind`](oauth_store::ErrorKind) to an
//! exit code. What it prints never holds a token value, except the access token that
//! `token` prints on stdout (its job).
//!
//! | command | what |
//! | --- | --- |
//! | `key` | the store key of a server |
//! | `import` | save a token response (RFC 6749 section 5.1) as the credential |
//! | `list`, `show` | what is stored, secrets redacted |
//! | `token` | the access token, refreshed through the serialized transaction when due |
//! | `refresh`, `logout` | refresh now; remove (and revoke, RFC 7009) |
//! | `repair`, `doctor` | quarantine a corrupt document; check a home |
//! | `demo` | N processes share one rotating credential, with and without coordination |
//!
//! Exit codes: 0 ok; 2 usage; 3 authorization required; 4 store, lock or keyring;
//! 5 provider; 6 `doctor` found problems (1 only when the demo itself breaks). Errors
//! are one line on stderr; with `--json`, one JSON object `{"error","message"}`.
//! `RUST_LOG` drives `tracing` output on stderr (off by default).
//!
//! ```text
//! $ oauth-store key --server notion --url https://mcp.notion.com/mcp
//! notion|eac663db915250e7
//! ```
//!
//! # Limitations
//! - The keyring and Secrets stores are not in this build yet: `--store keyring`,
//!   `--store secrets` and `--keyring-backend secrets` are usage errors, and `auto`
//!   resolves to the File store (reasons `auto_*_file_keyring_error`).
//! - There is no authorization-code flow: a first login is `import` of a token
//!   response obtained elsewhere.
//! - `doctor` does not yet report keyring usability (the keyring store is not in this
//!   build); it reports drift records from the sidecar.
//! - `token` prints the access token even under `--json`, so that
//!   `$(oauth-store token ...)` means the same either way.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod cli;
mod cmd;
mod error;
mod open;
mod output;
mod provider;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // Parsing may fail before `--json` is known; a usage error still honours it.
    let json_hint = args.iter().any(|a| a == "--json");
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => return error::report_clap(&e, json_hint),
    };
    init_tracing();
    if !matches!(cli.command, Command::DemoWorker(_)) {
        install_wait_notice();
    }
    let json = cli.global.json;
    match cmd::run(&cli) {
        Ok(code) => code,
        Err(e) => {
            e.report(json);
            e.exit_code()
        }
    }
}

/// `RUST_LOG` drives tracing on stderr; without it (or when it does not parse) nothing is
/// logged and only the command's own errors are printed.
///
/// The HTTP client's own debug and trace records are never shown, whatever `RUST_LOG`
/// says: at trace level ureq dumps every request and answer byte by byte (the client
/// secret in the Authorization header, the tokens in the body). The facade logs each
/// request's host and outcome at debug level instead.
fn init_tracing() {
    use tracing_subscriber::filter::{FilterExt, filter_fn};
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{EnvFilter, Layer};

    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("off"));
    let no_wire_dumps = filter_fn(|meta| {
        let http_client = meta.target().starts_with("ureq") || meta.target().starts_with("oauth2");
        !(http_client && *meta.level() > tracing::Level::INFO)
    });
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_filter(filter.and(no_wire_dumps));
    let _ = tracing_subscriber::registry().with(layer).try_init();
}

/// A person never stares at a silent hang: after about 1 s of waiting for a lock, say
/// once what is waited for and who holds it, as cargo does.
fn install_wait_notice() {
    oauth_store::lock::set_wait_notice(|notice| {
        let holder = notice
            .holder_pid
            .map(|pid| format!(" (held by pid {pid})"))
            .unwrap_or_default();
        eprintln!(
            "Blocking: waiting for the {} lock {}{holder}",
            notice.kind,
            notice.path.display()
        );
    });
}
