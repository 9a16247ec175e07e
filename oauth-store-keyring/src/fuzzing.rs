//! Entry points for the fuzz targets in `fuzz/`, compiled only with `--cfg fuzzing`
//! (which cargo-fuzz sets): how a keyring entry found by a search is read.

use oauth_store_core::{Credential, SecretString, StoreError};

use crate::KeyringStore;

/// Reads an entry found under `account` holding `value`, as `list` does for a store
/// whose accounts carry `prefix`: `None` when the account is not one of the store's;
/// else the record, or the reason the entry is corrupt. Checks that an account it
/// takes is the one the store would write for that key.
///
/// # Panics
/// When an invariant does not hold (that is the finding).
pub fn entry(
    prefix: Option<&str>,
    account: &str,
    value: &str,
) -> Option<Result<Credential, String>> {
    let store = KeyringStore::new("oauth-store", prefix.map(str::to_owned));
    let key = store.key_of(account)?;
    assert_eq!(store.account(&key), account, "the same entry");
    let secret = SecretString::from(value.to_owned());
    Some(store.parse(&key, account, &secret).map_err(|e| match e {
        StoreError::CorruptEntry { reason, .. } => reason,
        other => panic!("a parse fails only as a corrupt entry: {other:?}"),
    }))
}
