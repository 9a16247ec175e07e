//! A hostile provider and hostile input (issue 19), through the binary: answers the
//! testkit endpoint is scripted to give, and token responses to `import`. Each case
//! ends in a typed error or safe behaviour, loses nothing, and prints no secret.

use std::time::{Duration, Instant};

use oauth_store_testkit::{EndpointConfig, ScriptedAnswer};
use serde_json::json;

use crate::util::{Home, Provider, Result, Run, SERVER, finish, with};

/// A provider whose tokens all start with `SNTL`, a confidential client, and a home
/// holding its grant with the access token already due.
fn setup() -> (Provider, Home) {
    let provider = Provider::with(
        EndpointConfig::default().with_token_prefix("SNTL-"),
        Some("SNTL-client+secret/="),
    );
    let home = Home::new();
    provider.import(&home, Some(-60));
    (provider, home)
}

/// `args` under `RUST_LOG=trace`.
fn traced(home: &Home, args: &[&str]) -> Run {
    let mut cmd = home.command(args);
    cmd.env("RUST_LOG", "trace");
    finish(cmd, None)
}

/// Asserts that no sentinel value shows anywhere in the run's output.
#[track_caller]
fn clean(run: &Run, what: &str) {
    for (stream, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        assert!(
            !text.contains("SNTL"),
            "{what}: a secret on {stream}:\n{text}"
        );
        assert!(
            !text.contains("SNTL-client%2Bsecret"),
            "{what}: the form-encoded secret on {stream}:\n{text}"
        );
    }
}

/// The document's entries, each checked to hold no member twice.
#[track_caller]
fn entries_once(home: &Home) -> serde_json::Value {
    let text = std::fs::read_to_string(home.document()).expect("document");
    let document: serde_json::Value = serde_json::from_str(&text).expect("document parses");
    for (key, entry) in document.as_object().expect("an object") {
        // Find each entry's text in the document and look for repeated members there.
        let start = text.find(&format!("{}:", json!(key))).expect("key") + key.len() + 3;
        let raw: &serde_json::value::RawValue = serde_json::Deserializer::from_str(&text[start..])
            .into_iter::<&serde_json::value::RawValue>()
            .next()
            .expect("entry")
            .expect("entry parses");
        assert!(
            oauth_store::store_core::repeated_members(raw.get()).is_empty(),
            "{key}: a member twice in {}",
            raw.get()
        );
        assert!(entry.is_object());
    }
    document
}

/// The stored refresh token of the provider's credential.
fn stored_refresh_token(home: &Home) -> String {
    let document = entries_once(home);
    let entry = document
        .as_object()
        .and_then(|o| o.values().next())
        .expect("one entry");
    entry["refresh_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Issue 19 item 1: Strava answers `expires_at` (seconds since the epoch) beside
/// `expires_in`; the entry stays readable by every command and holds each member once.
#[test]
fn a_refresh_answer_with_record_field_names_leaves_a_readable_entry() -> Result {
    let (provider, home) = setup();
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    provider.endpoint.script(
        "/token",
        ScriptedAnswer::json(
            200,
            &json!({
                "token_type": "Bearer", "access_token": "SNTL-strava-at", "expires_in": 21600,
                "expires_at": now_s + 21600, "refresh_token": "SNTL-strava-rt",
                "athlete": {"id": 1}, "client_id": "evil", "issuer": "https://evil.example",
                "scopes": ["x"], "updated_at": 1, "server_url": "https://evil.example/mcp",
            }),
        ),
    );
    let token = home.run(&with(&["token"], &provider.server())).expect(0);
    assert_eq!(token.stdout, "SNTL-strava-at\n");
    assert_eq!(stored_refresh_token(&home), "SNTL-strava-rt");
    let show = home
        .run(&with(&["show", "--json"], &provider.server()))
        .expect(0);
    clean(&show, "show");
    let shown = show.json();
    assert_eq!(
        shown["client_id"], "cli-test",
        "the registration is untouched: {shown}"
    );
    assert_eq!(shown["issuer"], provider.endpoint.issuer());
    assert_eq!(shown["athlete"]["id"], 1);
    home.run(&with(&["show"], &provider.server())).expect(0);
    home.run(&with(&["refresh", "--force"], &provider.server()))
        .expect(0);
    home.run(&["list"]).expect(0);
    entries_once(&home);
    Ok(())
}

/// Issue 19 item 1, on import; and an entry an older version already broke that way is
/// read (the last occurrence wins) and `repair` rewrites it.
#[test]
fn import_with_record_field_names_and_an_entry_already_broken() -> Result {
    let home = Home::new();
    home.run_with_stdin(
        &with(&["import"], &SERVER),
        r#"{"access_token":"x","expires_at":1,"updated_at":2,"scopes":["a"]}"#,
    )
    .expect(0);
    entries_once(&home);
    let show = home
        .run(&with(&["show", "--json"], &SERVER))
        .expect(0)
        .json();
    assert_eq!(
        show["expires_at"], 1000,
        "seconds since the epoch, as ms: {show}"
    );
    assert_eq!(show["scopes"], json!(["a"]));
    home.run(&["list"]).expect(0);

    // What an older version wrote: `expires_at` twice.
    let text = std::fs::read_to_string(home.document())?;
    let broken = text.replacen(
        r#""scopes":["a"]"#,
        r#""scopes":["a"],"expires_at":9999999999999"#,
        1,
    );
    assert_ne!(broken, text);
    std::fs::write(home.document(), &broken)?;
    let show = home
        .run(&with(&["show", "--json"], &SERVER))
        .expect(0)
        .json();
    assert_eq!(
        show["expires_at"], 9_999_999_999_999_u64,
        "the last occurrence wins"
    );
    home.run(&with(&["token"], &SERVER)).expect(0);
    let repaired = home.run(&["repair"]).expect(0);
    assert!(
        repaired.stdout.contains("rewrote 1 entry"),
        "{}",
        repaired.stdout
    );
    entries_once(&home);
    let show = home
        .run(&with(&["show", "--json"], &SERVER))
        .expect(0)
        .json();
    assert_eq!(show["expires_at"], 9_999_999_999_999_u64);
    Ok(())
}

/// Issue 19 item 2: the description splits the refresh token with a control character;
/// the shown text never holds it, in text and `--json`, for `invalid_grant` too.
#[test]
fn error_descriptions_show_no_secret_however_split() -> Result {
    let (provider, home) = setup();
    let rt = provider.grant.refresh_token.clone();
    let secret = provider.client_secret.clone().unwrap_or_default();
    for (status, error) in [
        (400, "invalid_request"),
        (401, "invalid_client"),
        (400, "invalid_grant"),
    ] {
        for cut in ["\u{1}", "\u{200b}", "\u{1b}"] {
            let description = format!(
                "bad {}{cut}{} and {}{cut}{}",
                &rt[..1],
                &rt[1..],
                &secret[..1],
                &secret[1..]
            );
            provider.endpoint.script(
                "/token",
                ScriptedAnswer::json(
                    status,
                    &json!({"error": error, "error_description": description}),
                ),
            );
            for json_flag in [false, true] {
                let mut args = vec!["refresh", "--force"];
                if json_flag {
                    args.push("--json");
                }
                let run = traced(&home, &with(&args, &provider.server()));
                clean(&run, &format!("{error} {cut:?} json={json_flag}"));
                assert!(run.stderr.contains("<redacted>"), "{}", run.stderr);
                assert!(!run.stderr.contains('\u{1b}'), "{:?}", run.stderr);
                if error == "invalid_grant" {
                    // Rejected: the tokens were dropped once; re-import for the next round.
                    run.expect(3);
                    provider.import(&home, Some(-60));
                } else {
                    run.expect_any(&[3, 5]);
                    assert_eq!(stored_refresh_token(&home), rt, "nothing lost");
                }
            }
        }
    }
    Ok(())
}

/// Issue 19 item 3: a revocation endpoint echoing the refresh token in its `error`.
#[test]
fn logout_revoke_never_prints_an_echoed_token() -> Result {
    let (provider, home) = setup();
    let rt = provider.grant.refresh_token.clone();
    provider
        .endpoint
        .script("/revoke", ScriptedAnswer::json(400, &json!({"error": rt})));
    for json_flag in [false, true] {
        let mut args = vec!["logout", "--revoke"];
        if json_flag {
            args.push("--json");
        }
        let run = traced(&home, &with(&args, &provider.server())).expect(0);
        clean(&run, "logout --revoke");
        assert!(
            run.stderr.contains("revocation at the provider failed"),
            "{}",
            run.stderr
        );
        provider.import(&home, Some(-60));
    }
    Ok(())
}

/// Issue 19 items 4 and 5: tokens that would forge a header or a terminal line, or are
/// empty, are a provider error (exit 5) and nothing is saved; on `import` a usage error.
#[test]
fn tokens_outside_their_character_sets_are_refused_and_nothing_is_saved() -> Result {
    let (provider, home) = setup();
    let before = std::fs::read_to_string(home.document())?;
    for body in [
        json!({"access_token": "AT-good\r\nX-Injected: evil", "refresh_token": "SNTL-2"}),
        json!({"access_token": "AT-good\u{1b}]0;evil\u{7}", "refresh_token": "SNTL-2"}),
        json!({"access_token": "", "refresh_token": "SNTL-2"}),
        json!({"access_token": "AT-2", "refresh_token": "SNTL\r\nevil"}),
    ] {
        provider
            .endpoint
            .script("/token", ScriptedAnswer::json(200, &body));
        let run = home.run(&with(&["token"], &provider.server())).expect(5);
        assert!(run.stdout.is_empty(), "{body}: {}", run.stdout);
        assert!(
            !run.stderr.contains("evil") && !run.stderr.contains("AT-"),
            "{}",
            run.stderr
        );
        assert_eq!(
            std::fs::read_to_string(home.document())?,
            before,
            "nothing saved"
        );
    }
    for body in [
        r#"{"access_token":"AT-good\r\nX-Injected: evil"}"#,
        r#"{"access_token":""}"#,
        r#"{"access_token":"a b"}"#,
        r#"{"access_token":"a","refresh_token":"r\u0000"}"#,
    ] {
        let run = home
            .run_with_stdin(&with(&["import"], &provider.server()), body)
            .expect(2);
        assert!(run.stderr.contains("_token"), "{}", run.stderr);
        assert!(!run.stderr.contains("evil"), "{}", run.stderr);
    }
    assert_eq!(
        std::fs::read_to_string(home.document())?,
        before,
        "nothing saved"
    );

    // A token another program wrote into the document is not printed either (exit 4:
    // the stored credential is unusable as it is).
    provider.endpoint.unscript("/token");
    provider.import(&home, Some(3600));
    let text = std::fs::read_to_string(home.document())?;
    let forged = text.replacen(
        &provider.grant.access_token,
        "AT-good\\r\\nX-Injected: evil",
        1,
    );
    assert_ne!(forged, text);
    std::fs::write(home.document(), forged)?;
    let run = home.run(&with(&["token"], &provider.server())).expect(4);
    assert!(
        run.stdout.is_empty() && !run.stderr.contains("evil"),
        "{run:?}"
    );
    assert!(run.stderr.contains("b64token"), "{}", run.stderr);
    Ok(())
}

/// Issue 19 item 11: an absurd `expires_in` is clamped to 10 years; a negative one is
/// expired.
#[test]
fn expires_in_is_clamped_and_negative_is_expired() -> Result {
    let home = Home::new();
    home.run_with_stdin(
        &with(&["import"], &SERVER),
        r#"{"access_token":"a","expires_in":1e308}"#,
    )
    .expect(0);
    let show = home.run(&with(&["show"], &SERVER)).expect(0);
    assert!(
        show.stdout.contains("expires: in 3649d") || show.stdout.contains("expires: in 3650d"),
        "{}",
        show.stdout
    );
    home.run_with_stdin(
        &with(&["import"], &SERVER),
        r#"{"access_token":"a","expires_in":-5}"#,
    )
    .expect(0);
    let show = home
        .run(&with(&["show", "--json"], &SERVER))
        .expect(0)
        .json();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as u64;
    assert!(
        show["expires_at"].as_u64().expect("an expiry") <= now_ms,
        "{show}"
    );
    Ok(())
}

/// Issue 19 item 8: an issuer whose metadata URLs never answer bounds `token` by
/// `--http-timeout` (discovery gets half), and the next process does not ask again.
#[test]
fn discovery_that_never_answers_is_bounded_and_remembered_across_processes() -> Result {
    let provider = Provider::start(Duration::from_secs(3600));
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        provider.endpoint.script(
            path,
            ScriptedAnswer::new(200, "{}").delay(Duration::from_secs(600)),
        );
    }
    let home = Home::new();
    let response = json!({
        "access_token": provider.grant.access_token, "refresh_token": provider.grant.refresh_token,
        "expires_in": -60, "client_id": provider.client_id, "issuer": provider.endpoint.issuer(),
    });
    home.run_with_stdin(
        &with(&["import"], &provider.server()),
        &response.to_string(),
    )
    .expect(0);
    let started = Instant::now();
    let run = home
        .run(&with(&["--http-timeout", "8", "token"], &provider.server()))
        .expect(5);
    let took = started.elapsed();
    // Discovery gets half of --http-timeout: about 4 s here, where the issue saw 92 s.
    assert!(
        took < Duration::from_secs(8 + 5),
        "bounded by --http-timeout: {took:?}"
    );
    assert!(run.stderr.contains("discover"), "{}", run.stderr);
    let asked = provider
        .endpoint
        .hits("/.well-known/oauth-authorization-server");
    assert_eq!(asked, 1);

    let started = Instant::now();
    let run = home
        .run(&with(&["--http-timeout", "8", "token"], &provider.server()))
        .expect(5);
    let again = started.elapsed();
    assert!(run.stderr.contains("remembered"), "{}", run.stderr);
    // Well under the 4 s that asking again would have waited.
    assert!(again < Duration::from_secs(3), "{again:?}");
    assert_eq!(
        provider
            .endpoint
            .hits("/.well-known/oauth-authorization-server"),
        asked
    );
    assert_eq!(provider.endpoint.counters().token_requests, 0);
    assert_eq!(
        stored_refresh_token(&home),
        provider.grant.refresh_token,
        "nothing lost"
    );
    Ok(())
}

/// `logout --revoke` at a revocation endpoint that never answers: bounded by
/// `--revoke-timeout`, and the local copy is removed anyway.
#[test]
fn logout_revoke_is_bounded_by_the_revoke_timeout() -> Result {
    let (provider, home) = setup();
    provider.endpoint.script(
        "/revoke",
        ScriptedAnswer::new(200, "").delay(Duration::from_secs(600)),
    );
    let started = Instant::now();
    let run = home
        .run(&with(
            &["--revoke-timeout", "1", "logout", "--revoke"],
            &provider.server(),
        ))
        .expect(0);
    assert!(
        started.elapsed() < Duration::from_secs(1 + 5),
        "{:?}",
        started.elapsed()
    );
    assert!(
        run.stderr.contains("revocation at the provider failed"),
        "{}",
        run.stderr
    );
    assert!(!home.document().exists(), "removed anyway");
    Ok(())
}
