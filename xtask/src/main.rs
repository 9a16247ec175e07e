//! Project automation for oauth-store, run as `cargo xtask <command>` (the alias is in
//! `.cargo/config.toml`):
//! - `ci`: `lint`, then `test`, stopping at the first failure.
//! - `lint`: `cargo fmt --check`, clippy with `-D warnings`, rustdoc with `-D warnings`,
//!   then `deps`.
//! - `test`: the project's test run (README.md): reports the external test peers
//!   (installing the OAuth peer when it can), runs `cargo test --workspace`, then the
//!   keyring run once `oauth-store-keyring` exists.
//! - `deps`: checks DESIGN.md's dependency-graph rules on `cargo metadata`.
//! - `bench [lock|file|refresh|secrets]`: one benchmark, or every one that exists.
//!   Never part of `ci`.
//!
//! Every cargo it runs inherits the environment (so `CARGO_TARGET_DIR` and `CI` pass
//! through) and runs at the workspace root.
//!
//! # Limitations
//! - Unix only, like the project: the keyring run needs `dbus-run-session` and
//!   `gnome-keyring-daemon`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![allow(
    clippy::print_stdout,
    reason = "a build tool reports its steps on stdout, between the tools it runs"
)]

mod bench;
mod deps;
mod step;
mod test;
mod workspace;

use std::process::ExitCode;

use crate::workspace::Workspace;

const USAGE: &str = "\
usage: cargo xtask <command>
  ci                 lint, then test (what .ci/run runs after installing packages)
  lint               cargo fmt --check, clippy -D warnings, rustdoc -D warnings, deps
  test               the project's test run: peers, cargo test --workspace, keyring run
  deps               check DESIGN.md's dependency-graph rules
  bench [NAME]       run benchmark NAME (lock, file, refresh, secrets), or all that exist";

/// Why an xtask command failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum Error {
    /// The command line did not name a known command.
    #[error("{0}\n{USAGE}")]
    Usage(String),
    /// A program could not be started.
    #[error("could not run `{command}`: {source}")]
    Spawn {
        /// The command line.
        command: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A step ran and failed.
    #[error("step `{command}` failed ({status}); stopping here")]
    StepFailed {
        /// The command line.
        command: String,
        /// Its exit status.
        status: std::process::ExitStatus,
    },
    /// `cargo metadata` printed something this tool cannot read.
    #[error("cannot read `cargo metadata`: {0}")]
    Metadata(String),
    /// The dependency graph breaks DESIGN.md's rules; each entry names a path.
    #[error("the dependency graph breaks DESIGN.md \"Crates\":\n{}", .0.join("\n"))]
    Deps(Vec<String>),
    /// A test peer is missing where it is required (`CI=true`).
    #[error("test peer {peer} is missing and CI=true requires it; install: {install}")]
    PeerMissing {
        /// The peer's name.
        peer: &'static str,
        /// The command that installs it.
        install: &'static str,
    },
    /// Tests failed; the run's summary line has said how many, and which steps failed.
    #[error("tests failed (see the summary above)")]
    TestsFailed,
    /// A local file operation failed (temporary directories of the keyring run).
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let ws = Workspace::from_env();
    let result = match args.as_slice() {
        ["ci"] => ci(&ws),
        ["lint"] => lint(&ws),
        ["test"] => test::run(&ws),
        ["deps"] => deps::run(&ws),
        ["bench", names @ ..] => bench::run(&ws, names),
        ["help" | "-h" | "--help"] => {
            println!("{USAGE}");
            Ok(())
        }
        [] => Err(Error::Usage("no command given".to_owned())),
        other => Err(Error::Usage(format!(
            "unknown command `{}`",
            other.join(" ")
        ))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The summary line was the last word; it stays the last line.
        Err(Error::TestsFailed) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("\nxtask {}: error: {e}", args.first().unwrap_or(&""));
            ExitCode::FAILURE
        }
    }
}

/// `lint`, then `test`: the whole check a change must pass.
fn ci(ws: &Workspace) -> Result<(), Error> {
    lint(ws)?;
    test::run(ws)?;
    println!("\nxtask ci: all steps passed");
    Ok(())
}

/// Formatting, clippy, rustdoc and the dependency graph, in that order.
fn lint(ws: &Workspace) -> Result<(), Error> {
    step::run(ws.cargo(&["fmt", "--all", "--", "--check"]))?;
    step::run(ws.cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    // The CLI's keyring test target builds only with its feature (it runs in the keyring
    // session): lint it too.
    step::run(ws.cargo(&[
        "clippy",
        "-p",
        "oauth-store-cli",
        "--all-targets",
        "--features",
        "keyring-session",
        "--",
        "-D",
        "warnings",
    ]))?;
    let rustdocflags = match std::env::var("RUSTDOCFLAGS") {
        Ok(flags) if !flags.trim().is_empty() => format!("{flags} -D warnings"),
        _ => "-D warnings".to_owned(),
    };
    step::run(
        ws.cargo(&["doc", "--workspace", "--no-deps"])
            .env("RUSTDOCFLAGS", rustdocflags),
    )?;
    step::header("cargo xtask deps");
    deps::run(ws)?;
    Ok(())
}
