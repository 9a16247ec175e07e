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
                None => Err(login_hinted(&cli.command, error)),
            }
        }
        Err(CliError::OAuth(error)) => Err(login_hinted(&cli.command, error)),
        other => other,
    }
}

/// An authorization-required error of a command that uses a stored credential, with
/// the login that fixes it appended: the library says what happened, not what to run.
fn login_hinted(command: &Command, error: oauth_store::Error) -> CliError {
    let server = match command {
        Command::Show(server) | Command::Key(server) => server,
        Command::Token(args) | Command::Headers(args) => &args.server,
        Command::Refresh(args) => &args.server,
        _ => return CliError::OAuth(error),
    };
    if crate::error::kind_of(&error) != crate::error::Kind::AuthorizationRequired {
        return CliError::OAuth(error);
    }
    CliError::Hinted {
        source: Box::new(CliError::OAuth(error)),
        hint: login_hint(server),
    }
}

/// `log in with `oauth-store login --server NAME --url URL`` for `server`: the URL as
/// output shows it (user info and query values masked), each word quoted for a POSIX
/// shell when it needs to be.
pub(crate) fn login_hint(server: &Server) -> String {
    let name = shell_word(&server.server);
    let url = shell_word(&crate::output::url(&server.url));
    if cfg!(feature = "http") {
        format!("log in with `oauth-store login --server {name} --url {url}`")
    } else {
        format!(
            "log in elsewhere and `oauth-store import --server {name} --url {url}` the token response"
        )
    }
}

/// A word a POSIX shell reads back as itself: as is when it is plain, else in single
/// quotes (`'` written as `'\''`).
fn shell_word(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-.:/%+=,@".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
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
