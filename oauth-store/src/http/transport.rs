//! The blocking HTTP client under the refresher: a ureq agent that never follows
//! redirects, bounds every request by the deadline of the provider interaction it belongs
//! to, and says whether a failed request may have reached the server.

use std::io;
use std::time::{Duration, Instant};

use oauth2::{HttpRequest, HttpResponse, http};
use ureq::RequestExt as _;

/// The largest answer body read; a token or metadata answer is a few KiB.
const MAX_BODY: u64 = 1024 * 1024;

/// A request that got no HTTP answer, or an answer whose body could not be read.
///
/// `reason` names what happened by category (never a body, never a header value).
#[derive(Debug, thiserror::Error)]
#[error("{reason}")]
pub(crate) struct Failure {
    /// Whether the request may have reached the server: false only when it provably did
    /// not (no connection was made).
    pub(crate) sent: bool,
    /// The status, when an answer came but its body could not be read.
    pub(crate) status: Option<u16>,
    /// What happened, for a person.
    pub(crate) reason: String,
}

/// A ureq agent configured for token endpoints; each request is bounded by a deadline.
#[derive(Debug, Clone)]
pub(crate) struct Transport {
    agent: ureq::Agent,
}

impl Transport {
    /// An agent that never follows redirects and keeps no idle connection.
    pub(crate) fn new() -> Transport {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .max_redirects_will_error(false)
            // A fresh connection per request: a pooled one that the server closed would
            // fail after "sending" and look indeterminate. Refreshes are rare anyway.
            .max_idle_connections(0)
            .max_idle_connections_per_host(0)
            .user_agent(concat!("oauth-store/", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent();
        Transport { agent }
    }

    /// Sends `request` once and reads the whole answer, whatever its status, all before
    /// `deadline`; a redirect is returned as an answer, not followed. Nothing is sent
    /// when the deadline has passed.
    ///
    /// Resolving and connecting each get at most a third of the time left (and at most
    /// 10 s), so a request that runs out of the whole time was connected: ureq reports
    /// the phase whose deadline came first, which is how "not sent" is told from "sent,
    /// no answer" without a hook into the connection.
    pub(crate) fn call(
        &self,
        request: HttpRequest,
        deadline: Instant,
    ) -> Result<HttpResponse, Failure> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left < Duration::from_millis(1) {
            return Err(Failure {
                sent: false,
                status: None,
                reason: "the time allowed for the provider ran out before this request".into(),
            });
        }
        let phase = (left / 3).min(Duration::from_secs(10));
        let (parts, body) = request.into_parts();
        let sent = if body.is_empty() {
            http::Request::from_parts(parts, ())
                .with_agent(&self.agent)
                .configure()
                .timeout_global(Some(left))
                .timeout_resolve(Some(phase))
                .timeout_connect(Some(phase))
                .run()
        } else {
            http::Request::from_parts(parts, body)
                .with_agent(&self.agent)
                .configure()
                .timeout_global(Some(left))
                .timeout_resolve(Some(phase))
                .timeout_connect(Some(phase))
                .run()
        };
        let response = sent.map_err(|e| failure(&e, None))?;
        let status = response.status();
        let (parts, body) = response.into_parts();
        let body = body
            .into_with_config()
            .limit(MAX_BODY)
            .read_to_vec()
            .map_err(|e| failure(&e, Some(status.as_u16())))?;
        Ok(http::Response::from_parts(parts, body))
    }
}

/// Describes a ureq error by category and decides whether the request may have been
/// sent. Only failures that happen before a connection exists count as not sent: name
/// resolution, a refused or unreachable address, the connect phase's timeout. Anything
/// later (a TLS handshake failure included, since ureq reports it as plain I/O) counts
/// as possibly sent, the side that never claims the provider did nothing when it may
/// have rotated the refresh token.
fn failure(error: &ureq::Error, status: Option<u16>) -> Failure {
    use ureq::Error as U;
    let not_sent = |reason: String| Failure {
        sent: false,
        status,
        reason,
    };
    let sent = |reason: String| Failure {
        sent: true,
        status,
        reason,
    };
    if status.is_some() {
        return sent(format!(
            "the answer's body could not be read: {}",
            describe(error)
        ));
    }
    match error {
        U::HostNotFound => not_sent("the host name does not resolve".into()),
        U::ConnectionFailed => not_sent("no connection could be made".into()),
        U::BadUri(_) | U::Http(_) => not_sent("the request could not be built".into()),
        U::TlsRequired => {
            not_sent("https needs TLS, which this build lacks (enable the `rustls` feature)".into())
        }
        U::InvalidProxyUrl | U::ConnectProxyFailed(_) => not_sent("the proxy failed".into()),
        U::Timeout(ureq::Timeout::Resolve) => not_sent("resolving the host timed out".into()),
        U::Timeout(ureq::Timeout::Connect) => not_sent("connecting timed out".into()),
        U::Io(e) if connect_error(e.kind()) => not_sent(format!("connecting failed: {}", e.kind())),
        // std reports a failed name lookup (getaddrinfo) as an uncategorized I/O error
        // whose kind cannot be named on stable Rust; its text is fixed by std.
        U::Io(e)
            if e.to_string()
                .starts_with("failed to lookup address information") =>
        {
            not_sent("the host name does not resolve".into())
        }
        U::Tls(_) => not_sent("TLS could not be set up".into()),
        U::Timeout(_) => sent("no answer within the timeout".into()),
        other => sent(format!("no usable answer: {}", describe(other))),
    }
}

/// I/O errors that only a connection attempt produces.
fn connect_error(kind: io::ErrorKind) -> bool {
    matches!(
        kind,
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::AddrNotAvailable
            | io::ErrorKind::NetworkUnreachable
            | io::ErrorKind::HostUnreachable
    )
}

/// A category, never ureq's own text for protocol errors (it can quote header bytes).
fn describe(error: &ureq::Error) -> String {
    match error {
        ureq::Error::Io(e) => format!("{}", e.kind()),
        ureq::Error::Timeout(t) => format!("timed out ({t})"),
        ureq::Error::Protocol(_) => "the answer is not valid HTTP/1.1".into(),
        ureq::Error::BodyExceedsLimit(limit) => format!("the answer exceeds {limit} bytes"),
        ureq::Error::BodyStalled => "the answer's body stalled".into(),
        _ => "transport error".into(),
    }
}
