//! The Secret Service: checks on the default collection over a zbus connection of our
//! own, before keyring-core's zbus store touches an entry.
//!
//! The store crate unlocks locked items with a prompt and waits for it without end;
//! reading the default collection's `Locked` property first answers "locked" at once
//! instead. Its alias also tells a volatile collection (gnome-keyring's in-memory
//! `session` one) and a missing one, which the store crate cannot. And a search for the
//! entry, which needs no Secret Service session, answers "no entry" without the store
//! crate's key exchange.

use std::collections::HashMap;
use std::sync::Arc;

use keyring_core::CredentialStore;
use zbus::DBusError;
use zbus::zvariant::{OwnedObjectPath, OwnedValue, Value};

use super::{Access, Failure};
use crate::{KeyringError, OsStore, Usability};

const SERVICE_NAME: &str = "org.freedesktop.secrets";
const SERVICE_PATH: &str = "/org/freedesktop/secrets";
const SERVICE_INTERFACE: &str = "org.freedesktop.Secret.Service";
const COLLECTION_INTERFACE: &str = "org.freedesktop.Secret.Collection";
/// gnome-keyring's in-memory collection.
pub(crate) const SESSION_COLLECTION: &str = "/org/freedesktop/secrets/collection/session";

/// Our bus connection for the checks and look-ups, and the store crate's (its own
/// connection and Secret Service session), opened only when an entry is read or written:
/// its key exchange is most of a first call's cost (about 5 ms of 7).
pub(crate) struct Connection {
    bus: zbus::blocking::Connection,
    store: Option<Arc<CredentialStore>>,
}

/// Connects when needed and runs the checks `access` needs; then, when `lookup` names
/// attributes, searches for matching items without a Secret Service session: `false`
/// when there is none.
///
/// # Errors
/// [`Usability::Locked`] when only locked items match: reading them would start an
/// unlock prompt.
pub(super) fn ready(
    state: &mut Option<Connection>,
    access: Access,
    lookup: &[(&str, &str)],
) -> Result<Option<bool>, Failure> {
    let connection = match state {
        Some(connection) => connection,
        None => {
            let bus = zbus::blocking::Connection::session().map_err(|e| zbus_failure(&e))?;
            state.insert(Connection { bus, store: None })
        }
    };
    check_default_collection(&connection.bus, access)?;
    if lookup.is_empty() {
        return Ok(None);
    }
    let attributes: HashMap<&str, &str> = lookup.iter().copied().collect();
    let reply = connection
        .bus
        .call_method(
            Some(SERVICE_NAME),
            SERVICE_PATH,
            Some(SERVICE_INTERFACE),
            "SearchItems",
            &(attributes,),
        )
        .map_err(|e| zbus_failure(&e))?;
    let (unlocked, locked): (Vec<OwnedObjectPath>, Vec<OwnedObjectPath>) =
        reply.body().deserialize().map_err(|e| zbus_failure(&e))?;
    if unlocked.is_empty() && !locked.is_empty() {
        return Err(Failure::Unusable(Usability::Locked));
    }
    Ok(Some(!unlocked.is_empty()))
}

/// The store crate's store, opened on first use.
pub(super) fn store(state: &mut Option<Connection>) -> Result<Arc<CredentialStore>, Failure> {
    let connection = state.as_mut().ok_or_else(|| {
        Failure::Error(KeyringError::Platform {
            store: OsStore::SecretService,
            detail: "the store was asked for before the checks".to_owned(),
        })
    })?;
    if let Some(store) = &connection.store {
        return Ok(Arc::clone(store));
    }
    let store: Arc<CredentialStore> = zbus_secret_service_keyring_store::Store::new()
        .map_err(|e| super::classify(OsStore::SecretService, e, ("", "")))?;
    connection.store = Some(Arc::clone(&store));
    Ok(store)
}

/// The checks on the default collection: locked (any access), missing or volatile
/// (saves and probes).
fn check_default_collection(
    bus: &zbus::blocking::Connection,
    access: Access,
) -> Result<(), Failure> {
    let reply = bus
        .call_method(
            Some(SERVICE_NAME),
            SERVICE_PATH,
            Some(SERVICE_INTERFACE),
            "ReadAlias",
            &("default",),
        )
        .map_err(|e| zbus_failure(&e))?;
    let alias: OwnedObjectPath = reply.body().deserialize().map_err(|e| zbus_failure(&e))?;
    let missing = || match access {
        // Reads and deletes may still find entries in other collections.
        Access::Read => Ok(()),
        Access::Write | Access::Probe => Err(Failure::Unusable(Usability::NoDefaultCollection)),
    };
    if alias.as_str() == "/" {
        return missing();
    }
    let locked = bus.call_method(
        Some(SERVICE_NAME),
        alias.as_str(),
        Some("org.freedesktop.DBus.Properties"),
        "Get",
        &(COLLECTION_INTERFACE, "Locked"),
    );
    let locked = match locked {
        Ok(reply) => {
            let value: OwnedValue = reply.body().deserialize().map_err(|e| zbus_failure(&e))?;
            matches!(&*value, Value::Bool(true))
        }
        // gnome-keyring without a login keyring aliases `default` to a collection that
        // does not exist.
        Err(e) if no_such_object(&e) => return missing(),
        Err(e) => return Err(zbus_failure(&e)),
    };
    if locked {
        return Err(Failure::Unusable(Usability::Locked));
    }
    if access != Access::Read && alias.as_str() == SESSION_COLLECTION {
        return Err(Failure::Unusable(Usability::Volatile {
            collection: alias.to_string(),
        }));
    }
    Ok(())
}

fn no_such_object(error: &zbus::Error) -> bool {
    error_name(error).is_some_and(|name| {
        matches!(
            name.as_str(),
            "org.freedesktop.DBus.Error.UnknownObject"
                | "org.freedesktop.DBus.Error.UnknownMethod"
                | "org.freedesktop.DBus.Error.UnknownInterface"
                | "org.freedesktop.DBus.Error.UnknownProperty"
                | "org.freedesktop.DBus.Error.InvalidArgs"
                | "org.freedesktop.Secret.Error.NoSuchObject"
        )
    })
}

/// The D-Bus error name of a method error reply.
fn error_name(error: &zbus::Error) -> Option<String> {
    match error {
        zbus::Error::MethodError(name, _, _) => Some(name.as_str().to_owned()),
        zbus::Error::FDO(fdo) => Some(fdo.name().as_str().to_owned()),
        _ => None,
    }
}

/// Classifies a zbus error by its variant or D-Bus error name; the texts D-Bus peers
/// attach are never shown.
pub(crate) fn zbus_failure(error: &zbus::Error) -> Failure {
    if let Some(name) = error_name(error) {
        return by_error_name(&name);
    }
    let no_bus = |detail: String| Failure::Unusable(Usability::NoSessionBus { detail });
    match error {
        zbus::Error::Connection(io, _) => no_bus(format!("connecting to it failed: {}", io.kind())),
        zbus::Error::Address(_) => no_bus("its address is invalid".to_owned()),
        zbus::Error::Handshake(_) => no_bus("the D-Bus handshake failed".to_owned()),
        zbus::Error::Unsupported => {
            no_bus("its address is of a kind zbus does not support".to_owned())
        }
        zbus::Error::InputOutput(io) => {
            platform(format!("the D-Bus connection failed: {}", io.kind()))
        }
        zbus::Error::InterfaceNotFound => Failure::Unusable(Usability::NoSecretService {
            detail: "the Secret Service interface was not found".to_owned(),
        }),
        _ => platform("an unexpected D-Bus reply".to_owned()),
    }
}

fn by_error_name(name: &str) -> Failure {
    match name {
        "org.freedesktop.DBus.Error.ServiceUnknown"
        | "org.freedesktop.DBus.Error.NameHasNoOwner" => {
            Failure::Unusable(Usability::NoSecretService {
                detail: format!("{SERVICE_NAME} has no owner and cannot be activated: {name}"),
            })
        }
        n if n.starts_with("org.freedesktop.DBus.Error.Spawn.") => {
            Failure::Unusable(Usability::NoSecretService {
                detail: format!("activating {SERVICE_NAME} failed: {n}"),
            })
        }
        "org.freedesktop.DBus.Error.AccessDenied"
        | "org.freedesktop.DBus.Error.AuthFailed"
        | "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired" => {
            Failure::Unusable(Usability::AccessDenied {
                detail: format!("the bus answered {name}"),
            })
        }
        "org.freedesktop.Secret.Error.IsLocked" => Failure::Unusable(Usability::Locked),
        n => platform(format!("D-Bus error {n}")),
    }
}

fn platform(detail: String) -> Failure {
    Failure::Error(KeyringError::Platform {
        store: OsStore::SecretService,
        detail,
    })
}

/// Classifies a `secret-service` error inside a keyring-core error; `None` when it is
/// not one.
pub(super) fn classify(inner: &(dyn std::error::Error + Send + Sync + 'static)) -> Option<Failure> {
    use secret_service::Error as E;
    let error = inner.downcast_ref::<E>()?;
    let denied = |detail: &str| {
        Failure::Unusable(Usability::AccessDenied {
            detail: detail.to_owned(),
        })
    };
    Some(match error {
        E::Locked => Failure::Unusable(Usability::Locked),
        E::NoResult => Failure::Unusable(Usability::NoDefaultCollection),
        E::Prompt => denied("the keyring's unlock prompt was dismissed"),
        E::PromptDisconnected => {
            denied("the connection closed before the keyring's prompt completed")
        }
        E::Unavailable => Failure::Unusable(Usability::NoSecretService {
            detail: "no Secret Service provider or session bus was found".to_owned(),
        }),
        E::Zbus(e) => zbus_failure(e),
        E::ZbusFdo(e) => by_error_name(e.name().as_str()),
        E::Zvariant(_) => platform("an unexpected D-Bus reply".to_owned()),
        E::Crypto(_) => platform("the transport encryption of the secret failed".to_owned()),
        _ => platform("a secret-service error added after this version".to_owned()),
    })
}
