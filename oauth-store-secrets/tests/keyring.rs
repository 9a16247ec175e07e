//! The key in the OS keyring. Tests that need a Secret Service run only inside a
//! private D-Bus session with an unlocked gnome-keyring (as `cargo xtask test` runs
//! oauth-store-keyring's tests), which sets `OAUTH_STORE_TEST_KEYRING_SESSION=1`;
//! elsewhere each prints one loud skip line and passes.

use std::collections::HashSet;
use std::io::{BufReader, Write};
use std::sync::Arc;

use oauth_store_core::{CredentialStore, ExposeSecret};
use oauth_store_keyring::SecretEntry;
use oauth_store_secrets::{
    CODEX_KEYRING_SERVICE, CodexPassphrase, KeySource, KeyringKey, SecretsStore,
    secrets_key_account,
};

use crate::child::{self, read_after, wait_for_line};
use crate::{TestResult, doc_path, key, put_document, record, token_of};

const SESSION_ENV: &str = "OAUTH_STORE_TEST_KEYRING_SESSION";

fn session(test: &str) -> bool {
    if std::env::var(SESSION_ENV).is_ok_and(|v| v == "1") {
        return true;
    }
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: needs a Secret Service: run inside `dbus-run-session` with an unlocked \
         gnome-keyring and {SESSION_ENV}=1 (`apt-get install -y gnome-keyring dbus`)"
    );
    false
}

/// A service name no other test (or run) uses.
fn unique_service(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "oauth-store-secrets-test-{test}-{}-{nanos}",
        std::process::id()
    )
}

#[test]
fn the_keyring_location_names_service_and_account() {
    let source = KeyringKey::for_home(std::path::Path::new("/nonexistent/home"));
    assert_eq!(source.entry().service(), "oauth-store");
    assert!(source.entry().account().starts_with("secrets|"));
    assert!(source.location().contains("oauth-store") && source.location().contains("secrets|"));
    let codex = CodexPassphrase::for_home(std::path::Path::new("/nonexistent/home"));
    assert!(codex.location().contains(CODEX_KEYRING_SERVICE));
    assert_eq!(codex.kind(), oauth_store_secrets::KeyKind::ScryptPassphrase);
}

#[test]
fn without_a_session_bus_the_store_is_unavailable_at_once() -> TestResult {
    let home = tempfile::tempdir()?;
    let runtime = tempfile::tempdir()?;
    let mut cmd = child::command("keyring-without-bus", home.path(), "", None);
    cmd.env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env("XDG_RUNTIME_DIR", runtime.path());
    let mut c = cmd.spawn()?;
    let mut out = BufReader::new(c.stdout.take().ok_or("stdout")?);
    let save = read_after(&mut out, "SAVE ").ok_or("no SAVE line")?;
    let load = read_after(&mut out, "LOAD ").ok_or("no LOAD line")?;
    let ms: u64 = read_after(&mut out, "MS ").ok_or("no MS line")?.parse()?;
    assert!(c.wait()?.success());
    assert_eq!(save, "unavailable secrets");
    assert_eq!(
        load, "ok",
        "no document: nothing to decrypt, the keyring is not asked"
    );
    assert!(
        ms < 5_000,
        "answered from the environment, not a timeout: {ms} ms"
    );
    assert!(!doc_path(home.path()).exists());
    Ok(())
}

#[test]
fn the_key_is_created_in_the_keyring_on_first_save() -> TestResult {
    if !session("the_key_is_created_in_the_keyring_on_first_save") {
        return Ok(());
    }
    let home = tempfile::tempdir()?;
    let service = unique_service("create");
    let source = Arc::new(KeyringKey::new(&service, secrets_key_account(home.path())));
    assert!(source.load()?.is_none());
    let store = SecretsStore::in_home(home.path(), source.clone())?;
    store.save(&key("a"), &record("a", "at-a"))?;
    let in_keyring = source.load()?.ok_or("the key is in the keyring")?;
    assert!(in_keyring.expose_secret().starts_with("AGE-SECRET-KEY-1"));
    let fresh = SecretsStore::in_home(home.path(), source.clone())?;
    assert_eq!(
        fresh.load(&key("a"))?.map(|c| token_of(&c)),
        Some("at-a".to_owned())
    );
    // Losing the entry: a typed error, and no new key.
    source.entry().delete()?;
    let fresh = SecretsStore::in_home(home.path(), source.clone())?;
    assert!(fresh.save(&key("b"), &record("b", "at-b")).is_err());
    assert!(source.load()?.is_none(), "no new key was made");
    fresh.import_key(in_keyring)?;
    assert!(fresh.load(&key("a"))?.is_some());
    source.entry().delete()?;
    Ok(())
}

#[test]
fn processes_starting_on_an_empty_home_create_one_keyring_key() -> TestResult {
    if !session("processes_starting_on_an_empty_home_create_one_keyring_key") {
        return Ok(());
    }
    let home = tempfile::tempdir()?;
    let service = unique_service("race");
    let start = home.path().join("start");
    let names: Vec<String> = (0..4).map(|i| format!("kr-{i}")).collect();
    let mut children = Vec::new();
    for name in &names {
        let arg = format!("{name},{},{service}", start.display());
        let mut c = child::spawn("first-key-keyring", home.path(), &arg, None);
        let mut out = BufReader::new(c.stdout.take().expect("piped stdout"));
        assert!(wait_for_line(&mut out, "READY"), "child {name} started");
        children.push((c, out));
    }
    std::fs::write(&start, b"go")?;
    let mut used = HashSet::new();
    for (mut c, mut out) in children {
        used.insert(read_after(&mut out, "KEY ").ok_or("child reported no key")?);
        assert!(c.wait()?.success());
    }
    assert_eq!(used.len(), 1, "every process used one key: {used:?}");
    let source = KeyringKey::new(&service, secrets_key_account(home.path()));
    let store = SecretsStore::in_home(home.path(), Arc::new(source.clone()))?;
    assert_eq!(store.list()?.len(), names.len());
    source.entry().delete()?;
    Ok(())
}

#[test]
fn the_codex_passphrase_is_read_from_the_codex_keyring_entry() -> TestResult {
    if !session("the_codex_passphrase_is_read_from_the_codex_keyring_entry") {
        return Ok(());
    }
    let home = tempfile::tempdir()?;
    let passphrase = "bm90LWEtcmVhbC1wYXNzcGhyYXNlLWZvci10ZXN0cw==";
    let entry = SecretEntry::new(CODEX_KEYRING_SERVICE, secrets_key_account(home.path()));
    entry.set(&passphrase.to_owned().into())?;
    let name = oauth_store_secrets::secret_map_name(&key("codex"));
    let value = serde_json::to_string(&record("codex", "at-codex"))?;
    let plain = serde_json::to_vec(&serde_json::json!({"version": 1, "secrets": {name: value}}))?;
    let mut recipient = age::scrypt::Recipient::new(passphrase.to_owned().into());
    recipient.set_work_factor(4);
    put_document(home.path(), &age::encrypt(&recipient, &plain)?)?;
    let store = SecretsStore::in_home(
        home.path(),
        Arc::new(CodexPassphrase::for_home(home.path())),
    )?
    .with_scrypt_work_factor(Some(4));
    assert_eq!(
        store.load(&key("codex"))?.map(|c| token_of(&c)),
        Some("at-codex".to_owned())
    );
    store.save(&key("ours"), &record("ours", "at-ours"))?;
    assert!(
        std::fs::read(doc_path(home.path()))?.starts_with(b"age-encryption.org/v1\n-> scrypt ")
    );
    entry.delete()?;
    Ok(())
}
