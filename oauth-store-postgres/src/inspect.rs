//! What `doctor` shows: the server, the schema version and the live lock holders,
//! read without creating or changing anything.

use oauth_store_core::StoreKey;

use crate::connect::{Connector, Options};
use crate::error::Error;
use crate::lock::{lock_key, split};
use crate::schema;

/// The server and the locks held now, as [`inspect`] finds them.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerInfo {
    /// `host:port/database as user`.
    pub target: String,
    /// The server's version (`server_version`).
    pub server_version: String,
    /// The schema version in the database, `None` when there is none.
    pub schema_version: Option<i32>,
    /// The highest schema version this build reads.
    pub supported_schema: i32,
    /// Whether this connection is encrypted (TLS).
    pub tls: bool,
    /// The namespace looked at.
    pub namespace: String,
    /// How many credentials the namespace holds (0 without a schema).
    pub credentials: u64,
    /// The credential locks held now in this namespace.
    pub holders: Vec<LockHolder>,
}

/// One held credential lock.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LockHolder {
    /// The credential, when one of the namespace's stored keys hashes to the lock.
    pub key: Option<StoreKey>,
    /// The holder's `application_name` (`oauth-store <host> pid <pid>`), control
    /// characters escaped.
    pub application_name: String,
    /// The server backend's pid.
    pub backend_pid: i32,
    /// The client's address, `local` for a unix socket.
    pub client_addr: String,
    /// Seconds since the holder's session last changed state.
    pub idle_seconds: f64,
}

/// Connects to `url` and reads the server's version, the schema version and the live
/// lock holders of `options.namespace`; creates nothing, even without a schema.
///
/// # Errors
/// As [`crate::Postgres::connect`], except that a missing or newer schema is reported in
/// [`ServerInfo::schema_version`], not as an error.
pub fn inspect(url: &str, options: &Options) -> Result<ServerInfo, Error> {
    let connector = Connector::new(url, options)?;
    let mut client = connector.connect()?;
    let target = connector.target.clone();
    let fail = |op: &'static str| {
        let target = target.clone();
        move |e: postgres::Error| Error::from_client(op, &target, &e)
    };
    let server_version: String = client
        .query_one("SHOW server_version", &[])
        .map_err(fail("inspect"))?
        .get(0);
    let tls: bool = client
        .query_one(
            "SELECT coalesce((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false)",
            &[],
        )
        .map_err(fail("inspect"))?
        .get(0);
    let schema_version = schema::version(&mut client)?;
    let ns = options.namespace.as_str();
    let keys: Vec<StoreKey> = if schema_version.is_some() {
        client
            .query(
                "SELECT store_key FROM oauth_store_credentials WHERE namespace = $1",
                &[&ns],
            )
            .map_err(fail("inspect"))?
            .into_iter()
            .map(|r| StoreKey::from_raw(r.get::<_, String>(0)))
            .collect()
    } else {
        Vec::new()
    };
    let rows = client
        .query(
            "SELECT l.classid::bigint, l.objid::bigint, a.pid, coalesce(a.application_name, ''),
                    coalesce(host(a.client_addr), 'local'),
                    coalesce(extract(epoch FROM now() - a.state_change)::float8, 0)
             FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
             WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
               AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
               AND a.application_name LIKE 'oauth-store %'
             ORDER BY a.pid",
            &[],
        )
        .map_err(fail("inspect"))?;
    let holders = rows
        .into_iter()
        .map(|r| {
            let lock = (r.get::<_, i64>(0), r.get::<_, i64>(1));
            let key = keys
                .iter()
                .find(|k| split(lock_key(ns, k)) == lock)
                .cloned();
            // A lock whose credential is not stored yet (a first login), or of another
            // namespace, is shown without a key.
            LockHolder {
                key,
                application_name: shown(&r.get::<_, String>(3)),
                backend_pid: r.get(2),
                client_addr: r.get(4),
                idle_seconds: r.get(5),
            }
        })
        .collect();
    Ok(ServerInfo {
        target,
        server_version,
        schema_version,
        supported_schema: schema::SCHEMA_VERSION,
        tls,
        namespace: options.namespace.clone(),
        credentials: keys.len() as u64,
        holders,
    })
}

/// `text` with control characters escaped (an application name is chosen by whoever
/// connects, so it could forge an output line).
pub(crate) fn shown(text: &str) -> String {
    text.chars()
        .flat_map(char::escape_default)
        .collect::<String>()
        .replace("\\'", "'")
        .replace("\\\"", "\"")
}
