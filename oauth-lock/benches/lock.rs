//! Lock benchmark: what a store lock costs beside the raw `flock` it is built on, all
//! measured in one run so the ratios hold for this machine and this moment.
//!
//! Run with `cargo xtask bench lock` (or `cargo bench -p oauth-lock --bench lock`).
//! It prints one table:
//! - uncontended acquire+release of a store lock (`LockDir::acquire` + drop) against
//!   `File::lock`/`unlock` on an already-open file and against open+lock+close;
//! - the hand-off between two processes, from the holder's release to the waiter
//!   holding the lock, after a hold of 1 ms and of 1 s, against a waiter blocked in a
//!   raw `File::lock`. DESIGN.md's goal is a median within about 1 ms in both cases (a
//!   50 ms polling loop, the common design, averages 25 ms).
//!
//! The holder is this binary re-executed with `OAUTH_LOCK_BENCH_CHILD` set. Both sides
//! read `CLOCK_MONOTONIC` (system-wide on Linux, so comparable across processes, unlike
//! the opaque `Instant`); the holder stamps just before it releases and reports the
//! stamp after, so the reporting costs nothing in the measurement.
//!
//! Environment: `OAUTH_LOCK_BENCH_SCALE` (a positive float, default 1) scales every
//! sample count, e.g. 0.1 for a quick look.
#![allow(
    clippy::print_stdout,
    reason = "a benchmark's output is its table on stdout"
)]

use std::error::Error;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use oauth_lock::{LockDir, LockScope, LockTarget, StoreLock};

type Result<T> = std::result::Result<T, Box<dyn Error>>;
/// A held lock of either kind; dropping it releases.
type Held = Box<dyn std::any::Any>;

/// Set in the holder child: the lock directory to use.
const CHILD_ENV: &str = "OAUTH_LOCK_BENCH_CHILD";
const TARGET: LockTarget = LockTarget::Store(StoreLock::File);
/// Generous: a hand-off that takes this long is a broken lock, not a slow one.
const WAIT_BOUND: Duration = Duration::from_secs(30);

fn main() -> Result<()> {
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        return holder_child(Path::new(&dir));
    }
    let scale = std::env::var("OAUTH_LOCK_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| *s > 0.0)
        .unwrap_or(1.0);
    let n = |base: usize| ((base as f64 * scale).round() as usize).max(3);

    let home = tempfile::tempdir()?;
    let locks = LockDir::open(home.path().join("mcp-oauth-locks"))?;
    let raw_path = home.path().join("raw.lock");
    let started = Instant::now();

    println!("oauth-lock bench: one run, {} cpus", cpus());
    println!();
    println!("uncontended acquire + release ({} samples each)", n(20_000));
    let store = uncontended_store(&locks, n(20_000))?;
    let open_lock_close = uncontended_open_lock_close(&raw_path, n(20_000))?;
    let lock_unlock = uncontended_lock_unlock(&raw_path, n(20_000))?;
    header("acquire + release");
    row("store lock (LockDir::acquire + drop)", &store);
    row("raw open + File::lock + close", &open_lock_close);
    row("raw File::lock/unlock on open file", &lock_unlock);
    ratio_line("store / open+lock+close", &store, &open_lock_close);
    ratio_line("store / lock+unlock on open file", &store, &lock_unlock);

    let mut holder = Holder::spawn(home.path(), locks.path())?;
    for (hold, samples) in [
        (Duration::from_millis(1), n(200)),
        (Duration::from_secs(1), n(8)),
    ] {
        println!();
        println!(
            "hand-off between two processes, holder held {} ms ({samples} samples each)",
            hold.as_millis()
        );
        let store = handoff(&mut holder, Mode::Store, hold, samples, || {
            let guard = locks.acquire(&LockScope::new(), &TARGET, WAIT_BOUND)?;
            Ok(Box::new(guard) as Held)
        })?;
        let raw = handoff(&mut holder, Mode::Raw, hold, samples, || {
            let file = open_raw(&raw_path)?;
            file.lock()?;
            Ok(Box::new(file) as Held)
        })?;
        header("release -> waiter holds");
        row("store lock (LockDir::acquire)", &store);
        row("raw blocking File::lock", &raw);
        ratio_line("store / raw", &store, &raw);
        let goal = Duration::from_millis(1);
        println!(
            "  goal: median within about 1 ms: {} (a 50 ms polling loop averages 25 ms)",
            if store.median() <= goal {
                "met"
            } else {
                "NOT met"
            }
        );
    }
    holder.finish()?;
    println!();
    println!(
        "total {:.1} s. Hand-off stamps are CLOCK_MONOTONIC read in each process; they \
         include the time to schedule the woken waiter.",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Nanoseconds on `CLOCK_MONOTONIC`: one clock for every process of the machine.
fn monotonic_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

fn open_raw(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
}

fn uncontended_store(locks: &LockDir, samples: usize) -> Result<Samples> {
    let scope = LockScope::new();
    let mut once = || -> Result<Duration> {
        let t = Instant::now();
        drop(locks.acquire(&scope, &TARGET, WAIT_BOUND)?);
        Ok(t.elapsed())
    };
    measure(samples, &mut once)
}

fn uncontended_open_lock_close(path: &Path, samples: usize) -> Result<Samples> {
    let mut once = || -> Result<Duration> {
        let t = Instant::now();
        let file = open_raw(path)?;
        file.lock()?;
        drop(file);
        Ok(t.elapsed())
    };
    measure(samples, &mut once)
}

fn uncontended_lock_unlock(path: &Path, samples: usize) -> Result<Samples> {
    let file = open_raw(path)?;
    let mut once = || -> Result<Duration> {
        let t = Instant::now();
        file.lock()?;
        file.unlock()?;
        Ok(t.elapsed())
    };
    measure(samples, &mut once)
}

/// Runs `once` a tenth of `samples` times to warm up, then `samples` times.
fn measure(samples: usize, once: &mut dyn FnMut() -> Result<Duration>) -> Result<Samples> {
    for _ in 0..samples / 10 {
        once()?;
    }
    let mut out = Vec::with_capacity(samples);
    for _ in 0..samples {
        out.push(once()?);
    }
    Ok(Samples::new(out))
}

#[derive(Clone, Copy)]
enum Mode {
    /// The holder takes the store lock with `LockDir::acquire`.
    Store,
    /// The holder takes a raw `File::lock` on `raw.lock`.
    Raw,
}

/// One hand-off sample after another: the child holds, this process starts waiting
/// and says so, the child keeps holding for `hold`, stamps and releases; `wait`
/// returns holding the lock, is stamped at once, then released.
fn handoff(
    holder: &mut Holder,
    mode: Mode,
    hold: Duration,
    samples: usize,
    mut wait: impl FnMut() -> Result<Held>,
) -> Result<Samples> {
    let mut out = Vec::with_capacity(samples);
    for _ in 0..samples {
        let word = match mode {
            Mode::Store => "store",
            Mode::Raw => "raw",
        };
        holder.send(&format!("hold {word} {}", hold.as_micros()))?;
        holder.expect("held")?;
        // The hold starts when the child reads this, so this process is blocked in
        // the kernel well before the release (the 1 ms case included).
        holder.send("waiting")?;
        let held = wait()?;
        let acquired = monotonic_ns();
        drop(held);
        let released: u64 = holder
            .expect_prefix("released ")?
            .parse()
            .map_err(|e| format!("holder sent a bad stamp: {e}"))?;
        out.push(Duration::from_nanos(acquired.saturating_sub(released)));
    }
    Ok(Samples::new(out))
}

/// The holder child, driven over its stdin and stdout.
struct Holder {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Holder {
    fn spawn(home: &Path, lock_dir: &Path) -> Result<Self> {
        let mut child = Command::new(std::env::current_exe()?)
            .env(CHILD_ENV, lock_dir)
            .env("OAUTH_LOCK_BENCH_RAW", home.join("raw.lock"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdin = child.stdin.take().ok_or("holder stdin")?;
        let stdout = BufReader::new(child.stdout.take().ok_or("holder stdout")?);
        Ok(Holder {
            child,
            stdin,
            stdout,
        })
    }

    fn send(&mut self, line: &str) -> Result<()> {
        writeln!(self.stdin, "{line}")?;
        self.stdin.flush()?;
        Ok(())
    }

    fn expect_prefix(&mut self, prefix: &str) -> Result<String> {
        let mut line = String::new();
        if self.stdout.read_line(&mut line)? == 0 {
            return Err(format!("holder exited before `{prefix}`").into());
        }
        let line = line.trim_end();
        match line.strip_prefix(prefix) {
            Some(rest) => Ok(rest.to_owned()),
            None => Err(format!("holder said `{line}`, expected `{prefix}...`").into()),
        }
    }

    fn expect(&mut self, word: &str) -> Result<()> {
        self.expect_prefix(word).map(drop)
    }

    fn finish(mut self) -> Result<()> {
        self.send("quit")?;
        drop(self.stdin);
        let status = self.child.wait()?;
        if !status.success() {
            return Err(format!("holder child failed: {status}").into());
        }
        Ok(())
    }
}

/// The child's side: `hold <store|raw> <µs>` takes the lock and answers `held`; on
/// `waiting` it keeps holding for the given time, stamps, releases and answers
/// `released <ns>`.
fn holder_child(lock_dir: &Path) -> Result<()> {
    let locks = LockDir::open(lock_dir)?;
    let raw_path = std::env::var_os("OAUTH_LOCK_BENCH_RAW").ok_or("OAUTH_LOCK_BENCH_RAW")?;
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    let mut lines = stdin.lock().lines();
    while let Some(line) = lines.next() {
        let line = line?;
        let mut words = line.split_whitespace();
        match (words.next(), words.next(), words.next()) {
            (Some("hold"), Some(mode), Some(micros)) => {
                let hold = Duration::from_micros(micros.parse()?);
                let held: Held = match mode {
                    "store" => Box::new(locks.acquire(&LockScope::new(), &TARGET, WAIT_BOUND)?),
                    _ => {
                        let file = open_raw(Path::new(&raw_path))?;
                        file.lock()?;
                        Box::new(file)
                    }
                };
                writeln!(out, "held")?;
                out.flush()?;
                match lines.next() {
                    Some(Ok(w)) if w == "waiting" => {}
                    other => return Err(format!("expected `waiting`, got {other:?}").into()),
                }
                std::thread::sleep(hold);
                let stamp = monotonic_ns();
                drop(held);
                writeln!(out, "released {stamp}")?;
                out.flush()?;
            }
            (Some("quit"), ..) => return Ok(()),
            _ => return Err(format!("holder: unknown command `{line}`").into()),
        }
    }
    Ok(())
}

/// Durations of one measurement, sorted.
struct Samples(Vec<Duration>);

impl Samples {
    fn new(mut v: Vec<Duration>) -> Self {
        v.sort_unstable();
        Samples(v)
    }

    /// The nearest-rank percentile `p` (0..=100).
    fn percentile(&self, p: f64) -> Duration {
        let n = self.0.len();
        let rank = ((p / 100.0) * n as f64).ceil() as usize;
        self.0[rank.clamp(1, n) - 1]
    }

    fn median(&self) -> Duration {
        self.percentile(50.0)
    }

    fn p99(&self) -> Duration {
        self.percentile(99.0)
    }
}

fn fmt_duration(d: Duration) -> String {
    let ns = d.as_nanos() as f64;
    if ns < 1_000.0 {
        format!("{ns:.0} ns")
    } else if ns < 1_000_000.0 {
        format!("{:.1} µs", ns / 1_000.0)
    } else {
        format!("{:.2} ms", ns / 1_000_000.0)
    }
}

fn header(what: &str) {
    println!("  {what:<40} {:>10} {:>10}", "median", "p99");
}

fn row(name: &str, s: &Samples) {
    println!(
        "  {name:<40} {:>10} {:>10}",
        fmt_duration(s.median()),
        fmt_duration(s.p99())
    );
}

fn ratio_line(name: &str, a: &Samples, b: &Samples) {
    let ratio = |x: Duration, y: Duration| x.as_secs_f64() / y.as_secs_f64().max(1e-9);
    println!(
        "  {name:<40} {:>9.2}x {:>9.2}x",
        ratio(a.median(), b.median()),
        ratio(a.p99(), b.p99())
    );
}
