//! A hostile provider (the testkit's scripted answers, issue 19): provider text shown
//! with every secret cut out whatever characters split it, tokens outside their
//! character sets refused, and every provider interaction bounded as a whole.

use std::time::{Duration, Instant};

use oauth_store::{HttpError, HttpRefresher, RefreshOutcome, TokenRefresher};
use oauth_store_testkit::{ClientRegistration, ScriptedAnswer, TokenEndpoint};
use serde_json::json;

use super::{TestResult, credential, endpoint, expose, refresher};
use oauth_store::Credential;

const DISCOVERY: [&str; 2] = [
    "/.well-known/oauth-authorization-server",
    "/.well-known/openid-configuration",
];

/// A confidential client's grant at a fresh endpoint: the endpoint and the credential.
fn grant() -> (TokenEndpoint, Credential) {
    // A secret with characters that form encoding changes, as an echoed body holds it.
    let client = ClientRegistration::post("hostile-client", "SENTINEL/CLIENT+SECRET=");
    let ep = endpoint(&client);
    let issued = ep.issue_grant(&client.client_id, &[]);
    let record = credential(&ep, &client, &issued);
    (ep, record)
}

/// `secret` with `cut` put after its first character.
fn split(secret: &str, cut: &str) -> String {
    format!("{}{cut}{}", &secret[..1], &secret[1..])
}

/// Every way a hostile `error_description` can try to carry a secret past redaction.
fn disguises(record: &Credential) -> Vec<String> {
    let rt = expose(record.refresh_token.as_ref().expect("refresh token"));
    let at = expose(&record.access_token);
    let cs = expose(record.client_secret.as_ref().expect("client secret"));
    let mut found = Vec::new();
    for cut in [
        "\u{1}",
        "\u{7f}",
        "\u{9b}",
        "\u{200b}",
        "\u{202e}",
        "\u{feff}",
        "\n",
        "\u{2028}",
        "\u{e0041}",
        "\u{fe0f}",
    ] {
        found.push(format!("bad {}", split(&rt, cut)));
        found.push(format!("bad {}", split(&cs, cut)));
    }
    found.push(format!("echo {rt} {at} {cs}"));
    let encoded = cs
        .replace('/', "%2F")
        .replace('+', "%2B")
        .replace('=', "%3D");
    found.push(format!(
        "echoed body: client_secret={encoded}&refresh_token={rt}"
    ));
    found
}

fn assert_clean(text: &str, record: &Credential) {
    let cs = expose(record.client_secret.as_ref().expect("client secret"));
    assert!(
        !text.contains("CLIENT%2BSECRET"),
        "the encoded secret in: {text:?}"
    );
    for secret in [
        cs,
        expose(record.refresh_token.as_ref().expect("refresh token")),
        expose(&record.access_token),
    ] {
        assert!(!text.contains(&secret), "a secret in: {text:?}");
    }
    assert!(
        !text.chars().any(char::is_control),
        "a control character in: {text:?}"
    );
}

#[test]
fn error_descriptions_never_show_a_secret_however_it_is_split() -> TestResult {
    let (ep, record) = grant();
    for description in disguises(&record) {
        for (status, error) in [
            (400, "invalid_grant"),
            (400, "invalid_scope"),
            (401, "invalid_client"),
        ] {
            ep.script(
                "/token",
                ScriptedAnswer::json(
                    status,
                    &json!({"error": error, "error_description": description}),
                ),
            );
            let outcome = refresher().refresh(&record);
            let shown = match &outcome {
                RefreshOutcome::Rejected { description } => description.clone(),
                RefreshOutcome::Refused { description, .. } => description.clone(),
                other => panic!("{error}: {other:?}"),
            }
            .expect("a description is kept");
            assert_clean(&shown, &record);
            assert_clean(&format!("{outcome:?}"), &record);
            assert!(
                shown.contains("<redacted>"),
                "{shown:?} from {description:?}"
            );
        }
    }
    Ok(())
}

#[test]
fn an_error_code_holding_a_secret_is_dropped() -> TestResult {
    let (ep, record) = grant();
    let rt = expose(record.refresh_token.as_ref().expect("refresh token"));
    ep.script("/token", ScriptedAnswer::json(400, &json!({"error": rt})));
    match refresher().refresh(&record) {
        RefreshOutcome::Refused { error, .. } => assert_eq!(error, "http_400"),
        other => panic!("{other:?}"),
    }
    Ok(())
}

/// Issue 19 item 3: a revocation endpoint echoing the refresh token as its `error`.
#[test]
fn a_revocation_error_never_shows_the_token() -> TestResult {
    let (ep, record) = grant();
    let rt = expose(record.refresh_token.as_ref().expect("refresh token"));
    for body in [
        json!({"error": rt}),
        json!({"error": "invalid_request", "error_description": split(&rt, "\u{1}")}),
    ] {
        ep.script("/revoke", ScriptedAnswer::json(400, &body));
        let error = refresher().revoke(&record).expect_err("400");
        assert!(
            matches!(error, HttpError::Status { status: 400, .. }),
            "{error:?}"
        );
        assert_clean(&error.to_string(), &record);
        assert_clean(&format!("{error:?}"), &record);
    }
    Ok(())
}

/// Issue 19 items 4 and 5: a 200 whose tokens could forge a header or a terminal line,
/// or are empty, is not a usable answer (nothing is saved by the transaction).
#[test]
fn tokens_outside_their_character_sets_are_indeterminate() -> TestResult {
    let (ep, record) = grant();
    for body in [
        json!({"access_token": "AT-good\r\nX-Injected: evil", "refresh_token": "RT-2"}),
        json!({"access_token": "AT-good\u{1b}]0;owned\u{7}", "refresh_token": "RT-2"}),
        json!({"access_token": "", "refresh_token": "RT-2"}),
        json!({"access_token": "AT-2", "refresh_token": ""}),
        json!({"access_token": "AT-2", "refresh_token": "RT\n2"}),
    ] {
        ep.script("/token", ScriptedAnswer::json(200, &body));
        match refresher().refresh(&record) {
            RefreshOutcome::Indeterminate { reason } => {
                assert!(reason.contains("_token"), "{reason}");
                assert!(
                    !reason.contains("evil") && !reason.contains("AT-"),
                    "{reason}"
                );
            }
            other => panic!("{body}: {other:?}"),
        }
    }
    Ok(())
}

/// A credential whose token endpoint is found by discovery at `ep`.
fn discovered(ep: &TokenEndpoint, record: &Credential) -> Credential {
    let mut record = record.clone();
    record.token_endpoint = None;
    record.issuer = Some(ep.issuer());
    record
}

/// Issue 19 item 8: metadata URLs that never answer bound the refresh as a whole (half
/// the budget for discovery), and the failure is remembered, so the next attempt does not
/// wait again.
#[test]
fn discovery_that_never_answers_is_bounded_and_remembered() -> TestResult {
    let (ep, record) = grant();
    for path in DISCOVERY {
        ep.script(
            path,
            ScriptedAnswer::new(200, "{}").delay(Duration::from_secs(600)),
        );
    }
    let record = discovered(&ep, &record);
    let budget = Duration::from_secs(2);
    let memory = tempfile::tempdir()?;
    let refresher = HttpRefresher::new()
        .with_timeout(budget)
        .with_discovery_memory(memory.path());
    let started = Instant::now();
    let first = refresher.refresh(&record);
    let took = started.elapsed();
    assert!(
        matches!(first, RefreshOutcome::Transient { .. }),
        "{first:?}"
    );
    assert!(took < budget + Duration::from_secs(3), "bounded: {took:?}");
    let asked = ep.hits(DISCOVERY[0]) + ep.hits(DISCOVERY[1]);
    assert!(asked >= 1);

    let again = refresher.refresh(&record);
    match &again {
        RefreshOutcome::Transient { reason, .. } => {
            assert!(reason.contains("remembered"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        ep.hits(DISCOVERY[0]) + ep.hits(DISCOVERY[1]),
        asked,
        "not asked again"
    );
    assert_eq!(ep.counters().token_requests, 0);

    // The memory for other processes: 0600, no URL, no token.
    use std::os::unix::fs::PermissionsExt;
    let file = memory.path().join(HttpRefresher::DISCOVERY_FAILURE_FILE);
    assert_eq!(
        std::fs::metadata(&file)?.permissions().mode() & 0o777,
        0o600
    );
    let text = std::fs::read_to_string(&file)?;
    assert!(
        !text.contains("127.0.0.1") && !text.contains("SENTINEL"),
        "{text}"
    );
    Ok(())
}

/// `logout --revoke`'s request: bounded by the revocation budget, discovery included.
#[test]
fn revocation_is_bounded_as_a_whole() -> TestResult {
    let (ep, record) = grant();
    ep.script(
        "/revoke",
        ScriptedAnswer::new(200, "").delay(Duration::from_secs(600)),
    );
    let budget = Duration::from_secs(1);
    let started = Instant::now();
    let error = HttpRefresher::new()
        .with_revoke_timeout(budget)
        .revoke(&record)
        .expect_err("no answer in time");
    assert!(
        started.elapsed() < budget + Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(matches!(error, HttpError::Request { .. }), "{error:?}");
    Ok(())
}

/// The failure file is trusted only as far as a failure is ever remembered: an entry
/// from another process within the minute is honoured, one further ahead (a clock set
/// back, a file not ours) is ignored.
#[test]
fn a_remembered_failure_from_another_process_lasts_no_longer_than_promised() -> TestResult {
    let (ep, record) = grant();
    let record = discovered(&ep, &record);
    let memory = tempfile::tempdir()?;
    let refresher = refresher().with_discovery_memory(memory.path());
    let file = memory.path().join(HttpRefresher::DISCOVERY_FAILURE_FILE);
    let now_ms = u64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis(),
    )?;
    let issuer = oauth_store::store_core::sha256_hex(ep.issuer().as_bytes());
    let write = |until_ms: u64| {
        let document = json!({"version": 1, "failures": {
            issuer.clone(): {"until_ms": until_ms, "transient": true, "reason": "down\u{1b}[2J"}
        }});
        std::fs::write(&file, document.to_string())
    };

    write(now_ms + 30_000)?;
    match refresher.refresh(&record) {
        RefreshOutcome::Transient { reason, .. } => {
            assert!(
                reason.contains("remembered") && !reason.contains('\u{1b}'),
                "{reason:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(ep.hits(DISCOVERY[0]), 0, "not asked");

    write(now_ms + 10 * 365 * 86_400_000)?;
    assert!(
        matches!(refresher.refresh(&record), RefreshOutcome::Refreshed(_)),
        "an entry too far ahead is ignored"
    );
    assert_eq!(ep.hits(DISCOVERY[0]), 1);
    Ok(())
}
