//! Entry points for the fuzz targets in `fuzz/`, compiled only with `--cfg fuzzing`
//! (which cargo-fuzz sets): the parsers of provider answers. They are inherent
//! functions of [`HttpRefresher`] because the module is private.

use super::HttpRefresher;
use super::discovery::{AuthorizationServerMetadata, parse_document};

impl HttpRefresher {
    /// The RFC 6749 section 5.2 `error` and `error_description` kept of an error body,
    /// with `secrets` (what the request sent) cut out.
    #[doc(hidden)]
    pub fn fuzz_error_body(body: &[u8], secrets: &[&str]) -> (Option<String>, Option<String>) {
        let mut sent = super::redact::Sent::nothing();
        for secret in secrets {
            sent.push(secret);
        }
        super::classify::error_fields(body, &sent)
    }

    /// An RFC 8414 / OpenID Connect Discovery metadata document's body, checked against
    /// the issuer asked for.
    ///
    /// # Errors
    /// Why the document does not count.
    #[doc(hidden)]
    pub fn fuzz_metadata_document(
        body: &[u8],
        issuer: &str,
    ) -> Result<AuthorizationServerMetadata, String> {
        parse_document(body, issuer, &super::redact::Sent::nothing())
    }
}
