//! Scripted answers: a test makes the endpoint a hostile provider, path by path.

use std::time::Duration;

/// An answer a test scripts for one path, set with
/// [`TokenEndpoint::script`](crate::TokenEndpoint::script): the endpoint answers it to
/// every request for that path (any method), in place of its own behaviour, after
/// reading the whole request, until [`TokenEndpoint::unscript`](crate::TokenEndpoint::unscript)
/// or for [`ScriptedAnswer::times`] requests.
///
/// A scripted `/token` answer does not touch the grants: no refresh token is consumed
/// or issued. Each request to a scripted path is counted
/// ([`TokenEndpoint::hits`](crate::TokenEndpoint::hits)).
///
/// ```
/// use std::time::Duration;
/// use oauth_store_testkit::{EndpointConfig, ScriptedAnswer, TokenEndpoint};
///
/// let endpoint = TokenEndpoint::start(EndpointConfig::default())?;
/// endpoint.script(
///     "/token",
///     ScriptedAnswer::json(400, &serde_json::json!({"error": "invalid_grant"}))
///         .header("X-Hostile", "1")
///         .delay(Duration::from_millis(10)),
/// );
/// let agent = ureq::Agent::config_builder().http_status_as_error(false).build().new_agent();
/// let answer = agent.post(endpoint.token_endpoint()).send_form([("a", "b")])?;
/// assert_eq!((answer.status().as_u16(), endpoint.hits("/token")), (400, 1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ScriptedAnswer {
    /// The HTTP status.
    pub status: u16,
    /// Headers, in order (a header `tiny_http` refuses to send is left out).
    pub headers: Vec<(String, String)>,
    /// The body, as is.
    pub body: Vec<u8>,
    /// How long to wait before answering; a delay longer than the client waits is a
    /// provider that never answers (the endpoint's drop cuts the connection).
    pub delay: Duration,
    /// How many requests get this answer before the path behaves as usual again;
    /// `None` for every request.
    pub times: Option<u32>,
}

impl ScriptedAnswer {
    /// `status` with `body`, no header, no delay, for every request.
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> ScriptedAnswer {
        ScriptedAnswer {
            status,
            headers: Vec::new(),
            body: body.into(),
            delay: Duration::ZERO,
            times: None,
        }
    }

    /// `status` with `value` as the body and `Content-Type: application/json`.
    pub fn json(status: u16, value: &serde_json::Value) -> ScriptedAnswer {
        ScriptedAnswer::new(status, value.to_string()).header("Content-Type", "application/json")
    }

    /// Adds a header.
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> ScriptedAnswer {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Waits `delay` before answering.
    #[must_use]
    pub fn delay(mut self, delay: Duration) -> ScriptedAnswer {
        self.delay = delay;
        self
    }

    /// Answers only the next `times` requests this way.
    #[must_use]
    pub fn times(mut self, times: u32) -> ScriptedAnswer {
        self.times = Some(times);
        self
    }
}
