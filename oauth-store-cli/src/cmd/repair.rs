//! `repair`: quarantine a File store document that does not parse and rebuild it, and
//! say what it cannot repair.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use oauth_store::file::FileStore;
use oauth_store::{CredentialStore, LayoutPreset, StoreError, StoreKey, compute_store_key};
use serde_json::value::RawValue;

use crate::cli::Global;
use crate::error::CliError;
use crate::open::open;
use crate::output;

/// An entry that parses as JSON but not as a record: repair cannot guess its fields.
struct Unrepairable {
    key: StoreKey,
    reason: String,
    /// `--server NAME --url URL` of the key, when the entry names a URL that gives it.
    server: Option<String>,
}

/// Runs [`FileStore::repair`] on the home's `.credentials.json` (the File store only:
/// the keyring and the Secrets store are never changed) and says what it did, then
/// names every entry it leaves as it is because it parses as JSON but not as a record,
/// with the `import` or `logout` that fixes it.
pub(crate) fn run(global: &Global) -> Result<ExitCode, CliError> {
    let store = open(global)?;
    let layout = store.layout();
    let document = layout.file_document();
    let file = FileStore::new(&document, store.locks().clone())
        .with_locked_reads(layout.preset() == LayoutPreset::Codex)
        .with_lock_timeout(Duration::from_secs(global.lock_timeout));
    let report = file.repair()?;
    let unrepairable = unrepairable(&file, &document);
    if global.json {
        output::json(&serde_json::json!({
            "document": document,
            "store": "file",
            "quarantined": report.quarantined,
            "kept": report.kept,
            "dropped": report.dropped,
            "rewritten": report.rewritten,
            "too_large_bytes": report.too_large,
            "unrepairable": unrepairable.iter().map(|u| serde_json::json!({
                "store_key": u.key.as_str(),
                "reason": u.reason,
                "fix": fix(u),
            })).collect::<Vec<_>>(),
        }));
        return Ok(ExitCode::SUCCESS);
    }
    let entries = |n: usize| format!("{n} entr{}", if n == 1 { "y" } else { "ies" });
    let shown = output::path(&document);
    match (&report.quarantined, report.too_large) {
        (Some(quarantined), Some(size)) => output::line(format!(
            "repaired the File store document {shown}: it was {size} bytes, over the size limit, so it was set aside whole at {} and rebuilt from its first part: {} kept, {} dropped (entries past the limit are only in the set-aside copy, which may hold tokens: delete it once checked)",
            output::path(quarantined),
            entries(report.kept),
            report.dropped
        )),
        (Some(quarantined), None) => output::line(format!(
            "repaired the File store document {shown}: the old document is kept at {}; {} kept, {} dropped (entries after the damage are only in the quarantined copy, which may hold tokens: delete it once checked)",
            output::path(quarantined),
            entries(report.kept),
            report.dropped
        )),
        (None, _) if report.rewritten > 0 => output::line(format!(
            "repaired the File store document {shown}: rewrote {} holding a field twice (the last occurrence kept, as readers take it); nothing lost",
            entries(report.rewritten)
        )),
        (None, _) if document.exists() => output::line(format!(
            "the File store document {shown} parses ({}{}); nothing to quarantine",
            entries(report.kept),
            if unrepairable.is_empty() {
                String::new()
            } else {
                format!(", {} not a record", unrepairable.len())
            }
        )),
        (None, _) => output::line(format!(
            "no File store document at {shown}; nothing to repair"
        )),
    }
    for u in &unrepairable {
        output::line(format!(
            "{}: parses as JSON but not as a credential record ({}); repair keeps it as it is: {}",
            output::shown(u.key.as_str()),
            output::shown(&u.reason),
            fix(u)
        ));
    }
    output::line(
        "(repair works on the File store only; the keyring and the Secrets store are not changed)",
    );
    Ok(ExitCode::SUCCESS)
}

/// The commands that replace or remove an unrepairable entry.
fn fix(u: &Unrepairable) -> String {
    match &u.server {
        Some(server) => format!(
            "save a new login over it (`oauth-store import {server}`) or remove it (`oauth-store logout {server}`)"
        ),
        None => format!(
            "save a new login over it (`oauth-store import`) or remove it (`oauth-store logout`) with the --server and --url that give the key {}",
            output::shown(u.key.as_str())
        ),
    }
}

/// Every entry of the (now parseable) document that does not parse as a record, with
/// the `--server`/`--url` that name its key when the entry holds a URL that gives it.
fn unrepairable(file: &FileStore, document: &std::path::Path) -> Vec<Unrepairable> {
    let Ok(listed) = file.list() else {
        return Vec::new();
    };
    let bad: Vec<(StoreKey, String)> = listed
        .into_iter()
        .filter_map(|l| match l.credential {
            Err(StoreError::CorruptEntry { reason, .. }) => Some((l.key, reason)),
            Err(e) => Some((l.key, e.to_string())),
            Ok(_) => None,
        })
        .collect();
    if bad.is_empty() {
        return Vec::new();
    }
    // The entries' own text, to find the URL each was saved with.
    let raw: BTreeMap<String, Box<RawValue>> = std::fs::read(document)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default();
    bad.into_iter()
        .map(|(key, reason)| {
            let url = raw
                .get(key.as_str())
                .and_then(|r| serde_json::from_str::<serde_json::Value>(r.get()).ok())
                .and_then(|v| {
                    v.get("server_url")
                        .and_then(|u| u.as_str())
                        .map(str::to_owned)
                });
            let name = key.server_name().to_owned();
            let server = url
                .filter(|url| {
                    compute_store_key(&name, url) == key
                        && oauth_store::store_core::check_server_url(url).is_ok()
                        && !name.chars().any(|c| c.is_control() || c == '\'')
                        && !url.contains('\'')
                })
                .map(|url| format!("--server '{name}' --url '{url}'"));
            Unrepairable {
                key,
                reason,
                server,
            }
        })
        .collect()
}
