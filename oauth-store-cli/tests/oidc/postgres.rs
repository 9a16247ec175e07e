//! Three "machines" (three homes, no shared files, each with its own lock directory)
//! sharing one login through a real PostgreSQL server (`oauth_store_testkit::postgres`)
//! against oidc-provider with rotating refresh tokens and reuse detection.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use oauth_store_testkit::postgres::{PgServer, TestDatabase};

use crate::TestResult;
use crate::peer::{Peer, available};

/// `oauth-store --store postgres` in `home` against `db`, the password from `passfile`.
fn pg_cli(
    home: &Path,
    db: &TestDatabase,
    port: u16,
    passfile: &Path,
    args: &[&str],
    stdin: Option<&str>,
) -> std::process::Output {
    use std::io::Write;
    let url = format!("postgresql://{}@127.0.0.1:{port}/{}", db.name, db.name);
    let mut child = Command::new(env!("CARGO_BIN_EXE_oauth-store"))
        .arg("--home")
        .arg(home)
        .args(["--store", "postgres", "--database-url", &url, "--passfile"])
        .arg(passfile)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn oauth-store");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
    }
    child.wait_with_output().expect("oauth-store output")
}

#[test]
fn three_machines_times_six_processes_for_20_s_share_one_rotation_chain_through_postgres()
-> TestResult {
    if !available() {
        return Ok(());
    }
    let Some(server) = PgServer::shared() else {
        return Ok(());
    };
    let db = server.database("oidc_storm", false);
    let peer = Peer::start(2);
    let dir = tempfile::tempdir()?;
    let passfile = server.passfile(dir.path(), &db);
    let homes: Vec<_> = (0..3)
        .map(|i| dir.path().join(format!("machine-{i}")))
        .collect();
    const MCP: &str = "https://mcp.example.test/mcp";
    let response = peer.login(MCP, None);
    let out = pg_cli(
        &homes[0],
        &db,
        server.port(),
        &passfile,
        &["import", "--server", "notion", "--url", MCP],
        Some(&response),
    );
    assert!(
        out.status.success(),
        "import: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let _one_at_a_time = crate::ONE_STORM_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let calls = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let first_failure = Arc::new(std::sync::Mutex::new(String::new()));
    let seconds = 20;
    let deadline = Instant::now() + Duration::from_secs(seconds);
    std::thread::scope(|scope| {
        for home in &homes {
            for _ in 0..6 {
                let (calls, failed, first_failure) =
                    (calls.clone(), failed.clone(), first_failure.clone());
                let (db, passfile) = (&db, &passfile);
                scope.spawn(move || {
                    while Instant::now() < deadline {
                        let out = pg_cli(
                            home,
                            db,
                            server.port(),
                            passfile,
                            &[
                                "token",
                                "--server",
                                "notion",
                                "--url",
                                MCP,
                                "--min-valid",
                                "1",
                            ],
                            None,
                        );
                        calls.fetch_add(1, Ordering::Relaxed);
                        if !out.status.success() || out.stdout.is_empty() {
                            failed.fetch_add(1, Ordering::Relaxed);
                            let mut first = first_failure.lock().expect("first");
                            if first.is_empty() {
                                *first = format!(
                                    "{:?}: {}",
                                    out.status.code(),
                                    String::from_utf8_lossy(&out.stderr)
                                );
                            }
                        }
                    }
                });
            }
        }
    });
    let (calls, failed) = (
        calls.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed),
    );
    let first = first_failure.lock().expect("first").clone();
    let refreshes = peer.stat("refreshes");
    eprintln!(
        "3 machines x 6 x token through postgres for {seconds} s: {calls} calls, {failed} failed, {refreshes} provider refreshes (about one per second: 2 s lifetime, --min-valid 1; one chain, not 3 or 18), stats {}",
        peer.stats()
    );
    assert_eq!(
        peer.reuse_events(),
        0,
        "the peer saw no refresh-token reuse"
    );
    assert_eq!(peer.stat("reuse_detections"), 0);
    assert_eq!(failed, 0, "every call exits 0 to the end: {first}");
    // About one refresh per second of a 2 s lifetime with --min-valid 1 (~20), not x3
    // (one chain per machine) and not x18 (one per process).
    assert!((8..=40).contains(&refreshes), "refreshes: {refreshes}");
    for home in &homes {
        assert!(
            !home.join(".credentials.json").exists(),
            "no machine kept a File copy"
        );
    }
    Ok(())
}
