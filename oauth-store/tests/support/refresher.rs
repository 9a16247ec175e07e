//! The testkit's own small refresher (the production one is the `http` feature):
//! a form POST with ureq, classified by HTTP status.

use std::time::Duration;

use oauth_store::{Credential, RefreshOutcome, TokenRefresher, TokenResponse};
use oauth_store_core::ExposeSecret;

pub(crate) struct TestkitRefresher {
    agent: ureq::Agent,
}

impl TestkitRefresher {
    pub(crate) fn new(timeout: Duration) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .into();
        TestkitRefresher { agent }
    }
}

impl TokenRefresher for TestkitRefresher {
    fn refresh(&self, credential: &Credential) -> RefreshOutcome {
        let Some(endpoint) = &credential.token_endpoint else {
            return RefreshOutcome::Refused {
                error: "no_token_endpoint".into(),
                description: None,
                status: 0,
            };
        };
        let refresh_token = credential
            .refresh_token
            .as_ref()
            .map(|t| t.expose_secret().to_owned())
            .unwrap_or_default();
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.as_str()),
            ("client_id", credential.client_id.as_str()),
            ("resource", credential.server_url.as_str()),
        ];
        let mut response = match self.agent.post(endpoint).send_form(form) {
            Ok(r) => r,
            Err(ureq::Error::Io(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                return RefreshOutcome::Transient {
                    reason: "connection refused".into(),
                    retry_after: None,
                };
            }
            Err(ureq::Error::ConnectionFailed) | Err(ureq::Error::HostNotFound) => {
                return RefreshOutcome::Transient {
                    reason: "connection failed".into(),
                    retry_after: None,
                };
            }
            Err(e) => {
                return RefreshOutcome::Indeterminate {
                    reason: format!("no usable answer: {}", kind_of(&e)),
                };
            }
        };
        let status = response.status().as_u16();
        let body = match response.body_mut().read_to_vec() {
            Ok(b) => b,
            Err(e) => {
                return RefreshOutcome::Indeterminate {
                    reason: format!("body unreadable: {}", kind_of(&e)),
                };
            }
        };
        match status {
            200 => match TokenResponse::from_json(&body) {
                Ok(r) => RefreshOutcome::Refreshed(r),
                Err(e) => RefreshOutcome::Indeterminate {
                    reason: e.to_string(),
                },
            },
            429 | 500..=599 => RefreshOutcome::Transient {
                reason: format!("HTTP {status}"),
                retry_after: None,
            },
            400..=499 => {
                let parsed: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                let error = parsed["error"].as_str().unwrap_or("").to_owned();
                let description = parsed["error_description"].as_str().map(str::to_owned);
                if error == "invalid_grant" {
                    RefreshOutcome::Rejected { description }
                } else {
                    RefreshOutcome::Refused {
                        error,
                        description,
                        status,
                    }
                }
            }
            _ => RefreshOutcome::Indeterminate {
                reason: format!("unexpected HTTP {status}"),
            },
        }
    }
}

fn kind_of(e: &ureq::Error) -> &'static str {
    match e {
        ureq::Error::Timeout(_) => "timeout",
        ureq::Error::Io(_) => "I/O error",
        _ => "transport error",
    }
}
