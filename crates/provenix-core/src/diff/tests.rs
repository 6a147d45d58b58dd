#![allow(clippy::panic)]

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{PermissionsExt, symlink};

use rstest::rstest;

use super::*;

/// Writes `contents` at `root/rel`, creating parents.
fn write(root: &Path, rel: &str, contents: &[u8]) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, contents).unwrap();
}

fn chmod(root: &Path, rel: &str, mode: u32) {
    std::fs::set_permissions(root.join(rel), std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A small output: a script, a text file, a binary, a symlink, a subdirectory.
fn sample(root: &Path) {
    write(root, "bin/tool", b"#!/bin/sh\necho tool\n");
    chmod(root, "bin/tool", 0o755);
    write(root, "share/doc.txt", b"one\ntwo\nthree\nfour\nfive\nsix\nseven\n");
    write(root, "lib/blob.bin", &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    symlink("bin/tool", root.join("link")).unwrap();
}

/// Two fresh directories `a` and `b` under a temp dir, both holding `sample`.
fn pair() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    sample(&a);
    sample(&b);
    (tmp, a, b)
}

fn diff(a: &Path, b: &Path) -> DiffReport {
    diff_with(a, b, &DiffOptions::default())
}

fn diff_with(a: &Path, b: &Path, opts: &DiffOptions) -> DiffReport {
    diff_outputs(&Input::detect(a).unwrap(), &Input::detect(b).unwrap(), opts).unwrap()
}

/// The NAR of `tree`, written next to it as `<tree>.nar`.
fn nar_of(tree: &Path) -> PathBuf {
    let file = tree.with_extension("nar");
    dump_path(tree, File::create(&file).unwrap()).unwrap();
    file
}

/// `(letters, path)` of every entry, for compact assertions.
fn lines(report: &DiffReport) -> Vec<(String, String)> {
    report.entries.iter().map(|e| (e.changes.iter().map(|c| c.letter()).collect(), e.path.clone())).collect()
}

fn entry<'a>(report: &'a DiffReport, path: &str) -> &'a Entry {
    report.entries.iter().find(|e| e.path == path).unwrap_or_else(|| panic!("no entry {path}: {report:#?}"))
}

fn owned(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter().map(|(l, p)| ((*l).to_owned(), (*p).to_owned())).collect()
}

#[test]
fn identical_trees_have_no_entries_and_equal_nar_hashes() {
    let (_tmp, a, b) = pair();
    let report = diff(&a, &b);
    assert!(report.identical);
    assert!(report.entries.is_empty());
    assert_eq!(report.summary, Summary::default());
    assert_eq!(report.a.nar_hash, report.b.nar_hash);
    assert_eq!(report.a.nar_size, report.b.nar_size);
    assert_eq!(report.diffoscope.status, DiffoscopeStatus::Disabled);
    let (hash, size) = provenix_store::nar::hash_path(&a, HashAlgo::Sha256).unwrap();
    assert_eq!(report.a.nar_hash, hash.to_prefixed_nixbase32());
    assert_eq!(report.a.nar_size, size);
}

#[test]
fn a_tree_equals_its_own_nar_in_either_order() {
    let (_tmp, a, _) = pair();
    let nar = nar_of(&a);
    assert_eq!(Input::detect(&nar).unwrap(), Input::Nar(nar.clone()));
    for (x, y) in [(&a, &nar), (&nar, &a), (&nar, &nar)] {
        let report = diff(x, y);
        assert!(report.identical, "{report:#?}");
    }
    let report = diff(&nar, &a);
    assert_eq!((report.a.kind, report.b.kind), (InputKind::Nar, InputKind::Tree));
}

#[test]
fn a_changed_text_file_is_modified_with_a_unified_diff() {
    let (_tmp, a, b) = pair();
    write(&b, "share/doc.txt", b"one\ntwo\nthree\nFOUR\nfive\nsix\nseven\n");
    for (x, y) in [(a.clone(), b.clone()), (nar_of(&a), nar_of(&b)), (a.clone(), nar_of(&b))] {
        let report = diff(&x, &y);
        assert!(!report.identical);
        assert_ne!(report.a.nar_hash, report.b.nar_hash);
        assert_eq!(lines(&report), owned(&[("M", "share/doc.txt")]));
        assert_eq!(report.summary.modified, 1);
        let content = entry(&report, "share/doc.txt").content.as_ref().unwrap();
        assert_eq!(content.kind, ContentKind::Text);
        assert_eq!(content.first_difference, 14);
        assert_eq!(content.ranges, vec![ByteRange { offset: 14, len: 4 }]);
        let unified = content.unified.as_deref().unwrap();
        assert!(unified.starts_with("--- a/share/doc.txt\n+++ b/share/doc.txt\n@@ -1,7 +1,7 @@\n"), "{unified}");
        assert!(unified.contains("\n-four\n+FOUR\n"), "{unified}");
        assert!(!content.unified_truncated);
    }
}

#[test]
fn context_option_sets_the_lines_around_a_change() {
    let (_tmp, a, b) = pair();
    write(&b, "share/doc.txt", b"one\ntwo\nthree\nFOUR\nfive\nsix\nseven\n");
    let opts = DiffOptions { context: 1, ..DiffOptions::default() };
    let report = diff_with(&a, &b, &opts);
    let unified = entry(&report, "share/doc.txt").content.as_ref().unwrap().unified.clone().unwrap();
    assert!(unified.contains("@@ -3,3 +3,3 @@\n three\n-four\n+FOUR\n five\n"), "{unified}");
}

#[test]
fn added_and_removed_entries_list_every_path_below_a_directory() {
    let (_tmp, a, b) = pair();
    std::fs::remove_file(b.join("lib/blob.bin")).unwrap();
    write(&b, "new/deep/file", b"x");
    let report = diff(&a, &b);
    assert_eq!(
        lines(&report),
        owned(&[("D", "lib/blob.bin"), ("A", "new"), ("A", "new/deep"), ("A", "new/deep/file")])
    );
    let removed = entry(&report, "lib/blob.bin");
    assert_eq!(removed.a, Some(Node::Regular { size: 10, executable: false }));
    assert_eq!(removed.b, None);
    assert_eq!(entry(&report, "new").b, Some(Node::Directory));
    assert_eq!((report.summary.added, report.summary.removed, report.summary.entries), (3, 1, 4));
}

#[test]
fn a_type_change_is_followed_by_the_entries_below_it() {
    let (_tmp, a, b) = pair();
    std::fs::remove_dir_all(b.join("lib")).unwrap();
    write(&b, "lib", b"now a file\n");
    std::fs::remove_file(b.join("link")).unwrap();
    write(&b, "link", b"was a symlink\n");
    let report = diff(&a, &b);
    assert_eq!(lines(&report), owned(&[("T", "lib"), ("D", "lib/blob.bin"), ("T", "link")]));
    let lib = entry(&report, "lib");
    assert_eq!(lib.a, Some(Node::Directory));
    assert_eq!(lib.b, Some(Node::Regular { size: 11, executable: false }));
    assert!(lib.content.is_none());
    assert_eq!(report.summary.type_changed, 2);
}

#[test]
fn only_the_owner_execute_bit_is_a_mode_change() {
    let (_tmp, a, b) = pair();
    chmod(&b, "bin/tool", 0o644);
    chmod(&b, "share/doc.txt", 0o600); // not part of a NAR: no change
    let report = diff(&a, &b);
    assert_eq!(lines(&report), owned(&[("X", "bin/tool")]));
    let tool = entry(&report, "bin/tool");
    assert_eq!(tool.a, Some(Node::Regular { size: 20, executable: true }));
    assert_eq!(tool.b, Some(Node::Regular { size: 20, executable: false }));
    assert!(tool.content.is_none());
    assert_eq!(report.summary.mode_changed, 1);
}

#[test]
fn contents_and_mode_can_change_together() {
    let (_tmp, a, b) = pair();
    write(&b, "bin/tool", b"#!/bin/sh\necho TOOL\n");
    chmod(&b, "bin/tool", 0o644);
    let report = diff(&a, &b);
    assert_eq!(lines(&report), owned(&[("MX", "bin/tool")]));
    assert_eq!((report.summary.modified, report.summary.mode_changed, report.summary.entries), (1, 1, 1));
}

#[test]
fn a_symlink_target_change_is_reported_with_both_targets() {
    let (_tmp, a, b) = pair();
    std::fs::remove_file(b.join("link")).unwrap();
    symlink("../elsewhere", b.join("link")).unwrap();
    let report = diff(&a, &b);
    assert_eq!(lines(&report), owned(&[("L", "link")]));
    let link = entry(&report, "link");
    assert_eq!(link.a, Some(Node::Symlink { target: "bin/tool".to_owned() }));
    assert_eq!(link.b, Some(Node::Symlink { target: "../elsewhere".to_owned() }));
}

#[test]
fn a_binary_change_gives_byte_ranges_and_sizes() {
    let (_tmp, a, b) = pair();
    write(&b, "lib/blob.bin", &[0, 1, 2, 0xff, 0xfe, 5, 6, 7, 8, 0xfd, 10, 11]);
    let report = diff(&a, &b);
    assert_eq!(lines(&report), owned(&[("M", "lib/blob.bin")]));
    let blob = entry(&report, "lib/blob.bin");
    assert_eq!(blob.a, Some(Node::Regular { size: 10, executable: false }));
    assert_eq!(blob.b, Some(Node::Regular { size: 12, executable: false }));
    let content = blob.content.as_ref().unwrap();
    assert_eq!(content.kind, ContentKind::Binary);
    assert_eq!(content.first_difference, 3);
    assert_eq!(content.ranges, vec![ByteRange { offset: 3, len: 2 }, ByteRange { offset: 9, len: 1 }]);
    assert!(!content.ranges_truncated);
    assert!(content.unified.is_none());
}

#[test]
fn a_file_that_is_a_prefix_of_the_other_differs_at_its_end() {
    let (_tmp, a, b) = pair();
    write(&b, "lib/blob.bin", &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    let content = entry(&diff(&a, &b), "lib/blob.bin").content.clone().unwrap();
    assert_eq!(content.first_difference, 10);
    assert!(content.ranges.is_empty());
}

#[rstest]
#[case::nul_byte(b"text\0more\n".as_slice(), b"text\0less\n".as_slice())]
#[case::invalid_utf8(b"caf\xe9\n".as_slice(), b"caf\xe8\n".as_slice())]
#[case::one_side_binary(b"plain text\n".as_slice(), b"plain\0text\n".as_slice())]
fn files_that_are_not_both_text_are_binary(#[case] left: &[u8], #[case] right: &[u8]) {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    std::fs::write(&a, left).unwrap();
    std::fs::write(&b, right).unwrap();
    let report = diff(&a, &b);
    assert_eq!(lines(&report), owned(&[("M", "")]));
    assert_eq!(report.entries[0].content.as_ref().unwrap().kind, ContentKind::Binary);
}

#[test]
fn top_level_files_diff_with_plain_a_b_headers() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    std::fs::write(&a, "x\n").unwrap();
    std::fs::write(&b, "y\n").unwrap();
    let report = diff(&a, &b);
    let unified = report.entries[0].content.as_ref().unwrap().unified.clone().unwrap();
    assert!(unified.starts_with("--- a\n+++ b\n"), "{unified}");
    // A top-level symlink is compared as a symlink, never followed.
    let (la, lb) = (tmp.path().join("la"), tmp.path().join("lb"));
    symlink(&a, &la).unwrap();
    symlink(&b, &lb).unwrap();
    assert_eq!(Input::detect(&la).unwrap(), Input::Tree(la.clone()));
    assert_eq!(lines(&diff(&la, &lb)), owned(&[("L", "")]));
    assert_eq!(lines(&diff(&la, &a)), owned(&[("T", "")]));
}

#[test]
fn files_above_the_text_limit_are_compared_as_bytes() {
    let (_tmp, a, b) = pair();
    write(&b, "share/doc.txt", b"one\ntwo\nthree\nFOUR\nfive\nsix\nseven\n");
    let opts = DiffOptions { text_limit: 16, ..DiffOptions::default() };
    let content = entry(&diff_with(&a, &b, &opts), "share/doc.txt").content.clone().unwrap();
    assert_eq!(content.kind, ContentKind::TooLarge);
    assert_eq!(content.ranges, vec![ByteRange { offset: 14, len: 4 }]);
    assert!(content.unified.is_none());
}

#[test]
fn ranges_are_found_across_chunk_boundaries_and_capped() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let left = vec![0u8; 3 * CHUNK];
    let mut right = left.clone();
    // One range across the first chunk boundary, then many single bytes.
    for byte in &mut right[CHUNK - 2..CHUNK + 3] {
        *byte = 1;
    }
    for i in 0..40 {
        right[2 * CHUNK + 10 * i] = 1;
    }
    std::fs::write(&a, &left).unwrap();
    std::fs::write(&b, &right).unwrap();
    let opts = DiffOptions { max_ranges: 4, ..DiffOptions::default() };
    let content = diff_with(&a, &b, &opts).entries[0].content.clone().unwrap();
    assert_eq!(content.kind, ContentKind::Binary);
    assert_eq!(content.first_difference, CHUNK as u64 - 2);
    let expected: Vec<ByteRange> = [(CHUNK as u64 - 2, 5), (2 * CHUNK as u64, 1), (2 * CHUNK as u64 + 10, 1)]
        .into_iter()
        .chain([(2 * CHUNK as u64 + 20, 1)])
        .map(|(offset, len)| ByteRange { offset, len })
        .collect();
    assert_eq!(content.ranges, expected);
    assert!(content.ranges_truncated);
}

#[test]
fn large_files_stop_comparing_once_enough_ranges_are_found() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    // Differ every other byte over 4 MiB: the report keeps 2 ranges.
    let left = vec![0u8; 4 << 20];
    let right: Vec<u8> = (0..left.len()).map(|i| (i % 2) as u8).collect();
    std::fs::write(&a, &left).unwrap();
    std::fs::write(&b, &right).unwrap();
    let opts = DiffOptions { max_ranges: 2, text_limit: 1024, ..DiffOptions::default() };
    let report = diff_with(&a, &b, &opts);
    let content = report.entries[0].content.clone().unwrap();
    assert_eq!(content.kind, ContentKind::TooLarge);
    assert_eq!(content.ranges, vec![ByteRange { offset: 1, len: 1 }, ByteRange { offset: 3, len: 1 }]);
    assert!(content.ranges_truncated);
    // The rest was still read (and hashed) to the end.
    assert_eq!(report.b.nar_size, provenix_formats::nar::regular_file_nar_size(4 << 20, false));
}

#[test]
fn long_unified_diffs_are_cut_at_a_line_end_and_later_ones_left_out() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let text = |tag: &str| (0..200).map(|i| format!("{tag} line {i}\n")).collect::<String>();
    for name in ["f1", "f2", "f3"] {
        write(&a, name, text("old").as_bytes());
        write(&b, name, text("new").as_bytes());
    }
    let opts = DiffOptions { max_diff_bytes: 1000, max_total_diff_bytes: 1500, ..DiffOptions::default() };
    let report = diff_with(&a, &b, &opts);
    let contents: Vec<&ContentDiff> = report.entries.iter().map(|e| e.content.as_ref().unwrap()).collect();
    let first = contents[0].unified.as_deref().unwrap();
    assert!(contents[0].unified_truncated);
    assert!(first.len() <= 1000 && first.ends_with('\n'), "{} bytes", first.len());
    let second = contents[1].unified.as_deref().unwrap();
    assert!(contents[1].unified_truncated);
    assert!(first.len() + second.len() <= 1500);
    assert!(second.starts_with("--- a/f2\n"), "{second}");
    // The total is spent: the third file keeps its ranges but no diff.
    assert_eq!(contents[2].kind, ContentKind::Text);
    assert!(contents[2].unified.is_none() && contents[2].unified_truncated);
    assert_eq!(contents[2].first_difference, 0);
}

#[test]
fn unicode_names_keep_their_spelling_and_nar_order() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    for root in [&a, &b] {
        write(root, "a", b"same");
    }
    write(&a, "ä/ünïcødé.txt", b"alt\n");
    write(&b, "ä/ünïcødé.txt", b"neu\n");
    write(&b, "a-b", b"1");
    write(&b, "a0/x", b"1");
    write(&b, "Z", b"1");
    write(&b, "日本語", b"1");
    let raw = OsStr::from_bytes(b"caf\xe9");
    std::fs::write(b.join(raw), b"latin-1 name").unwrap();
    let report = diff(&a, &b);
    assert_eq!(
        lines(&report),
        owned(&[
            ("A", "Z"),
            ("A", "a-b"),
            ("A", "a0"),
            ("A", "a0/x"),
            ("A", "caf\\xe9"),
            ("M", "ä/ünïcødé.txt"),
            ("A", "日本語"),
        ])
    );
    let unified = entry(&report, "ä/ünïcødé.txt").content.clone().unwrap().unified.unwrap();
    assert!(unified.starts_with("--- a/ä/ünïcødé.txt\n+++ b/ä/ünïcødé.txt\n"), "{unified}");
}

#[test]
fn entries_below_a_directory_come_before_a_sibling_that_sorts_after_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    write(&a, "d/x", b"1");
    write(&a, "d-e", b"1");
    write(&b, "d/x", b"2");
    write(&b, "d-e", b"2");
    assert_eq!(lines(&diff(&a, &b)), owned(&[("M", "d/x"), ("M", "d-e")]));
}

#[test]
fn detect_needs_the_whole_magic_at_the_start_of_a_regular_file() {
    let tmp = tempfile::tempdir().unwrap();
    let short = tmp.path().join("short");
    std::fs::write(&short, [13, 0, 0, 0, 0, 0, 0, 0, b'n', b'i', b'x']).unwrap();
    assert_eq!(Input::detect(&short).unwrap(), Input::Tree(short.clone()));
    let text = tmp.path().join("text");
    std::fs::write(&text, b"nix-archive-1 but not a NAR\n").unwrap();
    assert_eq!(Input::detect(&text).unwrap(), Input::Tree(text.clone()));
    let dir = tmp.path().join("dir");
    std::fs::create_dir(&dir).unwrap();
    assert_eq!(Input::detect(&dir).unwrap(), Input::Tree(dir.clone()));
}

#[test]
fn a_truncated_nar_is_an_error_naming_the_file_and_offset() {
    let (tmp, a, _) = pair();
    let nar = std::fs::read(nar_of(&a)).unwrap();
    let cut = tmp.path().join("cut.nar");
    std::fs::write(&cut, &nar[..200]).unwrap();
    let err =
        diff_outputs(&Input::Tree(a.clone()), &Input::detect(&cut).unwrap(), &DiffOptions::default()).unwrap_err();
    let chain = provenix_testkit::error_chain(&err);
    assert!(matches!(err, DiffError::Nar { ref path, .. } if *path == cut), "{chain}");
    assert!(chain.contains(cut.to_str().unwrap()) && chain.contains("offset 200"), "{chain}");
    // Bytes after the NAR are malformed too.
    let mut long = nar.clone();
    long.extend_from_slice(&[0; 8]);
    std::fs::write(&cut, &long).unwrap();
    let err = diff_outputs(&Input::Nar(cut.clone()), &Input::Tree(a), &DiffOptions::default()).unwrap_err();
    assert!(provenix_testkit::error_chain(&err).contains("trailing bytes"), "{err:?}");
}

#[test]
fn a_missing_input_is_an_error_naming_it() {
    let (tmp, a, _) = pair();
    let missing = tmp.path().join("missing");
    let err = Input::detect(&missing).unwrap_err();
    assert!(provenix_testkit::error_chain(&err).contains(missing.to_str().unwrap()));
    let err = diff_outputs(&Input::Tree(a), &Input::Tree(missing.clone()), &DiffOptions::default()).unwrap_err();
    assert!(matches!(err, DiffError::Tree { .. }), "{err:?}");
    assert!(provenix_testkit::error_chain(&err).contains(missing.to_str().unwrap()));
}

#[test]
fn a_fifo_in_a_tree_is_an_error_naming_it_even_when_the_other_side_is_larger() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    // Side a is larger than the dump channel holds, so its thread must be
    // stopped when side b fails.
    write(&a, "big", &vec![7u8; 8 << 20]);
    write(&a, "m", b"1");
    std::fs::create_dir_all(&b).unwrap();
    let fifo = b.join("m");
    rustix::fs::mknodat(rustix::fs::CWD, &fifo, rustix::fs::FileType::Fifo, rustix::fs::Mode::from_raw_mode(0o644), 0)
        .unwrap();
    let err = diff_outputs(&Input::Tree(a), &Input::Tree(b), &DiffOptions::default()).unwrap_err();
    let chain = provenix_testkit::error_chain(&err);
    assert!(chain.contains(fifo.to_str().unwrap()) && chain.contains("FIFO"), "{chain}");
}

/// A stand-in for diffoscope: a shell script in a temp dir.
fn fake_diffoscope(dir: &Path, body: &str) -> OsString {
    let path = dir.join("fake-diffoscope");
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    chmod(dir, "fake-diffoscope", 0o755);
    path.into_os_string()
}

fn with_diffoscope(program: OsString, timeout: Duration) -> DiffOptions {
    DiffOptions {
        diffoscope: Some(DiffoscopeOptions { program, timeout, ..DiffoscopeOptions::default() }),
        ..DiffOptions::default()
    }
}

#[test]
fn diffoscope_not_found_is_a_status() {
    let (_tmp, a, b) = pair();
    write(&b, "share/doc.txt", b"changed\n");
    let opts = with_diffoscope("/nonexistent/diffoscope".into(), Duration::from_secs(5));
    let report = diff_with(&a, &b, &opts);
    assert_eq!(report.diffoscope, DiffoscopeReport::status(DiffoscopeStatus::NotFound));
    // Not run at all when nothing differs.
    let report = diff_with(&a, &a, &opts);
    assert_eq!(report.diffoscope.status, DiffoscopeStatus::Identical);
}

#[test]
fn diffoscope_gets_the_inputs_unpacked_and_its_report_is_kept() {
    let (tmp, a, b) = pair();
    write(&b, "share/doc.txt", b"changed\n");
    // Prints its arguments into the --text file: what a real one would be given.
    let program = fake_diffoscope(
        tmp.path(),
        r#"out=; prev=; for arg; do [ "$prev" = --text ] && out=$arg; prev=$arg; done
for arg; do echo "$arg"; done > "$out"; ls "$(eval echo \${$#})/share" >> "$out"; exit 1"#,
    );
    let nar_b = nar_of(&b);
    let report = diff_with(&a, &nar_b, &with_diffoscope(program, Duration::from_secs(30)));
    let d = &report.diffoscope;
    assert_eq!((d.status, d.exit_code), (DiffoscopeStatus::Ran, Some(1)), "{d:?}");
    let out = d.output.as_deref().unwrap();
    let args: Vec<&str> = out.lines().collect();
    assert!(args.contains(&"--no-progress") && args.contains(&"--"), "{out}");
    assert_eq!(args[args.len() - 3], a.to_str().unwrap(), "{out}");
    // The NAR was unpacked under a directory named after it.
    assert!(args[args.len() - 2].ends_with("/b/b"), "{out}");
    assert_eq!(args[args.len() - 1], "doc.txt", "{out}");
}

#[test]
fn diffoscope_failing_or_running_too_long_is_a_status() {
    let (tmp, a, b) = pair();
    write(&b, "share/doc.txt", b"changed\n");
    let failing = fake_diffoscope(tmp.path(), "echo 'something broke' >&2; exit 2");
    let report = diff_with(&a, &b, &with_diffoscope(failing, Duration::from_secs(30)));
    assert_eq!(report.diffoscope.status, DiffoscopeStatus::Failed);
    assert_eq!(report.diffoscope.exit_code, Some(2));
    assert!(report.diffoscope.error.as_deref().unwrap().contains("something broke"), "{:?}", report.diffoscope);

    // A child that outlives the shell is killed with its process group.
    let pid_file = tmp.path().join("sleep.pid");
    let hanging = fake_diffoscope(tmp.path(), &format!("sleep 60 & echo $! > {}; wait", pid_file.display()));
    let report = diff_with(&a, &b, &with_diffoscope(hanging, Duration::from_millis(300)));
    assert_eq!(report.diffoscope.status, DiffoscopeStatus::TimedOut);
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    let stat = Path::new("/proc").join(pid.trim()).join("stat");
    // Killed: gone, or a zombie until its new parent reaps it.
    let gone = (0..250).any(|_| {
        let alive = std::fs::read_to_string(&stat).is_ok_and(|s| !s.contains(") Z "));
        if alive {
            thread::sleep(Duration::from_millis(20));
        }
        !alive
    });
    assert!(gone, "the sleep started by the fake diffoscope survived the timeout");
}

#[test]
fn diffoscope_output_is_capped() {
    let (tmp, a, b) = pair();
    write(&b, "share/doc.txt", b"changed\n");
    let program = fake_diffoscope(
        tmp.path(),
        r#"out=; prev=; for arg; do [ "$prev" = --text ] && out=$arg; prev=$arg; done
i=0; while [ $i -lt 100 ]; do echo "ääääääääää line $i"; i=$((i+1)); done > "$out"; exit 1"#,
    );
    let mut opts = with_diffoscope(program, Duration::from_secs(30));
    if let Some(d) = &mut opts.diffoscope {
        d.max_output = 101;
    }
    let d = diff_with(&a, &b, &opts).diffoscope;
    assert!(d.truncated);
    let out = d.output.unwrap();
    assert!(out.len() <= 101 && out.starts_with("ääää"), "{out:?}");
    assert!(!out.contains(char::REPLACEMENT_CHARACTER), "{out:?}");
}

/// The real diffoscope, when installed (`scripts/install-deps.sh` installs
/// it; CI, which sets `PROVENIX_REQUIRE_NIX=1`, must have it).
#[test]
fn real_diffoscope_names_the_differing_file() {
    let installed =
        std::process::Command::new("diffoscope").arg("--version").output().is_ok_and(|o| o.status.success());
    if !installed {
        if provenix_testkit::nix_required() {
            panic!("diffoscope is not installed (scripts/install-deps.sh installs diffoscope-minimal)");
        }
        eprintln!("\n*** SKIPPING real diffoscope test: diffoscope is not installed ***\n");
        return;
    }
    let (_tmp, a, b) = pair();
    write(&b, "share/doc.txt", b"one\ntwo\nthree\nFOUR\nfive\nsix\nseven\n");
    let opts = with_diffoscope("diffoscope".into(), Duration::from_secs(120));
    for (x, y) in [(a.clone(), b.clone()), (nar_of(&a), nar_of(&b))] {
        let d = diff_with(&x, &y, &opts).diffoscope;
        assert_eq!((d.status, d.exit_code), (DiffoscopeStatus::Ran, Some(1)), "{d:?}");
        let out = d.output.unwrap();
        assert!(out.contains("share/doc.txt") && out.contains("+FOUR"), "{out}");
    }
}

#[test]
fn huge_context_and_timeouts_are_clamped_not_overflowed() {
    let (tmp, a, b) = pair();
    write(&b, "share/doc.txt", b"one\ntwo\nthree\nFOUR\nfive\nsix\nseven\n");
    let program = fake_diffoscope(tmp.path(), "exit 0");
    let mut opts = with_diffoscope(program, Duration::MAX);
    opts.context = usize::MAX;
    opts.text_diff_timeout = Duration::MAX;
    let report = diff_with(&a, &b, &opts);
    let unified = entry(&report, "share/doc.txt").content.clone().unwrap().unified.unwrap();
    assert!(unified.contains("@@ -1,7 +1,7 @@"), "{unified}");
    assert_eq!(report.diffoscope.status, DiffoscopeStatus::Ran);
}

#[test]
fn entries_beyond_the_limit_are_counted_but_not_listed() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    std::fs::create_dir_all(&a).unwrap();
    for i in 0..10 {
        write(&b, &format!("f{i}"), b"1");
    }
    let opts = DiffOptions { max_entries: 3, ..DiffOptions::default() };
    let report = diff_with(&a, &b, &opts);
    assert_eq!(lines(&report), owned(&[("A", "f0"), ("A", "f1"), ("A", "f2")]));
    assert!(report.entries_truncated);
    assert_eq!((report.summary.entries, report.summary.added), (10, 10));
    assert!(!report.identical);
    assert!(!diff(&a, &b).entries_truncated);
}
