//! `repair`: quarantine a File store document that does not parse and rebuild it.

use std::process::ExitCode;
use std::time::Duration;

use oauth_store::LayoutPreset;
use oauth_store::file::FileStore;

use crate::cli::Global;
use crate::error::CliError;
use crate::open::open;
use crate::output;

/// Runs [`FileStore::repair`] on the home's `.credentials.json` and says what it did.
pub(crate) fn run(global: &Global) -> Result<ExitCode, CliError> {
    let store = open(global)?;
    let layout = store.layout();
    let document = layout.file_document();
    let file = FileStore::new(&document, store.locks().clone())
        .with_locked_reads(layout.preset() == LayoutPreset::Codex)
        .with_lock_timeout(Duration::from_secs(global.lock_timeout));
    let report = file.repair()?;
    if global.json {
        output::json(&serde_json::json!({
            "document": document,
            "quarantined": report.quarantined,
            "kept": report.kept,
            "dropped": report.dropped,
            "rewritten": report.rewritten,
        }));
        return Ok(ExitCode::SUCCESS);
    }
    match &report.quarantined {
        Some(quarantined) => output::line(format!(
            "repaired {}: the old document is kept at {}; {} entr{} kept, {} dropped (entries after the damage are only in the quarantined copy, which may hold tokens: delete it once checked)",
            document.display(),
            quarantined.display(),
            report.kept,
            if report.kept == 1 { "y" } else { "ies" },
            report.dropped
        )),
        None if report.rewritten > 0 => output::line(format!(
            "repaired {}: rewrote {} entr{} holding a field twice (the last occurrence kept, as readers take it); nothing lost",
            document.display(),
            report.rewritten,
            if report.rewritten == 1 { "y" } else { "ies" }
        )),
        None if document.exists() => output::line(format!(
            "{} parses ({} entr{}); nothing to repair",
            document.display(),
            report.kept,
            if report.kept == 1 { "y" } else { "ies" }
        )),
        None => output::line(format!(
            "no document at {}; nothing to repair",
            document.display()
        )),
    }
    Ok(ExitCode::SUCCESS)
}
