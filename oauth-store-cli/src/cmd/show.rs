//! `show`: one credential, every secret field redacted.

use std::process::ExitCode;

use oauth_store::{AuthorizationReason, Error};

use crate::cli::{Global, Server};
use crate::error::CliError;
use crate::open::open;
use crate::output;

/// Prints the record with every field ending in `_token` or containing `secret` shown as
/// `"<redacted>"`: with `--json` the record as a JSON object, else one `field: value`
/// line per field after the key and the store it resolved to. Nothing stored: exit 3.
pub(crate) fn run(global: &Global, server: &Server) -> Result<ExitCode, CliError> {
    let store = open(global)?;
    let handle = store.handle(&server.server, &server.url);
    let (credential, found_in) =
        handle
            .load_located()?
            .ok_or_else(|| Error::AuthorizationRequired {
                key: handle.key().clone(),
                reason: AuthorizationReason::NothingStored,
            })?;
    let record = credential.to_redacted_json();
    if global.json {
        output::json(&record);
        return Ok(ExitCode::SUCCESS);
    }
    output::line(format!("store_key: {}", handle.key()));
    if let Some(resolution) = handle.resolution() {
        if resolution.store == found_in {
            output::line(format!("store: {found_in} ({})", resolution.reason));
        } else {
            // Reads look at every store of the layout; say where this copy lives.
            output::line(format!(
                "store: {found_in} (resolved to {} by {}; this copy is in {found_in})",
                resolution.store, resolution.reason
            ));
        }
    }
    let expires_in = output::expires_in_s(credential.expires_at, output::now_ms());
    output::line(format!("expires: {}", output::describe_expiry(expires_in)));
    if let serde_json::Value::Object(fields) = record {
        for (name, value) in fields {
            output::line(format!("{name}: {value}"));
        }
    }
    Ok(ExitCode::SUCCESS)
}
