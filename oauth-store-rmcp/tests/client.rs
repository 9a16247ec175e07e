//! Tests of `OwnedRefreshClient`: real rmcp clients in real processes against the peers.

use crate::support::{one_storm_at_a_time, peers, seeded_home, storm, totals};

/// How early the facade refreshes a 2 s token: from its advisory threshold on, half the
/// lifetime (DESIGN.md "Refresh thresholds"), in ms.
const SKEW_MS: u64 = 1_000;

/// Must show (b): 8 processes with the owned-refresh client, 20 s, 2 s tokens: no
/// reuse, no failed call, and provider refreshes within about
/// duration / (lifetime - skew) + 2, whatever the number of processes.
#[test]
fn eight_owned_refresh_processes_refresh_once_per_lifetime_for_the_machine() {
    let _one = one_storm_at_a_time();
    let Some(peers) = peers(2) else { return };
    let (home, _) = seeded_home(&peers);
    let duration_ms = 20_000;
    let reports = storm(&["owned"; 8], home.path(), &peers, duration_ms, None);
    let (calls, failed) = totals(&reports);
    let refreshes = peers.auth.stat("refreshes");
    let bound = duration_ms / (2_000 - SKEW_MS) + 2;
    eprintln!(
        "OwnedRefreshClient, 8 processes, 20 s, 2 s tokens: {calls} tool calls, {failed} failed, {refreshes} provider refreshes (bound {bound}), {} reuse",
        peers.auth.reuse_events()
    );
    assert_eq!(peers.auth.reuse_events(), 0, "no refresh token replayed");
    for report in &reports {
        assert!(report.calls > 0, "{report:?}");
        assert_eq!(report.failed(), 0, "{report:?}");
    }
    assert!(refreshes >= 5, "the tokens were refreshed: {refreshes}");
    assert!(
        refreshes <= bound,
        "{refreshes} provider refreshes, bound {bound}"
    );
    assert_eq!(peers.mcp.stat("tool_calls"), calls);
}
