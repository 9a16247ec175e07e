//! `refresh`: a refresh through the serialized transaction, when due or (`--force`) now.

use std::process::ExitCode;
use std::time::Duration;

use crate::cli::{Global, RefreshArgs};
use crate::error::CliError;
use crate::open::open;
use crate::output;

/// When a token is due without `--force`: the same margin as `token`'s default.
const DUE_WITHIN: Duration = Duration::from_secs(30);

/// Refreshes when the access token has less than 30 s left, or with `--force` now (unless
/// another process refreshed meanwhile: its fresh token is adopted instead of spending
/// another rotation). Prints what happened, never a token.
pub(crate) fn run(global: &Global, args: &RefreshArgs) -> Result<ExitCode, CliError> {
    let store = open(global)?;
    let handle = store.handle(&args.server.server, &args.server.url);
    let before = handle.load()?;
    let after = if args.force {
        handle.force_refresh()?
    } else {
        handle.refresh_if_needed(DUE_WITHIN)?
    };
    super::token::note_rescue(&handle);
    let renewed = before.as_ref().is_none_or(|b| !b.same_tokens(&after));
    let expires_in = output::expires_in_s(after.expires_at, output::now_ms());
    if global.json {
        output::json(&serde_json::json!({
            "store_key": handle.key().as_str(),
            "refreshed": renewed,
            "expires_at_ms": after.expires_at,
            "expires_in_s": expires_in,
        }));
    } else if renewed {
        output::line(format!(
            "refreshed {}: the access token {}",
            handle.key(),
            output::expiry_phrase(expires_in)
        ));
    } else {
        output::line(format!(
            "{}: the access token {}; not refreshed (--force refreshes now)",
            handle.key(),
            output::expiry_phrase(expires_in)
        ));
    }
    Ok(ExitCode::SUCCESS)
}
