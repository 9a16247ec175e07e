use std::collections::BTreeMap;

use oauth_store_core::{
    Credential, ExposeSecret, MAX_EXPIRES_IN, REDACTED, SecretString,
    TokenEndpointAuthMethod as Method, TokenResponse, describe_json_error, is_secret_field,
    tokens_equal,
};
use proptest::prelude::*;
use serde_json::json;
use serde_json::value::RawValue;

use crate::TestResult;

// Values that must never show up in Debug output or error texts.
const AT: &str = "SENTINEL-ACCESS-7f3a";
const RT: &str = "SENTINEL-REFRESH-91bc";
const CS: &str = "SENTINEL-CLIENT-SECRET-0d4e";
const IDT: &str = "SENTINEL-ID-TOKEN-55aa";

fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

fn raw(json: &str) -> Box<RawValue> {
    RawValue::from_string(json.to_owned()).expect("test JSON is valid")
}

fn exposed(token: Option<&SecretString>) -> Option<&str> {
    token.map(|t| t.expose_secret())
}

fn assert_no_sentinel(text: &str) {
    for sentinel in [AT, RT, CS, IDT] {
        assert!(!text.contains(sentinel), "{sentinel} leaked into {text}");
    }
}

/// A record with every field set, its secrets being the sentinels.
fn full() -> Credential {
    Credential::builder("notion", "https://mcp.notion.com/mcp", secret(AT))
        .client_id("client-1")
        .client_secret(secret(CS))
        .token_endpoint_auth_method(Method::ClientSecretPost)
        .issuer("https://auth.example")
        .token_endpoint("https://auth.example/token")
        .token_type("Bearer")
        .refresh_token(secret(RT))
        .scopes(["read", "write"])
        .expires_at(5_000)
        .updated_at(4_000)
        .extra("kept", raw("[1, 2]"))
        .extra("id_token", raw(&format!("\"{IDT}\"")))
        .build()
}

fn extra_names(c: &Credential) -> Vec<&str> {
    c.extra.iter().map(|(name, _)| name.as_str()).collect()
}

/// Every field of a record, secrets exposed, extras as (name, raw text): what a
/// round trip must preserve.
fn fields(c: &Credential) -> String {
    let secret = |t: &Option<SecretString>| t.as_ref().map(|t| t.expose_secret().to_owned());
    let extra: Vec<_> = c.extra.iter().map(|(n, v)| (n, v.get())).collect();
    format!(
        "{:?}",
        (
            (
                &c.server_name,
                &c.server_url,
                &c.client_id,
                secret(&c.client_secret)
            ),
            (
                &c.token_endpoint_auth_method,
                &c.issuer,
                &c.token_endpoint,
                &c.token_type
            ),
            (
                c.access_token.expose_secret(),
                secret(&c.refresh_token),
                &c.scopes
            ),
            (c.expires_at, c.updated_at, extra),
        )
    )
}

#[test]
fn codex_fixture_entries_parse_and_reserialize_byte_exact() -> TestResult {
    let doc: BTreeMap<String, Box<RawValue>> =
        serde_json::from_str(include_str!("data/codex-credentials.json"))?;
    assert_eq!(doc.len(), 3);
    for (key, entry) in &doc {
        let record: Credential = serde_json::from_str(entry.get())?;
        assert_eq!(
            record.store_key().as_str(),
            key,
            "the document key is the store key"
        );
        assert_eq!(record.updated_at, None, "Codex does not write updated_at");
        // Codex's names and order, nulls where it writes them, unknown fields last.
        assert_eq!(serde_json::to_string(&record)?, entry.get(), "{key}");
    }

    let notion: Credential = serde_json::from_str(doc["notion|eac663db915250e7"].get())?;
    assert_eq!(notion.expires_at, Some(1_893_456_000_000));
    assert_eq!(
        exposed(notion.refresh_token.as_ref()),
        Some("fixture-refresh-token-notion")
    );
    assert_eq!(notion.scopes, ["read", "write"]);
    assert_eq!(
        notion.issuer.as_deref(),
        Some("https://auth.notion.example")
    );

    let linear: Credential = serde_json::from_str(doc["linear|47ba737bac765ed4"].get())?;
    assert_eq!(
        (linear.expires_at, linear.refresh_token.is_none()),
        (None, true)
    );
    assert!(linear.scopes.is_empty() && linear.issuer.is_none());

    let local: Credential = serde_json::from_str(doc["name with space|88e5fde71953b744"].get())?;
    assert_eq!(
        extra_names(&local),
        ["executor_owned", "x_field_from_a_newer_writer"]
    );
    assert_eq!(local.extra[0].1.get(), "true");
    assert_eq!(local.extra[1].1.get(), r#"{"nested":[1,2,3],"flag":false}"#);
    // Rebuilt from a `Value`, unknown fields survive but not byte-exact (a Limitation).
    let rebuilt: Credential = serde_json::from_value(serde_json::from_str(
        doc["name with space|88e5fde71953b744"].get(),
    )?)?;
    assert_eq!(extra_names(&rebuilt).len(), 2);
    Ok(())
}

#[test]
fn serialization_writes_codex_fields_then_ours_then_unknown_ones() -> TestResult {
    let bare = Credential::builder("s", "https://s.test", secret("at"))
        .client_id("c")
        .build();
    assert_eq!(
        serde_json::to_string(&bare)?,
        r#"{"server_name":"s","server_url":"https://s.test","client_id":"c","access_token":"at","expires_at":null,"refresh_token":null,"scopes":[]}"#
    );
    let mut record = full();
    record.access_token = secret("at");
    record.refresh_token = Some(secret("rt"));
    record.client_secret = Some(secret("cs"));
    record.extra[1].1 = raw(r#"{"z" : 1}"#);
    assert_eq!(
        serde_json::to_string(&record)?,
        concat!(
            r#"{"server_name":"notion","server_url":"https://mcp.notion.com/mcp","client_id":"client-1","#,
            r#""access_token":"at","expires_at":5000,"refresh_token":"rt","scopes":["read","write"],"#,
            r#""issuer":"https://auth.example","client_secret":"cs","token_endpoint_auth_method":"client_secret_post","#,
            r#""token_endpoint":"https://auth.example/token","token_type":"Bearer","updated_at":4000,"#,
            r#""kept":[1, 2],"id_token":{"z" : 1}}"#
        )
    );
    Ok(())
}

#[test]
fn wrongly_typed_fields_are_errors_naming_the_field_not_the_value() -> TestResult {
    let cases = [
        ("server_name", json!({ "v": AT })),
        ("server_url", json!([AT])),
        ("client_id", json!([AT])),
        ("client_secret", json!({ "v": CS })),
        ("token_endpoint_auth_method", json!([CS])),
        ("issuer", json!([AT])),
        ("access_token", json!([AT])),
        ("refresh_token", json!({ "v": RT })),
        ("scopes", json!(RT)),
        ("expires_at", json!(AT)),
        ("updated_at", json!(RT)),
    ];
    for (field, value) in cases {
        let mut record = json!({ "server_name": "s", "server_url": "u", "access_token": "a" });
        record[field] = value;
        let err = serde_json::from_str::<Credential>(&record.to_string())
            .expect_err("a wrongly typed field is an error");
        let text = err.to_string();
        assert!(text.contains(&format!("`{field}`")), "{text}");
        assert_no_sentinel(&text);
        assert_no_sentinel(&format!("{err:?}"));
    }
    // A record that is not an object at all (a bare token, say) is not quoted either.
    for not_an_object in [format!("\"{AT}\""), format!("[\"{RT}\"]")] {
        let err = serde_json::from_str::<Credential>(&not_an_object).expect_err("not an object");
        assert_no_sentinel(&err.to_string());
    }
    Ok(())
}

#[test]
fn a_duplicate_member_counts_by_its_last_occurrence_and_missing_fields_are_errors() -> TestResult {
    // As an older version wrote a refresh answer carrying `expires_at` (issue 19 item 1):
    // readable, the last one wins, and the record is written with each member once.
    let twice = format!(
        r#"{{"server_name":"s","server_url":"u","access_token":"{AT}","expires_at":5,"refresh_token":"{RT}","expires_at":"bad","id":1,"expires_at":7,"access_token":"at-2"}}"#
    );
    let record = serde_json::from_str::<Credential>(&twice)?;
    assert_eq!(record.expires_at, Some(7));
    assert_eq!(record.access_token.expose_secret(), "at-2");
    assert_eq!(exposed(record.refresh_token.as_ref()), Some(RT));
    assert_eq!(extra_names(&record), ["id"]);
    let written = serde_json::to_string(&record)?;
    assert!(
        oauth_store_core::repeated_members(&written).is_empty(),
        "{written}"
    );
    assert_eq!(
        oauth_store_core::repeated_members(&twice),
        ["expires_at", "access_token"]
    );
    // The last occurrence is still type-checked.
    let bad_last = r#"{"server_name":"s","server_url":"u","access_token":"a","expires_at":7,"expires_at":"x"}"#;
    let text = serde_json::from_str::<Credential>(bad_last)
        .expect_err("bad last")
        .to_string();
    assert!(text.contains("field `expires_at`"), "{text}");

    let missing = format!(r#"{{"server_name":"s","server_url":"u","refresh_token":"{RT}"}}"#);
    let text = serde_json::from_str::<Credential>(&missing)
        .expect_err("missing")
        .to_string();
    assert!(text.contains("missing field `access_token`"), "{text}");
    assert_no_sentinel(&text);
    Ok(())
}

#[test]
fn members_named_like_record_fields_never_become_unknown_fields() -> TestResult {
    // Strava answers `expires_at` (seconds since the epoch) beside `expires_in`; others
    // send registration or bookkeeping members. None is kept as an unknown field.
    let body = br#"{"access_token":"at-2","expires_in":60,"expires_at":1700000000,"client_id":"evil","issuer":"https://evil","scopes":["x"],"updated_at":1,"server_name":"other","server_url":"https://other","client_secret":"s","token_endpoint":"https://evil/token","token_endpoint_auth_method":"none","athlete":{"id":1}}"#;
    let mut record = full();
    record.apply_token_response(&TokenResponse::from_json(body)?, 1_000);
    assert_eq!(record.expires_at, Some(61_000), "expires_in wins");
    assert_eq!(
        (record.server_name.as_str(), record.server_url.as_str()),
        ("notion", "https://mcp.notion.com/mcp"),
        "the identity is untouched"
    );
    assert_eq!(record.client_id, "client-1");
    assert_eq!(record.issuer.as_deref(), Some("https://auth.example"));
    assert_eq!(
        record.scopes,
        ["x"],
        "scopes taken: the response has no scope"
    );
    assert_eq!(record.updated_at, Some(4_000));
    assert_eq!(exposed(record.client_secret.as_ref()), Some(CS));
    assert_eq!(extra_names(&record), ["kept", "id_token", "athlete"]);
    let written = serde_json::to_string(&record)?;
    assert!(
        oauth_store_core::repeated_members(&written).is_empty(),
        "{written}"
    );
    let again: Credential = serde_json::from_str(&written)?;
    assert_eq!(fields(&again), fields(&record));

    // Without expires_in / scope, a provider's expires_at (seconds, or ms from 1e11 on)
    // and scopes array are taken, clamped to MAX_EXPIRES_IN; unparsable ones dropped.
    let now = 1_700_000_000_000;
    for (value, expected) in [
        ("1700000060", Some(1_700_000_060_000)),
        ("1700000060000", Some(1_700_000_060_000)),
        ("1e308", Some(now + MAX_EXPIRES_IN * 1000)),
        ("-5", Some(0)),
        (r#""soon""#, None),
    ] {
        let body = format!(r#"{{"access_token":"a","expires_at":{value},"scopes":["p","q"]}}"#);
        let mut record = full();
        record.apply_token_response(&TokenResponse::from_json(body.as_bytes())?, now);
        assert_eq!(record.expires_at, expected, "{value}");
        assert_eq!(record.scopes, ["p", "q"]);
        assert!(!extra_names(&record).contains(&"expires_at"), "{value}");
    }

    // A record whose extras an older version filled with a record field's name: the
    // merge removes it, and serialization never writes it twice anyway.
    let mut record = full();
    record.extra.push(("expires_at".to_owned(), raw("1")));
    assert!(oauth_store_core::repeated_members(&serde_json::to_string(&record)?).is_empty());
    record.apply_token_response(
        &TokenResponse::from_json(br#"{"access_token":"b","expires_at":2}"#)?,
        0,
    );
    assert_eq!(
        (record.expires_at, extra_names(&record)),
        (Some(2_000), vec!["kept", "id_token"])
    );

    // The builder takes a record field's name as that field, or drops it.
    let built = Credential::builder("s", "u", secret("a"))
        .extra("expires_at", raw("9"))
        .extra("client_id", raw("[1]"))
        .build();
    assert_eq!((built.expires_at, built.client_id.as_str()), (Some(9), ""));
    assert!(built.extra.is_empty());
    Ok(())
}

#[test]
fn tokens_outside_their_character_sets_are_errors_naming_the_field_only() {
    for (body, field) in [
        (r#"{"access_token":""}"#.to_owned(), "access_token"),
        (
            format!(r#"{{"access_token":"{AT}\r\nX-Injected: evil"}}"#),
            "access_token",
        ),
        (
            format!(r#"{{"access_token":"{AT}\u001b]0;x\u0007"}}"#),
            "access_token",
        ),
        (format!(r#"{{"access_token":"{AT} x"}}"#), "access_token"),
        (format!(r#"{{"access_token":"a=b{AT}"}}"#), "access_token"),
        (format!(r#"{{"access_token":"{AT}é"}}"#), "access_token"),
        (
            r#"{"access_token":"a","refresh_token":""}"#.to_owned(),
            "refresh_token",
        ),
        (
            format!(r#"{{"access_token":"a","refresh_token":"{RT}\n"}}"#),
            "refresh_token",
        ),
        (
            format!(r#"{{"access_token":"a","refresh_token":"{RT}\u0000"}}"#),
            "refresh_token",
        ),
    ] {
        let err = TokenResponse::from_json(body.as_bytes()).expect_err(&body);
        let text = err.to_string();
        assert!(text.contains(&format!("`{field}`")), "{text}");
        assert_no_sentinel(&text);
    }
    // What RFC 6750 and RFC 6749 allow passes: base64url, dots, trailing '=', and a
    // refresh token with the punctuation Microsoft's carry.
    for body in [
        r#"{"access_token":"eyJh.eyJz.c2ln-_~+/=="}"#,
        r#"{"access_token":"a","refresh_token":"M.C5_BAY.0.U.-Cg!3z*x$$"}"#,
        r#"{"access_token":"a","refresh_token":null}"#,
    ] {
        assert!(TokenResponse::from_json(body.as_bytes()).is_ok(), "{body}");
    }
}

#[test]
fn debug_never_shows_a_token_or_secret() -> TestResult {
    let record = full();
    let response = TokenResponse::from_json(
        format!(r#"{{"access_token":"{AT}","refresh_token":"{RT}","id_token":"{IDT}","client_secret":"{CS}"}}"#)
            .as_bytes(),
    )?;
    let builder = Credential::builder("s", "u", secret(AT))
        .refresh_token(secret(RT))
        .client_secret(secret(CS));
    for text in [
        format!("{record:?}"),
        format!("{record:#?}"),
        format!("{response:?}"),
        format!("{builder:?}"),
    ] {
        assert_no_sentinel(&text);
        assert!(text.contains(REDACTED), "{text}");
    }
    assert!(
        format!("{record:?}").contains("id_token"),
        "extra fields are listed by name"
    );
    Ok(())
}

#[test]
fn redacted_json_hides_every_secret_field_at_any_depth() {
    let mut record = full();
    record.extra.push(("nested".to_owned(), raw(&format!(
        r#"{{"device_token":"{RT}","list":[{{"my_secret_value":"{CS}"}},{{"plain":"ok"}}],"secrets":{{"a":"{AT}"}}}}"#
    ))));
    let shown = record.to_redacted_json();
    assert_no_sentinel(&shown.to_string());
    for pointer in [
        "/access_token",
        "/refresh_token",
        "/client_secret",
        "/id_token",
        "/nested/device_token",
        "/nested/list/0/my_secret_value",
        "/nested/secrets",
    ] {
        assert_eq!(shown.pointer(pointer), Some(&json!(REDACTED)), "{pointer}");
    }
    // Names that merely start with `token` are not secrets.
    assert_eq!(shown["token_endpoint"], "https://auth.example/token");
    assert_eq!(shown["token_type"], "Bearer");
    assert_eq!(shown["nested"]["list"][1]["plain"], "ok");
    assert_eq!(shown["kept"], json!([1, 2]));

    // Nothing to hide stays as it is: a dropped record shows it has no tokens.
    record.drop_tokens();
    let shown = record.to_redacted_json();
    assert_eq!(
        (&shown["access_token"], &shown["refresh_token"]),
        (&json!(""), &json!(null))
    );

    for (name, secret) in [
        ("access_token", true),
        ("clientsecret", true),
        ("token_type", false),
        ("token_endpoint", false),
        ("token", false),
        ("idToken", true),
        ("ID_TOKEN", true),
        ("clientSecret", true),
        ("tokenType", false),
    ] {
        assert_eq!(is_secret_field(name), secret, "{name}");
    }
}

#[test]
fn effective_auth_method_is_recorded_else_basic_with_a_secret_else_none() -> TestResult {
    let public = Credential::builder("s", "u", secret("a")).build();
    assert_eq!(public.effective_auth_method(), Method::None);
    let mut confidential = public.clone();
    confidential.client_secret = Some(secret(CS));
    assert_eq!(
        confidential.effective_auth_method(),
        Method::ClientSecretBasic
    );
    for recorded in [
        Method::ClientSecretPost,
        Method::None,
        Method::Other("private_key_jwt".to_owned()),
    ] {
        confidential.token_endpoint_auth_method = Some(recorded.clone());
        assert_eq!(
            confidential.effective_auth_method(),
            recorded,
            "the recorded method wins"
        );
    }
    for name in [
        "none",
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
    ] {
        let method = Method::from_name(name);
        assert_eq!(
            (method.as_str(), method.to_string()),
            (name, name.to_owned())
        );
        assert_eq!(
            serde_json::from_str::<Method>(&serde_json::to_string(&method)?)?,
            method
        );
    }
    Ok(())
}

#[test]
fn is_due_and_expires_in_ms_at_the_boundaries() {
    let record = Credential::builder("s", "u", secret("a"))
        .expires_at(10_000)
        .build();
    assert!(!record.is_due(0, 9_999), "one ms more than needed");
    assert!(record.is_due(0, 10_000), "exactly min_valid_ms left is due");
    assert!(!record.is_due(9_999, 0));
    assert!(
        record.is_due(10_000, 0),
        "a token is expired at its expiry instant"
    );
    assert!(
        record.is_due(u64::MAX, u64::MAX),
        "now + min_valid saturates"
    );
    assert_eq!(record.expires_in_ms(3_000), Some(7_000));
    assert_eq!(record.expires_in_ms(10_000), Some(0));
    assert_eq!(record.expires_in_ms(12_500), Some(-2_500));

    let far = Credential::builder("s", "u", secret("a"))
        .expires_at(u64::MAX)
        .build();
    assert_eq!(far.expires_in_ms(0), Some(i64::MAX), "clamped, not wrapped");
    let past = Credential::builder("s", "u", secret("a"))
        .expires_at(0)
        .build();
    assert_eq!(past.expires_in_ms(u64::MAX), Some(i64::MIN));

    let unknown = Credential::builder("s", "u", secret("a")).build();
    assert!(
        !unknown.is_due(u64::MAX, u64::MAX),
        "unknown expiry is never due"
    );
    assert_eq!(unknown.expires_in_ms(0), None);
    let mut dropped = far.clone();
    dropped.drop_tokens();
    dropped.expires_at = Some(u64::MAX);
    assert!(
        dropped.is_due(0, 0),
        "a record without an access token is always due"
    );
}

#[test]
fn a_bare_response_replaces_the_access_token_and_keeps_the_rest() {
    let mut record = full();
    record.apply_token_response(&TokenResponse::new(secret("at-2")), 1_000);
    assert_eq!(record.access_token.expose_secret(), "at-2");
    assert_eq!(
        record.expires_at, None,
        "no expires_in means unknown expiry"
    );
    let mut expected = full();
    expected.access_token = secret("at-2");
    expected.expires_at = None;
    assert_eq!(fields(&record), fields(&expected));
}

#[test]
fn a_full_response_is_merged_field_by_field() -> TestResult {
    let mut record = full();
    let body = br#"{"access_token":"at-2","token_type":"DPoP","expires_in":"60","refresh_token":"rt-2","scope":"read  admin","id_token":"id-2","ext":{"a": 1}}"#;
    record.apply_token_response(&TokenResponse::from_json(body)?, 1_000);
    assert_eq!(record.access_token.expose_secret(), "at-2");
    assert_eq!(exposed(record.refresh_token.as_ref()), Some("rt-2"));
    assert_eq!(
        (record.expires_at, record.token_type.as_deref()),
        (Some(61_000), Some("DPoP"))
    );
    assert_eq!(record.scopes, ["read", "admin"]);
    assert_eq!(
        exposed(record.client_secret.as_ref()),
        Some(CS),
        "the registration is untouched"
    );
    assert_eq!(
        (record.client_id.as_str(), record.updated_at),
        ("client-1", Some(4_000))
    );
    // A known extra is replaced in place; a new one is appended byte-exact.
    assert_eq!(extra_names(&record), ["kept", "id_token", "ext"]);
    assert_eq!(record.extra[1].1.get(), r#""id-2""#);
    assert_eq!(record.extra[2].1.get(), r#"{"a": 1}"#);
    Ok(())
}

#[test]
fn expires_in_is_clamped_and_expires_at_saturates() {
    for (now, expires_in, expected) in [
        (0, u64::MAX, MAX_EXPIRES_IN * 1000),
        (1, u64::MAX / 1000 + 1, 1 + MAX_EXPIRES_IN * 1000),
        (u64::MAX - 500, 1, u64::MAX),
    ] {
        let mut record = full();
        let mut response = TokenResponse::new(secret("at-2"));
        response.expires_in = Some(expires_in);
        record.apply_token_response(&response, now);
        assert_eq!(record.expires_at, Some(expected), "{now} + {expires_in} s");
    }
}

#[test]
fn token_response_expires_in_is_a_number_or_a_numeric_string() -> TestResult {
    for (value, expected) in [
        ("3600", Some(3600)),
        (r#""3600""#, Some(3600)),
        (r#"" 3600 ""#, Some(3600)),
        ("3600.9", Some(3600)),
        ("null", None),
        // Issue 19 item 11: an absurd lifetime is clamped, a negative one is expired.
        ("1e308", Some(MAX_EXPIRES_IN)),
        (r#""1e308""#, Some(MAX_EXPIRES_IN)),
        ("18446744073709551615", Some(MAX_EXPIRES_IN)),
        ("-60", Some(0)),
        (r#""-60""#, Some(0)),
        ("-1e308", Some(0)),
    ] {
        let body = format!(r#"{{"access_token":"a","expires_in":{value}}}"#);
        assert_eq!(
            TokenResponse::from_json(body.as_bytes())?.expires_in,
            expected,
            "{value}"
        );
    }
    for bad in [r#""soon""#, "true", "[]", r#""NaN""#, r#""inf""#] {
        let body = format!(r#"{{"access_token":"a","expires_in":{bad}}}"#);
        let err = TokenResponse::from_json(body.as_bytes()).expect_err(bad);
        assert!(err.to_string().contains("`expires_in`"), "{err}");
    }
    Ok(())
}

#[test]
fn token_response_errors_never_quote_the_body() {
    let bodies = [
        format!(r#"{{"refresh_token":"{RT}","token_type":"Bearer"}}"#),
        format!(r#"{{"access_token":"{AT}""#),
        format!(r#"{{"access_token":"{AT}",}}"#),
        format!(r#"{{"access_token":"{AT}" "refresh_token":"{RT}"}}"#),
        format!(r#""{AT}""#),
        format!(r#"[{{"access_token":"{AT}"}}]"#),
        format!(r#"{{"access_token":["{AT}"]}}"#),
        format!(r#"{{"access_token":null,"id_token":"{IDT}"}}"#),
        format!(r#"{{"access_token":"a","refresh_token":{{"v":"{RT}"}}}}"#),
        format!(r#"{{"access_token":"a","expires_in":"{AT}"}}"#),
        format!(r#"{{"access_token":"a","scope":["{CS}"]}}"#),
    ];
    for body in &bodies {
        let err = TokenResponse::from_json(body.as_bytes()).expect_err(body);
        assert_no_sentinel(&err.to_string());
        assert_no_sentinel(&format!("{err:?}"));
    }
    let err = TokenResponse::from_json(bodies[0].as_bytes()).expect_err("no access token");
    assert!(
        err.to_string().contains("missing field `access_token`"),
        "{err}"
    );

    let mut invalid_utf8 = format!(r#"{{"access_token":"{AT}"#).into_bytes();
    invalid_utf8.extend_from_slice(b"\xff\"}");
    let err = TokenResponse::from_json(&invalid_utf8).expect_err("invalid UTF-8");
    assert_no_sentinel(&err.to_string());
    let json_err = serde_json::from_str::<u64>(&format!("\"{AT}\"")).expect_err("a string");
    assert_eq!(
        describe_json_error(&json_err),
        "unexpected value at line 1 column 22"
    );
}

#[test]
fn drop_tokens_keeps_the_client_registration() -> TestResult {
    let mut record = full();
    assert!(record.has_tokens());
    record.drop_tokens();
    assert!(!record.has_tokens());
    let mut expected = full();
    expected.access_token = secret("");
    (expected.refresh_token, expected.expires_at) = (None, None);
    assert_eq!(
        fields(&record),
        fields(&expected),
        "only the tokens and expiry go"
    );
    let json = serde_json::to_string(&record)?;
    assert!(
        json.contains(r#""access_token":"","expires_at":null,"refresh_token":null"#),
        "{json}"
    );
    assert!(!serde_json::from_str::<Credential>(&json)?.has_tokens());

    record.refresh_token = Some(secret(RT));
    assert!(
        record.has_tokens(),
        "a refresh token alone is still a usable token"
    );
    Ok(())
}

#[test]
fn token_comparisons_are_exact() {
    assert!(tokens_equal(&secret("abc"), &secret("abc")));
    assert!(tokens_equal(&secret(""), &secret("")));
    assert!(!tokens_equal(&secret("abc"), &secret("abd")));
    assert!(
        !tokens_equal(&secret("abc"), &secret("abcd")),
        "a prefix is not equal"
    );

    let record = full();
    assert!(record.access_token_is(&secret(AT)) && !record.access_token_is(&secret(RT)));
    assert!(record.refresh_token_is(Some(&secret(RT))));
    assert!(!record.refresh_token_is(None));
    let mut other = record.clone();
    assert!(record.same_tokens(&other));
    other.refresh_token = None;
    assert!(!record.same_tokens(&other) && !other.refresh_token_is(None));
    other.refresh_token = Some(secret(RT));
    other.access_token = secret("other");
    assert!(!record.same_tokens(&other));
}

/// The record's own field names, as core exports them.
const KNOWN: [&str; 13] = oauth_store_core::RECORD_FIELDS;

/// Small JSON values: scalars, strings of any characters, nested a little.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<u64>().prop_map(serde_json::Value::from),
        any::<String>().prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            prop::collection::vec((any::<String>(), inner), 0..4)
                .prop_map(|members| serde_json::Value::Object(members.into_iter().collect())),
        ]
    })
}

/// Raw JSON text of a value, compact or pretty (so whitespace inside must survive).
fn raw_json() -> impl Strategy<Value = Box<RawValue>> {
    (json_value(), any::<bool>()).prop_map(|(value, pretty)| {
        let text = if pretty {
            serde_json::to_string_pretty(&value)
        } else {
            serde_json::to_string(&value)
        };
        raw(&text.expect("a Value serializes"))
    })
}

fn credential() -> impl Strategy<Value = Credential> {
    let s = any::<String>;
    let opt = || prop::option::of(any::<String>());
    let required = (s(), s(), s(), s());
    let optional = (opt(), opt(), opt(), opt(), opt(), opt());
    let rest = (
        prop::collection::vec(s(), 0..4),
        prop::option::of(any::<u64>()),
        prop::option::of(any::<u64>()),
        prop::collection::vec(
            (
                s().prop_filter("unknown", |n| !KNOWN.contains(&n.as_str())),
                raw_json(),
            ),
            0..4,
        ),
    );
    (required, optional, rest).prop_map(
        |((name, url, client, access), opts, (scopes, expires, updated, extra))| {
            let (secret_, method, issuer, endpoint, token_type, refresh) = opts;
            let mut c = Credential::builder(name, url, SecretString::from(access))
                .client_id(client)
                .build();
            c.client_secret = secret_.map(SecretString::from);
            c.token_endpoint_auth_method = method.as_deref().map(Method::from_name);
            (c.issuer, c.token_endpoint, c.token_type) = (issuer, endpoint, token_type);
            c.refresh_token = refresh.map(SecretString::from);
            (c.scopes, c.expires_at, c.updated_at, c.extra) = (scopes, expires, updated, extra);
            c
        },
    )
}

proptest! {
    #[test]
    fn round_trip_preserves_every_field_and_the_bytes(record in credential()) {
        let first = serde_json::to_string(&record)?;
        let parsed: Credential = serde_json::from_str(&first)?;
        prop_assert_eq!(fields(&record), fields(&parsed));
        prop_assert_eq!(serde_json::to_string(&parsed)?, first);
    }

    #[test]
    fn parsing_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = serde_json::from_slice::<Credential>(&bytes);
        let _ = TokenResponse::from_json(&bytes);
    }

    #[test]
    fn parsing_damaged_records_never_panics(record in credential(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut bytes = serde_json::to_vec(&record)?;
        let i = at.index(bytes.len());
        bytes[i] = byte;
        let _ = serde_json::from_slice::<Credential>(&bytes);
        bytes.truncate(i);
        let _ = serde_json::from_slice::<Credential>(&bytes);
    }

    #[test]
    fn objects_of_known_names_and_any_values_parse_or_fail_cleanly(
        members in prop::collection::vec((prop_oneof![prop::sample::select(KNOWN.to_vec()).prop_map(str::to_owned), any::<String>()], json_value()), 0..8)
    ) {
        // Valid required fields first, so that many cases parse and are re-serialized.
        let mut body = vec![r#""server_name":"s","server_url":"u","access_token":"a""#.to_owned()];
        body.extend(members.iter().map(|(n, v)| format!("{}:{v}", json!(n))));
        let text = format!("{{{}}}", body.join(","));
        if let Ok(record) = serde_json::from_str::<Credential>(&text) {
            let again = serde_json::to_string(&record)?;
            prop_assert_eq!(serde_json::to_string(&serde_json::from_str::<Credential>(&again)?)?, again);
        }
    }
}

proptest! {
    /// Issue 19 item 1: whatever members a token response carries (record field names
    /// included), the merged record is written with each member once and reads back the
    /// same.
    #[test]
    fn merging_any_response_members_never_writes_a_member_twice(
        record in credential(),
        members in prop::collection::vec((prop_oneof![prop::sample::select(KNOWN.to_vec()).prop_map(str::to_owned), any::<String>()], json_value()), 0..8),
        now in any::<u64>(),
    ) {
        let mut body = vec![r#""access_token":"a""#.to_owned()];
        body.extend(members.iter().map(|(n, v)| format!("{}:{v}", json!(n))));
        let text = format!("{{{}}}", body.join(","));
        if let Ok(response) = TokenResponse::from_json(text.as_bytes()) {
            let mut merged = record.clone();
            merged.apply_token_response(&response, now);
            let written = serde_json::to_string(&merged)?;
            prop_assert!(oauth_store_core::repeated_members(&written).iter().all(|n| !oauth_store_core::is_record_field(n)), "{}", written);
            let again: Credential = serde_json::from_str(&written)?;
            prop_assert_eq!(fields(&again), fields(&merged));
        }
    }
}

#[test]
fn a_number_beyond_f64_in_an_unknown_field_is_shown_not_a_panic() -> crate::TestResult {
    // Found by the `record` fuzz target (fuzz/corpus/record/known-number-out-of-range).
    let record: oauth_store_core::Credential = serde_json::from_str(
        r#"{"server_name":"s","server_url":"u","access_token":"t","x":1e400,"y":2}"#,
    )?;
    let shown = record.to_redacted_json();
    assert_eq!(shown["y"], 2);
    assert!(
        shown["x"]
            .as_str()
            .is_some_and(|s| s.starts_with("<not shown"))
    );
    assert_eq!(shown["access_token"], "<redacted>");
    Ok(())
}
