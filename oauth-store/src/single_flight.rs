//! In-process single-flight (DESIGN.md "Refresh transaction", step 1): callers of one
//! key in one process share one in-flight refresh transaction.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, OnceLock};

use oauth_store_core::{Credential, StoreKey};

use crate::error::Error;
use crate::handle::CredentialHandle;
use crate::refresh::Trigger;

/// A refresh shared by the callers of one key in one process (single-flight).
#[derive(Default)]
struct Flight {
    /// Callers waiting for the leader; only changed under the flights map's lock.
    followers: std::sync::atomic::AtomicUsize,
    result: Mutex<Option<Result<Credential, Arc<Error>>>>,
    done: Condvar,
}

/// In-flight refreshes by (lock directory, key).
type Flights = Mutex<HashMap<(PathBuf, StoreKey), Arc<Flight>>>;

fn flights() -> &'static Flights {
    static FLIGHTS: OnceLock<Flights> = OnceLock::new();
    FLIGHTS.get_or_init(Default::default)
}

impl CredentialHandle {
    /// Runs a transaction, sharing it with concurrent callers of the same key in this
    /// process: one leader runs it; the others wait for its result.
    pub(crate) fn transact(
        &self,
        trigger: &Trigger,
        hint: Option<&Credential>,
    ) -> Result<Credential, Error> {
        if self.inner.uncoordinated {
            return self.transact_locked(trigger, hint);
        }
        let id = (self.inner.locks.path().to_owned(), self.key.clone());
        let (flight, leader) = {
            let mut map = flights().lock().unwrap_or_else(|e| e.into_inner());
            match map.get(&id) {
                Some(flight) => {
                    flight
                        .followers
                        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    (Arc::clone(flight), false)
                }
                None => {
                    let flight = Arc::new(Flight::default());
                    map.insert(id.clone(), Arc::clone(&flight));
                    (flight, true)
                }
            }
        };
        if !leader {
            let mut result = flight.result.lock().unwrap_or_else(|e| e.into_inner());
            while result.is_none() {
                result = flight.done.wait(result).unwrap_or_else(|e| e.into_inner());
            }
            return match result.as_ref().expect("checked above") {
                Ok(credential) => Ok(credential.clone()),
                Err(e) => Err(Error::Shared(Arc::clone(e))),
            };
        }
        /// Ends the flight even if the transaction panics, so followers never wait forever.
        struct Land<'a> {
            flight: &'a Flight,
            id: &'a (PathBuf, StoreKey),
            landed: bool,
        }
        impl Land<'_> {
            /// Removes the flight from the map (no follower joins after this) and
            /// returns how many followers wait for its result.
            fn close(&mut self) -> usize {
                self.landed = true;
                let _map = flights().lock().map(|mut m| m.remove(self.id));
                self.flight
                    .followers
                    .load(std::sync::atomic::Ordering::SeqCst)
            }
            fn publish(&self, result: Result<Credential, Arc<Error>>) {
                *self.flight.result.lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
                self.flight.done.notify_all();
            }
        }
        impl Drop for Land<'_> {
            fn drop(&mut self) {
                if !self.landed {
                    self.close();
                    self.publish(Err(Arc::new(Error::Config(
                        "the in-flight refresh panicked".into(),
                    ))));
                }
            }
        }
        let mut land = Land {
            flight: &flight,
            id: &id,
            landed: false,
        };
        let outcome = self.transact_locked(trigger, hint);
        if land.close() == 0 {
            return outcome;
        }
        match outcome {
            Ok(credential) => {
                land.publish(Ok(credential.clone()));
                Ok(credential)
            }
            Err(e) => {
                let e = Arc::new(e);
                land.publish(Err(Arc::clone(&e)));
                Err(Error::Shared(e))
            }
        }
    }
}
