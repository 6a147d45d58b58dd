//! Conformance of export streams with Nix 2.8: `nix-store --export` (read by
//! us, bytes equal to ours, order equal to ours) and `nix-store --import`
//! (accepts ours), with `nix-store -q --hash/--size/--references/--deriver`
//! as the reference metadata.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::process::Stdio;

use provenix_formats::export::{ExportReader, ExportWriter, dependency_order};
use provenix_formats::hash::{Hash, HashAlgo};
use provenix_formats::store_path::{StoreDir, StorePath};
use provenix_store::nar::dump_into;
use provenix_testkit::NixHarness;

/// A small graph with a diamond, a directory output with a symlink and an
/// executable, and a self-reference, as two roots. On x86_64-linux the
/// paths' hashes make sorted order differ from dependency order (`top`
/// sorts before its reference `other`), in both the output closure and the
/// `.drv` closure, so the order assertions can fail.
const EXPR: &str = r#"
let
  mk = name: script: derivation {
    inherit name;
    system = builtins.currentSystem;
    builder = "/bin/sh";
    args = [ "-c" script ];
  };
  dep = mk "dep" "echo hello > $out";
  mid = mk "mid" "mkdir $out; echo ${dep} > $out/ref; ln -s ${dep} $out/link; echo '#!x' > $out/x; chmod +x $out/x";
  other = mk "other" "echo ${dep} > $out";
  selfref = mk "selfref" "mkdir $out; echo $out > $out/me; ln -s $out/me $out/again";
  top = mk "top" "echo ${mid} ${other} > $out";
in [ top selfref ]
"#;

struct Info {
    references: Vec<StorePath>,
    deriver: Option<StorePath>,
    nar_hash: String,
    nar_size: u64,
}

fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect()
}

/// Path metadata as Nix reports it.
fn query(h: &NixHarness, dir: &StoreDir, path: &str) -> Info {
    let q = |flag: &str| h.run_text("nix-store", ["-q", flag, path]);
    let mut references: Vec<StorePath> = lines(&q("--references")).iter().map(|r| dir.parse_path(r).unwrap()).collect();
    references.sort();
    let deriver = q("--deriver");
    let deriver = (deriver != "unknown-deriver").then(|| dir.parse_path(&deriver).unwrap());
    Info { references, deriver, nar_hash: q("--hash"), nar_size: q("--size").parse().unwrap() }
}

fn nix_export(h: &NixHarness, paths: &[String]) -> Vec<u8> {
    let mut args = vec!["--export".to_owned()];
    args.extend(paths.iter().cloned());
    h.run("nix-store", &args).stdout
}

/// Our stream for `paths` (in the order given), dumping from `h`'s store.
fn our_export(h: &NixHarness, dir: &StoreDir, paths: &[StorePath], infos: &BTreeMap<StorePath, Info>) -> Vec<u8> {
    let mut w = ExportWriter::new(Vec::new(), dir);
    for p in paths {
        let info = &infos[p];
        let physical = h.physical(&dir.display(p));
        let summary = w
            .write_path_with(
                p,
                &info.references,
                info.deriver.as_ref(),
                |nar| -> Result<(), Box<dyn std::error::Error + Send + Sync>> { Ok(dump_into(&physical, nar)?) },
            )
            .unwrap();
        assert_eq!(summary.hash.to_prefixed_nixbase32(), info.nar_hash, "{p}");
    }
    w.finish().unwrap()
}

fn import(h: &NixHarness, stream: &[u8]) -> Vec<String> {
    let mut cmd = h.command("nix-store");
    cmd.arg("--import").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child.stdin.take().unwrap().write_all(stream).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "nix-store --import failed:\n{}", String::from_utf8_lossy(&out.stderr));
    lines(&String::from_utf8(out.stdout).unwrap())
}

/// Everything about one closure: Nix's export read by us, ours compared to
/// Nix's, ours imported into a fresh store.
fn check_closure(h: &NixHarness, roots: &[String]) {
    let dir = StoreDir::default();
    let mut args = vec!["-qR".to_owned()];
    args.extend(roots.iter().cloned());
    let closure = lines(&h.run_text("nix-store", &args));
    assert!(closure.len() >= 2, "closure too small: {closure:?}");
    let infos: BTreeMap<StorePath, Info> =
        closure.iter().map(|p| (dir.parse_path(p).unwrap(), query(h, &dir, p))).collect();

    // Nix's export is deterministic and ignores argument order.
    let nix = nix_export(h, &closure);
    assert_eq!(nix_export(h, &closure), nix, "two exports of the same paths differ");
    let reversed: Vec<String> = closure.iter().rev().cloned().collect();
    assert_eq!(nix_export(h, &reversed), nix, "argument order changed the export");

    // Our reader: every path with Nix's metadata and NAR hash, NARs equal to --dump.
    let mut reader = ExportReader::new(&nix[..], &dir);
    let mut order = Vec::new();
    loop {
        let mut nar = Vec::new();
        let Some(entry) = reader.next_path(&mut nar).unwrap() else { break };
        let info = &infos[&entry.path];
        assert_eq!(entry.nar_hash.to_prefixed_nixbase32(), info.nar_hash, "{}", entry.path);
        assert_eq!(entry.nar_hash, Hash::compute(HashAlgo::Sha256, &nar));
        assert_eq!(entry.nar_size, info.nar_size, "{}", entry.path);
        assert_eq!(entry.references, info.references, "{}", entry.path);
        assert_eq!(entry.deriver, info.deriver, "{}", entry.path);
        // `--dump` takes a file-system path, so the physical location.
        let dumped = h
            .run("nix-store", [std::ffi::OsStr::new("--dump"), h.physical(&dir.display(&entry.path)).as_os_str()])
            .stdout;
        assert!(dumped == nar, "{}: NAR in the export differs from nix-store --dump", entry.path);
        order.push(entry.path);
    }
    assert_eq!(order.iter().collect::<BTreeSet<_>>(), infos.keys().collect::<BTreeSet<_>>());

    // Our dependency order is Nix's order.
    let graph: BTreeMap<StorePath, BTreeSet<StorePath>> =
        infos.iter().map(|(p, i)| (p.clone(), i.references.iter().cloned().collect())).collect();
    assert_eq!(dependency_order(&graph).unwrap(), order, "export order");
    if provenix_testkit::current_system() == "x86_64-linux" {
        let sorted: Vec<StorePath> = infos.keys().cloned().collect();
        assert_ne!(sorted, order, "this closure no longer tells dependency order from sorted order");
    }

    // Our writer, same paths and order: the same bytes.
    let ours = our_export(h, &dir, &order, &infos);
    assert!(ours == nix, "our export ({} bytes) differs from nix-store --export ({} bytes)", ours.len(), nix.len());

    // nix-store --import takes our stream into a fresh store, with the same metadata.
    let Some(fresh) = NixHarness::new() else { return };
    let imported = import(&fresh, &ours);
    assert_eq!(imported, order.iter().map(|p| dir.display(p)).collect::<Vec<_>>());
    for p in &order {
        let again = query(&fresh, &dir, &dir.display(p));
        let info = &infos[p];
        assert_eq!(again.nar_hash, info.nar_hash, "{p} after import");
        assert_eq!(again.references, info.references, "{p} after import");
        assert_eq!(again.deriver, info.deriver, "{p} after import");
    }
}

#[test]
fn export_of_a_built_closure_matches_nix_store_export_and_imports() {
    let Some(h) = NixHarness::new() else { return };
    let out = h.build(EXPR);
    assert_eq!(out.len(), 2);
    check_closure(&h, &out);
}

#[test]
fn export_of_a_derivation_closure_matches_nix_store_export_and_imports() {
    let Some(h) = NixHarness::new() else { return };
    let drv = h.instantiate(EXPR);
    // .drv files have no deriver; their references are other .drv files and sources.
    check_closure(&h, &drv);
}

#[test]
fn export_of_a_subset_keeps_references_outside_it() {
    let Some(h) = NixHarness::new() else { return };
    let out = h.build(EXPR);
    let dir = StoreDir::default();
    // Only the top path: its references are listed though not exported.
    let nix = nix_export(&h, &out[..1]);
    let mut reader = ExportReader::new(&nix[..], &dir);
    let entry = reader.next_path(std::io::sink()).unwrap().unwrap();
    assert_eq!(entry.references.len(), 2);
    assert!(reader.next_path(std::io::sink()).unwrap().is_none());
    let info = query(&h, &dir, &out[0]);
    let infos = BTreeMap::from([(entry.path.clone(), info)]);
    assert!(our_export(&h, &dir, &[entry.path], &infos) == nix);
}
