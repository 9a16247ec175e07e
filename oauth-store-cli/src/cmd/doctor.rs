//! `doctor`: what a person should know about a home, without changing it.

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use oauth_store::drift::{DriftError, DriftSidecar, Entry, Observation, Resolutions};
use oauth_store::file::{FileStore, FileWarning};
use oauth_store::lock::atomic;
use oauth_store::secrets::SecretsStore;
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
    /// The store the loaded copy was found in (as `list` and `show` name it).
    store: Option<String>,
    /// Every store holding a copy.
    stores: Vec<StoreKind>,
    /// Where the handle resolved (reads look at every store; saves go here).
    resolved_store: Option<String>,
    reason: Option<String>,
    problem: Option<String>,
    recorded: Option<Entry>,
}

/// What is at the home's path and its lock directory's, looked at before anything
/// opens them (opening creates a missing home and lock directory; doctor creates
/// nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Found {
    /// A directory (the home may be a symlink to one).
    Directory,
    /// Nothing yet.
    Missing,
    /// Something else; a problem was reported.
    Broken,
}

/// Looks at `home` and its `mcp-oauth-locks` without following a symlinked lock
/// directory, and reports what is wrong.
fn look(layout: &StoreLayout, problems: &mut Vec<String>) -> (Found, Found) {
    let home = layout.home();
    let home_found = match std::fs::metadata(home) {
        Ok(meta) if meta.is_dir() => Found::Directory,
        Ok(meta) => {
            problems.push(format!(
                "home: {} is a {}, not a directory: nothing can be stored there (move it away, or pass another --home)",
                home.display(),
                kind_of(&meta.file_type())
            ));
            Found::Broken
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Found::Missing,
        Err(e) => {
            problems.push(format!("home: {}: {e}", home.display()));
            Found::Broken
        }
    };
    if home_found != Found::Directory {
        return (home_found, Found::Missing);
    }
    let locks = layout.lock_dir();
    let locks_found = match std::fs::symlink_metadata(&locks) {
        Ok(meta) if meta.is_dir() => Found::Directory,
        Ok(meta) => {
            problems.push(format!(
                "{}: a {} is where the lock directory belongs: every command refuses it (remove it; it is made again, 0700, by the next command)",
                locks.display(),
                kind_of(&meta.file_type())
            ));
            Found::Broken
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Found::Missing,
        Err(e) => {
            problems.push(format!("{}: {e}", locks.display()));
            Found::Broken
        }
    };
    (home_found, locks_found)
}

/// `regular file`, `symlink`, ...
fn kind_of(file_type: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if file_type.is_symlink() {
        "symlink"
    } else if file_type.is_file() {
        "regular file"
    } else if file_type.is_dir() {
        "directory"
    } else if file_type.is_fifo() {
        "FIFO"
    } else if file_type.is_socket() {
        "socket"
    } else {
        "device"
    }
}

/// Looks at the home, the File store, the OS keyring (usable, or why not), the Secrets
/// store (document, key), every credential's resolution, the locks and their holders,
/// and prints a report; exit 6 when it found a problem, else 0.
///
/// Changes nothing: a home that does not exist yet is said so (and not created), and
/// a home or lock directory that cannot be opened as one is a problem, reported with
/// what can be seen without opening it.
pub(crate) fn run(global: &Global) -> Result<ExitCode, CliError> {
    if global.store == StoreArg::Postgres {
        return postgres(global);
    }
    let layout = StoreLayout::new(open::home(global)?, LayoutPreset::from(global.layout));
    let mut problems: Vec<String> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    let (home_found, locks_found) = look(&layout, &mut problems);
    if home_found != Found::Directory {
        return unopened(global, &layout, home_found, problems, notes);
    }
    // The lock directory is made by the first command that locks; a home without one
    // (the Codex CLI's, or one whose directory is broken) is read over a private
    // temporary one, so that nothing is created in it.
    let (store, secrets_store, private_locks) = if locks_found == Found::Directory {
        // Without recording: doctor reads the drift sidecar and changes nothing. The
        // home and its lock directory exist, so opening creates nothing.
        let store = open_with(
            global,
            Opening {
                record_drift: false,
                file_only: false,
            },
        )?;
        (store, open::secrets_store(global, &layout)?, None)
    } else {
        let (store, secrets, dir) = open_read_only(global, &layout)?;
        (store, secrets, Some(dir))
    };
    if locks_found == Found::Missing {
        notes.push(format!(
            "{}: does not exist yet (made by the first command that takes a lock); doctor does not create it",
            layout.lock_dir().display()
        ));
    }
    let layout = &layout;
    let current_uid = atomic::current_uid();

    inspect(layout.home(), true, current_uid, &mut problems);

    let file = FileStore::new(layout.file_document(), store.locks().clone())
        .with_locked_reads(layout.preset() == LayoutPreset::Codex && private_locks.is_none());
    let mut reported: BTreeSet<PathBuf> = BTreeSet::new();
    let problems_before = problems.len();
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

    let file_problem = problems.len() > problems_before;
    let keyring = keyring_state(global, layout, &mut problems, &mut notes);
    let secrets = secrets_state(
        global,
        &secrets_store,
        keyring.usable,
        &mut problems,
        &mut notes,
    );

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
    let (credentials, failures) =
        resolve_all(&store, &recorded, keyring.usable, &mut problems, &mut notes);
    let mut unlisted: Vec<StoreKind> = Vec::new();
    for (kind, error) in failures {
        // Said once, by the keyring's, the Secrets store's and the File store's own
        // lines above.
        let explained = match kind {
            StoreKind::Keyring => !keyring.usable,
            StoreKind::Secrets => secrets.key != "present",
            StoreKind::File => file_problem,
            // Another backend (the rescue file, a plug-in): its own error line below.
            _ => false,
        };
        unlisted.push(kind);
        if explained {
            continue;
        }
        if open::tolerable(global, kind, &error) {
            notes.push(format!("{error}; what it holds is not listed here"));
        } else {
            let hint = crate::error::store_hint(&error)
                .map(|h| format!("; {h}"))
                .unwrap_or_default();
            problems.push(format!("{kind} store: {error}{hint}"));
        }
    }

    let holders = if private_locks.is_some() {
        Vec::new()
    } else {
        store.locks().holders()
    };
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

    // One problem, one line: the same fault can be seen through several doors (the
    // home's owner, then the document's).
    let mut seen = BTreeSet::new();
    problems.retain(|p| seen.insert(p.clone()));
    let mut seen = BTreeSet::new();
    notes.retain(|n| seen.insert(n.clone()));

    if global.json {
        output::json(&serde_json::json!({
            "home": layout.home(),
            "home_exists": true,
            "layout": layout.preset().as_str(),
            "mode": store.mode().as_str(),
            "keyring_backend": store.keyring_backend().as_str(),
            "file_document": layout.file_document(),
            "credentials": credentials.iter().map(|c| serde_json::json!({
                "store_key": c.key.as_str(),
                "store": c.store,
                "stores": c.stores.iter().map(StoreKind::as_str).collect::<Vec<_>>(),
                "resolved_store": c.resolved_store,
                "reason": c.reason,
                "problem": c.problem,
                "recorded_store": c.recorded.map(|e| recorded_store(&e.last)),
                "recorded_reason": c.recorded.and_then(|e| e.last.reason).map(|r| r.as_str()),
                "drift": c.recorded.is_some_and(|e| e.drifted()),
            })).collect::<Vec<_>>(),
            "sidecar": layout.sidecar_document(),
            "lock_dir_exists": private_locks.is_none(),
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
        output::line(format!("home: {} ({fs})", output::path(layout.home())));
        output::line(format!(
            "layout: {}, mode: {}, keyring backend: {}",
            layout.preset().as_str(),
            store.mode(),
            store.keyring_backend()
        ));
        output::line(format!(
            "file store: {}",
            output::path(&layout.file_document())
        ));
        output::line(keyring_line(&keyring));
        let key = match (&secrets.key_error, keyring.usable) {
            (Some(_), false) => "unreadable here (the keyring is not usable)".to_owned(),
            (Some(error), true) => format!("unreadable here ({error})"),
            (None, _) => secrets.key.to_owned(),
        };
        output::line(format!(
            "secrets store: {} ({}); key: {key}, kept in the {}",
            output::path(&secrets.document),
            if secrets.document_present {
                "present"
            } else {
                "absent: nothing saved there yet"
            },
            secrets.key_location,
        ));
        output::line(format!(
            "drift sidecar: {}",
            output::path(&layout.sidecar_document())
        ));
        output::line(format!(
            "credentials: {}{}",
            credentials.len(),
            if unlisted.is_empty() {
                String::new()
            } else {
                format!(
                    " listed; the {} store{} could not be read (see above and below)",
                    unlisted
                        .iter()
                        .map(StoreKind::as_str)
                        .collect::<Vec<_>>()
                        .join(" and "),
                    if unlisted.len() == 1 { "" } else { "s" }
                )
            }
        ));
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
            let resolved = match (&c.resolved_store, &c.reason) {
                (Some(resolved), Some(reason)) if c.store.as_deref() == Some(resolved.as_str()) => {
                    reason.clone()
                }
                (Some(resolved), Some(reason)) => format!("{reason} (resolves to {resolved})"),
                _ => c.problem.clone().unwrap_or_default(),
            };
            rows.push(vec![
                format!("  {}", c.key),
                c.store.clone().unwrap_or_else(|| "-".into()),
                resolved,
                recorded,
            ]);
        }
        if !rows.is_empty() {
            output::line(output::table(&rows));
        }
        output::line(format!(
            "locks: {} in {}",
            holders.len(),
            output::path(&layout.lock_dir())
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
        finish_text(&notes, &problems);
    }
    Ok(exit_code(&problems))
}

/// The notes, the problems (each on its own line, escaped) and the verdict.
fn finish_text(notes: &[String], problems: &[String]) {
    for note in notes {
        output::line(format!("note: {}", output::shown(note)));
    }
    for problem in problems {
        output::line(format!("problem: {}", output::shown(problem)));
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

fn exit_code(problems: &[String]) -> ExitCode {
    if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(PROBLEMS_FOUND)
    }
}

/// The report on a home that cannot be opened without creating or changing something:
/// one that does not exist yet, or is not a directory. The keyring is probed (a read);
/// nothing else is looked at.
fn unopened(
    global: &Global,
    layout: &StoreLayout,
    home_found: Found,
    mut problems: Vec<String>,
    mut notes: Vec<String>,
) -> Result<ExitCode, CliError> {
    if home_found == Found::Missing {
        notes.push(format!(
            "home: {} does not exist yet: nothing is stored there; doctor created nothing (the first command that saves creates it, 0700)",
            layout.home().display()
        ));
    }
    let keyring = keyring_state(global, layout, &mut problems, &mut notes);
    if global.json {
        output::json(&serde_json::json!({
            "home": layout.home(),
            "home_exists": home_found != Found::Missing,
            "layout": layout.preset().as_str(),
            "mode": StoreMode::from(global.store).as_str(),
            "keyring_backend": oauth_store::KeyringBackend::from(global.keyring_backend).as_str(),
            "file_document": layout.file_document(),
            "sidecar": layout.sidecar_document(),
            "credentials": [],
            "lock_dir_exists": false,
            "locks": [],
            "keyring": {
                "usable": keyring.usable,
                "state": keyring.state,
                "reason": keyring.reason,
                "os_store": keyring.os_store,
                "service": keyring.service,
                "timeout_ms": keyring.timeout_ms,
            },
            "problems": problems,
            "notes": notes,
            "healthy": problems.is_empty(),
        }));
    } else {
        output::line(format!(
            "home: {} ({})",
            output::path(layout.home()),
            if home_found == Found::Missing {
                "does not exist yet"
            } else {
                "not a directory"
            }
        ));
        output::line(format!(
            "layout: {}, mode: {}, keyring backend: {}",
            layout.preset().as_str(),
            StoreMode::from(global.store),
            oauth_store::KeyringBackend::from(global.keyring_backend)
        ));
        output::line(keyring_line(&keyring));
        output::line("credentials: 0");
        finish_text(&notes, &problems);
    }
    Ok(exit_code(&problems))
}

/// `keyring: usable (secret-service, service oauth-store)` or `keyring: NOT usable (...): why`.
fn keyring_line(keyring: &KeyringState) -> String {
    format!(
        "keyring: {} ({}, service {}){}",
        if keyring.usable {
            "usable"
        } else {
            "NOT usable"
        },
        keyring.os_store,
        output::shown(&keyring.service),
        keyring
            .reason
            .as_ref()
            .map(|r| format!(": {}", output::shown(r)))
            .unwrap_or_default()
    )
}

/// The home's stores opened over a private temporary lock directory (removed when the
/// returned directory is dropped), for a home that has no usable lock directory of its
/// own: the File, keyring and Secrets stores are the home's, the facade's own home is
/// the temporary directory (nothing is recorded, saved or locked in the real one).
/// Reads of the File document then take no lock, which doctor can afford: it only
/// reports what it read.
fn open_read_only(
    global: &Global,
    layout: &StoreLayout,
) -> Result<(OAuthStore, SecretsStore, tempfile::TempDir), CliError> {
    use std::sync::Arc;
    use std::time::Duration;

    use oauth_store::keyring::SecretEntry;
    use oauth_store::secrets::{CodexPassphrase, KeyKind, KeySource, KeyringKey};

    let io = |e: std::io::Error| {
        CliError::Store(StoreError::Io {
            path: std::env::temp_dir(),
            source: e.into(),
        })
    };
    let private = tempfile::Builder::new()
        .prefix("oauth-store-doctor-")
        .tempdir()
        .map_err(io)?;
    let locks = oauth_store::lock::LockDir::open(private.path().join("mcp-oauth-locks"))
        .map_err(|e| CliError::Failed(e.to_string()))?;
    let file = FileStore::new(layout.file_document(), locks.clone());
    // The key's keyring entry, as `StoreLayout::secrets_store_with` names it (that
    // function also creates the home's lock directory, which doctor must not).
    let (service, account) = layout.secrets_key_entry();
    let entry = SecretEntry::new(service, account)
        .with_timeout(Duration::from_secs(global.keyring_timeout));
    let key: Arc<dyn KeySource> = match layout.preset() {
        LayoutPreset::Codex => Arc::new(CodexPassphrase::over(Arc::new(
            KeyringKey::from_entry(entry).with_kind(KeyKind::ScryptPassphrase),
        ))),
        _ => Arc::new(KeyringKey::from_entry(entry)),
    };
    let secrets = SecretsStore::new(layout.secrets_document(), locks.clone(), key);
    let keyring = open::keyring_store(global, layout);
    let store = OAuthStore::builder()
        .home(private.path())
        .layout(layout.preset())
        .mode(StoreMode::from(global.store))
        .keyring_backend(oauth_store::KeyringBackend::from(global.keyring_backend))
        .lock_timeout(Duration::from_secs(global.lock_timeout))
        .drift_sidecar(false)
        .default_stores(false)
        .file_store(Arc::new(file) as Arc<dyn oauth_store::CredentialStore>)
        .keyring_store(Arc::new(keyring) as Arc<dyn oauth_store::CredentialStore>)
        .secrets_store(Arc::new(secrets.clone()) as Arc<dyn oauth_store::CredentialStore>)
        .build()?;
    Ok((store, secrets, private))
}

/// Where an observation's credential was: the sidecar records `keyring` for both the
/// OS keyring and the Secrets store (whose key is there), so the mode and backend it
/// was recorded under say which one.
fn recorded_store(observation: &Observation) -> &'static str {
    use oauth_store::drift::ResolvedStore;
    match observation.resolved_store {
        ResolvedStore::File => "file",
        ResolvedStore::Keyring => match (observation.store_mode, observation.keyring_backend) {
            (StoreMode::Secrets, _) | (StoreMode::Auto, oauth_store::KeyringBackend::Secrets) => {
                "secrets"
            }
            _ => "keyring",
        },
        // Another backend's name, as recorded.
        other => other.as_str(),
    }
}

/// `file (auto_load_file_keyring_error)`.
fn describe(observation: &Observation) -> String {
    match observation.reason {
        Some(reason) => format!("{} ({reason})", recorded_store(observation)),
        None => recorded_store(observation).to_owned(),
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
    notes: &mut Vec<String>,
) -> (Vec<Resolved>, Vec<(StoreKind, StoreError)>) {
    let (entries, failures) = store.list();
    let mut copies: std::collections::BTreeMap<StoreKey, Vec<StoreKind>> = Default::default();
    for entry in &entries {
        let stores = copies.entry(entry.key.clone()).or_default();
        if !stores.contains(&entry.store) {
            stores.push(entry.store);
        }
    }
    let resolved = copies
        .into_iter()
        .map(|(key, stores)| {
            let handle = store.handle_for_key(key.clone());
            let loaded = handle.load_located();
            let resolution = handle.resolution();
            let found_in = loaded.as_ref().ok().and_then(|l| l.as_ref().map(|(_, kind)| *kind));
            if let (Some(found_in), Some(resolution)) = (found_in, resolution)
                && found_in != resolution.store
            {
                notes.push(format!(
                    "{key}: the copy is in the {found_in} store, but these options resolve it to the {} store ({}): a save moves it there (pass the options it was saved with to keep it in {found_in})",
                    resolution.store, resolution.reason
                ));
            }
            // An unusable keyring is reported once, by its own line, not per credential.
            let explained = matches!(
                &loaded,
                Err(oauth_store::Error::Store(StoreError::Unavailable { .. }))
            ) && !keyring_usable;
            let problem = match loaded {
                Ok(Some((credential, _))) if !credential.has_tokens() => {
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
                store: found_in.map(|k| k.as_str().to_owned()),
                stores,
                resolved_store: resolution.map(|r| r.store.as_str().to_owned()),
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
    secrets: &SecretsStore,
    keyring_usable: bool,
    problems: &mut Vec<String>,
    notes: &mut Vec<String>,
) -> SecretsState {
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
    SecretsState {
        document,
        document_present,
        key,
        key_location,
        key_error,
    }
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

/// `doctor --store postgres`: the database (server, TLS, schema version, how many
/// credentials the namespace holds, the live lock holders by host and pid) and the
/// home's lock directory (the machine's file locks and rescue files), creating nothing.
fn postgres(global: &Global) -> Result<ExitCode, CliError> {
    let url = open::database_url(global)?;
    let mut options = open::postgres_options(global);
    options.create_schema = false;
    let home = open::home(global)?;
    let lock_dir = StoreLayout::new(&home, LayoutPreset::from(global.layout)).lock_dir();
    let mut problems: Vec<String> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    let info = match oauth_store_postgres::inspect(&url, &options) {
        Ok(info) => Some(info),
        Err(e) => {
            problems.push(format!("database: {e}"));
            None
        }
    };
    if let Some(info) = &info {
        match info.schema_version {
            None => problems.push(format!(
                "database {}: no oauth-store schema yet; a command that saves (import, migrate --to postgres) creates it",
                info.target
            )),
            Some(v) if v > info.supported_schema => problems.push(format!(
                "database {}: schema version {v} is newer than this build reads ({}); upgrade oauth-store",
                info.target, info.supported_schema
            )),
            Some(_) => {}
        }
        if !info.tls
            && !info.target.starts_with('/')
            && !info.target.starts_with("localhost:")
            && !info.target.starts_with("127.")
        {
            problems.push(format!(
                "database {}: the connection is not encrypted",
                info.target
            ));
        }
    }
    if !lock_dir.is_dir() {
        notes.push(format!(
            "{}: does not exist yet (made by the first command that takes a lock); doctor does not create it",
            lock_dir.display()
        ));
    }
    notes.push(format!(
        "the lock of a vanished host is freed within about {} s (keepalives); a killed process's at once",
        options.dead_host_bound().as_secs()
    ));
    if global.json {
        output::json(&serde_json::json!({
            "store": "postgres",
            "home": home,
            "lock_dir": lock_dir,
            "database": info.as_ref().map(|i| serde_json::json!({
                "target": i.target,
                "server_version": i.server_version,
                "tls": i.tls,
                "schema_version": i.schema_version,
                "supported_schema_version": i.supported_schema,
                "namespace": i.namespace,
                "credentials": i.credentials,
                "lock_holders": i.holders.iter().map(|h| serde_json::json!({
                    "store_key": h.key.as_ref().map(StoreKey::as_str),
                    "application_name": h.application_name,
                    "backend_pid": h.backend_pid,
                    "client_addr": h.client_addr,
                    "idle_seconds": h.idle_seconds,
                })).collect::<Vec<_>>(),
            })),
            "problems": problems,
            "notes": notes,
            "healthy": problems.is_empty(),
        }));
    } else {
        output::line(format!(
            "home: {} (lock directory and rescue files of this machine)",
            output::path(&home)
        ));
        if let Some(info) = &info {
            output::line(format!(
                "database: {} (PostgreSQL {}, {})",
                output::shown(&info.target),
                output::shown(&info.server_version),
                if info.tls { "TLS" } else { "no TLS" }
            ));
            output::line(format!(
                "schema: {} (this build reads {})",
                info.schema_version
                    .map_or_else(|| "none".to_owned(), |v| format!("version {v}")),
                info.supported_schema
            ));
            output::line(format!(
                "namespace: {} ({} credentials)",
                output::shown(&info.namespace),
                info.credentials
            ));
            if info.holders.is_empty() {
                output::line("lock holders: none");
            } else {
                let mut rows = vec![vec![
                    "KEY".to_owned(),
                    "HOLDER".to_owned(),
                    "BACKEND".to_owned(),
                    "CLIENT".to_owned(),
                    "IDLE".to_owned(),
                ]];
                for h in &info.holders {
                    rows.push(vec![
                        h.key.as_ref().map_or_else(
                            || "(other)".to_owned(),
                            |k| output::shown(k.as_str()).into_owned(),
                        ),
                        h.application_name.clone(),
                        h.backend_pid.to_string(),
                        output::shown(&h.client_addr).into_owned(),
                        format!("{:.1}s", h.idle_seconds),
                    ]);
                }
                output::line("lock holders:");
                output::line(output::table(&rows));
            }
        }
        finish_text(&notes, &problems);
    }
    Ok(exit_code(&problems))
}
