//! `logout`: removal from every store, after a best-effort revocation (RFC 7009).

use std::process::ExitCode;

use oauth_store::StoreKind;

use crate::cli::{Global, LogoutArgs};
use crate::error::CliError;
use crate::open::open;
use crate::output;
use crate::provider;

/// With `--revoke`, revokes at the provider first (a failure is a warning); then removes
/// every copy under the credential lock. Nothing stored is exit 0 with a note.
pub(crate) fn run(global: &Global, args: &LogoutArgs) -> Result<ExitCode, CliError> {
    let store = open(global)?;
    let handle = store.handle(&args.server.server, &args.server.url);
    let mut revoked = None;
    if args.revoke {
        match handle.load() {
            Ok(Some(credential)) if credential.has_tokens() => {
                match provider::revoke(&credential) {
                    Ok(what) => revoked = Some(what),
                    Err(reason) => output::warn(format!(
                        "{}: revocation at the provider failed ({reason}); removing the local copy anyway",
                        handle.key()
                    )),
                }
            }
            Ok(_) => {}
            Err(e) => output::warn(format!("{e}; cannot revoke it, removing it anyway")),
        }
    }
    let outcomes = handle.logout()?;
    let removed: Vec<StoreKind> = outcomes
        .iter()
        .filter(|o| matches!(o.result, Ok(true)))
        .map(|o| o.store)
        .collect();
    if removed.is_empty() {
        output::note(format!(
            "nothing stored for {}; nothing to do",
            handle.key()
        ));
    }
    if global.json {
        output::json(&serde_json::json!({
            "store_key": handle.key().as_str(),
            "removed_from": removed.iter().map(StoreKind::as_str).collect::<Vec<_>>(),
            "revoked": revoked,
        }));
    } else if !removed.is_empty() {
        let stores: Vec<&str> = removed.iter().map(StoreKind::as_str).collect();
        let revoked = revoked
            .map(|what| format!(" (revoked the {} at the provider)", what.replace('_', " ")))
            .unwrap_or_default();
        output::line(format!(
            "logged out {}: removed from the {} store{}{revoked}",
            handle.key(),
            stores.join(" and "),
            if stores.len() > 1 { "s" } else { "" }
        ));
    }
    Ok(ExitCode::SUCCESS)
}
