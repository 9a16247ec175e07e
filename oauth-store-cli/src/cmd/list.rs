//! `list`: every stored credential, without a token value.

use std::process::ExitCode;

use oauth_store::Credential;
use oauth_store::store_core::ExposeSecret;

use crate::cli::{Global, StoreArg};
use crate::error::CliError;
use crate::open::{self, open};
use crate::output;

/// Prints one row (text) or one object (`--json`: an array of objects with exactly the
/// keys `server_name, server_url, store_key, store, status, expires_at_ms, expires_in_s,
/// has_refresh_token, client_id, issuer`) per stored copy. `status` is [`status`]'s;
/// URLs are shown with user info and query values masked, and every cell with control
/// characters escaped. An entry that does not parse
/// is a warning on stderr; a store that cannot be listed (a corrupt document, a keyring
/// that did not answer) is an error. A store that cannot be used here (no session bus)
/// is skipped, with a note unless `--store file` was asked for; so is, under `--store
/// auto|file`, a keyring that did not answer within `--keyring-timeout` (auto reads the
/// File store then too); under `--store keyring|secrets` it is an error when it is that
/// store.
pub(crate) fn run(global: &Global) -> Result<ExitCode, CliError> {
    let store = open(global)?;
    let (mut entries, failures) = store.list();
    let mut skipped = Vec::new();
    for (kind, error) in failures {
        if !open::skippable(global, kind, &error) {
            return Err(error.into());
        }
        skipped.push(error);
    }
    if global.store != StoreArg::File
        && let Some(note) = open::skipped_note(&skipped, "listed")
    {
        output::note(note);
    }
    entries.sort_by(|a, b| (a.key.as_str(), a.store).cmp(&(b.key.as_str(), b.store)));
    let now = output::now_ms();
    let mut rows = Vec::new();
    for entry in entries {
        match entry.credential {
            Ok(credential) => rows.push(row(
                &credential,
                entry.key.as_str(),
                entry.store.as_str(),
                now,
            )),
            Err(e) => output::warn(format!(
                "{e} (not listed; `oauth-store doctor` reports it too)"
            )),
        }
    }
    if global.json {
        output::json(&serde_json::Value::Array(rows));
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        output::line(format!(
            "no credentials in {}",
            output::path(store.layout().home())
        ));
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = vec![
        [
            "STORE_KEY",
            "STORE",
            "STATUS",
            "EXPIRES",
            "REFRESH",
            "CLIENT_ID",
            "ISSUER",
            "SERVER_URL",
        ]
        .map(str::to_owned)
        .to_vec(),
    ];
    for r in &rows {
        let text = |name: &str| r[name].as_str().unwrap_or("-").to_owned();
        let client = text("client_id");
        table.push(vec![
            text("store_key"),
            text("store"),
            text("status").replace('_', " "),
            output::describe_expiry(r["expires_in_s"].as_i64()),
            if r["has_refresh_token"] == true {
                "yes"
            } else {
                "no"
            }
            .to_owned(),
            if client.is_empty() {
                "-".to_owned()
            } else {
                client
            },
            text("issuer"),
            text("server_url"),
        ]);
    }
    output::line(output::table(&table));
    Ok(ExitCode::SUCCESS)
}

/// What a credential needs before it can be used, as `token` would see it with its
/// default `--min-valid` of 30 s: `valid` (an access token with 30 s or more left, or
/// of unknown expiry), `refreshable` (due or expired, with a refresh token), or
/// `login_required` (no tokens, or due without a refresh token).
pub(crate) fn status(credential: &Credential, now_ms: u64) -> &'static str {
    if !credential.has_tokens() {
        return "login_required";
    }
    let due = credential.access_token.expose_secret().is_empty()
        || credential
            .expires_in_ms(now_ms)
            .is_some_and(|left| left < MIN_VALID_MS);
    match (due, credential.refresh_token.is_some()) {
        (false, _) => "valid",
        (true, true) => "refreshable",
        (true, false) => "login_required",
    }
}

/// `token`'s default `--min-valid`, in ms.
const MIN_VALID_MS: i64 = 30_000;

/// The listed fields of one credential.
fn row(credential: &Credential, store_key: &str, store: &str, now_ms: u64) -> serde_json::Value {
    serde_json::json!({
        "server_name": credential.server_name,
        "server_url": oauth_store::store_core::display_server_url(&credential.server_url),
        "store_key": store_key,
        "store": store,
        "status": status(credential, now_ms),
        "expires_at_ms": credential.expires_at,
        "expires_in_s": output::expires_in_s(credential.expires_at, now_ms),
        "has_refresh_token": credential.refresh_token.is_some(),
        "client_id": credential.client_id,
        "issuer": credential.issuer,
    })
}
