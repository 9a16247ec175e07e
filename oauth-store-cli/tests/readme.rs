//! README.md's Rust examples are the programs the tests run: each ```rust block is,
//! byte for byte, one of the `readme_*` test targets (`harness = false`: `cargo test`
//! compiles and runs their `main`), each built with only the dependencies of the crate
//! the example says it uses.

use crate::util::Result;

/// The example programs, relative to the workspace root.
const EXAMPLES: [&str; 5] = [
    "oauth-store/tests/readme_facade.rs",
    "oauth-store-rmcp/tests/readme_rmcp_store.rs",
    "oauth-store-rmcp/tests/readme_rmcp_owned.rs",
    "oauth-store-file/tests/readme_file_store.rs",
    "oauth-store-core/tests/readme_own_backend.rs",
];

fn root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_owned()
}

/// The text of every ```rust block of `markdown`.
fn rust_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match &mut current {
            None if line.trim_start().starts_with("```rust") => current = Some(String::new()),
            None => {}
            Some(_) if line.trim_start().starts_with("```") => {
                blocks.extend(current.take());
            }
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
        }
    }
    blocks
}

#[test]
fn every_rust_block_is_an_example_program_and_every_program_is_in_the_readme() -> Result {
    let readme = std::fs::read_to_string(root().join("README.md"))?;
    let blocks = rust_blocks(&readme);
    let programs: Vec<String> = EXAMPLES
        .iter()
        .map(|path| std::fs::read_to_string(root().join(path)))
        .collect::<std::io::Result<_>>()?;
    for (i, block) in blocks.iter().enumerate() {
        assert!(
            programs.contains(block),
            "README.md's rust block {} is none of {EXAMPLES:?} (edit both together):\n{block}",
            i + 1
        );
    }
    for (path, program) in EXAMPLES.iter().zip(&programs) {
        assert!(blocks.contains(program), "{path} is not in README.md");
    }
    Ok(())
}
