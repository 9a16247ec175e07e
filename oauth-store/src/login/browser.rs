//! The browser flow: authorization code with PKCE S256 (RFC 7636) through a loopback
//! redirect (RFC 8252 section 7.3) on 127.0.0.1, `state` and `iss` (RFC 9207) checked,
//! `resource` (RFC 8707) on both requests.

use std::time::{Duration, Instant};

use oauth_store_core::{ExposeSecret, TokenResponse};
use oauth2::basic::BasicClient;
use oauth2::url::Url;
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse as _, TokenUrl,
};

use super::{
    Client, Discovered, Hidden, LoginError, LoginOptions, LoginPrompt, sent_of, token_answer,
};
use crate::http::Recorder;
use crate::http::transport::Transport;

/// The loopback listener and the redirect URI it serves.
pub(crate) struct Listener {
    server: tiny_http::Server,
    /// The redirect URI sent to the authorization server.
    pub(crate) redirect_uri: String,
    path: String,
}

impl Listener {
    /// Binds 127.0.0.1 on the configured port (the callback URL's, else one the OS
    /// picks).
    pub(crate) fn bind(options: &LoginOptions) -> Result<Listener, LoginError> {
        let given = options
            .callback_url
            .as_deref()
            .map(|text| {
                Url::parse(text).map_err(|e| {
                    LoginError::Options(format!("the callback URL is not a URL ({e})"))
                })
            })
            .transpose()?;
        if let Some(url) = &given
            && (url.scheme() != "http" || !crate::http::is_loopback(url))
        {
            return Err(LoginError::Options(
                "the callback URL must be http on a loopback host (RFC 8252 section 7.3); the listener binds 127.0.0.1".into(),
            ));
        }
        let port = options
            .callback_port
            .or_else(|| given.as_ref().and_then(Url::port))
            .unwrap_or(0);
        let server = tiny_http::Server::http(("127.0.0.1", port)).map_err(|e| {
            let in_use = e
                .downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::AddrInUse);
            if in_use && port != 0 {
                LoginError::CallbackPortInUse(port)
            } else {
                LoginError::Options(format!("cannot listen on 127.0.0.1:{port}: {e}"))
            }
        })?;
        let bound = server
            .server_addr()
            .to_ip()
            .map(|a| a.port())
            .ok_or_else(|| LoginError::Options("the listener has no IP address".into()))?;
        let (redirect_uri, path) = match given {
            Some(mut url) => {
                if url.port().is_none() {
                    let _ = url.set_port(Some(bound));
                }
                let path = url.path().to_owned();
                (url.to_string(), path)
            }
            None => (
                format!("http://127.0.0.1:{bound}/callback"),
                "/callback".to_owned(),
            ),
        };
        Ok(Listener {
            server,
            redirect_uri,
            path,
        })
    }
}

/// The authorization code the browser brought back, with its PKCE verifier, and the
/// browser's request, answered once the login is over.
pub(crate) struct Code {
    code: Hidden,
    verifier: Hidden,
    browser: Option<tiny_http::Request>,
}

impl Code {
    /// Answers the browser: what the login came to.
    pub(crate) fn answer(&mut self, outcome: Result<(), &LoginError>) {
        if let Some(request) = self.browser.take() {
            match outcome {
                Ok(()) => respond(
                    request,
                    200,
                    "Logged in. You can close this window and return to the terminal.",
                ),
                Err(e) => respond(
                    request,
                    400,
                    &format!("Login failed: {e}. Return to the terminal."),
                ),
            }
        }
    }
}

impl Drop for Code {
    fn drop(&mut self) {
        // A login that ended without saying (a panic): the browser is not left hanging.
        self.answer(Err(&LoginError::Provider("the login stopped".into())));
    }
}

/// Prompts with the authorization URL and waits (up to the timeout) for the callback;
/// checks `state`, `error` and `iss`, answers the browser with a short page.
#[allow(clippy::too_many_arguments)]
pub(crate) fn authorize(
    listener: &Listener,
    found: &Discovered,
    client: &Client,
    scopes: &[String],
    resource: &str,
    options: &LoginOptions,
    prompt: &dyn LoginPrompt,
) -> Result<Code, LoginError> {
    let Some(endpoint) = &found.authorization_endpoint else {
        return Err(LoginError::Refused(format!(
            "the authorization server {} names no authorization_endpoint",
            found.issuer
        )));
    };
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let redirect = RedirectUrl::new(listener.redirect_uri.clone())
        .map_err(|e| LoginError::Options(format!("the redirect URI is not a URL ({e})")))?;
    let oauth = BasicClient::new(ClientId::new(client.id.clone()))
        .set_auth_uri(AuthUrl::from_url(endpoint.clone()))
        .set_redirect_uri(redirect);
    let (url, state) = oauth
        .authorize_url(CsrfToken::new_random)
        .add_scopes(scopes.iter().cloned().map(Scope::new))
        .set_pkce_challenge(challenge)
        .add_extra_param("resource", resource)
        .url();
    prompt.authorization_url(url.as_str());
    let until = Instant::now() + options.timeout;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(LoginError::TimedOut(options.timeout.as_secs()));
        }
        let request = match listener.server.recv_timeout(left) {
            Ok(Some(request)) => request,
            Ok(None) => return Err(LoginError::TimedOut(options.timeout.as_secs())),
            Err(e) => {
                return Err(LoginError::Options(format!(
                    "the loopback listener failed: {}",
                    e.kind()
                )));
            }
        };
        let Ok(target) = Url::parse(&format!("http://127.0.0.1{}", request.url())) else {
            respond(request, 400, "Not a callback.");
            continue;
        };
        if target.path() != listener.path {
            // A favicon or a probe: not the callback.
            respond(request, 404, "Not found.");
            continue;
        }
        let param = |name: &str| {
            target
                .query_pairs()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.into_owned())
        };
        let checked = check(
            param("state").as_deref(),
            state.secret(),
            param("iss").as_deref(),
            found,
            param("error").as_deref(),
            param("error_description").as_deref(),
            param("code"),
        );
        match checked {
            Ok(code) => {
                // The browser is answered when the code exchange and the save are over.
                return Ok(Code {
                    code: Hidden(code),
                    verifier: Hidden(verifier.secret().clone()),
                    browser: Some(request),
                });
            }
            Err(e) => {
                respond(
                    request,
                    400,
                    &format!("Login failed: {e}. Return to the terminal."),
                );
                return Err(e);
            }
        }
    }
}

/// The callback's checks: `state` as sent, then an `error`, then `iss` (RFC 9207
/// section 2.4: must equal the issuer when present, and be present when the server
/// says it sends it), then a `code`.
fn check(
    state: Option<&str>,
    expected: &str,
    iss: Option<&str>,
    found: &Discovered,
    error: Option<&str>,
    description: Option<&str>,
    code: Option<String>,
) -> Result<String, LoginError> {
    let same_state = state.is_some_and(|s| {
        s.len() == expected.len()
            && s.bytes()
                .zip(expected.bytes())
                .fold(0u8, |d, (a, b)| d | (a ^ b))
                == 0
    });
    if !same_state {
        return Err(LoginError::Refused(
            "the callback's state is not the one sent (a forged or stale redirect)".into(),
        ));
    }
    match iss {
        Some(iss) if iss.trim_end_matches('/') != found.issuer.trim_end_matches('/') => {
            return Err(LoginError::Refused(format!(
                "the callback's iss is not the issuer {} (RFC 9207 section 2.4)",
                found.issuer
            )));
        }
        None if found.iss_parameter_supported => {
            return Err(LoginError::Refused(format!(
                "the callback has no iss, which {} says it sends (RFC 9207 section 2.4)",
                found.issuer
            )));
        }
        _ => {}
    }
    if let Some(error) = error {
        let clean =
            |t: &str| crate::http::redact::provider_text(t, &crate::http::redact::Sent::nothing());
        return Err(LoginError::Denied {
            error: clean(error),
            description: description.map(clean),
        });
    }
    code.filter(|c| !c.is_empty())
        .ok_or_else(|| LoginError::Provider("the callback carries neither code nor error".into()))
}

/// A short page for the browser.
fn respond(request: tiny_http::Request, status: u16, text: &str) {
    let escaped = text
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    let page = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Login</title></head><body><p id=\"login-result\">{escaped}</p></body></html>"
    );
    let mut response = tiny_http::Response::from_string(page).with_status_code(status);
    if let Ok(header) = tiny_http::Header::from_bytes("Content-Type", "text/html; charset=utf-8") {
        response = response.with_header(header);
    }
    let _ = request.respond(response);
}

/// The code exchange (RFC 6749 section 4.1.3 with the PKCE verifier and `resource`).
pub(crate) fn exchange(
    transport: &Transport,
    found: &Discovered,
    client: &Client,
    code: &Code,
    redirect_uri: &str,
    resource: &str,
) -> Result<TokenResponse, LoginError> {
    let mut oauth = BasicClient::new(ClientId::new(client.id.clone()))
        .set_token_uri(TokenUrl::from_url(found.token_endpoint.clone()))
        .set_auth_type(AuthType::RequestBody);
    let redirect = RedirectUrl::new(redirect_uri.to_owned())
        .map_err(|e| LoginError::Options(format!("the redirect URI is not a URL ({e})")))?;
    oauth = oauth.set_redirect_uri(redirect);
    let with_secret = client
        .secret
        .as_ref()
        .filter(|s| !s.expose_secret().is_empty());
    let recorder = Recorder::new(
        transport,
        found.token_endpoint.clone(),
        Instant::now() + Duration::from_secs(30),
    );
    let result = match with_secret {
        Some(secret) => {
            let auth = match client.auth_method.as_deref() {
                Some("client_secret_post") => AuthType::RequestBody,
                _ => AuthType::BasicAuth,
            };
            let oauth = oauth
                .set_client_secret(ClientSecret::new(secret.expose_secret().to_owned()))
                .set_auth_type(auth);
            oauth
                .exchange_code(AuthorizationCode::new(code.code.0.clone()))
                .set_pkce_verifier(PkceCodeVerifier::new(code.verifier.0.clone()))
                .add_extra_param("resource", resource)
                .request(&recorder)
                .map(|t| t.access_token().secret().len())
        }
        None => oauth
            .exchange_code(AuthorizationCode::new(code.code.0.clone()))
            .set_pkce_verifier(PkceCodeVerifier::new(code.verifier.0.clone()))
            .add_extra_param("resource", resource)
            .request(&recorder)
            .map(|t| t.access_token().secret().len()),
    };
    // The recorder answered oauth2 with an error on purpose: the answer is read below.
    drop(result);
    tracing::debug!(target: "oauth_store::login", client = client.source.as_str(), "code exchanged");
    let answer = recorder
        .take()
        .ok_or_else(|| LoginError::Options("the token request could not be built".into()))?;
    let answer = answer.map_err(|f| {
        LoginError::Provider(format!(
            "{} at {}: {}",
            super::Role::AuthorizationServer,
            crate::http::host_of(&found.token_endpoint),
            f.reason
        ))
    })?;
    let sent = sent_of(client, &[code.code.0.as_str(), code.verifier.0.as_str()]);
    Ok(token_answer(answer, &found.token_endpoint, &sent)?)
}
