//! The credential lock on the server: a session-level advisory lock
//! (`pg_advisory_lock`) held by a connection of its own for the whole transaction
//! (reread -> provider -> persist), the fenced saves running on that connection.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use oauth_store_core::{CredentialGuard, CredentialLocker, Fence, LockError, StoreKey};
use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::store::{Shared, next_token};

/// The advisory lock key of `key` in `namespace`: the first 8 bytes of
/// SHA-256(`oauth-store\0<namespace>\0<key>`). Two keys that collide only share a lock.
pub fn lock_key(namespace: &str, key: &StoreKey) -> i64 {
    let mut hash = Sha256::new();
    hash.update(b"oauth-store\0");
    hash.update(namespace.as_bytes());
    hash.update(b"\0");
    hash.update(key.as_str().as_bytes());
    let digest = hash.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

/// A held lock: its connection (which the server's session lock lives on), the key and
/// the row generation the lock last saw.
pub(crate) struct Held {
    pub(crate) client: Option<postgres::Client>,
    pub(crate) key: StoreKey,
    pub(crate) lock: i64,
    pub(crate) generation: Option<i64>,
}

/// The credential lock of a [`crate::Postgres`] connection's namespace: one holder per
/// store key across every machine using the database. Waits are bounded by
/// `lock_timeout`; a killed holder's lock goes with its connection at once, a vanished
/// host's within [`crate::Options::dead_host_bound`], a paused holder's after
/// [`crate::Options::hold_limit`] idle.
#[derive(Clone, Debug)]
pub struct PostgresLocker {
    pub(crate) shared: Arc<Shared>,
}

struct PostgresGuard {
    shared: Arc<Shared>,
    token: u64,
    held: Arc<Mutex<Held>>,
}

impl PostgresLocker {
    /// A connection for a lock: an idle one, else a new one, with the session settings
    /// of a lock holder.
    fn connection(&self) -> Result<postgres::Client, Error> {
        // An idle lock connection, else the store's own (it makes another when it
        // needs one), else a new one: connecting costs more than the lock.
        let reused = self.shared.idle_connection().or_else(|| {
            self.shared
                .client
                .try_lock()
                .ok()
                .and_then(|mut slot| slot.take())
                .filter(|c| !c.is_closed())
        });
        let limit = self.shared.options.hold_limit.as_millis();
        // Above the provider timeout, bounded: a paused holder's session ends, and
        // with it the lock. PostgreSQL before 14 has no such setting (42704).
        let setup = |client: &mut postgres::Client| match client
            .batch_execute(&format!("SET idle_session_timeout = {limit}"))
        {
            Err(e) if e.code().is_none_or(|c| c.code() != "42704") => Err(e),
            _ => Ok(()),
        };
        if let Some(mut client) = reused {
            match setup(&mut client) {
                Ok(()) => return Ok(client),
                // Broken under us (a server restart): a new one below.
                Err(e) if e.code().is_none() => {}
                Err(e) => {
                    return Err(Error::from_client(
                        "lock session setup",
                        &self.shared.connector.target,
                        &e,
                    ));
                }
            }
        }
        let mut client = self.shared.connector.connect()?;
        setup(&mut client).map_err(|e| {
            Error::from_client("lock session setup", &self.shared.connector.target, &e)
        })?;
        Ok(client)
    }

    /// The holders of `lock` now, as `pg_stat_activity` names them.
    fn holder(&self, client: &mut postgres::Client, lock: i64) -> Option<String> {
        let (classid, objid) = split(lock);
        let row = client
            .query_opt(
                "SELECT coalesce(a.application_name, ''), a.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                 WHERE l.locktype = 'advisory' AND l.granted AND l.classid::bigint = $1 AND l.objid::bigint = $2 AND l.objsubid = 1
                   AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                 LIMIT 1",
                &[&classid, &objid],
            )
            .ok()??;
        let name: String = row.get(0);
        let pid: i32 = row.get(1);
        Some(format!(
            "`{}` (server backend {pid})",
            crate::inspect::shown(&name)
        ))
    }

    fn take(&self, key: &StoreKey, timeout: Duration) -> Result<Held, LockError> {
        let started = Instant::now();
        let lock = lock_key(&self.shared.options.namespace, key);
        let mut client = self.connection().map_err(Error::into_lock_error)?;
        let target = self.shared.connector.target.clone();
        let fail = |e: &postgres::Error| Error::from_client("lock", &target, e).into_lock_error();
        let got = if timeout.is_zero() {
            client
                .query_one("SELECT pg_try_advisory_lock($1)", &[&lock])
                .map_err(|e| fail(&e))?
                .get::<_, bool>(0)
        } else {
            let ms = timeout.as_millis().max(1);
            client
                .batch_execute(&format!(
                    "SET lock_timeout = {ms}; SET statement_timeout = {}",
                    ms + self.shared.options.statement_timeout.as_millis()
                ))
                .map_err(|e| fail(&e))?;
            let result = client.execute("SELECT pg_advisory_lock($1)", &[&lock]);
            let reset = client.batch_execute(&format!(
                "SET lock_timeout = 0; SET statement_timeout = {}",
                self.shared.options.statement_timeout.as_millis()
            ));
            match result {
                Ok(_) => {
                    reset.map_err(|e| fail(&e))?;
                    true
                }
                Err(e) if e.code().is_some_and(|c| c.code() == "55P03") => false,
                Err(e) => return Err(fail(&e)),
            }
        };
        if !got {
            let holder = self.holder(&mut client, lock);
            self.shared
                .idle
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(client);
            return Err(LockError::Timeout {
                locker: "postgres".into(),
                key: key.clone(),
                waited: started.elapsed(),
                holder,
            });
        }
        let ns = self.shared.options.namespace.as_str();
        let generation = client
            .query_opt(
                "SELECT generation FROM oauth_store_credentials WHERE namespace = $1 AND store_key = $2",
                &[&ns, &key.as_str()],
            )
            .map_err(|e| fail(&e))?
            .map(|r| r.get::<_, i64>(0));
        Ok(Held {
            client: Some(client),
            key: key.clone(),
            lock,
            generation,
        })
    }
}

/// `lock` as `pg_locks` shows an advisory bigint key: (classid, objid), each the
/// unsigned 32-bit half.
pub(crate) fn split(lock: i64) -> (i64, i64) {
    let bits = lock as u64;
    ((bits >> 32) as i64, (bits & 0xffff_ffff) as i64)
}

impl CredentialLocker for PostgresLocker {
    fn name(&self) -> &str {
        "postgres"
    }

    fn lock(
        &self,
        key: &StoreKey,
        timeout: Duration,
    ) -> Result<Box<dyn CredentialGuard>, LockError> {
        let held = Arc::new(Mutex::new(self.take(key, timeout)?));
        let token = next_token(&self.shared);
        self.shared
            .held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(token, Arc::clone(&held));
        Ok(Box::new(PostgresGuard {
            shared: Arc::clone(&self.shared),
            token,
            held,
        }))
    }
}

impl CredentialGuard for PostgresGuard {
    fn fence(&self) -> Fence {
        Fence::new(self.shared.issuer, self.token)
    }

    fn check(&self) -> Result<(), LockError> {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        let key = held.key.clone();
        let alive = match held.client.as_mut() {
            Some(client) => client.is_valid(Duration::from_secs(5)).is_ok(),
            None => false,
        };
        if alive {
            return Ok(());
        }
        held.client = None;
        Err(LockError::Lost {
            locker: "postgres".into(),
            key,
            reason: "its connection to PostgreSQL closed (terminated, cut or timed out)".into(),
        })
    }
}

impl Drop for PostgresGuard {
    fn drop(&mut self) {
        self.shared
            .held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.token);
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        let lock = held.lock;
        if let Some(mut client) = held.client.take() {
            // Released, the connection is kept for the next lock; if the unlock fails,
            // closing the connection releases it.
            let released = client
                .query_one("SELECT pg_advisory_unlock($1)", &[&lock])
                .is_ok_and(|r| r.get::<_, bool>(0));
            if released {
                self.shared
                    .idle
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(client);
            }
        }
    }
}
