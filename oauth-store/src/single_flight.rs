//! In-process single-flight (DESIGN.md "Refresh transaction", step 1): callers of one
//! key in one process share one in-flight refresh transaction.
//!
//! The leader runs the transaction; followers wait for its result and receive a clone
//! of it, so every caller sees the same `Ok` or the same [`Error`] variant whatever the
//! timing. A panic inside the transaction (a refresher plug-in, say) is caught and
//! becomes [`Error::Internal`] for the leader and its followers alike.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};

use oauth_store_core::{Credential, StoreKey};

use crate::error::Error;

/// A transaction shared by the callers of one key in one process.
#[derive(Default)]
struct Flight {
    /// Callers waiting for the leader; only changed under the flights map's lock.
    followers: AtomicUsize,
    result: Mutex<Option<Result<Credential, Error>>>,
    done: Condvar,
}

/// The identity of a flight: (lock directory, key), so two homes never share one.
type FlightId = (PathBuf, StoreKey);

/// In-flight transactions by [`FlightId`].
type Flights = Mutex<HashMap<FlightId, Arc<Flight>>>;

fn flights() -> MutexGuard<'static, HashMap<FlightId, Arc<Flight>>> {
    static FLIGHTS: OnceLock<Flights> = OnceLock::new();
    // A poisoned map is still consistent (every change is one insert or remove).
    FLIGHTS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

/// Runs `transaction` for `id`, or joins the one already in flight for it and returns
/// a clone of its result.
pub(crate) fn share(
    id: &FlightId,
    transaction: impl FnOnce() -> Result<Credential, Error>,
) -> Result<Credential, Error> {
    let (flight, leader) = {
        let mut map = flights();
        match map.get(id) {
            Some(flight) => {
                flight.followers.fetch_add(1, Ordering::SeqCst);
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
        return result.clone().expect("checked above");
    }
    let outcome = catch_unwind(AssertUnwindSafe(transaction)).unwrap_or_else(|_| {
        // The payload is not shown: a plug-in's panic message may quote anything.
        tracing::error!(target: "oauth_store::refresh", key = %id.1, "the refresh transaction panicked");
        Err(Error::Internal(format!(
            "{}: the refresh transaction panicked; nothing after its last save was kept",
            id.1
        )))
    });
    // Closed before publishing: no caller joins a flight whose result is already out.
    flights().remove(id);
    if flight.followers.load(Ordering::SeqCst) > 0 {
        *flight.result.lock().unwrap_or_else(|e| e.into_inner()) = Some(outcome.clone());
        flight.done.notify_all();
    }
    outcome
}
