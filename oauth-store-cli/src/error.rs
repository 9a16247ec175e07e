//! Why a command failed, its exit code, and the one line (or JSON object) on stderr.

use std::process::ExitCode;

use oauth_store::{ErrorKind, StoreError};

/// Why a command failed. No variant's text holds a token value: the facade's and the
/// stores' errors never do, and the CLI's own texts name files, fields and keys only.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum CliError {
    /// The command line or its input is wrong (exit 2).
    #[error("{0}")]
    Usage(String),
    /// The facade failed; its [`ErrorKind`] picks the exit code.
    #[error(transparent)]
    OAuth(#[from] oauth_store::Error),
    /// A store failed outside a handle operation (`list`, `repair`, `secrets`) (exit 4).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A command could not do (all of) its work: `migrate` and `logout` name what stayed
    /// where (nothing was lost), `secrets export-key` has no key to export (exit 4).
    #[error("{0}")]
    Failed(String),
    /// The demo itself broke (exit 1): an endpoint or a worker could not be started.
    #[error("demo: {0}")]
    Demo(String),
    /// A login failed (nothing was saved); its kind picks the exit code.
    #[cfg(feature = "http")]
    #[error(transparent)]
    Login(#[from] oauth_store::LoginError),
    /// Another failure with a hint for the person (the exit code is the failure's).
    #[error("{source}; {hint}")]
    Hinted {
        /// The failure.
        source: Box<CliError>,
        /// What may help, e.g. a stored credential whose name or URL nearly matches.
        hint: String,
    },
}

/// The class of a failure: its exit code and its `--json` name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Usage,
    AuthorizationRequired,
    Store,
    Provider,
    Demo,
    /// A bug (the library caught a panic): exit 1, as a broken demo.
    Internal,
}

impl Kind {
    /// The `error` member of the `--json` error object.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Usage => "usage",
            Kind::AuthorizationRequired => "authorization_required",
            Kind::Store => "store",
            Kind::Provider => "provider",
            Kind::Demo => "demo",
            Kind::Internal => "internal",
        }
    }

    /// The process exit code.
    pub(crate) fn exit_code(self) -> u8 {
        match self {
            Kind::Demo | Kind::Internal => 1,
            Kind::Usage => 2,
            Kind::AuthorizationRequired => 3,
            Kind::Store => 4,
            Kind::Provider => 5,
        }
    }
}

/// The facade's kind as the CLI's.
pub(crate) fn kind_of(error: &oauth_store::Error) -> Kind {
    match error.kind() {
        ErrorKind::AuthorizationRequired => Kind::AuthorizationRequired,
        ErrorKind::Store => Kind::Store,
        ErrorKind::Provider => Kind::Provider,
        ErrorKind::Internal => Kind::Internal,
        // Config, and kinds a later facade adds: a usage problem of this invocation.
        _ => Kind::Usage,
    }
}

/// A failed login's class: its options are usage (2); a refusal, a denial or a timeout
/// is 3; the network or the provider 5; the store's kind otherwise.
#[cfg(feature = "http")]
fn login_kind(error: &oauth_store::LoginError) -> Kind {
    use oauth_store::LoginError as L;
    match error {
        L::Options(_) | L::CallbackPortInUse(_) => Kind::Usage,
        L::Store(e) => kind_of(e),
        L::Provider(_) => Kind::Provider,
        // Refused, Denied, TimedOut, and kinds a later facade adds.
        _ => Kind::AuthorizationRequired,
    }
}

impl CliError {
    /// The class of this failure.
    pub(crate) fn kind(&self) -> Kind {
        match self {
            CliError::Usage(_) => Kind::Usage,
            CliError::OAuth(e) => kind_of(e),
            CliError::Store(_) | CliError::Failed(_) => Kind::Store,
            CliError::Demo(_) => Kind::Demo,
            CliError::Hinted { source, .. } => source.kind(),
            #[cfg(feature = "http")]
            CliError::Login(e) => login_kind(e),
        }
    }

    /// The process exit code.
    pub(crate) fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.kind().exit_code())
    }

    /// Prints the error on stderr: `error: TEXT` on one line, or with `json` one
    /// JSON object `{"error": KIND, "message": TEXT}`; TEXT ends with what to run
    /// when a command of this CLI fixes it.
    pub(crate) fn report(&self, json: bool) {
        let mut text = self.to_string();
        if let Some(hint) = self.hint() {
            text.push_str("; ");
            text.push_str(hint);
        }
        print_error(self.kind(), &text, json);
    }

    /// The store error inside, if any.
    fn store_error(&self) -> Option<&StoreError> {
        match self {
            CliError::Store(e)
            | CliError::OAuth(oauth_store::Error::Store(e))
            | CliError::OAuth(oauth_store::Error::PersistFailed { source: e, .. }) => Some(e),
            _ => None,
        }
    }

    /// The command of this CLI that fixes the error, in the library's terms of what
    /// happened: the library names no command.
    fn hint(&self) -> Option<&'static str> {
        store_hint(self.store_error()?)
    }
}

/// The command of this CLI that fixes a store error, if one does.
pub(crate) fn store_hint(error: &StoreError) -> Option<&'static str> {
    match error {
        StoreError::CorruptDocument { path, .. }
            if path.file_name() == Some(std::ffi::OsStr::new(".credentials.json")) =>
        {
            Some("run `oauth-store repair`")
        }
        StoreError::Backend { source, .. }
            if matches!(
                source.downcast_ref::<oauth_store::secrets::SecretsError>(),
                Some(oauth_store::secrets::SecretsError::KeyMissing { .. })
            ) =>
        {
            Some("put the exported key back with `oauth-store secrets import-key`")
        }
        _ => None,
    }
}

/// Prints one error line (or JSON object) on stderr.
pub(crate) fn print_error(kind: Kind, message: &str, json: bool) {
    let message = crate::output::shown(&one_line(message)).into_owned();
    if json {
        let object = serde_json::json!({ "error": kind.as_str(), "message": message });
        eprintln!("{object}");
    } else {
        eprintln!("error: {message}");
    }
}

/// Joins a multi-line text into one line, so every error is exactly one line.
pub(crate) fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Reports a clap parse result: help and version go to stdout with exit 0; a usage error
/// becomes one line (or JSON object) on stderr with exit 2.
pub(crate) fn report_clap(error: &clap::Error, json: bool) -> ExitCode {
    use clap::error::ErrorKind as Clap;
    match error.kind() {
        Clap::DisplayHelp | Clap::DisplayVersion => {
            let _ = error.print();
            ExitCode::SUCCESS
        }
        Clap::DisplayHelpOnMissingArgumentOrSubcommand => {
            // `oauth-store` alone: the help, on stderr, as a usage error.
            eprint!("{}", error.render());
            ExitCode::from(Kind::Usage.exit_code())
        }
        _ => {
            let rendered = error.render().to_string();
            // clap says what is wrong (sometimes over a few lines, with a tip), then
            // "Usage: ..."; keep what comes before the usage.
            let mut what = String::new();
            for line in rendered
                .lines()
                .take_while(|l| !l.starts_with("Usage:"))
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with("For more information"))
            {
                if !what.is_empty() {
                    what.push_str(if what.ends_with(':') { " " } else { "; " });
                }
                what.push_str(line);
            }
            let what = one_line(&what);
            let what = what.strip_prefix("error: ").unwrap_or(&what);
            print_error(Kind::Usage, &format!("{what} (see --help)"), json);
            ExitCode::from(Kind::Usage.exit_code())
        }
    }
}
