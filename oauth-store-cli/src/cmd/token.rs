//! `token`: the access token on stdout, refreshed through the serialized transaction
//! when due.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use oauth_store::store_core::ExposeSecret;
use oauth_store::{CredentialHandle, Error, ErrorKind, SecretString};

use crate::cli::{Global, TokenArgs};
use crate::error::CliError;
use crate::open::{Opening, builder};
use crate::output;

/// Prints only the access token and a newline on stdout (also under `--json`, so that
/// `$(oauth-store token ...)` works the same); warnings go to stderr.
pub(crate) fn run(global: &Global, args: &TokenArgs) -> Result<ExitCode, CliError> {
    let mut builder = builder(
        global,
        Opening {
            record_drift: true,
            file_only: false,
        },
    )?;
    if let Some(secs) = args.refresh_ahead {
        builder = builder.refresh_ahead(Duration::from_secs(secs));
    }
    if let Some(secs) = args.min_valid {
        builder = builder.min_valid(Duration::from_secs(secs));
    }
    let store = builder.build()?;
    let handle = store.handle(&args.server.server, &args.server.url);
    let (token, failed_refresh) = current_token(&handle, None)?;
    if let Some(e) = failed_refresh {
        output::warn(format!(
            "{e}; printing the current access token, which has not expired yet"
        ));
    }
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{}", token.expose_secret());
    let _ = stdout.flush();
    Ok(ExitCode::SUCCESS)
}

/// The access token with more than `min_valid` left (the store's thresholds when `None`:
/// DESIGN.md "Refresh thresholds"), refreshing when needed. When that refresh fails at
/// the provider (transient or indeterminate) while the stored token has not expired yet,
/// that token is returned with the refresh error beside it.
///
/// # Errors
/// The facade's errors otherwise.
pub(crate) fn current_token(
    handle: &CredentialHandle,
    min_valid: Option<Duration>,
) -> Result<(SecretString, Option<Error>), Error> {
    let refreshed = match min_valid {
        Some(min_valid) => handle.refresh_if_needed(min_valid),
        None => handle.fresh(),
    };
    match refreshed {
        Ok(credential) => Ok((credential.access_token, None)),
        // A provider failure, or no refresh token to refresh with, while the stored
        // token still works: print it and warn.
        Err(e)
            if e.kind() == ErrorKind::Provider
                || matches!(
                    &e,
                    Error::AuthorizationRequired {
                        reason: oauth_store::AuthorizationReason::NoRefreshToken,
                        ..
                    }
                ) =>
        {
            match handle.load() {
                Ok(Some(current)) if !current.is_due(output::now_ms(), 0) => {
                    Ok((current.access_token, Some(e)))
                }
                _ => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}
