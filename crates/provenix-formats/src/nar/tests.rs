//! Unit tests for the NAR reader and writer. Conformance with `nix-store
//! --dump` lives in `provenix-store/tests/nix_nar.rs`; the malformed corpus in
//! `tests/bad_nar.rs`.
#![allow(clippy::panic)]

use std::collections::BTreeMap;
use std::io::{BufReader, Read};

use proptest::prelude::*;
use rstest::rstest;

use super::wire::{put_string, put_u64};
use super::*;
use crate::hash::{Hash, HashAlgo};

/// A directory being filled while reading: its name in its parent, its entries.
type Frame = (Option<Vec<u8>>, BTreeMap<Vec<u8>, Tree>);

/// A file tree held in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tree {
    File { executable: bool, contents: Vec<u8> },
    Symlink(Vec<u8>),
    Dir(BTreeMap<Vec<u8>, Tree>),
}

/// Writes `tree` with [`NarWriter`] (recursion is fine: test trees are small).
pub(crate) fn write_tree(tree: &Tree) -> Vec<u8> {
    fn node(w: &mut NarWriter<Vec<u8>>, tree: &Tree) {
        match tree {
            Tree::File { executable, contents } => {
                w.regular(*executable, contents.len() as u64, &contents[..]).unwrap()
            }
            Tree::Symlink(t) => w.symlink(t).unwrap(),
            Tree::Dir(entries) => {
                w.begin_directory().unwrap();
                for (name, child) in entries {
                    w.entry(name).unwrap();
                    node(w, child);
                }
                w.end_directory().unwrap();
            }
        }
    }
    let mut w = NarWriter::new(Vec::new());
    node(&mut w, tree);
    w.finish().unwrap()
}

/// Reads a NAR into a tree, with an explicit stack like the reader itself.
pub(crate) fn read_tree(bytes: &[u8]) -> Result<Tree, NarError> {
    let mut r = NarReader::new(bytes);
    // Each frame: the directory being filled and the name it has in its parent.
    let mut stack: Vec<Frame> = Vec::new();
    let mut name: Option<Vec<u8>> = None;
    let mut root = None;
    loop {
        let done = match r.next()? {
            None => break,
            Some(NarEvent::Entry { name: n }) => {
                name = Some(n.to_vec());
                None
            }
            Some(NarEvent::DirectoryStart) => {
                stack.push((name.take(), BTreeMap::new()));
                None
            }
            Some(NarEvent::Symlink { target }) => Some(Tree::Symlink(target.to_vec())),
            Some(NarEvent::Regular { executable, size }) => {
                let mut contents = Vec::new();
                assert_eq!(r.copy_contents(&mut contents)?, size);
                Some(Tree::File { executable, contents })
            }
            Some(NarEvent::DirectoryEnd) => {
                let (own_name, entries) = stack.pop().unwrap();
                name = own_name;
                Some(Tree::Dir(entries))
            }
        };
        if let Some(t) = done {
            match stack.last_mut() {
                Some((_, entries)) => {
                    entries.insert(name.take().unwrap(), t);
                }
                None => root = Some(t),
            }
        }
    }
    r.finish()?;
    Ok(root.unwrap())
}

fn file(contents: &[u8]) -> Tree {
    Tree::File { executable: false, contents: contents.to_vec() }
}

fn dir(entries: &[(&[u8], Tree)]) -> Tree {
    Tree::Dir(entries.iter().map(|(n, t)| (n.to_vec(), t.clone())).collect())
}

/// Hand-encodes tokens, for NARs the writer refuses to make.
fn tokens(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in parts {
        put_string(&mut out, p);
    }
    out
}

fn error_text(bytes: &[u8]) -> String {
    match read_tree(bytes) {
        Ok(t) => panic!("accepted: {t:?}"),
        Err(e) => e.to_string(),
    }
}

// `nix-store --dump` of an empty file and of an empty directory (Nix 2.8).
const NIX_EMPTY_FILE: &[u8] = b"\x0d\0\0\0\0\0\0\0nix-archive-1\0\0\0\x01\0\0\0\0\0\0\0(\0\0\0\0\0\0\0\
\x04\0\0\0\0\0\0\0type\0\0\0\0\x07\0\0\0\0\0\0\0regular\0\x08\0\0\0\0\0\0\0contents\
\0\0\0\0\0\0\0\0\x01\0\0\0\0\0\0\0)\0\0\0\0\0\0\0";
const NIX_EMPTY_DIR: &[u8] = b"\x0d\0\0\0\0\0\0\0nix-archive-1\0\0\0\x01\0\0\0\0\0\0\0(\0\0\0\0\0\0\0\
\x04\0\0\0\0\0\0\0type\0\0\0\0\x09\0\0\0\0\0\0\0directory\0\0\0\0\0\0\0\x01\0\0\0\0\0\0\0)\0\0\0\0\0\0\0";

#[test]
fn writes_an_empty_file_exactly_as_nix_store_dump() {
    assert_eq!(write_tree(&file(b"")), NIX_EMPTY_FILE);
}

#[test]
fn writes_an_empty_directory_exactly_as_nix_store_dump() {
    assert_eq!(write_tree(&dir(&[])), NIX_EMPTY_DIR);
}

#[test]
fn reads_nix_empty_file_and_directory() {
    assert_eq!(read_tree(NIX_EMPTY_FILE).unwrap(), file(b""));
    assert_eq!(read_tree(NIX_EMPTY_DIR).unwrap(), dir(&[]));
}

#[test]
fn executable_marker_comes_before_contents_with_empty_value() {
    let nar = write_tree(&Tree::File { executable: true, contents: b"#!/bin/sh\n".to_vec() });
    let expected =
        [tokens(&[b"nix-archive-1", b"(", b"type", b"regular", b"executable", b"", b"contents", b"#!/bin/sh\n", b")"])]
            .concat();
    assert_eq!(nar, expected);
}

#[test]
fn reader_yields_events_in_pre_order() {
    let tree = dir(&[(b"a", file(b"x")), (b"b", dir(&[(b"c", Tree::Symlink(b"../a".to_vec()))]))]);
    let nar = write_tree(&tree);
    let mut r = NarReader::new(&nar[..]);
    let mut seen = Vec::new();
    while let Some(e) = r.next().unwrap() {
        seen.push(format!("{e:?}"));
    }
    assert_eq!(
        seen,
        [
            "DirectoryStart",
            "Entry { name: [97] }",
            "Regular { executable: false, size: 1 }",
            "Entry { name: [98] }",
            "DirectoryStart",
            "Entry { name: [99] }",
            "Symlink { target: [46, 46, 47, 97] }",
            "DirectoryEnd",
            "DirectoryEnd",
        ]
    );
    assert_eq!(r.offset(), nar.len() as u64);
}

#[test]
fn streams_large_contents_through_a_small_buffer() {
    let contents: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let nar = write_tree(&file(&contents));
    let mut r = NarReader::new(BufReader::with_capacity(16, &nar[..]));
    assert_eq!(r.next().unwrap(), Some(NarEvent::Regular { executable: false, size: 100_000 }));
    let mut got = Vec::new();
    r.contents().read_to_end(&mut got).unwrap();
    assert_eq!(got, contents);
    r.finish().unwrap();
}

#[test]
fn unread_contents_are_skipped_and_still_checked() {
    let mut nar = write_tree(&dir(&[(b"a", file(b"abc")), (b"b", file(b""))]));
    let mut r = NarReader::new(&nar[..]);
    while r.next().unwrap().is_some() {}
    // Corrupt the padding after "abc": found even though contents were never read.
    let pos = nar.windows(3).position(|w| w == b"abc").unwrap() + 3;
    nar[pos] = 1;
    assert!(error_text(&nar).contains("non-zero padding after file contents"), "{}", error_text(&nar));
}

#[test]
fn reports_unsorted_entries_with_the_offset_of_the_name() {
    let mut nar = tokens(&[b"nix-archive-1", b"(", b"type", b"directory"]);
    for name in [b"c", b"b"] {
        nar.extend(tokens(&[b"entry", b"(", b"name", name, b"node", b"(", b"type", b"symlink", b"target", b"x"]));
        nar.extend(tokens(&[b")", b")"]));
    }
    nar.extend(tokens(&[b")"]));
    // magic 24, "(" 16, "type" 16, "directory" 24, first entry 12 * 16, then "entry" "(" "name" 48.
    assert_eq!(error_text(&nar), "offset 320: directory entry `b` after `c` (entries must be sorted)");
}

#[rstest]
#[case::duplicate(&[&b"a"[..], &b"a"[..]], "duplicate directory entry `a`")]
#[case::uppercase_after_lowercase(&[&b"a"[..], &b"A"[..]], "directory entry `A` after `a`")]
#[case::longer_before_prefix(&[&b"ab"[..], &b"a"[..]], "directory entry `a` after `ab`")]
#[case::high_byte_before_ascii(&[&b"\xc3\xa4"[..], &b"z"[..]], "directory entry `z` after `\u{e4}`")]
#[case::empty(&[&b""[..]], "invalid entry name ``: empty")]
#[case::dot(&[&b"."[..]], "invalid entry name `.`")]
#[case::dot_dot(&[&b".."[..]], "invalid entry name `..`")]
#[case::slash(&[&b"a/b"[..]], "invalid entry name `a/b`: contains `/`")]
#[case::nul(&[&b"a\0b"[..]], "invalid entry name `a\\0b`: contains NUL")]
#[case::non_utf8_shown_escaped(&[&b"\xff"[..], &b"\xfe"[..]], "directory entry `\\xfe` after `\\xff`")]
fn reader_and_writer_refuse_the_same_bad_names(#[case] names: &[&[u8]], #[case] message: &str) {
    let mut nar = tokens(&[b"nix-archive-1", b"(", b"type", b"directory"]);
    let mut w = NarWriter::new(Vec::new());
    w.begin_directory().unwrap();
    let mut refused = None;
    for name in names {
        nar.extend(tokens(&[b"entry", b"(", b"name", name, b"node", b"(", b"type", b"symlink", b"target", b"x"]));
        nar.extend(tokens(&[b")", b")"]));
        if refused.is_none() {
            match w.entry(name) {
                Ok(()) => w.symlink(b"x").unwrap(),
                Err(e) => refused = Some(e.to_string()),
            }
        }
    }
    nar.extend(tokens(&[b")"]));
    let read_err = error_text(&nar);
    assert!(read_err.contains(message), "reader: {read_err}");
    let write_err = refused.expect("writer accepted");
    assert!(write_err.contains(message), "writer: {write_err}");
}

#[test]
fn accepts_the_longest_name_and_refuses_one_byte_more() {
    let long = vec![b'n'; MAX_NAME_LEN];
    let tree = dir(&[(&long, file(b""))]);
    assert_eq!(read_tree(&write_tree(&tree)).unwrap(), tree);
    let mut w = NarWriter::new(Vec::new());
    w.begin_directory().unwrap();
    let err = w.entry(&[b'n'; MAX_NAME_LEN + 1]).unwrap_err();
    assert!(err.to_string().contains("entry name of 256 bytes is longer than the limit of 255"), "{err}");
}

#[rstest]
#[case::empty(&b""[..], "empty symlink target")]
#[case::nul(&b"a\0"[..], "symlink target contains NUL")]
#[case::too_long(&[b'x'; MAX_TARGET_LEN + 1][..], "symlink target of 4096 bytes is longer than the limit of 4095")]
fn reader_and_writer_refuse_bad_symlink_targets(#[case] target: &[u8], #[case] message: &str) {
    let nar = tokens(&[b"nix-archive-1", b"(", b"type", b"symlink", b"target", target, b")"]);
    assert!(error_text(&nar).contains(message), "{}", error_text(&nar));
    let err = NarWriter::new(Vec::new()).symlink(target).unwrap_err();
    assert!(err.to_string().contains(message), "{err}");
}

#[test]
fn accepts_the_longest_symlink_target() {
    let tree = Tree::Symlink(vec![b'x'; MAX_TARGET_LEN]);
    assert_eq!(read_tree(&write_tree(&tree)).unwrap(), tree);
}

fn nested(depth: usize) -> Vec<u8> {
    let mut w = NarWriter::new(Vec::new());
    for _ in 1..depth {
        w.begin_directory().unwrap();
        w.entry(b"d").unwrap();
    }
    w.begin_directory().unwrap();
    for _ in 0..depth {
        w.end_directory().unwrap();
    }
    w.finish().unwrap()
}

#[test]
fn accepts_nesting_up_to_the_limit() {
    let nar = nested(MAX_DEPTH);
    let mut r = NarReader::new(&nar[..]);
    let mut deepest = 0;
    while r.next().unwrap().is_some() {
        deepest = deepest.max(r.depth());
    }
    assert_eq!(deepest, MAX_DEPTH);
}

#[test]
fn refuses_nesting_beyond_the_limit_in_reader_and_writer() {
    // Splice one more level into a NAR at the limit by hand.
    let inner = nested(MAX_DEPTH);
    let magic_len = 24;
    let mut nar = tokens(&[b"nix-archive-1", b"(", b"type", b"directory", b"entry", b"(", b"name", b"d", b"node"]);
    nar.extend_from_slice(&inner[magic_len..]);
    nar.extend(tokens(&[b")", b")"]));
    assert!(error_text(&nar).contains("directories nested deeper than 1024"), "{}", error_text(&nar));

    let mut w = NarWriter::new(Vec::new());
    for _ in 0..MAX_DEPTH {
        w.begin_directory().unwrap();
        w.entry(b"d").unwrap();
    }
    assert!(w.begin_directory().unwrap_err().to_string().contains("nested deeper than 1024"));
}

#[rstest]
#[case::entry_at_root("entry")]
#[case::end_at_root("end")]
#[case::finish_before_root("finish")]
#[case::second_root("second")]
#[case::node_without_entry("node-in-dir")]
#[case::finish_with_open_directory("finish-open")]
fn writer_refuses_events_out_of_place(#[case] misuse: &str) {
    let mut w = NarWriter::new(Vec::new());
    let err = match misuse {
        "entry" => w.entry(b"a").unwrap_err(),
        "end" => w.end_directory().unwrap_err(),
        "finish" => w.finish().unwrap_err(),
        "second" => {
            w.symlink(b"x").unwrap();
            w.symlink(b"y").unwrap_err()
        }
        "node-in-dir" => {
            w.begin_directory().unwrap();
            w.regular(false, 0, &b""[..]).unwrap_err()
        }
        "finish-open" => {
            w.begin_directory().unwrap();
            w.finish().unwrap_err()
        }
        other => unreachable!("{other}"),
    };
    assert!(matches!(err.problem(), Some(NarProblem::Misuse { .. })), "{err}");
}

#[test]
fn refused_event_leaves_output_unchanged_and_writer_usable() {
    let mut w = NarWriter::new(Vec::new());
    w.begin_directory().unwrap();
    w.entry(b"b").unwrap();
    w.regular(false, 0, &b""[..]).unwrap();
    let before = w.get_ref().clone();
    assert!(w.entry(b"a").is_err());
    assert_eq!(w.get_ref(), &before);
    w.entry(b"c").unwrap();
    w.symlink(b"b").unwrap();
    w.end_directory().unwrap();
    let nar = w.finish().unwrap();
    assert_eq!(read_tree(&nar).unwrap(), dir(&[(b"b", file(b"")), (b"c", Tree::Symlink(b"b".to_vec()))]));
}

#[test]
fn short_body_is_an_error_and_poisons_the_writer() {
    let mut w = NarWriter::new(Vec::new());
    let err = w.regular(false, 10, &b"short"[..]).unwrap_err();
    assert_eq!(err.problem(), Some(&NarProblem::SizeMismatch { expected: 10, found: 5 }));
    assert_eq!(w.symlink(b"x").unwrap_err().problem(), Some(&NarProblem::Poisoned));
}

#[test]
fn body_longer_than_size_is_cut_at_size() {
    let mut w = NarWriter::new(Vec::new());
    w.regular(false, 3, &b"abcdef"[..]).unwrap();
    assert_eq!(read_tree(&w.finish().unwrap()).unwrap(), file(b"abc"));
}

#[test]
fn copy_returns_size_and_hash_of_the_bytes() {
    let nar = write_tree(&dir(&[(b"x", file(b"hello"))]));
    let mut out = Vec::new();
    let s = copy(&nar[..], &mut out, HashAlgo::Sha256).unwrap();
    assert_eq!(out, nar);
    assert_eq!(s, NarSummary { size: nar.len() as u64, hash: Hash::compute(HashAlgo::Sha256, &nar) });
    assert_eq!(validate(&nar[..], HashAlgo::Md5).unwrap().hash, Hash::compute(HashAlgo::Md5, &nar));
}

#[test]
fn copy_rejects_trailing_bytes_but_copy_embedded_leaves_them() {
    let mut data = write_tree(&file(b"x"));
    let len = data.len();
    data.extend_from_slice(b"rest");
    let err = validate(&data[..], HashAlgo::Sha256).unwrap_err();
    assert_eq!(err.to_string(), format!("offset {len}: trailing bytes after the end of the NAR"));
    let mut input = &data[..];
    let s = copy_embedded(&mut input, std::io::sink(), HashAlgo::Sha256, 1000).unwrap();
    assert_eq!(s.size, len as u64);
    assert_eq!(input, b"rest");
}

#[test]
fn copy_embedded_reports_offsets_in_the_enclosing_stream() {
    let nar = tokens(&[b"nix-archive-1", b"(", b"type", b"fifo"]);
    let err = copy_embedded(&nar[..], std::io::sink(), HashAlgo::Sha256, 1000).unwrap_err();
    assert_eq!(err.to_string(), "offset 1056: expected `regular`, `symlink` or `directory`, found `fifo`");
}

#[test]
fn copy_reports_a_failing_output() {
    struct Broken;
    impl std::io::Write for Broken {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk full"))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let nar = write_tree(&file(b"x"));
    assert!(matches!(copy(&nar[..], Broken, HashAlgo::Sha256), Err(NarError::Io { .. })));
}

#[rstest]
#[case::huge_token(&{ let mut v = tokens(&[b"nix-archive-1"]); put_u64(&mut v, u64::MAX); v }, "found a string of 18446744073709551615 bytes")]
#[case::huge_file_size(&{ let mut v = tokens(&[b"nix-archive-1", b"(", b"type", b"regular", b"contents"]); put_u64(&mut v, u64::MAX); v }, "input ends inside file contents")]
#[case::huge_name(&{ let mut v = tokens(&[b"nix-archive-1", b"(", b"type", b"directory", b"entry", b"(", b"name"]); put_u64(&mut v, 1 << 40); v }, "entry name of 1099511627776 bytes is longer than the limit of 255")]
#[case::executable_value(&tokens(&[b"nix-archive-1", b"(", b"type", b"regular", b"executable", b"1", b"contents", b"", b")"]), "`executable` marker has a non-empty value of 1 bytes")]
#[case::executable_after_contents(&tokens(&[b"nix-archive-1", b"(", b"type", b"regular", b"contents", b"", b"executable", b"", b")"]), "expected `)` closing the file, found `executable`")]
#[case::no_contents(&tokens(&[b"nix-archive-1", b"(", b"type", b"regular", b")"]), "expected `executable` or `contents`, found `)`")]
#[case::bad_magic(&tokens(&[b"nix-archive-2"]), "not a NAR: expected `nix-archive-1`, found `nix-archive-2`")]
#[case::empty_input(&b""[..], "offset 0: input ends inside `nix-archive-1`")]
fn reader_rejects_hand_made_bad_nars(#[case] nar: &[u8], #[case] message: &str) {
    let err = error_text(nar);
    assert!(err.contains(message), "{err}");
}

fn arb_name() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), Just(b'.'), Just(b'-'), Just(b'A')], 1..4),
        proptest::collection::vec(1u8..=255, 1..6)
            .prop_map(|v| v.into_iter().map(|b| if b == b'/' { b'x' } else { b }).collect()),
    ]
    .prop_filter("not . or ..", |n| n != b"." && n != b"..")
}

pub(crate) fn arb_tree() -> impl Strategy<Value = Tree> {
    let leaf = prop_oneof![
        (any::<bool>(), proptest::collection::vec(any::<u8>(), 0..40))
            .prop_map(|(executable, contents)| Tree::File { executable, contents }),
        proptest::collection::vec(1u8..=255, 1..20).prop_map(Tree::Symlink),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| proptest::collection::btree_map(arb_name(), inner, 0..6).prop_map(Tree::Dir))
}

proptest! {
    #[test]
    fn reading_what_the_writer_wrote_gives_the_same_tree(tree in arb_tree()) {
        let nar = write_tree(&tree);
        prop_assert_eq!(read_tree(&nar).unwrap(), tree.clone());
        // Canonical bytes: rendering the parsed tree gives the same bytes.
        prop_assert_eq!(write_tree(&read_tree(&nar).unwrap()), nar);
    }

    #[test]
    fn every_truncation_is_rejected(tree in arb_tree(), cut in any::<prop::sample::Index>()) {
        let nar = write_tree(&tree);
        let cut = cut.index(nar.len());
        prop_assert!(validate(&nar[..cut], HashAlgo::Sha256).is_err());
    }

    #[test]
    fn a_flipped_byte_is_rejected_or_still_canonical(tree in arb_tree(), at in any::<prop::sample::Index>(), bit in 0u8..8) {
        let mut nar = write_tree(&tree);
        let at = at.index(nar.len());
        nar[at] ^= 1 << bit;
        if let Ok(t) = read_tree(&nar) {
            prop_assert_eq!(write_tree(&t), nar);
        }
    }
}

#[test]
fn reader_refuses_to_continue_after_an_error() {
    let nar = tokens(&[b"nix-archive-1", b"(", b"type", b"directory", b"entry", b"(", b"name", b"..", b"node"]);
    let mut r = NarReader::new(&nar[..]);
    assert_eq!(r.next().unwrap(), Some(NarEvent::DirectoryStart));
    assert!(r.next().is_err());
    assert_eq!(r.next().unwrap_err().problem(), Some(&NarProblem::Poisoned));
}

#[test]
fn regular_file_nar_size_is_the_written_size() {
    for len in [0u64, 1, 7, 8, 9, 4096, 100_003] {
        for executable in [false, true] {
            let mut nar = NarWriter::new(Vec::new());
            let body = vec![1u8; len as usize];
            nar.regular(executable, len, body.as_slice()).unwrap();
            let written = nar.finish().unwrap().len() as u64;
            assert_eq!(regular_file_nar_size(len, executable), written, "len {len}, executable {executable}");
        }
    }
}
