//! The routes: `POST /token`, `POST /revoke` and the two discovery documents.

use std::borrow::Cow;
use std::io::Read;

use base64::Engine as _;
use serde::Serialize;
use tiny_http::{Header, Method, Request, Response};

use crate::endpoint::{Shared, lock};
use crate::grants::{ClientAuth, Minted, OAuthError, TokenRequest, now_ms};
use crate::{AuthMethod, Fault, ScriptedAnswer};

/// Larger bodies answer `invalid_request`; a refresh is a few hundred bytes.
const MAX_BODY: usize = 64 * 1024;
const FORM: &str = "application/x-www-form-urlencoded";
const DISCOVERY: [&str; 2] = [
    "/.well-known/oauth-authorization-server",
    "/.well-known/openid-configuration",
];
/// RFC 6749 section 5.1: token answers must not be cached.
const JSON_NO_STORE: [(&str, &str); 3] = [
    ("Content-Type", "application/json"),
    ("Cache-Control", "no-store"),
    ("Pragma", "no-cache"),
];

/// Answers one request; runs on its own thread.
pub(crate) fn handle(request: Request, shared: &Shared) {
    let path = request
        .url()
        .split('?')
        .next()
        .unwrap_or_default()
        .to_owned();
    let scripted = lock(&shared.scripts).take(&path);
    if let Some(scripted) = scripted {
        return scripted_answer(request, shared, &scripted);
    }
    let known = path == "/token" || path == "/revoke" || DISCOVERY.contains(&path.as_str());
    match (request.method(), path.as_str()) {
        (Method::Post, "/token") => token(request, shared),
        (Method::Post, "/revoke") => revoke(request, shared),
        (Method::Get, _) if DISCOVERY.contains(&path.as_str()) => discovery(request, shared),
        _ if known => answer(request, 405, String::new(), &[]),
        _ => answer(request, 404, String::new(), &[]),
    }
}

fn token(mut request: Request, shared: &Shared) {
    let at_ms = now_ms();
    let req = parse_token_request(&mut request);
    let mut state = lock(&shared.state);
    state.counters.token_requests += 1;
    let fault = state.take_fault();
    let outcome = match fault {
        Some(Fault::Unreachable) => {
            state.record(&req, at_ms, None, None, fault);
            drop(state);
            if let Some(peer) = request.remote_addr() {
                shared.connections.cut(*peer);
            }
            // Taking the writer keeps tiny_http from answering 500 when the request drops.
            drop(request.into_writer());
            return;
        }
        Some(Fault::Status500) => {
            state.record(&req, at_ms, Some(500), None, fault);
            drop(state);
            return answer(request, 500, "injected fault".into(), &[]);
        }
        Some(Fault::Status429) => {
            state.record(&req, at_ms, Some(429), None, fault);
            drop(state);
            return answer(
                request,
                429,
                "injected fault".into(),
                &[("Retry-After", "1")],
            );
        }
        Some(Fault::InvalidGrant) => Err(OAuthError::InvalidGrant("injected fault")),
        Some(Fault::InvalidClient) => Err(OAuthError::InvalidClient("injected fault".into())),
        Some(Fault::Slow(_) | Fault::UnparsableSuccess) | None => {
            state.refresh(&shared.config, &req)
        }
    };
    match &outcome {
        Ok(_) => state.record(&req, at_ms, Some(200), None, fault),
        Err(e) => state.record(&req, at_ms, Some(e.status()), Some(e.code()), fault),
    }
    drop(state);
    if let Some(Fault::Slow(delay)) = fault {
        shared.pause(delay);
    }
    match outcome {
        Ok(minted) => {
            let mut body = success_body(&minted);
            if fault == Some(Fault::UnparsableSuccess) {
                // The body ends in `"}`: cutting both leaves an unterminated string.
                body.truncate(body.len() - 2);
            }
            answer(request, 200, body, &JSON_NO_STORE);
        }
        Err(e) => error_answer(request, &e),
    }
}

/// A scripted answer: the request is read whole first, as a real server would.
fn scripted_answer(mut request: Request, shared: &Shared, scripted: &ScriptedAnswer) {
    let mut sink = Vec::new();
    let limit = u64::try_from(MAX_BODY + 1).unwrap_or(u64::MAX);
    let _ = request.as_reader().take(limit).read_to_end(&mut sink);
    if !scripted.delay.is_zero() {
        shared.pause(scripted.delay);
    }
    let mut response = Response::from_data(scripted.body.clone()).with_status_code(scripted.status);
    for (name, value) in &scripted.headers {
        if let Ok(header) = Header::from_bytes(name.as_bytes(), value.as_bytes()) {
            response.add_header(header);
        }
    }
    let _ = request.respond(response);
}

fn revoke(mut request: Request, shared: &Shared) {
    let mut problem = None;
    let token = match read_form(&mut request) {
        Ok(form) => form.one("token", &mut problem),
        Err(e) => note(&mut problem, e),
    };
    let mut state = lock(&shared.state);
    state.counters.revocations += 1;
    let outcome = match (problem, token) {
        (Some(e), _) => Err(e),
        (None, None) => Err(OAuthError::InvalidRequest("missing token".into())),
        (None, Some(token)) => {
            state.revoke_token(&token);
            Ok(())
        }
    };
    drop(state);
    match outcome {
        // RFC 7009 section 2.2: 200 for unknown and already revoked tokens too.
        Ok(()) => answer(request, 200, String::new(), &[]),
        Err(e) => error_answer(request, &e),
    }
}

fn discovery(request: Request, shared: &Shared) {
    lock(&shared.state).counters.discovery_requests += 1;
    let issuer = &shared.issuer;
    let methods = [
        AuthMethod::None,
        AuthMethod::ClientSecretBasic,
        AuthMethod::ClientSecretPost,
    ];
    let document = serde_json::json!({
        "issuer": issuer,
        "token_endpoint": format!("{issuer}/token"),
        "revocation_endpoint": format!("{issuer}/revoke"),
        "grant_types_supported": ["refresh_token"],
        "token_endpoint_auth_methods_supported": methods.map(AuthMethod::as_str),
    });
    answer(
        request,
        200,
        document.to_string(),
        &[("Content-Type", "application/json")],
    );
}

#[derive(Serialize)]
struct SuccessBody<'a> {
    access_token: &'a str,
    token_type: &'static str,
    expires_in: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<&'a str>,
    scope: &'a str,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    error_description: String,
}

/// RFC 6749 section 5.1, fields in this order whatever serde_json's features.
fn success_body(minted: &Minted) -> String {
    serde_json::to_string(&SuccessBody {
        access_token: &minted.access_token,
        token_type: "Bearer",
        expires_in: minted.expires_in,
        refresh_token: minted.refresh_token.as_deref(),
        scope: &minted.scope,
    })
    .expect("strings and numbers serialize")
}

/// RFC 6749 section 5.2.
fn error_answer(request: Request, error: &OAuthError) {
    let body = serde_json::to_string(&ErrorBody {
        error: error.code(),
        error_description: error.to_string(),
    })
    .expect("strings serialize");
    let mut headers = JSON_NO_STORE.to_vec();
    if error.status() == 401 {
        headers.push(("WWW-Authenticate", "Basic realm=\"oauth-store-testkit\""));
    }
    answer(request, error.status(), body, &headers);
}

fn answer(request: Request, status: u16, body: String, headers: &[(&str, &str)]) {
    let mut response = Response::from_string(body).with_status_code(status);
    for (name, value) in headers {
        if let Ok(header) = Header::from_bytes(name.as_bytes(), value.as_bytes()) {
            response.add_header(header);
        }
    }
    // The client may have gone (e.g. it timed out during Fault::Slow); nothing to do then.
    let _ = request.respond(response);
}

/// Keeps the first problem found, which is the one answered.
fn note<T>(problem: &mut Option<OAuthError>, error: OAuthError) -> Option<T> {
    problem.get_or_insert(error);
    None
}

fn header(request: &Request, name: &'static str) -> Option<String> {
    let found = request.headers().iter().find(|h| h.field.equiv(name));
    found.map(|h| h.value.as_str().to_owned())
}

/// A decoded `application/x-www-form-urlencoded` body, pairs in order.
struct Form(Vec<(String, String)>);

impl Form {
    /// A parameter that may appear once (RFC 6749 section 3.2); a repeat is a problem.
    fn one(&self, name: &str, problem: &mut Option<OAuthError>) -> Option<String> {
        let mut values = self.all(name);
        if values.len() > 1 {
            note::<()>(
                problem,
                OAuthError::InvalidRequest(format!("repeated parameter {name}")),
            );
        }
        (!values.is_empty()).then(|| values.swap_remove(0))
    }

    fn all(&self, name: &str) -> Vec<String> {
        let matching = self.0.iter().filter(|(key, _)| key == name);
        matching.map(|(_, value)| value.clone()).collect()
    }
}

fn read_form(request: &mut Request) -> Result<Form, OAuthError> {
    let is_form = header(request, "Content-Type").is_some_and(|value| {
        let media_type = value.split(';').next().unwrap_or_default();
        media_type.trim().eq_ignore_ascii_case(FORM)
    });
    let mut body = Vec::new();
    let limit = u64::try_from(MAX_BODY + 1).unwrap_or(u64::MAX);
    if request
        .as_reader()
        .take(limit)
        .read_to_end(&mut body)
        .is_err()
    {
        return Err(OAuthError::InvalidRequest("unreadable body".into()));
    }
    if body.len() > MAX_BODY {
        return Err(OAuthError::InvalidRequest("body larger than 64 KiB".into()));
    }
    if !is_form {
        return Err(OAuthError::InvalidRequest(format!(
            "the body must be {FORM}"
        )));
    }
    let body = std::str::from_utf8(&body)
        .map_err(|_| OAuthError::InvalidRequest("the body is not UTF-8".into()))?;
    let pairs = body.split('&').filter(|pair| !pair.is_empty()).map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        Ok((form_decode(key)?, form_decode(value)?))
    });
    Ok(Form(pairs.collect::<Result<_, OAuthError>>()?))
}

/// Form decoding: `+` is a space, then percent-decoding (so `%2B` stays a plus).
fn form_decode(text: &str) -> Result<String, OAuthError> {
    let spaced = text.replace('+', " ");
    let decoded = percent_encoding::percent_decode_str(&spaced).decode_utf8();
    decoded
        .map(Cow::into_owned)
        .map_err(|_| OAuthError::InvalidRequest("a parameter is not UTF-8".into()))
}

fn parse_token_request(request: &mut Request) -> TokenRequest {
    let mut problem = None;
    let form = read_form(request).unwrap_or_else(|e| {
        note::<()>(&mut problem, e);
        Form(Vec::new())
    });
    let auth = client_auth(request, &form, &mut problem);
    TokenRequest {
        grant_type: form.one("grant_type", &mut problem),
        refresh_token: form.one("refresh_token", &mut problem),
        scope: form.one("scope", &mut problem),
        resources: form.all("resource"),
        auth,
        problem,
    }
}

/// Which RFC 6749 section 2.3.1 method the request used, with the credentials it carried.
fn client_auth(request: &Request, form: &Form, problem: &mut Option<OAuthError>) -> ClientAuth {
    let body_id = form.one("client_id", problem);
    let body_secret = form.one("client_secret", problem);
    let Some(authorization) = header(request, "Authorization") else {
        return ClientAuth {
            method: match body_secret {
                Some(_) => AuthMethod::ClientSecretPost,
                None => AuthMethod::None,
            },
            client_id: body_id,
            secret: body_secret,
        };
    };
    let (id, secret) = match parse_basic(&authorization) {
        Ok(credentials) => credentials,
        Err(e) => {
            note::<()>(problem, e);
            let (client_id, secret) = (body_id, None);
            let method = AuthMethod::ClientSecretBasic;
            return ClientAuth {
                method,
                client_id,
                secret,
            };
        }
    };
    if body_secret.is_some() {
        let e = "more than one client authentication method (RFC 6749 section 2.3)";
        note::<()>(problem, OAuthError::InvalidRequest(e.into()));
    }
    if body_id.as_ref().is_some_and(|body_id| *body_id != id) {
        let e = "client_id in the body differs from the Authorization header";
        note::<()>(problem, OAuthError::InvalidClient(e.into()));
    }
    ClientAuth {
        method: AuthMethod::ClientSecretBasic,
        client_id: Some(id),
        secret: Some(secret),
    }
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))`, RFC 6749 section 2.3.1.
fn parse_basic(value: &str) -> Result<(String, String), OAuthError> {
    let (scheme, credentials) = value.trim().split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("Basic") {
        let e = format!("unsupported authentication scheme {scheme}");
        return Err(OAuthError::InvalidClient(e));
    }
    let malformed = || OAuthError::InvalidRequest("malformed HTTP Basic credentials".into());
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(credentials.trim())
        .map_err(|_| malformed())?;
    let text = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (id, secret) = text.split_once(':').ok_or_else(malformed)?;
    Ok((form_decode(id)?, form_decode(secret)?))
}
