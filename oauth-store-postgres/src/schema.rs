//! The schema, created and migrated by this crate, versioned in `oauth_store_schema`.

use crate::error::Error;

/// The schema version this build writes and reads.
pub const SCHEMA_VERSION: i32 = 1;

/// The credentials table: one row per (namespace, store key), the record as JSON text
/// kept byte-exact (`text`, not `jsonb`, which would reorder and reformat it), the
/// generation every save increments (the order of writes across machines), and the
/// server's time of the last save.
const CREATE_V1: &str = "
CREATE TABLE IF NOT EXISTS oauth_store_credentials (
    namespace  text        NOT NULL,
    store_key  text        NOT NULL,
    record     text        NOT NULL,
    generation bigint      NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (namespace, store_key)
);
INSERT INTO oauth_store_schema (version) VALUES (1);
";

/// The lock key that serializes schema changes (any constant outside the hash space of
/// the credential locks would do; a collision only serializes).
const SCHEMA_LOCK: i64 = 0x6f61_7574_685f_7363;

/// The schema version in the database, `None` when there is no schema.
pub(crate) fn version(client: &mut postgres::Client) -> Result<Option<i32>, Error> {
    let exists = client
        .query_one("SELECT to_regclass('oauth_store_schema') IS NOT NULL", &[])
        .map_err(|e| Error::from_client("schema check", "", &e))?;
    if !exists.get::<_, bool>(0) {
        return Ok(None);
    }
    let row = client
        .query_one("SELECT max(version) FROM oauth_store_schema", &[])
        .map_err(|e| Error::from_client("schema check", "", &e))?;
    Ok(row.get::<_, Option<i32>>(0))
}

/// Checks the schema, creating or migrating it when `create` (under a transaction lock,
/// so concurrent first runs create it once).
pub(crate) fn ensure(
    client: &mut postgres::Client,
    create: bool,
    target: &str,
) -> Result<(), Error> {
    match version(client)? {
        Some(found) if found > SCHEMA_VERSION => Err(Error::SchemaNewer {
            found,
            supported: SCHEMA_VERSION,
        }),
        Some(SCHEMA_VERSION) => Ok(()),
        _ if !create => Err(Error::SchemaMissing {
            target: target.to_owned(),
        }),
        _ => {
            let mut tx = client
                .transaction()
                .map_err(|e| Error::from_client("schema create", target, &e))?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])
                .map_err(|e| Error::from_client("schema create", target, &e))?;
            tx.batch_execute(
                "CREATE TABLE IF NOT EXISTS oauth_store_schema (version integer NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
            )
            .map_err(|e| Error::from_client("schema create", target, &e))?;
            let found: Option<i32> = tx
                .query_one("SELECT max(version) FROM oauth_store_schema", &[])
                .map_err(|e| Error::from_client("schema create", target, &e))?
                .get(0);
            // Migrations run in order from the version found; version 1 is the first.
            if found.is_none() {
                tx.batch_execute(CREATE_V1)
                    .map_err(|e| Error::from_client("schema create", target, &e))?;
            } else if let Some(found) = found
                && found > SCHEMA_VERSION
            {
                return Err(Error::SchemaNewer {
                    found,
                    supported: SCHEMA_VERSION,
                });
            }
            tx.commit()
                .map_err(|e| Error::from_client("schema create", target, &e))
        }
    }
}
