//! `headers`: the access token as the HTTP request headers an MCP client sends, for
//! clients that run a command to get them (Claude Code's `headersHelper`).

use std::io::Write;
use std::process::ExitCode;

use oauth_store::store_core::ExposeSecret;

use crate::cli::{Global, TokenArgs};
use crate::cmd::token;
use crate::error::CliError;

/// Prints one JSON object, `{"Authorization": "Bearer <access token>"}` (RFC 6750
/// section 2.1), and a newline on stdout, nothing else (also under `--json`); the token
/// is the one `token` prints, after the same refresh. Warnings go to stderr.
pub(crate) fn run(global: &Global, args: &TokenArgs) -> Result<ExitCode, CliError> {
    let access_token = token::access_token(global, args)?;
    let headers = serde_json::json!({
        "Authorization": format!("Bearer {}", access_token.expose_secret()),
    });
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{headers}");
    let _ = stdout.flush();
    Ok(ExitCode::SUCCESS)
}
