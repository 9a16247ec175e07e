//! `show`: one credential, every secret field redacted.

use std::collections::BTreeMap;
use std::process::ExitCode;

use oauth_store::store_core::{display_server_url, redact_value};
use oauth_store::{AuthorizationReason, Credential, Error};
use serde_json::value::RawValue;

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
    let record = redacted(&credential);
    if global.json {
        output::json(&record);
        return Ok(ExitCode::SUCCESS);
    }
    output::line(format!(
        "store_key: {}",
        output::shown(handle.key().as_str())
    ));
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
            output::line(format!("{}: {value}", output::shown(&name)));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The record as JSON with every secret field redacted ([`redact_value`]) and the
/// server URL in its display form ([`display_server_url`]: no user info, no query
/// values).
///
/// Safe on any nesting the document parser accepted: a member kept byte-exact may nest
/// deeper than serde_json builds a `Value` (128 levels, counted from the member
/// the record), so each member is converted on its own, and one that cannot be is shown as
/// a placeholder instead of failing the whole record (or panicking, as
/// `serde_json::to_value` of it would).
pub(crate) fn redacted(credential: &Credential) -> serde_json::Value {
    const TOO_DEEP: &str = "<not shown: nested too deeply to display>";
    let mut fields = serde_json::Map::new();
    // Serializing to text copies kept members verbatim, and capturing a member as raw
    // text has no depth limit: no `Value` is built until each member is on its own.
    if let Ok(text) = serde_json::to_string(credential)
        && let Ok(members) = serde_json::from_str::<BTreeMap<String, Box<RawValue>>>(&text)
    {
        for (name, raw) in members {
            // Parsed one level down, as it will be printed: inside the record, so that
            // the output parses again with serde_json's default limit.
            let value =
                match serde_json::from_str::<[serde_json::Value; 1]>(&format!("[{}]", raw.get())) {
                    Ok([value]) => value,
                    Err(_) => serde_json::Value::String(TOO_DEEP.to_owned()),
                };
            fields.insert(name, value);
        }
    }
    if let Some(serde_json::Value::String(url)) = fields.get_mut("server_url") {
        *url = display_server_url(url).into_owned();
    }
    let mut value = serde_json::Value::Object(fields);
    redact_value(&mut value);
    value
}
