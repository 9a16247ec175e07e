use std::time::Duration;

use oauth_store_postgres::{Error, Options, Postgres};

use crate::support::database;

#[test]
fn an_unreachable_server_is_a_connect_error() {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    let url = format!("postgresql://someone:secret-password-value@127.0.0.1:{port}/db");
    let mut options = Options::default();
    options.connect_timeout = Duration::from_secs(2);
    let error = Postgres::connect(&url, options).expect_err("unreachable");
    assert!(matches!(error, Error::Connect { .. }), "{error:?}");
    let text = format!("{error} {error:?}");
    assert!(!text.contains("secret-password-value"), "{text}");
    assert!(
        text.contains(&format!("127.0.0.1:{port}/db as someone")),
        "{text}"
    );
}

#[test]
fn a_wrong_password_is_an_authentication_error_that_never_shows_the_password() {
    let Some((server, db)) = database("connect_wrong_password") else {
        return;
    };
    let url = format!(
        "postgresql://{}:wrong-password-value@127.0.0.1:{}/{}",
        db.name,
        server.port(),
        db.name
    );
    let error = Postgres::connect(&url, Options::default()).expect_err("refused");
    assert!(
        matches!(error, Error::Authentication { ref sqlstate, .. } if sqlstate == "28P01"),
        "{error:?}"
    );
    let text = format!("{error} {error:?}");
    assert!(!text.contains("wrong-password-value"), "{text}");
    assert!(!text.contains(&db.password), "{text}");
}

#[test]
fn the_password_comes_from_a_private_passfile_and_a_readable_one_is_refused() {
    let Some((server, db)) = database("connect_passfile") else {
        return;
    };
    let dir = tempfile::tempdir().expect("dir");
    let passfile = server.passfile(dir.path(), &db);
    let url = format!(
        "postgresql://{}@127.0.0.1:{}/{}",
        db.name,
        server.port(),
        db.name
    );
    let mut options = Options::default();
    options.passfile = Some(passfile.clone());
    Postgres::connect(&url, options.clone()).expect("the passfile's password is used");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&passfile, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let error = Postgres::connect(&url, options).expect_err("readable passfile");
        assert!(matches!(error, Error::Config { .. }), "{error:?}");
        assert!(error.to_string().contains("chmod 600"), "{error}");
    }
}

#[test]
fn a_remote_server_without_tls_is_refused_before_connecting() {
    let error = Postgres::connect(
        "postgresql://u:pw-value@db.example.invalid/db?sslmode=disable",
        Options::default(),
    )
    .expect_err("refused");
    assert!(matches!(error, Error::Config { .. }), "{error:?}");
    assert!(!error.to_string().contains("pw-value"));
}

#[test]
fn a_url_that_does_not_parse_is_never_quoted() {
    let error = Postgres::connect(
        "postgresql://u:pw-value@host:notaport/db",
        Options::default(),
    )
    .expect_err("bad url");
    assert!(matches!(error, Error::Config { .. }), "{error:?}");
    assert!(!format!("{error} {error:?}").contains("pw-value"));
}

#[test]
fn tls_verifies_the_server_certificate_and_trusts_a_given_ca() {
    let Ok(rcgen::CertifiedKey { cert, signing_key }) =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
    else {
        panic!("a test certificate");
    };
    let Some(server) = oauth_store_testkit::postgres::PgServer::start_tls(
        &cert.pem(),
        &signing_key.serialize_pem(),
    ) else {
        return;
    };
    let db = server.database("tls", true);
    let url = format!("{}?sslmode=require", db.url);
    // Not signed by any root this client trusts: refused before any password is sent.
    let error = Postgres::connect(&url, Options::default()).expect_err("an unknown issuer");
    assert!(matches!(error, Error::Connect { .. }), "{error:?}");
    assert!(
        error.to_string().contains("TLS") || error.to_string().contains("certificate"),
        "{error}"
    );
    assert!(!error.to_string().contains(&db.password));
    // Trusted through --database-ca: connected over TLS.
    let dir = tempfile::tempdir().expect("dir");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, cert.pem()).expect("ca file");
    let mut options = Options::default();
    options.ca_file = Some(ca);
    Postgres::connect(&url, options.clone()).expect("verified");
    let info = oauth_store_postgres::inspect(&url, &options).expect("inspect");
    assert!(info.tls, "the connection is encrypted");
}
