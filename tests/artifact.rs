//! What SAM deploys is what `make bench` measures. SAM's `rust-cargolambda` build (and `cargo
//! lambda build --bin <function>`) runs at the workspace root without `-p`, so Cargo resolves
//! features for the workspace's default members; `make bench` builds `-p webhook-receiver -p
//! contract-fetcher -p event-publisher -p sweeper`. Both must resolve the same graph, and neither may carry what only the
//! operator's binary needs (SSO credentials, credential processes).

use std::process::Command;

use integration_tests::root;

/// `cargo tree` with `args`, at the workspace root, for Lambda's target.
fn tree(args: &[&str]) -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(root())
        .args(["tree", "--locked", "--offline", "--target", "x86_64-unknown-linux-gnu", "-e", "normal,features"])
        .args(args)
        .output()
        .expect("cargo tree runs");
    assert!(output.status.success(), "cargo tree {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn a_function_built_at_the_workspace_root_resolves_what_the_bench_measures_and_no_operator_code() {
    // What `cargo lambda build --release --bin webhook-receiver` (SAM) selects at the root.
    let deployed = tree(&[]);
    // What `make bench` builds.
    let measured =
        tree(&["-p", "webhook-receiver", "-p", "contract-fetcher", "-p", "event-publisher", "-p", "sweeper"]);
    let entries = |tree: &str| -> std::collections::BTreeSet<String> {
        tree.lines().map(|line| line.trim_start_matches(|c: char| !c.is_alphanumeric()).to_owned()).collect()
    };
    let extra: Vec<_> = entries(&deployed).difference(&entries(&measured)).cloned().collect();
    assert!(extra.is_empty(), "the root build resolves what the bench does not: {:?}", &extra[..extra.len().min(12)]);
    assert_eq!(deployed, measured, "the root build resolves another graph than the bench");
    for operator_only in ["aws-sdk-sso ", "aws-sdk-ssooidc ", "aws-config feature \"sso\"", "everbright-sync "] {
        assert!(!deployed.contains(operator_only), "the functions' graph carries {operator_only}");
    }
    for function in ["webhook-receiver ", "contract-fetcher ", "event-publisher ", "sweeper "] {
        assert!(deployed.contains(function), "{function}");
    }
}

/// The lines of `[section]` in the workspace's Cargo.toml.
fn manifest_section(section: &str) -> Vec<String> {
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let header = format!("[{section}]");
    manifest
        .lines()
        .skip_while(|line| line.trim() != header)
        .skip(1)
        .take_while(|line| !line.starts_with('['))
        .map(|line| line.split('#').next().unwrap().replace(' ', ""))
        .filter(|line| !line.is_empty())
        .collect()
}

#[test]
fn cargo_lambda_builds_the_release_profile_as_written() {
    // cargo-lambda's "release optimizations" would build the deployed bootstraps with
    // `panic = "abort"` (a panic would then cost the container and the whole SQS batch) and for
    // another CPU than `make bench` measures: they are off, and the profile says `unwind` itself.
    assert!(
        manifest_section("workspace.metadata.lambda.build").contains(&"disable_optimizations=true".to_owned()),
        "cargo-lambda's release optimizations are not disabled"
    );
    assert!(manifest_section("profile.release").contains(&"panic=\"unwind\"".to_owned()), "panic is not unwind");
}

#[test]
fn the_operator_binary_links_no_local_stack() {
    // `-e normal,features` for the operator's crate alone: what its release build links.
    let operator = tree(&["-p", "everbright-sync"]);
    for local_only in ["local-stack ", "contract-fetcher ", "hyper feature \"server\"", "hyper-util feature \"server"] {
        assert!(!operator.contains(local_only), "the operator's binary links {local_only}");
    }
}
