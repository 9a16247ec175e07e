//! The Linux kernel key retention service (feature `keyutils`).
//!
//! The store crate keeps a new key in the session keyring and links it into the user's
//! persistent keyring when the kernel allows; outside a login session the kernel denies
//! that link, the key then dies with the session, and one version of the crate answers
//! "no entry" for it. So the persistent keyring is asked for first, and a denial makes
//! the store unusable, with that reason.

use std::sync::Arc;

use keyring_core::CredentialStore;
use linux_keyutils::{KeyError, KeyRing, KeyRingIdentifier};

use super::Failure;
use crate::{KeyringError, OsStore, Usability};

/// Whether the kernel lets this session keep keys in the persistent keyring.
pub(super) fn ready() -> Result<(), Failure> {
    KeyRing::get_persistent(KeyRingIdentifier::Session)
        .map(drop)
        .map_err(|e| match e {
            KeyError::AccessDenied | KeyError::PermissionDenied => {
                Failure::Unusable(Usability::AccessDenied {
                    detail: "the kernel denied linking the persistent keyring into this session's keyring (common outside a login session); run inside `keyctl session`, or use the Secret Service".to_owned(),
                })
            }
            other => Failure::Unusable(Usability::Failed {
                detail: format!("the kernel's persistent keyring is not available ({other:?})"),
            }),
        })
}

/// The store crate's store, opened on first use.
pub(super) fn store(
    state: &mut Option<Arc<CredentialStore>>,
) -> Result<Arc<CredentialStore>, Failure> {
    if let Some(store) = state {
        return Ok(Arc::clone(store));
    }
    let store: Arc<CredentialStore> = linux_keyutils_keyring_store::Store::new()
        .map_err(|e| super::classify(OsStore::Keyutils, e, ("", "")))?;
    *state = Some(Arc::clone(&store));
    Ok(store)
}

/// Classifies a keyutils error inside a keyring-core error; `None` when it is not one.
pub(super) fn classify(inner: &(dyn std::error::Error + Send + Sync + 'static)) -> Option<Failure> {
    let error = inner.downcast_ref::<KeyError>()?;
    Some(match error {
        KeyError::AccessDenied | KeyError::PermissionDenied => {
            Failure::Unusable(Usability::AccessDenied {
                detail: "the kernel denied access to the key".to_owned(),
            })
        }
        // KeyError's variants carry no payload text: its Debug is its kind.
        other => Failure::Error(KeyringError::Platform {
            store: OsStore::Keyutils,
            detail: format!("keyutils error {other:?}"),
        }),
    })
}
