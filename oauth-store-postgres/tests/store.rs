use oauth_store_core::{CredentialStore, ExposeSecret, StoreError, compute_store_key};

use crate::support::{connect, credential, database};

#[test]
fn a_saved_record_loads_byte_exact_and_every_save_increments_the_generation() {
    let Some((server, db)) = database("store_roundtrip") else {
        return;
    };
    let store = connect(&db, "default").store();
    let key = compute_store_key("one", "https://example.test/mcp");
    let record = credential("one", "at-1", "rt-1");
    store.save(&key, &record).expect("save");
    assert_eq!(store.generation(&key).expect("generation"), Some(1));
    store
        .save(&key, &credential("one", "at-2", "rt-2"))
        .expect("save");
    assert_eq!(store.generation(&key).expect("generation"), Some(2));
    let loaded = store.load(&key).expect("load").expect("stored");
    assert_eq!(loaded.access_token.expose_secret(), "at-2");
    let text = server.psql(&db.name, "SELECT record FROM oauth_store_credentials");
    assert_eq!(
        text.trim_end(),
        serde_json::to_string(&credential("one", "at-2", "rt-2")).expect("json"),
        "the record is kept as the JSON text the store wrote"
    );
    assert!(store.delete(&key).expect("delete"));
    assert!(store.load(&key).expect("load").is_none());
    assert!(!store.delete(&key).expect("delete"));
}

#[test]
fn namespaces_keep_tenants_apart() {
    let Some((_, db)) = database("store_namespaces") else {
        return;
    };
    let (a, b) = (
        connect(&db, "tenant-a").store(),
        connect(&db, "tenant-b").store(),
    );
    let key = compute_store_key("one", "https://example.test/mcp");
    a.save(&key, &credential("one", "at-a", "rt-a"))
        .expect("save");
    assert!(
        b.load(&key).expect("load").is_none(),
        "another namespace sees nothing"
    );
    assert!(b.list().expect("list").is_empty());
    assert_eq!(a.list().expect("list").len(), 1);
}

#[test]
fn a_corrupt_row_fails_for_its_key_alone_and_its_text_is_never_quoted() {
    let Some((server, db)) = database("store_corrupt") else {
        return;
    };
    let store = connect(&db, "default").store();
    let good = compute_store_key("good", "https://example.test/mcp");
    store
        .save(&good, &credential("good", "at-good", "rt-good"))
        .expect("save");
    server.psql(
        &db.name,
        "INSERT INTO oauth_store_credentials (namespace, store_key, record, generation) VALUES ('default', 'bad|0000000000000000', '{\"access_token\":\"leaked-token-value\",', 1)",
    );
    let bad = oauth_store_core::StoreKey::from_raw("bad|0000000000000000");
    let error = store.load(&bad).expect_err("a corrupt row");
    assert!(
        matches!(error, StoreError::CorruptEntry { .. }),
        "{error:?}"
    );
    assert!(!error.to_string().contains("leaked-token-value"), "{error}");
    assert!(store.load(&good).expect("other keys load").is_some());
    let listed = store.list().expect("list");
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().any(|l| l.key == bad && l.credential.is_err()));
    assert!(listed.iter().any(|l| l.key == good && l.credential.is_ok()));
    store
        .save(&good, &credential("good", "at-good-2", "rt-good-2"))
        .expect("other keys save");
}
