//! Client authentication as the record says, and `resource` on every refresh.

use std::time::Duration;

use oauth_store::{RefreshOutcome, TokenRefresher};
use oauth_store_testkit::{AuthMethod, ClientRegistration};

use super::{
    CannedServer, TestResult, URL, credential, credential_at, endpoint, expose, json_answer,
    refresher, store,
};

/// Three refreshes in a row for each method: each authenticates as registered, carries
/// `resource` = the server URL (the endpoint rejects anything else with
/// `invalid_target`), and keeps the client secret in the record.
#[test]
fn each_method_authenticates_and_sends_resource_every_time() -> TestResult {
    let clients = [
        ClientRegistration::public("public-client"),
        ClientRegistration::basic("basic-client", "basic-secret"),
        ClientRegistration::post("post-client", "post-secret"),
    ];
    for client in clients {
        let ep = endpoint(&client);
        let home = tempfile::tempdir()?;
        let store = store(home.path(), refresher());
        let handle = store.handle(super::SERVER, URL);
        handle.save_grant(credential(
            &ep,
            &client,
            &ep.issue_grant(&client.client_id, &["read"]),
        ))?;
        for round in 1..=3 {
            // The testkit's tokens live 60 s: asking for an hour left makes every call due.
            let fresh = handle.refresh_if_needed(Duration::from_secs(3600))?;
            let requests = ep.requests();
            assert_eq!(
                requests.len(),
                round,
                "{}: one request per refresh",
                client.auth_method
            );
            let last = requests.last().expect("a request");
            assert_eq!(
                last.auth_method, client.auth_method,
                "authenticated as registered"
            );
            assert_eq!(last.client_id.as_deref(), Some(client.client_id.as_str()));
            assert_eq!(
                last.resources,
                vec![URL.to_owned()],
                "RFC 8707 resource on refresh {round}"
            );
            assert_eq!(
                last.status,
                Some(200),
                "{}: refresh {round} answered",
                client.auth_method
            );
            assert!(ep.access_token_is_active(&expose(&fresh.access_token)));
            let stored = handle.load()?.expect("stored");
            assert_eq!(
                stored.client_secret.as_ref().map(expose),
                client.client_secret,
                "client secret kept"
            );
        }
    }
    Ok(())
}

/// A record with a client secret and no method authenticates with HTTP Basic
/// (DESIGN.md "Record").
#[test]
fn absent_method_with_secret_means_basic() -> TestResult {
    let client = ClientRegistration::basic("implicit-basic", "s3cret");
    let ep = endpoint(&client);
    let mut record = credential(&ep, &client, &ep.issue_grant(&client.client_id, &[]));
    record.token_endpoint_auth_method = None;
    let outcome = refresher().refresh(&record);
    assert!(
        matches!(outcome, RefreshOutcome::Refreshed(_)),
        "{outcome:?}"
    );
    assert_eq!(ep.requests()[0].auth_method, AuthMethod::ClientSecretBasic);
    Ok(())
}

/// A secret-based method without a secret, or a method this version lacks, is refused
/// before anything is sent.
#[test]
fn unusable_client_authentication_is_refused_unsent() -> TestResult {
    let client = ClientRegistration::post("post-client", "post-secret");
    let ep = endpoint(&client);
    let mut record = credential(&ep, &client, &ep.issue_grant(&client.client_id, &[]));
    record.client_secret = None;
    match refresher().refresh(&record) {
        RefreshOutcome::Refused {
            error, status: 0, ..
        } => assert_eq!(error, "missing_client_secret"),
        other => panic!("expected a local refusal, got {other:?}"),
    }
    record.token_endpoint_auth_method = Some(
        oauth_store::core::TokenEndpointAuthMethod::from_name("private_key_jwt"),
    );
    match refresher().refresh(&record) {
        RefreshOutcome::Refused {
            error, status: 0, ..
        } => assert_eq!(error, "unsupported_client_auth"),
        other => panic!("expected a local refusal, got {other:?}"),
    }
    assert!(ep.requests().is_empty(), "nothing was sent");
    Ok(())
}

/// Members of the token response this version does not model are kept in the record.
#[test]
fn unknown_response_fields_are_kept() -> TestResult {
    let body = r#"{"access_token":"at-new","token_type":"Bearer","expires_in":3600,"refresh_token":"rt-new","id_token":"x.y.z","vendor_extra":{"a":[1,2]}}"#;
    let server = CannedServer::start(vec![json_answer("200 OK", "", body)]);
    let home = tempfile::tempdir()?;
    let store = store(home.path(), refresher());
    let handle = store.handle(super::SERVER, URL);
    handle.save_grant(credential_at(&format!("{}/token", server.url)))?;
    let fresh = handle.refresh_if_needed(Duration::from_secs(30))?;
    assert_eq!(expose(&fresh.access_token), "at-new");
    let stored = handle.load()?.expect("stored");
    let extra: Vec<(&str, &str)> = stored
        .extra
        .iter()
        .map(|(n, v)| (n.as_str(), v.get()))
        .collect();
    assert!(
        extra.contains(&("vendor_extra", r#"{"a":[1,2]}"#)),
        "{extra:?}"
    );
    assert!(extra.iter().any(|(n, _)| *n == "id_token"), "{extra:?}");
    let request = server.requests().remove(0);
    assert!(
        request.contains("grant_type=refresh_token"),
        "RFC 6749 section 6 grant"
    );
    assert!(
        request.contains("resource=https%3A%2F%2Fmcp.example.test%2Fmcp"),
        "RFC 8707 resource"
    );
    server.finish();
    Ok(())
}
