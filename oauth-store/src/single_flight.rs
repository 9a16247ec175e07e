//! In-process single-flight (DESIGN.md "Refresh transaction", step 1): callers of one
//! key in one process share one in-flight refresh transaction.
//!
//! The leader runs the transaction; followers wait for its result and receive a clone
//! of it, so every caller sees the same `Ok` or the same [`Error`] variant whatever the
//! timing. A panic inside the transaction (a refresher plug-in, say) is caught and
//! becomes [`Error::Internal`] for the leader and its followers alike.
//!
//! A caller refreshing ahead (DESIGN.md "Refresh thresholds", advisory) never joins or
//! waits: [`try_share`] runs its transaction only when no other caller of the key is in
//! flight, in a lane of its own that no waiting caller joins (its result, "the lock was
//! busy, keep the current token", would not serve a caller whose token is due). A
//! follower with a deadline (its own token's expiry) stops waiting then.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::Instant;

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

/// Which callers a flight serves: `Waiting` flights are joined; `Ahead` flights (refresh
/// ahead) only mark the key as busy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Lane {
    Waiting,
    Ahead,
}

/// In-flight transactions by [`FlightId`] and lane.
type Flights = Mutex<HashMap<(FlightId, Lane), Arc<Flight>>>;

fn flights() -> MutexGuard<'static, HashMap<(FlightId, Lane), Arc<Flight>>> {
    static FLIGHTS: OnceLock<Flights> = OnceLock::new();
    // A poisoned map is still consistent (every change is one insert or remove).
    FLIGHTS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

/// Runs `transaction` for `id`, or joins the one already in flight for it and returns
/// a clone of its result. A follower with a `deadline` that passes first gets
/// [`Error::ExpiredWhileWaiting`] (the leader's transaction still runs to completion).
pub(crate) fn share(
    id: &FlightId,
    deadline: Option<Instant>,
    transaction: impl FnOnce() -> Result<Credential, Error>,
) -> Result<Credential, Error> {
    let lane = (id.clone(), Lane::Waiting);
    let (flight, leader) = {
        let mut map = flights();
        match map.get(&lane) {
            Some(flight) => {
                flight.followers.fetch_add(1, Ordering::SeqCst);
                (Arc::clone(flight), false)
            }
            None => {
                let flight = Arc::new(Flight::default());
                map.insert(lane.clone(), Arc::clone(&flight));
                (flight, true)
            }
        }
    };
    if !leader {
        return follow(id, &flight, deadline);
    }
    let outcome = lead(id, transaction);
    // Closed before publishing: no caller joins a flight whose result is already out.
    flights().remove(&lane);
    if flight.followers.load(Ordering::SeqCst) > 0 {
        *flight.result.lock().unwrap_or_else(|e| e.into_inner()) = Some(outcome.clone());
        flight.done.notify_all();
    }
    outcome
}

/// Runs `transaction` for `id` only if no caller of `id` in this process is in flight
/// (in either lane); `None` when one is. Nobody joins it.
pub(crate) fn try_share(
    id: &FlightId,
    transaction: impl FnOnce() -> Result<Credential, Error>,
) -> Option<Result<Credential, Error>> {
    let lane = (id.clone(), Lane::Ahead);
    {
        let mut map = flights();
        if map.contains_key(&lane) || map.contains_key(&(id.clone(), Lane::Waiting)) {
            return None;
        }
        map.insert(lane.clone(), Arc::new(Flight::default()));
    }
    let outcome = lead(id, transaction);
    flights().remove(&lane);
    Some(outcome)
}

/// Waits for the leader's result, or until `deadline`.
fn follow(id: &FlightId, flight: &Flight, deadline: Option<Instant>) -> Result<Credential, Error> {
    let started = Instant::now();
    let mut result = flight.result.lock().unwrap_or_else(|e| e.into_inner());
    while result.is_none() {
        result = match deadline {
            None => flight.done.wait(result).unwrap_or_else(|e| e.into_inner()),
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    tracing::warn!(target: "oauth_store::refresh", key = %id.1, "the access token expired while another caller in this process was refreshing it");
                    return Err(Error::ExpiredWhileWaiting {
                        key: id.1.clone(),
                        waited: started.elapsed(),
                        holder_pid: Some(std::process::id()),
                    });
                }
                flight
                    .done
                    .wait_timeout(result, left)
                    .unwrap_or_else(|e| e.into_inner())
                    .0
            }
        };
    }
    result.clone().unwrap_or_else(|| {
        Err(Error::Internal(format!(
            "{}: a shared refresh finished without a result",
            id.1
        )))
    })
}

/// Runs the leader's transaction, a panic becoming [`Error::Internal`].
fn lead(
    id: &FlightId,
    transaction: impl FnOnce() -> Result<Credential, Error>,
) -> Result<Credential, Error> {
    catch_unwind(AssertUnwindSafe(transaction)).unwrap_or_else(|_| {
        // The payload is not shown: a plug-in's panic message may quote anything.
        tracing::error!(target: "oauth_store::refresh", key = %id.1, "the refresh transaction panicked");
        Err(Error::Internal(format!(
            "{}: the refresh transaction panicked; nothing after its last save was kept",
            id.1
        )))
    })
}
