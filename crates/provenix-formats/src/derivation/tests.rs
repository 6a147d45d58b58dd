//! Unit tests for derivations. The vectors below were written by
//! `nix-instantiate` (Nix 2.8.0) in a throwaway store; the conformance suite
//! (`provenix-store/tests/nix_derivation.rs`) regenerates many more live.
#![allow(clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use rstest::rstest;

use super::*;
use crate::hash::{Hash, HashAlgo};
use crate::store_path::{ContentAddressMethod, StoreDir, StorePath};

/// Multi-output, escapes in args and env, latin-1 bytes and DEL in an env value.
const T1: (&str, &[u8]) = (
    "qnkcvg0kmj75awcn4v6nckl0v0bar6cb-t1.drv",
    b"Derive([(\"dev\",\"/nix/store/za3a4sgs7ws2pwz7bl1bxnp1cbqyvxdx-t1-dev\",\"\",\"\"),(\"out\",\"/nix/store/x1vpi935dxizwji8wag6gzpjl025bj7f-t1\",\"\",\"\")],[],[],\"x86_64-linux\",\"/bin/sh\",[\"-c\",\"echo \\\"q\\\" \\\\ x\\n\\t\\r y\"],[(\"b\",\"caf\xe9 \xff end\x01\x7f\"),(\"builder\",\"/bin/sh\"),(\"dev\",\"/nix/store/za3a4sgs7ws2pwz7bl1bxnp1cbqyvxdx-t1-dev\"),(\"name\",\"t1\"),(\"out\",\"/nix/store/x1vpi935dxizwji8wag6gzpjl025bj7f-t1\"),(\"outputs\",\"out dev\"),(\"s\",\"quote\\\" back\\\\ nl\\n tab\\t cr\\r uni \xc3\xa9 \xe2\x98\x83\"),(\"system\",\"x86_64-linux\")])",
);

/// `system = "x\ny\tz"`: Nix writes the platform unescaped, raw LF and TAB.
const PLAT: (&str, &[u8]) = (
    "yqsn3djkpapfgdy3i814rvrnyxr8h90p-plat.drv",
    b"Derive([(\"out\",\"/nix/store/1z64zrf8b84zyk3sc5h08if9na3ln0j4-plat\",\"\",\"\")],[],[],\"x\x0ay\x09z\",\"/bin/sh\",[\"-c\",\"echo > $out\"],[(\"builder\",\"/bin/sh\"),(\"name\",\"plat\"),(\"out\",\"/nix/store/1z64zrf8b84zyk3sc5h08if9na3ln0j4-plat\"),(\"system\",\"x\\ny\\tz\")])",
);

/// Flat sha256 FOD, hash given as SRI (`urls = "a"`).
const F1A: (&str, &[u8]) = (
    "ypjr0rc3v0rzav4myyl8l18wxmnzprhg-f1.drv",
    b"Derive([(\"out\",\"/nix/store/5xqlbhrj4x8kpy7yalz1mh4pnvij3zp6-f1\",\"sha256\",\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\")],[],[],\"x86_64-linux\",\"/bin/sh\",[\"-c\",\"echo > $out\"],[(\"builder\",\"/bin/sh\"),(\"name\",\"f1\"),(\"out\",\"/nix/store/5xqlbhrj4x8kpy7yalz1mh4pnvij3zp6-f1\"),(\"outputHash\",\"sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\"),(\"system\",\"x86_64-linux\"),(\"urls\",\"a\")])",
);

/// The same FOD fetched from elsewhere (`urls = "b"`): another `.drv`, same output.
const F1B: (&str, &[u8]) = (
    "2dhimn7pb7754lld1q3ij9pch9mr9z3n-f1.drv",
    b"Derive([(\"out\",\"/nix/store/5xqlbhrj4x8kpy7yalz1mh4pnvij3zp6-f1\",\"sha256\",\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\")],[],[],\"x86_64-linux\",\"/bin/sh\",[\"-c\",\"echo > $out\"],[(\"builder\",\"/bin/sh\"),(\"name\",\"f1\"),(\"out\",\"/nix/store/5xqlbhrj4x8kpy7yalz1mh4pnvij3zp6-f1\"),(\"outputHash\",\"sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\"),(\"system\",\"x86_64-linux\"),(\"urls\",\"b\")])",
);

/// Depends on both FODs above: their hash modulo is equal, so Nix merges them.
const DIA: (&str, &[u8]) = (
    "wx4lszayrpq4xn95w29gdnf3w6bwj68m-dia.drv",
    b"Derive([(\"out\",\"/nix/store/kbk3q2xq228lsnai368y7sqz59620hhd-dia\",\"\",\"\")],[(\"/nix/store/2dhimn7pb7754lld1q3ij9pch9mr9z3n-f1.drv\",[\"out\"]),(\"/nix/store/ypjr0rc3v0rzav4myyl8l18wxmnzprhg-f1.drv\",[\"out\"])],[],\"x86_64-linux\",\"/bin/sh\",[\"-c\",\"echo > $out\"],[(\"a\",\"/nix/store/5xqlbhrj4x8kpy7yalz1mh4pnvij3zp6-f1\"),(\"b\",\"/nix/store/5xqlbhrj4x8kpy7yalz1mh4pnvij3zp6-f1\"),(\"builder\",\"/bin/sh\"),(\"name\",\"dia\"),(\"out\",\"/nix/store/kbk3q2xq228lsnai368y7sqz59620hhd-dia\"),(\"system\",\"x86_64-linux\")])",
);

/// Structured attrs with two outputs.
const SA: (&str, &[u8]) = (
    "jiv2c9mfn1zzvg20lvfl3mskh0syhcm0-sa.drv",
    b"Derive([(\"lib\",\"/nix/store/49kak2w776kpv2gljqf37g3qk3mhfv8l-sa-lib\",\"\",\"\"),(\"out\",\"/nix/store/j505ihb29q653qsgws49sv04b6f04g1v-sa\",\"\",\"\")],[],[],\"x86_64-linux\",\"/bin/sh\",[\"-c\",\"echo > $out\"],[(\"__json\",\"{\\\"builder\\\":\\\"/bin/sh\\\",\\\"foo\\\":[1,\\\"xu00ff\\\",{\\\"a\\\":null}],\\\"name\\\":\\\"sa\\\",\\\"outputs\\\":[\\\"out\\\",\\\"lib\\\"],\\\"system\\\":\\\"x86_64-linux\\\"}\"),(\"lib\",\"/nix/store/49kak2w776kpv2gljqf37g3qk3mhfv8l-sa-lib\"),(\"out\",\"/nix/store/j505ihb29q653qsgws49sv04b6f04g1v-sa\")])",
);

/// Recursive md5 FOD.
const MD5: (&str, &[u8]) = (
    "nqh42pp7akmnbx5sph0m05vgw6nv1d7k-md5.drv",
    b"Derive([(\"out\",\"/nix/store/7q345plqrynm8p43fhjixpl5r7jmzqdm-md5\",\"r:md5\",\"d41d8cd98f00b204e9800998ecf8427e\")],[],[],\"x86_64-linux\",\"/bin/sh\",[\"-c\",\"echo > $out\"],[(\"builder\",\"/bin/sh\"),(\"name\",\"md5\"),(\"out\",\"/nix/store/7q345plqrynm8p43fhjixpl5r7jmzqdm-md5\"),(\"outputHash\",\"d41d8cd98f00b204e9800998ecf8427e\"),(\"outputHashAlgo\",\"md5\"),(\"outputHashMode\",\"recursive\"),(\"system\",\"x86_64-linux\")])",
);

/// A floating CA derivation (`__contentAddressed = true`, two outputs).
const CA: &[u8] = b"Derive([(\"dev\",\"\",\"r:sha256\",\"\"),(\"out\",\"\",\"r:sha256\",\"\")],[],[],\"x86_64-linux\",\"/bin/sh\",[\"-c\",\"echo > $out\"],[(\"builder\",\"/bin/sh\"),(\"dev\",\"/02qcpld1y6xhs5gz9bchpxaw0xdhmsp5dv88lh25r2ss44kh8dxz\"),(\"name\",\"ca\"),(\"out\",\"/1rz4g4znpzjwh1xymhjpm42vipw92pr73vdgl6xs1hycac8kf2n9\"),(\"outputs\",\"out dev\"),(\"system\",\"x86_64-linux\")])";

/// An impure derivation (`__impure = true`).
const IMPURE: &[u8] = b"Derive([(\"out\",\"\",\"r:sha256\",\"impure\")],[],[],\"x86_64-linux\",\"/bin/sh\",[\"-c\",\"echo > $out\"],[(\"builder\",\"/bin/sh\"),(\"name\",\"imp\"),(\"out\",\"/1rz4g4znpzjwh1xymhjpm42vipw92pr73vdgl6xs1hycac8kf2n9\"),(\"system\",\"x86_64-linux\")])";

/// Depends on output `dev` of [`CA`]: deferred, all output fields empty.
const DEFERRED: &[u8] = b"Derive([(\"doc\",\"\",\"\",\"\"),(\"out\",\"\",\"\",\"\")],[(\"/nix/store/6n5r4vhh8sni8rzf4352zcna1qyisyrh-ca.drv\",[\"dev\"])],[],\"x86_64-linux\",\"/bin/sh\",[\"-c\",\"echo > $out\"],[(\"builder\",\"/bin/sh\"),(\"doc\",\"\"),(\"name\",\"dep\"),(\"out\",\"\"),(\"outputs\",\"out doc\"),(\"system\",\"x86_64-linux\"),(\"x\",\"/01rrar2wds0gdslryc3l1g1j775zijfzmfc0c9ak1qf18yn285x4\")])";

fn dir() -> StoreDir {
    StoreDir::default()
}

fn path(base: &str) -> StorePath {
    StorePath::from_base_name(base).unwrap()
}

fn parse(bytes: &[u8]) -> Derivation {
    Derivation::parse(bytes, &dir()).unwrap_or_else(|e| panic!("{e}"))
}

fn no_inputs<'a>(_: &StorePath) -> Option<(&'a Derivation, HashModulo)> {
    None
}

#[rstest]
#[case::multi_output_with_escapes_and_latin1(T1)]
#[case::raw_newline_in_platform(PLAT)]
#[case::flat_sha256_fod(F1A)]
#[case::structured_attrs(SA)]
#[case::recursive_md5_fod(MD5)]
fn recomputes_drv_path_and_output_paths_of_nix_written_derivations(#[case] (base, bytes): (&str, &[u8])) {
    let drv = parse(bytes);
    assert_eq!(drv.to_bytes(&dir()), bytes);
    let drv_path = path(base);
    let name = drv_name(&drv_path).unwrap();
    assert_eq!(drv.compute_drv_path(name, &dir()).unwrap(), drv_path);
    let computed = drv.compute_output_paths(name, &dir(), no_inputs).unwrap();
    for (output, recorded) in drv.outputs() {
        assert_eq!(computed.get(output).unwrap().as_ref(), recorded.path(), "output {output}");
    }
}

#[test]
fn merges_inputs_whose_hash_modulo_is_equal_like_nix() {
    let (fa, fb, dia) = (parse(F1A.1), parse(F1B.1), parse(DIA.1));
    let (pa, pb) = (path(F1A.0), path(F1B.0));
    let ha = fa.hash_modulo("f1", &dir(), false, no_inputs).unwrap();
    let hb = fb.hash_modulo("f1", &dir(), false, no_inputs).unwrap();
    assert_eq!(ha, hb, "two fetches of the same content hash alike");
    let lookup = |p: &StorePath| {
        if *p == pa {
            Some((&fa, ha))
        } else if *p == pb {
            Some((&fb, hb))
        } else {
            None
        }
    };
    let paths = dia.compute_output_paths("dia", &dir(), lookup).unwrap();
    assert_eq!(paths.get("out").unwrap().as_ref(), dia.outputs().get("out").unwrap().path());
    assert_eq!(dia.compute_drv_path("dia", &dir()).unwrap(), path(DIA.0));
}

#[test]
fn fixed_output_hash_modulo_is_sha256_of_the_fixed_string() {
    let drv = parse(F1A.1);
    let expected = Hash::compute(
        HashAlgo::Sha256,
        b"fixed:out:sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855:/nix/store/5xqlbhrj4x8kpy7yalz1mh4pnvij3zp6-f1",
    );
    let got = drv.hash_modulo("f1", &dir(), false, no_inputs).unwrap();
    assert_eq!(*got.hash(), expected);
    assert!(!got.is_deferred());
}

#[test]
fn classifies_floating_impure_and_deferred_outputs() {
    let ca = parse(CA);
    assert_eq!(ca.kind(), DerivationKind::Floating);
    assert_eq!(
        ca.outputs().get("dev"),
        Some(&Output::Floating { method: ContentAddressMethod::Recursive, algo: HashAlgo::Sha256 })
    );
    assert_eq!(ca.to_bytes(&dir()), CA);
    let impure = parse(IMPURE);
    assert_eq!(impure.kind(), DerivationKind::Impure);
    assert_eq!(impure.to_bytes(&dir()), IMPURE);
    let deferred = parse(DEFERRED);
    assert_eq!(deferred.kind(), DerivationKind::Deferred);
    assert_eq!(deferred.to_bytes(&dir()), DEFERRED);

    let ca_path = path("6n5r4vhh8sni8rzf4352zcna1qyisyrh-ca.drv");
    assert_eq!(ca.compute_drv_path("ca", &dir()).unwrap(), ca_path);
    assert_eq!(deferred.compute_drv_path("dep", &dir()).unwrap(), path("87hm9dnp1jxp3midk2301pkdnfzdc71f-dep.drv"));
    let ca_hash = ca.hash_modulo("ca", &dir(), false, no_inputs).unwrap();
    assert!(ca_hash.is_deferred());
    let lookup = |p: &StorePath| (*p == ca_path).then_some((&ca, ca_hash));
    let paths = deferred.compute_output_paths("dep", &dir(), lookup).unwrap();
    assert!(paths.values().all(Option::is_none), "deferred outputs have no path yet");
    assert!(impure.hash_modulo("imp", &dir(), false, no_inputs).unwrap().is_deferred());
}

#[test]
fn reports_missing_input_derivations() {
    let dia = parse(DIA.1);
    let err = dia.hash_modulo("dia", &dir(), false, no_inputs).unwrap_err();
    assert!(matches!(err, DerivationError::MissingInput { .. }), "{err}");
}

#[test]
fn reports_input_outputs_the_input_lacks() {
    let fa = parse(F1A.1);
    let ha = fa.hash_modulo("f1", &dir(), false, no_inputs).unwrap();
    let dep = parse(DEFERRED);
    let err = dep.hash_modulo("dep", &dir(), false, |_| Some((&fa, ha))).unwrap_err();
    assert!(matches!(err, DerivationError::MissingInputOutput { .. }), "{err}");
}

#[test]
fn gives_bytes_of_env_values_not_text() {
    let drv = parse(T1.1);
    assert_eq!(drv.env_var(b"b").unwrap(), b"caf\xe9 \xff end\x01\x7f");
    assert_eq!(drv.env_var(b"s").unwrap(), "quote\" back\\ nl\n tab\t cr\r uni é ☃".as_bytes());
    assert_eq!(drv.args().get(1).unwrap(), b"echo \"q\" \\ x\n\t\r y");
    assert_eq!(drv.name().unwrap(), b"t1");
    assert_eq!(drv.platform(), b"x86_64-linux");
    assert!(!drv.is_fixed_output());
}

#[test]
fn keeps_the_raw_newline_nix_writes_in_the_platform() {
    let drv = parse(PLAT.1);
    assert_eq!(drv.platform(), b"x\ny\tz");
    assert_eq!(drv.env_var(b"system").unwrap(), b"x\ny\tz");
}

#[test]
fn exposes_fixed_output_and_structured_attrs() {
    let md5 = parse(MD5.1);
    let (method, hash, out) = md5.fixed_output().unwrap();
    assert_eq!(method, ContentAddressMethod::Recursive);
    assert_eq!(*hash, Hash::compute(HashAlgo::Md5, b""));
    assert_eq!(out.name(), "md5");
    assert!(md5.is_fixed_output());
    let sa = parse(SA.1);
    assert!(sa.has_structured_attrs());
    assert!(sa.structured_attrs().unwrap().starts_with(b"{\"builder\":\"/bin/sh\""));
    assert!(!md5.has_structured_attrs());
}

#[test]
fn accepts_text_hashed_outputs_that_later_nix_writes() {
    let text = b"Derive([(\"out\",\"/nix/store/5xqlbhrj4x8kpy7yalz1mh4pnvij3zp6-t\",\"text:sha256\",\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\")],[],[],\"s\",\"b\",[],[])";
    let drv = parse(text);
    assert_eq!(drv.fixed_output().unwrap().0, ContentAddressMethod::Text);
    assert_eq!(drv.to_bytes(&dir()), text);
    let computed = drv.compute_output_paths("t", &dir(), no_inputs).unwrap();
    let expected = dir().make_text_path("t", &Hash::compute(HashAlgo::Sha256, b""), &[]).unwrap();
    assert_eq!(computed.get("out").unwrap().as_ref(), Some(&expected));
}

const OUT: &str = "(\"out\",\"/nix/store/1z64zrf8b84zyk3sc5h08if9na3ln0j4-p\",\"\",\"\")";

fn drv_with(outputs: &str, inputs: &str, srcs: &str, platform: &str, args: &str, env: &str) -> Vec<u8> {
    format!("Derive([{outputs}],[{inputs}],[{srcs}],\"{platform}\",\"/bin/sh\",[{args}],[{env}])").into_bytes()
}

#[rstest]
#[case::escape_a(drv_with(OUT, "", "", "x", "\"\\a\"", ""), "unsupported escape `\\a`")]
#[case::raw_newline_in_arg(drv_with(OUT, "", "", "x", "\"a\nb\"", ""), "unescaped byte 0x0a")]
#[case::backslash_in_platform(drv_with(OUT, "", "", "x\\y", "", ""), "backslash in the platform")]
#[case::space_after_comma(drv_with(OUT, "", "", "x", "\"a\", \"b\"", ""), "found byte 0x20")]
#[case::missing_comma(drv_with(OUT, "", "", "x", "\"a\"\"b\"", ""), "expected `,` or `]`")]
#[case::leading_comma(drv_with(OUT, "", "", "x", ",\"a\"", ""), "expected `\"`")]
#[case::unsorted_env(drv_with(OUT, "", "", "x", "", "(\"b\",\"\"),(\"a\",\"\")"), "env entry `a` is out of order")]
#[case::duplicate_env(drv_with(OUT, "", "", "x", "", "(\"a\",\"1\"),(\"a\",\"2\")"), "env entry `a` appears twice")]
#[case::no_outputs(drv_with("", "", "", "x", "", ""), "at least one output")]
#[case::mixed_outputs(
    drv_with(&format!("(\"a\",\"\",\"\",\"\"),{OUT}"), "", "", "x", "", ""),
    "cannot mix output kinds"
)]
#[case::fod_not_out(
    drv_with(
        "(\"dev\",\"/nix/store/1z64zrf8b84zyk3sc5h08if9na3ln0j4-p\",\"md5\",\"d41d8cd98f00b204e9800998ecf8427e\")",
        "",
        "",
        "x",
        "",
        ""
    ),
    "must be named `out`"
)]
#[case::uppercase_hash(
    drv_with(
        "(\"out\",\"/nix/store/1z64zrf8b84zyk3sc5h08if9na3ln0j4-p\",\"md5\",\"D41D8CD98F00B204E9800998ECF8427E\")",
        "",
        "",
        "x",
        "",
        ""
    ),
    "not lowercase base16"
)]
#[case::nixbase32_hash(
    drv_with(
        "(\"out\",\"/nix/store/1z64zrf8b84zyk3sc5h08if9na3ln0j4-p\",\"sha1\",\"00000000000000000000000000000000\")",
        "",
        "",
        "x",
        "",
        ""
    ),
    "not lowercase base16"
)]
#[case::short_hash(
    drv_with("(\"out\",\"/nix/store/1z64zrf8b84zyk3sc5h08if9na3ln0j4-p\",\"sha1\",\"abc\")", "", "", "x", "", ""),
    "wrong length"
)]
#[case::text_md5(
    drv_with(
        "(\"out\",\"/nix/store/1z64zrf8b84zyk3sc5h08if9na3ln0j4-p\",\"text:md5\",\"d41d8cd98f00b204e9800998ecf8427e\")",
        "",
        "",
        "x",
        "",
        ""
    ),
    "text hashing requires sha256"
)]
#[case::input_not_drv(
    drv_with(OUT, "(\"/nix/store/1z64zrf8b84zyk3sc5h08if9na3ln0j4-p\",[\"out\"])", "", "x", "", ""),
    "is not a `.drv` path"
)]
#[case::unsorted_input_outputs(
    drv_with(OUT, "(\"/nix/store/1z64zrf8b84zyk3sc5h08if9na3ln0j4-p.drv\",[\"out\",\"dev\"])", "", "x", "", ""),
    "input derivation output entry `dev` is out of order"
)]
#[case::other_store_dir(
    drv_with(OUT, "", "\"/gnu/store/1z64zrf8b84zyk3sc5h08if9na3ln0j4-p\"", "x", "", ""),
    "input source"
)]
fn rejects_what_nix_would_never_write(#[case] input: Vec<u8>, #[case] expected: &str) {
    let err = Derivation::parse(&input, &dir()).unwrap_err();
    let text = provenix_testkit::error_chain(&err);
    assert!(text.contains(expected), "`{text}` lacks `{expected}`");
}

#[test]
fn orders_env_keys_by_their_unescaped_bytes_like_nix() {
    // `"` (0x22) sorts before `#` (0x23), although its escape `\"` starts with 0x5c.
    let sorted = drv_with(OUT, "", "", "x", "", "(\"a\\\"\",\"1\"),(\"a#\",\"2\")");
    let drv = parse(&sorted);
    assert_eq!(drv.env().keys().collect::<Vec<_>>(), [b"a\"".as_slice(), b"a#"]);
    assert_eq!(drv.to_bytes(&dir()), sorted);
    let unsorted = drv_with(OUT, "", "", "x", "", "(\"a#\",\"2\"),(\"a\\\"\",\"1\")");
    let err = Derivation::parse(&unsorted, &dir()).unwrap_err();
    assert!(matches!(err, DerivationError::Unsorted { field: "env", .. }), "{err}");
}

#[test]
fn error_offsets_point_at_the_culprit() {
    let input = drv_with(OUT, "", "", "x", "\"\\a\"", "");
    let at = input.windows(2).position(|w| w == b"\\a").unwrap();
    assert_eq!(Derivation::parse(&input, &dir()).unwrap_err(), DerivationError::BadEscape { offset: at, found: b'a' });
}

#[test]
fn rejects_every_truncation_of_a_valid_derivation_without_panicking() {
    for len in 0..T1.1.len() {
        assert!(Derivation::parse(T1.1.get(..len).unwrap(), &dir()).is_err(), "prefix of {len} bytes");
    }
}

#[test]
fn uses_the_store_dir_it_is_given() {
    let other = StoreDir::new("/gnu/store").unwrap();
    let text = String::from_utf8(PLAT.1.to_vec()).unwrap().replace("/nix/store", "/gnu/store");
    let drv = Derivation::parse(text.as_bytes(), &other).unwrap();
    assert_eq!(drv.to_bytes(&other), text.as_bytes());
    assert!(Derivation::parse(PLAT.1, &other).is_err());
}

#[test]
fn new_rejects_parts_that_are_not_a_derivation() {
    let p = path("1z64zrf8b84zyk3sc5h08if9na3ln0j4-p");
    let mut parts = DerivationParts::default();
    assert!(Derivation::new(parts.clone()).is_err(), "no outputs");
    parts.outputs.insert(OutputName::new("out").unwrap(), Output::InputAddressed { path: p });
    parts.platform = BString::from("x\"y");
    assert!(Derivation::new(parts.clone()).is_err(), "quote in platform");
    parts.platform = BString::from("x");
    parts.outputs.insert(OutputName::new("dev").unwrap(), Output::Deferred);
    assert!(Derivation::new(parts.clone()).is_err(), "mixed kinds");
    parts.outputs.remove("dev");
    assert!(Derivation::new(parts).is_ok());
}

#[rstest]
#[case::empty("")]
#[case::drv_suffix_only(".drv")]
#[case::not_drv("x")]
fn drv_name_needs_a_drv_path_with_a_name(#[case] name: &str) {
    let digest = [0u8; 20];
    if let Ok(p) = StorePath::from_digest(&digest, if name.is_empty() { "a" } else { name }) {
        assert_eq!(drv_name(&p), None);
    }
}

#[test]
fn show_json_matches_nix_for_a_derivation_with_a_raw_platform() {
    let drv = parse(PLAT.1);
    let p = path(PLAT.0);
    let mut out = Vec::new();
    write_show_json([(&p, &drv)], &dir(), &mut out).unwrap();
    // Printed by `nix show-derivation` (Nix 2.8.0) for this derivation.
    let nix = r#"{
  "/nix/store/yqsn3djkpapfgdy3i814rvrnyxr8h90p-plat.drv": {
    "outputs": {
      "out": {
        "path": "/nix/store/1z64zrf8b84zyk3sc5h08if9na3ln0j4-plat"
      }
    },
    "inputSrcs": [],
    "inputDrvs": {},
    "system": "x\ny\tz",
    "builder": "/bin/sh",
    "args": [
      "-c",
      "echo > $out"
    ],
    "env": {
      "builder": "/bin/sh",
      "name": "plat",
      "out": "/nix/store/1z64zrf8b84zyk3sc5h08if9na3ln0j4-plat",
      "system": "x\ny\tz"
    }
  }
}
"#;
    assert_eq!(String::from_utf8(out).unwrap(), nix);
}

#[test]
fn show_json_copies_non_utf8_bytes_raw_and_escapes_controls_like_nix() {
    let drv = parse(T1.1);
    let p = path(T1.0);
    let mut out = Vec::new();
    write_show_json([(&p, &drv)], &dir(), &mut out).unwrap();
    let needle: &[u8] = b"\"b\": \"caf\xe9 \xff end\\u0001\x7f\",";
    assert!(out.windows(needle.len()).any(|w| w == needle), "{}", out.escape_ascii());
}

#[test]
fn show_json_members_joined_give_the_bytes_of_write_show_json() {
    let drvs = [(path(PLAT.0), parse(PLAT.1)), (path(T1.0), parse(T1.1))];
    for n in 0..=drvs.len() {
        let some = drvs.get(..n).unwrap();
        let mut whole = Vec::new();
        write_show_json(some.iter().map(|(p, d)| (p, d)), &dir(), &mut whole).unwrap();
        let members: Vec<Vec<u8>> = some
            .iter()
            .map(|(p, d)| {
                let mut member = Vec::new();
                render_show_json_member(p, d, &dir(), &mut member);
                member
            })
            .collect();
        let mut joined = Vec::new();
        write_show_json_members(members.iter().map(Vec::as_slice), &mut joined).unwrap();
        assert_eq!(joined.escape_ascii().to_string(), whole.escape_ascii().to_string(), "{n} derivations");
    }
}

#[test]
fn show_json_of_nothing_is_an_empty_object() {
    let mut out = Vec::new();
    write_show_json(std::iter::empty(), &dir(), &mut out).unwrap();
    assert_eq!(out, b"{}\n");
}

#[test]
fn replays_fuzz_seeds() {
    let seeds = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/derivation");
    let mut count = 0;
    for entry in std::fs::read_dir(&seeds).unwrap() {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        crate::fuzz_checks::derivation::derivation(&data);
        count += 1;
    }
    assert!(count > 0, "no seeds in {}", seeds.display());
}

// ---- proptest: random derivations round-trip ----

fn arb_store_path(suffix: &'static str) -> impl Strategy<Value = StorePath> {
    (any::<[u8; 20]>(), "[a-zA-Z0-9+_?=-][a-zA-Z0-9+._?=-]{0,15}")
        .prop_map(move |(digest, name)| StorePath::from_digest(&digest, &format!("{name}{suffix}")).unwrap())
}

fn arb_output_name() -> impl Strategy<Value = OutputName> + Clone {
    "[a-zA-Z0-9+._?=-]{1,8}".prop_map(|n| OutputName::new(&n).unwrap())
}

fn arb_bytes() -> impl Strategy<Value = BString> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..24),
        proptest::collection::vec(prop_oneof![Just(b'"'), Just(b'\\'), Just(b'\n'), Just(b'\r'), Just(b'\t')], 0..6),
        "\\PC{0,12}".prop_map(String::into_bytes),
    ]
    .prop_map(BString::new)
}

fn arb_method() -> impl Strategy<Value = ContentAddressMethod> {
    prop_oneof![
        Just(ContentAddressMethod::Flat),
        Just(ContentAddressMethod::Recursive),
        Just(ContentAddressMethod::Text)
    ]
}

fn arb_method_algo() -> impl Strategy<Value = (ContentAddressMethod, HashAlgo)> {
    (arb_method(), proptest::sample::select(HashAlgo::ALL.to_vec()))
        .prop_map(|(m, a)| if m == ContentAddressMethod::Text { (m, HashAlgo::Sha256) } else { (m, a) })
}

fn arb_outputs() -> impl Strategy<Value = BTreeMap<OutputName, Output>> {
    let names = proptest::collection::btree_set(arb_output_name(), 1..4);
    prop_oneof![
        (names.clone(), proptest::collection::vec(arb_store_path(""), 4)).prop_map(|(names, paths)| names
            .into_iter()
            .zip(paths)
            .map(|(n, path)| (n, Output::InputAddressed { path }))
            .collect()),
        (arb_method_algo(), proptest::collection::vec(any::<u8>(), 64), arb_store_path("")).prop_map(
            |((method, algo), digest, path)| {
                let hash = Hash::from_digest(algo, digest.get(..algo.digest_len()).unwrap()).unwrap();
                BTreeMap::from([(OutputName::new("out").unwrap(), Output::Fixed { method, hash, path })])
            }
        ),
        (names.clone(), arb_method_algo()).prop_map(|(names, (method, algo))| names
            .into_iter()
            .map(|n| (n, Output::Floating { method, algo }))
            .collect()),
        names.clone().prop_map(|names| names.into_iter().map(|n| (n, Output::Deferred)).collect()),
        (names, arb_method_algo()).prop_map(|(names, (method, algo))| names
            .into_iter()
            .map(|n| (n, Output::Impure { method, algo }))
            .collect()),
    ]
}

fn arb_derivation() -> impl Strategy<Value = Derivation> {
    (
        arb_outputs(),
        proptest::collection::btree_map(
            arb_store_path(".drv"),
            proptest::collection::btree_set(arb_output_name(), 0..3),
            0..4,
        ),
        proptest::collection::btree_set(arb_store_path(""), 0..4),
        proptest::collection::vec(any::<u8>().prop_filter("unescapable", |b| *b != b'"' && *b != b'\\'), 0..16),
        arb_bytes(),
        proptest::collection::vec(arb_bytes(), 0..4),
        proptest::collection::btree_map(arb_bytes(), arb_bytes(), 0..6),
    )
        .prop_map(|(outputs, input_drvs, input_srcs, platform, builder, args, env)| {
            let parts = DerivationParts {
                outputs: outputs.into_iter().collect(),
                input_drvs: input_drvs.into_iter().map(|(p, outs)| (p, outs.into_iter().collect())).collect(),
                input_srcs: input_srcs.into_iter().collect(),
                platform: BString::new(platform),
                builder,
                args,
                env: env.into_iter().collect(),
            };
            Derivation::new(parts).unwrap()
        })
}

proptest! {
    #[test]
    fn random_derivations_round_trip_through_their_bytes(drv in arb_derivation()) {
        let bytes = drv.to_bytes(&dir());
        let parsed = Derivation::parse(&bytes, &dir()).unwrap_or_else(|e| panic!("{e}: {}", bytes.escape_ascii()));
        prop_assert_eq!(&parsed, &drv);
        prop_assert_eq!(parsed.to_bytes(&dir()), bytes);
    }

    #[test]
    fn random_bytes_never_panic_the_parser(data in proptest::collection::vec(any::<u8>(), 0..256)) {
        crate::fuzz_checks::derivation::derivation(&data);
    }

    #[test]
    fn mutated_derivations_never_panic_and_round_trip_when_accepted(
        drv in arb_derivation(), at in any::<prop::sample::Index>(), byte in any::<u8>()
    ) {
        let mut bytes = drv.to_bytes(&dir());
        let i = at.index(bytes.len());
        bytes[i] = byte;
        crate::fuzz_checks::derivation::derivation(&bytes);
    }
}

#[test]
fn sorted_map_keeps_keys_unique_and_in_order() {
    let mut map: SortedMap<BString, u32> =
        [(BString::from("b"), 1), (BString::from("a"), 2), (BString::from("b"), 3)].into_iter().collect();
    assert_eq!(map.len(), 2);
    assert_eq!(map.get(b"b".as_slice()), Some(&3), "the last duplicate wins, as in a BTreeMap");
    assert_eq!(map.insert(BString::from("0"), 4), None);
    assert_eq!(map.insert(BString::from("a"), 5), Some(2));
    let keys: Vec<String> = map.keys().map(ToString::to_string).collect();
    assert_eq!(keys, ["0", "a", "b"]);
    assert_eq!(map.remove(b"a".as_slice()), Some(5));
    assert!(!map.contains_key(b"a".as_slice()));
    let mut set: SortedSet<u8> = [3, 1, 3, 2].into_iter().collect();
    assert_eq!(set.as_slice(), [1, 2, 3]);
    assert!(!set.insert(2));
    assert!(set.insert(0));
    assert!(set.remove(&1));
    assert_eq!(set.as_slice(), [0, 2, 3]);
}

#[test]
fn sets_and_maps_in_parts_keep_nix_order() {
    // Output names sort by bytes: `dev` < `out`; store paths by base name.
    let names: BTreeSet<OutputName> = ["out", "dev", "Z"].iter().map(|n| OutputName::new(n).unwrap()).collect();
    let order: Vec<&str> = names.iter().map(OutputName::as_str).collect();
    assert_eq!(order, ["Z", "dev", "out"]);
}
