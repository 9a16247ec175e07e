//! Running one step: a header naming the command, the command with inherited stdio,
//! and an error naming the command when it fails.

use std::ffi::OsStr;
use std::io::Write;
use std::process::Command;
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
