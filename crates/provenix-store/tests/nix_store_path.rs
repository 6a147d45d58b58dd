//! Store path computation against real Nix 2.8: `nix-store --add`
//! (recursive sha256, the `source` case), `nix-store --add-fixed` (flat and
//! recursive with other algorithms, the `fixed:out:` case) and
//! `builtins.toFile` with references (the `text` case).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use provenix_formats::hash::{Hash, HashAlgo};
use provenix_formats::store_path::{ContentAddressMethod, StoreDir, StorePath};
use provenix_store::nar::{hash_file_flat, hash_path};
use provenix_testkit::NixHarness;

fn base(path: &str) -> StorePath {
    StoreDir::default().parse_path(path).unwrap()
}

fn make_tree(dir: &Path) {
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("sub/file"), b"contents\n").unwrap();
    std::fs::write(dir.join("top"), b"top\n").unwrap();
}

#[test]
fn added_sources_get_the_paths_nix_gives_them() {
    let Some(h) = NixHarness::new() else { return };
    let dir = StoreDir::default();
    let tree = h.scratch().join("my-source");
    make_tree(&tree);
    let file = h.scratch().join("data.txt");
    std::fs::write(&file, b"some data\n").unwrap();

    // `nix-store --add`: recursive sha256 of the NAR, type `source`.
    for input in [&tree, &file] {
        let nix = base(&h.add(input));
        let (nar_hash, _) = hash_path(input, HashAlgo::Sha256).unwrap();
        let name = input.file_name().unwrap().to_str().unwrap();
        let ours = dir.make_fixed_output_path(ContentAddressMethod::Recursive, &nar_hash, name, &[], false).unwrap();
        assert_eq!(ours, nix, "nix-store --add {}", input.display());
    }

    // `nix-store --add-fixed`: every algorithm, flat and recursive.
    for algo in HashAlgo::ALL {
        let flat = base(&h.run_text("nix-store", ["--add-fixed", algo.name(), file.to_str().unwrap()]));
        let (hash, _) = hash_file_flat(&file, algo).unwrap();
        let ours = dir.make_fixed_output_path(ContentAddressMethod::Flat, &hash, "data.txt", &[], false).unwrap();
        assert_eq!(ours, flat, "--add-fixed {algo}");

        let rec = base(&h.run_text("nix-store", ["--add-fixed", "--recursive", algo.name(), tree.to_str().unwrap()]));
        let (hash, _) = hash_path(&tree, algo).unwrap();
        let ours = dir.make_fixed_output_path(ContentAddressMethod::Recursive, &hash, "my-source", &[], false).unwrap();
        assert_eq!(ours, rec, "--add-fixed --recursive {algo}");
    }
}

#[test]
fn text_files_with_references_get_the_paths_nix_gives_them() {
    let Some(h) = NixHarness::new() else { return };
    let dir = StoreDir::default();
    let file = h.scratch().join("dep.txt");
    std::fs::write(&file, b"dep\n").unwrap();
    let dep = h.add(&file);
    // Two references, given in unsorted order inside the text.
    let other = h.scratch().join("aaa.txt");
    std::fs::write(&other, b"aaa\n").unwrap();
    let other = h.add(&other);
    let expr = format!(
        "builtins.toFile \"script.sh\" \"uses ${{builtins.storePath {dep}}} and ${{builtins.storePath {other}}}\\n\""
    );
    let out = h.run_text("nix-instantiate", ["--eval", "--read-write-mode", "-E", &expr]);
    let nix = base(out.trim_matches('"'));
    let text = format!("uses {dep} and {other}\n");
    let hash = Hash::compute(HashAlgo::Sha256, text.as_bytes());
    let ours = dir.make_text_path("script.sh", &hash, &[base(&other), base(&dep)]).unwrap();
    assert_eq!(ours, nix);
    // Without the references the path differs: they are part of the hash.
    assert_ne!(dir.make_text_path("script.sh", &hash, &[]).unwrap(), nix);
}

/// Nix 2.8 accepts names starting with `.` (`.`, `..`, `.dotfile-1.0`) and
/// refuses the same bad bytes after a dot as anywhere else; our rule and our
/// paths agree with it.
#[test]
fn names_starting_with_a_dot_are_accepted_and_hashed_as_nix_2_8_does() {
    let Some(h) = NixHarness::new() else { return };
    let dir = StoreDir::default();
    let hash = Hash::compute(HashAlgo::Sha256, b"hi");
    for name in [".", "..", "...", ".dotfile-1.0", ".-", "..-x"] {
        let expr = format!("builtins.toFile \"{name}\" \"hi\"");
        let out = h.run_text("nix-instantiate", ["--eval", "--read-write-mode", "-E", &expr]);
        let nix = base(out.trim_matches('"'));
        assert_eq!(nix.name(), name);
        assert_eq!(dir.make_text_path(name, &hash, &[]).unwrap(), nix, "{name:?}");
    }
    for name in [". x", ".é", ".#"] {
        let expr = format!("builtins.toFile \"{name}\" \"hi\"");
        let out = h.command("nix-instantiate").args(["--eval", "--read-write-mode", "-E", &expr]).output().unwrap();
        assert!(!out.status.success(), "Nix 2.8 accepted {name:?}");
        assert!(provenix_formats::store_path::validate_name(name.as_bytes(), name).is_err(), "{name:?}");
    }
}
