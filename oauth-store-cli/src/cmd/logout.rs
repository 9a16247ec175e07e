//! `logout`: removal from every store, after a best-effort revocation (RFC 7009).

use std::process::ExitCode;

use oauth_store::StoreKind;

use crate::cli::{Global, LogoutArgs, StoreArg};
use crate::error::CliError;
use crate::open::{self, open};
use crate::output;
use crate::provider;

/// With `--revoke`, revokes at the provider first (a failure is a warning); then removes
/// every copy under the credential lock and reports each store's outcome (`removed`,
/// `none`, `unavailable`, `failed`). Nothing stored is exit 0 with a note. A store that
/// cannot be used here (no session bus) is a note (none under `--store file`), unless the options need it
/// (`--store keyring|secrets`); any other failure is exit 4 naming what stayed where.
pub(crate) fn run(global: &Global, args: &LogoutArgs) -> Result<ExitCode, CliError> {
    let store = open(global)?;
    let handle = store.handle(&args.server.server, &args.server.url);
    let mut revoked = None;
    if args.revoke {
        match handle.load() {
            Ok(Some(credential)) if credential.has_tokens() => {
                match provider::revoke(global, store.layout(), &credential) {
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
    let outcomes = match handle.logout() {
        Ok(outcomes) => outcomes,
        // Sorted out below: a store that cannot be used here is not a failure unless
        // the options need it.
        Err(oauth_store::Error::LogoutIncomplete { outcomes, .. }) => outcomes,
        Err(e) => return Err(e.into()),
    };
    let mut removed = Vec::new();
    let mut stores = Vec::new();
    let mut unchecked = Vec::new();
    let mut failed = false;
    for outcome in &outcomes {
        let (word, reason) = match &outcome.result {
            Ok(true) => {
                removed.push(outcome.store);
                ("removed", None)
            }
            Ok(false) => ("none", None),
            Err(e) if open::tolerable(global, outcome.store, e) => {
                unchecked.push(e.to_string());
                ("unavailable", Some(e.to_string()))
            }
            Err(e) => {
                failed = true;
                ("failed", Some(e.to_string()))
            }
        };
        stores.push((outcome.store, word, reason));
    }
    if failed {
        let what: Vec<String> = stores
            .iter()
            .map(|(store, word, reason)| match (word, reason) {
                (&"failed", Some(reason)) => format!("{store}: STAYED ({reason})"),
                (_, Some(reason)) => format!("{store}: {word} ({reason})"),
                _ => format!("{store}: {word}"),
            })
            .collect();
        return Err(CliError::Failed(format!(
            "{}: logout incomplete: {}",
            handle.key(),
            what.join("; ")
        )));
    }
    if removed.is_empty() {
        output::note(format!(
            "nothing stored for {}; nothing to do",
            handle.key()
        ));
    }
    // Under --store file the keyring is not expected to work (the stdout line and the
    // JSON still say which store was not checked).
    for reason in unchecked.iter().filter(|_| global.store != StoreArg::File) {
        output::note(format!(
            "{reason}; a copy there, if any, stays (log out where that store can be reached)"
        ));
    }
    if global.json {
        output::json(&serde_json::json!({
            "store_key": handle.key().as_str(),
            "removed_from": removed.iter().map(StoreKind::as_str).collect::<Vec<_>>(),
            "stores": stores.iter().map(|(store, word, reason)| serde_json::json!({
                "store": store.as_str(),
                "outcome": word,
                "reason": reason,
            })).collect::<Vec<_>>(),
            "revoked": revoked,
        }));
    } else if !removed.is_empty() {
        let per_store: Vec<String> = stores
            .iter()
            .map(|(store, word, _)| {
                let word = match *word {
                    "none" => "nothing there",
                    "unavailable" => "not checked (cannot be used here)",
                    other => other,
                };
                format!("{store} store: {word}")
            })
            .collect();
        let revoked = revoked
            .map(|what| format!(" (revoked the {} at the provider)", what.replace('_', " ")))
            .unwrap_or_default();
        output::line(format!(
            "logged out {}{revoked}: {}",
            handle.key(),
            per_store.join("; ")
        ));
    }
    Ok(ExitCode::SUCCESS)
}
