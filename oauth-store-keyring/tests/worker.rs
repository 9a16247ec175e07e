//! The keyring worker: every call bounded, queued calls dropped when their caller gives
//! up, no queueing behind a stuck call, and service again once it returns. Against a
//! bus that accepts connections and never answers, and against gnome-keyring stopped
//! with SIGSTOP.

use std::io::{BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::child::{Report, Script, assert_clean, read_until, run, spawn};
use crate::session::{self, Daemon, nested};
use crate::{TestResult, unique_service};

const BOUND: Duration = Duration::from_millis(1_000);
/// A call that fails fast takes well under the bound.
const FAST_MS: u128 = 300;

fn assert_timed_out_within_bound(report: &Report) {
    assert_eq!(report.outcome, "err:timeout", "{report:?}");
    assert!(
        report.ms >= BOUND.as_millis() && report.ms < BOUND.as_millis() + 1_500,
        "{report:?}"
    );
}

fn assert_failed_fast(report: &Report) {
    assert!(
        report.outcome.split(',').all(|o| o == "err:timeout"),
        "{report:?}"
    );
    let slowest = report
        .text
        .split(',')
        .filter_map(|t| t.parse::<u128>().ok())
        .chain([report.ms])
        .max()
        .unwrap_or(0);
    assert!(slowest < FAST_MS, "{report:?}");
}

/// A "bus" that accepts connections and never says a word: the D-Bus handshake hangs,
/// as it does with a stopped daemon. Counts connections; holds them until released,
/// then closes every new one at once.
struct SilentBus {
    accepted: Arc<AtomicUsize>,
    held: Arc<Mutex<Vec<UnixStream>>>,
    released: Arc<AtomicBool>,
}

impl SilentBus {
    fn start(listener: UnixListener) -> SilentBus {
        let bus = SilentBus {
            accepted: Arc::new(AtomicUsize::new(0)),
            held: Arc::new(Mutex::new(Vec::new())),
            released: Arc::new(AtomicBool::new(false)),
        };
        let (accepted, held, released) = (
            Arc::clone(&bus.accepted),
            Arc::clone(&bus.held),
            Arc::clone(&bus.released),
        );
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { break };
                accepted.fetch_add(1, Ordering::SeqCst);
                if !released.load(Ordering::SeqCst) {
                    held.lock().expect("held").push(stream);
                }
            }
        });
        bus
    }

    fn release(&self) {
        self.released.store(true, Ordering::SeqCst);
        self.held.lock().expect("held").clear();
    }
}

#[test]
fn a_silent_bus_times_out_fails_fast_and_recovers() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("bus");
    let bus = SilentBus::start(UnixListener::bind(&path)?);
    let script = Script::new(
        "oauth-store",
        None,
        &[
            // One call runs (stuck in the handshake); two queue behind it, and all
            // three give up at the bound.
            "burst:3:alpha",
            // The worker is stuck past a deadline: no queueing, an answer at once.
            "load:alpha",
            "burst:4:alpha",
            "wait-stdin",
            "load-until-answer:alpha",
        ],
    )
    .timeout(BOUND);
    let mut cmd = script.command();
    cmd.env(
        "DBUS_SESSION_BUS_ADDRESS",
        format!("unix:path={}", path.display()),
    );
    let mut child = spawn(cmd)?;
    let mut reader = BufReader::new(child.stdout.take().ok_or("stdout")?);
    let mut seen = Vec::new();

    let first = read_until(&mut reader, "burst", &mut seen)?;
    assert!(
        first.outcome.split(',').all(|o| o == "err:timeout"),
        "{first:?}"
    );
    assert!(
        first.ms >= BOUND.as_millis() && first.ms < BOUND.as_millis() + 1_500,
        "{first:?}"
    );
    assert_failed_fast(&read_until(&mut reader, "load", &mut seen)?);
    assert_failed_fast(&read_until(&mut reader, "burst", &mut seen)?);
    read_until(&mut reader, "waiting", &mut seen)?;
    assert_eq!(
        bus.accepted.load(Ordering::SeqCst),
        1,
        "only the running call connected; the others never reached the bus"
    );

    // The "daemon" hangs up: the stuck call returns, and the queued calls whose
    // callers gave up are skipped.
    bus.release();
    writeln!(child.stdin.as_mut().ok_or("stdin")?, "go")?;
    let answer = read_until(&mut reader, "load-until-answer", &mut seen)?;
    assert_ne!(answer.outcome, "err:timeout", "{answer:?}");
    assert!(answer.outcome.starts_with("err:"), "{answer:?}");
    let status = child.wait()?;
    assert!(status.success(), "{seen:?}");
    assert_eq!(
        bus.accepted.load(Ordering::SeqCst),
        2,
        "one new connection for the answered call, none for the abandoned ones: {seen:?}"
    );
    Ok(())
}

/// gnome-keyring stopped with SIGSTOP: a timeout within the bound, later calls fail at
/// once instead of queueing, and after SIGCONT the next call works.
#[test]
fn a_stopped_daemon_times_out_and_the_next_call_works_after_sigcont() -> TestResult {
    if !session::available(
        "worker::a_stopped_daemon_times_out_and_the_next_call_works_after_sigcont",
    ) {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let script = Script::new(
        &unique_service("sigstop"),
        Some("0123456789abcdef"),
        &[
            "save:alpha",
            "load:alpha",
            "daemon-pid",
            "stop",
            "load:alpha",
            "load:alpha",
            "burst:4:alpha",
            "save:beta",
            "cont",
            "load-until-ok:alpha",
            "delete:alpha",
        ],
    )
    .timeout(BOUND);
    let outcome = run(
        nested(dir.path(), Daemon::Unlocked, &script.command())?,
        Duration::from_secs(60),
    )?;
    eprintln!("{}", outcome.stdout);
    // Whatever happened, never leave a stopped daemon behind.
    if let Ok(report) = outcome.step("daemon-pid")
        && let Some(pid) = report.outcome.strip_prefix("pid:")
    {
        let _ = std::process::Command::new("kill")
            .args(["-CONT", pid])
            .status();
    }
    assert_clean(&outcome)?;
    assert_eq!(outcome.nth("load", 0)?.outcome, "some:at-alpha");
    assert_timed_out_within_bound(outcome.nth("load", 1)?);
    assert_failed_fast(outcome.nth("load", 2)?);
    assert_failed_fast(outcome.step("burst")?);
    // A save while stuck is a timeout too (indeterminate, never a fall-back).
    let save = outcome.nth("save", 1)?;
    assert_eq!(save.outcome, "err:timeout", "{save:?}");
    assert!(save.text.contains("outcome is unknown"), "{save:?}");
    let resumed = outcome.step("load-until-ok")?;
    assert_eq!(resumed.outcome, "some:at-alpha", "{}", outcome.stdout);
    assert!(resumed.ms < 5_000, "{resumed:?}");
    assert_eq!(outcome.step("delete")?.outcome, "true");
    Ok(())
}
