//! The token endpoint discovered from the issuer (RFC 8414, then OpenID discovery),
//! cached per process; revocation (RFC 7009) at the discovered endpoint.

use std::time::Duration;

use oauth_store::{HttpError, RefreshOutcome, TokenRefresher};
use oauth_store_testkit::ClientRegistration;

use super::{
    CannedServer, TestResult, URL, credential, endpoint, expose, json_answer, refresher, store,
};

/// A record with an issuer and no token endpoint refreshes at the discovered one; a
/// second refresher in the same process reuses the discovery.
#[test]
fn token_endpoint_is_discovered_from_the_issuer_once() -> TestResult {
    let client = ClientRegistration::post("discovering", "secret");
    let ep = endpoint(&client);
    let mut record = credential(&ep, &client, &ep.issue_grant(&client.client_id, &[]));
    record.token_endpoint = None;
    let home = tempfile::tempdir()?;
    let handle = store(home.path(), refresher()).handle(super::SERVER, URL);
    handle.save_grant(record)?;
    let fresh = handle.refresh_if_needed(Duration::from_secs(30))?;
    assert!(ep.access_token_is_active(&expose(&fresh.access_token)));
    assert_eq!(
        ep.counters().discovery_requests,
        1,
        "the RFC 8414 document answered first"
    );
    let again = store(home.path(), refresher()).handle(super::SERVER, URL);
    again.refresh_if_needed(Duration::from_secs(3600))?;
    assert_eq!(ep.requests().len(), 2);
    assert_eq!(
        ep.counters().discovery_requests,
        1,
        "cached for the process"
    );
    Ok(())
}

#[test]
fn discover_reads_the_metadata() -> TestResult {
    let ep = endpoint(&ClientRegistration::public("meta"));
    let metadata = refresher().discover(&format!("{}/", ep.issuer()))?;
    assert_eq!(metadata.token_endpoint, ep.token_endpoint());
    assert_eq!(metadata.revocation_endpoint, Some(ep.revocation_endpoint()));
    Ok(())
}

/// Without the RFC 8414 document, the OpenID one is used.
#[test]
fn openid_discovery_is_the_fallback() -> TestResult {
    let server = CannedServer::start_with(|url| {
        let document = format!(r#"{{"issuer":"{url}","token_endpoint":"{url}/oidc/token"}}"#);
        vec![
            json_answer("404 Not Found", "", "{}"),
            json_answer("200 OK", "", &document),
        ]
    });
    let metadata = refresher().discover(&server.url)?;
    assert_eq!(
        metadata.token_endpoint,
        format!("{}/oidc/token", server.url)
    );
    assert_eq!(metadata.revocation_endpoint, None);
    let requests = server.requests();
    assert!(
        requests[0].starts_with("GET /.well-known/oauth-authorization-server "),
        "{}",
        requests[0]
    );
    assert!(
        requests[1].starts_with("GET /.well-known/openid-configuration "),
        "{}",
        requests[1]
    );
    server.finish();
    Ok(())
}

/// A document stating another issuer does not count (RFC 8414 section 3.3).
#[test]
fn a_document_for_another_issuer_is_refused() -> TestResult {
    let server = CannedServer::start_with(|url| {
        let wrong =
            format!(r#"{{"issuer":"http://other.example.test","token_endpoint":"{url}/token"}}"#);
        vec![
            json_answer("200 OK", "", &wrong),
            json_answer("404 Not Found", "", "{}"),
        ]
    });
    match refresher().discover(&server.url) {
        Err(HttpError::Discovery {
            reason,
            transient: false,
            ..
        }) => {
            assert!(reason.contains("another issuer"), "{reason}");
        }
        other => panic!("expected a mismatch, got {other:?}"),
    }
    server.finish();
    Ok(())
}

/// An issuer nobody answers for: the refresh is transient, nothing was sent.
#[test]
fn failed_discovery_is_transient() -> TestResult {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.local_addr()?.port()
    };
    let mut record = super::credential_at("http://unused.invalid/token");
    record.token_endpoint = None;
    record.issuer = Some(format!("http://127.0.0.1:{port}"));
    match refresher().refresh(&record) {
        RefreshOutcome::Transient { reason, .. } => {
            assert!(reason.contains("discovered"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    Ok(())
}

/// Revocation of the refresh token ends the grant at the provider.
#[test]
fn revoke_ends_the_grant() -> TestResult {
    let client = ClientRegistration::basic("revoking", "secret");
    let ep = endpoint(&client);
    let issued = ep.issue_grant(&client.client_id, &[]);
    let record = credential(&ep, &client, &issued);
    refresher().revoke(&record)?;
    assert_eq!(ep.counters().revocations, 1);
    assert!(
        !ep.grant_is_active(&issued.refresh_token),
        "the grant is revoked"
    );

    let mut no_issuer = record.clone();
    no_issuer.issuer = None;
    assert!(matches!(
        refresher().revoke(&no_issuer),
        Err(HttpError::NoIssuer)
    ));
    Ok(())
}
