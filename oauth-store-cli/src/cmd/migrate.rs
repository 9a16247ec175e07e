//! `migrate --to STORE`: every credential of the home into one store, one credential
//! lock at a time, the new copy saved before any old one is removed.

use std::collections::BTreeSet;
use std::process::ExitCode;

use oauth_store::{OAuthStore, StoreError, StoreKey, StoreKind, StoreMode};

use crate::cli::{BackendArg, Global, MigrateArgs, StoreArg, TargetArg};
use crate::error::CliError;
use crate::open::open;
use crate::output;

impl From<TargetArg> for StoreKind {
    fn from(arg: TargetArg) -> Self {
        match arg {
            TargetArg::File => StoreKind::File,
            TargetArg::Keyring => StoreKind::Keyring,
            TargetArg::Secrets => StoreKind::Secrets,
            TargetArg::Postgres => oauth_store_postgres::POSTGRES,
        }
    }
}

/// What happened to one credential.
enum Outcome {
    /// Saved in the target from `from`; older copies removed from `removed`.
    Moved {
        from: StoreKind,
        removed: Vec<StoreKind>,
    },
    /// The newest copy was in the target already; older copies removed from `removed`.
    Already { removed: Vec<StoreKind> },
    /// No copy was left when its lock was taken (logged out meanwhile).
    Gone,
    /// Not moved; every copy stays where it was.
    Failed { reason: String },
    /// Saved in the target, but an older copy could not be removed: a process that
    /// cannot reach the target could still find it.
    Stayed {
        from: StoreKind,
        removed: Vec<StoreKind>,
        stayed: Vec<(StoreKind, String)>,
    },
}

impl Outcome {
    fn failed(&self) -> bool {
        matches!(self, Outcome::Failed { .. } | Outcome::Stayed { .. })
    }

    fn name(&self) -> &'static str {
        match self {
            Outcome::Moved { .. } => "moved",
            Outcome::Already { .. } => "already",
            Outcome::Gone => "gone",
            Outcome::Failed { .. } => "failed",
            Outcome::Stayed { .. } => "older_copy_stayed",
        }
    }

    fn describe(&self, target: StoreKind) -> String {
        let removed = |removed: &[StoreKind]| {
            if removed.is_empty() {
                String::new()
            } else {
                format!("; removed the older copy from {}", names(removed))
            }
        };
        match self {
            Outcome::Moved { from, removed: r } => {
                let others: Vec<StoreKind> = r.iter().copied().filter(|k| k != from).collect();
                format!("moved from {from} to {target}{}", removed(&others))
            }
            Outcome::Already { removed: r } => format!("already in {target}{}", removed(r)),
            Outcome::Gone => "gone (logged out meanwhile); nothing to move".to_owned(),
            Outcome::Failed { reason } => format!("NOT MOVED: {reason}; it stays where it was"),
            Outcome::Stayed { from, stayed, .. } => format!(
                "saved in {target} (from {from}), but an older copy could not be removed: {}",
                stayed
                    .iter()
                    .map(|(kind, e)| format!("{kind}: {e}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        }
    }

    fn to_json(&self, key: &StoreKey) -> serde_json::Value {
        let (from, removed, error) = match self {
            Outcome::Moved { from, removed } => (Some(*from), removed.as_slice(), None),
            Outcome::Already { removed } => (None, removed.as_slice(), None),
            Outcome::Gone => (None, &[][..], None),
            Outcome::Failed { reason } => (None, &[][..], Some(reason.clone())),
            Outcome::Stayed {
                from,
                removed,
                stayed,
            } => (
                Some(*from),
                removed.as_slice(),
                Some(
                    stayed
                        .iter()
                        .map(|(kind, e)| format!("{kind}: {e}"))
                        .collect::<Vec<_>>()
                        .join("; "),
                ),
            ),
        };
        serde_json::json!({
            "store_key": key.as_str(),
            "outcome": self.name(),
            "from": from.map(|k| k.as_str()),
            "removed_from": removed.iter().map(StoreKind::as_str).collect::<Vec<_>>(),
            "error": error,
        })
    }
}

/// `file`, `file and secrets`.
fn names(kinds: &[StoreKind]) -> String {
    kinds
        .iter()
        .map(StoreKind::as_str)
        .collect::<Vec<_>>()
        .join(" and ")
}

/// Lists every store of the home (a store that cannot be used here, or a keyring that
/// did not answer under options that do not need it, is skipped with a note, unless it
/// is the target), then moves each credential under its credential
/// lock and prints one line per credential; exit 4 when any was not moved.
pub(crate) fn run(global: &Global, args: &MigrateArgs) -> Result<ExitCode, CliError> {
    let target = StoreKind::from(args.to);
    let postgres = oauth_store_postgres::POSTGRES;
    let store = if target == postgres || global.store == StoreArg::Postgres {
        open_with_postgres(global)?
    } else {
        open(global)?
    };
    if target != postgres {
        crate::open::ensure_usable(global, store.layout(), target)?;
    }
    let (entries, failures) = store.list();
    let mut skipped: Vec<(StoreKind, String)> = Vec::new();
    for (kind, error) in failures {
        // A store that cannot be used here, or a keyring that did not answer under
        // options that do not need it, is skipped: its copies stay where they are.
        if kind != target && crate::open::skippable(global, kind, &error) {
            skipped.push((kind, error.to_string()));
            continue;
        }
        // The target, or a store that failed otherwise (a corrupt document): nothing is
        // moved, so nothing is lost.
        return Err(error.into());
    }
    for (_, reason) in &skipped {
        output::note(format!(
            "{reason}; what it holds is not migrated (run migrate where it can be used)"
        ));
    }

    let mut outcomes: Vec<(StoreKey, Outcome)> = Vec::new();
    let mut keys: BTreeSet<StoreKey> = BTreeSet::new();
    for entry in &entries {
        if let Err(e) = &entry.credential {
            outcomes.push((
                entry.key.clone(),
                Outcome::Failed {
                    reason: format!("the copy in the {} store does not parse ({e})", entry.store),
                },
            ));
        }
    }
    let unparsed: BTreeSet<StoreKey> = outcomes.iter().map(|(k, _)| k.clone()).collect();
    keys.extend(
        entries
            .iter()
            .filter(|e| e.credential.is_ok() && !unparsed.contains(&e.key))
            .map(|e| e.key.clone()),
    );

    let skipped_kinds: Vec<StoreKind> = skipped.iter().map(|(k, _)| *k).collect();
    let mut target_unusable: Option<String> = None;
    for key in keys {
        let outcome = match &target_unusable {
            Some(reason) => Outcome::Failed {
                reason: format!("not tried: {reason}"),
            },
            None => {
                let outcome = move_one(&store, &key, target, &skipped_kinds);
                if let Err(e @ StoreError::Unavailable { .. }) = &outcome.1 {
                    target_unusable = Some(e.to_string());
                }
                outcome.0
            }
        };
        outcomes.push((key, outcome));
    }
    outcomes.sort_by(|a, b| a.0.cmp(&b.0));

    let failed = outcomes.iter().filter(|(_, o)| o.failed()).count();
    if global.json {
        output::json(&serde_json::json!({
            "to": target.as_str(),
            "credentials": outcomes.iter().map(|(k, o)| o.to_json(k)).collect::<Vec<_>>(),
            "skipped_stores": skipped.iter().map(|(kind, reason)| serde_json::json!({
                "store": kind.as_str(),
                "reason": reason,
            })).collect::<Vec<_>>(),
        }));
    } else if outcomes.is_empty() {
        output::line(format!(
            "nothing to migrate in {}",
            store.layout().home().display()
        ));
    } else {
        for (key, outcome) in &outcomes {
            output::line(format!("{key}: {}", outcome.describe(target)));
        }
    }
    if outcomes.len() > failed
        && let Some(hint) = mismatch(global, target)
    {
        output::note(hint);
    }
    if failed > 0 {
        return Err(CliError::Failed(format!(
            "migrate: {failed} of {} credential{} not completely moved to the {target} store (see stdout); no credential was lost",
            outcomes.len(),
            if outcomes.len() == 1 {
                " was"
            } else {
                "s were"
            }
        )));
    }
    Ok(ExitCode::SUCCESS)
}

/// The home with the database's store in the Secrets store's place (beside the File
/// store and the OS keyring) and its lock after every credential lock, for moving
/// credentials into the database or out of it. What the home's Secrets store holds is
/// not seen then: move it to the File store first.
fn open_with_postgres(global: &Global) -> Result<OAuthStore, CliError> {
    let db = crate::open::postgres(global)?;
    let layout = crate::open::layout(global)?;
    let mut file_global = global.clone();
    file_global.store = StoreArg::File;
    let builder = crate::open::builder(
        &file_global,
        crate::open::Opening {
            record_drift: true,
            file_only: true,
        },
    )?
    .keyring_store(std::sync::Arc::new(crate::open::keyring_store(
        global, &layout,
    )))
    .secrets_store(std::sync::Arc::new(db.store()))
    .shared_locker(std::sync::Arc::new(db.locker()));
    Ok(builder.build()?)
}

/// When the options this command ran with would save elsewhere than `target` (so the
/// next login or refresh under them moves a credential again), what to pass instead.
fn mismatch(global: &Global, target: StoreKind) -> Option<String> {
    let saves_to: &[StoreKind] = match (global.store, global.keyring_backend) {
        (StoreArg::File, _) => &[StoreKind::File],
        (StoreArg::Keyring, _) => &[StoreKind::Keyring],
        (StoreArg::Secrets, _) => &[StoreKind::Secrets],
        (StoreArg::Postgres, _) => &[oauth_store_postgres::POSTGRES],
        // Auto: the keyring (or the Secrets store) when usable, else the File store.
        (StoreArg::Auto, BackendArg::Direct) => &[StoreKind::Keyring, StoreKind::File],
        (StoreArg::Auto, BackendArg::Secrets) => &[StoreKind::Secrets, StoreKind::File],
    };
    if saves_to.contains(&target) {
        return None;
    }
    let advice = match target {
        StoreKind::Secrets => "--store secrets, or --store auto --keyring-backend secrets",
        StoreKind::Keyring => "--store keyring, or --store auto",
        k if k == oauth_store_postgres::POSTGRES => "--store postgres",
        _ => "--store file",
    };
    Some(format!(
        "the credentials are in the {target} store now, but --store {} saves elsewhere: a later refresh or import with these options may move them again; use {advice}",
        StoreMode::from(global.store)
    ))
}

/// Moves one credential through the facade's migration transaction
/// ([`oauth_store::CredentialHandle::migrate_to`]). The second element is the target's
/// save error, so the caller can stop when the target cannot be used at all.
fn move_one(
    store: &OAuthStore,
    key: &StoreKey,
    target: StoreKind,
    skipped: &[StoreKind],
) -> (Outcome, Result<(), StoreError>) {
    let failed = |reason: String| (Outcome::Failed { reason }, Ok(()));
    if store.store(target).is_none() {
        return failed(format!("this home has no {target} store"));
    }
    let migration = match store
        .handle_for_key(key.clone())
        .migrate_to(target, skipped)
    {
        Ok(migration) => migration,
        Err(oauth_store::Error::Store(e)) => {
            return (
                Outcome::Failed {
                    reason: e.to_string(),
                },
                Err(e),
            );
        }
        Err(e) => return failed(e.to_string()),
    };
    let Some(from) = migration.from else {
        return (Outcome::Gone, Ok(()));
    };
    let removed = migration.removed;
    let outcome = match (from == target, migration.stayed.is_empty()) {
        (true, true) => Outcome::Already { removed },
        (false, true) => Outcome::Moved { from, removed },
        (_, false) => Outcome::Stayed {
            from,
            removed,
            stayed: migration
                .stayed
                .into_iter()
                .map(|(kind, e)| (kind, e.to_string()))
                .collect(),
        },
    };
    (outcome, Ok(()))
}
