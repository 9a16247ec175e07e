//! The two refresh thresholds (DESIGN.md "Refresh thresholds"), as botocore's
//! refreshable credentials have them: past the advisory one a caller refreshes only if
//! the credential lock is free right now; past the mandatory one (or expired) it waits
//! for the lock and refreshes.
//!
//! Both default to a share of the token's lifetime as issued (`expires_at - updated_at`,
//! `updated_at` being stamped when the grant or refresh was saved): advisory
//! min(5 min, half of it), mandatory min(30 s, a quarter of it), so a just-issued token
//! is never due and a 2 s token is refreshed about once a second, not on every call. A
//! token of unknown lifetime gets 5 min and 30 s.

use std::time::Duration;

use oauth_store_core::Credential;

/// The advisory default's cap: 5 min, in ms.
const ADVISORY_CAP_MS: u64 = 300_000;
/// The mandatory default's cap: 30 s, in ms.
const MANDATORY_CAP_MS: u64 = 30_000;

/// The thresholds a caller asked for; `None` means "scaled to the token's lifetime".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Thresholds {
    /// Advisory: refresh ahead when this much or less is left, if the lock is free.
    pub(crate) refresh_ahead: Option<Duration>,
    /// Mandatory: wait for the lock and refresh when this much or less is left.
    pub(crate) min_valid: Option<Duration>,
}

/// The thresholds for one credential, in ms before its expiry; `advisory_ms >=
/// mandatory_ms` always.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Margins {
    pub(crate) advisory_ms: u64,
    pub(crate) mandatory_ms: u64,
}

/// Where a credential stands at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Zone {
    /// Neither threshold passed: used as is, no lock.
    Fresh,
    /// Past advisory only: refresh if the lock is free, else use it.
    Advisory,
    /// Past mandatory, or expired, or no access token: wait for the lock and refresh.
    Mandatory,
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Thresholds {
    /// The margins for `credential`. An explicit mandatory threshold above the advisory
    /// one raises the advisory one (the caller's validity requirement wins); a scaled
    /// mandatory one never exceeds the advisory one.
    pub(crate) fn margins(&self, credential: &Credential) -> Margins {
        let lifetime = match (credential.expires_at, credential.updated_at) {
            (Some(expires), Some(updated)) if expires > updated => Some(expires - updated),
            _ => None,
        };
        let advisory = self.refresh_ahead.map_or_else(
            || lifetime.map_or(ADVISORY_CAP_MS, |l| (l / 2).min(ADVISORY_CAP_MS)),
            millis,
        );
        let mandatory = self.min_valid.map_or_else(
            || lifetime.map_or(MANDATORY_CAP_MS, |l| (l / 4).min(MANDATORY_CAP_MS)),
            millis,
        );
        if self.min_valid.is_some() {
            Margins {
                advisory_ms: advisory.max(mandatory),
                mandatory_ms: mandatory,
            }
        } else {
            Margins {
                advisory_ms: advisory,
                mandatory_ms: mandatory.min(advisory),
            }
        }
    }

    /// Where `credential` stands at `now_ms` under these thresholds.
    pub(crate) fn zone(&self, credential: &Credential, now_ms: u64) -> Zone {
        let margins = self.margins(credential);
        if credential.is_due(now_ms, margins.mandatory_ms) {
            Zone::Mandatory
        } else if credential.is_due(now_ms, margins.advisory_ms) {
            Zone::Advisory
        } else {
            Zone::Fresh
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(updated_at: Option<u64>, expires_at: Option<u64>) -> Credential {
        let mut builder = Credential::builder("s", "https://s.test", "at".to_owned().into());
        if let Some(at) = updated_at {
            builder = builder.updated_at(at);
        }
        if let Some(at) = expires_at {
            builder = builder.expires_at(at);
        }
        builder.build()
    }

    #[test]
    fn defaults_scale_with_the_lifetime_and_cap() {
        let scaled = Thresholds::default();
        let two_s = token(Some(10_000), Some(12_000));
        assert_eq!(
            scaled.margins(&two_s),
            Margins {
                advisory_ms: 1_000,
                mandatory_ms: 500
            }
        );
        let hour = token(Some(0), Some(3_600_000));
        assert_eq!(
            scaled.margins(&hour),
            Margins {
                advisory_ms: 300_000,
                mandatory_ms: 30_000
            }
        );
        let unknown = token(None, Some(3_600_000));
        assert_eq!(scaled.margins(&unknown), scaled.margins(&hour));
    }

    #[test]
    fn a_just_issued_token_is_never_due() {
        for lifetime in [1, 2, 10, 1_000, 2_000, 60_000, 3_600_000, 86_400_000] {
            let credential = token(Some(5_000), Some(5_000 + lifetime));
            assert_eq!(
                Thresholds::default().zone(&credential, 5_000),
                Zone::Fresh,
                "{lifetime} ms"
            );
        }
    }

    #[test]
    fn explicit_settings_override_and_mandatory_never_exceeds_advisory() {
        let credential = token(Some(0), Some(2_000));
        let explicit = Thresholds {
            refresh_ahead: None,
            min_valid: Some(Duration::from_secs(30)),
        };
        assert_eq!(
            explicit.margins(&credential),
            Margins {
                advisory_ms: 30_000,
                mandatory_ms: 30_000
            }
        );
        let ahead_only = Thresholds {
            refresh_ahead: Some(Duration::from_millis(100)),
            min_valid: None,
        };
        assert_eq!(
            ahead_only.margins(&token(None, Some(1))),
            Margins {
                advisory_ms: 100,
                mandatory_ms: 100
            }
        );
    }

    #[test]
    fn zones_in_order() {
        let credential = token(Some(0), Some(2_000));
        let scaled = Thresholds::default();
        assert_eq!(scaled.zone(&credential, 999), Zone::Fresh);
        assert_eq!(scaled.zone(&credential, 1_000), Zone::Advisory);
        assert_eq!(scaled.zone(&credential, 1_499), Zone::Advisory);
        assert_eq!(scaled.zone(&credential, 1_500), Zone::Mandatory);
        assert_eq!(scaled.zone(&credential, 9_000), Zone::Mandatory);
    }
}
