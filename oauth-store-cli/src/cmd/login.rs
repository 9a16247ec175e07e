//! `login`: the facade's MCP authorization flow ([`oauth_store::OAuthStore::login`]),
//! with the authorization URL or the device code on stderr and a browser opened when
//! there is a display.

use std::process::ExitCode;
use std::time::Duration;

use oauth_store::{LoginOptions, LoginPrompt, SecretString};

use crate::cli::{Global, LoginArgs};
use crate::error::CliError;
use crate::open::open;
use crate::output;

/// A failed login with what to do next, where this CLI's options help.
fn next_step(error: oauth_store::LoginError) -> CliError {
    use oauth_store::LoginError as L;
    let hint = match &error {
        L::TimedOut(_) => "run it again, or give more time with a longer `--timeout SECS`",
        L::DeviceTimedOut(_) => {
            "enter the code sooner, or give more time with a longer `--timeout SECS`"
        }
        L::CallbackPortInUse(_) => {
            "give another `--callback-port`, or leave it out (the system picks a free port)"
        }
        _ => return CliError::Login(error),
    };
    CliError::Hinted {
        source: Box::new(CliError::Login(error)),
        hint: hint.into(),
    }
}

/// The largest client secret file read.
const MAX_SECRET_FILE: u64 = 64 * 1024;

/// Logs in and prints where the credential went (never a token).
pub(crate) fn run(global: &Global, args: &LoginArgs) -> Result<ExitCode, CliError> {
    if args.timeout == 0 {
        return Err(CliError::Usage(
            "--timeout must be at least 1 second".into(),
        ));
    }
    let mut options = LoginOptions::new()
        .device(args.device)
        .timeout(Duration::from_secs(args.timeout));
    if let Some(scope) = &args.scope {
        options = options.scope(scope.split_whitespace());
    }
    if let Some(id) = &args.client_id {
        let secret = args
            .client_secret_file
            .as_deref()
            .map(read_secret)
            .transpose()?;
        options = options.client(id.clone(), secret);
    }
    if let Some(url) = &args.client_metadata_url {
        options = options.client_metadata_url(url.clone());
    }
    if let Some(port) = args.callback_port {
        options = options.callback_port(port);
    }
    if let Some(url) = &args.callback_url {
        options = options.callback_url(url.clone());
    }
    let store = open(global)?;
    let prompt = Prompt {
        open_browser: !args.no_browser && has_display(),
    };
    let outcome = store
        .login(&args.server.server, &args.server.url, &options, &prompt)
        .map_err(next_step)?;
    let key = oauth_store::compute_store_key(&args.server.server, &args.server.url);
    let expires_in = output::expires_in_s(outcome.expires_at, output::now_ms());
    if global.json {
        output::json(&serde_json::json!({
            "store_key": key.as_str(),
            "store": outcome.resolution.store.as_str(),
            "reason": outcome.resolution.reason.as_str(),
            "issuer": outcome.issuer,
            "client_id": outcome.client_id,
            "client": outcome.client_source.as_str(),
            "scopes": outcome.scopes,
            "refresh_token": outcome.refresh_token,
            "expires_at_ms": outcome.expires_at,
            "expires_in_s": expires_in,
        }));
    } else {
        output::line(format!(
            "logged in: saved {} in the {} store ({}); client {} ({}); the access token {}{}",
            key,
            outcome.resolution.store,
            outcome.resolution.reason,
            output::shown(&outcome.client_id),
            outcome.client_source.as_str(),
            output::expiry_phrase(expires_in),
            if outcome.refresh_token {
                ", a refresh token was issued"
            } else {
                ", no refresh token was issued"
            }
        ));
    }
    Ok(ExitCode::SUCCESS)
}

/// The client secret: the file's first line, without its line end.
fn read_secret(path: &std::path::Path) -> Result<SecretString, CliError> {
    use std::io::Read as _;
    let shown = output::path(path);
    let file = std::fs::File::open(path)
        .map_err(|e| CliError::Usage(format!("--client-secret-file {shown}: {}", e.kind())))?;
    let mut text = String::new();
    file.take(MAX_SECRET_FILE)
        .read_to_string(&mut text)
        .map_err(|e| CliError::Usage(format!("--client-secret-file {shown}: {}", e.kind())))?;
    let secret = text.lines().next().unwrap_or_default().trim().to_owned();
    if secret.is_empty() {
        return Err(CliError::Usage(format!(
            "--client-secret-file {shown} is empty"
        )));
    }
    Ok(SecretString::from(secret))
}

/// Whether a browser can be shown here: a graphical session on Linux and the BSDs (an
/// SSH session without X forwarding has none), always elsewhere.
fn has_display() -> bool {
    if cfg!(any(target_os = "macos", target_os = "windows")) {
        return true;
    }
    ["DISPLAY", "WAYLAND_DISPLAY", "BROWSER"]
        .iter()
        .any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()))
}

/// Talks to the person on stderr.
struct Prompt {
    open_browser: bool,
}

impl LoginPrompt for Prompt {
    fn authorization_url(&self, url: &str) {
        eprintln!("Open this URL in a browser to log in:");
        // On a line of its own, unescaped: it is copied or clicked (it holds no secret).
        eprintln!("{url}");
        if self.open_browser
            && let Err(e) = webbrowser::open(url)
        {
            output::note(format!(
                "could not open a browser ({}); open the URL above",
                e.kind()
            ));
        }
        eprintln!("Waiting for the browser to come back to this machine...");
    }

    fn device_code(&self, verification_uri: &str, complete: Option<&str>, user_code: &str) {
        eprintln!("To log in, open this URL on any device:");
        eprintln!("{}", complete.unwrap_or(verification_uri));
        eprintln!("and enter the code: {}", output::shown(user_code));
        if complete.is_some() {
            eprintln!("(or open {verification_uri} and enter the code there)");
        }
        eprintln!("Waiting for the approval...");
    }
}
