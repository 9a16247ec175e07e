//! Your own backend: a `CredentialStore` over a service's own database.
#![allow(clippy::print_stdout, reason = "an example program says what it did")]

use std::collections::HashMap;
use std::sync::Mutex;

use oauth_store_core::{
    BackendName, Credential, CredentialStore, ListedCredential, StoreError, StoreKey, StoreKind,
    compute_store_key, describe_json_error,
};

/// The kind this backend reports: its own name, in `list`, `doctor` and the drift sidecar.
const DATABASE: StoreKind = StoreKind::Other(BackendName::new("database"));

/// Credentials in a service's own database; a map of JSON texts stands in for the table.
#[derive(Default)]
struct DatabaseStore {
    rows: Mutex<HashMap<StoreKey, String>>,
}

fn parse(text: &str) -> Result<Credential, StoreError> {
    // serde_json's own message can quote a value (a token): describe it by position only.
    serde_json::from_str(text).map_err(|e| StoreError::backend(DATABASE, describe_json_error(&e)))
}

impl CredentialStore for DatabaseStore {
    fn kind(&self) -> StoreKind {
        DATABASE // in the facade it fills a slot, e.g. `OAuthStoreBuilder::file_store`
    }
    fn load(&self, key: &StoreKey) -> Result<Option<Credential>, StoreError> {
        let rows = self.rows.lock().expect("not poisoned");
        rows.get(key).map(|text| parse(text)).transpose()
    }
    fn save(&self, key: &StoreKey, credential: &Credential) -> Result<(), StoreError> {
        let text = serde_json::to_string(credential).expect("a credential always serializes");
        self.rows
            .lock()
            .expect("not poisoned")
            .insert(key.clone(), text);
        Ok(())
    }
    fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
        Ok(self
            .rows
            .lock()
            .expect("not poisoned")
            .remove(key)
            .is_some())
    }
    fn list(&self) -> Result<Vec<ListedCredential>, StoreError> {
        let rows = self.rows.lock().expect("not poisoned");
        Ok(rows
            .iter()
            .map(|(key, text)| ListedCredential::new(key.clone(), parse(text)))
            .collect())
    }
}

fn main() -> Result<(), StoreError> {
    let store = DatabaseStore::default();
    let key = compute_store_key("notion", "https://mcp.notion.com/mcp");
    let credential = Credential::builder(
        "notion",
        "https://mcp.notion.com/mcp",
        "at-1".to_owned().into(),
    )
    .client_id("client-1")
    .refresh_token("rt-1".to_owned().into())
    .build();
    store.save(&key, &credential)?;
    let loaded = store.load(&key)?.expect("just saved");
    assert_eq!(loaded.client_id, "client-1");
    let expiry = loaded.expires_at.map_or_else(
        || "has no known expiry".to_owned(),
        |ms| format!("expires at {ms} ms"),
    );
    println!("{key}: in the database store; the access token {expiry}");
    Ok(())
}
