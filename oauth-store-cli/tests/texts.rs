//! The library speaks in library terms: no error text or doc comment in a library
//! crate's sources names a command or an option of this CLI (those belong here, where
//! the CLI maps the library's errors to what to run).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::util::{Result, run};

/// Every subcommand and `--option` the CLI's help lists (subcommands' help included).
fn cli_vocabulary() -> (BTreeSet<String>, BTreeSet<String>) {
    let top = run(&["--help"]).expect(0).stdout;
    let commands: BTreeSet<String> = top
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_owned)
        .collect();
    let mut options = BTreeSet::new();
    let mut texts = vec![top.clone()];
    for command in &commands {
        texts.push(run(&[command, "--help"]).expect(0).stdout);
    }
    for text in texts {
        for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')) {
            if let Some(name) = word.strip_prefix("--")
                && !name.is_empty()
                && !matches!(name, "help" | "version")
            {
                options.insert(word.to_owned());
            }
        }
    }
    (commands, options)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Whether `line` holds `word` as a whole option (not as the prefix of a longer one).
fn names_option(line: &str, option: &str) -> bool {
    line.match_indices(option).any(|(at, _)| {
        let after = line[at + option.len()..].chars().next();
        let before = line[..at].chars().next_back();
        !after.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-')
            && !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-')
    })
}

#[test]
fn no_library_source_names_a_cli_command_or_option() -> Result {
    let (commands, options) = cli_vocabulary();
    assert!(
        commands.contains("repair") && options.contains("--store"),
        "{commands:?} {options:?}"
    );
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&root)?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        // The CLI itself and the project's automation may name the CLI.
        if name.starts_with("oauth-") && name != "oauth-store-cli" {
            rust_files(&entry.path().join("src"), &mut files);
        }
    }
    assert!(
        files.len() > 20,
        "found the library sources: {}",
        files.len()
    );
    let mut found = Vec::new();
    for file in &files {
        for (n, line) in std::fs::read_to_string(file)?.lines().enumerate() {
            let invoked = commands
                .iter()
                .any(|c| line.contains(&format!("oauth-store {c}")));
            let option = options.iter().find(|o| names_option(line, o));
            if invoked || option.is_some() {
                found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "library texts naming the CLI:\n{}",
        found.join("\n")
    );
    Ok(())
}
