//! Where the workspace is, which cargo to run, and what `cargo metadata` says.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::Error;
use crate::step::Step;

/// The workspace this xtask belongs to.
#[derive(Debug)]
pub(crate) struct Workspace {
    root: PathBuf,
    cargo: OsString,
}

impl Workspace {
    /// The workspace around this crate, and the cargo that launched it (`$CARGO`,
    /// else `cargo` on `PATH`).
    pub(crate) fn from_env() -> Self {
        let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let root = manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf();
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        Workspace { root, cargo }
    }

    /// The workspace root.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// Where cargo puts build output: `$CARGO_TARGET_DIR`, else `target/` at the root.
    pub(crate) fn target_dir(&self) -> PathBuf {
        match std::env::var_os("CARGO_TARGET_DIR") {
            Some(dir) if !dir.is_empty() => self.root.join(dir),
            _ => self.root.join("target"),
        }
    }

    /// The cargo binary.
    pub(crate) fn cargo_program(&self) -> &OsString {
        &self.cargo
    }

    /// A cargo step at the workspace root, shown as `cargo args...`.
    pub(crate) fn cargo(&self, args: &[&str]) -> Step {
        let mut step = Step::new(&self.cargo, "cargo", args);
        step.command_mut().current_dir(&self.root);
        step
    }

    /// `cargo metadata --format-version 1 --all-features`: the resolved graph with every
    /// optional dependency switched on, so a feature cannot hide an edge from `deps`.
    ///
    /// # Errors
    /// [`Error::Spawn`], [`Error::StepFailed`] or [`Error::Metadata`].
    pub(crate) fn metadata(&self) -> Result<Metadata, Error> {
        let args = ["metadata", "--format-version", "1", "--all-features"];
        let label = format!("cargo {}", args.join(" "));
        let output = Command::new(&self.cargo)
            .args(args)
            .current_dir(&self.root)
            .stderr(Stdio::inherit())
            .output()
            .map_err(|source| Error::Spawn {
                command: label.clone(),
                source,
            })?;
        if !output.status.success() {
            return Err(Error::StepFailed {
                command: label,
                status: output.status,
            });
        }
        let json = serde_json::from_slice(&output.stdout)
            .map_err(|e| Error::Metadata(format!("not JSON: {e}")))?;
        Ok(Metadata { json })
    }
}

/// The output of `cargo metadata`.
#[derive(Debug)]
pub(crate) struct Metadata {
    pub(crate) json: Value,
}

impl Metadata {
    /// The workspace member named `name`, if there is one.
    pub(crate) fn member(&self, name: &str) -> Option<&Value> {
        let members = self.json.get("workspace_members")?.as_array()?;
        self.json
            .get("packages")?
            .as_array()?
            .iter()
            .filter(|p| p.get("name").and_then(Value::as_str) == Some(name))
            .find(|p| p.get("id").is_some_and(|id| members.contains(id)))
    }

    /// Whether the workspace has a member named `name`.
    pub(crate) fn has_member(&self, name: &str) -> bool {
        self.member(name).is_some()
    }

    /// Whether member `package` has a bench target named `bench`.
    pub(crate) fn has_bench(&self, package: &str, bench: &str) -> bool {
        let Some(targets) = self
            .member(package)
            .and_then(|p| p.get("targets"))
            .and_then(Value::as_array)
        else {
            return false;
        };
        targets.iter().any(|t| {
            t.get("name").and_then(Value::as_str) == Some(bench)
                && t.get("kind")
                    .and_then(Value::as_array)
                    .is_some_and(|k| k.iter().any(|k| k == "bench"))
        })
    }
}
