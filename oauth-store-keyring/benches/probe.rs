//! What probing and reading the keyring costs beside a File store load, so that the
//! keyring never dominates a short command such as `oauth-store token`.
//!
//! Run it on a private Secret Service (numbers without one cover the no-bus answer and
//! the File store only):
//!
//! ```text
//! oauth-store-keyring/tests/run-with-secret-service.sh --exec cargo bench -p oauth-store-keyring --bench probe
//! ```
//!
//! - Whole processes (this binary re-executed, median wall time of each): a File load
//!   alone (the baseline); a keyring load of an existing entry; a keyring load of an
//!   absent entry followed by the File load (Auto's fall-through); `probe`; and, with no
//!   session bus, `probe` + File load (the no-bus answer).
//! - Inside one process, after the first call (median per call): File load, keyring
//!   load of an existing and of an absent entry, `probe`, the no-bus `probe`.
//! - The first call in a process (connection and Secret Service session set-up).
#![allow(clippy::print_stdout, reason = "a benchmark prints its table")]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use oauth_store_core::{Credential, CredentialStore, StoreKey, compute_store_key};
use oauth_store_file::FileStore;
use oauth_store_keyring::{KeyringStore, Usability};

const CHILD_ENV: &str = "OAUTH_STORE_KEYRING_BENCH_CHILD";
const HOME_ENV: &str = "OAUTH_STORE_KEYRING_BENCH_HOME";
const SERVICE_ENV: &str = "OAUTH_STORE_KEYRING_BENCH_SERVICE";
const PROCESS_RUNS: usize = 30;
const WARM_RUNS: usize = 200;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn present() -> StoreKey {
    compute_store_key("present", "https://present.example/mcp")
}

fn absent() -> StoreKey {
    compute_store_key("absent", "https://absent.example/mcp")
}

fn record() -> Credential {
    Credential::builder(
        "present",
        "https://present.example/mcp",
        format!("at.{}", "A".repeat(96)).into(),
    )
    .client_id("client-present-0123456789")
    .refresh_token(format!("rt.{}", "R".repeat(96)).into())
    .scopes(["read", "write"])
    .expires_at(1_893_456_000_000)
    .build()
}

fn keyring(service: &str) -> KeyringStore {
    KeyringStore::new(service, Some("0123456789abcdef".to_owned()))
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn micros(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

/// One scenario inside a child process; prints the first call's time and, for `warm-*`,
/// the median of later calls.
fn child(scenario: &str) -> Result<()> {
    let home = PathBuf::from(std::env::var(HOME_ENV)?);
    let service = std::env::var(SERVICE_ENV)?;
    let file = FileStore::in_home(&home)?;
    let store = keyring(&service);
    let mut op: Box<dyn FnMut() -> Result<()>> = match scenario {
        "file" | "warm-file" => Box::new(|| {
            file.load(&present())?.ok_or("no record")?;
            Ok(())
        }),
        "keyring-hit" | "warm-keyring-hit" => Box::new(|| {
            store.load(&present())?.ok_or("no record")?;
            Ok(())
        }),
        "keyring-miss" => Box::new(|| {
            assert!(store.load(&absent())?.is_none());
            file.load(&present())?.ok_or("no record")?;
            Ok(())
        }),
        "warm-keyring-miss" => Box::new(|| {
            assert!(store.load(&absent())?.is_none());
            Ok(())
        }),
        "probe" | "warm-probe" => Box::new(|| {
            let usability = store.probe();
            assert!(usability.is_usable(), "{usability}");
            Ok(())
        }),
        "no-bus" | "warm-no-bus" => Box::new(|| {
            let usability = store.probe();
            assert!(
                matches!(usability, Usability::NoSessionBus { .. }),
                "{usability}"
            );
            if scenario == "no-bus" {
                file.load(&present())?.ok_or("no record")?;
            }
            Ok(())
        }),
        other => return Err(format!("unknown scenario {other}").into()),
    };
    let start = Instant::now();
    op()?;
    let first = start.elapsed();
    let mut warm = Vec::new();
    if scenario.starts_with("warm-") {
        for _ in 0..WARM_RUNS {
            let start = Instant::now();
            op()?;
            warm.push(start.elapsed());
        }
    }
    let warm = if warm.is_empty() {
        Duration::ZERO
    } else {
        median(warm)
    };
    println!("BENCH {} {}", first.as_nanos(), warm.as_nanos());
    Ok(())
}

struct Child {
    first: Duration,
    warm: Duration,
    wall: Duration,
}

fn run_child(scenario: &str, home: &Path, service: &str, no_bus: Option<&Path>) -> Result<Child> {
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.env(CHILD_ENV, scenario)
        .env(HOME_ENV, home)
        .env(SERVICE_ENV, service);
    if let Some(runtime) = no_bus {
        cmd.env_remove("DBUS_SESSION_BUS_ADDRESS")
            .env("XDG_RUNTIME_DIR", runtime);
    }
    let start = Instant::now();
    let output = cmd.output()?;
    let wall = start.elapsed();
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!(
            "{scenario} failed: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("BENCH "))
        .ok_or("no BENCH line")?;
    let mut numbers = line.split(' ').map(str::parse::<u64>);
    let first = Duration::from_nanos(numbers.next().ok_or("first")??);
    let warm = Duration::from_nanos(numbers.next().ok_or("warm")??);
    Ok(Child { first, warm, wall })
}

fn main() -> Result<()> {
    if let Ok(scenario) = std::env::var(CHILD_ENV) {
        return child(&scenario);
    }
    if std::env::args().any(|a| a == "--list") {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let home = dir.path().join("home");
    let empty_runtime = dir.path().join("run");
    std::fs::create_dir(&empty_runtime)?;
    FileStore::in_home(&home)?.save(&present(), &record())?;
    let service = format!("oauth-store-keyring-bench-{}", std::process::id());
    let session = keyring(&service).probe();
    let with_keyring = session.is_usable();
    if with_keyring {
        keyring(&service).save(&present(), &record())?;
    } else {
        println!(
            "no usable Secret Service ({session}): keyring rows skipped; run under tests/run-with-secret-service.sh"
        );
    }

    let mut scenarios = vec![("file", None), ("no-bus", Some(empty_runtime.as_path()))];
    if with_keyring {
        scenarios.extend([
            ("keyring-hit", None),
            ("keyring-miss", None),
            ("probe", None),
        ]);
    }
    println!("\nwhole process, median of {PROCESS_RUNS} (wall time; first call inside it):");
    let mut baseline = None;
    for (scenario, no_bus) in &scenarios {
        let mut walls = Vec::new();
        let mut firsts = Vec::new();
        for _ in 0..PROCESS_RUNS {
            let child = run_child(scenario, &home, &service, *no_bus)?;
            walls.push(child.wall);
            firsts.push(child.first);
        }
        let (wall, first) = (median(walls), median(firsts));
        let base = *baseline.get_or_insert(wall);
        println!(
            "  {scenario:<14} process {:>10} ({:.2}x file)  first call {:>10}",
            micros(wall),
            wall.as_secs_f64() / base.as_secs_f64(),
            micros(first),
        );
    }

    let mut warm = vec![
        ("warm-file", None),
        ("warm-no-bus", Some(empty_runtime.as_path())),
    ];
    if with_keyring {
        warm.extend([
            ("warm-keyring-hit", None),
            ("warm-keyring-miss", None),
            ("warm-probe", None),
        ]);
    }
    println!("\ninside one process, after the first call, median of {WARM_RUNS}:");
    let mut baseline = None;
    for (scenario, no_bus) in &warm {
        let child = run_child(scenario, &home, &service, *no_bus)?;
        let base = *baseline.get_or_insert(child.warm);
        println!(
            "  {scenario:<18} {:>10} ({:.2}x file load)",
            micros(child.warm),
            child.warm.as_secs_f64() / base.as_secs_f64(),
        );
    }
    if with_keyring {
        keyring(&service).delete(&present())?;
    }
    Ok(())
}
