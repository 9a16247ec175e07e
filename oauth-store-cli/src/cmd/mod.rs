//! One module per command; [`run`] dispatches.

use std::process::ExitCode;

use crate::cli::{Cli, Command, Server};
use crate::error::CliError;

mod demo;
mod doctor;
mod headers;
mod import;
mod key;
mod list;
#[cfg(feature = "http")]
mod login;
mod logout;
mod migrate;
mod near_match;
mod refresh;
mod repair;
mod secrets;
mod show;
mod token;

/// Runs the parsed command; `Ok` carries the exit code of a command that completed
/// (0, or 6 for a `doctor` that found problems).
///
/// A command that names a server (`--server NAME --url URL`) has both checked first
/// ([`Server::validate`], exit 2), and "no credential is stored" names a stored
/// credential that nearly matches, if any.
pub(crate) fn run(cli: &Cli) -> Result<ExitCode, CliError> {
    let server = server_of(&cli.command);
    if let Some(server) = server {
        server.validate()?;
    }
    match dispatch(cli) {
        Err(CliError::OAuth(error)) if is_nothing_stored(&error) => {
            let hint = server.and_then(|s| near_match::hint(&cli.global, s));
            match hint {
                Some(hint) => Err(CliError::Hinted {
                    source: Box::new(CliError::OAuth(error)),
                    hint,
                }),
                None => Err(CliError::OAuth(error)),
            }
        }
        other => other,
    }
}

fn dispatch(cli: &Cli) -> Result<ExitCode, CliError> {
    let global = &cli.global;
    match &cli.command {
        Command::Key(server) => key::run(global, server),
        Command::Import(args) => import::run(global, args),
        #[cfg(feature = "http")]
        Command::Login(args) => login::run(global, args),
        #[cfg(not(feature = "http"))]
        Command::Login(_) => Err(CliError::Usage(
            "login needs the `http` feature of oauth-store-cli".into(),
        )),
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

/// The server a command names, if it takes `--server`.
fn server_of(command: &Command) -> Option<&Server> {
    match command {
        Command::Key(server) | Command::Show(server) => Some(server),
        Command::Import(args) => Some(&args.server),
        Command::Login(args) => Some(&args.server),
        Command::Token(args) | Command::Headers(args) => Some(&args.server),
        Command::Refresh(args) => Some(&args.server),
        Command::Logout(args) => Some(&args.server),
        Command::DemoWorker(args) => Some(&args.server),
        _ => None,
    }
}

fn is_nothing_stored(error: &oauth_store::Error) -> bool {
    matches!(
        error,
        oauth_store::Error::AuthorizationRequired {
            reason: oauth_store::AuthorizationReason::NothingStored,
            ..
        }
    )
}
