use oauth_store_core::{StoreKey, compute_store_key, sha256_hex};
use proptest::prelude::*;
use serde::Deserialize;

use crate::TestResult;

#[derive(Deserialize)]
struct Vectors {
    vectors: Vec<Vector>,
}

#[derive(Deserialize)]
struct Vector {
    server_name: String,
    url: String,
    store_key: String,
    secret_name: String,
    credential_lock_file: String,
}

fn vectors() -> Result<Vec<Vector>, serde_json::Error> {
    let doc: Vectors = serde_json::from_str(include_str!("data/store-key-vectors.json"))?;
    Ok(doc.vectors)
}

fn is_hex(s: &str, upper: bool) -> bool {
    s.bytes().all(|b| {
        b.is_ascii_digit()
            || if upper {
                (b'A'..=b'F').contains(&b)
            } else {
                (b'a'..=b'f').contains(&b)
            }
    })
}

#[test]
fn every_vector_gives_its_key_secret_name_and_lock_file() -> TestResult {
    let vectors = vectors()?;
    assert_eq!(
        vectors.len(),
        6,
        "all vectors of the shared fixture are copied"
    );
    for v in &vectors {
        let key = compute_store_key(&v.server_name, &v.url);
        assert_eq!(key.as_str(), v.store_key, "{}", v.server_name);
        assert_eq!(key.secret_name(), v.secret_name, "{}", v.server_name);
        assert_eq!(
            key.credential_lock_file_name(),
            v.credential_lock_file,
            "{}",
            v.server_name
        );
        assert_eq!(key.server_name(), v.server_name);
        // A key read back from a document derives the same names.
        let raw = StoreKey::from_raw(v.store_key.clone());
        assert_eq!(raw, key);
        assert_eq!(raw.secret_name(), v.secret_name);
    }
    Ok(())
}

#[test]
fn hashed_text_is_the_exact_hand_built_json() {
    // Written out literally: `"` and `\` escaped, non-ASCII raw, control characters
    // as serde_json writes them (`\t` short, others `\u00XX`), no spaces anywhere.
    let cases = [
        (
            "https://example.test",
            r#"{"type":"http","url":"https://example.test","headers":{}}"#,
        ),
        (
            "https://ex.test/a\"b\\c/é?q=1&r=ü",
            r#"{"type":"http","url":"https://ex.test/a\"b\\c/é?q=1&r=ü","headers":{}}"#,
        ),
        (
            "https://ex.test/\u{1f}x\ty",
            r#"{"type":"http","url":"https://ex.test/\u001fx\ty","headers":{}}"#,
        ),
    ];
    for (url, text) in cases {
        let expected = format!("s|{}", &sha256_hex(text.as_bytes())[..16]);
        assert_eq!(compute_store_key("s", url).as_str(), expected, "{url:?}");
    }
}

#[test]
fn sha256_hex_is_lowercase_and_64_characters() {
    // FIPS 180-2 test vector for "abc".
    assert_eq!(
        sha256_hex(b"abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[test]
fn server_name_is_everything_before_the_last_bar() {
    let key = compute_store_key("a|b", "https://example.test");
    assert_eq!(key.server_name(), "a|b");
    assert_eq!(StoreKey::from_raw("no-bar").server_name(), "no-bar");
    assert_eq!(format!("{key}"), key.as_str());
    assert_eq!(format!("{key:?}"), format!("StoreKey({:?})", key.as_str()));
}

#[test]
fn keys_serialize_as_plain_strings_and_order_by_bytes() -> TestResult {
    let key = compute_store_key("test-server", "https://example.test");
    assert_eq!(
        serde_json::to_string(&key)?,
        r#""test-server|8c45d89ea13b3919""#
    );
    assert_eq!(
        serde_json::from_str::<StoreKey>(r#""test-server|8c45d89ea13b3919""#)?,
        key
    );
    let mut keys = ["b|1", "B|1", "a|1"].map(StoreKey::from_raw);
    keys.sort();
    let sorted: Vec<_> = keys.iter().map(StoreKey::as_str).collect();
    assert_eq!(sorted, ["B|1", "a|1", "b|1"]);
    Ok(())
}

proptest! {
    #[test]
    fn derived_names_have_their_shapes(name in any::<String>(), url in any::<String>()) {
        let key = compute_store_key(&name, &url);
        // `^.*\|[0-9a-f]{16}$`, with the prefix being exactly the server name.
        let (prefix, hex) = key.as_str().rsplit_once('|').expect("a key has a bar");
        prop_assert_eq!(prefix, name.as_str());
        prop_assert!(hex.len() == 16 && is_hex(hex, false), "{:?}", key);
        prop_assert_eq!(key.server_name(), name.as_str());

        // `^MCP_OAUTH_[0-9A-F]{32}$`
        let secret = key.secret_name();
        let hex = secret.strip_prefix("MCP_OAUTH_").expect("prefix");
        prop_assert!(hex.len() == 32 && is_hex(hex, true), "{}", secret);

        let lock = key.credential_lock_file_name();
        let hex = lock.strip_suffix(".lock").expect("suffix");
        prop_assert!(hex.len() == 64 && is_hex(hex, false), "{}", lock);
    }
}
