//! One module per command; [`run`] dispatches.

use std::process::ExitCode;

use crate::cli::{Cli, Command};
use crate::error::CliError;

mod demo;
mod doctor;
mod headers;
mod import;
mod key;
mod list;
mod logout;
mod migrate;
mod refresh;
mod repair;
mod secrets;
mod show;
mod token;

/// Runs the parsed command; `Ok` carries the exit code of a command that completed
/// (0, or 6 for a `doctor` that found problems).
pub(crate) fn run(cli: &Cli) -> Result<ExitCode, CliError> {
    let global = &cli.global;
    match &cli.command {
        Command::Key(server) => key::run(global, server),
        Command::Import(args) => import::run(global, args),
        Command::List => list::run(global),
        Command::Show(server) => show::run(global, server),
        Command::Token(args) => token::run(global, args),
        Command::Headers(args) => headers::run(global, args),
        Command::Refresh(args) => refresh::run(global, args),
        Command::Logout(args) => logout::run(global, args),
        Command::Repair => repair::run(global),
        Command::Migrate(args) => migrate::run(global, args),
        Command::Doctor => doctor::run(global),
        Command::Secrets(command) => secrets::run(global, command),
        Command::Demo(args) => demo::run(global, args),
        Command::DemoWorker(args) => demo::worker(global, args),
    }
}
