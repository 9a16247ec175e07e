//! Saving a grant and logging out (the credential lock covers both).

use std::sync::Arc;
use std::sync::atomic::AtomicU32;

use oauth_store::file::FileStore;
use oauth_store::{Credential, CredentialStore, Error, OAuthStore, StoreKind};

use crate::support::stores::{FailingSaves, Unusable, keyring_standin};
use crate::support::{SERVER, TestResult, URL};

#[test]
fn logout_removes_every_copy_and_reports_each_store() -> TestResult {
    let home = tempfile::tempdir()?;
    let standin = keyring_standin(home.path());
    let file: Arc<dyn CredentialStore> = Arc::new(FileStore::in_home(home.path())?);
    let c = Credential::builder(SERVER, URL, "at-1".to_owned().into()).build();
    let key = c.store_key();
    file.save(&key, &c)?;
    standin.save(&key, &c)?;
    let store = OAuthStore::builder()
        .default_stores(false)
        .home(home.path())
        .keyring_store(standin.clone())
        .build()?;
    let outcomes = store.handle(SERVER, URL).logout()?;
    assert_eq!(outcomes.len(), 2);
    assert!(outcomes.iter().all(|o| matches!(o.result, Ok(true))));
    assert!(file.load(&key)?.is_none() && standin.load(&key)?.is_none());
    // Nothing stored is not an error.
    let outcomes = store.handle(SERVER, URL).logout()?;
    assert!(outcomes.iter().all(|o| matches!(o.result, Ok(false))));
    // An unusable keyring under Auto is reported, not a failure.
    file.save(&key, &c)?;
    let headless = OAuthStore::builder()
        .default_stores(false)
        .home(home.path())
        .keyring_store(Arc::new(Unusable))
        .build()?;
    let outcomes = headless.handle(SERVER, URL).logout()?;
    assert!(
        outcomes
            .iter()
            .any(|o| o.store == StoreKind::Keyring && o.result.is_err())
    );
    assert!(file.load(&key)?.is_none());
    // A store whose delete fails: an error naming what stayed.
    file.save(&key, &c)?;
    let failing = Arc::new(FailingSaves {
        inner: standin.clone(),
        fail_saves: AtomicU32::new(u32::MAX),
        attempts: AtomicU32::new(0),
    });
    let broken = OAuthStore::builder()
        .default_stores(false)
        .home(home.path())
        .keyring_store(failing)
        .build()?;
    let err = broken
        .handle(SERVER, URL)
        .logout()
        .expect_err("keyring copy may stay");
    assert!(matches!(err, Error::LogoutIncomplete { .. }));
    assert!(err.to_string().contains("keyring: STAYED"), "{err}");
    assert!(
        file.load(&key)?.is_none(),
        "the File copy is removed anyway"
    );
    Ok(())
}
