//! The File store's cost beside what any reader or durable writer of the same bytes
//! pays, measured in one run: `cargo bench -p oauth-store-file --bench file` (what
//! `cargo xtask bench file` runs).
//!
//! - load at 1, 100, 1,000 and 10,000 entries, beside read + `serde_json` parse of the
//!   same bytes into a `Value` (the goal's baseline) and into `IgnoredAny` (validation
//!   only: the least any reader that checks the document can do);
//! - save (one entry replaced) at the same sizes, beside the raw durable write of the
//!   same bytes (temp file created 0600, write, fdatasync, rename, directory fsync: the
//!   syscalls of a minimal durable replace);
//! - saves per second from 1, 2, 4 and 8 processes (this binary re-executed, each saving
//!   distinct keys into one document), beside the single-process rate, and the count
//!   of lost updates.
//!
//! Samples of the store and of its baselines alternate, and the median of each is
//! reported, so drift of the disk or the machine hits both alike.
#![allow(clippy::print_stdout, reason = "a benchmark prints its table")]

use std::collections::HashSet;
use std::fs::{File, OpenOptions, Permissions};
use std::hint::black_box;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oauth_store_core::{Credential, CredentialStore, StoreKey, compute_store_key};
use oauth_store_file::FileStore;

const CHILD_ENV: &str = "OAUTH_STORE_FILE_BENCH_CHILD";
const SIZES: [usize; 4] = [1, 100, 1_000, 10_000];
const PROCESS_COUNTS: [usize; 4] = [1, 2, 4, 8];
/// Saves per multi-process run, split among the processes.
const SAVES_PER_RUN: usize = 320;
/// Runs per process count; the counts are interleaved round after round.
const PROCESS_ROUNDS: usize = 3;
/// Entries in the document before a multi-process run starts.
const SEEDED_ENTRIES: usize = 100;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn name(i: usize) -> String {
    format!("server-{i:05}")
}

fn url(name: &str) -> String {
    format!("https://{name}.mcp.example/mcp")
}

fn key_of(name: &str) -> StoreKey {
    compute_store_key(name, &url(name))
}

/// A record of realistic size (about 400 bytes): opaque tokens, a client id, an issuer.
fn record(name: &str, generation: u64) -> Credential {
    Credential::builder(
        name,
        url(name),
        format!("at.{generation:08}.{}", "A".repeat(96)).into(),
    )
    .client_id(format!("client-{name}-0123456789"))
    .refresh_token(format!("rt.{generation:08}.{}", "R".repeat(48)).into())
    .scopes(["read", "write"])
    .issuer("https://auth.mcp.example")
    .expires_at(1_893_456_000_000 + generation)
    .updated_at(1_760_000_000_000 + generation)
    .build()
}

/// A compact document of `n` entries.
fn document(n: usize) -> Vec<u8> {
    let mut out = String::from("{");
    for i in 0..n {
        if i > 0 {
            out.push(',');
        }
        let name = name(i);
        out.push_str(&serde_json::to_string(key_of(&name).as_str()).expect("a key serializes"));
        out.push(':');
        out.push_str(&serde_json::to_string(&record(&name, 0)).expect("a record serializes"));
    }
    out.push('}');
    out.into_bytes()
}

/// The raw durable write of `bytes` over `target`.
fn raw_durable_write(target: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let temp = target.with_extension("raw.tmp");
    let _ = std::fs::remove_file(&temp);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temp)?;
    file.set_permissions(Permissions::from_mode(0o600))?;
    file.write_all(bytes)?;
    file.sync_data()?;
    drop(file);
    std::fs::rename(&temp, target)?;
    File::open(target.parent().expect("a parent"))?.sync_all()
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Runs each of `fs` in turn, round after round, for about `budget` (at least
/// `min_rounds` rounds); returns each one's median.
fn alternate<const N: usize>(
    budget: Duration,
    min_rounds: usize,
    mut fs: [&mut dyn FnMut() -> Result<()>; N],
) -> Result<[Duration; N]> {
    let mut samples: [Vec<Duration>; N] = std::array::from_fn(|_| Vec::new());
    let started = Instant::now();
    let mut rounds = 0;
    while rounds < min_rounds || (started.elapsed() < budget && rounds < 20_000) {
        for (f, s) in fs.iter_mut().zip(samples.iter_mut()) {
            let t = Instant::now();
            f()?;
            s.push(t.elapsed());
        }
        rounds += 1;
    }
    Ok(std::array::from_fn(|i| median(&mut samples[i])))
}

fn micros(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e6)
}

fn ratio(a: Duration, b: Duration) -> String {
    format!("{:.2}x", a.as_secs_f64() / b.as_secs_f64())
}

fn bench_dir() -> Result<tempfile::TempDir> {
    // On the target directory's disk: /tmp may be a RAM file system where fsync is free.
    match option_env!("CARGO_TARGET_TMPDIR") {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            Ok(tempfile::tempdir_in(dir)?)
        }
        None => Ok(tempfile::tempdir()?),
    }
}

fn load_and_save() -> Result<()> {
    println!(
        "load (one key, parsed lazily) vs read + serde_json parse of the same bytes; median us"
    );
    println!(
        "{:>8} {:>10} {:>10} {:>12} {:>12} {:>10} {:>10}",
        "entries", "doc bytes", "load", "parse Value", "parse Ignored", "vs Value", "vs Ignored"
    );
    let mut save_rows = Vec::new();
    for n in SIZES {
        let dir = bench_dir()?;
        let home = dir.path().join("home");
        let store = FileStore::in_home(&home)?;
        let bytes = document(n);
        oauth_lock::atomic::replace(store.path(), &bytes)?;
        let target = key_of(&name(n / 2));
        let path = store.path().to_owned();
        let load_budget = Duration::from_millis(1500);
        let [load, value, ignored] = alternate(
            load_budget,
            20,
            [
                &mut || {
                    black_box(store.load(&target)?.expect("present"));
                    Ok(())
                },
                &mut || {
                    let read = std::fs::read(&path)?;
                    black_box(serde_json::from_slice::<serde_json::Value>(&read)?);
                    Ok(())
                },
                &mut || {
                    let read = std::fs::read(&path)?;
                    black_box(serde_json::from_slice::<serde::de::IgnoredAny>(&read)?);
                    Ok(())
                },
            ],
        )?;
        println!(
            "{n:>8} {:>10} {:>10} {:>12} {:>12} {:>10} {:>10}",
            bytes.len(),
            micros(load),
            micros(value),
            micros(ignored),
            ratio(load, value),
            ratio(load, ignored)
        );

        // Save replaces the middle entry with a new generation each time; the raw
        // write writes a document of the same size.
        let mut generation = 1u64;
        let raw_target = home.join("raw.json");
        let raw_bytes = std::fs::read(&path)?;
        let [save, raw] = alternate(
            Duration::from_millis(3000),
            20,
            [
                &mut || {
                    generation += 1;
                    store.save(&target, &record(&name(n / 2), generation))?;
                    Ok(())
                },
                &mut || Ok(raw_durable_write(&raw_target, &raw_bytes)?),
            ],
        )?;
        assert_eq!(store.list()?.len(), n, "every entry still there");
        save_rows.push((n, raw_bytes.len(), save, raw));
    }
    println!();
    println!(
        "save (one entry replaced, durable) vs raw durable write of the same bytes; median us"
    );
    println!(
        "{:>8} {:>10} {:>10} {:>12} {:>10}",
        "entries", "doc bytes", "save", "raw write", "ratio"
    );
    for (n, size, save, raw) in save_rows {
        println!(
            "{n:>8} {size:>10} {:>10} {:>12} {:>10}",
            micros(save),
            micros(raw),
            ratio(save, raw)
        );
    }
    Ok(())
}

/// A child: reads its share on the command line, says READY, waits for GO on stdin,
/// saves distinct keys, exits.
fn child(spec: &str) -> Result<()> {
    let (home, rest) = spec.split_once('\n').ok_or("spec: home\\nprefix,count")?;
    let (prefix, count) = rest.split_once(',').ok_or("spec: prefix,count")?;
    let count: usize = count.parse()?;
    let store = FileStore::in_home(Path::new(home))?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "READY")?;
    stdout.flush()?;
    let mut go = String::new();
    std::io::stdin().read_line(&mut go)?;
    for i in 0..count {
        let name = format!("{prefix}-{i}");
        store.save(&key_of(&name), &record(&name, i as u64))?;
    }
    Ok(())
}

/// One run: `p` processes share [`SAVES_PER_RUN`] saves of distinct keys into a fresh
/// document; returns saves per second and the number of lost updates.
fn process_run(p: usize) -> Result<(f64, usize)> {
    let exe = std::env::current_exe()?;
    let dir = bench_dir()?;
    let home: PathBuf = dir.path().join("home");
    let store = FileStore::in_home(&home)?;
    oauth_lock::atomic::replace(store.path(), &document(SEEDED_ENTRIES))?;
    let per = SAVES_PER_RUN / p;
    let mut children = Vec::new();
    for c in 0..p {
        let mut child = Command::new(&exe)
            .env(CHILD_ENV, format!("{}\np{c},{per}", home.display()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let mut out = BufReader::new(child.stdout.take().ok_or("stdout")?);
        let mut line = String::new();
        out.read_line(&mut line)?;
        children.push(child);
        if line.trim() != "READY" {
            for mut child in children {
                let _ = child.kill();
                let _ = child.wait();
            }
            return Err(format!("child {c} did not start: {line:?}").into());
        }
    }
    // Every child is started and waiting: the clock measures saves, not process starts.
    let started = Instant::now();
    for child in &mut children {
        writeln!(child.stdin.as_mut().ok_or("stdin")?, "GO")?;
    }
    let mut failed = None;
    for mut child in children {
        let status = child.wait()?;
        if !status.success() {
            failed = Some(status);
        }
    }
    let elapsed = started.elapsed();
    if let Some(status) = failed {
        return Err(format!("a child failed: {status}").into());
    }
    let stored: HashSet<StoreKey> = store.list()?.into_iter().map(|l| l.key).collect();
    let expected = (0..SEEDED_ENTRIES)
        .map(|i| key_of(&name(i)))
        .chain((0..p).flat_map(|c| (0..per).map(move |i| key_of(&format!("p{c}-{i}")))));
    let lost = expected.filter(|k| !stored.contains(k)).count();
    Ok(((per * p) as f64 / elapsed.as_secs_f64(), lost))
}

fn processes() -> Result<()> {
    println!();
    println!(
        "saves per second into one document ({SEEDED_ENTRIES} entries at the start, {SAVES_PER_RUN} saves per run split among the processes; median of {PROCESS_ROUNDS} interleaved runs, min-max beside)"
    );
    println!(
        "{:>9} {:>10} {:>15} {:>14} {:>12}",
        "processes", "saves/s", "min-max", "vs 1 process", "lost updates"
    );
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); PROCESS_COUNTS.len()];
    let mut lost = vec![0; PROCESS_COUNTS.len()];
    for _ in 0..PROCESS_ROUNDS {
        for (i, p) in PROCESS_COUNTS.into_iter().enumerate() {
            let (rate, lost_here) = process_run(p)?;
            rates[i].push(rate);
            lost[i] += lost_here;
        }
    }
    let medians: Vec<f64> = rates
        .iter_mut()
        .map(|r| {
            r.sort_by(f64::total_cmp);
            r[r.len() / 2]
        })
        .collect();
    for (i, p) in PROCESS_COUNTS.into_iter().enumerate() {
        let range = format!("{:.0}-{:.0}", rates[i][0], rates[i][rates[i].len() - 1]);
        println!(
            "{p:>9} {:>10.0} {range:>15} {:>13.2}x {:>12}",
            medians[i],
            medians[i] / medians[0],
            lost[i]
        );
    }
    Ok(())
}

fn main() -> Result<()> {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        return child(&spec);
    }
    let started = Instant::now();
    println!(
        "oauth-store-file bench (File store, {} build)",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    println!();
    load_and_save()?;
    processes()?;
    println!();
    println!("total {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}
