//! Derivations against real Nix 2.8, in a throwaway store.
//!
//! Mirrors `nix-instantiate` (the `.drv` bytes and paths Nix writes),
//! `nix-store --query --outputs` (output paths) and `nix show-derivation -r`
//! (JSON, with `--extra-experimental-features nix-command`). The expression
//! below makes over 40 derivations of varied shape; every `.drv` in their
//! closure must parse, re-serialise byte for byte, and give back Nix's `.drv`
//! path and output paths when recomputed from scratch.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use provenix_formats::derivation::{
    Derivation, Output, ShowDerivations, render_show_json_member, write_show_json_members,
};
use provenix_formats::hash::{Hash, HashAlgo};
use provenix_formats::store_path::{StoreDir, StorePath};
use provenix_store::Store;
use provenix_store::drv::DrvClosure;
use provenix_testkit::{NixHarness, current_system};

const FEATURES: &str = "ca-derivations impure-derivations";

/// Bytes that are not UTF-8 (latin-1 `é`, `ÿ`), a control byte and DEL.
const LATIN1: &[u8] = b"caf\xe9 \xff \x01\x7f end";

/// The expression: `@SYS@` and `@FODS@` are filled in by [`expression`].
const EXPR: &str = r#"
let
  sys = "@SYS@";
  mk = attrs: derivation ({ system = sys; builder = "/bin/sh"; args = [ "-c" "echo > $out" ]; } // attrs);
  latin1 = builtins.readFile ./latin1.bin;
  latin1Key = builtins.readFile ./key.bin;
  notes = builtins.toFile "notes.txt" "hello";
  refs = builtins.toFile "refs.txt" "see ${notes} and ${./src}";
  long = builtins.concatStringsSep "" (builtins.genList (i: "l") 207);

  d = mk { name = "chain-d"; };
  c = mk { name = "chain-c"; dep = d; };
  b = mk { name = "chain-b"; dep = c; };
  a = mk { name = "chain-a"; dep = b; };

  base = mk { name = "diamond-base"; outputs = [ "out" "dev" "lib" ]; };
  left = mk { name = "diamond-left"; dep = base.dev; };
  right = mk { name = "diamond-right"; dep = base.lib; };
  top = mk { name = "diamond-top"; l = left; r = right; b = base; };

  fetchA = mk { name = "same-fetch"; outputHash = "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="; url = "https://a.example/x"; };
  fetchB = mk { name = "same-fetch"; outputHash = "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="; url = "https://b.example/x"; };
  tool = mk { name = "fetch-tool"; };
  fetchWithTool = mk { name = "fetch-with-tool"; outputHash = "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73"; outputHashAlgo = "sha256"; outputHashMode = "recursive"; fetcher = tool; };

  ca = mk { name = "floating"; __contentAddressed = true; outputs = [ "out" "dev" ]; };
  caFlat = mk { name = "floating-flat-sha512"; __contentAddressed = true; outputHashMode = "flat"; outputHashAlgo = "sha512"; };
  impure = mk { name = "impure"; __impure = true; };
in [
  (mk { name = "simple"; })
  (mk { name = "multi"; outputs = [ "out" "dev" "lib" "doc" ]; })
  (mk { name = "bin-first"; outputs = [ "bin" "out" ]; })
  (mk { name = "escapes"; q = "say \"hi\""; bs = "back\\slash"; nl = "line1\nline2"; tab = "a\tb"; cr = "a\rb"; uni = "é ☃ 𝄞"; empty = ""; })
  (mk { name = "escapes-in-args"; args = [ "-c" "echo \"$x\" \\ \n\t\r" "" "é" ]; })
  (mk { name = "latin1-env"; raw = latin1; })
  (mk { name = "latin1-args"; args = [ "-c" latin1 ]; })
  (mk { name = "latin1-key"; ${latin1Key} = "value"; })
  (mk { name = "structured"; __structuredAttrs = true; outputs = [ "out" "dev" ]; list = [ 1 "two" { three = null; } true 1.5 ]; text = "quote\" nl\n"; raw = latin1; })
  (mk { name = "structured-fod"; __structuredAttrs = true; outputHash = "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="; })
  (mk { name = "pass-as-file"; passAsFile = [ "big" "other" ]; big = "lots of text"; other = "x"; })
  (mk { name = "many-args"; args = [ "-c" "exit 0" "a" "b" "c" "d" "e" "f" "g" "h" "i" "j" ]; })
  (mk { name = "no-args"; args = [ ]; })
  (mk { name = "raw-platform"; system = "x\ny\tz"; })
  a
  top
  (mk { name = "input-sources"; src = ./src; notes = notes; refs = refs; })
  (mk { name = "drv-path-context"; drv = "${base.drvPath}"; })
  (mk { name = long; outputs = [ "out" "dev" ]; })
  (mk { name = "uses-fods"; a = fetchA; b = fetchB; })
  (mk { name = "uses-fod-with-tool"; src = fetchWithTool; multi = base.dev; })
  (mk { name = "empty-hash-fod"; outputHash = ""; outputHashAlgo = "sha256"; })
  ca
  caFlat
  impure
  (mk { name = "deferred"; dep = ca.dev; outputs = [ "out" "doc" ]; })
  (mk { name = "deferred-chain"; dep = mk { name = "deferred-inner"; dep = ca; }; })
  (mk { name = "after-impure"; dep = impure; })
@FODS@
]
"#;

/// Fixed-output derivations: every algorithm, every hash form, both modes.
fn fods() -> String {
    let mut out = String::new();
    for algo in HashAlgo::ALL {
        let h = Hash::compute(algo, b"");
        let forms = [
            ("base16", h.to_base16(), true),
            ("nixbase32", h.to_nixbase32(), true),
            ("base64", h.to_base64(), true),
            ("sri", h.to_sri(), false),
            ("prefixed-base16", format!("{algo}:{}", h.to_base16()), false),
            ("prefixed-nixbase32", format!("{algo}:{}", h.to_nixbase32()), false),
        ];
        for (i, (form, text, needs_algo)) in forms.into_iter().enumerate() {
            let mode = if i % 2 == 0 { "flat" } else { "recursive" };
            let algo_attr = if needs_algo { format!("outputHashAlgo = \"{algo}\";") } else { String::new() };
            out.push_str(&format!(
                "  (mk {{ name = \"fod-{algo}-{form}-{mode}\"; outputHash = \"{text}\"; {algo_attr} outputHashMode = \"{mode}\"; }})\n"
            ));
        }
    }
    out
}

fn expression() -> String {
    EXPR.replace("@SYS@", current_system()).replace("@FODS@", &fods())
}

/// Instantiates the expression; returns the harness and the `.drv` paths.
fn instantiate() -> Option<(NixHarness, Vec<String>)> {
    let h = NixHarness::new()?;
    let scratch = h.scratch();
    std::fs::write(scratch.join("latin1.bin"), LATIN1).unwrap();
    std::fs::write(scratch.join("key.bin"), b"k\xe9y").unwrap();
    std::fs::create_dir_all(scratch.join("src")).unwrap();
    std::fs::write(scratch.join("src/hello.c"), "int main() { return 0; }\n").unwrap();
    let file = scratch.join("drvs.nix");
    std::fs::write(&file, expression()).unwrap();
    let out = h.run_text("nix-instantiate", ["--extra-experimental-features", FEATURES, file.to_str().unwrap()]);
    // `nix-instantiate` prints `<drv>!<output>` when the first output is not `out`.
    let drvs: Vec<String> = out
        .lines()
        .map(|l| l.trim().split('!').next().unwrap_or_default().to_owned())
        .filter(|l| !l.is_empty())
        .collect();
    Some((h, drvs))
}

fn store_of(h: &NixHarness) -> Store {
    Store::new(StoreDir::default(), Some(h.root().to_owned()))
}

fn roots(store: &Store, drvs: &[String]) -> Vec<StorePath> {
    drvs.iter().map(|p| store.parse_user_path(p).unwrap()).collect()
}

#[test]
fn our_parser_writer_and_path_computation_agree_with_nix_instantiate() {
    let Some((h, drvs)) = instantiate() else { return };
    assert!(drvs.len() >= 40, "only {} derivations", drvs.len());
    let store = store_of(&h);
    let closure = DrvClosure::load(&store, &roots(&store, &drvs)).unwrap();
    assert!(closure.len() > drvs.len(), "the closure adds the inputs");
    let computed = closure.compute_paths().unwrap();
    let mut known_outputs = 0;
    for (path, drv) in closure.iter() {
        // Byte-exact round trip of what Nix wrote.
        let bytes = store.read(path).unwrap();
        let parsed = Derivation::parse(&bytes, store.dir()).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(&parsed, drv);
        assert!(drv.to_bytes(store.dir()) == bytes, "{path}: re-serialised bytes differ");

        // The .drv path, recomputed from bytes and references, and from our own bytes.
        let paths = computed.get(path).unwrap();
        assert_eq!(&paths.drv_path, path, "recomputed .drv path");
        let name = provenix_formats::derivation::drv_name(path).unwrap();
        assert_eq!(&drv.compute_drv_path(name, store.dir()).unwrap(), path);

        // Output paths: recomputed == recorded in the file.
        for (output, recorded) in drv.outputs() {
            assert_eq!(paths.outputs.get(output).unwrap().as_ref(), recorded.path(), "{path} output {output}");
            known_outputs += usize::from(recorded.path().is_some());
        }
    }
    assert!(known_outputs > 50, "only {known_outputs} outputs with paths were compared");
}

#[test]
fn recomputed_output_paths_equal_nix_store_query_outputs() {
    let Some((h, drvs)) = instantiate() else { return };
    let store = store_of(&h);
    let closure = DrvClosure::load(&store, &roots(&store, &drvs)).unwrap();
    let computed = closure.compute_paths().unwrap();
    let mut compared = 0;
    for (path, drv) in closure.iter() {
        // Nix 2.8 cannot list outputs whose path is unknown until built.
        if drv.outputs().values().any(|o| o.path().is_none()) {
            continue;
        }
        let logical = store.dir().display(path);
        let nix = h.run_text("nix-store", ["--extra-experimental-features", FEATURES, "-q", "--outputs", &logical]);
        let mut nix: Vec<&str> = nix.lines().collect();
        nix.sort_unstable();
        let mut ours: Vec<String> =
            computed.get(path).unwrap().outputs.values().map(|p| store.dir().display(p.as_ref().unwrap())).collect();
        ours.sort_unstable();
        assert_eq!(ours, nix, "{path}");
        compared += 1;
    }
    assert!(compared >= 40, "compared only {compared} derivations");
}

#[test]
fn show_json_equals_nix_show_derivation_recursive() {
    let Some((h, drvs)) = instantiate() else { return };
    let store = store_of(&h);
    let closure = DrvClosure::load(&store, &roots(&store, &drvs)).unwrap();
    let mut args = vec![
        "--extra-experimental-features".to_owned(),
        format!("nix-command {FEATURES}"),
        "show-derivation".to_owned(),
        "-r".to_owned(),
    ];
    args.extend(drvs.iter().cloned());
    let nix = h.run("nix", &args).stdout;

    // Byte for byte, including Nix 2.8's raw non-UTF-8 bytes.
    let mut ours = Vec::new();
    closure.write_show_json(&mut ours).unwrap();
    let rendered: &[u8] = b"\"caf\xe9 \xff \\u0001\x7f end\"";
    assert!(nix.windows(rendered.len()).any(|w| w == rendered), "Nix 2.8 writes non-UTF-8 bytes raw");
    if ours != nix {
        let at = ours.iter().zip(&nix).position(|(a, b)| a != b).unwrap_or(ours.len().min(nix.len()));
        let from = at.saturating_sub(200);
        panic!(
            "show JSON differs at byte {at}:\nours: {}\nnix:  {}",
            ours.get(from..(at + 200).min(ours.len())).unwrap_or_default().escape_ascii(),
            nix.get(from..(at + 200).min(nix.len())).unwrap_or_default().escape_ascii()
        );
    }

    // The path `provenix drv show -r` takes: rendered while walking, joined after.
    let members = DrvClosure::load_mapped(&store, &roots(&store, &drvs), |path, drv| {
        let mut member = Vec::new();
        render_show_json_member(path, &drv, store.dir(), &mut member);
        member
    })
    .unwrap();
    let mut joined = Vec::new();
    write_show_json_members(members.iter().map(|(_, m)| m.as_slice()), &mut joined).unwrap();
    assert!(joined == nix, "rendering while walking differs from nix show-derivation -r");

    // As JSON values, with non-UTF-8 bytes decoded lossily on both sides.
    let nix_value: serde_json::Value = serde_json::from_str(&String::from_utf8_lossy(&nix)).unwrap();
    let our_value = serde_json::to_value(ShowDerivations::new(closure.iter(), store.dir())).unwrap();
    assert_eq!(our_value, nix_value);
    assert_eq!(nix_value.as_object().unwrap().len(), closure.len());
}

#[test]
fn covers_every_output_kind_and_fixed_output_mode() {
    let Some((h, drvs)) = instantiate() else { return };
    let store = store_of(&h);
    let closure = DrvClosure::load(&store, &roots(&store, &drvs)).unwrap();
    let mut kinds = BTreeMap::new();
    for (_, drv) in closure.iter() {
        for output in drv.outputs().values() {
            let key = match output {
                Output::InputAddressed { .. } => "input-addressed".to_owned(),
                Output::Fixed { method, hash, .. } => format!("fixed {method:?} {}", hash.algo()),
                Output::Floating { .. } => "floating".to_owned(),
                Output::Deferred => "deferred".to_owned(),
                Output::Impure { .. } => "impure".to_owned(),
            };
            *kinds.entry(key).or_insert(0) += 1;
        }
    }
    for algo in HashAlgo::ALL {
        for method in ["Flat", "Recursive"] {
            assert!(kinds.contains_key(&format!("fixed {method} {algo}")), "no {method} {algo} FOD: {kinds:?}");
        }
    }
    for kind in ["input-addressed", "floating", "deferred", "impure"] {
        assert!(kinds.contains_key(kind), "no {kind} output: {kinds:?}");
    }
    let non_utf8 = closure.iter().filter(|(_, d)| {
        d.env().iter().any(|(k, v)| std::str::from_utf8(k).is_err() || std::str::from_utf8(v).is_err())
    });
    assert!(non_utf8.count() >= 3, "non-UTF-8 env keys and values are covered");
    assert!(closure.iter().any(|(_, d)| d.has_structured_attrs() && d.is_fixed_output()));
    assert!(closure.iter().any(|(p, _)| p.name().len() == 211), "a 211-byte .drv name is covered");
}

/// Why the suite has no text-hashed outputs: Nix 2.8 cannot make them.
#[test]
fn nix_2_8_refuses_text_hashed_fixed_outputs() {
    let Some(h) = NixHarness::new() else { return };
    let file = h.scratch().join("text.nix");
    let expr = format!(
        "derivation {{ name = \"t\"; system = \"{}\"; builder = \"/bin/sh\"; outputHashMode = \"text\"; outputHash = \"{}\"; }}",
        current_system(),
        Hash::compute(HashAlgo::Sha256, b"").to_sri()
    );
    std::fs::write(&file, expr).unwrap();
    let out = h.command("nix-instantiate").arg(&file).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid value 'text' for 'outputHashMode'"));
}
