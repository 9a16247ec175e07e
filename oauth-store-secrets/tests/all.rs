//! Integration tests for oauth-store-secrets, mirroring its modules. Multi-process
//! tests (`processes`) re-execute this test binary as a child (see `child`).

mod child;
mod cipher;
mod document;
mod key;
mod keyring;
mod processes;
mod store;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use oauth_store_core::{
    Credential, ExposeSecret, SecretString, StoreError, StoreKey, compute_store_key,
};
use oauth_store_secrets::{
    DOCUMENT_DIR_NAME, DOCUMENT_FILE_NAME, KeyFile, SecretsError, SecretsStore,
};

pub(crate) use oauth_store_testkit::TestResult;

/// A record for server `name` with access token `token`.
pub(crate) fn record(name: &str, token: &str) -> Credential {
    Credential::builder(
        name,
        format!("https://{name}.example/mcp"),
        token.to_owned().into(),
    )
    .client_id(format!("client-{name}"))
    .refresh_token(format!("rt-{token}").into())
    .scopes(["read"])
    .expires_at(1_893_456_000_000)
    .build()
}

/// The store key of [`record`]'s server `name`.
pub(crate) fn key(name: &str) -> StoreKey {
    compute_store_key(name, &format!("https://{name}.example/mcp"))
}

/// The key file tests use: `<home>/secrets.key`.
pub(crate) fn key_path(home: &Path) -> PathBuf {
    home.join("secrets.key")
}

/// The document of a home.
pub(crate) fn doc_path(home: &Path) -> PathBuf {
    home.join(DOCUMENT_DIR_NAME).join(DOCUMENT_FILE_NAME)
}

/// The Secrets store of `home` with its key in `<home>/secrets.key`.
pub(crate) fn store_in(home: &Path) -> SecretsStore {
    SecretsStore::in_home(home, Arc::new(KeyFile::new(key_path(home)))).expect("open the store")
}

/// The access token of a loaded record, for comparisons.
pub(crate) fn token_of(c: &Credential) -> String {
    c.access_token.expose_secret().to_owned()
}

/// The identity in a key file, parsed without the store.
pub(crate) fn identity_in(
    path: &Path,
) -> Result<age::x25519::Identity, Box<dyn std::error::Error>> {
    let text = std::fs::read_to_string(path)?;
    let line = text
        .lines()
        .find(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .ok_or("no key line")?;
    Ok(line.trim().parse::<age::x25519::Identity>()?)
}

/// The plaintext of a home's document, decrypted without the store.
pub(crate) fn plaintext_of(home: &Path) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
    let identity = identity_in(&key_path(home))?;
    let bytes = std::fs::read(doc_path(home))?;
    let plain = age::decrypt(&identity, &bytes)?;
    Ok(serde_json::from_slice(&plain)?)
}

/// `plaintext` encrypted to `identity`'s public key, without the store.
pub(crate) fn encrypt_to(identity: &age::x25519::Identity, plaintext: &[u8]) -> Vec<u8> {
    age::encrypt(&identity.to_public(), plaintext).expect("encrypt")
}

/// A fresh identity and its Bech32 text.
pub(crate) fn new_identity() -> (age::x25519::Identity, SecretString) {
    let identity = age::x25519::Identity::generate();
    let text = identity.to_string();
    (identity, text)
}

/// The [`SecretsError`] inside a [`StoreError::Backend`], if that is what `e` is.
pub(crate) fn secrets_error(e: &StoreError) -> Option<&SecretsError> {
    match e {
        StoreError::Backend { source, .. } => source.downcast_ref::<SecretsError>(),
        _ => None,
    }
}

/// Writes `bytes` as the home's document (creating `secrets/`).
pub(crate) fn put_document(home: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(home.join(DOCUMENT_DIR_NAME))?;
    std::fs::write(doc_path(home), bytes)
}
