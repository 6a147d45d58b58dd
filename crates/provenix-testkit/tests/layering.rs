//! Checks the allowed dependency edges between provenix crates
//! (docs/architecture.md) from `cargo metadata`.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

fn allowed(krate: &str) -> &'static [&'static str] {
    match krate {
        "provenix-formats" | "provenix-testkit" => &[],
        "provenix-store" => &["provenix-formats"],
        "provenix-core" => &["provenix-formats", "provenix-store"],
        "provenix-server" => &["provenix-formats", "provenix-store", "provenix-core"],
        "provenix-cli" => &["provenix-formats", "provenix-store", "provenix-core", "provenix-server"],
        _ => &[],
    }
}

#[test]
fn provenix_crates_depend_only_downwards() {
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata json");
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for pkg in meta["packages"].as_array().expect("packages") {
        let name = pkg["name"].as_str().expect("name").to_owned();
        for dep in pkg["dependencies"].as_array().expect("deps") {
            let dep_name = dep["name"].as_str().expect("dep name");
            // Dev-dependencies (kind "dev") may point anywhere below the CLI, e.g. testkit.
            if dep_name.starts_with("provenix-") && dep["kind"].is_null() {
                edges.entry(name.clone()).or_default().insert(dep_name.to_owned());
            }
        }
    }
    assert!(edges.len() >= 3, "expected provenix crates with edges, got {edges:?}");
    for (krate, deps) in &edges {
        for dep in deps {
            assert!(allowed(krate).contains(&dep.as_str()), "{krate} must not depend on {dep}");
        }
    }
    for (krate, deps) in &edges {
        assert!(!deps.contains("provenix-cli"), "{krate} depends on the CLI");
        if krate != "provenix-cli" {
            assert!(!deps.contains("provenix-server"), "{krate} depends on the server");
        }
    }
}
