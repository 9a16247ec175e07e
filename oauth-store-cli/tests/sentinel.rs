//! No token value in any output: every command, on success and failure paths, under
//! `RUST_LOG=trace`, with sentinel token values, prints none of them, except the access
//! token that `token` prints on stdout.

use std::time::Duration;

use oauth_store_testkit::{EndpointConfig, Fault};

use crate::util::{Home, Provider, Result, Run, finish, with};

/// Every token value, client secret and secret-named field of this test contains it.
const SENTINEL: &str = "SNTL";

/// Runs `args` in `home` under `RUST_LOG=trace`, optionally with stdin.
fn traced(home: &Home, args: &[&str], stdin: Option<&str>) -> Run {
    let mut cmd = home.command(args);
    cmd.env("RUST_LOG", "trace");
    finish(cmd, stdin)
}

/// The client's HTTP Basic credential (RFC 6749 section 2.3.1), as it would appear in a
/// logged Authorization header.
fn basic_credential() -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let input = b"cli-test:SNTL-client-secret";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    // Unpadded, and without its last character (which depends on what follows): a prefix
    // is enough to spot it.
    out.pop();
    out
}

/// Asserts no sentinel in the output of a command other than `token`.
#[track_caller]
fn clean(run: &Run, what: &str) {
    assert!(
        !run.stdout.contains(SENTINEL),
        "{what}: a token value on stdout:\n{}",
        run.stdout
    );
    assert!(
        !run.stderr.contains(SENTINEL),
        "{what}: a token value on stderr:\n{}",
        run.stderr
    );
    let basic = basic_credential();
    assert!(
        !run.stderr.contains(&basic),
        "{what}: the client secret (HTTP Basic) on stderr:\n{}",
        run.stderr
    );
}

/// Asserts `token` printed exactly one token (a sentinel value) on stdout and none on stderr.
#[track_caller]
fn only_the_token(run: &Run, what: &str) -> String {
    let token = run
        .stdout
        .strip_suffix('\n')
        .unwrap_or_else(|| panic!("{what}: {:?}", run.stdout));
    assert!(
        token.starts_with(SENTINEL) && !token.contains('\n'),
        "{what}: {:?}",
        run.stdout
    );
    assert!(
        !run.stderr.contains(SENTINEL),
        "{what}: a token value on stderr:\n{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains(&basic_credential()),
        "{what}: the client secret on stderr:\n{}",
        run.stderr
    );
    token.to_owned()
}

#[test]
fn the_basic_credential_is_what_a_wire_dump_shows() {
    // The dump that prompted the filter showed "Y2xpLXRlc3Q6U05UTC1jbGllbnQtc2VjcmV0".
    assert!("Y2xpLXRlc3Q6U05UTC1jbGllbnQtc2VjcmV0".starts_with(&basic_credential()));
}

#[test]
fn no_command_prints_a_token_value() -> Result {
    let config = EndpointConfig::default()
        .with_access_token_lifetime(Duration::from_secs(60))
        .with_token_prefix(SENTINEL);
    let provider = Provider::with(config, Some("SNTL-client-secret"));
    let home = Home::new();
    let server = provider.server();
    let mut response: serde_json::Value = serde_json::from_str(&provider.response(None))?;
    response["id_token"] = "SNTL-id-token".into();
    response["vendor_secret_blob"] = serde_json::json!({"inner": "SNTL-inner"});
    let response = response.to_string();

    // import, then every reading command, text and JSON.
    for json in [false, true] {
        let flag: &[&str] = if json { &["--json"] } else { &[] };
        clean(
            &traced(
                &home,
                &with(&with(&["import"], &server), flag),
                Some(&response),
            )
            .expect(0),
            "import",
        );
        clean(
            &traced(&home, &with(&["list"], flag), None).expect(0),
            "list",
        );
        clean(
            &traced(&home, &with(&with(&["show"], &server), flag), None).expect(0),
            "show",
        );
        clean(
            &traced(&home, &with(&with(&["key"], &server), flag), None).expect(0),
            "key",
        );
        clean(
            &traced(&home, &with(&["doctor"], flag), None).expect(0),
            "doctor",
        );
        clean(
            &traced(&home, &with(&["repair"], flag), None).expect(0),
            "repair (healthy)",
        );
        clean(
            &traced(&home, &with(&["migrate", "--to", "file"], flag), None).expect(0),
            "migrate",
        );
        clean(
            &traced(&home, &with(&["migrate", "--to", "secrets"], flag), None).expect(4),
            "migrate into a Secrets store that cannot be used",
        );
        let fresh = only_the_token(
            &traced(&home, &with(&with(&["token"], &server), flag), None).expect(0),
            "token",
        );
        assert_eq!(fresh, provider.grant.access_token);
    }

    // Refresh paths: due, forced, then a token refreshed on the way.
    clean(
        &traced(&home, &with(&["refresh", "--force"], &server), None).expect(0),
        "refresh --force",
    );
    clean(
        &traced(
            &home,
            &with(&["refresh", "--force", "--json"], &server),
            None,
        )
        .expect(0),
        "refresh --force --json",
    );
    clean(
        &traced(&home, &with(&["refresh"], &server), None).expect(0),
        "refresh",
    );
    let refreshed = only_the_token(
        &traced(
            &home,
            &with(&["token", "--min-valid", "120"], &server),
            None,
        )
        .expect(0),
        "token (refreshing)",
    );
    assert!(provider.endpoint.access_token_is_active(&refreshed));
    // `headers`: the same token, as the one header on stdout, refreshed the same way.
    let headers = traced(
        &home,
        &with(&["headers", "--min-valid", "120"], &server),
        None,
    )
    .expect(0);
    clean(
        &Run {
            code: headers.code,
            stdout: String::new(),
            stderr: headers.stderr.clone(),
        },
        "headers (stderr)",
    );
    let object = headers.json();
    let bearer = object["Authorization"].as_str().expect("Authorization");
    let header_token = bearer.strip_prefix("Bearer ").expect("Bearer");
    assert!(header_token.starts_with(SENTINEL) && header_token != refreshed);
    assert_eq!(object.as_object().map(|o| o.len()), Some(1));
    assert!(provider.endpoint.access_token_is_active(header_token));

    // Provider failures while the token is valid: printed with a warning.
    for fault in [Fault::Status500, Fault::Status429, Fault::Unreachable] {
        provider.endpoint.set_fault(Some(fault));
        let run = traced(
            &home,
            &with(&["token", "--min-valid", "120"], &server),
            None,
        )
        .expect(0);
        only_the_token(&run, &format!("token under {fault:?}"));
        clean(
            &traced(&home, &with(&["refresh", "--force"], &server), None).expect(5),
            &format!("refresh under {fault:?}"),
        );
        clean(
            &traced(
                &home,
                &with(&["refresh", "--force", "--json"], &server),
                None,
            )
            .expect(5),
            &format!("refresh --json under {fault:?}"),
        );
    }
    // A garbled 200 (indeterminate): the body holds the new tokens and is never logged.
    // The provider did rotate, so this grant is spent from here on.
    provider.endpoint.set_fault(Some(Fault::UnparsableSuccess));
    let run = traced(
        &home,
        &with(&["token", "--min-valid", "120"], &server),
        None,
    )
    .expect(0);
    only_the_token(&run, "token under UnparsableSuccess");
    provider.endpoint.set_fault(Some(Fault::InvalidClient));
    clean(
        &traced(&home, &with(&["refresh", "--force"], &server), None).expect(3),
        "refresh, invalid_client",
    );
    clean(
        &traced(
            &home,
            &with(&["token", "--json", "--min-valid", "120"], &server),
            None,
        )
        .expect(3),
        "token, invalid_client",
    );
    provider.endpoint.set_fault(None);

    // Bad input that holds sentinels: the errors name fields and positions only.
    for bad in [
        r#"{"access_token":"SNTL-cut"#,
        r#""SNTL-a-string""#,
        r#"{"access_token":"SNTL-a","client_secret":["SNTL-b"]}"#,
        r#"{"access_token":"SNTL-a","expires_in":"SNTL-c"}"#,
        r#"{"access_token":"SNTL-a","refresh_token":7}"#,
        r#"["SNTL-in-an-array"]"#,
    ] {
        clean(
            &traced(&home, &with(&["import"], &server), Some(bad)).expect(2),
            &format!("import {bad}"),
        );
        clean(
            &traced(&home, &with(&["import", "--json"], &server), Some(bad)).expect(2),
            &format!("import --json {bad}"),
        );
    }

    // A corrupt document full of tokens: every command that reads it, then repair.
    let document = std::fs::read_to_string(home.document())?;
    let cut = &document[..document
        .find("SNTLrt_")
        .expect("a refresh token in the document")
        + 8];
    std::fs::write(home.document(), cut)?;
    for args in [
        vec!["list"],
        with(&["show"], &server),
        with(&["token"], &server),
        with(&["refresh", "--force"], &server),
    ] {
        clean(
            &traced(&home, &args, None).expect(4),
            &format!("{args:?} on a corrupt document"),
        );
        clean(
            &traced(&home, &with(&args, &["--json"]), None).expect(4),
            &format!("{args:?} --json on a corrupt document"),
        );
    }
    clean(
        &traced(&home, &["doctor"], None).expect(6),
        "doctor on a corrupt document",
    );
    clean(&traced(&home, &["repair"], None).expect(0), "repair");
    clean(
        &traced(&home, &with(&["import"], &server), Some(&response)).expect(0),
        "import after repair",
    );

    // A rejected grant drops the tokens; then authorization is required.
    provider.endpoint.set_fault(Some(Fault::InvalidGrant));
    clean(
        &traced(&home, &with(&["refresh", "--force"], &server), None).expect(3),
        "refresh, invalid_grant",
    );
    clean(
        &traced(&home, &with(&["token"], &server), None).expect(3),
        "token after a rejected grant",
    );
    clean(
        &traced(&home, &with(&["show", "--json"], &server), None).expect(0),
        "show after a rejected grant",
    );
    provider.endpoint.set_fault(None);

    // Logout with revocation, then nothing stored.
    clean(
        &traced(&home, &with(&["import"], &server), Some(&response)).expect(0),
        "import again",
    );
    clean(
        &traced(&home, &with(&["logout", "--revoke"], &server), None).expect(0),
        "logout --revoke",
    );
    clean(
        &traced(
            &home,
            &with(&["logout", "--revoke", "--json"], &server),
            None,
        )
        .expect(0),
        "logout, nothing stored",
    );
    clean(
        &traced(&home, &with(&["token"], &server), None).expect(3),
        "token, nothing stored",
    );

    // An unreachable provider and an expired token.
    clean(
        &traced(&home, &with(&["import"], &server), Some(&response)).expect(0),
        "import once more",
    );
    let expired = response.replace("\"expires_in\":60", "\"expires_in\":0");
    assert_ne!(expired, response);
    clean(
        &traced(&home, &with(&["import"], &server), Some(&expired)).expect(0),
        "import expired",
    );
    let server: Vec<String> = server.iter().map(|s| (*s).to_owned()).collect();
    drop(provider);
    let server: Vec<&str> = server.iter().map(String::as_str).collect();
    clean(
        &traced(&home, &with(&["token"], &server), None).expect(5),
        "token, provider gone",
    );
    clean(
        &traced(&home, &with(&["logout", "--revoke"], &server), None).expect(0),
        "logout --revoke, provider gone",
    );
    Ok(())
}
