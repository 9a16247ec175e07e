//! `doctor`: what a person should know about a home, without changing it.

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use oauth_store::drift::{DriftError, DriftSidecar, Entry, Observation, Resolutions};
use oauth_store::file::{FileStore, FileWarning};
use oauth_store::lock::atomic;
use oauth_store::{LayoutPreset, OAuthStore, StoreKey, StoreMode};

use crate::cli::Global;
use crate::error::CliError;
use crate::open::open_with;
use crate::output;

/// Exit code of a doctor that found a problem.
const PROBLEMS_FOUND: u8 = 6;

/// One credential: where its handle resolved and why, and what the drift sidecar
/// recorded for it.
struct Resolved {
    key: StoreKey,
    store: Option<String>,
    reason: Option<String>,
    problem: Option<String>,
    recorded: Option<Entry>,
}

/// Looks at the home, the File store, every credential's resolution, the locks and their
/// holders, and prints a report; exit 6 when it found a problem, else 0.
pub(crate) fn run(global: &Global) -> Result<ExitCode, CliError> {
    // Without recording: doctor reads the drift sidecar and changes nothing.
    let store = open_with(global, false)?;
    let layout = store.layout();
    let mut problems: Vec<String> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    let current_uid = atomic::current_uid();

    inspect(layout.home(), true, current_uid, &mut problems);

    let file = FileStore::new(layout.file_document(), store.locks().clone())
        .with_locked_reads(layout.preset() == LayoutPreset::Codex);
    let mut reported: BTreeSet<PathBuf> = BTreeSet::new();
    for warning in file.check() {
        match &warning {
            // Harmless leftovers a person may want to delete (both may hold tokens).
            FileWarning::LeftoverTempFile { .. } | FileWarning::QuarantinedCopy { .. } => {
                notes.push(warning.to_string());
            }
            FileWarning::LoosePermissions { path, .. } | FileWarning::ForeignOwner { path, .. } => {
                reported.insert(path.clone());
                problems.push(warning.to_string());
            }
            _ => problems.push(warning.to_string()),
        }
    }

    let sidecar = DriftSidecar::new(layout.sidecar_document(), store.locks().clone());
    let recorded = match sidecar.read() {
        Ok(resolutions) => resolutions,
        Err(e @ DriftError::Corrupt { .. }) => {
            problems.push(format!("{e}: drift is not recorded until it is removed"));
            Resolutions::default()
        }
        Err(e) => {
            notes.push(e.to_string());
            Resolutions::default()
        }
    };
    for (key, what) in &recorded.unreadable {
        notes.push(format!("drift sidecar: the entry of {key} does not parse ({what}); its next observation replaces it"));
    }
    let credentials = resolve_all(&store, &recorded, &mut problems);

    let holders = store.locks().holders();
    for (path, _) in &holders {
        if !reported.contains(path) {
            inspect(path, false, current_uid, &mut problems);
        }
    }
    for (path, pid) in &holders {
        if let Some(pid) = pid {
            notes.push(format!("{} is held by pid {pid} right now", path.display()));
        }
    }
    let not_yet = "not in this build yet";
    if global.unsafe_uncoordinated {
        notes.push("--unsafe-uncoordinated was given: this invocation does not coordinate (demonstrations and tests only)".into());
    }

    if global.json {
        output::json(&serde_json::json!({
            "home": layout.home(),
            "layout": layout.preset().as_str(),
            "mode": store.mode().as_str(),
            "keyring_backend": store.keyring_backend().as_str(),
            "file_document": layout.file_document(),
            "credentials": credentials.iter().map(|c| serde_json::json!({
                "store_key": c.key.as_str(),
                "store": c.store,
                "reason": c.reason,
                "problem": c.problem,
                "recorded_store": c.recorded.map(|e| e.last.resolved_store.as_str()),
                "recorded_reason": c.recorded.and_then(|e| e.last.reason).map(|r| r.as_str()),
                "drift": c.recorded.is_some_and(|e| e.drifted()),
            })).collect::<Vec<_>>(),
            "sidecar": layout.sidecar_document(),
            "locks": holders.iter().map(|(path, pid)| serde_json::json!({
                "path": path,
                "holder_pid": pid,
            })).collect::<Vec<_>>(),
            "network_filesystem": atomic::is_network_filesystem(layout.home()),
            "keyring": not_yet,
            "problems": problems,
            "notes": notes,
            "healthy": problems.is_empty(),
        }));
    } else {
        let fs = atomic::filesystem_type(layout.home()).unwrap_or_else(|| "unknown".into());
        output::line(format!("home: {} ({fs})", layout.home().display()));
        output::line(format!(
            "layout: {}, mode: {}, keyring backend: {}",
            layout.preset().as_str(),
            store.mode(),
            store.keyring_backend()
        ));
        output::line(format!("file store: {}", layout.file_document().display()));
        output::line(format!("keyring: {not_yet}"));
        output::line(format!(
            "drift sidecar: {}",
            layout.sidecar_document().display()
        ));
        output::line(format!("credentials: {}", credentials.len()));
        let mut rows = Vec::new();
        for c in &credentials {
            let recorded = c.recorded.map_or_else(
                || "recorded: -".to_owned(),
                |e| {
                    format!(
                        "recorded: {}{}",
                        describe(&e.last),
                        if e.drifted() { ", DRIFTED" } else { "" }
                    )
                },
            );
            rows.push(vec![
                format!("  {}", c.key),
                c.store.clone().unwrap_or_else(|| "-".into()),
                c.reason
                    .clone()
                    .unwrap_or_else(|| c.problem.clone().unwrap_or_default()),
                recorded,
            ]);
        }
        if !rows.is_empty() {
            output::line(output::table(&rows));
        }
        output::line(format!(
            "locks: {} in {}",
            holders.len(),
            store.locks().path().display()
        ));
        let rows: Vec<Vec<String>> = holders
            .iter()
            .map(|(path, pid)| {
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let holder = pid.map_or_else(|| "free".to_owned(), |p| format!("held by pid {p}"));
                vec![format!("  {name}"), holder]
            })
            .collect();
        if !rows.is_empty() {
            output::line(output::table(&rows));
        }
        for note in &notes {
            output::line(format!("note: {note}"));
        }
        for problem in &problems {
            output::line(format!("problem: {problem}"));
        }
        if problems.is_empty() {
            output::line("healthy");
        } else {
            output::line(format!(
                "{} problem{} found",
                problems.len(),
                if problems.len() == 1 { "" } else { "s" }
            ));
        }
    }
    Ok(if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(PROBLEMS_FOUND)
    })
}

/// `file (auto_load_file_keyring_error)`.
fn describe(observation: &Observation) -> String {
    match observation.reason {
        Some(reason) => format!("{} ({reason})", observation.resolved_store),
        None => observation.resolved_store.to_string(),
    }
}

/// Resolves every stored key as a command would, says where it went and why, and
/// compares with the drift sidecar's record.
fn resolve_all(
    store: &OAuthStore,
    recorded: &Resolutions,
    problems: &mut Vec<String>,
) -> Vec<Resolved> {
    let (entries, failures) = store.list();
    for (kind, error) in failures {
        problems.push(format!("{kind} store: {error}"));
    }
    let keys: BTreeSet<StoreKey> = entries.iter().map(|e| e.key.clone()).collect();
    keys.into_iter()
        .map(|key| {
            let handle = store.handle_for_key(key.clone());
            let loaded = handle.load();
            let resolution = handle.resolution();
            let problem = match loaded {
                Ok(Some(credential)) if !credential.has_tokens() => {
                    Some("no tokens (the provider rejected the grant): log in again".to_owned())
                }
                Ok(_) => None,
                Err(e) => Some(e.to_string()),
            };
            if let Some(problem) = &problem {
                problems.push(format!("{key}: {problem}"));
            }
            let entry = recorded.get(&key).copied();
            if let Some(entry) = entry {
                if entry.drifted()
                    && let Some(previous) = entry.previous
                {
                    problems.push(format!(
                        "{key}: drift: Auto resolved to {} after {} before, without a migration (a keyring that failed or went missing hides the credential)",
                        describe(&entry.last),
                        describe(&previous)
                    ));
                }
                // What this run resolved to, against the last Auto observation with the
                // same keyring backend: a difference is drift about to happen.
                if let Some(now) = resolution
                    && store.mode() == StoreMode::Auto
                    && entry.last.store_mode == StoreMode::Auto
                    && entry.last.keyring_backend == store.keyring_backend()
                    && oauth_store::drift::ResolvedStore::from(now.store) != entry.last.resolved_store
                {
                    problems.push(format!(
                        "{key}: resolves to {} ({}) now, but to {} last time: the next command will record drift",
                        now.store,
                        now.reason,
                        describe(&entry.last)
                    ));
                }
            }
            Resolved {
                key,
                store: resolution.map(|r| r.store.as_str().to_owned()),
                reason: resolution.map(|r| r.reason.as_str().to_owned()),
                problem,
                recorded: entry,
            }
        })
        .collect()
}

/// Reports a file or directory open to other users, or owned by another user.
fn inspect(path: &Path, is_dir: bool, current_uid: Option<u32>, problems: &mut Vec<String>) {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return;
    };
    if meta.is_dir() != is_dir {
        problems.push(format!(
            "{}: expected a {}",
            path.display(),
            if is_dir { "directory" } else { "regular file" }
        ));
        return;
    }
    if let Some(current) = current_uid
        && meta.uid() != current
    {
        problems.push(format!(
            "{}: owned by uid {}, but this process runs as uid {current}; a run under sudo may have created it (fix with chown)",
            path.display(),
            meta.uid()
        ));
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        problems.push(format!(
            "{}: mode {mode:04o} lets other users in; expected {}",
            path.display(),
            if is_dir { "0700" } else { "0600" }
        ));
    }
}
