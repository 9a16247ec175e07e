//! The macOS login keychain and the Windows Credential Manager: no checks beyond the
//! store's own answers.

use std::sync::Arc;

use keyring_core::CredentialStore;

use super::Failure;
use crate::OsStore;

pub(super) fn store(
    state: &mut Option<Arc<CredentialStore>>,
    os: OsStore,
) -> Result<Arc<CredentialStore>, Failure> {
    if let Some(store) = state {
        return Ok(Arc::clone(store));
    }
    #[cfg(target_os = "macos")]
    let store: Arc<CredentialStore> = apple_native_keyring_store::keychain::Store::new()
        .map_err(|e| super::classify(os, e, ("", "")))?;
    #[cfg(windows)]
    let store: Arc<CredentialStore> =
        windows_native_keyring_store::Store::new().map_err(|e| super::classify(os, e, ("", "")))?;
    *state = Some(Arc::clone(&store));
    Ok(store)
}
