//! Encryption: the Codex CLI's passphrase documents (age scrypt), and keys of the
//! wrong kind.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

use oauth_store_core::{CredentialStore, ExposeSecret, SecretString};
use oauth_store_secrets::{
    CodexPassphrase, KeyFile, KeyKind, SecretsError, SecretsStore, StaticKey, secret_map_name,
};

use crate::{
    TestResult, doc_path, key, key_path, put_document, record, secrets_error, store_in, token_of,
};

/// A cheap work factor for tests (age's default costs about a second).
const TEST_LOG_N: u8 = 4;

/// `plaintext` encrypted the Codex CLI's way: an scrypt recipient for `passphrase`.
fn codex_encrypt(passphrase: &str, log_n: u8, plaintext: &[u8]) -> Vec<u8> {
    let mut recipient = age::scrypt::Recipient::new(SecretString::from(passphrase.to_owned()));
    recipient.set_work_factor(log_n);
    let encryptor =
        age::Encryptor::with_recipients(std::iter::once(&recipient as _)).expect("one recipient");
    let mut out = Vec::new();
    let mut writer = encryptor.wrap_output(&mut out).expect("output");
    writer.write_all(plaintext).expect("write");
    writer.finish().expect("finish");
    out
}

fn codex_decrypt(passphrase: &str, bytes: &[u8]) -> Result<Vec<u8>, age::DecryptError> {
    age::decrypt(
        &age::scrypt::Identity::new(SecretString::from(passphrase.to_owned())),
        bytes,
    )
}

/// The Codex CLI's plaintext, as its `SecretsFile { version: u8, secrets: BTreeMap }`
/// serializes.
fn codex_plaintext(entries: &[(&str, &str)]) -> Vec<u8> {
    #[derive(serde::Serialize)]
    struct SecretsFile {
        version: u8,
        secrets: BTreeMap<String, String>,
    }
    let file = SecretsFile {
        version: 1,
        secrets: entries
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    };
    serde_json::to_vec(&file).expect("serialize")
}

fn codex_store(home: &std::path::Path, passphrase: &str) -> SecretsStore {
    let inner = Arc::new(StaticKey::new(passphrase.to_owned().into()));
    SecretsStore::in_home(home, Arc::new(CodexPassphrase::over(inner)))
        .expect("store")
        .with_scrypt_work_factor(Some(TEST_LOG_N))
}

const PASSPHRASE: &str = "q0rJ1mXk8m3yFh2Xo2a0E1y3kP9cL4s5T6u7V8w9x0A=";

#[test]
fn a_codex_document_is_read_and_written_the_codex_way_under_the_preset() -> TestResult {
    let home = tempfile::tempdir()?;
    let name = secret_map_name(&key("codex"));
    let value = serde_json::to_string(&record("codex", "at-codex"))?;
    let plain = codex_plaintext(&[(&name, &value), ("global/OTHER", "kept")]);
    put_document(home.path(), &codex_encrypt(PASSPHRASE, TEST_LOG_N, &plain))?;

    let store = codex_store(home.path(), PASSPHRASE);
    assert_eq!(
        store.load(&key("codex"))?.map(|c| token_of(&c)),
        Some("at-codex".to_owned())
    );
    assert_eq!(store.list()?.len(), 1);
    store.save(&key("ours"), &record("ours", "at-ours"))?;
    let bytes = std::fs::read(doc_path(home.path()))?;
    assert!(
        bytes.starts_with(b"age-encryption.org/v1\n-> scrypt "),
        "still the Codex CLI's way"
    );
    let plain: serde_json::Value = serde_json::from_slice(&codex_decrypt(PASSPHRASE, &bytes)?)?;
    assert_eq!(plain["secrets"]["global/OTHER"], "kept");
    assert_eq!(plain["secrets"].as_object().map(|m| m.len()), Some(3));
    assert_eq!(
        store.load(&key("ours"))?.map(|c| token_of(&c)),
        Some("at-ours".to_owned())
    );
    Ok(())
}

#[test]
fn keys_of_the_wrong_kind_are_named_and_the_document_is_untouched() -> TestResult {
    let home = tempfile::tempdir()?;
    let bytes = codex_encrypt(PASSPHRASE, TEST_LOG_N, &codex_plaintext(&[]));
    put_document(home.path(), &bytes)?;
    // The default (X25519) store on the Codex CLI's document:
    let store = SecretsStore::in_home(
        home.path(),
        Arc::new(StaticKey::new(
            age::x25519::Identity::generate().to_string(),
        )),
    )?;
    let e = store.load(&key("a")).expect_err("wrong kind");
    assert!(
        matches!(
            secrets_error(&e),
            Some(SecretsError::WrongKeyKind {
                found: KeyKind::ScryptPassphrase,
                ..
            })
        ),
        "{e}"
    );
    assert!(store.save(&key("a"), &record("a", "at-a")).is_err());
    assert_eq!(std::fs::read(doc_path(home.path()))?, bytes);

    // The codex store on an X25519 document:
    let other = tempfile::tempdir()?;
    store_in(other.path()).save(&key("a"), &record("a", "at-a"))?;
    let e = codex_store(other.path(), PASSPHRASE)
        .load(&key("a"))
        .expect_err("wrong kind");
    assert!(
        matches!(
            secrets_error(&e),
            Some(SecretsError::WrongKeyKind {
                found: KeyKind::X25519Identity,
                ..
            })
        ),
        "{e}"
    );

    // The wrong passphrase:
    let e = codex_store(home.path(), "another passphrase")
        .load(&key("a"))
        .expect_err("wrong passphrase");
    assert!(
        matches!(secrets_error(&e), Some(SecretsError::KeyMismatch { .. })),
        "{e}"
    );
    Ok(())
}

#[test]
fn a_document_asking_for_excessive_scrypt_work_is_refused_at_once() -> TestResult {
    let home = tempfile::tempdir()?;
    let bytes = codex_encrypt(PASSPHRASE, TEST_LOG_N, &codex_plaintext(&[]));
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let header_line = text.lines().nth(1).ok_or("a stanza line")?.to_owned();
    assert!(
        header_line.starts_with("-> scrypt ") && header_line.ends_with(&format!(" {TEST_LOG_N}"))
    );
    let heavy = header_line.replacen(&format!(" {TEST_LOG_N}"), " 40", 1);
    let mut crafted = bytes.clone();
    let at = text.find(&header_line).ok_or("header")?;
    crafted.splice(at..at + header_line.len(), heavy.bytes());
    put_document(home.path(), &crafted)?;
    let started = std::time::Instant::now();
    let e = codex_store(home.path(), PASSPHRASE)
        .load(&key("a"))
        .expect_err("excessive");
    assert!(
        matches!(
            secrets_error(&e),
            Some(SecretsError::ExcessiveWork { required: 40, .. })
        ),
        "{e}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "refused before doing the work"
    );
    Ok(())
}

#[test]
fn a_new_codex_passphrase_is_made_as_the_codex_cli_makes_one() -> TestResult {
    let home = tempfile::tempdir()?;
    let file = KeyFile::new(key_path(home.path())).with_kind(KeyKind::ScryptPassphrase);
    let store =
        SecretsStore::in_home(home.path(), Arc::new(CodexPassphrase::over(Arc::new(file))))?
            .with_scrypt_work_factor(Some(TEST_LOG_N));
    store.save(&key("a"), &record("a", "at-a"))?;
    let passphrase = store.export_key()?.ok_or("a passphrase")?;
    let text = passphrase.expose_secret();
    assert_eq!(text.len(), 44, "base64 of 32 bytes");
    assert!(
        text.ends_with('=')
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+/=".contains(c))
    );
    let bytes = std::fs::read(doc_path(home.path()))?;
    assert!(codex_decrypt(text, &bytes).is_ok());
    Ok(())
}

#[test]
fn a_codex_document_is_rekeyed_only_into_another_source() -> TestResult {
    let home = tempfile::tempdir()?;
    let name = secret_map_name(&key("codex"));
    let value = serde_json::to_string(&record("codex", "at-codex"))?;
    put_document(
        home.path(),
        &codex_encrypt(PASSPHRASE, TEST_LOG_N, &codex_plaintext(&[(&name, &value)])),
    )?;
    let store = codex_store(home.path(), PASSPHRASE);
    let e = store.rekey(None).expect_err("in place");
    assert!(
        matches!(
            secrets_error(&e),
            Some(SecretsError::RekeyInPlaceUnsupported { .. })
        ),
        "{e}"
    );
    // Migration: from the Codex CLI's passphrase to an X25519 key file.
    let moved = store.rekey_into(Arc::new(KeyFile::new(key_path(home.path()))), None)?;
    assert_eq!(
        moved.load(&key("codex"))?.map(|c| token_of(&c)),
        Some("at-codex".to_owned())
    );
    let bytes = std::fs::read(doc_path(home.path()))?;
    assert!(bytes.starts_with(b"age-encryption.org/v1\n-> X25519 "));
    assert_eq!(
        store_in(home.path())
            .load(&key("codex"))?
            .map(|c| token_of(&c)),
        Some("at-codex".to_owned())
    );
    Ok(())
}
