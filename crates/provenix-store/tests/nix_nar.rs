//! Conformance of NAR dump, hash, read and unpack with Nix 2.8.
//!
//! Mirrors `nix-store --dump PATH` (bytes), `nix-hash --type {md5,sha1,sha256,sha512}
//! [--base32] PATH` (hashes) and `nix-store --restore` (our unpack, checked by
//! dumping again). Trees are generated here, in the harness's scratch space.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use provenix_formats::hash::{Hash, HashAlgo};
use provenix_formats::nar::{self, NarEvent, NarReader};
use provenix_store::nar::{dump_path, hash_path, unpack};
use provenix_testkit::NixHarness;
use rstest::rstest;

fn file(path: &Path, contents: &[u8], mode: u32) {
    fs::write(path, contents).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

fn name(dir: &Path, name: &[u8]) -> PathBuf {
    dir.join(OsStr::from_bytes(name))
}

/// Deterministic pseudo-random bytes (xorshift), so big files are not all zeros.
fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        out.extend_from_slice(&seed.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Builds the named tree at `root`, which does not exist yet.
fn build(case: &str, root: &Path) {
    let mkdir = |p: &Path| fs::create_dir_all(p).unwrap();
    match case {
        "single_file" => file(root, b"hello, world\n", 0o644),
        "empty_file" => file(root, b"", 0o644),
        "executable_file" => file(root, b"#!/bin/sh\necho hi\n", 0o755),
        "empty_executable_file" => file(root, b"", 0o700),
        "owner_execute_bit_only_counts" => {
            mkdir(root);
            for (n, mode) in [("g", 0o610), ("o", 0o601), ("u", 0o100), ("ugo", 0o555), ("none", 0o444)] {
                file(&root.join(n), n.as_bytes(), mode);
            }
        }
        "symlink_at_root" => symlink("some/where/else", root).unwrap(),
        "symlink_to_directory" => {
            mkdir(&root.join("d"));
            file(&root.join("d/f"), b"f", 0o644);
            symlink("d", root.join("link")).unwrap();
        }
        "dangling_symlink" => {
            mkdir(root);
            symlink("/nonexistent/nowhere", root.join("dangling")).unwrap();
        }
        "symlink_chain_and_absolute_store_target" => {
            mkdir(root);
            symlink("b", root.join("a")).unwrap();
            symlink("c", root.join("b")).unwrap();
            symlink("/nix/store/h7jx3wrzn6m9vjl9604id854qx1xyqw6-dep/bin", root.join("c")).unwrap();
        }
        "long_symlink_target" => symlink("t/".repeat(2000), root).unwrap(),
        "empty_dir" => mkdir(root),
        "nested_empty_dirs" => mkdir(&root.join("a/b/c/d/e")),
        "unicode_names" => {
            mkdir(root);
            for n in ["ä", "日本語", "🦀", "e\u{301}", "\u{e9}", "Ω"] {
                file(&root.join(n), n.as_bytes(), 0o644);
            }
        }
        "odd_ascii_names" => {
            mkdir(root);
            for n in [&b" lead"[..], b"a b", b"tab\t", b"new\nline", b"\x01", b"*?[", b"-rf", b"\\", b"'\"", b"~"] {
                file(&name(root, n), b"x", 0o644);
            }
        }
        "non_utf8_names" => {
            mkdir(root);
            for n in [&b"\xff"[..], b"\xc3", b"a\x80b", b"\xfe\xfe"] {
                file(&name(root, n), n, 0o644);
            }
        }
        "sort_order_traps" => {
            mkdir(root);
            for n in ["a", "a.b", "a-b", "A", "a0", "ä", "ab", "B", "_", "aa", "a~", "Z", "a b", "0", "ä.x"] {
                file(&root.join(n), n.as_bytes(), 0o644);
            }
        }
        "name_lengths_around_padding" => {
            mkdir(root);
            for len in [1, 7, 8, 9, 15, 16, 17, 255] {
                file(&root.join("n".repeat(len)), b"", 0o644);
            }
        }
        "sizes_0_to_9" => {
            mkdir(root);
            for size in 0..=9u8 {
                file(&root.join(format!("s{size}")), &noise(usize::from(size), 7), 0o644);
            }
        }
        "file_of_7_bytes" => file(root, b"1234567", 0o644),
        "file_of_8_bytes" => file(root, b"12345678", 0o644),
        "file_of_9_bytes" => file(root, b"123456789", 0o755),
        "all_byte_values" => file(root, &(0..=255u8).collect::<Vec<_>>(), 0o644),
        "deep_nesting_200" => {
            let mut p = root.to_path_buf();
            for _ in 0..200 {
                p.push("d");
            }
            mkdir(&p);
            file(&p.join("bottom"), b"deep", 0o644);
        }
        "large_directory_5000" => {
            mkdir(root);
            for i in 0..5000 {
                file(&root.join(format!("entry-{i}")), &i.to_string().into_bytes(), 0o644);
            }
        }
        "large_file_20mb" => file(root, &noise(20 << 20, 42), 0o644),
        "hard_links_are_separate_files" => {
            mkdir(root);
            file(&root.join("one"), b"shared", 0o644);
            fs::hard_link(root.join("one"), root.join("two")).unwrap();
        }
        "read_only_tree" => {
            mkdir(&root.join("sub"));
            file(&root.join("sub/f"), b"ro", 0o444);
            fs::set_permissions(root.join("sub"), fs::Permissions::from_mode(0o555)).unwrap();
        }
        "mixed_package_like_tree" => {
            mkdir(&root.join("bin"));
            mkdir(&root.join("lib/pkgconfig"));
            mkdir(&root.join("share/doc/pkg"));
            file(&root.join("bin/tool"), &noise(70_000, 3), 0o555);
            symlink("tool", root.join("bin/tool-alias")).unwrap();
            file(&root.join("lib/libx.so.1.2"), &noise(12_345, 5), 0o444);
            symlink("libx.so.1.2", root.join("lib/libx.so")).unwrap();
            file(&root.join("lib/pkgconfig/x.pc"), b"prefix=/nix/store/x\n", 0o444);
            file(&root.join("share/doc/pkg/README"), b"read me\n", 0o444);
        }
        other => panic!("unknown case {other}"),
    }
}

fn first_difference(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).position(|(x, y)| x != y).unwrap_or(a.len().min(b.len()))
}

fn nix_dump(h: &NixHarness, path: &Path) -> Vec<u8> {
    h.run("nix-store", [OsStr::new("--dump"), path.as_os_str()]).stdout
}

fn ours(path: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    dump_path(path, &mut out).unwrap();
    out
}

fn assert_same_bytes(what: &str, ours: &[u8], nix: &[u8]) {
    assert!(
        ours == nix,
        "{what}: our NAR ({} bytes) differs from nix-store --dump ({} bytes) at offset {}",
        ours.len(),
        nix.len(),
        first_difference(ours, nix)
    );
}

#[rstest]
#[case::single_file("single_file")]
#[case::empty_file("empty_file")]
#[case::executable_file("executable_file")]
#[case::empty_executable_file("empty_executable_file")]
#[case::owner_execute_bit_only_counts("owner_execute_bit_only_counts")]
#[case::symlink_at_root("symlink_at_root")]
#[case::symlink_to_directory("symlink_to_directory")]
#[case::dangling_symlink("dangling_symlink")]
#[case::symlink_chain_and_absolute_store_target("symlink_chain_and_absolute_store_target")]
#[case::long_symlink_target("long_symlink_target")]
#[case::empty_dir("empty_dir")]
#[case::nested_empty_dirs("nested_empty_dirs")]
#[case::unicode_names("unicode_names")]
#[case::odd_ascii_names("odd_ascii_names")]
#[case::non_utf8_names("non_utf8_names")]
#[case::sort_order_traps("sort_order_traps")]
#[case::name_lengths_around_padding("name_lengths_around_padding")]
#[case::sizes_0_to_9("sizes_0_to_9")]
#[case::file_of_7_bytes("file_of_7_bytes")]
#[case::file_of_8_bytes("file_of_8_bytes")]
#[case::file_of_9_bytes("file_of_9_bytes")]
#[case::all_byte_values("all_byte_values")]
#[case::deep_nesting_200("deep_nesting_200")]
#[case::large_directory_5000("large_directory_5000")]
#[case::large_file_20mb("large_file_20mb")]
#[case::hard_links_are_separate_files("hard_links_are_separate_files")]
#[case::read_only_tree("read_only_tree")]
#[case::mixed_package_like_tree("mixed_package_like_tree")]
fn dump_hash_read_and_unpack_agree_with_nix(#[case] case: &str) {
    let Some(h) = NixHarness::new() else { return };
    let root = h.scratch().join(case);
    build(case, &root);

    // nix-store --dump
    let nix = nix_dump(&h, &root);
    assert_same_bytes(case, &ours(&root), &nix);

    // nix-hash --type X [--base32]
    for algo in HashAlgo::ALL {
        let (hash, size) = hash_path(&root, algo).unwrap();
        assert_eq!(size, nix.len() as u64, "{case}: NAR size");
        let base32 = h.run_text(
            "nix-hash",
            [OsStr::new("--type"), OsStr::new(algo.name()), OsStr::new("--base32"), root.as_os_str()],
        );
        assert_eq!(hash.to_nixbase32(), base32, "{case}: nix-hash --type {algo} --base32");
        if algo == HashAlgo::Sha256 {
            let base16 = h.run_text("nix-hash", [OsStr::new("--type"), OsStr::new("sha256"), root.as_os_str()]);
            assert_eq!(hash.to_base16(), base16, "{case}: nix-hash --type sha256");
        }
    }

    // Our strict reader accepts Nix's NAR.
    let summary = nar::validate(&nix[..], HashAlgo::Sha256).unwrap_or_else(|e| panic!("{case}: {e}"));
    assert_eq!(summary.hash, Hash::compute(HashAlgo::Sha256, &nix));

    // Unpack Nix's NAR, dump it again: same bytes, by us and by Nix.
    let unpacked = h.scratch().join(format!("{case}-unpacked"));
    let reader = std::io::BufReader::with_capacity(256 * 1024, &nix[..]);
    unpack(reader, &unpacked).unwrap_or_else(|e| panic!("{case}: {e}"));
    assert_same_bytes(&format!("{case} after unpack"), &ours(&unpacked), &nix);
    assert_same_bytes(&format!("{case} after unpack (nix-store --dump)"), &nix_dump(&h, &unpacked), &nix);
    make_writable(&root);
    make_writable(&unpacked);
}

/// Lets the temporary directory be removed after read-only cases.
fn make_writable(root: &Path) {
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        let Ok(meta) = fs::symlink_metadata(&p) else { continue };
        if meta.is_dir() {
            fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
            stack.extend(fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        }
    }
}

/// A directory being filled while reading: its name in its parent, its entries.
type Frame = (Option<Vec<u8>>, BTreeMap<Vec<u8>, Tree>);

/// A small file tree for property tests.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tree {
    File { executable: bool, contents: Vec<u8> },
    Symlink(Vec<u8>),
    Dir(BTreeMap<Vec<u8>, Tree>),
}

fn materialise(tree: &Tree, path: &Path) {
    match tree {
        Tree::File { executable, contents } => file(path, contents, if *executable { 0o755 } else { 0o644 }),
        Tree::Symlink(target) => symlink(OsStr::from_bytes(target), path).unwrap(),
        Tree::Dir(entries) => {
            fs::create_dir(path).unwrap();
            for (n, child) in entries {
                materialise(child, &name(path, n));
            }
        }
    }
}

fn read_tree(bytes: &[u8]) -> Tree {
    let mut r = NarReader::new(bytes);
    let mut stack: Vec<Frame> = Vec::new();
    let mut pending: Option<Vec<u8>> = None;
    let mut root = None;
    while let Some(event) = r.next().unwrap() {
        let done = match event {
            NarEvent::Entry { name } => {
                pending = Some(name.to_vec());
                None
            }
            NarEvent::DirectoryStart => {
                stack.push((pending.take(), BTreeMap::new()));
                None
            }
            NarEvent::Symlink { target } => Some(Tree::Symlink(target.to_vec())),
            NarEvent::Regular { executable, .. } => {
                let mut contents = Vec::new();
                r.copy_contents(&mut contents).unwrap();
                Some(Tree::File { executable, contents })
            }
            NarEvent::DirectoryEnd => {
                let (own, entries) = stack.pop().unwrap();
                pending = own;
                Some(Tree::Dir(entries))
            }
        };
        if let Some(t) = done {
            match stack.last_mut() {
                Some((_, entries)) => {
                    entries.insert(pending.take().unwrap(), t);
                }
                None => root = Some(t),
            }
        }
    }
    r.finish().unwrap();
    root.unwrap()
}

fn arb_tree() -> impl Strategy<Value = Tree> {
    let name = proptest::collection::vec(
        prop_oneof![Just(b'a'), Just(b'B'), Just(b'.'), Just(b'-'), Just(b' '), Just(0xc3u8), Just(0xa4u8)],
        1..4,
    )
    .prop_filter("not . or ..", |n| n != b"." && n != b"..");
    let leaf = prop_oneof![
        (any::<bool>(), proptest::collection::vec(any::<u8>(), 0..20))
            .prop_map(|(executable, contents)| Tree::File { executable, contents }),
        proptest::collection::vec(prop_oneof![Just(b'x'), Just(b'/'), Just(b'.')], 1..12).prop_map(Tree::Symlink),
    ];
    leaf.prop_recursive(3, 24, 5, move |inner| {
        proptest::collection::btree_map(name.clone(), inner, 0..5).prop_map(Tree::Dir)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn random_trees_dump_like_nix_store_dump_and_read_back(tree in arb_tree()) {
        let Some(h) = NixHarness::new() else { return Ok(()) };
        let root = h.scratch().join("tree");
        materialise(&tree, &root);
        let ours = ours(&root);
        assert_same_bytes("random tree", &ours, &nix_dump(&h, &root));
        prop_assert_eq!(read_tree(&ours), tree);
    }
}
