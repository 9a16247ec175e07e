//! Running one step: a header naming the command, the command with inherited stdio,
//! and an error naming the command when it fails.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::Error;

/// A command to run as one step, with the command line shown to the reader.
#[derive(Debug)]
pub(crate) struct Step {
    cmd: Command,
    label: String,
}

impl Step {
    /// `program` with `args`, shown as `shown_program args...`.
    pub(crate) fn new(program: impl AsRef<OsStr>, shown_program: &str, args: &[&str]) -> Self {
        let mut cmd = Command::new(program);
        cmd.args(args);
        let mut label = shown_program.to_owned();
        for a in args {
            label.push(' ');
            label.push_str(&shell_quote(a));
        }
        Step { cmd, label }
    }

    /// Sets an environment variable, shown before the command.
    pub(crate) fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Self {
        let value = value.as_ref();
        let shown = shell_quote(&value.to_string_lossy());
        self.label = format!("{key}={shown} {}", self.label);
        self.cmd.env(key, value);
        self
    }

    /// Shows `label` instead of the command line (a command whose arguments include a
    /// whole script, which nobody wants to read in a log).
    pub(crate) fn labelled(mut self, label: &str) -> Self {
        self.label = label.to_owned();
        self
    }

    /// The underlying command, for settings the reader need not see (directory, env).
    pub(crate) fn command_mut(&mut self) -> &mut Command {
        &mut self.cmd
    }
}

/// `text` as a shell would need it, so a shown command line can be pasted.
fn shell_quote(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// Prints a step header. Flushed, because the step's own output goes straight to the
/// inherited descriptors.
pub(crate) fn header(label: &str) {
    println!("\n==> {label}");
    let _ = std::io::stdout().flush();
}

/// Runs `step` with inherited stdin, stdout and stderr.
///
/// # Errors
/// [`Error::Spawn`] when it cannot start, [`Error::StepFailed`] when it exits non-zero.
pub(crate) fn run(mut step: Step) -> Result<(), Error> {
    header(&step.label);
    let started = Instant::now();
    let status = step.cmd.status().map_err(|source| Error::Spawn {
        command: step.label.clone(),
        source,
    })?;
    if !status.success() {
        return Err(Error::StepFailed {
            command: step.label,
            status,
        });
    }
    println!(
        "<== ok in {:.1} s: {}",
        started.elapsed().as_secs_f64(),
        step.label
    );
    Ok(())
}

/// The tests counted across the steps of a run: from libtest's `test result:` lines,
/// and the loud lines of tests that skip themselves (they pass, so libtest counts them
/// as passed).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tally {
    pub(crate) passed: u64,
    pub(crate) failed: u64,
    pub(crate) skipped: u64,
}

impl Tally {
    /// Counts one line of a test run's output.
    pub(crate) fn count(&mut self, line: &str) {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("test result: ") {
            for part in rest.split(['.', ';']) {
                let mut words = part.split_whitespace();
                let (Some(n), Some(what)) = (words.next(), words.next()) else {
                    continue;
                };
                let Ok(n) = n.parse::<u64>() else {
                    continue;
                };
                match what {
                    "passed" => self.passed += n,
                    "failed" => self.failed += n,
                    "ignored" => self.skipped += n,
                    _ => {}
                }
            }
        } else if is_skip_line(line) {
            // A test that found its peer missing passed without testing anything.
            self.passed = self.passed.saturating_sub(1);
            self.skipped += 1;
        }
    }

    /// `N passed, N failed, N skipped`.
    pub(crate) fn line(&self) -> String {
        format!(
            "{} passed, {} failed, {} skipped",
            self.passed, self.failed, self.skipped
        )
    }
}

/// The loud line a test prints when it skips itself for a missing peer: `SKIPPED ...`,
/// `*** SKIPPED: ... ***`, or `<test>: skipped here: ...`.
fn is_skip_line(line: &str) -> bool {
    line.starts_with("SKIPPED")
        || line.starts_with("*** SKIPPED")
        || line.contains(": skipped here: ")
}

/// Runs `step` as [`run`] does, passing its stdout and stderr through line by line and
/// counting the tests they report into `tally` (libtest's result lines go to stdout, the
/// skip lines to stderr; the counts stand also when the step fails).
///
/// # Errors
/// As [`run`].
pub(crate) fn run_counted(mut step: Step, tally: &mut Tally) -> Result<(), Error> {
    header(&step.label);
    let started = Instant::now();
    step.cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = step.cmd.spawn().map_err(|source| Error::Spawn {
        command: step.label.clone(),
        source,
    })?;
    let shared = Arc::new(Mutex::new(Tally::default()));
    let mut readers = Vec::new();
    if let Some(out) = child.stdout.take() {
        let shared = Arc::clone(&shared);
        readers.push(std::thread::spawn(move || {
            pass_through(out, &mut std::io::stdout(), &shared);
        }));
    }
    if let Some(err) = child.stderr.take() {
        let shared = Arc::clone(&shared);
        readers.push(std::thread::spawn(move || {
            pass_through(err, &mut std::io::stderr(), &shared);
        }));
    }
    let status = child.wait().map_err(|source| Error::Spawn {
        command: step.label.clone(),
        source,
    });
    for reader in readers {
        let _ = reader.join();
    }
    let counted = *shared.lock().unwrap_or_else(|e| e.into_inner());
    tally.passed += counted.passed;
    tally.failed += counted.failed;
    tally.skipped += counted.skipped;
    let status = status?;
    if !status.success() {
        if counted.failed == 0 {
            // It failed before any test could (a build error): one failure, not none.
            tally.failed += 1;
        }
        return Err(Error::StepFailed {
            command: step.label,
            status,
        });
    }
    println!(
        "<== ok in {:.1} s: {}",
        started.elapsed().as_secs_f64(),
        step.label
    );
    Ok(())
}

/// Copies `from` to `to` line by line, counting each line.
fn pass_through(from: impl std::io::Read, to: &mut impl Write, tally: &Mutex<Tally>) {
    let mut reader = BufReader::new(from);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let _ = to.write_all(&line);
                let _ = to.flush();
                tally
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .count(&String::from_utf8_lossy(&line));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Tally;

    #[test]
    fn counts_result_lines_and_skip_lines_over_steps() {
        let mut tally = Tally::default();
        for line in [
            "running 3 tests",
            "test result: ok. 3 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s",
            "SKIPPED session_works: needs a Secret Service: run ...",
            "*** SKIPPED: the oidc-provider test peer is not installed ***",
            "keyring::migrate: skipped here: runs in cargo xtask test's keyring session",
            "test result: FAILED. 5 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out; finished in 1.2s",
            "test something ... ok",
        ] {
            tally.count(line);
        }
        assert_eq!(
            tally,
            Tally {
                passed: 5,
                failed: 2,
                skipped: 4
            }
        );
        assert_eq!(tally.line(), "5 passed, 2 failed, 4 skipped");
    }
}
