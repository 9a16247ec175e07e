//! `OAuthStore::login` (feature `http`): discovery's checks against a canned server
//! (the order of the well-known URLs, RFC 9728 section 3.3, RFC 8414 section 3.3, S256,
//! loopback-only plain http), options refused before anything is sent, and a whole
//! browser login through the library against the oidc-provider and MCP server peers,
//! with a real headless Chromium as the browser.

use std::sync::Mutex;
use std::time::Duration;

use oauth_store::{
    BearerChallenge, ClientSource, LoginError, LoginOptions, LoginPrompt, OAuthStore, StoreMode,
};
use proptest::prelude::*;

use crate::http::{CannedServer, TestResult, json_answer};

/// A prompt that records what it was shown and, given a browser, follows the URL.
#[derive(Default)]
struct Recorded {
    urls: Mutex<Vec<String>>,
    browser: Option<std::path::PathBuf>,
    pages: std::sync::Arc<Mutex<Vec<String>>>,
}

impl LoginPrompt for Recorded {
    fn authorization_url(&self, url: &str) {
        self.urls.lock().expect("urls").push(url.to_owned());
        if let Some(chromium) = self.browser.clone() {
            // The prompt returns at once (the login waits): the browser runs beside it.
            let (url, pages) = (url.to_owned(), std::sync::Arc::clone(&self.pages));
            std::thread::spawn(move || {
                let page = oauth_store_testkit::peers::browse(&chromium, &url);
                pages.lock().expect("pages").push(page);
            });
        }
    }

    fn device_code(&self, _uri: &str, _complete: Option<&str>, _user_code: &str) {
        panic!("no device flow here");
    }
}

fn store(home: &std::path::Path) -> OAuthStore {
    OAuthStore::builder()
        .default_stores(false)
        .home(home)
        .mode(StoreMode::File)
        .build()
        .expect("store")
}

/// A canned MCP server + authorization server: a 401 naming its metadata, the
/// protected resource metadata `prm` (a JSON text in which `{url}` is the server's URL),
/// then the authorization server metadata `asm` (likewise).
fn canned(prm: &'static str, asm: &'static str) -> CannedServer {
    CannedServer::start_with(|url| {
        vec![
            json_answer(
                "401 Unauthorized",
                &format!(
                    "WWW-Authenticate: Bearer error=\"invalid_token\", resource_metadata=\"{url}/.well-known/oauth-protected-resource/mcp\", scope=\"mcp read\"\r\n"
                ),
                "{}",
            ),
            json_answer("200 OK", "", &prm.replace("{url}", url)),
            json_answer("200 OK", "", &asm.replace("{url}", url)),
        ]
    })
}

const PRM: &str = r#"{"resource":"{url}/mcp","authorization_servers":["{url}"]}"#;

fn refused(result: Result<oauth_store::LoginOutcome, LoginError>) -> String {
    match result {
        Err(LoginError::Refused(reason)) => reason,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn an_authorization_server_without_s256_is_refused_before_the_person_is_asked() -> TestResult {
    let server = canned(
        PRM,
        r#"{"issuer":"{url}","authorization_endpoint":"{url}/auth","token_endpoint":"{url}/token","code_challenge_methods_supported":["plain"]}"#,
    );
    let home = tempfile::tempdir()?;
    let prompt = Recorded::default();
    let url = format!("{}/mcp", server.url);
    let reason = refused(store(home.path()).login("s", &url, &LoginOptions::new(), &prompt));
    assert!(reason.contains("S256"), "{reason}");
    assert!(
        prompt.urls.lock().expect("urls").is_empty(),
        "nobody was asked"
    );
    let requests = server.requests();
    assert!(requests[0].starts_with("POST /mcp "), "{}", requests[0]);
    assert!(requests[1].starts_with("GET /.well-known/oauth-protected-resource/mcp "));
    assert!(requests[2].starts_with("GET /.well-known/oauth-authorization-server "));
    server.finish();
    assert!(
        store(home.path()).handle("s", &url).load()?.is_none(),
        "nothing saved"
    );
    Ok(())
}

#[test]
fn metadata_naming_another_resource_is_refused() -> TestResult {
    let server = canned(
        r#"{"resource":"https://elsewhere.example.test/mcp","authorization_servers":["{url}"]}"#,
        "{}",
    );
    let home = tempfile::tempdir()?;
    let url = format!("{}/mcp", server.url);
    let reason =
        refused(store(home.path()).login("s", &url, &LoginOptions::new(), &Recorded::default()));
    assert!(reason.contains("RFC 9728 section 3.3"), "{reason}");
    Ok(())
}

#[test]
fn metadata_stating_another_issuer_is_refused() -> TestResult {
    let server = CannedServer::start_with(|url| {
        let other = r#"{"issuer":"https://evil.example.test","token_endpoint":"https://evil.example.test/token","code_challenge_methods_supported":["S256"]}"#;
        vec![
            json_answer(
                "401 Unauthorized",
                &format!("WWW-Authenticate: Bearer resource_metadata=\"{url}/prm\"\r\n"),
                "{}",
            ),
            json_answer("200 OK", "", &PRM.replace("{url}", url)),
            json_answer("200 OK", "", other),
            json_answer("200 OK", "", other),
        ]
    });
    let home = tempfile::tempdir()?;
    let url = format!("{}/mcp", server.url);
    let reason =
        refused(store(home.path()).login("s", &url, &LoginOptions::new(), &Recorded::default()));
    assert!(reason.contains("RFC 8414 section 3.3"), "{reason}");
    let requests = server.requests();
    assert!(
        requests[1].starts_with("GET /prm "),
        "the 401's resource_metadata"
    );
    assert!(requests[3].starts_with("GET /.well-known/openid-configuration "));
    Ok(())
}

#[test]
fn without_resource_metadata_in_the_401_the_path_then_the_root_well_known_url_is_tried()
-> TestResult {
    let server = CannedServer::start_with(|url| {
        vec![
            json_answer("401 Unauthorized", "WWW-Authenticate: Bearer\r\n", "{}"),
            json_answer("404 Not Found", "", "{}"),
            json_answer("200 OK", "", &PRM.replace("{url}", url)),
            // Plain http to a host that is not loopback: refused.
            json_answer(
                "200 OK",
                "",
                &r#"{"issuer":"{url}","authorization_endpoint":"http://auth.example.test/auth","token_endpoint":"{url}/token","code_challenge_methods_supported":["S256"]}"#.replace("{url}", url),
            ),
        ]
    });
    let home = tempfile::tempdir()?;
    let url = format!("{}/mcp", server.url);
    let reason =
        refused(store(home.path()).login("s", &url, &LoginOptions::new(), &Recorded::default()));
    assert!(reason.contains("authorization_endpoint"), "{reason}");
    assert!(reason.contains("not a loopback host"), "{reason}");
    let requests = server.requests();
    assert!(requests[1].starts_with("GET /.well-known/oauth-protected-resource/mcp "));
    assert!(requests[2].starts_with("GET /.well-known/oauth-protected-resource "));
    Ok(())
}

#[test]
fn a_callback_url_off_loopback_is_an_options_error_and_nothing_is_sent() -> TestResult {
    let server = canned(
        PRM,
        r#"{"issuer":"{url}","authorization_endpoint":"{url}/auth","token_endpoint":"{url}/token","registration_endpoint":"{url}/reg","code_challenge_methods_supported":["S256"]}"#,
    );
    let home = tempfile::tempdir()?;
    let url = format!("{}/mcp", server.url);
    let options = LoginOptions::new().callback_url("http://example.test/callback");
    match store(home.path()).login("s", &url, &options, &Recorded::default()) {
        Err(LoginError::Options(reason)) => assert!(reason.contains("loopback"), "{reason}"),
        other => panic!("expected an options error, got {other:?}"),
    }
    assert!(server.requests().is_empty(), "nothing was sent");
    Ok(())
}

#[test]
fn login_options_debug_never_shows_the_client_secret() {
    let options = LoginOptions::new().client("c", Some("s3cr3t-value".to_owned().into()));
    assert!(!format!("{options:?}").contains("s3cr3t-value"));
}

#[test]
fn a_browser_login_through_the_library_saves_the_grant_and_the_registration() -> TestResult {
    use oauth_store_testkit::peers::{McpServer, Peer, chromium, mcp_server_available};
    if !mcp_server_available() {
        return Ok(());
    }
    let Some(browser) = chromium() else {
        return Ok(());
    };
    let peer = Peer::start(60);
    let mcp = McpServer::start(&peer);
    let home = tempfile::tempdir()?;
    let prompt = Recorded {
        browser: Some(browser),
        ..Recorded::default()
    };
    let options = LoginOptions::new().timeout(Duration::from_secs(60));
    let outcome = store(home.path()).login("peer", &mcp.url, &options, &prompt)?;
    assert_eq!(outcome.client_source, ClientSource::Registered);
    assert_eq!(outcome.issuer, peer.issuer);
    assert!(outcome.refresh_token);
    let saved = store(home.path())
        .handle("peer", &mcp.url)
        .load()?
        .expect("saved");
    assert_eq!(saved.client_id, outcome.client_id);
    assert_eq!(saved.issuer.as_deref(), Some(peer.issuer.as_str()));
    let url = prompt.urls.lock().expect("urls")[0].clone();
    assert!(url.contains("code_challenge_method=S256"), "{url}");

    // Again: the stored registration is reused.
    let prompt = Recorded {
        browser: prompt.browser.clone(),
        ..Recorded::default()
    };
    let again = store(home.path()).login("peer", &mcp.url, &options, &prompt)?;
    assert_eq!(again.client_source, ClientSource::Stored);
    assert_eq!(again.client_id, outcome.client_id);
    Ok(())
}

#[test]
fn the_bearer_challenge_is_found_among_others_and_its_params_read() {
    let header = r#"Basic realm="a, Bearer b", Bearer realm="mcp", error="insufficient_scope", scope="mcp files:write", resource_metadata="https://h/.well-known/oauth-protected-resource/mcp""#;
    let challenge = BearerChallenge::parse(header).expect("bearer");
    assert_eq!(challenge.param("realm"), Some("mcp"));
    assert_eq!(challenge.param("scope"), Some("mcp files:write"));
    assert_eq!(
        challenge.param("resource_metadata"),
        Some("https://h/.well-known/oauth-protected-resource/mcp")
    );
    assert_eq!(
        BearerChallenge::parse("bearer").map(|c| c.param("scope").is_none()),
        Some(true)
    );
    assert_eq!(
        BearerChallenge::parse(r#"BEARER Scope=mcp,error="x\"y""#).map(|c| (
            c.param("scope").map(str::to_owned),
            c.param("error").map(str::to_owned)
        )),
        Some((Some("mcp".to_owned()), Some("x\"y".to_owned())))
    );
    assert!(BearerChallenge::parse(r#"Basic realm="bearer", DPoP algs="ES256""#).is_none());
}

proptest! {
    #[test]
    fn any_header_parses_without_panicking(header in any::<String>()) {
        let _ = BearerChallenge::parse(&header);
    }

    #[test]
    fn quoted_params_come_back_as_written(
        params in proptest::collection::vec(("[a-z_]{1,12}", "[ -~]{0,40}"), 0..6),
        before in proptest::option::of("[A-Za-z]{1,8}"),
    ) {
        let quoted = |v: &str| format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""));
        let list: Vec<String> = params.iter().map(|(n, v)| format!("{n}={}", quoted(v))).collect();
        let mut header = String::new();
        if let Some(scheme) = before.filter(|s| !s.eq_ignore_ascii_case("bearer")) {
            header.push_str(&format!("{scheme} realm=\"x, Bearer y\", "));
        }
        header.push_str("Bearer ");
        header.push_str(&list.join(", "));
        let challenge = BearerChallenge::parse(&header).expect("a bearer challenge");
        for (name, value) in &params {
            let first = params.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
            prop_assert_eq!(challenge.param(name), first, "{} in {}", name, value);
        }
    }
}

#[test]
fn a_client_id_metadata_document_is_the_client_when_the_server_supports_them() -> TestResult {
    let server = canned(
        PRM,
        r#"{"issuer":"{url}","authorization_endpoint":"{url}/auth","token_endpoint":"{url}/token","registration_endpoint":"{url}/reg","client_id_metadata_document_supported":true,"scopes_supported":["mcp","offline_access"],"code_challenge_methods_supported":["S256"]}"#,
    );
    let home = tempfile::tempdir()?;
    let url = format!("{}/mcp", server.url);
    let prompt = Recorded::default();
    let options = LoginOptions::new()
        .client_metadata_url("https://app.example.test/oauth/client.json")
        .timeout(Duration::from_secs(1));
    // Nobody follows the URL: the login times out, having registered nothing.
    match store(home.path()).login("s", &url, &options, &prompt) {
        Err(LoginError::TimedOut(1)) => {}
        other => panic!("expected a timeout, got {other:?}"),
    }
    let shown = prompt.urls.lock().expect("urls")[0].clone();
    assert!(
        shown.contains("client_id=https%3A%2F%2Fapp.example.test%2Foauth%2Fclient.json"),
        "{shown}"
    );
    // The challenge's scope (not the metadata's), plus offline_access (RFC 6749 form
    // encoding: spaces are `+`); the resource indicator; S256.
    assert!(shown.contains("scope=mcp+read+offline_access"), "{shown}");
    assert!(
        shown.contains(&format!("resource={}", form(&url))),
        "{shown}"
    );
    assert!(shown.contains("code_challenge_method=S256"), "{shown}");
    assert_eq!(server.requests().len(), 3, "no registration request");
    assert!(store(home.path()).handle("s", &url).load()?.is_none());
    Ok(())
}

/// `text` form-encoded as a URL query holds it.
fn form(text: &str) -> String {
    text.replace(':', "%3A").replace('/', "%2F")
}

/// A prompt for the device flow: keeps the user code it was shown.
#[derive(Default)]
struct DevicePrompt {
    shown: Mutex<Vec<(String, Option<String>, String)>>,
}

impl LoginPrompt for DevicePrompt {
    fn authorization_url(&self, url: &str) {
        panic!("no browser here: {url}");
    }

    fn device_code(&self, uri: &str, complete: Option<&str>, user_code: &str) {
        self.shown.lock().expect("shown").push((
            uri.to_owned(),
            complete.map(str::to_owned),
            user_code.to_owned(),
        ));
    }
}

#[test]
fn device_polling_waits_the_interval_and_five_seconds_more_after_slow_down() -> TestResult {
    let server = CannedServer::start_with(|url| {
        let asm = r#"{"issuer":"{url}","authorization_endpoint":"{url}/auth","token_endpoint":"{url}/token","device_authorization_endpoint":"{url}/device/auth","code_challenge_methods_supported":["S256"]}"#;
        vec![
            json_answer(
                "401 Unauthorized",
                &format!("WWW-Authenticate: Bearer resource_metadata=\"{url}/prm\"\r\n"),
                "{}",
            ),
            json_answer("200 OK", "", &PRM.replace("{url}", url)),
            json_answer("200 OK", "", &asm.replace("{url}", url)),
            json_answer(
                "200 OK",
                "",
                &format!(
                    r#"{{"device_code":"dc-secret-1","user_code":"WDJB-MJHT","verification_uri":"{url}/device","expires_in":60,"interval":1}}"#
                ),
            ),
            json_answer(
                "400 Bad Request",
                "",
                r#"{"error":"authorization_pending"}"#,
            ),
            json_answer("400 Bad Request", "", r#"{"error":"slow_down"}"#),
            json_answer(
                "200 OK",
                "",
                r#"{"access_token":"at-device","token_type":"Bearer","expires_in":3600,"refresh_token":"rt-device","scope":"mcp"}"#,
            ),
        ]
    });
    let home = tempfile::tempdir()?;
    let url = format!("{}/mcp", server.url);
    let prompt = DevicePrompt::default();
    let options = LoginOptions::new()
        .device(true)
        .client("device-client", None)
        .timeout(Duration::from_secs(60));
    let started = std::time::Instant::now();
    let outcome = store(home.path()).login("s", &url, &options, &prompt)?;
    let took = started.elapsed();
    // Polls at about 1 s (pending), 2 s (slow_down), then 2 + 1 + 5 = 8 s: never sooner.
    assert!(
        took >= Duration::from_millis(7_900),
        "polled too soon: {took:?}"
    );
    assert_eq!(outcome.client_source, ClientSource::PreRegistered);
    assert!(outcome.refresh_token);
    let shown = prompt.shown.lock().expect("shown").clone();
    assert_eq!(
        shown,
        [(
            format!("{}/device", server.url),
            None,
            "WDJB-MJHT".to_owned()
        )]
    );
    let requests = server.requests();
    assert!(
        requests[3].starts_with("POST /device/auth "),
        "{}",
        requests[3]
    );
    assert!(
        requests[3].contains("client_id=device-client"),
        "{}",
        requests[3]
    );
    assert!(requests[3].contains("resource="), "{}", requests[3]);
    for poll in &requests[4..7] {
        assert!(poll.starts_with("POST /token "), "{poll}");
        assert!(
            poll.contains("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code"),
            "{poll}"
        );
        assert!(poll.contains("device_code=dc-secret-1"), "{poll}");
        assert!(poll.contains("resource="), "{poll}");
    }
    let saved = store(home.path()).handle("s", &url).load()?.expect("saved");
    assert_eq!(saved.client_id, "device-client");
    assert_eq!(saved.scopes, ["mcp"]);
    server.finish();
    Ok(())
}

/// A device login whose timeout (2 s) is shorter than the interval (5 s): `answers`
/// are the token endpoint's, in order.
fn device_login_shorter_than_the_interval(
    answers: &[&str],
) -> Result<(Result<oauth_store::LoginOutcome, LoginError>, Duration), Box<dyn std::error::Error>> {
    let answers: Vec<String> = answers.iter().map(|a| (*a).to_owned()).collect();
    let server = CannedServer::start_with(move |url| {
        let asm = r#"{"issuer":"{url}","token_endpoint":"{url}/token","device_authorization_endpoint":"{url}/device/auth","code_challenge_methods_supported":["S256"]}"#;
        let mut script = vec![
            json_answer(
                "401 Unauthorized",
                &format!("WWW-Authenticate: Bearer resource_metadata=\"{url}/prm\"\r\n"),
                "{}",
            ),
            json_answer("200 OK", "", &PRM.replace("{url}", url)),
            json_answer("200 OK", "", &asm.replace("{url}", url)),
            json_answer(
                "200 OK",
                "",
                &format!(
                    r#"{{"device_code":"dc","user_code":"AAAA-BBBB","verification_uri":"{url}/device","expires_in":60,"interval":5}}"#
                ),
            ),
        ];
        for answer in &answers {
            script.push(if answer.contains("access_token") {
                json_answer("200 OK", "", answer)
            } else {
                json_answer("400 Bad Request", "", answer)
            });
        }
        script
    });
    let home = tempfile::tempdir()?;
    let url = format!("{}/mcp", server.url);
    let options = LoginOptions::new()
        .device(true)
        .client("device-client", None)
        .timeout(Duration::from_secs(2));
    let started = std::time::Instant::now();
    let result = store(home.path()).login("s", &url, &options, &DevicePrompt::default());
    Ok((result, started.elapsed()))
}

#[test]
fn a_device_login_polls_once_at_the_deadline_when_the_interval_would_pass_it() -> TestResult {
    // Approved before the deadline: the one poll, cut to the 2 s left, gets the token.
    let (result, took) = device_login_shorter_than_the_interval(&[
        r#"{"access_token":"at-device","token_type":"Bearer","expires_in":3600,"scope":"mcp"}"#,
    ])?;
    assert!(result.is_ok(), "{result:?}");
    assert!(
        took >= Duration::from_millis(1_900),
        "polled too soon: {took:?}"
    );
    // Never approved: that poll is pending, then the login stops, saying the device
    // code was not approved in time.
    let (result, took) =
        device_login_shorter_than_the_interval(&[r#"{"error":"authorization_pending"}"#])?;
    match result {
        Err(error @ LoginError::DeviceTimedOut(2)) => {
            assert!(
                error.to_string().contains("not approved in time"),
                "{error}"
            );
        }
        other => panic!("expected DeviceTimedOut(2), got {other:?}"),
    }
    assert!(
        took < Duration::from_secs(4),
        "waited past the deadline: {took:?}"
    );
    Ok(())
}

#[test]
fn a_device_code_that_expires_before_approval_stops_the_login_and_saves_nothing() -> TestResult {
    let server = CannedServer::start_with(|url| {
        let asm = r#"{"issuer":"{url}","token_endpoint":"{url}/token","device_authorization_endpoint":"{url}/device/auth","code_challenge_methods_supported":["S256"]}"#;
        vec![
            json_answer(
                "401 Unauthorized",
                &format!("WWW-Authenticate: Bearer resource_metadata=\"{url}/prm\"\r\n"),
                "{}",
            ),
            json_answer("200 OK", "", &PRM.replace("{url}", url)),
            json_answer("200 OK", "", &asm.replace("{url}", url)),
            json_answer(
                "200 OK",
                "",
                &format!(
                    r#"{{"device_code":"dc","user_code":"AAAA-BBBB","verification_uri":"{url}/device","verification_uri_complete":"{url}/device?user_code=AAAA-BBBB","expires_in":2,"interval":1}}"#
                ),
            ),
            json_answer(
                "400 Bad Request",
                "",
                r#"{"error":"authorization_pending"}"#,
            ),
            // The last poll, at the code's expiry (the sleep before it cut short).
            json_answer(
                "400 Bad Request",
                "",
                r#"{"error":"authorization_pending"}"#,
            ),
        ]
    });
    let home = tempfile::tempdir()?;
    let url = format!("{}/mcp", server.url);
    let prompt = DevicePrompt::default();
    let options = LoginOptions::new()
        .device(true)
        .client("device-client", None);
    match store(home.path()).login("s", &url, &options, &prompt) {
        Err(LoginError::Denied { error, .. }) => assert_eq!(error, "expired_token"),
        other => panic!("expected expired_token, got {other:?}"),
    }
    let shown = prompt.shown.lock().expect("shown").clone();
    assert_eq!(
        shown[0].1.as_deref(),
        Some(format!("{}/device?user_code=AAAA-BBBB", server.url).as_str())
    );
    assert!(store(home.path()).handle("s", &url).load()?.is_none());
    Ok(())
}
