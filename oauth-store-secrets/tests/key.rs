//! Key sources: key files, supplied keys, the keyring account.

use std::os::unix::fs::PermissionsExt;

use oauth_store_core::{ExposeSecret, SecretString, sha256_hex};
use oauth_store_secrets::{KeyError, KeyFile, KeyKind, KeySource, StaticKey, secrets_key_account};

use crate::{TestResult, new_identity};

#[test]
fn a_key_file_round_trips_0600_in_a_new_0700_directory_with_its_public_key() -> TestResult {
    let root = tempfile::tempdir()?;
    let path = root.path().join("new/dir/key.txt");
    let file = KeyFile::new(&path);
    assert!(file.load()?.is_none());
    let (identity, text) = new_identity();
    file.store(&text)?;
    assert_eq!(
        file.load()?.map(|k| k.expose_secret().to_owned()),
        Some(text.expose_secret().to_owned())
    );
    let mode = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.permissions().mode() & 0o777);
    assert_eq!(mode(&path)?, 0o600);
    assert_eq!(mode(&root.path().join("new"))?, 0o700);
    assert_eq!(mode(&root.path().join("new/dir"))?, 0o700);
    let content = std::fs::read_to_string(&path)?;
    assert!(
        content.contains(&format!("# public key: {}", identity.to_public())),
        "{content}"
    );
    assert!(file.location().contains("key.txt"));
    Ok(())
}

#[test]
fn an_age_keygen_file_is_read() -> TestResult {
    let root = tempfile::tempdir()?;
    let path = root.path().join("keygen.txt");
    let (identity, text) = new_identity();
    std::fs::write(
        &path,
        format!(
            "# created: 2025-01-01T00:00:00Z\n# public key: {}\n\n{}\n",
            identity.to_public(),
            text.expose_secret()
        ),
    )?;
    let loaded = KeyFile::new(&path).load()?.ok_or("a key")?;
    assert_eq!(loaded.expose_secret(), text.expose_secret());
    Ok(())
}

#[test]
fn malformed_key_files_are_refused_without_quoting_them() -> TestResult {
    let root = tempfile::tempdir()?;
    let path = root.path().join("key.txt");
    for (content, what) in [
        ("SENTINEL-one\nSENTINEL-two\n", "two lines"),
        ("# only a comment\n\n", "no key line"),
        ("", "empty"),
    ] {
        std::fs::write(&path, content)?;
        let e = KeyFile::new(&path).load().expect_err(what);
        assert!(matches!(e, KeyError::Malformed { .. }), "{what}: {e}");
        assert!(!e.to_string().contains("SENTINEL"), "{e}");
    }
    std::fs::write(&path, [0xff, 0xfe, b'\n'])?;
    assert!(matches!(
        KeyFile::new(&path).load(),
        Err(KeyError::Malformed { .. })
    ));
    Ok(())
}

#[test]
fn a_symlink_or_directory_at_the_key_file_is_refused() -> TestResult {
    let root = tempfile::tempdir()?;
    let target = root.path().join("real.key");
    let (_, text) = new_identity();
    std::fs::write(&target, format!("{}\n", text.expose_secret()))?;
    let link = root.path().join("link.key");
    std::os::unix::fs::symlink(&target, &link)?;
    assert!(matches!(
        KeyFile::new(&link).load(),
        Err(KeyError::NotARegularFile {
            what: "symlink",
            ..
        })
    ));
    assert!(matches!(
        KeyFile::new(&link).store(&text),
        Err(KeyError::NotARegularFile { .. })
    ));
    let dir = root.path().join("dir.key");
    std::fs::create_dir(&dir)?;
    assert!(matches!(
        KeyFile::new(&dir).load(),
        Err(KeyError::NotARegularFile {
            what: "directory",
            ..
        })
    ));
    Ok(())
}

#[test]
fn a_key_file_refuses_to_store_a_multi_line_key() -> TestResult {
    let root = tempfile::tempdir()?;
    let file = KeyFile::new(root.path().join("k"));
    let e = file
        .store(&SecretString::from("a\nb".to_owned()))
        .expect_err("two lines");
    assert!(matches!(e, KeyError::Malformed { .. }));
    assert!(file.load()?.is_none());
    Ok(())
}

#[test]
fn a_static_key_is_read_only() -> TestResult {
    let (_, text) = new_identity();
    let source = StaticKey::new(text.clone());
    assert_eq!(source.kind(), KeyKind::X25519Identity);
    assert_eq!(
        source.load()?.map(|k| k.expose_secret().to_owned()),
        Some(text.expose_secret().to_owned())
    );
    source.store(&text)?;
    let (_, other) = new_identity();
    assert!(matches!(
        source.store(&other),
        Err(KeyError::ReadOnly { .. })
    ));
    let passphrase = StaticKey::new("pw".to_owned().into()).with_kind(KeyKind::ScryptPassphrase);
    assert_eq!(passphrase.kind(), KeyKind::ScryptPassphrase);
    Ok(())
}

#[test]
fn the_keyring_account_is_the_codex_one() -> TestResult {
    let home = tempfile::tempdir()?;
    let canonical = home.path().canonicalize()?;
    let expected = format!(
        "secrets|{}",
        &sha256_hex(canonical.to_string_lossy().as_bytes())[..16]
    );
    assert_eq!(secrets_key_account(home.path()), expected);
    // A non-canonical spelling of the same home gives the same account.
    let dotted = home.path().join(".");
    assert_eq!(secrets_key_account(&dotted), expected);
    Ok(())
}
