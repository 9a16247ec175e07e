//! `doctor`: what a person should know about a home, without changing it.

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use oauth_store::drift::{DriftError, DriftSidecar, Entry, Observation, Resolutions};
use oauth_store::file::{FileStore, FileWarning};
use oauth_store::lock::atomic;
use oauth_store::{
    LayoutPreset, OAuthStore, StoreError, StoreKey, StoreKind, StoreLayout, StoreMode,
};

use crate::cli::{Global, StoreArg};
use crate::error::CliError;
use crate::open::{self, Opening, open_with};
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

/// Looks at the home, the File store, the OS keyring (usable, or why not), the Secrets
/// store (document, key), every credential's resolution, the locks and their holders,
/// and prints a report; exit 6 when it found a problem, else 0.
pub(crate) fn run(global: &Global) -> Result<ExitCode, CliError> {
    // Without recording: doctor reads the drift sidecar and changes nothing.
    let store = open_with(
        global,
        Opening {
            record_drift: false,
            file_only: false,
        },
    )?;
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

    let keyring = keyring_state(global, layout, &mut problems, &mut notes);
    let secrets = secrets_state(global, layout, keyring.usable, &mut problems, &mut notes)?;

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
    let (credentials, failures) = resolve_all(&store, &recorded, keyring.usable, &mut problems);
    for (kind, error) in failures {
        // Said once, by the keyring's and the Secrets store's own lines above.
        let explained = match kind {
            StoreKind::Keyring => !keyring.usable,
            StoreKind::Secrets => secrets.key != "present",
            _ => false,
        };
        if explained {
            continue;
        }
        if open::tolerable(global, kind, &error) {
            notes.push(format!("{error}; what it holds is not listed here"));
        } else {
            problems.push(format!("{kind} store: {error}"));
        }
    }

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
            "keyring": {
                "usable": keyring.usable,
                "state": keyring.state,
                "reason": keyring.reason,
                "os_store": keyring.os_store,
                "service": keyring.service,
                "timeout_ms": keyring.timeout_ms,
            },
            "secrets": {
                "document": secrets.document,
                "document_present": secrets.document_present,
                "key": secrets.key,
                "key_location": secrets.key_location,
                "key_error": secrets.key_error,
            },
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
        output::line(format!(
            "keyring: {} ({}, service {}){}",
            if keyring.usable {
                "usable"
            } else {
                "NOT usable"
            },
            keyring.os_store,
            keyring.service,
            keyring
                .reason
                .as_ref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        ));
        let key = match (&secrets.key_error, keyring.usable) {
            (Some(_), false) => "unreadable here (the keyring is not usable)".to_owned(),
            (Some(error), true) => format!("unreadable here ({error})"),
            (None, _) => secrets.key.to_owned(),
        };
        output::line(format!(
            "secrets store: {} ({}); key: {key}, kept in the {}",
            secrets.document.display(),
            if secrets.document_present {
                "present"
            } else {
                "absent: nothing saved there yet"
            },
            secrets.key_location,
        ));
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
/// Also returns the stores that could not be listed, for the caller to judge.
fn resolve_all(
    store: &OAuthStore,
    recorded: &Resolutions,
    keyring_usable: bool,
    problems: &mut Vec<String>,
) -> (Vec<Resolved>, Vec<(StoreKind, StoreError)>) {
    let (entries, failures) = store.list();
    let keys: BTreeSet<StoreKey> = entries.iter().map(|e| e.key.clone()).collect();
    let resolved = keys
        .into_iter()
        .map(|key| {
            let handle = store.handle_for_key(key.clone());
            let loaded = handle.load();
            let resolution = handle.resolution();
            // An unusable keyring is reported once, by its own line, not per credential.
            let explained = matches!(
                &loaded,
                Err(oauth_store::Error::Store(StoreError::Unavailable { .. }))
            ) && !keyring_usable;
            let problem = match loaded {
                Ok(Some(credential)) if !credential.has_tokens() => {
                    Some("no tokens (the provider rejected the grant): log in again".to_owned())
                }
                Ok(_) => None,
                Err(e) => Some(e.to_string()),
            };
            if let Some(problem) = problem.as_ref().filter(|_| !explained) {
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
        .collect();
    (resolved, failures)
}

/// What `doctor` found of the OS keyring.
struct KeyringState {
    usable: bool,
    state: &'static str,
    reason: Option<String>,
    os_store: String,
    service: String,
    timeout_ms: u128,
}

/// Probes the keyring (a read, never a write; bounded by `--keyring-timeout`). Not
/// usable is a problem when the options need it (`--store keyring`, `--store secrets`,
/// whose key lives there), and a note otherwise: `--store auto` uses the File store by
/// design then.
fn keyring_state(
    global: &Global,
    layout: &StoreLayout,
    problems: &mut Vec<String>,
    notes: &mut Vec<String>,
) -> KeyringState {
    let keyring = open::keyring_store(global, layout);
    let usability = keyring.probe();
    let usable = usability.is_usable();
    if !usable {
        match open::required(global) {
            Some(kind) => problems.push(format!(
                "keyring: {usability}; --store {kind} needs it{}",
                if kind == StoreKind::Secrets {
                    " (the Secrets store's key lives there)"
                } else {
                    ""
                }
            )),
            None if global.store == StoreArg::File => {
                notes.push(format!("keyring: {usability} (not needed by --store file)"));
            }
            None => notes.push(format!(
                "keyring: {usability}; --store auto uses the File store here, by design"
            )),
        }
    }
    KeyringState {
        usable,
        state: usability.as_str(),
        reason: (!usable).then(|| usability.to_string()),
        os_store: keyring.os_store().to_string(),
        service: keyring.service().to_owned(),
        timeout_ms: keyring.timeout().as_millis(),
    }
}

/// What `doctor` found of the Secrets store.
struct SecretsState {
    document: PathBuf,
    document_present: bool,
    /// `present`, `absent` or `unreadable`.
    key: &'static str,
    key_location: String,
    key_error: Option<String>,
}

/// Looks at the Secrets document and reads its key source, never creating a key (the
/// key read is dropped at once). A document without its key is always a problem (its
/// credentials cannot be read anywhere); a key that cannot be read here is one under
/// `--store secrets` when the keyring itself is usable (otherwise the keyring's line
/// says why), and a note otherwise.
fn secrets_state(
    global: &Global,
    layout: &StoreLayout,
    keyring_usable: bool,
    problems: &mut Vec<String>,
    notes: &mut Vec<String>,
) -> Result<SecretsState, CliError> {
    let secrets = open::secrets_store(global, layout)?;
    let document = secrets.path().to_owned();
    let document_present = std::fs::symlink_metadata(&document).is_ok();
    let source = secrets.key_source();
    let key_location = source.location();
    let (key, key_error) = match source.load() {
        Ok(Some(_)) => ("present", None),
        Ok(None) => ("absent", None),
        Err(e) => ("unreadable", Some(e.to_string())),
    };
    match (document_present, key, &key_error) {
        (true, "absent", _) => problems.push(format!(
            "secrets store: {} exists, but the {key_location} holds no key: its credentials cannot be read; restore the exported key (`oauth-store secrets import-key`)",
            document.display()
        )),
        (_, "unreadable", Some(error)) => {
            let needed = open::required(global) == Some(StoreKind::Secrets);
            let text = format!(
                "secrets store: its key cannot be read here ({error}){}",
                if document_present {
                    ": its credentials cannot be read by this process"
                } else {
                    ""
                }
            );
            // With the keyring unusable, the keyring's own line says why.
            if needed && keyring_usable {
                problems.push(text);
            } else if !needed && keyring_usable {
                notes.push(text);
            }
        }
        _ => {}
    }
    Ok(SecretsState {
        document,
        document_present,
        key,
        key_location,
        key_error,
    })
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
