//! `secrets export-key | rekey | import-key`: the Secrets store's key, whose loss loses
//! every credential in its document. `export-key` is the one command that prints a
//! secret.

use std::io::{IsTerminal, Read, Write};
use std::path::Path;
use std::process::ExitCode;

use oauth_store::StoreError;
use oauth_store::secrets::{KEY_FILE_SIZE_CAP, SecretsError, SecretsStore};
use oauth_store::store_core::secrecy::zeroize::Zeroizing;
use oauth_store::store_core::{ExposeSecret, SecretString};

use crate::cli::{Global, ImportKeyArgs, SecretsCommand};
use crate::error::CliError;
use crate::open;
use crate::output;

/// Opens the layout's Secrets store (its key in the OS keyring) and runs the command.
pub(crate) fn run(global: &Global, command: &SecretsCommand) -> Result<ExitCode, CliError> {
    let layout = open::layout(global)?;
    let secrets = open::secrets_store(global, &layout)?;
    match command {
        SecretsCommand::ExportKey => export_key(&secrets),
        SecretsCommand::Rekey => rekey(global, &secrets),
        SecretsCommand::ImportKey(args) => import_key(global, &secrets, args),
    }
}

/// Prints the key and a newline on stdout, nothing else (also under `--json`, as
/// `token` does), after checking that it opens the document. No key yet: exit 4.
fn export_key(secrets: &SecretsStore) -> Result<ExitCode, CliError> {
    let key = secrets.export_key()?.ok_or_else(|| {
        CliError::Failed(format!(
            "the {} holds no key yet: nothing was ever saved in the Secrets store ({}), so there is nothing to export",
            secrets.key_source().location(),
            secrets.path().display()
        ))
    })?;
    if std::io::stdout().is_terminal() {
        output::warn(
            "the Secrets store's key is printed on this terminal: it decrypts every credential in the document; keep it like a password (redirect it to a private file next time)",
        );
    }
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{}", key.expose_secret());
    let _ = stdout.flush();
    Ok(ExitCode::SUCCESS)
}

/// Replaces the key with a fresh random one, crash-safe, and says to export it.
fn rekey(global: &Global, secrets: &SecretsStore) -> Result<ExitCode, CliError> {
    secrets.rekey(None)?;
    let location = secrets.key_source().location();
    let document = secrets.path();
    let present = document.exists();
    if global.json {
        output::json(&serde_json::json!({
            "rekeyed": true,
            "key_location": location,
            "document": document,
            "document_present": present,
        }));
    } else {
        output::line(format!(
            "re-keyed the Secrets store: the {location} holds a new key{}; export it now (`oauth-store secrets export-key`): an older export no longer opens the document",
            if present {
                format!(" and {} is encrypted to it alone", document.display())
            } else {
                String::new()
            }
        ));
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads an exported key and puts it back where the store keeps it, after checking
/// that it opens the document.
fn import_key(
    global: &Global,
    secrets: &SecretsStore,
    args: &ImportKeyArgs,
) -> Result<ExitCode, CliError> {
    let key = read_key(args.from.as_deref())?;
    secrets.import_key(key).map_err(classify)?;
    let location = secrets.key_source().location();
    let document = secrets.path();
    let present = document.exists();
    if global.json {
        output::json(&serde_json::json!({
            "imported": true,
            "key_location": location,
            "document": document,
            "document_present": present,
        }));
    } else {
        output::line(format!(
            "imported the key into the {location}{}",
            if present {
                format!("; it opens {}", document.display())
            } else {
                String::new()
            }
        ));
    }
    Ok(ExitCode::SUCCESS)
}

/// The key text from `--from FILE`, or standard input; surrounding whitespace removed.
/// Every buffer that held it is zeroized when dropped.
fn read_key(from: Option<&Path>) -> Result<SecretString, CliError> {
    let mut body = Zeroizing::new(Vec::new());
    let name = match from {
        Some(path) if path != Path::new("-") => {
            let name = format!("--from {}", path.display());
            let file =
                std::fs::File::open(path).map_err(|e| CliError::Usage(format!("{name}: {e}")))?;
            file.take(KEY_FILE_SIZE_CAP + 1)
                .read_to_end(&mut body)
                .map_err(|e| CliError::Usage(format!("{name}: {e}")))?;
            name
        }
        _ => {
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                output::note("reading the key from standard input; end it with Ctrl-D");
            }
            stdin
                .lock()
                .take(KEY_FILE_SIZE_CAP + 1)
                .read_to_end(&mut body)
                .map_err(|e| CliError::Usage(format!("standard input: {e}")))?;
            "standard input".to_owned()
        }
    };
    if body.len() as u64 > KEY_FILE_SIZE_CAP {
        return Err(CliError::Usage(format!(
            "{name}: over {KEY_FILE_SIZE_CAP} bytes; not a key"
        )));
    }
    let text = std::str::from_utf8(&body)
        .map_err(|_| CliError::Usage(format!("{name}: not UTF-8 text; not a key")))?
        .trim();
    if text.is_empty() {
        return Err(CliError::Usage(format!("{name}: empty; no key")));
    }
    Ok(SecretString::from(text.to_owned()))
}

/// A key that is not a key (wrong text) is the user's input: a usage error; everything
/// else is the store's (exit 4).
fn classify(error: StoreError) -> CliError {
    if let StoreError::Backend { source, .. } = &error
        && let Some(SecretsError::KeyInvalid { .. }) = source.downcast_ref::<SecretsError>()
    {
        return CliError::Usage(error.to_string());
    }
    CliError::Store(error)
}
