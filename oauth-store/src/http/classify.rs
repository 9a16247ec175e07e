//! Token endpoint answers to [`RefreshOutcome`]s, by HTTP status (DESIGN.md "Refresh
//! transaction"); bodies are read only for a 2xx token response and a 4xx error code.

use std::time::Duration;

use oauth_store_core::TokenResponse;
use oauth_store_core::secrecy::zeroize::Zeroizing;
use oauth2::HttpResponse;
use oauth2::http::header::RETRY_AFTER;

use super::redact::{Sent, provider_text};
use super::transport::Failure;
use crate::provider::RefreshOutcome;

/// Classifies what the token endpoint at `host` answered to a refresh.
///
/// - no connection made: Transient; sent but no answer (timeout, reset, end of file):
///   Indeterminate;
/// - 2xx: the body is a token response (RFC 6749 section 5.1) -> Refreshed, else
///   Indeterminate (the provider may have rotated the refresh token);
/// - 400 or 401 with `invalid_grant` (RFC 6749 section 5.2) -> Rejected;
/// - 408 (the server gave up reading the request), 429, 5xx, 3xx (a redirect is not
///   followed: a token endpoint does not process a request it redirects) -> Transient;
/// - any other 4xx -> Refused with the provider's `error`, or `http_<status>`;
/// - anything else (1xx) -> Indeterminate.
///
/// Provider text is kept only as [`provider_text`] makes it (control characters out
/// first, then every secret of `sent` cut out). The body of a 2xx is wiped when done and
/// never quoted; a 2xx whose tokens fail [`TokenResponse::check`] is Indeterminate
/// (nothing is saved).
pub(super) fn token_answer(
    answer: Result<HttpResponse, Failure>,
    host: &str,
    sent: &Sent<'_>,
) -> RefreshOutcome {
    let response = match answer {
        Ok(response) => response,
        Err(failure) => return failed(failure, host),
    };
    let status = response.status().as_u16();
    let retry_after = retry_after(&response);
    let body = Zeroizing::new(response.into_body());
    match status {
        200..=299 => match TokenResponse::from_json(&body) {
            Ok(tokens) => RefreshOutcome::Refreshed(tokens),
            Err(e) => RefreshOutcome::Indeterminate {
                reason: format!(
                    "{host} answered {status} but the body is not a token response ({})",
                    e.reason
                ),
            },
        },
        300..=399 => RefreshOutcome::Transient {
            reason: format!("{host} answered {status}, a redirect, which is not followed"),
            retry_after: None,
        },
        408 | 429 | 500..=599 => RefreshOutcome::Transient {
            reason: format!("{host} answered {status}"),
            retry_after,
        },
        400..=499 => {
            let (error, description) = error_fields(&body, sent);
            match (status, error) {
                (400 | 401, Some(error)) if error == "invalid_grant" => {
                    RefreshOutcome::Rejected { description }
                }
                (_, error) => RefreshOutcome::Refused {
                    error: error.unwrap_or_else(|| format!("http_{status}")),
                    description,
                    status,
                },
            }
        }
        _ => RefreshOutcome::Indeterminate {
            reason: format!("{host} answered {status}"),
        },
    }
}

/// A request without an answer.
fn failed(failure: Failure, host: &str) -> RefreshOutcome {
    match failure.status {
        // The status came but the body did not: classified by the status where the
        // body does not matter.
        Some(status @ (408 | 429 | 500..=599)) => RefreshOutcome::Transient {
            reason: format!("{host} answered {status}; {}", failure.reason),
            retry_after: None,
        },
        Some(status @ 400..=499) => RefreshOutcome::Refused {
            error: format!("http_{status}"),
            description: Some(failure.reason),
            status,
        },
        _ if !failure.sent => RefreshOutcome::Transient {
            reason: format!("{host}: {} (nothing was sent)", failure.reason),
            retry_after: None,
        },
        _ => RefreshOutcome::Indeterminate {
            reason: format!("{host}: {} after the request was sent", failure.reason),
        },
    }
}

/// `Retry-After` in delta-seconds (RFC 9110 section 10.2.3); an HTTP-date is ignored.
pub(super) fn retry_after(response: &HttpResponse) -> Option<Duration> {
    let value = response.headers().get(RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse().ok().map(Duration::from_secs)
}

/// The RFC 6749 section 5.2 `error` and `error_description` of an error body. An
/// `error` outside the RFC's character set, too long, or holding anything that was
/// sent (a provider may echo a token there) counts as absent; the description is shown
/// as [`provider_text`] makes it.
pub(super) fn error_fields(body: &[u8], sent: &Sent<'_>) -> (Option<String>, Option<String>) {
    let Ok(serde_json::Value::Object(members)) = serde_json::from_slice::<serde_json::Value>(body)
    else {
        return (None, None);
    };
    let error = members
        .get("error")
        .and_then(serde_json::Value::as_str)
        .filter(|e| !e.is_empty() && e.len() <= 64)
        .filter(|e| {
            e.bytes()
                .all(|b| matches!(b, 0x20..=0x21 | 0x23..=0x5b | 0x5d..=0x7e))
        })
        .filter(|e| !sent.touches(e))
        .map(str::to_owned);
    let description = members
        .get("error_description")
        .and_then(serde_json::Value::as_str)
        .map(|d| provider_text(d, sent))
        .filter(|d| !d.is_empty());
    (error, description)
}
