//! `cargo xtask fuzz [TARGET|all] [--seconds N]`: the coverage-guided fuzz targets of
//! `fuzz/` (cargo-fuzz with libFuzzer), one at a time, on one core.
//!
//! - no argument: lists the targets and how to run them;
//! - `TARGET`: runs it for `--seconds` (default 120);
//! - `all`, or only `--seconds N`: runs every target in turn.
//!
//! Each run starts from the committed seeds (`fuzz/corpus/<target>/`) and keeps what it
//! finds in `fuzz/target/corpus/<target>/` (not committed), so later runs go on from
//! there; a crash is written to `fuzz/artifacts/<target>/`. At the end a table gives
//! each target's executions, coverage (`cov`: edges, `ft`: features) and outcome.
//!
//! cargo-fuzz needs a nightly compiler; on stable it runs with `RUSTC_BOOTSTRAP=1`. The
//! targets are built without a sanitizer (`-s none`: the crates forbid `unsafe`, and
//! it about doubles the executions) but with debug assertions and overflow checks.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use crate::Error;
use crate::step;
use crate::workspace::Workspace;

const DEFAULT_SECONDS: u64 = 120;
const INSTALL: &str = "cargo install cargo-fuzz --locked";

/// What one run of a target reached.
#[derive(Debug, Default)]
struct Outcome {
    target: String,
    runs: Option<u64>,
    cov: Option<u64>,
    ft: Option<u64>,
    crashed: bool,
}

/// Runs `cargo xtask fuzz` with `args` (see the module).
///
/// # Errors
/// [`Error::Usage`] for bad arguments or an unknown target; [`Error::Spawn`] when
/// cargo-fuzz is missing; [`Error::Fuzz`] when a target crashed.
pub(crate) fn run(ws: &Workspace, args: &[&str]) -> Result<(), Error> {
    let fuzz_dir = ws.root().join("fuzz");
    let targets = targets(&fuzz_dir)?;
    let mut seconds = DEFAULT_SECONDS;
    let mut chosen: Vec<String> = Vec::new();
    let mut all = false;
    let mut rest = args.iter();
    while let Some(&arg) = rest.next() {
        match arg {
            "--seconds" => {
                seconds = rest
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|n| *n > 0)
                    .ok_or_else(|| Error::Usage("--seconds takes a positive number".into()))?;
                all |= chosen.is_empty();
            }
            "all" => all = true,
            name if targets.iter().any(|t| t == name) => chosen.push(name.to_owned()),
            other => {
                return Err(Error::Usage(format!(
                    "unknown fuzz target `{other}`; one of: {}",
                    targets.join(", ")
                )));
            }
        }
    }
    if !chosen.is_empty() {
        all = false;
    }
    if chosen.is_empty() && !all {
        println!("fuzz targets (fuzz/fuzz_targets/):");
        for t in &targets {
            println!("  {t}");
        }
        println!(
            "run one: cargo xtask fuzz TARGET [--seconds N]; every one in turn: cargo xtask \
             fuzz all [--seconds N] (default {DEFAULT_SECONDS} s each; needs {INSTALL})"
        );
        return Ok(());
    }
    if all {
        chosen = targets;
    }
    let mut outcomes = Vec::new();
    for target in &chosen {
        outcomes.push(run_target(ws, &fuzz_dir, target, seconds)?);
    }
    println!(
        "\n{:<20} {:>12} {:>8} {:>8}  outcome",
        "target", "executions", "cov", "ft"
    );
    let show = |n: Option<u64>| n.map_or_else(|| "?".to_owned(), |n| n.to_string());
    for o in &outcomes {
        println!(
            "{:<20} {:>12} {:>8} {:>8}  {}",
            o.target,
            show(o.runs),
            show(o.cov),
            show(o.ft),
            if o.crashed {
                format!("CRASHED: see fuzz/artifacts/{}/", o.target)
            } else {
                format!("no crash in {seconds} s")
            }
        );
    }
    let crashed: Vec<String> = outcomes
        .iter()
        .filter(|o| o.crashed)
        .map(|o| o.target.clone())
        .collect();
    if crashed.is_empty() {
        Ok(())
    } else {
        Err(Error::Fuzz(crashed))
    }
}

/// The target names: the files of `fuzz/fuzz_targets/`, sorted.
fn targets(fuzz_dir: &Path) -> Result<Vec<String>, Error> {
    let dir = fuzz_dir.join("fuzz_targets");
    let entries = std::fs::read_dir(&dir).map_err(|source| Error::Io {
        what: format!("listing {}", dir.display()),
        source,
    })?;
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.strip_suffix(".rs").map(str::to_owned)
        })
        .collect();
    names.sort();
    Ok(names)
}

/// Runs one target for `seconds`, its output passed through, and reads what it reached.
fn run_target(
    ws: &Workspace,
    fuzz_dir: &Path,
    target: &str,
    seconds: u64,
) -> Result<Outcome, Error> {
    let work = fuzz_dir.join("target").join("corpus").join(target);
    std::fs::create_dir_all(&work).map_err(|source| Error::Io {
        what: format!("creating {}", work.display()),
        source,
    })?;
    let seeds = fuzz_dir.join("corpus").join(target);
    let total = format!("-max_total_time={seconds}");
    let args = [
        "fuzz",
        "run",
        "--fuzz-dir",
        "fuzz",
        "-s",
        "none",
        "-a",
        target,
        work.to_str().unwrap_or_default(),
        seeds.to_str().unwrap_or_default(),
        "--",
        &total,
        "-timeout=10",
        "-rss_limit_mb=2048",
        "-print_final_stats=1",
    ];
    let label = format!("RUSTC_BOOTSTRAP=1 cargo {}", args.join(" "));
    step::header(&label);
    let mut child = Command::new(ws.cargo_program())
        .args(args)
        .env("RUSTC_BOOTSTRAP", "1")
        .current_dir(ws.root())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| Error::Spawn {
            command: format!("{label} (needs {INSTALL})"),
            source,
        })?;
    let mut outcome = Outcome {
        target: target.to_owned(),
        ..Outcome::default()
    };
    if let Some(stderr) = child.stderr.take() {
        let mut out = std::io::stderr();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = writeln!(out, "{line}");
            read_progress(&line, &mut outcome);
        }
    }
    let status = child.wait().map_err(|source| Error::Spawn {
        command: label.clone(),
        source,
    })?;
    outcome.crashed = !status.success();
    Ok(outcome)
}

/// Takes executions and coverage from a libFuzzer status line
/// (`#1234 NEW cov: 56 ft: 78 corp: ...`) or its final `stat::number_of_executed_units`.
fn read_progress(line: &str, outcome: &mut Outcome) {
    let field = |name: &str| -> Option<u64> {
        let mut words = line.split_whitespace();
        words.find(|w| *w == name)?;
        words.next()?.parse().ok()
    };
    if let Some(rest) = line.strip_prefix('#') {
        if let Some(runs) = rest.split_whitespace().next().and_then(|n| n.parse().ok()) {
            outcome.runs = Some(runs);
        }
        outcome.cov = field("cov:").or(outcome.cov);
        outcome.ft = field("ft:").or(outcome.ft);
    } else if let Some(n) = line.strip_prefix("stat::number_of_executed_units:") {
        outcome.runs = n.trim().parse().ok().or(outcome.runs);
    }
}
