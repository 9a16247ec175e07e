//! `oauth-store`: MCP OAuth credentials from a terminal, for people and for scripts.
//!
//! The command is a thin face over the `oauth-store` facade: every command opens one
//! home ([`--home`](cli::Global), layout, store mode) with its three stores (the File
//! document, one OS keyring entry per credential, the encrypted Secrets document whose
//! key lives in the keyring), works on one credential through a pinned handle, and maps
//! the facade's [`ErrorKind`](oauth_store::ErrorKind) to an exit code. What it prints
//! never holds a token value, except the access token that `token` (and `headers`, as
//! an `Authorization` header) prints on stdout (its job), and the Secrets key that
//! `secrets export-key` prints (its job: a backup).
//!
//! | command | what |
//! | --- | --- |
//! | `key` | the store key of a server |
//! | `import` | save a token response (RFC 6749 section 5.1) as the credential |
//! | `list`, `show` | what is stored, secrets redacted |
//! | `token` | the access token, refreshed through the serialized transaction when due |
//! | `headers` | the same, as `{"Authorization": "Bearer …"}` (Claude Code's `headersHelper`) |
//! | `refresh`, `logout` | refresh now; remove (and revoke, RFC 7009) |
//! | `migrate --to STORE` | move every credential into one store, under its lock |
//! | `repair`, `doctor` | quarantine a corrupt document; check a home and its keyring |
//! | `secrets export-key`, `rekey`, `import-key` | back up, replace, restore the Secrets key |
//! | `demo` | N processes share one rotating credential, with and without coordination |
//!
//! Exit codes: 0 ok; 2 usage; 3 authorization required; 4 store, lock or keyring
//! (including a keyring that cannot be used here under `--store keyring|secrets`, and a
//! `migrate` that left a credential where it was); 5 provider; 6 `doctor` found problems
//! (1 only when the demo itself breaks). Errors
//! are one line on stderr; with `--json`, one JSON object `{"error","message"}`.
//! `RUST_LOG` drives `tracing` output on stderr (off by default).
//!
//! ```text
//! $ oauth-store key --server notion --url https://mcp.notion.com/mcp
//! notion|eac663db915250e7
//! ```
//!
//! # Keyring
//! Every keyring call is bounded by `--keyring-timeout` (default 5 s). Without a D-Bus
//! session bus the keyring is unusable at once, without a D-Bus call and without
//! starting a daemon: `--store auto` uses the File store, and `--store keyring` (or
//! `--store secrets`, whose key lives in the keyring) fails with exit 4 and one line
//! saying why. A store that cannot be used here is a note, not a failure, for `list`,
//! `logout` and `migrate` unless the options need that store.
//!
//! # Limitations
//! - There is no authorization-code flow: a first login is `import` of a token
//!   response obtained elsewhere.
//! - `token` prints the access token, and `secrets export-key` the key, even under
//!   `--json`, so that `$(oauth-store token ...)` means the same either way.
//! - `logout` and `migrate` cannot reach a keyring that is unusable here: a copy there
//!   stays (they say so in a note) until they run where the keyring can be used.
//! - `secrets rekey` re-keys in place only; the Codex CLI's passphrase document
//!   (`--layout codex`) cannot be re-keyed this way (the library's `rekey_into` can
//!   move it to another key source).
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

use crate::cli::{Cli, Command};

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // Parsing may fail before `--json` is known; a usage error still honours it.
    let json_hint = args.iter().any(|a| a == "--json");
    let cli = match Cli::parse_args(&args) {
        Ok(cli) => cli,
        Err(e) => return error::report_clap(&e, json_hint),
    };
    init_tracing();
    if !matches!(cli.command, Command::DemoWorker(_)) {
        install_wait_notice();
    }
    let json = cli.global.json;
    // A panic is a bug, reported as one `internal` error line (exit 1), never as a
    // backtrace dump; the payload is not shown (it may quote anything).
    let location = std::sync::Arc::new(std::sync::Mutex::new(None::<String>));
    let seen = std::sync::Arc::clone(&location);
    std::panic::set_hook(Box::new(move |info| {
        if let Some(at) = info.location() {
            *seen.lock().unwrap_or_else(|e| e.into_inner()) = Some(at.to_string());
        }
    }));
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cmd::run(&cli))) {
        Ok(Ok(code)) => code,
        Ok(Err(e)) => {
            e.report(json);
            e.exit_code()
        }
        Err(_) => {
            let at = location.lock().unwrap_or_else(|e| e.into_inner()).take();
            error::print_error(
                error::Kind::Internal,
                &format!(
                    "internal error: the command stopped on a bug{} (please report it)",
                    at.map(|a| format!(" at {a}")).unwrap_or_default()
                ),
                json,
            );
            ExitCode::from(error::Kind::Internal.exit_code())
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
///
/// Once per lock file per command: one wait of the person's can be several waits of
/// the code (a save retried, each store of the layout tried in turn), and the second
/// notice would say nothing new.
fn install_wait_notice() {
    let said: std::sync::Mutex<Vec<std::path::PathBuf>> = std::sync::Mutex::new(Vec::new());
    oauth_store::lock::set_wait_notice(move |notice| {
        let mut said = said.lock().unwrap_or_else(|e| e.into_inner());
        if said.contains(&notice.path) {
            return;
        }
        said.push(notice.path.clone());
        drop(said);
        let holder = notice
            .holder_pid
            .map(|pid| format!(" (held by pid {pid})"))
            .unwrap_or_default();
        eprintln!(
            "Blocking: waiting for the {} lock {}{holder}",
            notice.kind,
            output::path(&notice.path)
        );
    });
}
