//! `key`: the store key of a server (DESIGN.md "Identity").

use std::process::ExitCode;

use oauth_store::compute_store_key;

use crate::cli::{Global, Server};
use crate::error::CliError;
use crate::output;

/// Prints `NAME|<16 hex>`, or with `--json` `{"server_name","server_url","store_key"}`
/// (the URL with query values masked, as every output shows it).
/// Touches no file.
pub(crate) fn run(global: &Global, server: &Server) -> Result<ExitCode, CliError> {
    let key = compute_store_key(&server.server, &server.url);
    if global.json {
        output::json(&serde_json::json!({
            "server_name": server.server,
            "server_url": oauth_store::store_core::display_server_url(&server.url),
            "store_key": key.as_str(),
        }));
    } else {
        output::line(key);
    }
    Ok(ExitCode::SUCCESS)
}
