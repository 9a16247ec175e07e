//! `SecretEntry`: a raw secret at (service, account), and the size check before any call.

use std::time::{Duration, Instant};

use oauth_store_core::{CredentialStore, StoreError};
use oauth_store_keyring::{KeyringError, KeyringStore, OsStore, SecretEntry};

use crate::child::{Script, assert_clean, run};
use crate::{TestResult, key, record, session, unique_service};

#[test]
fn raw_secret_round_trip_across_processes() -> TestResult {
    if !session::available("entry::raw_secret_round_trip_across_processes") {
        return Ok(());
    }
    let service = unique_service("raw");
    let limit = Duration::from_secs(60);
    let set = run(
        Script::new(&service, None, &["raw-set:secrets|abc=key-material-1"]).command(),
        limit,
    )?;
    assert_clean(&set)?;
    let get = run(
        Script::new(
            &service,
            None,
            &[
                "raw-get:secrets|abc",
                "raw-set:secrets|abc=key-material-2",
                "raw-get:secrets|abc",
            ],
        )
        .command(),
        limit,
    )?;
    assert_clean(&get)?;
    assert_eq!(get.nth("raw-get", 0)?.outcome, "some:key-material-1");
    assert_eq!(
        get.nth("raw-get", 1)?.outcome,
        "some:key-material-2",
        "set replaces"
    );
    let gone = run(
        Script::new(
            &service,
            None,
            &[
                "raw-delete:secrets|abc",
                "raw-get:secrets|abc",
                "raw-delete:secrets|abc",
            ],
        )
        .command(),
        limit,
    )?;
    assert_clean(&gone)?;
    assert_eq!(gone.nth("raw-delete", 0)?.outcome, "true");
    assert_eq!(gone.step("raw-get")?.outcome, "none");
    assert_eq!(gone.nth("raw-delete", 1)?.outcome, "false");
    Ok(())
}

/// A record over the Windows Credential Manager's 2,560 bytes of UTF-16 is refused
/// before any call, on any platform: the check runs before the store is looked at.
#[test]
fn a_value_over_the_platform_cap_is_refused_before_the_call() -> TestResult {
    let store = KeyringStore::new("oauth-store", Some("0123456789abcdef".to_owned()))
        .with_os_store(OsStore::WindowsCredentialManager)
        .with_timeout(Duration::from_secs(30));
    let token = format!("SENTINEL-{}", "x".repeat(1_300));
    let start = Instant::now();
    let error = store
        .save(&key("big"), &record("big", &token))
        .expect_err("too large");
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "answered without a call"
    );
    let StoreError::Backend { source, .. } = &error else {
        return Err(format!("expected a backend error, got {error:?}").into());
    };
    let Some(KeyringError::TooLarge {
        store: os,
        size,
        cap,
    }) = source.downcast_ref::<KeyringError>()
    else {
        return Err(format!("expected TooLarge, got {source:?}").into());
    };
    assert_eq!((*os, *cap), (OsStore::WindowsCredentialManager, 2_560));
    assert!(*size > 2_560, "{size}");
    let shown = format!("{error} {error:?}");
    assert!(shown.contains("2560-byte limit"), "{shown}");
    assert!(!shown.contains("SENTINEL"), "{shown}");

    // A small record passes the check and meets the absent store.
    if !OsStore::WindowsCredentialManager.is_built_in() {
        let error = store
            .save(&key("small"), &record("small", "at-1"))
            .expect_err("not built in");
        assert!(
            matches!(&error, StoreError::Unavailable { reason, .. } if reason.contains("not built into this binary")),
            "{error}"
        );
    }

    // keyutils caps a key's payload at 32,767 bytes.
    let entry = SecretEntry::new("svc", "acct").with_os_store(OsStore::Keyutils);
    let error = entry
        .set(&"y".repeat(40_000).into())
        .expect_err("too large for keyutils");
    assert!(error.to_string().contains("32767-byte limit"), "{error}");
    Ok(())
}
