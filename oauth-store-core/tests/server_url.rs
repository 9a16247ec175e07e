//! `server_url`: what a server URL may hold, how it is shown, the resource indicator.

use oauth_store_core::{ServerUrlError, check_server_url, display_server_url, resource_indicator};
use proptest::prelude::*;

#[test]
fn ordinary_urls_pass_and_show_as_they_are() {
    for url in [
        "https://mcp.notion.com/mcp",
        "http://127.0.0.1:8080/mcp",
        "https://host/mcp/",
        "https://host",
        "https://host/mcp?version=2",
    ] {
        assert_eq!(check_server_url(url), Ok(()), "{url}");
        assert_eq!(resource_indicator(url), url);
    }
    assert_eq!(display_server_url("https://host/mcp"), "https://host/mcp");
}

#[test]
fn user_info_fragment_control_and_empty_are_refused_without_quoting_secrets() {
    let refused = check_server_url("https://user:PASSWORD@host/mcp?token=QUERYSECRET");
    let Err(error @ ServerUrlError::UserInfo { .. }) = refused else {
        panic!("{refused:?}");
    };
    let text = error.to_string();
    assert!(
        !text.contains("PASSWORD") && !text.contains("QUERYSECRET"),
        "{text}"
    );
    assert!(matches!(
        check_server_url("https://host/mcp#frag"),
        Err(ServerUrlError::Fragment { .. })
    ));
    assert_eq!(
        check_server_url("https://host/mcp\nforged"),
        Err(ServerUrlError::ControlCharacter { code: 0x0a })
    );
    assert_eq!(check_server_url(""), Err(ServerUrlError::Empty));
}

#[test]
fn display_masks_user_info_query_values_and_fragment() {
    assert_eq!(
        display_server_url("https://user:PASSWORD@host:8443/mcp?token=abc&flag&b=2#frag"),
        "https://***@host:8443/mcp?token=***&flag&b=***#***"
    );
}

#[test]
fn the_resource_indicator_has_no_fragment_and_no_user_info() {
    assert_eq!(
        resource_indicator("https://u:p@host/mcp?x=1#f"),
        "https://host/mcp?x=1"
    );
}

proptest! {
    /// Whatever the text, the display form never holds the user info or a query value.
    #[test]
    fn display_never_shows_user_info_or_query_values(
        user in "[A-Za-z0-9]{6,12}",
        value in "[A-Za-z0-9]{6,12}",
        path in "(/[a-z]{0,5}){0,3}",
    ) {
        let url = format!("https://{user}:{user}@host{path}?k={value}");
        let shown = display_server_url(&url);
        prop_assert!(!shown.contains(&user) && !shown.contains(&value), "{}", shown);
        let resource = resource_indicator(&url);
        prop_assert!(!resource.contains('@') && !resource.contains('#'));
    }
}
