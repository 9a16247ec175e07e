//! `repair`.

use crate::util::{Home, Result, SERVER, SERVER_KEY, with};

/// A home whose document holds one good entry and then breaks off mid-entry.
fn corrupt_home() -> Result<Home> {
    let home = Home::new();
    home.run_with_stdin(&with(&["import"], &SERVER), r#"{"access_token":"at-1"}"#)
        .expect(0);
    let text = std::fs::read_to_string(home.document())?;
    let cut = text.trim_end().strip_suffix('}').expect("an object");
    std::fs::write(
        home.document(),
        format!(r#"{cut},"half|0000000000000000":{{"server_name":"half","acc"#),
    )?;
    Ok(home)
}

#[test]
fn a_corrupt_document_is_a_store_error_naming_repair() -> Result {
    let home = corrupt_home()?;
    for args in [
        vec!["list"],
        with(&["show"], &SERVER),
        with(&["token"], &SERVER),
    ] {
        let out = home.run(&args).expect(4);
        assert!(
            out.stderr.contains("oauth-store repair"),
            "{args:?}: {}",
            out.stderr
        );
        assert_eq!(out.stderr.lines().count(), 1);
    }
    Ok(())
}

#[test]
fn quarantines_and_rebuilds() -> Result {
    let home = corrupt_home()?;
    let broken = std::fs::read(home.document())?;
    let out = home.run(&["repair", "--json"]).expect(0);
    let report = out.json();
    assert_eq!(report["kept"], 1);
    let quarantined = report["quarantined"].as_str().expect("a quarantine path");
    assert_eq!(
        std::fs::read(quarantined)?,
        broken,
        "the old document is kept byte for byte"
    );
    let rows = home.run(&["list", "--json"]).expect(0).json();
    assert_eq!(rows[0]["store_key"], SERVER_KEY);
    // Repairing a healthy document changes nothing.
    let out = home.run(&["repair"]).expect(0);
    assert!(
        out.stdout
            .contains("parses (1 entry); nothing to quarantine"),
        "{}",
        out.stdout
    );
    Ok(())
}

#[test]
fn text_output_names_the_quarantine() -> Result {
    let home = corrupt_home()?;
    let out = home.run(&["repair"]).expect(0);
    assert!(
        out.stdout.starts_with("repaired ") && out.stdout.contains(".corrupt-"),
        "{}",
        out.stdout
    );
    Ok(())
}

#[test]
fn no_document_nothing_to_repair() -> Result {
    let home = Home::new();
    let out = home.run(&["repair"]).expect(0);
    assert!(
        out.stdout.starts_with("no File store document at ")
            && out.stdout.contains("File store only"),
        "{}",
        out.stdout
    );
    Ok(())
}

#[test]
fn doctor_after_repair_notes_the_quarantined_copy() -> Result {
    let home = corrupt_home()?;
    home.run(&["doctor"]).expect(6);
    home.run(&["repair"]).expect(0);
    let report = home.run(&["doctor", "--json"]).expect(0).json();
    assert!(
        report["notes"].to_string().contains(".corrupt-"),
        "{report}"
    );
    Ok(())
}

#[test]
fn an_entry_that_is_json_but_not_a_record_is_named_with_its_fix() -> Result {
    let home = Home::new();
    home.run_with_stdin(&with(&["import"], &SERVER), r#"{"access_token":"at-1"}"#)
        .expect(0);
    let mut document: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(home.document())?)?;
    let bad = oauth_store::compute_store_key("bad", "https://bad.example/mcp");
    document[bad.as_str()] =
        serde_json::json!({"server_name": 5, "server_url": "https://bad.example/mcp"});
    std::fs::write(home.document(), document.to_string())?;
    let out = home.run(&["repair"]).expect(0);
    assert!(!out.stdout.contains("nothing to repair"), "{}", out.stdout);
    assert!(
        out.stdout.contains("1 not a record")
            && out.stdout.contains(&format!(
                "{bad}: parses as JSON but not as a credential record"
            ))
            && out
                .stdout
                .contains("oauth-store logout --server 'bad' --url 'https://bad.example/mcp'")
            && out.stdout.contains("File store only"),
        "{}",
        out.stdout
    );
    let report = home.run(&["repair", "--json"]).expect(0).json();
    assert_eq!(report["unrepairable"][0]["store_key"], bad.as_str());
    // The fix it names works.
    home.run(&[
        "logout",
        "--server",
        "bad",
        "--url",
        "https://bad.example/mcp",
    ])
    .expect(0);
    let report = home.run(&["repair", "--json"]).expect(0).json();
    assert_eq!(report["unrepairable"], serde_json::json!([]));
    assert_eq!(report["kept"], 1);
    Ok(())
}

#[test]
fn a_document_over_64_mib_is_set_aside_and_its_first_part_kept() -> Result {
    let home = Home::new();
    home.run_with_stdin(&with(&["import"], &SERVER), r#"{"access_token":"at-1"}"#)
        .expect(0);
    let text = std::fs::read_to_string(home.document())?;
    let cut = text.trim_end().strip_suffix('}').expect("an object");
    // The good entry, then one that runs past 64 MiB.
    let filler = "x".repeat(65 * 1024 * 1024);
    std::fs::write(
        home.document(),
        format!(r#"{cut},"big|0000000000000000":{{"server_name":"{filler}"}}}}"#),
    )?;
    home.run(&["list"]).expect(4);
    let out = home.run(&["repair"]).expect(0);
    assert!(
        out.stdout.contains("over the size limit")
            && out.stdout.contains("set aside whole")
            && out.stdout.contains("1 entry kept"),
        "{}",
        out.stdout
    );
    let rows = home.run(&["list", "--json"]).expect(0).json();
    assert_eq!(rows[0]["store_key"], SERVER_KEY);
    Ok(())
}
