//! `demo`: zero reuse with coordination; reuse without it.

use crate::util::{Result, run};

fn rows(args: &[&str]) -> Vec<serde_json::Value> {
    let out = run(args).expect(0);
    out.json().as_array().expect("an array of rows").clone()
}

#[test]
fn coordination_prevents_reuse_and_its_absence_shows_it() -> Result {
    let mut saw_reuse = false;
    for attempt in 1..=3 {
        let rows = rows(&[
            "demo",
            "--workers",
            "4",
            "--seconds",
            "4",
            "--uncoordinated",
            "--json",
        ]);
        assert_eq!(rows.len(), 2);
        let (coordinated, uncoordinated) = (&rows[0], &rows[1]);
        assert_eq!(coordinated["run"], "coordinated");
        assert_eq!(coordinated["processes"], 4);
        assert!(
            coordinated["calls"].as_u64().is_some_and(|c| c > 0),
            "{coordinated}"
        );
        assert!(
            coordinated["provider_refreshes"]
                .as_u64()
                .is_some_and(|r| r >= 1),
            "{coordinated}"
        );
        assert_eq!(coordinated["reuse_detections"], 0, "{coordinated}");
        assert_eq!(coordinated["grant_revoked"], false, "{coordinated}");
        assert_eq!(coordinated["failed_calls"], 0, "{coordinated}");
        assert!(
            coordinated["p50_us"].as_u64().is_some() && coordinated["p99_us"].as_u64().is_some()
        );
        assert_eq!(uncoordinated["run"], "uncoordinated");
        if uncoordinated["reuse_detections"]
            .as_u64()
            .is_some_and(|r| r > 0)
        {
            assert_eq!(uncoordinated["grant_revoked"], true, "{uncoordinated}");
            assert!(
                uncoordinated["failed_calls"]
                    .as_u64()
                    .is_some_and(|f| f > 0),
                "{uncoordinated}"
            );
            saw_reuse = true;
            break;
        }
        eprintln!(
            "attempt {attempt}: the uncoordinated storm happened to show no reuse: {uncoordinated}"
        );
    }
    assert!(
        saw_reuse,
        "three uncoordinated storms without a single reuse detection"
    );
    Ok(())
}

#[test]
fn prints_one_table() -> Result {
    let dir = tempfile::tempdir()?;
    let home = dir.path().join("demo-home");
    let out = run(&[
        "demo",
        "--workers",
        "2",
        "--seconds",
        "2",
        "--home",
        home.to_str().expect("utf-8"),
    ])
    .expect(0);
    for label in [
        "processes",
        "token calls",
        "provider refreshes",
        "reuse detections",
        "grant revoked",
        "failed calls",
        "token latency p50",
        "token latency p99",
    ] {
        assert!(
            out.stdout.lines().any(|l| l.starts_with(label)),
            "{label}:\n{}",
            out.stdout
        );
    }
    assert!(out.stdout.contains("coordinated: "), "{}", out.stdout);
    assert!(!out.stdout.contains("uncoordinated"), "{}", out.stdout);
    assert!(
        home.join("coordinated/.credentials.json").exists(),
        "--home is used"
    );
    Ok(())
}

#[test]
fn help_offers_only_what_demo_takes() -> Result {
    let out = run(&["demo", "--help"]).expect(0);
    // The option lines of the help, e.g. `      --workers <N>`.
    let offered: Vec<&str> = out
        .stdout
        .lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with("--"))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    for taken in [
        "--workers",
        "--seconds",
        "--uncoordinated",
        "--home",
        "--json",
    ] {
        assert!(offered.contains(&taken), "{taken}: {}", out.stdout);
    }
    for ignored in [
        "--store",
        "--layout",
        "--keyring-backend",
        "--keyring-timeout",
        "--unsafe-uncoordinated",
    ] {
        assert!(!offered.contains(&ignored), "{ignored}: {}", out.stdout);
    }
    // Other commands still offer them.
    let out = run(&["list", "--help"]).expect(0);
    assert!(out.stdout.contains("--store"), "{}", out.stdout);
    Ok(())
}
