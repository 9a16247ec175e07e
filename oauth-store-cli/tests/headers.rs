//! `headers`: `{"Authorization": "Bearer <token>"}` on one line, after the same refresh
//! as `token`; exit 3 with nothing on stdout when nothing usable is stored.

use std::time::Duration;

use crate::util::{Home, Provider, Result, SERVER, with};

#[test]
fn prints_the_token_as_one_authorization_header_also_with_json() -> Result {
    let provider = Provider::start(Duration::from_secs(3600));
    let home = Home::new();
    provider.import(&home, None);
    for flag in [&[][..], &["--json"][..]] {
        let run = home
            .run(&with(&with(&["headers"], &provider.server()), flag))
            .expect(0);
        assert_eq!(
            run.stdout,
            format!(
                "{{\"Authorization\":\"Bearer {}\"}}\n",
                provider.grant.access_token
            )
        );
        assert_eq!(run.stderr, "");
    }
    assert_eq!(provider.endpoint.counters().refreshes, 0, "nothing was due");
    Ok(())
}

#[test]
fn refreshes_a_due_token_first_like_token() -> Result {
    let provider = Provider::start(Duration::from_secs(3600));
    let home = Home::new();
    provider.import(&home, Some(10)); // due under --min-valid 30
    let run = home
        .run(&with(&["headers", "--min-valid", "30"], &provider.server()))
        .expect(0);
    let header = run.json()["Authorization"]
        .as_str()
        .expect("Authorization")
        .to_owned();
    let token = header.strip_prefix("Bearer ").expect("Bearer scheme");
    assert_ne!(token, provider.grant.access_token);
    assert!(provider.endpoint.access_token_is_active(token));
    assert_eq!(provider.endpoint.counters().refreshes, 1);
    let again = home.run(&with(&["token"], &provider.server())).expect(0);
    assert_eq!(again.stdout.trim(), token, "token sees the same refresh");
    assert_eq!(provider.endpoint.counters().refreshes, 1);
    Ok(())
}

#[test]
fn nothing_stored_is_exit_3_with_nothing_on_stdout() -> Result {
    let home = Home::new();
    let run = home.run(&with(&["headers"], &SERVER)).expect(3);
    assert_eq!(run.stdout, "");
    assert!(run.stderr.starts_with("error: "), "{}", run.stderr);
    let json = home.run(&with(&["--json", "headers"], &SERVER)).expect(3);
    assert_eq!(json.stdout, "");
    assert_eq!(json.json_error()["error"], "authorization_required");
    Ok(())
}

#[test]
fn headers_checks_the_server_name_and_url_as_every_command_does() -> Result {
    let home = Home::new();
    for args in [
        ["headers", "--server", "", "--url", "https://x.test/"],
        ["headers", "--server", "a|b", "--url", "https://x.test/"],
        ["headers", "--server", "a", "--url", "https://x.test/#frag"],
    ] {
        let run = home.run(&args).expect(2);
        assert_eq!(run.stdout, "", "{args:?}");
    }
    Ok(())
}
