//! `CredentialHandle::migrate_to`: the newest copy is saved in the target before any
//! older copy is removed, under the credential lock.

use oauth_store::file::FileStore;
use oauth_store::{Credential, CredentialStore, OAuthStore, StoreKind};

use crate::support::stores::keyring_standin;
use crate::support::{SERVER, TestResult, URL};

#[test]
fn the_newest_copy_moves_into_the_target_and_older_copies_go() -> TestResult {
    let home = tempfile::tempdir()?;
    let standin = keyring_standin(home.path());
    let file = FileStore::in_home(home.path())?;
    let older = Credential::builder(SERVER, URL, "at-old".to_owned().into())
        .updated_at(1_000)
        .build();
    let newer = Credential::builder(SERVER, URL, "at-new".to_owned().into())
        .updated_at(2_000)
        .build();
    let key = older.store_key();
    file.save(&key, &older)?;
    standin.save(&key, &newer)?;
    let store = OAuthStore::builder()
        .default_stores(false)
        .home(home.path())
        .keyring_store(standin.clone())
        .build()?;
    let handle = store.handle(SERVER, URL);

    // A store named in `skip` is left alone: here the File copy moves and the
    // keyring's newer copy is not even read.
    let skipped = handle.migrate_to(StoreKind::File, &[StoreKind::Keyring])?;
    assert!(skipped.was_already_there(StoreKind::File));
    assert!(standin.load(&key)?.is_some());

    let moved = handle.migrate_to(StoreKind::File, &[])?;
    assert_eq!(moved.from, Some(StoreKind::Keyring));
    assert_eq!(moved.removed, vec![StoreKind::Keyring]);
    let kept = file.load(&key)?.expect("moved");
    assert!(kept.same_tokens(&newer), "the newest copy won");
    assert!(
        kept.updated_at > newer.updated_at,
        "stamped later than every copy"
    );
    assert!(standin.load(&key)?.is_none());

    // Nothing left anywhere: nothing moves.
    handle.logout()?;
    assert_eq!(handle.migrate_to(StoreKind::Keyring, &[])?.from, None);
    Ok(())
}
