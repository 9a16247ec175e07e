//! Durable writes per command, counted in the process itself: every write of
//! `oauth_lock::atomic` emits one `oauth_lock::write` debug event, which the binary
//! prints on stderr under `RUST_LOG=oauth_lock::write=debug`. A read with nothing due
//! writes nothing; a refresh writes the document once; the drift sidecar is written
//! only by a first (or changed) resolution, and without the directory fsync.

use std::path::PathBuf;
use std::time::Duration;

use crate::util::{Home, Provider, Result, finish, with};

/// One write as traced: which file, and whether the directory was fsynced.
#[derive(Debug, PartialEq, Eq)]
struct Write {
    operation: String,
    path: PathBuf,
    dir_synced: bool,
}

/// Runs `args` in `home` with write tracing on; returns stdout and the writes made.
fn traced(home: &Home, args: &[&str]) -> (String, Vec<Write>) {
    let mut cmd = home.command(args);
    cmd.env("RUST_LOG", "oauth_lock::write=debug");
    let out = finish(cmd, None).expect(0);
    let writes = out
        .stderr
        .lines()
        .filter(|line| line.contains("oauth_lock::write"))
        .map(|line| {
            let field = |name: &str| {
                line.split(&format!(" {name}="))
                    .nth(1)
                    .and_then(|rest| rest.split(' ').next())
                    .unwrap_or_else(|| panic!("no {name} in {line:?}"))
                    .trim_matches('"')
                    .to_owned()
            };
            Write {
                operation: field("operation"),
                path: field("path").into(),
                dir_synced: field("dir_synced") == "true",
            }
        })
        .collect();
    (out.stdout, writes)
}

fn replaced(path: PathBuf, dir_synced: bool) -> Write {
    Write {
        operation: "replace".into(),
        path,
        dir_synced,
    }
}

fn token_writes_only_what_changed(home: &Home) -> Result {
    let provider = Provider::start(Duration::from_secs(3600));
    provider.import(home, None);
    let sidecar = home.path().join(".mcp-oauth-store-resolutions.json");
    let document = home.document();
    assert!(sidecar.exists(), "the import recorded its resolution");

    // Nothing due: nothing written, however often.
    for _ in 0..3 {
        let (stdout, writes) = traced(home, &with(&["token"], &provider.server()));
        assert_eq!(stdout.trim_end(), provider.grant.access_token);
        assert_eq!(writes, [], "token with nothing due");
    }

    // A refresh: the document once, durably; the sidecar already records the store.
    let (stdout, writes) = traced(
        home,
        &with(&["token", "--min-valid", "7200"], &provider.server()),
    );
    assert_ne!(stdout.trim_end(), provider.grant.access_token);
    assert_eq!(provider.endpoint.counters().refreshes, 1);
    assert_eq!(writes, [replaced(document.clone(), true)], "a refresh");
    let (_, writes) = traced(home, &with(&["token"], &provider.server()));
    assert_eq!(writes, [], "token after a refresh");

    // A first resolution (no sidecar yet): the sidecar once, without the directory fsync.
    std::fs::remove_file(&sidecar)?;
    let (_, writes) = traced(home, &with(&["token"], &provider.server()));
    assert_eq!(
        writes,
        [replaced(sidecar.clone(), false)],
        "a first resolution"
    );
    let (_, writes) = traced(home, &with(&["token"], &provider.server()));
    assert_eq!(writes, [], "and only once");
    Ok(())
}

#[test]
fn token_writes_only_what_changed_in_the_file_store() -> Result {
    token_writes_only_what_changed(&Home::new())
}

#[test]
fn token_writes_only_what_changed_under_auto_without_a_keyring() -> Result {
    let mut home = Home::new();
    home.options = vec!["--store".into(), "auto".into()];
    token_writes_only_what_changed(&home)
}
