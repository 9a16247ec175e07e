//! The rules for an MCP server's URL (the `server_url` of a record): what is accepted,
//! how it is shown, and the resource indicator a refresh sends (RFC 8707 section 2).
//!
//! A server URL is part of the store key and is shown by every listing, so:
//! - user info (`https://user:password@host/...`) is refused: it is a credential, and a
//!   credential in a URL ends up in listings, logs and requests;
//! - a fragment is refused: RFC 8707 section 2 forbids one in a resource indicator;
//! - control characters are refused: a newline in a URL could forge a line of output;
//! - [`display_server_url`] shows a URL with user info and query values replaced by
//!   `***` (URLs stored before these rules, or by other programs, may hold them);
//! - [`resource_indicator`] is the URL without user info and fragment.
//!
//! The URL is split by hand (`scheme://authority/path?query#fragment`, RFC 3986
//! section 3) rather than normalized by a URL library: the store key hashes the exact
//! text, so the text is never rewritten, only checked and masked.

use std::borrow::Cow;

/// Why a server URL was refused by [`check_server_url`]. The message never quotes the
/// user info or a query value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ServerUrlError {
    /// The URL is empty.
    #[error("the server URL is empty")]
    Empty,
    /// The URL holds user info (`user:password@`), a credential that would be shown
    /// and sent with every request.
    #[error(
        "the server URL {shown} holds user info (user:password@): remove it; a URL must not carry credentials"
    )]
    UserInfo {
        /// The URL as [`display_server_url`] shows it.
        shown: String,
    },
    /// The URL has a fragment (`#...`), which a resource indicator must not have
    /// (RFC 8707 section 2).
    #[error(
        "the server URL {shown} has a fragment (#...): a resource indicator must not have one (RFC 8707 section 2)"
    )]
    Fragment {
        /// The URL as [`display_server_url`] shows it.
        shown: String,
    },
    /// The URL holds a control character (a newline, an escape), which could forge
    /// output lines or send terminal escapes.
    #[error("the server URL holds a control character (U+{code:04X})")]
    ControlCharacter {
        /// The code point of the first one.
        code: u32,
    },
}

/// The parts of a URL, as byte ranges of the text.
struct Parts<'a> {
    /// Everything up to and including `://`, or empty when there is none.
    scheme: &'a str,
    /// The user info without its `@`, when there is one.
    user_info: Option<&'a str>,
    /// Host and port.
    host: &'a str,
    /// The path (may be empty).
    path: &'a str,
    /// The query without its `?`.
    query: Option<&'a str>,
    /// The fragment without its `#`.
    fragment: Option<&'a str>,
}

fn split(url: &str) -> Parts<'_> {
    let (rest, fragment) = match url.split_once('#') {
        Some((rest, fragment)) => (rest, Some(fragment)),
        None => (url, None),
    };
    let (rest, query) = match rest.split_once('?') {
        Some((rest, query)) => (rest, Some(query)),
        None => (rest, None),
    };
    let (scheme, rest) = match rest.find("://") {
        Some(at) => rest.split_at(at + 3),
        None => ("", rest),
    };
    let (authority, path) = if scheme.is_empty() {
        ("", rest)
    } else {
        match rest.find('/') {
            Some(at) => rest.split_at(at),
            None => (rest, ""),
        }
    };
    let (user_info, host) = match authority.rsplit_once('@') {
        Some((user_info, host)) => (Some(user_info), host),
        None => (None, authority),
    };
    Parts {
        scheme,
        user_info,
        host,
        path,
        query,
        fragment,
    }
}

/// Checks a server URL against the rules of this module.
///
/// ```
/// use oauth_store_core::{check_server_url, ServerUrlError};
/// assert!(check_server_url("https://mcp.notion.com/mcp").is_ok());
/// let refused = check_server_url("https://me:hunter2@host/mcp").unwrap_err();
/// assert!(matches!(refused, ServerUrlError::UserInfo { .. }));
/// assert!(!refused.to_string().contains("hunter2"));
/// ```
///
/// # Errors
/// [`ServerUrlError`]: empty, user info, a fragment, a control character.
pub fn check_server_url(url: &str) -> Result<(), ServerUrlError> {
    if url.is_empty() {
        return Err(ServerUrlError::Empty);
    }
    if let Some(c) = url.chars().find(|c| c.is_control()) {
        return Err(ServerUrlError::ControlCharacter { code: u32::from(c) });
    }
    let parts = split(url);
    if parts.user_info.is_some() {
        return Err(ServerUrlError::UserInfo {
            shown: display_server_url(url).into_owned(),
        });
    }
    if parts.fragment.is_some() {
        return Err(ServerUrlError::Fragment {
            shown: display_server_url(url).into_owned(),
        });
    }
    Ok(())
}

/// The URL as output and logs may show it: user info, each query value and a fragment
/// replaced by `***` (query names are kept). A URL with none of them is returned as is.
///
/// ```
/// use oauth_store_core::display_server_url;
/// assert_eq!(display_server_url("https://u:p@host/mcp?token=abc&x#f"), "https://***@host/mcp?token=***&x#***");
/// assert_eq!(display_server_url("https://host/mcp"), "https://host/mcp");
/// ```
pub fn display_server_url(url: &str) -> Cow<'_, str> {
    let parts = split(url);
    if parts.user_info.is_none() && parts.query.is_none() && parts.fragment.is_none() {
        return Cow::Borrowed(url);
    }
    let mut out = String::with_capacity(url.len());
    out.push_str(parts.scheme);
    if parts.user_info.is_some() {
        out.push_str("***@");
    }
    out.push_str(parts.host);
    out.push_str(parts.path);
    if let Some(query) = parts.query {
        out.push('?');
        let masked: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name, _)) => format!("{name}=***"),
                None => pair.to_owned(),
            })
            .collect();
        out.push_str(&masked.join("&"));
    }
    if parts.fragment.is_some() {
        out.push_str("#***");
    }
    Cow::Owned(out)
}

/// The resource indicator of a server URL (RFC 8707 section 2): the URL without user
/// info and without a fragment, which the RFC forbids. The query is kept (RFC 8707
/// allows one, and the server named it).
///
/// ```
/// use oauth_store_core::resource_indicator;
/// assert_eq!(resource_indicator("https://host/mcp#frag"), "https://host/mcp");
/// assert_eq!(resource_indicator("https://u:p@host/mcp?v=1"), "https://host/mcp?v=1");
/// ```
pub fn resource_indicator(url: &str) -> Cow<'_, str> {
    let parts = split(url);
    if parts.user_info.is_none() && parts.fragment.is_none() {
        return Cow::Borrowed(url);
    }
    let mut out = String::with_capacity(url.len());
    out.push_str(parts.scheme);
    out.push_str(parts.host);
    out.push_str(parts.path);
    if let Some(query) = parts.query {
        out.push('?');
        out.push_str(query);
    }
    Cow::Owned(out)
}
