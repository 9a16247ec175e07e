//! Provider text made fit to show: the one function every path that shows what a
//! provider wrote (refresh, revocation, discovery; registration and login when they
//! come) goes through.

use oauth_store_core::{Credential, ExposeSecret, REDACTED};
use oauth2::url::form_urlencoded;

/// The longest provider text (`error_description`, a stated issuer) kept, in characters.
pub(crate) const MAX_TEXT: usize = 300;

/// The secrets a request held, to be cut out of whatever the provider answers: the
/// refresh token, the access token and the client secret of the credential, and (for
/// login code) an authorization code and a PKCE verifier.
#[derive(Default)]
pub(crate) struct Sent<'a> {
    secrets: Vec<&'a str>,
}

impl<'a> Sent<'a> {
    /// Nothing secret (a discovery request carries none, but the credential's may still
    /// be echoed by a hostile server: prefer [`Sent::of`] where there is a credential).
    pub(crate) fn nothing() -> Sent<'a> {
        Sent::default()
    }

    /// The credential's refresh token, access token and client secret.
    pub(crate) fn of(credential: &'a Credential) -> Sent<'a> {
        let mut sent = Sent::default();
        sent.push(credential.access_token.expose_secret());
        if let Some(refresh) = &credential.refresh_token {
            sent.push(refresh.expose_secret());
        }
        if let Some(secret) = &credential.client_secret {
            sent.push(secret.expose_secret());
        }
        sent
    }

    /// Adds one more secret (an authorization code, a PKCE verifier, ...).
    pub(crate) fn push(&mut self, secret: &'a str) {
        if !secret.is_empty() {
            self.secrets.push(secret);
        }
    }

    /// Whether `text` holds any of the secrets, or is part of one (a provider's `error`
    /// code made of a token's first characters).
    pub(crate) fn touches(&self, text: &str) -> bool {
        self.secrets
            .iter()
            .any(|s| text.contains(s) || (!text.is_empty() && s.contains(text)))
    }
}

/// Provider text as it may be shown: control characters (C0, DEL, C1) and the invisible
/// format characters that reorder or hide text (bidi controls, zero-width characters)
/// are removed FIRST, so that a secret split by one (`R\u{1}T`) is whole again; then
/// every secret of `sent` (as sent, and form-encoded, as an echoed request body holds
/// it) is replaced by `<redacted>`; then the length is capped at [`MAX_TEXT`]
/// characters.
pub(crate) fn provider_text(text: &str, sent: &Sent<'_>) -> String {
    let mut shown: String = text.chars().filter(|c| !hidden(*c)).collect();
    // Longest first, so a secret that contains another is replaced whole.
    let mut secrets: Vec<String> = Vec::with_capacity(sent.secrets.len() * 2);
    for secret in &sent.secrets {
        secrets.push((*secret).to_owned());
        // A stored secret with a control character in it (written by another program)
        // is matched as the stripped text now holds it.
        let visible: String = secret.chars().filter(|c| !hidden(*c)).collect();
        if visible != *secret && !visible.is_empty() {
            secrets.push(visible);
        }
        let encoded: String = form_urlencoded::byte_serialize(secret.as_bytes()).collect();
        if encoded != *secret {
            secrets.push(encoded);
        }
    }
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for secret in &secrets {
        if shown.contains(secret.as_str()) {
            shown = shown.replace(secret.as_str(), REDACTED);
        }
    }
    shown.chars().take(MAX_TEXT).collect()
}

/// Characters never shown from a provider: Unicode controls, line and paragraph
/// separators, and the invisible characters that change how a line reads without being
/// seen (bidi controls, zero-width characters, variation selectors, tag characters).
fn hidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00ad}'
                | '\u{061c}'
                | '\u{180e}'
                | '\u{200b}'..='\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2028}'..='\u{2029}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{2069}'
                | '\u{fe00}'..='\u{fe0f}'
                | '\u{feff}'
                | '\u{e0000}'..='\u{e007f}'
        )
}
