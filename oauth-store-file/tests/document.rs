//! The document format: the Codex CLI's document, byte-exact survival of what this
//! version does not know, and no panic on any input (proptest).

use std::collections::BTreeMap;

use oauth_store_core::{
    Credential, CredentialStore, ExposeSecret, StoreError, StoreKey, TokenEndpointAuthMethod,
};
use oauth_store_file::FileStore;
use proptest::prelude::*;
use serde_json::value::RawValue;

use crate::{CODEX_DOCUMENT, TestResult, key, record, store_in, token_of};

fn codex_home() -> Result<(tempfile::TempDir, FileStore), Box<dyn std::error::Error>> {
    let home = tempfile::tempdir()?;
    let store = store_in(home.path());
    std::fs::write(store.path(), CODEX_DOCUMENT)?;
    Ok((home, store))
}

#[test]
fn the_codex_document_loads() -> TestResult {
    let (_home, store) = codex_home()?;
    let notion = store
        .load(&StoreKey::from_raw("notion|eac663db915250e7"))?
        .expect("notion");
    assert_eq!(notion.server_url, "https://mcp.notion.com/mcp");
    assert_eq!(notion.client_id, "fixture-client-notion");
    assert_eq!(
        notion.access_token.expose_secret(),
        "fixture-access-token-notion"
    );
    assert_eq!(
        notion
            .refresh_token
            .as_ref()
            .map(|t| t.expose_secret().to_owned()),
        Some("fixture-refresh-token-notion".to_owned())
    );
    assert_eq!(notion.expires_at, Some(1_893_456_000_000));
    assert_eq!(notion.scopes, ["read", "write"]);
    assert_eq!(
        notion.issuer.as_deref(),
        Some("https://auth.notion.example")
    );
    assert_eq!(notion.store_key().as_str(), "notion|eac663db915250e7");

    let linear = store
        .load(&StoreKey::from_raw("linear|47ba737bac765ed4"))?
        .expect("linear");
    assert!(linear.refresh_token.is_none() && linear.expires_at.is_none());

    let local = store
        .load(&StoreKey::from_raw("name with space|88e5fde71953b744"))?
        .expect("local");
    let extra: Vec<_> = local
        .extra
        .iter()
        .map(|(n, v)| (n.as_str(), v.get()))
        .collect();
    assert_eq!(
        extra,
        [
            ("executor_owned", "true"),
            (
                "x_field_from_a_newer_writer",
                r#"{"nested":[1,2,3],"flag":false}"#
            )
        ]
    );
    let listed = store.list()?;
    assert_eq!(listed.len(), 3);
    assert!(listed.iter().all(|l| l.credential.is_ok()));
    for l in &listed {
        assert_eq!(
            l.credential.as_ref().map(|c| c.store_key()).ok(),
            Some(l.key.clone())
        );
    }
    Ok(())
}

#[test]
fn a_save_for_another_key_keeps_the_codex_entries_byte_exact() -> TestResult {
    let (_home, store) = codex_home()?;
    let c = record("new", "at-new");
    store.save(&key("new"), &c)?;
    let text = std::fs::read_to_string(store.path())?;
    let unclosed = &CODEX_DOCUMENT[..CODEX_DOCUMENT.len() - 1];
    assert_eq!(
        text,
        format!(
            "{unclosed},\"{}\":{}}}",
            key("new"),
            serde_json::to_string(&c)?
        )
    );
    assert!(text.contains(r#""expires_at":null,"refresh_token":null,"scopes":[]"#));
    assert!(text.contains(
        r#""executor_owned":true,"x_field_from_a_newer_writer":{"nested":[1,2,3],"flag":false}"#
    ));
    assert!(store.delete(&key("new"))?);
    assert_eq!(std::fs::read_to_string(store.path())?, CODEX_DOCUMENT);
    Ok(())
}

#[test]
fn loading_and_saving_each_codex_entry_rewrites_the_same_bytes() -> TestResult {
    let (_home, store) = codex_home()?;
    for listed in store.list()? {
        store.save(&listed.key, &listed.credential?)?;
    }
    assert_eq!(std::fs::read_to_string(store.path())?, CODEX_DOCUMENT);
    Ok(())
}

#[test]
fn a_pretty_printed_document_from_another_writer_keeps_its_entries_exact() -> TestResult {
    let home = tempfile::tempdir()?;
    let store = store_in(home.path());
    let value: serde_json::Value = serde_json::from_str(CODEX_DOCUMENT)?;
    let pretty = serde_json::to_string_pretty(&value)?;
    std::fs::write(store.path(), &pretty)?;
    store.save(&key("new"), &record("new", "at-new"))?;
    let after = std::fs::read_to_string(store.path())?;
    let raw_before = raw_entries(pretty.as_bytes())?;
    let raw_after = raw_entries(after.as_bytes())?;
    for (k, v) in &raw_before {
        assert_eq!(
            raw_after.get(k),
            Some(v),
            "{k} kept byte-exact, whitespace included"
        );
    }
    Ok(())
}

#[test]
fn escaped_keys_are_found_by_their_value() -> TestResult {
    let home = tempfile::tempdir()?;
    let store = store_in(home.path());
    let entry = r#"{"server_name":"caf\u00e9","server_url":"https://x","access_token":"t"}"#;
    std::fs::write(store.path(), format!(r#"{{"caf\u00e9 \"q\"|1":{entry}}}"#))?;
    let k = StoreKey::from_raw("café \"q\"|1");
    assert_eq!(
        store.load(&k)?.map(|c| c.server_name),
        Some("café".to_owned())
    );
    store.save(&key("b"), &record("b", "at-b"))?;
    assert_eq!(store.load(&k)?.map(|c| token_of(&c)), Some("t".to_owned()));
    assert!(
        std::fs::read_to_string(store.path())?.contains(entry),
        "the record text is kept"
    );
    Ok(())
}

/// The document's entries as raw texts, the last occurrence of each key winning.
fn raw_entries(bytes: &[u8]) -> Result<BTreeMap<String, String>, serde_json::Error> {
    let map: BTreeMap<String, Box<RawValue>> = serde_json::from_slice(bytes)?;
    Ok(map
        .into_iter()
        .map(|(k, v)| (k, v.get().to_owned()))
        .collect())
}

/// Whether `bytes` parse as a whole, by serde_json alone (empty counts as a document).
fn parses_as_a_whole(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .all(|b| matches!(b, b' ' | b'\n' | b'\r' | b'\t'))
        || serde_json::from_slice::<BTreeMap<String, Box<RawValue>>>(bytes).is_ok()
}

/// Runs every operation on `bytes`; none may panic; checks the invariants: a save or
/// delete on a document that does not parse leaves it untouched, and a save for a new
/// key keeps every other entry byte-exact.
fn exercise(store: &FileStore, bytes: &[u8]) -> Result<(), TestCaseError> {
    std::fs::write(store.path(), bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let whole = parses_as_a_whole(bytes);
    for k in ["notion|eac663db915250e7", "a|1", "", "\u{0}"] {
        let loaded = store.load(&StoreKey::from_raw(k));
        if !whole {
            prop_assert!(
                matches!(loaded, Err(StoreError::CorruptDocument { .. })),
                "{loaded:?}"
            );
        }
    }
    let listed = store.list();
    prop_assert_eq!(listed.is_ok(), whole);

    let new_key = key("proptest-new");
    let saved = store.save(&new_key, &record("proptest-new", "at"));
    let after = std::fs::read(store.path()).unwrap_or_default();
    if whole {
        prop_assert!(saved.is_ok(), "{saved:?}");
        let before = raw_entries(bytes).unwrap_or_default();
        let now = raw_entries(&after).map_err(|e| TestCaseError::fail(e.to_string()))?;
        for (k, v) in &before {
            if k != new_key.as_str() {
                prop_assert_eq!(now.get(k), Some(v));
            }
        }
        prop_assert!(store.load(&new_key).is_ok_and(|c| c.is_some()));
    } else {
        prop_assert!(
            matches!(saved, Err(StoreError::CorruptDocument { .. })),
            "{saved:?}"
        );
        prop_assert_eq!(&after[..], bytes, "a corrupt document is never replaced");
        let deleted = store.delete(&new_key);
        prop_assert!(deleted.is_err());
        let report = store
            .repair()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(report.quarantined.is_some());
        let q = std::fs::read(report.quarantined.as_ref().expect("checked"))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(
            &q[..],
            bytes,
            "the quarantined copy is the document as it was"
        );
        prop_assert!(store.list().is_ok(), "after repair the document parses");
    }
    Ok(())
}

/// Mutations of a valid document.
#[derive(Debug, Clone)]
enum Mutation {
    Truncate(usize),
    Flip(usize, u8),
    Insert(usize, u8),
    Remove(usize, usize),
    Append(Vec<u8>),
}

fn mutate(doc: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut bytes = doc.to_vec();
    for m in mutations {
        let at = |i: usize| {
            if bytes.is_empty() {
                0
            } else {
                i % (bytes.len() + 1)
            }
        };
        match m {
            Mutation::Truncate(i) => {
                let i = at(*i);
                bytes.truncate(i);
            }
            Mutation::Flip(i, x) if !bytes.is_empty() => {
                let i = i % bytes.len();
                bytes[i] ^= (*x).max(1);
            }
            Mutation::Flip(..) => {}
            Mutation::Insert(i, b) => {
                let i = at(*i);
                bytes.insert(i, *b);
            }
            Mutation::Remove(i, n) => {
                let i = at(*i);
                let end = (i + n).min(bytes.len());
                bytes.drain(i..end);
            }
            Mutation::Append(tail) => bytes.extend_from_slice(tail),
        }
    }
    bytes
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let json_bytes = prop::sample::select(b"{}[]\":,\\0123456789-eE.tfnul \n".to_vec());
    prop_oneof![
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), any::<u8>()).prop_map(|(i, x)| Mutation::Flip(i, x)),
        (any::<usize>(), json_bytes).prop_map(|(i, b)| Mutation::Insert(i, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        (any::<usize>(), 0usize..40).prop_map(|(i, n)| Mutation::Remove(i, n)),
        prop::collection::vec(any::<u8>(), 0..8).prop_map(Mutation::Append),
    ]
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<u64>().prop_map(serde_json::Value::from),
        "\\PC{0,12}".prop_map(serde_json::Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            prop::collection::btree_map("[a-z_]{1,6}", inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

fn credential() -> impl Strategy<Value = Credential> {
    let auth = prop_oneof![
        Just(TokenEndpointAuthMethod::None),
        Just(TokenEndpointAuthMethod::ClientSecretBasic),
        Just(TokenEndpointAuthMethod::ClientSecretPost),
        "[a-z_]{1,16}".prop_map(|n| TokenEndpointAuthMethod::from_name(&n)),
    ];
    (
        ("\\PC{0,16}", "\\PC{0,24}", "\\PC{0,16}", "\\PC{0,40}"),
        (
            prop::option::of("\\PC{0,40}"),
            prop::option::of("\\PC{0,24}"),
            prop::option::of(auth),
            prop::option::of("\\PC{0,24}"),
            prop::option::of("\\PC{0,24}"),
            prop::option::of("\\PC{0,8}"),
        ),
        (
            prop::collection::vec("\\PC{0,8}", 0..4),
            prop::option::of(any::<u64>()),
            prop::option::of(any::<u64>()),
            prop::collection::btree_map("x_[a-z_]{0,8}", json_value(), 0..4),
        ),
    )
        .prop_map(
            |(
                (name, url, client, access),
                (refresh, secret, auth, issuer, endpoint, token_type),
                (scopes, expires, updated, extra),
            )| {
                let mut b = Credential::builder(name, url, access.into())
                    .client_id(client)
                    .scopes(scopes);
                if let Some(t) = refresh {
                    b = b.refresh_token(t.into());
                }
                if let Some(s) = secret {
                    b = b.client_secret(s.into());
                }
                if let Some(a) = auth {
                    b = b.token_endpoint_auth_method(a);
                }
                if let Some(i) = issuer {
                    b = b.issuer(i);
                }
                if let Some(e) = endpoint {
                    b = b.token_endpoint(e);
                }
                if let Some(t) = token_type {
                    b = b.token_type(t);
                }
                if let Some(e) = expires {
                    b = b.expires_at(e);
                }
                if let Some(u) = updated {
                    b = b.updated_at(u);
                }
                for (name, value) in extra {
                    let raw = RawValue::from_string(value.to_string()).expect("valid JSON");
                    b = b.extra(name, raw);
                }
                b.build()
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn no_panic_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let home = tempfile::tempdir().expect("tempdir");
        exercise(&store_in(home.path()), &bytes)?;
    }

    #[test]
    fn no_panic_on_mutated_valid_documents(
        extra in prop::collection::vec(credential(), 0..3),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let home = tempfile::tempdir().expect("tempdir");
        let store = store_in(home.path());
        std::fs::write(store.path(), CODEX_DOCUMENT).expect("write");
        for c in &extra {
            store.save(&c.store_key(), c).expect("save");
        }
        let valid = std::fs::read(store.path()).expect("read");
        exercise(&store, &mutate(&valid, &mutations))?;
    }

    #[test]
    fn records_round_trip_through_the_document(c in credential(), other in credential()) {
        let home = tempfile::tempdir().expect("tempdir");
        let store = store_in(home.path());
        let k = c.store_key();
        store.save(&k, &c).expect("save");
        store.save(&StoreKey::from_raw("other"), &other).expect("save other");
        let loaded = store.load(&k).expect("load").expect("present");
        prop_assert_eq!(serde_json::to_string(&loaded).expect("json"), serde_json::to_string(&c).expect("json"));
        prop_assert_eq!(token_of(&loaded), token_of(&c));
        let entries = raw_entries(&std::fs::read(store.path()).expect("read")).expect("parses");
        prop_assert_eq!(entries.get(k.as_str()), Some(&serde_json::to_string(&c).expect("json")));
    }
}
