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
