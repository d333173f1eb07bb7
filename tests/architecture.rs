//! ARCHITECTURE.md's diagram of the crates against the workspace: every arrow is a dependency
//! written in a `Cargo.toml`, and every dependency of one workspace crate on another is an arrow
//! (the local stack and the tests, which use everything, are left out of both).

use std::collections::{BTreeMap, BTreeSet};

use integration_tests::root;

/// Crates the diagram leaves out.
const LEFT_OUT: [&str; 2] = ["local-stack", "integration-tests"];

/// The workspace's members: each crate's name and the workspace crates its `[dependencies]` name.
fn workspace() -> BTreeMap<String, BTreeSet<String>> {
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let members_line = manifest.lines().find(|line| line.starts_with("members = [")).expect("members");
    let folders: Vec<&str> = members_line.split('"').skip(1).step_by(2).collect();
    let crates: Vec<(String, String)> = folders
        .iter()
        .map(|folder| {
            let text = std::fs::read_to_string(root().join(folder).join("Cargo.toml")).unwrap();
            let name = text.lines().find_map(|l| l.strip_prefix("name = ")).unwrap().trim_matches('"').to_owned();
            (name, text)
        })
        .collect();
    let names: BTreeSet<String> = crates.iter().map(|(name, _)| name.clone()).collect();
    crates
        .iter()
        .map(|(name, text)| {
            let dependencies = text
                .lines()
                .skip_while(|line| *line != "[dependencies]")
                .skip(1)
                .take_while(|line| !line.starts_with('['))
                .filter_map(|line| line.split(['.', ' ', '=']).next())
                .filter(|dependency| names.contains(*dependency))
                .map(str::to_owned)
                .collect();
            (name.clone(), dependencies)
        })
        .collect()
}

/// The arrows of ARCHITECTURE.md's first Mermaid diagram, `from --> to`.
fn diagram() -> BTreeSet<(String, String)> {
    let text = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let block = text.split("```mermaid").nth(1).expect("a Mermaid diagram").split("```").next().unwrap();
    block
        .lines()
        .filter_map(|line| line.split_once("-->"))
        .map(|(from, to)| (from.trim().to_owned(), to.trim().to_owned()))
        .collect()
}

#[test]
fn the_diagram_of_the_crates_is_the_workspaces_dependencies() {
    let workspace = workspace();
    assert!(workspace.contains_key("domain") && workspace.contains_key("aws"), "read the members: {workspace:?}");
    let drawn = diagram();
    let real: BTreeSet<(String, String)> = workspace
        .iter()
        .filter(|(name, _)| !LEFT_OUT.contains(&name.as_str()))
        .flat_map(|(name, dependencies)| dependencies.iter().map(move |d| (name.clone(), d.clone())))
        .collect();
    assert!(!real.is_empty());
    let missing: Vec<_> = real.difference(&drawn).collect();
    let invented: Vec<_> = drawn.difference(&real).collect();
    assert!(missing.is_empty(), "dependencies the diagram does not draw: {missing:?}");
    assert!(invented.is_empty(), "arrows no Cargo.toml has: {invented:?}");
}

#[test]
fn the_domain_depends_on_no_crate_of_the_workspace_and_nothing_depends_on_a_function_but_the_operators_binary() {
    let workspace = workspace();
    assert!(workspace["domain"].is_empty());
    for (name, dependencies) in &workspace {
        if !LEFT_OUT.contains(&name.as_str()) && name != "everbright-sync" {
            let functions: Vec<_> = dependencies
                .iter()
                .filter(|d| ["-receiver", "-fetcher", "-publisher"].iter().any(|f| d.ends_with(f)))
                .collect();
            assert!(functions.is_empty(), "{name} depends on a function: {functions:?}");
        }
    }
}
