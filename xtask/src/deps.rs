//! `cargo xtask deps`: DESIGN.md "Crates" says the dependency graph is part of the
//! contract; this checks it on the resolved graph of `cargo metadata`.
//!
//! Edges are normal and build dependencies on any platform, with every feature on;
//! dev-dependencies are not part of the contract (tests may use anything). Each
//! violation names the shortest offending path, e.g.
//! `oauth-drift -> oauth-lock -> oauth-store-file`. A rule about a crate that does not
//! exist yet is skipped.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde_json::Value;

use crate::Error;
use crate::workspace::Workspace;

/// What a rule forbids its crate to reach, directly or transitively.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Forbid {
    /// Any workspace crate except these.
    WorkspaceExcept(&'static [&'static str]),
    /// Crates with these names; a name ending in `*` is a prefix.
    Crates(&'static [&'static str]),
}

/// One rule of DESIGN.md's graph.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rule {
    /// The crate the rule is about.
    pub(crate) krate: &'static str,
    /// What it forbids.
    pub(crate) forbid: Forbid,
    /// The rule in words, printed with a violation.
    pub(crate) says: &'static str,
}

/// Crates that do I/O (network, files, OS keyrings, async runtimes): `oauth-store-core`
/// is the record and the trait only, so a third-party backend pulls in nothing more.
const IO_CRATES: &[&str] = &[
    "tokio",
    "async-std",
    "smol",
    "mio",
    "socket2",
    "hyper",
    "reqwest",
    "ureq",
    "tiny_http",
    "rustls",
    "native-tls",
    "openssl",
    "keyring*",
    "secret-service",
    "zbus",
    "dbus",
    "fslock",
    "fs2",
    "fs4",
    "tempfile",
    "rustix",
    "nix",
];

/// DESIGN.md "Crates", as rules.
pub(crate) const RULES: &[Rule] = &[
    Rule {
        krate: "oauth-store-core",
        forbid: Forbid::WorkspaceExcept(&[]),
        says: "oauth-store-core depends on no workspace crate",
    },
    Rule {
        krate: "oauth-store-core",
        forbid: Forbid::Crates(IO_CRATES),
        says: "oauth-store-core does no I/O: no network, file-lock, keyring or runtime crate",
    },
    Rule {
        krate: "oauth-lock",
        forbid: Forbid::WorkspaceExcept(&[]),
        says: "oauth-lock depends on no workspace crate",
    },
    Rule {
        krate: "oauth-store-file",
        forbid: Forbid::WorkspaceExcept(&["oauth-store-core", "oauth-lock"]),
        says: "oauth-store-file depends only on oauth-store-core and oauth-lock among workspace crates",
    },
    Rule {
        krate: "oauth-store-secrets",
        forbid: Forbid::WorkspaceExcept(&["oauth-store-core", "oauth-lock", "oauth-store-keyring"]),
        says: "oauth-store-secrets depends only on oauth-store-core, oauth-lock and oauth-store-keyring among workspace crates",
    },
    Rule {
        krate: "oauth-store-keyring",
        forbid: Forbid::WorkspaceExcept(&["oauth-store-core", "oauth-lock"]),
        says: "oauth-store-keyring depends only on oauth-store-core (and oauth-lock) among workspace crates",
    },
    Rule {
        krate: "oauth-store-postgres",
        forbid: Forbid::WorkspaceExcept(&["oauth-store-core"]),
        says: "oauth-store-postgres depends only on oauth-store-core among workspace crates (never the facade)",
    },
    Rule {
        krate: "oauth-store",
        forbid: Forbid::Crates(&["oauth-store-postgres"]),
        says: "the oauth-store facade does not depend on oauth-store-postgres (the CLI brings both together)",
    },
    Rule {
        krate: "oauth-drift",
        forbid: Forbid::Crates(&[
            "oauth-store-postgres",
            "oauth-store-file",
            "oauth-store-secrets",
            "oauth-store-keyring",
            "oauth-store",
            "keyring*",
        ]),
        says: "oauth-drift never reaches, even transitively, a store crate, a keyring crate or the oauth-store facade",
    },
    Rule {
        krate: "oauth-store-testkit",
        forbid: Forbid::Crates(&["oauth-store"]),
        says: "oauth-store-testkit does not depend on the oauth-store facade",
    },
    Rule {
        krate: "oauth-store",
        forbid: Forbid::Crates(&["rmcp", "oauth-store-rmcp"]),
        says: "the oauth-store facade never depends on rmcp; oauth-store-rmcp brings it",
    },
    Rule {
        krate: "oauth-store-rmcp",
        forbid: Forbid::WorkspaceExcept(&[
            "oauth-store",
            "oauth-store-core",
            "oauth-lock",
            "oauth-store-file",
            "oauth-store-secrets",
            "oauth-store-keyring",
            "oauth-drift",
        ]),
        says: "oauth-store-rmcp depends on the oauth-store facade (and what it brings) among workspace crates",
    },
];

/// The resolved dependency graph: packages and their normal and build edges.
#[derive(Debug)]
pub(crate) struct Graph {
    names: Vec<String>,
    workspace: Vec<bool>,
    deps: Vec<Vec<usize>>,
}

impl Graph {
    /// Reads the graph from `cargo metadata --format-version 1` output.
    ///
    /// # Errors
    /// A message naming what is missing when the JSON is not cargo's shape.
    pub(crate) fn from_metadata(json: &Value) -> Result<Graph, String> {
        let packages = json
            .get("packages")
            .and_then(Value::as_array)
            .ok_or("no `packages` array")?;
        let members: BTreeSet<&str> = json
            .get("workspace_members")
            .and_then(Value::as_array)
            .ok_or("no `workspace_members` array")?
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let mut index = BTreeMap::new();
        let mut graph = Graph {
            names: Vec::new(),
            workspace: Vec::new(),
            deps: Vec::new(),
        };
        for p in packages {
            let id = p
                .get("id")
                .and_then(Value::as_str)
                .ok_or("package without id")?;
            let name = p
                .get("name")
                .and_then(Value::as_str)
                .ok_or("package without name")?;
            index.insert(id, graph.names.len());
            graph.names.push(name.to_owned());
            graph.workspace.push(members.contains(id));
            graph.deps.push(Vec::new());
        }
        let nodes = json
            .pointer("/resolve/nodes")
            .and_then(Value::as_array)
            .ok_or("no `resolve.nodes` (was --no-deps given?)")?;
        for node in nodes {
            let id = node
                .get("id")
                .and_then(Value::as_str)
                .ok_or("node without id")?;
            let &from = index.get(id).ok_or_else(|| format!("unknown node {id}"))?;
            for dep in node
                .get("deps")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let pkg = dep
                    .get("pkg")
                    .and_then(Value::as_str)
                    .ok_or("dep without pkg")?;
                let &to = index.get(pkg).ok_or_else(|| format!("unknown dep {pkg}"))?;
                // A dependency may be dev for one target and normal for another: any
                // kind other than "dev" makes it part of the contract.
                let counts = dep
                    .get("dep_kinds")
                    .and_then(Value::as_array)
                    .is_none_or(|kinds| {
                        kinds
                            .iter()
                            .any(|k| k.get("kind").and_then(Value::as_str) != Some("dev"))
                    });
                if counts && !graph.deps[from].contains(&to) {
                    graph.deps[from].push(to);
                }
            }
        }
        Ok(graph)
    }

    fn member(&self, name: &str) -> Option<usize> {
        (0..self.names.len()).find(|&i| self.workspace[i] && self.names[i] == name)
    }

    /// The workspace crates `name` depends on directly, sorted.
    fn direct_workspace_deps(&self, from: usize) -> Vec<&str> {
        let mut out: Vec<&str> = self.deps[from]
            .iter()
            .filter(|&&d| self.workspace[d])
            .map(|&d| self.names[d].as_str())
            .collect();
        out.sort_unstable();
        out
    }

    /// Breadth-first from `from`: the shortest path to every reachable node that
    /// `offends`, not looking past an offending node (its own paths would repeat it).
    fn offending_paths(&self, from: usize, offends: impl Fn(usize) -> bool) -> Vec<Vec<usize>> {
        let mut parent: Vec<Option<usize>> = vec![None; self.names.len()];
        let mut seen = vec![false; self.names.len()];
        seen[from] = true;
        let mut queue = VecDeque::from([from]);
        let mut found = Vec::new();
        while let Some(at) = queue.pop_front() {
            for &next in &self.deps[at] {
                if seen[next] {
                    continue;
                }
                seen[next] = true;
                parent[next] = Some(at);
                if offends(next) {
                    let mut path = vec![next];
                    let mut cur = next;
                    while let Some(p) = parent[cur] {
                        path.push(p);
                        cur = p;
                    }
                    path.reverse();
                    found.push(path);
                } else {
                    queue.push_back(next);
                }
            }
        }
        found
    }
}

/// A broken rule: the rule and the path that breaks it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Violation {
    /// The path, crate names from the rule's crate to the offending one.
    pub(crate) path: Vec<String>,
    /// The rule in words.
    pub(crate) says: &'static str,
}

impl Violation {
    /// `a -> b -> c: <rule>`.
    pub(crate) fn describe(&self) -> String {
        format!("  {}\n      breaks: {}", self.path.join(" -> "), self.says)
    }
}

/// The outcome of checking a graph.
#[derive(Debug, Default)]
pub(crate) struct Report {
    /// Broken rules, in rule order.
    pub(crate) violations: Vec<Violation>,
    /// How many rules applied.
    pub(crate) checked: usize,
    /// Crates named by rules but not in the workspace (yet), each once.
    pub(crate) skipped: Vec<&'static str>,
}

fn matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

/// Checks `graph` against `rules`.
pub(crate) fn check(graph: &Graph, rules: &[Rule]) -> Report {
    let mut report = Report::default();
    for rule in rules {
        let Some(from) = graph.member(rule.krate) else {
            if !report.skipped.contains(&rule.krate) {
                report.skipped.push(rule.krate);
            }
            continue;
        };
        report.checked += 1;
        let paths = match rule.forbid {
            Forbid::WorkspaceExcept(allowed) => graph.offending_paths(from, |i| {
                graph.workspace[i] && !allowed.contains(&graph.names[i].as_str())
            }),
            Forbid::Crates(names) => graph.offending_paths(from, |i| {
                names
                    .iter()
                    .any(|pattern| matches(pattern, &graph.names[i]))
            }),
        };
        for path in paths {
            report.violations.push(Violation {
                path: path.iter().map(|&i| graph.names[i].clone()).collect(),
                says: rule.says,
            });
        }
    }
    report
}

/// `cargo xtask deps`: checks the workspace and prints a short summary.
///
/// # Errors
/// [`Error::Deps`] listing every violation with its path; metadata errors.
pub(crate) fn run(ws: &Workspace) -> Result<(), Error> {
    let metadata = ws.metadata()?;
    let graph = Graph::from_metadata(&metadata.json).map_err(Error::Metadata)?;
    let report = check(&graph, RULES);
    if !report.violations.is_empty() {
        return Err(Error::Deps(
            report.violations.iter().map(Violation::describe).collect(),
        ));
    }
    let mut members: Vec<usize> = (0..graph.names.len())
        .filter(|&i| graph.workspace[i])
        .collect();
    members.sort_by(|&a, &b| graph.names[a].cmp(&graph.names[b]));
    println!(
        "deps: ok: {} rules hold on {} workspace crates (normal + build edges, all features)",
        report.checked,
        members.len()
    );
    for &m in &members {
        let deps = graph.direct_workspace_deps(m);
        let deps = if deps.is_empty() {
            "(no workspace crate)".to_owned()
        } else {
            deps.join(", ")
        };
        println!("  {:<22} -> {deps}", graph.names[m]);
    }
    if !report.skipped.is_empty() {
        println!(
            "  skipped, not in the workspace yet: {}",
            report.skipped.join(", ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::{Graph, RULES, check};

    /// `(name, in workspace, [(dependency, kind)])`, where kind is `None` (normal),
    /// `Some("build")` or `Some("dev")`: one package of a `cargo metadata` document.
    type Crate<'a> = (&'a str, bool, &'a [(&'a str, Option<&'a str>)]);

    fn metadata(crates: &[Crate<'_>]) -> Value {
        let id = |name: &str| format!("path+file:///w/{name}#0.1.0");
        json!({
            "packages": crates.iter().map(|(n, ..)| json!({"id": id(n), "name": n})).collect::<Vec<_>>(),
            "workspace_members": crates.iter().filter(|c| c.1).map(|(n, ..)| id(n)).collect::<Vec<_>>(),
            "resolve": {"nodes": crates.iter().map(|(n, _, deps)| json!({
                "id": id(n),
                "deps": deps.iter().map(|(d, kind)| json!({
                    "name": d.replace('-', "_"),
                    "pkg": id(d),
                    "dep_kinds": [{"kind": kind, "target": null}],
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>()},
        })
    }

    fn paths(json: &Value) -> Result<Vec<String>, String> {
        let graph = Graph::from_metadata(json)?;
        Ok(check(&graph, RULES)
            .violations
            .iter()
            .map(|v| v.path.join(" -> "))
            .collect())
    }

    #[test]
    fn the_designed_graph_passes() -> Result<(), String> {
        let json = metadata(&[
            ("oauth-store-core", true, &[("serde", None)]),
            ("oauth-lock", true, &[("libc", None)]),
            (
                "oauth-store-file",
                true,
                &[("oauth-store-core", None), ("oauth-lock", None)],
            ),
            (
                "oauth-store-keyring",
                true,
                &[("oauth-store-core", None), ("keyring", None)],
            ),
            (
                "oauth-drift",
                true,
                &[("oauth-store-core", None), ("oauth-lock", None)],
            ),
            (
                "oauth-store",
                true,
                &[
                    ("oauth-store-file", None),
                    ("oauth-store-keyring", None),
                    ("oauth-drift", None),
                ],
            ),
            ("oauth-store-testkit", true, &[("serde", None)]),
            (
                "oauth-store-rmcp",
                true,
                &[("oauth-store", None), ("rmcp", None)],
            ),
            ("rmcp", false, &[]),
            (
                "oauth-store-postgres",
                true,
                &[("oauth-store-core", None), ("postgres", None)],
            ),
            ("serde", false, &[]),
            ("libc", false, &[]),
            ("keyring", false, &[]),
            ("postgres", false, &[]),
        ]);
        let graph = Graph::from_metadata(&json)?;
        let report = check(&graph, RULES);
        assert_eq!(report.violations, vec![]);
        assert_eq!(report.skipped, vec!["oauth-store-secrets"]);
        assert_eq!(report.checked, RULES.len() - 1);
        Ok(())
    }

    #[test]
    fn a_transitive_path_is_named() -> Result<(), String> {
        let json = metadata(&[
            ("oauth-store-core", true, &[]),
            ("oauth-lock", true, &[("oauth-store-file", None)]),
            ("oauth-store-file", true, &[("oauth-store-core", None)]),
            ("oauth-drift", true, &[("oauth-lock", None)]),
        ]);
        assert_eq!(
            paths(&json)?,
            vec![
                "oauth-lock -> oauth-store-file",
                "oauth-drift -> oauth-lock -> oauth-store-file",
            ]
        );
        Ok(())
    }

    #[test]
    fn drift_may_not_reach_a_keyring_crate_through_a_third_party() -> Result<(), String> {
        let json = metadata(&[
            ("oauth-drift", true, &[("helper", None)]),
            ("helper", false, &[("keyring-core", Some("build"))]),
            ("keyring-core", false, &[]),
        ]);
        assert_eq!(paths(&json)?, vec!["oauth-drift -> helper -> keyring-core"]);
        Ok(())
    }

    #[test]
    fn only_the_rmcp_crate_reaches_rmcp() -> Result<(), String> {
        let json = metadata(&[
            ("oauth-store", true, &[("helper", None)]),
            ("helper", false, &[("rmcp", None)]),
            ("rmcp", false, &[]),
            ("oauth-store-rmcp", true, &[("oauth-store-cli", None)]),
            ("oauth-store-cli", true, &[]),
        ]);
        assert_eq!(
            paths(&json)?,
            vec![
                "oauth-store -> helper -> rmcp",
                "oauth-store-rmcp -> oauth-store-cli",
            ]
        );
        Ok(())
    }

    #[test]
    fn dev_dependencies_are_not_part_of_the_contract() -> Result<(), String> {
        let json = metadata(&[
            (
                "oauth-store-core",
                true,
                &[
                    ("oauth-store-testkit", Some("dev")),
                    ("tempfile", Some("dev")),
                ],
            ),
            ("oauth-store-testkit", true, &[]),
            ("tempfile", false, &[]),
        ]);
        assert_eq!(paths(&json)?, Vec::<String>::new());
        Ok(())
    }

    #[test]
    fn core_may_not_reach_an_io_crate() -> Result<(), String> {
        let json = metadata(&[
            ("oauth-store-core", true, &[("serde_json", None)]),
            ("serde_json", false, &[("tokio", None)]),
            ("tokio", false, &[("mio", None)]),
            ("mio", false, &[]),
        ]);
        // The search stops at the first offending crate on a path.
        assert_eq!(
            paths(&json)?,
            vec!["oauth-store-core -> serde_json -> tokio"]
        );
        Ok(())
    }

    #[test]
    fn store_crates_are_limited_to_their_workspace_deps() -> Result<(), String> {
        let json = metadata(&[
            ("oauth-store-core", true, &[]),
            ("oauth-lock", true, &[]),
            ("oauth-store-keyring", true, &[("oauth-store-core", None)]),
            (
                "oauth-store-secrets",
                true,
                &[("oauth-store-keyring", None), ("oauth-store-file", None)],
            ),
            ("oauth-store-file", true, &[("oauth-store-keyring", None)]),
            ("oauth-store", true, &[]),
            ("oauth-store-testkit", true, &[("oauth-store", None)]),
        ]);
        assert_eq!(
            paths(&json)?,
            vec![
                "oauth-store-file -> oauth-store-keyring",
                "oauth-store-secrets -> oauth-store-file",
                "oauth-store-testkit -> oauth-store",
            ]
        );
        Ok(())
    }

    #[test]
    fn postgres_depends_on_core_only_and_the_facade_never_on_postgres() -> Result<(), String> {
        let json = metadata(&[
            ("oauth-store-core", true, &[]),
            ("oauth-lock", true, &[]),
            (
                "oauth-store-postgres",
                true,
                &[("oauth-store-core", None), ("oauth-lock", None)],
            ),
            ("oauth-store", true, &[("oauth-store-postgres", None)]),
        ]);
        assert_eq!(
            paths(&json)?,
            vec![
                "oauth-store-postgres -> oauth-lock",
                "oauth-store -> oauth-store-postgres",
            ]
        );
        Ok(())
    }

    #[test]
    fn a_registry_crate_with_a_workspace_name_is_not_the_workspace_crate() -> Result<(), String> {
        let json = metadata(&[
            ("oauth-lock", true, &[("oauth-store", None)]),
            ("oauth-store", false, &[]),
        ]);
        // Not a workspace crate, so the workspace rule does not fire on it.
        assert_eq!(paths(&json)?, Vec::<String>::new());
        Ok(())
    }
}
