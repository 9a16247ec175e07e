//! The store: round trips, the File store's discipline, key creation and loss,
//! export, import and re-key.

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use oauth_store_core::{CredentialStore, ExposeSecret, StoreError};
use oauth_store_secrets::{
    KeyError, KeyFile, SecretsError, SecretsStore, StaticKey, secret_map_name,
};

use crate::{
    TestResult, doc_path, encrypt_to, identity_in, key, key_path, new_identity, plaintext_of,
    put_document, record, secrets_error, store_in, token_of,
};

#[test]
fn save_load_list_delete_round_trip() -> TestResult {
    let home = tempfile::tempdir()?;
    let store = store_in(home.path());
    assert!(store.load(&key("a"))?.is_none());
    assert!(store.list()?.is_empty());
    store.save(&key("a"), &record("a", "at-a1"))?;
    store.save(&key("b"), &record("b", "at-b1"))?;
    store.save(&key("a"), &record("a", "at-a2"))?;
    assert_eq!(
        store.load(&key("a"))?.map(|c| token_of(&c)),
        Some("at-a2".to_owned())
    );
    assert_eq!(
        store.load(&key("b"))?.map(|c| token_of(&c)),
        Some("at-b1".to_owned())
    );
    let mut listed: Vec<_> = store.list()?.into_iter().map(|l| l.key).collect();
    listed.sort();
    let mut expected = vec![key("a"), key("b")];
    expected.sort();
    assert_eq!(listed, expected);
    assert!(store.delete(&key("a"))?);
    assert!(!store.delete(&key("a"))?);
    assert!(store.load(&key("a"))?.is_none());
    assert!(store.delete(&key("b"))?);
    assert!(
        !doc_path(home.path()).exists(),
        "the last entry gone, the document is removed"
    );
    assert!(key_path(home.path()).exists(), "the key stays");
    Ok(())
}

#[test]
fn the_document_is_binary_age_to_an_x25519_key_in_the_codex_format() -> TestResult {
    let home = tempfile::tempdir()?;
    let store = store_in(home.path());
    let credential = record("fmt", "at-fmt");
    store.save(&key("fmt"), &credential)?;
    let bytes = std::fs::read(doc_path(home.path()))?;
    assert!(
        bytes.starts_with(b"age-encryption.org/v1\n-> X25519 "),
        "binary age, X25519 recipient"
    );
    let plain = plaintext_of(home.path())?;
    assert_eq!(plain["version"], 1);
    let secrets = plain["secrets"].as_object().ok_or("secrets")?;
    assert_eq!(secrets.len(), 1);
    let name = secret_map_name(&key("fmt"));
    assert_eq!(name, format!("global/{}", key("fmt").secret_name()));
    assert!(name.starts_with("global/MCP_OAUTH_") && name.len() == "global/MCP_OAUTH_".len() + 32);
    let text = secrets[&name].as_str().ok_or("the value is a string")?;
    assert_eq!(
        text,
        serde_json::to_string(&credential)?,
        "the value is the record's JSON"
    );
    Ok(())
}

#[test]
fn no_token_byte_reaches_the_disk() -> TestResult {
    let home = tempfile::tempdir()?;
    let store = store_in(home.path());
    let sentinels = [
        "SENTINEL-ACCESS-5f0c9a",
        "SENTINEL-REFRESH-77d1e2",
        "SENTINEL-CLIENT-SECRET-3b8a",
    ];
    for i in 0..20 {
        let name = format!("s{i}");
        let c = oauth_store_core::Credential::builder(
            &name,
            format!("https://{name}.example/mcp"),
            format!("{}-{i}", sentinels[0]).into(),
        )
        .refresh_token(format!("{}-{i}", sentinels[1]).into())
        .client_secret(format!("{}-{i}", sentinels[2]).into())
        .build();
        store.save(&key(&name), &c)?;
    }
    store.delete(&key("s3"))?;
    let mut files = Vec::new();
    let mut dirs = vec![home.path().to_owned()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    assert!(files.len() >= 3, "document, key file, lock file: {files:?}");
    for path in files {
        let bytes = std::fs::read(&path)?;
        for s in sentinels {
            // Any 8-byte piece of a sentinel would do; "SENTINEL" covers them all.
            assert!(
                !bytes.windows(8).any(|w| w == &s.as_bytes()[..8]),
                "{} holds token bytes",
                path.display()
            );
        }
    }
    Ok(())
}

#[test]
fn load_never_creates_a_key() -> TestResult {
    let home = tempfile::tempdir()?;
    let store = store_in(home.path());
    assert!(store.load(&key("x"))?.is_none());
    assert!(store.list()?.is_empty());
    assert!(!store.delete(&key("x"))?);
    assert!(store.export_key()?.is_none());
    assert!(!key_path(home.path()).exists());
    Ok(())
}

#[test]
fn a_document_without_its_key_is_an_error_and_no_new_key_is_made() -> TestResult {
    let home = tempfile::tempdir()?;
    let store = store_in(home.path());
    store.save(&key("a"), &record("a", "at-a"))?;
    let before = std::fs::read(doc_path(home.path()))?;
    std::fs::remove_file(key_path(home.path()))?;
    // A fresh store: no key cached from the save.
    let store = store_in(home.path());
    for result in [
        store.load(&key("a")).map(|_| ()),
        store.save(&key("b"), &record("b", "at-b")),
        store.delete(&key("a")).map(|_| ()),
        store.list().map(|_| ()),
        store.export_key().map(|_| ()),
    ] {
        let e = result.expect_err("no key");
        assert!(
            matches!(secrets_error(&e), Some(SecretsError::KeyMissing { .. })),
            "{e}"
        );
        assert!(e.to_string().contains("orphan"), "{e}");
    }
    assert!(!key_path(home.path()).exists(), "no new key");
    assert_eq!(std::fs::read(doc_path(home.path()))?, before, "untouched");
    Ok(())
}

#[test]
fn a_document_for_another_key_is_refused_and_never_replaced() -> TestResult {
    let home = tempfile::tempdir()?;
    let (other, _) = new_identity();
    let plain = br#"{"version":1,"secrets":{}}"#;
    let bytes = encrypt_to(&other, plain);
    put_document(home.path(), &bytes)?;
    let store = store_in(home.path());
    // The key file is missing: a document exists, so no key is made.
    let e = store
        .save(&key("a"), &record("a", "at-a"))
        .expect_err("no key");
    assert!(
        matches!(secrets_error(&e), Some(SecretsError::KeyMissing { .. })),
        "{e}"
    );
    // With a key that does not open it:
    let (_, mine) = new_identity();
    std::fs::write(key_path(home.path()), format!("{}\n", mine.expose_secret()))?;
    for result in [
        store.load(&key("a")).map(|_| ()),
        store.save(&key("a"), &record("a", "at-a")),
    ] {
        let e = result.expect_err("wrong key");
        assert!(
            matches!(secrets_error(&e), Some(SecretsError::KeyMismatch { .. })),
            "{e}"
        );
    }
    assert_eq!(std::fs::read(doc_path(home.path()))?, bytes, "untouched");
    Ok(())
}

#[test]
fn corrupt_documents_are_typed_errors_and_never_replaced() -> TestResult {
    let home = tempfile::tempdir()?;
    let store = store_in(home.path());
    store.save(&key("a"), &record("a", "at-a"))?;
    let good = std::fs::read(doc_path(home.path()))?;
    let identity = identity_in(&key_path(home.path()))?;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("not age", b"{\"a\":1}".to_vec()),
        ("empty", Vec::new()),
        ("truncated", good[..good.len() - 10].to_vec()),
        ("payload flipped", {
            let mut b = good.clone();
            let last = b.len() - 1;
            b[last] ^= 1;
            b
        }),
        (
            "plaintext not JSON",
            encrypt_to(&identity, b"SENTINEL-not-json at-a"),
        ),
        ("plaintext not an object", encrypt_to(&identity, b"[1,2]")),
        ("no version", encrypt_to(&identity, br#"{"secrets":{}}"#)),
        ("no secrets", encrypt_to(&identity, br#"{"version":1}"#)),
        (
            "version not a number",
            encrypt_to(&identity, br#"{"version":"SENTINEL","secrets":{}}"#),
        ),
        (
            "secrets not an object",
            encrypt_to(&identity, br#"{"version":1,"secrets":["SENTINEL"]}"#),
        ),
        (
            "duplicate version",
            encrypt_to(&identity, br#"{"version":1,"version":1,"secrets":{}}"#),
        ),
    ];
    for (what, bytes) in cases {
        std::fs::write(doc_path(home.path()), &bytes)?;
        let store = store_in(home.path());
        for result in [
            store.load(&key("a")).map(|_| ()),
            store.save(&key("b"), &record("b", "at-b")),
            store.delete(&key("a")).map(|_| ()),
            store.list().map(|_| ()),
        ] {
            let e = result.expect_err(what);
            assert!(
                matches!(e, StoreError::CorruptDocument { .. }),
                "{what}: {e}"
            );
            assert!(
                !e.to_string().contains("SENTINEL"),
                "{what}: the error quotes plaintext: {e}"
            );
        }
        assert_eq!(
            std::fs::read(doc_path(home.path()))?,
            bytes,
            "{what}: untouched"
        );
    }
    Ok(())
}

#[test]
fn a_newer_version_is_refused_and_never_overwritten() -> TestResult {
    let home = tempfile::tempdir()?;
    let store = store_in(home.path());
    store.save(&key("a"), &record("a", "at-a"))?;
    let identity = identity_in(&key_path(home.path()))?;
    let bytes = encrypt_to(&identity, br#"{"version":2,"secrets":{},"future":true}"#);
    std::fs::write(doc_path(home.path()), &bytes)?;
    for result in [
        store.load(&key("a")).map(|_| ()),
        store.save(&key("a"), &record("a", "at-a")),
        store.delete(&key("a")).map(|_| ()),
        store.list().map(|_| ()),
    ] {
        let e = result.expect_err("newer");
        assert!(
            matches!(
                e,
                StoreError::UnsupportedVersion {
                    found: 2,
                    supported: 1,
                    ..
                }
            ),
            "{e}"
        );
    }
    assert_eq!(std::fs::read(doc_path(home.path()))?, bytes);
    Ok(())
}

#[test]
fn a_bad_entry_is_an_error_for_its_key_alone_and_is_kept() -> TestResult {
    let home = tempfile::tempdir()?;
    let store = store_in(home.path());
    store.save(&key("good"), &record("good", "at-good"))?;
    let identity = identity_in(&key_path(home.path()))?;
    let mut plain = plaintext_of(home.path())?;
    let bad_name = secret_map_name(&key("bad"));
    let worse_name = secret_map_name(&key("worse"));
    plain["secrets"][&bad_name] =
        serde_json::json!("{\"server_name\":\"bad\",\"access_token\":\"SENTINEL-bad\"");
    plain["secrets"][&worse_name] =
        serde_json::json!({"not": "a string", "token": "SENTINEL-worse"});
    std::fs::write(
        doc_path(home.path()),
        encrypt_to(&identity, &serde_json::to_vec(&plain)?),
    )?;

    for name in ["bad", "worse"] {
        let e = store.load(&key(name)).expect_err("bad entry");
        assert!(
            matches!(&e, StoreError::CorruptEntry { key: k, .. } if *k == key(name)),
            "{e}"
        );
        assert!(!e.to_string().contains("SENTINEL"), "{e}");
    }
    assert!(store.load(&key("good"))?.is_some());
    store.save(&key("new"), &record("new", "at-new"))?;
    let after = plaintext_of(home.path())?;
    assert_eq!(
        after["secrets"][&bad_name], plain["secrets"][&bad_name],
        "kept byte-for-byte"
    );
    assert_eq!(after["secrets"][&worse_name], plain["secrets"][&worse_name]);
    let listed = store.list()?;
    assert_eq!(listed.len(), 4);
    let bad: Vec<_> = listed.iter().filter(|l| l.credential.is_err()).collect();
    assert_eq!(bad.len(), 2);
    assert!(
        bad.iter()
            .all(|l| l.key.as_str().starts_with("global/MCP_OAUTH_"))
    );
    // A save of the bad key itself replaces it.
    store.save(&key("bad"), &record("bad", "at-bad"))?;
    assert!(store.load(&key("bad"))?.is_some());
    Ok(())
}

#[test]
fn unknown_entries_and_fields_survive_every_rewrite() -> TestResult {
    let home = tempfile::tempdir()?;
    let store = store_in(home.path());
    store.save(&key("a"), &record("a", "at-a"))?;
    let identity = identity_in(&key_path(home.path()))?;
    let a_name = secret_map_name(&key("a"));
    let a_value = serde_json::to_string(&plaintext_of(home.path())?["secrets"][&a_name])?;
    // Written by hand so the exact bytes of the unknown parts can be compared.
    let unknown = [
        (r#""env/repo/GITHUB_TOKEN""#, r#""ghp-unknown""#),
        (r#""global/OTHER_TOOL""#, r#"{"nested": [1, 2.50, "x"]}"#),
        (
            r#""global/MCP_OAUTH_ZZZ_NOT_A_HASH""#,
            r#""kept \u0041s is""#,
        ),
    ];
    let mut text = String::from(r#"{"version":1,"secrets":{"#);
    for (name, value) in unknown {
        text.push_str(&format!("{name}:{value},"));
    }
    text.push_str(&format!(
        "\"{a_name}\":{a_value}}},\"x_future_field\":{{\"k\": [true, null]}}}}"
    ));
    std::fs::write(
        doc_path(home.path()),
        encrypt_to(&identity, text.as_bytes()),
    )?;

    store.save(&key("b"), &record("b", "at-b"))?;
    store.delete(&key("a"))?;
    store.save(&key("c"), &record("c", "at-c"))?;
    let plain = age::decrypt(&identity, &std::fs::read(doc_path(home.path()))?)?;
    let plain = String::from_utf8(plain)?;
    for (name, value) in unknown {
        assert!(
            plain.contains(&format!("{name}:{}", value)),
            "{name} kept byte-exact in {plain}"
        );
    }
    assert!(
        plain.contains(r#""x_future_field":{"k": [true, null]}"#),
        "{plain}"
    );
    assert!(plain.starts_with(r#"{"version":1,"secrets":{"#));
    // Deleting every credential keeps the document for the other secrets.
    store.delete(&key("b"))?;
    store.delete(&key("c"))?;
    assert!(doc_path(home.path()).exists());
    let listed = store.list()?;
    assert_eq!(
        listed.len(),
        1,
        "only the MCP_OAUTH_ entry is listed: {listed:?}"
    );
    assert!(listed[0].credential.is_err());
    Ok(())
}

#[test]
fn version_zero_is_read_as_one_and_written_as_one() -> TestResult {
    let home = tempfile::tempdir()?;
    let store = store_in(home.path());
    store.save(&key("a"), &record("a", "at-a"))?;
    let identity = identity_in(&key_path(home.path()))?;
    let mut plain = plaintext_of(home.path())?;
    plain["version"] = serde_json::json!(0);
    std::fs::write(
        doc_path(home.path()),
        encrypt_to(&identity, &serde_json::to_vec(&plain)?),
    )?;
    assert!(store.load(&key("a"))?.is_some());
    store.save(&key("b"), &record("b", "at-b"))?;
    assert_eq!(plaintext_of(home.path())?["version"], 1);
    Ok(())
}

#[test]
fn a_loose_document_is_made_0600_by_the_next_save() -> TestResult {
    let home = tempfile::tempdir()?;
    let store = store_in(home.path());
    store.save(&key("a"), &record("a", "at-a"))?;
    std::fs::set_permissions(
        doc_path(home.path()),
        std::fs::Permissions::from_mode(0o644),
    )?;
    assert!(store.load(&key("a"))?.is_some());
    store.save(&key("b"), &record("b", "at-b"))?;
    let mode = std::fs::metadata(doc_path(home.path()))?
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    Ok(())
}

#[test]
fn a_symlink_at_the_document_is_refused() -> TestResult {
    let home = tempfile::tempdir()?;
    let store = store_in(home.path());
    std::fs::create_dir_all(home.path().join("secrets"))?;
    std::os::unix::fs::symlink(home.path().join("elsewhere"), doc_path(home.path()))?;
    let e = store
        .save(&key("a"), &record("a", "at-a"))
        .expect_err("symlink");
    assert!(
        matches!(
            e,
            StoreError::NotARegularFile {
                what: "symlink",
                ..
            }
        ),
        "{e}"
    );
    let e = store.load(&key("a")).expect_err("symlink");
    assert!(matches!(e, StoreError::NotARegularFile { .. }), "{e}");
    assert!(!home.path().join("elsewhere").exists());
    Ok(())
}

#[test]
fn a_supplied_key_is_used_and_never_changed() -> TestResult {
    let home = tempfile::tempdir()?;
    let (identity, text) = new_identity();
    let source = Arc::new(StaticKey::new(text));
    let store = SecretsStore::in_home(home.path(), source)?;
    store.save(&key("a"), &record("a", "at-a"))?;
    let plain = age::decrypt(&identity, &std::fs::read(store.path())?)?;
    assert!(!plain.is_empty());
    assert!(store.load(&key("a"))?.is_some());
    let e = store.rekey(None).expect_err("read-only");
    assert!(
        matches!(
            secrets_error(&e),
            Some(SecretsError::Key(KeyError::ReadOnly { .. }))
        ),
        "{e}"
    );
    assert!(
        age::decrypt(&identity, &std::fs::read(store.path())?).is_ok(),
        "still the supplied key"
    );
    assert!(!format!("{store:?}").contains("AGE-SECRET-KEY"));
    Ok(())
}

#[test]
fn a_key_that_is_not_an_identity_is_a_typed_error_that_does_not_quote_it() -> TestResult {
    let home = tempfile::tempdir()?;
    std::fs::write(key_path(home.path()), "SENTINEL-not-a-key\n")?;
    let store = store_in(home.path());
    let e = store
        .save(&key("a"), &record("a", "at-a"))
        .expect_err("bad key");
    assert!(
        matches!(secrets_error(&e), Some(SecretsError::KeyInvalid { .. })),
        "{e}"
    );
    assert!(!e.to_string().contains("SENTINEL"), "{e}");
    assert!(!doc_path(home.path()).exists());
    assert_eq!(
        std::fs::read_to_string(key_path(home.path()))?,
        "SENTINEL-not-a-key\n",
        "left as it is"
    );
    Ok(())
}

#[test]
fn export_import_restores_a_lost_key() -> TestResult {
    let home = tempfile::tempdir()?;
    let store = store_in(home.path());
    store.save(&key("a"), &record("a", "at-a"))?;
    let exported = store.export_key()?.ok_or("a key")?;
    assert!(exported.expose_secret().starts_with("AGE-SECRET-KEY-1"));
    std::fs::remove_file(key_path(home.path()))?;
    let store = store_in(home.path());
    assert!(store.load(&key("a")).is_err());
    // The wrong key is refused and not stored.
    let (_, wrong) = new_identity();
    let e = store.import_key(wrong).expect_err("wrong key");
    assert!(
        matches!(secrets_error(&e), Some(SecretsError::KeyMismatch { .. })),
        "{e}"
    );
    assert!(!key_path(home.path()).exists());
    store.import_key(exported)?;
    assert_eq!(
        store.load(&key("a"))?.map(|c| token_of(&c)),
        Some("at-a".to_owned())
    );
    let mode = std::fs::metadata(key_path(home.path()))?
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    Ok(())
}

#[test]
fn rekey_replaces_the_key_and_the_old_one_no_longer_opens_the_document() -> TestResult {
    let home = tempfile::tempdir()?;
    let store = store_in(home.path());
    store.save(&key("a"), &record("a", "at-a"))?;
    let old = identity_in(&key_path(home.path()))?;
    // Another instance caches the old key on a read.
    let reader = store_in(home.path());
    assert!(reader.load(&key("a"))?.is_some());
    store.rekey(None)?;
    let new = identity_in(&key_path(home.path()))?;
    assert_ne!(old.to_public().to_string(), new.to_public().to_string());
    let bytes = std::fs::read(doc_path(home.path()))?;
    assert!(
        age::decrypt(&old, &bytes).is_err(),
        "the old key no longer opens it"
    );
    assert!(age::decrypt(&new, &bytes).is_ok());
    assert_eq!(
        reader.load(&key("a"))?.map(|c| token_of(&c)),
        Some("at-a".to_owned()),
        "a stale cached key is refreshed"
    );
    reader.save(&key("b"), &record("b", "at-b"))?;
    assert!(age::decrypt(&new, &std::fs::read(doc_path(home.path()))?).is_ok());
    // A given key:
    let (given, text) = new_identity();
    store.rekey(Some(text))?;
    assert!(age::decrypt(&given, &std::fs::read(doc_path(home.path()))?).is_ok());
    assert_eq!(
        identity_in(&key_path(home.path()))?.to_public().to_string(),
        given.to_public().to_string()
    );
    Ok(())
}

#[test]
fn rekey_into_another_source_moves_the_document_and_leaves_the_old_source() -> TestResult {
    let home = tempfile::tempdir()?;
    let store = store_in(home.path());
    store.save(&key("a"), &record("a", "at-a"))?;
    let old_key = std::fs::read(key_path(home.path()))?;
    let target_path = home.path().join("keys/new.key");
    let moved = store.rekey_into(Arc::new(KeyFile::new(&target_path)), None)?;
    assert_eq!(
        moved.load(&key("a"))?.map(|c| token_of(&c)),
        Some("at-a".to_owned())
    );
    assert_eq!(
        std::fs::read(key_path(home.path()))?,
        old_key,
        "the old source is left as it was"
    );
    let e = store_in(home.path()).load(&key("a")).expect_err("old key");
    assert!(
        matches!(secrets_error(&e), Some(SecretsError::KeyMismatch { .. })),
        "{e}"
    );
    let dir_mode = std::fs::metadata(home.path().join("keys"))?
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dir_mode, 0o700);
    // A target holding another key is never overwritten.
    let (_, other) = new_identity();
    let occupied = home.path().join("occupied.key");
    std::fs::write(&occupied, format!("{}\n", other.expose_secret()))?;
    let e = moved
        .rekey_into(Arc::new(KeyFile::new(&occupied)), None)
        .expect_err("occupied");
    assert!(
        matches!(secrets_error(&e), Some(SecretsError::TargetHoldsKey { .. })),
        "{e}"
    );
    // Into the same place, it is an in-place re-key.
    let again = moved.rekey_into(Arc::new(KeyFile::new(&target_path)), None)?;
    assert!(again.load(&key("a"))?.is_some());
    Ok(())
}

#[test]
fn debug_output_holds_no_key() -> TestResult {
    let home = tempfile::tempdir()?;
    let (_, text) = new_identity();
    let shown = format!("{:?}", StaticKey::new(text.clone()));
    assert!(
        !shown.contains(text.expose_secret()) && !shown.contains("AGE-SECRET"),
        "{shown}"
    );
    let store = store_in(home.path());
    store.save(&key("a"), &record("a", "at-a"))?;
    let shown = format!("{store:?}");
    assert!(
        !shown.contains("AGE-SECRET") && !shown.contains("at-a"),
        "{shown}"
    );
    Ok(())
}

#[test]
fn a_handle_sees_what_another_handle_wrote_after_its_own_read() -> TestResult {
    let home = tempfile::tempdir()?;
    let (a, b) = (store_in(home.path()), store_in(home.path()));
    a.save(&key("x"), &record("x", "at-1"))?;
    assert_eq!(
        a.load(&key("x"))?.map(|c| token_of(&c)),
        Some("at-1".to_owned())
    );
    b.save(&key("x"), &record("x", "at-2"))?;
    assert_eq!(
        a.load(&key("x"))?.map(|c| token_of(&c)),
        Some("at-2".to_owned()),
        "not the remembered document"
    );
    b.delete(&key("x"))?;
    assert!(a.load(&key("x"))?.is_none());
    Ok(())
}

#[test]
fn a_key_replaced_behind_the_stores_back_is_caught_by_every_handle_that_rereads_it() -> TestResult {
    let home = tempfile::tempdir()?;
    let writer = store_in(home.path());
    writer.save(&key("a"), &record("a", "at-a"))?;
    let original = identity_in(&key_path(home.path()))?;
    let reader = store_in(home.path());
    assert!(reader.load(&key("a"))?.is_some());
    let before = std::fs::read(doc_path(home.path()))?;
    let (_, other) = new_identity();
    std::fs::write(
        key_path(home.path()),
        format!("{}\n", other.expose_secret()),
    )?;
    // A new handle, and one that has only read, reread the source under the lock.
    for store in [store_in(home.path()), reader] {
        let e = store
            .save(&key("b"), &record("b", "at-b"))
            .expect_err("the source's key does not open it");
        assert!(
            matches!(secrets_error(&e), Some(SecretsError::KeyMismatch { .. })),
            "{e}"
        );
        assert_eq!(std::fs::read(doc_path(home.path()))?, before);
    }
    // The handle that wrote this very document keeps writing it to the key that opens
    // it (the source's key changes through this crate only after the document does).
    writer.save(&key("b"), &record("b", "at-b"))?;
    assert!(age::decrypt(&original, &std::fs::read(doc_path(home.path()))?).is_ok());
    Ok(())
}

#[test]
fn after_a_rekey_stopped_between_its_steps_every_save_writes_to_the_sources_key() -> TestResult {
    for source_took_the_new_key in [false, true] {
        let home = tempfile::tempdir()?;
        let handle = store_in(home.path());
        handle.save(&key("a"), &record("a", "at-a"))?;
        let old = identity_in(&key_path(home.path()))?;
        // The state a re-key leaves when stopped after its first write (the document to
        // both keys), and after the source took the new key.
        let (new, new_text) = new_identity();
        let plain = age::decrypt(&old, &std::fs::read(doc_path(home.path()))?)?;
        let both: [&dyn age::Recipient; 2] = [&old.to_public(), &new.to_public()];
        let encryptor = age::Encryptor::with_recipients(both.into_iter())?;
        let mut bytes = Vec::new();
        let mut writer = encryptor.wrap_output(&mut bytes)?;
        std::io::Write::write_all(&mut writer, &plain)?;
        writer.finish()?;
        std::fs::write(doc_path(home.path()), &bytes)?;
        if source_took_the_new_key {
            std::fs::write(
                key_path(home.path()),
                format!("{}\n", new_text.expose_secret()),
            )?;
        }
        handle.save(&key("b"), &record("b", "at-b"))?;
        let in_source = identity_in(&key_path(home.path()))?;
        let after = std::fs::read(doc_path(home.path()))?;
        assert!(
            age::decrypt(&in_source, &after).is_ok(),
            "the source's key opens it"
        );
        let listed = store_in(home.path()).list()?;
        assert_eq!(listed.len(), 2);
    }
    Ok(())
}
