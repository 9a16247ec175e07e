use oauth_store_postgres::{Error, Options, Postgres, SCHEMA_VERSION};

use crate::support::database;

#[test]
fn a_missing_schema_is_a_clear_error_when_not_allowed_to_create_it_and_is_created_otherwise() {
    let Some((server, db)) = database("schema_missing") else {
        return;
    };
    let mut options = Options::default();
    options.create_schema = false;
    let error = Postgres::connect(&db.url, options).expect_err("no schema");
    assert!(matches!(error, Error::SchemaMissing { .. }), "{error:?}");
    assert!(
        error.to_string().contains("no oauth-store schema"),
        "{error}"
    );
    Postgres::connect(&db.url, Options::default()).expect("created");
    assert_eq!(
        server
            .psql(&db.name, "SELECT max(version) FROM oauth_store_schema")
            .trim(),
        SCHEMA_VERSION.to_string()
    );
    // A second open neither fails nor adds a version.
    Postgres::connect(&db.url, Options::default()).expect("opened again");
    assert_eq!(
        server
            .psql(&db.name, "SELECT count(*) FROM oauth_store_schema")
            .trim(),
        "1"
    );
}

#[test]
fn a_newer_schema_is_refused_and_left_untouched() {
    let Some((server, db)) = database("schema_newer") else {
        return;
    };
    Postgres::connect(&db.url, Options::default()).expect("created");
    server.psql(
        &db.name,
        "INSERT INTO oauth_store_schema (version) VALUES (99)",
    );
    let error = Postgres::connect(&db.url, Options::default()).expect_err("newer");
    assert!(
        matches!(error, Error::SchemaNewer { found: 99, .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("upgrade"), "{error}");
    assert_eq!(
        server
            .psql(&db.name, "SELECT max(version) FROM oauth_store_schema")
            .trim(),
        "99"
    );
}
