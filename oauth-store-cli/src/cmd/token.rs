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
    let token = access_token(global, args)?;
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{}", token.expose_secret());
    let _ = stdout.flush();
    Ok(ExitCode::SUCCESS)
}

/// What `token` and `headers` print: the access token of `args`' server, refreshed as
/// [`current_token`] does, with the warning for a failed refresh on stderr.
///
/// # Errors
/// Opening the home, and [`current_token`]'s.
pub(crate) fn access_token(global: &Global, args: &TokenArgs) -> Result<SecretString, CliError> {
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
    // Tokens from a provider or `import` are checked before they are saved; one written
    // by another program could still forge a header or a terminal line when printed.
    if !oauth_store::store_core::is_b64token(token.expose_secret()) {
        return Err(CliError::Failed(format!(
            "{}: the stored access token is empty or holds characters outside RFC 6750's b64token set; not printed (import a token response or log in again)",
            handle.key()
        )));
    }
    if let Some(e) = failed_refresh {
        output::warn(format!(
            "{e}; printing the current access token, which has not expired yet"
        ));
    }
    Ok(token)
}

/// Says on stderr when the last refresh had to rescue its credential into another
/// store because the store it belongs in refused it (DESIGN.md "Persist rescue").
///
/// A copy kept in plain text (the File store or the rescue file) is said to be, with
/// the file named: a person must know where a token lies unprotected.
pub(crate) fn note_rescue(handle: &CredentialHandle) {
    if let Some(kind) = handle.rescued_in() {
        let plain = handle
            .rescued_in_plain_text()
            .map(|path| format!(", in PLAIN TEXT in {}", output::path(&path)))
            .unwrap_or_default();
        output::warn(format!(
            "{}: the refreshed credential could not be saved where it belongs; it was rescued into the {kind} store{plain}, where every command finds it, and the next refresh or `token` moves it back",
            handle.key()
        ));
    }
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
        Ok(credential) => {
            note_rescue(handle);
            Ok((credential.access_token, None))
        }
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
