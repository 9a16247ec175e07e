//! Three "machines" (three homes, no shared files, each with its own lock directory)
//! sharing one login through a real PostgreSQL server (`oauth_store_testkit::postgres`)
//! against oidc-provider with rotating refresh tokens and reuse detection.

use oauth_store_testkit::postgres::PgServer;

use crate::peer::{Cli, Peer, available};
use crate::{TestResult, cli_storm};

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
    let machines: Vec<_> = homes
        .iter()
        .map(|home| Cli::postgres(home, &db.url, &passfile))
        .collect();
    let response = peer.login(MCP, None);
    let out = machines[0].run(
        &["import", "--server", "notion", "--url", MCP],
        Some(&response),
    );
    assert!(
        out.status.success(),
        "import: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Six `oauth-store token` loops per machine (one storm at a time, as every storm).
    let seconds = 20;
    let (calls, failed, first) = cli_storm(&machines, &[("notion", MCP)], 18, seconds, &[]);
    let refreshes = peer.stat("refreshes");
    eprintln!(
        "3 machines x 6 x token through postgres for {seconds} s: {calls} calls, {failed} failed, {refreshes} provider refreshes (about one per second: 2 s lifetime, refreshed from half of it; one chain, not 3 or 18), stats {}",
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
