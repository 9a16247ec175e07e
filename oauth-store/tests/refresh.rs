//! The refresh transaction in one process (DESIGN.md "Refresh transaction"), against the
//! testkit: adopt, refresh once, the four outcomes, persist failures, 401 recovery.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use oauth_store::file::FileStore;
use oauth_store::{
    AuthorizationReason, Credential, CredentialStore, Error, ErrorKind, OAuthStore, RefreshOutcome,
    StoreMode, TokenRefresher,
};
use oauth_store_core::ExposeSecret;
use oauth_store_testkit::Fault;

use crate::support::refresher::TestkitRefresher;
use crate::support::stores::FailingSaves;
use crate::support::{
    LogCapture, SERVER, TestResult, URL, credential_from, endpoint, file_store, now_ms,
};

const SECOND: Duration = Duration::from_secs(1);

/// Logs in with a fresh grant whose access token is already due.
fn login_due(store: &OAuthStore, ep: &oauth_store_testkit::TokenEndpoint) -> Credential {
    let tokens = ep.issue_grant(crate::support::CLIENT, &["mcp"]);
    let mut credential = credential_from(ep, &tokens, now_ms());
    credential.expires_at = Some(now_ms().saturating_sub(1000));
    store
        .handle(SERVER, URL)
        .save_grant(credential.clone())
        .expect("login");
    credential
}

#[test]
fn due_token_is_refreshed_once_and_persisted_before_it_is_returned() -> TestResult {
    let home = tempfile::tempdir()?;
    let ep = endpoint(Duration::from_secs(60));
    let store = file_store(home.path());
    let old = login_due(&store, &ep);
    let fresh = store.handle(SERVER, URL).refresh_if_needed(SECOND)?;
    assert!(!fresh.same_tokens(&old));
    assert_eq!(ep.counters().refreshes, 1);
    let stored = FileStore::in_home(home.path())?
        .load(&fresh.store_key())?
        .expect("stored");
    assert!(
        stored.same_tokens(&fresh),
        "persisted before it was returned"
    );
    assert!(stored.updated_at.is_some());
    // Not due any more: no request.
    store.handle(SERVER, URL).refresh_if_needed(SECOND)?;
    assert_eq!(ep.counters().refreshes, 1);
    assert!(
        ep.requests()
            .iter()
            .all(|r| r.resources == vec![URL.to_owned()])
    );
    Ok(())
}

#[test]
fn unknown_expiry_is_returned_as_is_and_nothing_stored_is_authorization_required() -> TestResult {
    let home = tempfile::tempdir()?;
    let store = file_store(home.path());
    let handle = store.handle(SERVER, URL);
    let err = handle
        .refresh_if_needed(SECOND)
        .expect_err("nothing stored");
    assert!(matches!(
        err,
        Error::AuthorizationRequired {
            reason: AuthorizationReason::NothingStored,
            ..
        }
    ));
    assert_eq!(err.kind(), ErrorKind::AuthorizationRequired);
    handle.save_grant(Credential::builder(SERVER, URL, "at-static".to_owned().into()).build())?;
    let got = handle.refresh_if_needed(Duration::from_secs(3600))?;
    assert_eq!(got.access_token.expose_secret(), "at-static");
    Ok(())
}

#[test]
fn transient_failures_keep_everything() -> TestResult {
    let home = tempfile::tempdir()?;
    let ep = endpoint(Duration::from_secs(60));
    let store = file_store(home.path());
    let old = login_due(&store, &ep);
    for fault in [Fault::Status500, Fault::Status429] {
        ep.set_fault(Some(fault));
        let err = store
            .handle(SERVER, URL)
            .refresh_if_needed(SECOND)
            .expect_err("fault");
        assert!(matches!(err, Error::Transient { .. }), "{err:?}");
        assert_eq!(err.kind(), ErrorKind::Provider);
    }
    ep.set_fault(None);
    let stored = store.handle(SERVER, URL).load()?.expect("kept");
    assert!(stored.same_tokens(&old), "nothing changed");
    // Unreachable: nobody listens on the port any more.
    let url = ep.token_endpoint();
    drop(ep);
    let mut moved = stored.clone();
    moved.token_endpoint = Some(url);
    let err = store
        .handle(SERVER, URL)
        .refresh_if_needed(SECOND)
        .expect_err("unreachable");
    assert!(
        matches!(err, Error::Transient { .. } | Error::Indeterminate { .. }),
        "{err:?}"
    );
    assert!(
        store
            .handle(SERVER, URL)
            .load()?
            .expect("kept")
            .same_tokens(&old)
    );
    Ok(())
}

#[test]
fn slow_past_the_timeout_and_unparsable_200_are_indeterminate_and_the_body_is_never_logged()
-> TestResult {
    let home = tempfile::tempdir()?;
    let ep = endpoint(Duration::from_secs(60));
    let store = file_store(home.path()); // refresher timeout: 2 s
    let old = login_due(&store, &ep);
    let logs = LogCapture::default();

    ep.set_fault(Some(Fault::Slow(Duration::from_secs(4))));
    let err = logs
        .run(|| store.handle(SERVER, URL).refresh_if_needed(SECOND))
        .expect_err("slow");
    assert!(matches!(err, Error::Indeterminate { .. }), "{err:?}");
    assert!(
        store
            .handle(SERVER, URL)
            .load()?
            .expect("kept")
            .same_tokens(&old)
    );

    // The slow answer rotated the token at the provider (the client gave up before
    // it arrived): retrying with the old one is reuse, as the crate docs say. The
    // unparsable case starts from a fresh grant.
    ep.set_fault(None);
    let old = login_due(&store, &ep);
    ep.set_fault(Some(Fault::UnparsableSuccess));
    let err = logs
        .run(|| store.handle(SERVER, URL).refresh_if_needed(SECOND))
        .expect_err("unparsable");
    assert!(matches!(err, Error::Indeterminate { .. }), "{err:?}");
    assert!(
        store
            .handle(SERVER, URL)
            .load()?
            .expect("kept")
            .same_tokens(&old)
    );
    let text = format!("{}\n{err}\n{err:?}", logs.text());
    assert!(
        text.contains("refresh outcome unknown"),
        "the outcome is logged: {text}"
    );
    assert!(
        !text.contains("SENTINEL-"),
        "no token from the body reaches logs or errors: {text}"
    );
    Ok(())
}

#[test]
fn invalid_grant_on_the_current_token_drops_tokens_exactly_once_and_keeps_the_registration()
-> TestResult {
    let home = tempfile::tempdir()?;
    let ep = endpoint(Duration::from_secs(60));
    let store = file_store(home.path());
    login_due(&store, &ep);
    ep.set_fault(Some(Fault::InvalidGrant));
    let err = store
        .handle(SERVER, URL)
        .refresh_if_needed(SECOND)
        .expect_err("rejected");
    assert!(
        matches!(
            err,
            Error::AuthorizationRequired {
                reason: AuthorizationReason::GrantRejected { .. },
                ..
            }
        ),
        "{err:?}"
    );
    let stored = store
        .handle(SERVER, URL)
        .load()?
        .expect("registration kept");
    assert!(!stored.has_tokens());
    assert_eq!(stored.client_id, crate::support::CLIENT);
    assert!(stored.token_endpoint.is_some());
    let requests = ep.counters().token_requests;
    let err = store
        .handle(SERVER, URL)
        .refresh_if_needed(SECOND)
        .expect_err("still rejected");
    assert!(
        matches!(
            err,
            Error::AuthorizationRequired {
                reason: AuthorizationReason::TokensDropped,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        ep.counters().token_requests,
        requests,
        "the next call makes no request"
    );
    Ok(())
}

/// A refresher that, while its request is in flight, lets another writer save a
/// newer credential (as an uncoordinated writer would), then answers invalid_grant.
struct NewerSavedMeanwhile {
    store: Arc<dyn CredentialStore>,
    newer: Credential,
}

impl TokenRefresher for NewerSavedMeanwhile {
    fn refresh(&self, _: &Credential) -> RefreshOutcome {
        self.store
            .save(&self.newer.store_key(), &self.newer)
            .expect("save newer");
        RefreshOutcome::Rejected {
            description: Some("grant request is invalid".into()),
        }
    }
}

#[test]
fn invalid_grant_after_another_writer_saved_a_newer_token_keeps_the_newer_token() -> TestResult {
    let home = tempfile::tempdir()?;
    let file: Arc<dyn CredentialStore> = Arc::new(FileStore::in_home(home.path())?);
    let mut newer = Credential::builder(SERVER, URL, "at-newer".to_owned().into())
        .refresh_token("rt-newer".to_owned().into())
        .client_id("c")
        .build();
    newer.expires_at = Some(now_ms() + 3_600_000);
    newer.updated_at = Some(now_ms() + 1);
    let store = OAuthStore::builder()
        .default_stores(false)
        .home(home.path())
        .mode(StoreMode::File)
        .refresher(Arc::new(NewerSavedMeanwhile {
            store: file.clone(),
            newer: newer.clone(),
        }))
        .build()?;
    let mut old = Credential::builder(SERVER, URL, "at-old".to_owned().into())
        .refresh_token("rt-old".to_owned().into())
        .client_id("c")
        .build();
    old.expires_at = Some(now_ms() - 1);
    store.handle(SERVER, URL).save_grant(old)?;
    let got = store.handle(SERVER, URL).refresh_if_needed(SECOND)?;
    assert!(got.same_tokens(&newer), "the newer token is adopted");
    let stored = file.load(&newer.store_key())?.expect("stored");
    assert!(stored.same_tokens(&newer), "and survives");
    Ok(())
}

#[test]
fn persist_failure_after_a_successful_refresh_is_retried_then_carries_the_new_credential()
-> TestResult {
    let home = tempfile::tempdir()?;
    let ep = endpoint(Duration::from_secs(60));
    let failing = FailingSaves::wrapping(Arc::new(FileStore::in_home(home.path())?));
    let store = OAuthStore::builder()
        .default_stores(false)
        .home(home.path())
        .mode(StoreMode::File)
        .file_store(failing.clone())
        .refresher(Arc::new(TestkitRefresher::new(Duration::from_secs(2))))
        .build()?;
    let old = login_due(&store, &ep);

    // Two failures, then success: the retry saves it.
    failing.fail_saves.store(2, Ordering::SeqCst);
    failing.attempts.store(0, Ordering::SeqCst);
    let fresh = store.handle(SERVER, URL).refresh_if_needed(SECOND)?;
    assert_eq!(failing.attempts.load(Ordering::SeqCst), 3);
    assert!(
        store
            .handle(SERVER, URL)
            .load()?
            .expect("saved")
            .same_tokens(&fresh)
    );

    // Always failing: the new credential is rescued (DESIGN.md "Persist rescue"), and
    // a new handle, as a new process would have, finds it.
    let mut due = fresh.clone();
    due.expires_at = Some(now_ms() - 1);
    store.handle(SERVER, URL).save_grant(due.clone())?;
    failing.fail_saves.store(100, Ordering::SeqCst);
    let handle = store.handle(SERVER, URL);
    let rescued = handle.refresh_if_needed(SECOND)?;
    assert_eq!(handle.rescued_in(), Some(oauth_store::RESCUE));
    assert!(!rescued.same_tokens(&due));
    assert!(
        store
            .handle(SERVER, URL)
            .load()?
            .expect("found")
            .same_tokens(&rescued)
    );

    // Nothing can keep it (the rescue file's place is taken by a directory): the error
    // carries the new credential and names what was tried.
    let mut due = rescued.clone();
    due.expires_at = Some(now_ms() - 1);
    failing.fail_saves.store(0, Ordering::SeqCst);
    store.handle(SERVER, URL).save_grant(due.clone())?;
    failing.fail_saves.store(100, Ordering::SeqCst);
    let rescue_file = home.path().join("mcp-oauth-locks").join(format!(
        "{}.rescued.json",
        oauth_store_core::sha256_hex(due.store_key().as_str().as_bytes())
    ));
    std::fs::create_dir(&rescue_file)?;
    let err = store
        .handle(SERVER, URL)
        .refresh_if_needed(SECOND)
        .expect_err("persist fails");
    match &err {
        Error::PersistFailed {
            credential,
            rescue_tried,
            ..
        } => {
            assert!(!credential.same_tokens(&due) && !credential.same_tokens(&old));
            assert!(ep.access_token_is_active(credential.access_token.expose_secret()));
            assert_eq!(rescue_tried.len(), 1, "{rescue_tried:?}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(err.kind(), ErrorKind::Store);
    assert!(
        !format!("{err} {err:?}").contains("SENTINEL-"),
        "no token in the error text"
    );
    Ok(())
}

#[test]
fn recover_unauthorized_refreshes_at_most_once_per_rejected_token() -> TestResult {
    let home = tempfile::tempdir()?;
    let ep = endpoint(Duration::from_secs(60));
    let store = file_store(home.path());
    let tokens = ep.issue_grant(crate::support::CLIENT, &["mcp"]);
    let credential = credential_from(&ep, &tokens, now_ms());
    store.handle(SERVER, URL).save_grant(credential.clone())?;
    let first = store
        .handle(SERVER, URL)
        .recover_unauthorized(&credential.access_token)?;
    assert!(!first.same_tokens(&credential));
    // A second 401 for the same old token: the store already holds another one.
    let second = store
        .handle(SERVER, URL)
        .recover_unauthorized(&credential.access_token)?;
    assert!(second.same_tokens(&first));
    assert_eq!(ep.counters().refreshes, 1);
    Ok(())
}

#[test]
fn force_refresh_adopts_a_token_refreshed_since_the_callers_copy() -> TestResult {
    let home = tempfile::tempdir()?;
    let ep = endpoint(Duration::from_secs(60));
    let store = file_store(home.path());
    let tokens = ep.issue_grant(crate::support::CLIENT, &["mcp"]);
    store
        .handle(SERVER, URL)
        .save_grant(credential_from(&ep, &tokens, now_ms()))?;
    let a = store.handle(SERVER, URL).force_refresh()?;
    let b = store.handle(SERVER, URL).force_refresh()?;
    assert!(
        !a.same_tokens(&b),
        "force refreshes when the caller's copy is current"
    );
    assert_eq!(ep.counters().refreshes, 2);
    assert_eq!(ep.counters().reuse_detections, 0);
    Ok(())
}

/// Under an explicit keyring mode, a refreshed credential the keyring refused is
/// rescued into the File store (plain text, the file named by
/// `rescued_in_plain_text`), where a lock-free read finds it; the next `token`-style
/// read, once the keyring takes saves again, moves it back into the keyring and removes
/// the File copy (DESIGN.md "Persist rescue").
#[test]
fn a_credential_rescued_out_of_the_keyring_is_moved_back_by_the_next_read() -> TestResult {
    let home = tempfile::tempdir()?;
    let ep = endpoint(Duration::from_secs(60));
    let keyring = FailingSaves::wrapping(crate::support::stores::keyring_standin(home.path()));
    let file: Arc<dyn CredentialStore> = Arc::new(FileStore::in_home(home.path())?);
    let store = OAuthStore::builder()
        .default_stores(false)
        .home(home.path())
        .mode(StoreMode::Keyring)
        .file_store(file.clone())
        .keyring_store(keyring.clone())
        .refresher(Arc::new(TestkitRefresher::new(Duration::from_secs(2))))
        .build()?;
    let due = login_due(&store, &ep);
    let key = due.store_key();

    keyring.fail_saves.store(100, Ordering::SeqCst);
    let handle = store.handle(SERVER, URL);
    let fresh = handle.refresh_if_needed(SECOND)?;
    assert_eq!(handle.rescued_in(), Some(oauth_store::StoreKind::File));
    assert_eq!(
        handle.rescued_in_plain_text(),
        Some(home.path().join(".credentials.json"))
    );
    assert!(file.load(&key)?.expect("rescued").same_tokens(&fresh));

    // A lock-free read, as a new process's, finds it (not the keyring's older copy).
    let found = store.handle(SERVER, URL).load()?.expect("found");
    assert!(found.same_tokens(&fresh));

    // The next `token`-style read, once the keyring takes saves again, moves it back.
    keyring.fail_saves.store(0, Ordering::SeqCst);
    let read = store.handle(SERVER, URL).refresh_if_needed(SECOND)?;
    assert!(read.same_tokens(&fresh), "no new refresh");
    assert!(keyring.load(&key)?.expect("moved back").same_tokens(&fresh));
    assert!(file.load(&key)?.is_none(), "the plain-text copy is gone");
    assert_eq!(ep.counters().refreshes, 1);
    Ok(())
}

/// The spend guard's reservation (DESIGN.md "Persist rescue"): when the room for a
/// rescue cannot be reserved beside the locks under the File store, nothing is sent.
#[test]
fn no_room_for_a_rescue_under_the_file_store_means_nothing_is_sent() -> TestResult {
    let home = tempfile::tempdir()?;
    let ep = endpoint(Duration::from_secs(60));
    let store = file_store(home.path());
    let due = login_due(&store, &ep);
    let reserve = home.path().join("mcp-oauth-locks").join(format!(
        "{}.rescued.json.reserve",
        oauth_store_core::sha256_hex(due.store_key().as_str().as_bytes())
    ));
    std::fs::create_dir(&reserve)?;
    let err = store
        .handle(SERVER, URL)
        .refresh_if_needed(SECOND)
        .expect_err("not sent");
    assert!(matches!(err, Error::CannotKeep { .. }), "{err:?}");
    assert_eq!(ep.counters().token_requests, 0);
    std::fs::remove_dir(&reserve)?;
    store.handle(SERVER, URL).refresh_if_needed(SECOND)?;
    assert!(!reserve.exists(), "given back after the save");
    assert_eq!(ep.counters().refreshes, 1);
    Ok(())
}
