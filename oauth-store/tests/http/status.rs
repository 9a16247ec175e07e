//! Each class of answer lands in its outcome (DESIGN.md "Refresh transaction"), decided
//! by the HTTP status and whether the request was sent, never by guessing from a body.

use std::time::Duration;

use oauth_store::{AuthorizationReason, Error, HttpRefresher, RefreshOutcome, TokenRefresher};
use oauth_store_testkit::{ClientRegistration, Fault};

use super::{
    CannedServer, SENTINEL, TestResult, URL, credential, credential_at, endpoint, expose,
    json_answer, refresher, store,
};
use crate::support::LogCapture;

fn public() -> ClientRegistration {
    ClientRegistration::public("status-client")
}

/// Runs one refresh against the testkit with `fault` injected once.
fn outcome_with(fault: Fault, refresher: &HttpRefresher) -> RefreshOutcome {
    let client = public();
    let ep = endpoint(&client);
    let record = credential(&ep, &client, &ep.issue_grant(&client.client_id, &[]));
    ep.set_fault_times(fault, 1);
    let outcome = refresher.refresh(&record);
    assert_eq!(ep.requests().len(), 1, "{fault:?}: one request");
    outcome
}

#[test]
fn status_500_and_429_are_transient() -> TestResult {
    match outcome_with(Fault::Status500, &refresher()) {
        RefreshOutcome::Transient { reason, .. } => assert!(reason.contains("500"), "{reason}"),
        other => panic!("500: {other:?}"),
    }
    match outcome_with(Fault::Status429, &refresher()) {
        RefreshOutcome::Transient {
            reason,
            retry_after,
        } => {
            assert!(reason.contains("429"), "{reason}");
            assert_eq!(
                retry_after,
                Some(Duration::from_secs(1)),
                "Retry-After is passed on"
            );
        }
        other => panic!("429: {other:?}"),
    }
    Ok(())
}

/// A port nobody listens on: the request never left, so the provider did nothing.
#[test]
fn connection_refused_is_transient() -> TestResult {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.local_addr()?.port()
    };
    let record = credential_at(&format!("http://127.0.0.1:{port}/token"));
    match refresher().refresh(&record) {
        RefreshOutcome::Transient { reason, .. } => {
            assert!(reason.contains("nothing was sent"), "{reason}");
        }
        other => panic!("refused connection: {other:?}"),
    }
    Ok(())
}

/// The testkit's `Unreachable` reads the whole request, then closes without answering:
/// the request was sent, so the outcome is unknown, not transient.
#[test]
fn closed_after_sending_is_indeterminate() -> TestResult {
    match outcome_with(Fault::Unreachable, &refresher()) {
        RefreshOutcome::Indeterminate { reason } => {
            assert!(reason.contains("after the request was sent"), "{reason}");
        }
        other => panic!("closed unanswered: {other:?}"),
    }
    Ok(())
}

/// The provider rotates, then answers after the timeout: the outcome is unknown, and
/// the handle keeps the credential as it was.
#[test]
fn timeout_after_sending_is_indeterminate() -> TestResult {
    let quick = HttpRefresher::new().with_timeout(Duration::from_millis(600));
    match outcome_with(Fault::Slow(Duration::from_secs(3)), &quick) {
        RefreshOutcome::Indeterminate { reason } => assert!(reason.contains("timeout"), "{reason}"),
        other => panic!("slow: {other:?}"),
    }
    Ok(())
}

/// A 200 whose body does not parse (it holds the new tokens): Indeterminate, and no
/// token reaches a log line (TRACE included), the error, or the store.
#[test]
fn unparsable_success_is_indeterminate_and_never_logged() -> TestResult {
    let client = public();
    let ep = endpoint(&client);
    let home = tempfile::tempdir()?;
    let store = store(home.path(), refresher());
    let handle = store.handle(super::SERVER, URL);
    let issued = ep.issue_grant(&client.client_id, &[]);
    handle.save_grant(credential(&ep, &client, &issued))?;
    ep.set_fault_times(Fault::UnparsableSuccess, 1);
    let logs = LogCapture::default();
    let result = logs.run(|| handle.refresh_if_needed(Duration::from_secs(30)));
    let Err(error) = result else {
        panic!("an unparsable 200 must not succeed")
    };
    assert!(matches!(error, Error::Indeterminate { .. }), "{error:?}");
    assert_eq!(ep.counters().refreshes, 1, "the provider did rotate");
    let text = logs.text();
    assert!(
        text.contains("refresh answered"),
        "the capture works: {text}"
    );
    for shown in [text, error.to_string(), format!("{error:?}")] {
        assert!(!shown.contains(SENTINEL), "a token leaked: {shown}");
    }
    let kept = handle.load()?.expect("kept");
    assert_eq!(
        kept.refresh_token.as_ref().map(expose),
        Some(issued.refresh_token),
        "nothing changed"
    );
    Ok(())
}

/// `invalid_grant`: the grant is rejected, the tokens dropped, the registration kept.
#[test]
fn invalid_grant_is_rejected() -> TestResult {
    assert!(matches!(
        outcome_with(Fault::InvalidGrant, &refresher()),
        RefreshOutcome::Rejected { .. }
    ));

    let client = ClientRegistration::basic("rejected-client", "kept-secret");
    let ep = endpoint(&client);
    let home = tempfile::tempdir()?;
    let store = store(home.path(), refresher());
    let handle = store.handle(super::SERVER, URL);
    handle.save_grant(credential(
        &ep,
        &client,
        &ep.issue_grant(&client.client_id, &[]),
    ))?;
    ep.set_fault(Some(Fault::InvalidGrant));
    let error = handle
        .refresh_if_needed(Duration::from_secs(30))
        .expect_err("rejected");
    assert!(
        matches!(
            error,
            Error::AuthorizationRequired {
                reason: AuthorizationReason::GrantRejected { .. },
                ..
            }
        ),
        "{error:?}"
    );
    let kept = handle.load()?.expect("registration kept");
    assert!(!kept.has_tokens(), "tokens dropped");
    assert_eq!(
        kept.client_secret.as_ref().map(expose).as_deref(),
        Some("kept-secret")
    );
    Ok(())
}

/// Other 4xx errors are refusals carrying the provider's code: `invalid_client` (401),
/// and `invalid_target` for a `resource` the server does not serve (RFC 8707).
#[test]
fn other_client_errors_are_refused_with_the_code() -> TestResult {
    match outcome_with(Fault::InvalidClient, &refresher()) {
        RefreshOutcome::Refused { error, status, .. } => {
            assert_eq!((error.as_str(), status), ("invalid_client", 401));
        }
        other => panic!("invalid_client: {other:?}"),
    }
    let client = public();
    let ep = endpoint(&client);
    let mut record = credential(&ep, &client, &ep.issue_grant(&client.client_id, &[]));
    record.server_url = "https://elsewhere.example.test/mcp".into();
    match refresher().refresh(&record) {
        RefreshOutcome::Refused { error, status, .. } => {
            assert_eq!((error.as_str(), status), ("invalid_target", 400));
        }
        other => panic!("invalid_target: {other:?}"),
    }
    Ok(())
}

/// `invalid_grant` counts as a rejection only with 400 or 401; a 403 carrying it is a
/// refusal. A 4xx without a JSON error is `http_<status>`. An `error_description` that
/// quotes the refresh token sent has it cut out.
#[test]
fn status_decides_not_the_body() -> TestResult {
    let answers = vec![
        json_answer("403 Forbidden", "", r#"{"error":"invalid_grant"}"#),
        json_answer("404 Not Found", "", "not json"),
        json_answer(
            "400 Bad Request",
            "",
            r#"{"error":"invalid_grant","error_description":"rt-old is revoked"}"#,
        ),
        // A provider echoing the refresh token as its error code.
        json_answer("400 Bad Request", "", r#"{"error":"rt-old"}"#),
    ];
    let server = CannedServer::start(answers);
    let record = credential_at(&format!("{}/token", server.url));
    match refresher().refresh(&record) {
        RefreshOutcome::Refused { error, status, .. } => {
            assert_eq!((error.as_str(), status), ("invalid_grant", 403));
        }
        other => panic!("403: {other:?}"),
    }
    match refresher().refresh(&record) {
        RefreshOutcome::Refused { error, status, .. } => {
            assert_eq!((error.as_str(), status), ("http_404", 404));
        }
        other => panic!("404: {other:?}"),
    }
    match refresher().refresh(&record) {
        RefreshOutcome::Rejected { description } => {
            let description = description.expect("description");
            assert!(
                !description.contains("rt-old") && description.contains("<redacted>"),
                "{description}"
            );
        }
        other => panic!("400 invalid_grant: {other:?}"),
    }
    match refresher().refresh(&record) {
        RefreshOutcome::Refused { error, status, .. } => {
            assert_eq!(
                (error.as_str(), status),
                ("http_400", 400),
                "a sent token is never an error code"
            );
        }
        other => panic!("400 echoing the token: {other:?}"),
    }
    server.finish();
    Ok(())
}

/// A redirect is answered, not followed: the refresh token goes to no second host.
#[test]
fn redirects_are_not_followed() -> TestResult {
    let client = public();
    let ep = endpoint(&client);
    let location = format!("Location: {}\r\n", ep.token_endpoint());
    let server = CannedServer::start(vec![json_answer("307 Temporary Redirect", &location, "{}")]);
    let record = credential_at(&format!("{}/token", server.url));
    match refresher().refresh(&record) {
        RefreshOutcome::Transient { reason, .. } => {
            assert!(reason.contains("redirect"), "{reason}");
        }
        other => panic!("307: {other:?}"),
    }
    assert!(ep.requests().is_empty(), "the redirect target got nothing");
    server.finish();
    Ok(())
}

/// A token may go only over TLS, or in plain text to loopback; nothing is sent otherwise.
#[test]
fn insecure_endpoints_are_refused_unsent() -> TestResult {
    let record = credential_at("http://auth.example.test/token");
    match refresher().refresh(&record) {
        RefreshOutcome::Refused {
            error, status: 0, ..
        } => assert_eq!(error, "insecure_token_endpoint"),
        other => panic!("plain http: {other:?}"),
    }
    #[cfg(not(feature = "rustls"))]
    match refresher().refresh(&credential_at("https://auth.example.test/token")) {
        RefreshOutcome::Transient { reason, .. } => assert!(reason.contains("rustls"), "{reason}"),
        other => panic!("https without TLS: {other:?}"),
    }
    Ok(())
}
