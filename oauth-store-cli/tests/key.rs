//! `key`.

use crate::util::{Home, Result, SERVER, SERVER_KEY, run};

#[test]
fn prints_the_store_key_of_the_design_vector() -> Result {
    let out = run(&[
        "key",
        "--server",
        "test-server",
        "--url",
        "https://example.test",
    ])
    .expect(0);
    assert_eq!(out.stdout, "test-server|8c45d89ea13b3919\n");
    assert_eq!(out.stderr, "");
    Ok(())
}

#[test]
fn json_names_server_url_and_key() -> Result {
    let out = run(&[
        "key",
        "--json",
        "--server",
        "notion",
        "--url",
        "https://mcp.notion.com/mcp",
    ])
    .expect(0);
    assert_eq!(
        out.json(),
        serde_json::json!({"server_name": "notion", "server_url": "https://mcp.notion.com/mcp", "store_key": SERVER_KEY})
    );
    Ok(())
}

#[test]
fn touches_no_file() -> Result {
    let home = Home::new();
    home.run(&[&["key"][..], &SERVER].concat()).expect(0);
    assert!(!home.path().exists(), "key needs no home");
    Ok(())
}

#[test]
fn matches_the_fixture_vectors() -> Result {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/codex-home/.credentials.json"
    ))?;
    let document: serde_json::Value = serde_json::from_str(&text)?;
    for (key, record) in document.as_object().expect("an object") {
        let name = record["server_name"].as_str().expect("name");
        let url = record["server_url"].as_str().expect("url");
        let out = run(&["key", "--server", name, "--url", url]).expect(0);
        assert_eq!(out.stdout.trim_end(), key);
    }
    Ok(())
}

#[test]
fn an_empty_name_a_bar_or_a_control_character_is_refused_by_every_server_command() -> Result {
    let home = Home::new();
    for name in ["", "a|b", "line\nforged"] {
        for command in ["key", "import", "show", "token", "refresh", "logout"] {
            let out = home
                .run_with_stdin(
                    &[command, "--server", name, "--url", "https://x.example/mcp"],
                    r#"{"access_token":"a"}"#,
                )
                .expect(2);
            assert!(
                out.stderr.starts_with("error: --server: ") && out.stderr.lines().count() == 1,
                "{command} {name:?}: {}",
                out.stderr
            );
        }
    }
    assert!(!home.path().exists(), "refused before any store is opened");
    Ok(())
}

#[test]
fn a_url_with_user_info_or_a_fragment_is_refused_without_printing_it() -> Result {
    let home = Home::new();
    for url in [
        "https://user:PASSWORD@host.example/mcp?token=QUERYSECRET",
        "https://host.example/mcp?token=QUERYSECRET#frag",
    ] {
        for command in ["key", "import", "show", "token"] {
            let out = home
                .run_with_stdin(
                    &[command, "--server", "s", "--url", url, "--json"],
                    r#"{"access_token":"a"}"#,
                )
                .expect(2);
            assert_eq!(out.json_error()["error"], "usage");
            assert!(
                !out.stderr.contains("PASSWORD") && !out.stderr.contains("QUERYSECRET"),
                "{}",
                out.stderr
            );
        }
    }
    let out = run(&["key", "--server", "s", "--url", "https://h.example/mcp#x"]).expect(2);
    assert!(out.stderr.contains("fragment"), "{}", out.stderr);
    assert!(!home.path().exists());
    Ok(())
}
