//! The connection shared by a store and its locker ([`Postgres`]), and the
//! [`CredentialStore`] on the `oauth_store_credentials` table.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use oauth_store_core::{
    Credential, CredentialStore, Fence, ListedCredential, StoreError, StoreKey, StoreKind,
    describe_json_error,
};

use crate::connect::{Connector, Options};
use crate::error::{Error, POSTGRES};
use crate::lock::{Held, PostgresLocker, lock_key};
use crate::schema;

/// A connection to one database and namespace: make its [`PostgresStore`] and its
/// [`PostgresLocker`] from it, and give both to the facade
/// (`OAuthStoreBuilder::shared_store`).
///
/// Cheap to clone.
#[derive(Clone, Debug)]
pub struct Postgres {
    pub(crate) shared: Arc<Shared>,
}

pub(crate) struct Shared {
    pub(crate) connector: Connector,
    pub(crate) options: Options,
    /// This instance's fence issuer: a fence of another instance is not one of ours.
    pub(crate) issuer: u64,
    pub(crate) next_token: AtomicU64,
    /// The store's own connection (load, list, unfenced writes), made on first use and
    /// made again after it broke.
    pub(crate) client: Mutex<Option<postgres::Client>>,
    /// Idle lock connections, kept for the next lock.
    pub(crate) idle: Mutex<Vec<postgres::Client>>,
    /// The held locks by fence token: a fenced save runs on its lock's connection.
    pub(crate) held: Mutex<HashMap<u64, Arc<Mutex<Held>>>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("target", &self.connector.target)
            .field("namespace", &self.options.namespace)
            .finish_non_exhaustive()
    }
}

impl Postgres {
    /// Connects to the database at `url` (`postgresql://user@host:port/database?...`, or
    /// libpq `key=value` pairs; the password from the URL or the passfile), checks the
    /// schema (creating or migrating it when [`Options::create_schema`]) and keeps the
    /// connection for the store.
    ///
    /// # Errors
    /// [`Error::Config`] (a URL that does not parse, `sslmode=disable` for a remote
    /// server, a passfile readable by others); [`Error::Connect`];
    /// [`Error::Authentication`]; [`Error::SchemaMissing`]; [`Error::SchemaNewer`];
    /// [`Error::Server`].
    pub fn connect(url: &str, options: Options) -> Result<Self, Error> {
        if options.namespace.is_empty() || options.namespace.chars().any(char::is_control) {
            return Err(Error::Config {
                reason: "the namespace is empty or holds a control character".into(),
            });
        }
        let connector = Connector::new(url, &options)?;
        let mut client = connector.connect()?;
        schema::ensure(&mut client, options.create_schema, &connector.target)?;
        let mut issuer = [0u8; 8];
        getrandom::fill(&mut issuer).map_err(|e| Error::Config {
            reason: format!("no randomness for the fence issuer: {e}"),
        })?;
        Ok(Postgres {
            shared: Arc::new(Shared {
                connector,
                options,
                issuer: u64::from_le_bytes(issuer) | 1,
                next_token: AtomicU64::new(1),
                client: Mutex::new(Some(client)),
                idle: Mutex::new(Vec::new()),
                held: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The store of this connection's namespace.
    pub fn store(&self) -> PostgresStore {
        PostgresStore {
            shared: Arc::clone(&self.shared),
        }
    }

    /// The credential lock of this connection's namespace, whose fences this store's
    /// [`CredentialStore::save_fenced`] checks.
    pub fn locker(&self) -> PostgresLocker {
        PostgresLocker {
            shared: Arc::clone(&self.shared),
        }
    }

    /// `host:port/database as user` (never a password).
    pub fn target(&self) -> &str {
        &self.shared.connector.target
    }

    /// The namespace.
    pub fn namespace(&self) -> &str {
        &self.shared.options.namespace
    }
}

impl Shared {
    /// Runs `op` on the store's connection, connecting when there is none; a connection
    /// found broken (a server restart) is replaced once and `op` run again.
    pub(crate) fn with_client<T>(
        &self,
        operation: &'static str,
        mut op: impl FnMut(&mut postgres::Client) -> Result<T, postgres::Error>,
    ) -> Result<T, Error> {
        let mut slot = self.client.lock().unwrap_or_else(|e| e.into_inner());
        if slot.as_ref().is_none_or(postgres::Client::is_closed) {
            // An idle lock connection first: connecting (TLS, SCRAM) costs more than
            // any statement here.
            *slot = self.idle_connection();
        }
        let reused = slot.is_some();
        if !reused {
            *slot = Some(self.connector.connect()?);
        }
        let Some(client) = slot.as_mut() else {
            return Err(Error::ConnectionLost { operation });
        };
        match op(client) {
            Ok(value) => Ok(value),
            Err(e) if reused && e.code().is_none() => {
                // Broken under us (e.g. the server restarted since): once more, fresh.
                *slot = None;
                let mut client = self.connector.connect()?;
                let value = op(&mut client)
                    .map_err(|e| Error::from_client(operation, &self.connector.target, &e))?;
                *slot = Some(client);
                Ok(value)
            }
            Err(e) => {
                if client.is_closed() {
                    *slot = None;
                }
                Err(Error::from_client(operation, &self.connector.target, &e))
            }
        }
    }

    /// An idle connection of this instance that is not known to be closed: a released
    /// lock's, else none.
    pub(crate) fn idle_connection(&self) -> Option<postgres::Client> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(client) = idle.pop() {
            if !client.is_closed() {
                return Some(client);
            }
        }
        None
    }

    /// The held lock of `key` in this instance, if any: a read under it runs on its
    /// connection (the same session that holds the lock), so a process that holds the
    /// lock needs no second connection for its reread.
    pub(crate) fn held_for(&self, key: &StoreKey) -> Option<Arc<Mutex<Held>>> {
        self.held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .find(|h| h.lock().unwrap_or_else(|e| e.into_inner()).key == *key)
            .cloned()
    }

    /// Where errors of this store say an entry is: `postgres:<target>#<namespace>`.
    pub(crate) fn location(&self) -> PathBuf {
        PathBuf::from(format!(
            "postgres:{}#{}",
            self.connector.target, self.options.namespace
        ))
    }

    fn parse(&self, key: &StoreKey, record: &str) -> Result<Credential, StoreError> {
        serde_json::from_str::<Credential>(record).map_err(|e| StoreError::CorruptEntry {
            path: self.location(),
            key: key.clone(),
            reason: describe_json_error(&e),
        })
    }

    fn lock_wait_ms(&self) -> String {
        format!("{}ms", self.options.statement_timeout.as_millis())
    }
}

/// The credentials of one namespace in PostgreSQL (kind `postgres`). Its writes are
/// fenced: [`CredentialStore::save_fenced`] with a fence of its [`PostgresLocker`] runs
/// on that lock's connection and compares the row's generation; the unfenced
/// [`CredentialStore::save`] and [`CredentialStore::delete`] take the key's lock in their
/// own transaction.
#[derive(Clone, Debug)]
pub struct PostgresStore {
    pub(crate) shared: Arc<Shared>,
}

impl PostgresStore {
    /// The generation of `key`'s row (incremented by every save), `None` when none.
    ///
    /// # Errors
    /// As [`CredentialStore::load`].
    pub fn generation(&self, key: &StoreKey) -> Result<Option<i64>, StoreError> {
        let ns = self.shared.options.namespace.as_str();
        self.shared
            .with_client("load", |c| {
                c.query_opt(
                    "SELECT generation FROM oauth_store_credentials WHERE namespace = $1 AND store_key = $2",
                    &[&ns, &key.as_str()],
                )
            })
            .map(|row| row.map(|r| r.get(0)))
            .map_err(Error::into_store_error)
    }

    /// Runs `write` (on a transaction that holds `key`'s lock) for an unfenced write.
    fn locked_write<T>(
        &self,
        operation: &'static str,
        key: &StoreKey,
        write: impl Fn(&mut postgres::Transaction<'_>) -> Result<T, postgres::Error>,
    ) -> Result<T, StoreError> {
        let lock = lock_key(&self.shared.options.namespace, key);
        let wait = self.shared.lock_wait_ms();
        self.shared
            .with_client(operation, |c| {
                let mut tx = c.transaction()?;
                tx.batch_execute(&format!("SET LOCAL lock_timeout = '{wait}'"))?;
                tx.execute("SELECT pg_advisory_xact_lock($1)", &[&lock])?;
                let value = write(&mut tx)?;
                tx.commit()?;
                Ok(value)
            })
            .map_err(Error::into_store_error)
    }

    /// The fenced write of `fence`'s lock: `None` when the fence is not this instance's.
    fn held(&self, key: &StoreKey, fence: &Fence) -> Option<Result<Arc<Mutex<Held>>, StoreError>> {
        if fence.issuer() != self.shared.issuer {
            return None;
        }
        let held = self
            .shared
            .held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&fence.token())
            .cloned();
        Some(match held {
            Some(held) => {
                let same_key = held.lock().unwrap_or_else(|e| e.into_inner()).key == *key;
                if same_key {
                    Ok(held)
                } else {
                    Err(refused("the fence is of another key's lock"))
                }
            }
            None => Err(refused("the lock was released")),
        })
    }
}

fn refused(reason: &str) -> StoreError {
    StoreError::FenceRefused {
        kind: POSTGRES,
        reason: reason.to_owned(),
    }
}

/// The refusal of a fenced write that failed on its lock's connection: a closed
/// connection means the lock is gone (the server frees it with the session).
fn on_lock_connection(e: &postgres::Error, held: &mut Held, target: &str) -> StoreError {
    let error = Error::from_client("fenced save", target, e);
    if matches!(error, Error::ConnectionLost { .. })
        || held.client.as_ref().is_none_or(postgres::Client::is_closed)
    {
        held.client = None;
        refused(
            "its connection to PostgreSQL closed (terminated, cut or timed out), so another holder may have taken it",
        )
    } else {
        error.into_store_error()
    }
}

const UPSERT_UNFENCED: &str = "INSERT INTO oauth_store_credentials (namespace, store_key, record, generation)
     VALUES ($1, $2, $3, 1)
     ON CONFLICT (namespace, store_key) DO UPDATE
     SET record = EXCLUDED.record, generation = oauth_store_credentials.generation + 1, updated_at = now()";

impl CredentialStore for PostgresStore {
    fn kind(&self) -> StoreKind {
        POSTGRES
    }

    fn load(&self, key: &StoreKey) -> Result<Option<Credential>, StoreError> {
        let ns = self.shared.options.namespace.as_str();
        if let Some(held) = self.shared.held_for(key) {
            let mut held = held.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(client) = held.client.as_mut() {
                let found = client.query_opt(
                    "SELECT record FROM oauth_store_credentials WHERE namespace = $1 AND store_key = $2",
                    &[&ns, &key.as_str()],
                );
                match found {
                    Ok(row) => {
                        let record: Option<String> = row.map(|r| r.get(0));
                        return record.map(|r| self.shared.parse(key, &r)).transpose();
                    }
                    Err(e) => {
                        if client.is_closed() {
                            held.client = None;
                        }
                        return Err(
                            Error::from_client("load", &self.shared.connector.target, &e)
                                .into_store_error(),
                        );
                    }
                }
            }
        }
        let record: Option<String> = self
            .shared
            .with_client("load", |c| {
                c.query_opt(
                    "SELECT record FROM oauth_store_credentials WHERE namespace = $1 AND store_key = $2",
                    &[&ns, &key.as_str()],
                )
            })
            .map_err(Error::into_store_error)?
            .map(|r| r.get(0));
        record.map(|r| self.shared.parse(key, &r)).transpose()
    }

    fn save(&self, key: &StoreKey, credential: &Credential) -> Result<(), StoreError> {
        let record = serialize(credential)?;
        let ns = self.shared.options.namespace.clone();
        self.locked_write("save", key, |tx| {
            tx.execute(UPSERT_UNFENCED, &[&ns, &key.as_str(), &record])
                .map(|_| ())
        })
    }

    fn save_fenced(
        &self,
        key: &StoreKey,
        credential: &Credential,
        fence: &Fence,
    ) -> Result<(), StoreError> {
        let held = match self.held(key, fence) {
            None => return self.save(key, credential),
            Some(held) => held?,
        };
        let record = serialize(credential)?;
        let ns = self.shared.options.namespace.as_str();
        let mut held = held.lock().unwrap_or_else(|e| e.into_inner());
        let expected = held.generation;
        let Some(client) = held.client.as_mut() else {
            return Err(refused("its connection to PostgreSQL closed earlier"));
        };
        // On the lock's own connection (the session that holds the lock), and only if
        // the row is still the generation this lock saw: a lost lock cannot write.
        let result = match expected {
            Some(generation) => client.query_opt(
                "UPDATE oauth_store_credentials SET record = $3, generation = generation + 1, updated_at = now()
                 WHERE namespace = $1 AND store_key = $2 AND generation = $4 RETURNING generation",
                &[&ns, &key.as_str(), &record, &generation],
            ),
            None => client.query_opt(
                "INSERT INTO oauth_store_credentials (namespace, store_key, record, generation) VALUES ($1, $2, $3, 1)
                 ON CONFLICT (namespace, store_key) DO NOTHING RETURNING generation",
                &[&ns, &key.as_str(), &record],
            ),
        };
        let target = self.shared.connector.target.clone();
        match result {
            Ok(Some(row)) => {
                held.generation = Some(row.get(0));
                Ok(())
            }
            Ok(None) => Err(refused(
                "the stored credential changed since the lock was taken (its generation differs)",
            )),
            Err(e) => Err(on_lock_connection(&e, &mut held, &target)),
        }
    }

    fn prepare_save(&self, key: &StoreKey) -> Result<(), StoreError> {
        let _ = key;
        self.shared
            .with_client("prepare save", |c| c.batch_execute(""))
            .map_err(Error::into_store_error)
    }

    fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
        let ns = self.shared.options.namespace.clone();
        self.locked_write("delete", key, |tx| {
            tx.execute(
                "DELETE FROM oauth_store_credentials WHERE namespace = $1 AND store_key = $2",
                &[&ns, &key.as_str()],
            )
            .map(|n| n > 0)
        })
    }

    fn delete_fenced(&self, key: &StoreKey, fence: &Fence) -> Result<bool, StoreError> {
        let held = match self.held(key, fence) {
            None => return self.delete(key),
            Some(held) => held?,
        };
        let ns = self.shared.options.namespace.as_str();
        let mut held = held.lock().unwrap_or_else(|e| e.into_inner());
        let Some(client) = held.client.as_mut() else {
            return Err(refused("its connection to PostgreSQL closed earlier"));
        };
        let result = client.execute(
            "DELETE FROM oauth_store_credentials WHERE namespace = $1 AND store_key = $2",
            &[&ns, &key.as_str()],
        );
        let target = self.shared.connector.target.clone();
        match result {
            Ok(n) => {
                held.generation = None;
                Ok(n > 0)
            }
            Err(e) => Err(on_lock_connection(&e, &mut held, &target)),
        }
    }

    fn list(&self) -> Result<Vec<ListedCredential>, StoreError> {
        let ns = self.shared.options.namespace.as_str();
        let rows = self
            .shared
            .with_client("list", |c| {
                c.query(
                    "SELECT store_key, record FROM oauth_store_credentials WHERE namespace = $1 ORDER BY store_key",
                    &[&ns],
                )
            })
            .map_err(Error::into_store_error)?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let key = StoreKey::from_raw(row.get::<_, String>(0));
                let record: String = row.get(1);
                let credential = self.shared.parse(&key, &record);
                ListedCredential::new(key, credential)
            })
            .collect())
    }
}

fn serialize(credential: &Credential) -> Result<String, StoreError> {
    serde_json::to_string(credential).map_err(|e| {
        StoreError::backend(
            POSTGRES,
            format!("the record does not serialize: {}", describe_json_error(&e)),
        )
    })
}

/// The next fence token of `shared`.
pub(crate) fn next_token(shared: &Shared) -> u64 {
    shared.next_token.fetch_add(1, Ordering::Relaxed)
}
