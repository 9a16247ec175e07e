//! The device authorization grant (RFC 8628): the device authorization request (built
//! by `oauth2`), then polling the token endpoint at `interval`, 5 s slower on each
//! `slow_down` (section 3.5), until approval, `access_denied`, `expired_token` or the
//! code's expiry.

use std::time::{Duration, Instant};

use base64::Engine as _;
use oauth_store_core::{ExposeSecret, TokenResponse};
use oauth2::basic::BasicClient;
use oauth2::http::{self, HeaderValue, header};
use oauth2::url::form_urlencoded;
use oauth2::{
    AuthType, ClientId, ClientSecret, DeviceAuthorizationUrl, Scope,
    StandardDeviceAuthorizationResponse,
};

use super::client::{DEVICE_GRANT, register};
use super::{
    Client, ClientSource, Discovered, Hidden, LoginError, LoginOptions, Role, TokenError,
    oauth_error, send, sent_of, token_answer,
};
use crate::http::Recorder;
use crate::http::transport::Transport;

/// The default polling interval when the server names none (RFC 8628 section 3.2).
const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

/// A device authorization the person has to approve.
pub(crate) struct Authorization {
    device_code: Hidden,
    /// The code the person enters.
    pub(crate) user_code: Hidden,
    /// Where the person enters it.
    pub(crate) verification_uri: String,
    /// The same with the code filled in, when the server gives one.
    pub(crate) verification_uri_complete: Option<String>,
    interval: Duration,
    expires: Instant,
}

/// Sends the device authorization request; a stored registration the server rejects
/// (`invalid_client`, `unauthorized_client`, or `invalid_request`, which some servers
/// answer for a client without the device grant) is replaced by a new one, once. Returns the
/// authorization and the client that got it.
pub(crate) fn start(
    transport: &Transport,
    found: &Discovered,
    client: Client,
    scopes: &[String],
    resource: &str,
    deadline: impl Fn() -> Instant,
) -> Result<(Authorization, Client), LoginError> {
    let Some(endpoint) = &found.device_authorization_endpoint else {
        return Err(LoginError::Refused(format!(
            "the authorization server {} offers no device authorization endpoint (RFC 8628); log in by browser instead",
            found.issuer
        )));
    };
    match request(transport, endpoint, &client, scopes, resource, deadline()) {
        // RFC 8628 says `unauthorized_client` for a client without the device grant;
        // oidc-provider says `invalid_request` ("... is not allowed for this client").
        Err(TokenError::OAuth { error, .. })
            if client.source == ClientSource::Stored
                && matches!(
                    error.as_str(),
                    "invalid_client" | "unauthorized_client" | "invalid_request"
                ) =>
        {
            tracing::debug!(target: "oauth_store::login", error, "the stored registration was rejected; registering anew");
            let client = register(transport, found, None, true, deadline())?;
            let authorization =
                request(transport, endpoint, &client, scopes, resource, deadline())?;
            Ok((authorization, client))
        }
        Err(e) => Err(e.into()),
        Ok(authorization) => Ok((authorization, client)),
    }
}

fn request(
    transport: &Transport,
    endpoint: &oauth2::url::Url,
    client: &Client,
    scopes: &[String],
    resource: &str,
    deadline: Instant,
) -> Result<Authorization, TokenError> {
    let recorder = Recorder::new(transport, endpoint.clone(), deadline);
    let oauth = BasicClient::new(ClientId::new(client.id.clone()))
        .set_device_authorization_url(DeviceAuthorizationUrl::from_url(endpoint.clone()));
    let secret = client
        .secret
        .as_ref()
        .filter(|s| !s.expose_secret().is_empty());
    let result = match secret {
        Some(secret) => oauth
            .set_client_secret(ClientSecret::new(secret.expose_secret().to_owned()))
            .set_auth_type(auth_type(client))
            .exchange_device_code()
            .add_scopes(scopes.iter().cloned().map(Scope::new))
            .add_extra_param("resource", resource)
            .request(&recorder)
            .map(|_: StandardDeviceAuthorizationResponse| ()),
        None => oauth
            .set_auth_type(AuthType::RequestBody)
            .exchange_device_code()
            .add_scopes(scopes.iter().cloned().map(Scope::new))
            .add_extra_param("resource", resource)
            .request(&recorder)
            .map(|_: StandardDeviceAuthorizationResponse| ()),
    };
    drop(result);
    let answer = recorder
        .take()
        .ok_or_else(|| {
            TokenError::Other(LoginError::Options(
                "the device authorization request could not be built".into(),
            ))
        })?
        .map_err(|f| {
            TokenError::Other(LoginError::Provider(format!(
                "{} at {}: {}",
                Role::AuthorizationServer,
                crate::http::host_of(endpoint),
                f.reason
            )))
        })?;
    let status = answer.status().as_u16();
    let sent = sent_of(client, &[]);
    if !(200..300).contains(&status) {
        return Err(match oauth_error(answer.body(), &sent) {
            Some((error, description)) if (400..500).contains(&status) => {
                TokenError::OAuth { error, description }
            }
            _ => TokenError::Other(LoginError::Provider(format!(
                "the device authorization endpoint answered {status}"
            ))),
        });
    }
    let parsed: StandardDeviceAuthorizationResponse = serde_json::from_slice(answer.body())
        .map_err(|_| {
            TokenError::Other(LoginError::Provider(
                "the device authorization answer is not an RFC 8628 section 3.2 response".into(),
            ))
        })?;
    let interval = parsed.interval();
    Ok(Authorization {
        device_code: Hidden(parsed.device_code().secret().clone()),
        user_code: Hidden(parsed.user_code().secret().clone()),
        verification_uri: parsed.verification_uri().to_string(),
        verification_uri_complete: parsed
            .verification_uri_complete()
            .map(|u| u.secret().clone()),
        interval: if interval.is_zero() {
            DEFAULT_INTERVAL
        } else {
            interval
        },
        expires: Instant::now() + parsed.expires_in(),
    })
}

fn auth_type(client: &Client) -> AuthType {
    match client.auth_method.as_deref() {
        Some("client_secret_post") => AuthType::RequestBody,
        _ => AuthType::BasicAuth,
    }
}

/// Polls the token endpoint (RFC 8628 section 3.4) until a token, a final error, the
/// code's expiry or the login's timeout.
pub(crate) fn poll(
    transport: &Transport,
    found: &Discovered,
    client: &Client,
    authorization: &Authorization,
    resource: &str,
    options: &LoginOptions,
) -> Result<TokenResponse, LoginError> {
    let timeout = Instant::now() + options.timeout;
    let until = timeout.min(authorization.expires);
    let mut interval = authorization.interval;
    loop {
        // Poll until the deadline itself: the last sleep is cut short so that a
        // code approved in the last seconds is still picked up by one final poll.
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return if authorization.expires < timeout {
                Err(LoginError::Denied {
                    error: "expired_token".into(),
                    description: Some("the device code expired before it was approved".into()),
                })
            } else {
                Err(LoginError::DeviceTimedOut(options.timeout.as_secs()))
            };
        }
        std::thread::sleep(interval.min(left));
        let secret = client
            .secret
            .as_ref()
            .filter(|s| !s.expose_secret().is_empty());
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", DEVICE_GRANT)
            .append_pair("device_code", &authorization.device_code.0)
            .append_pair("resource", resource);
        let basic = secret.is_some()
            && !matches!(client.auth_method.as_deref(), Some("client_secret_post"));
        if !basic {
            form.append_pair("client_id", &client.id);
            if let Some(secret) = secret {
                form.append_pair("client_secret", secret.expose_secret());
            }
        }
        let mut request = http::Request::new(form.finish().into_bytes());
        *request.method_mut() = http::Method::POST;
        *request.uri_mut() = found.token_endpoint.as_str().parse().map_err(|_| {
            LoginError::Refused("the token endpoint is not a valid request target".into())
        })?;
        let headers = request.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        if let (true, Some(secret)) = (basic, secret) {
            // RFC 6749 section 2.3.1: form-encode both parts before Basic encoding.
            let encode =
                |t: &str| form_urlencoded::byte_serialize(t.as_bytes()).collect::<String>();
            let pair = format!("{}:{}", encode(&client.id), encode(secret.expose_secret()));
            let value = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair.as_bytes())
            );
            if let Ok(mut value) = HeaderValue::from_str(&value) {
                value.set_sensitive(true);
                headers.insert(header::AUTHORIZATION, value);
            }
        }
        let answer = send(
            transport,
            request,
            Instant::now() + Duration::from_secs(30),
            Role::AuthorizationServer,
        )?;
        let sent = sent_of(client, &[authorization.device_code.0.as_str()]);
        match token_answer(answer, &found.token_endpoint, &sent) {
            Ok(response) => return Ok(response),
            Err(TokenError::OAuth { error, .. }) if error == "authorization_pending" => {}
            Err(TokenError::OAuth { error, .. }) if error == "slow_down" => {
                interval += Duration::from_secs(5);
                tracing::debug!(target: "oauth_store::login", interval_s = interval.as_secs(), "slow_down: polling less often");
            }
            Err(e) => return Err(e.into()),
        }
    }
}
