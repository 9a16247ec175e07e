//! A real HTTP client (ureq) talking to the endpoint, and small helpers.

use std::time::Duration;

use base64::Engine as _;
use oauth_store_testkit::{ClientRegistration, EndpointConfig, IssuedTokens, TokenEndpoint};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

pub(crate) use oauth_store_testkit::TestResult as Result;

/// What the endpoint answered.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: String,
    headers: Vec<(String, String)>,
}

impl Answer {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        let found = self
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name));
        found.map(|(_, value)| value.as_str())
    }

    pub(crate) fn json(&self) -> Result<serde_json::Value> {
        Ok(serde_json::from_str(&self.body)?)
    }

    /// A string field of the JSON body.
    pub(crate) fn field(&self, name: &str) -> Result<String> {
        let value = self.json()?;
        let field = value[name]
            .as_str()
            .ok_or_else(|| format!("no string {name} in {value}"))?;
        Ok(field.to_owned())
    }

    /// The RFC 6749 section 5.2 `error` code.
    pub(crate) fn error(&self) -> Result<String> {
        self.field("error")
    }
}

pub(crate) fn agent(timeout: Duration) -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout));
    config.build().new_agent()
}

pub(crate) fn start(config: EndpointConfig) -> Result<TokenEndpoint> {
    Ok(TokenEndpoint::start(config)?)
}

/// An endpoint with a public client `cli` and one grant for it with scopes `read write`.
pub(crate) fn with_public_grant(config: EndpointConfig) -> Result<(TokenEndpoint, IssuedTokens)> {
    let endpoint = start(config)?;
    endpoint.register_client(ClientRegistration::public("cli"));
    let tokens = endpoint.issue_grant("cli", &["read", "write"]);
    Ok((endpoint, tokens))
}

/// `POST` a form, with HTTP Basic credentials (form-urlencoded first, RFC 6749 2.3.1) if given.
pub(crate) fn post_form(
    url: &str,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> std::result::Result<Answer, ureq::Error> {
    post_form_with(&agent(Duration::from_secs(10)), url, form, basic)
}

pub(crate) fn post_form_with(
    agent: &ureq::Agent,
    url: &str,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> std::result::Result<Answer, ureq::Error> {
    let mut request = agent.post(url);
    if let Some((id, secret)) = basic {
        let encode = |s| utf8_percent_encode(s, NON_ALPHANUMERIC).to_string();
        let credentials = format!("{}:{}", encode(id), encode(secret));
        let value = base64::engine::general_purpose::STANDARD.encode(credentials);
        request = request.header("Authorization", format!("Basic {value}"));
    }
    read(request.send_form(form.iter().copied())?)
}

pub(crate) fn get(url: &str) -> std::result::Result<Answer, ureq::Error> {
    read(agent(Duration::from_secs(10)).get(url).call()?)
}

pub(crate) fn read(
    mut response: ureq::http::Response<ureq::Body>,
) -> std::result::Result<Answer, ureq::Error> {
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.to_string(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    Ok(Answer {
        status: response.status().as_u16(),
        body: response.body_mut().read_to_string()?,
        headers,
    })
}

/// A refresh by the public client `cli`.
pub(crate) fn refresh(endpoint: &TokenEndpoint, refresh_token: &str) -> Result<Answer> {
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
        ("client_id", "cli"),
    ];
    Ok(post_form(&endpoint.token_endpoint(), &form, None)?)
}
