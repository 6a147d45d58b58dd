//! FOD URLs, kinds and flags on `.drv` files written by real Nix 2.8.
//!
//! Mirrors `nix-instantiate` (no building): Nix's own `<nix/fetchurl.nix>`
//! (the `builtin:fetchurl` wrapper stdenv uses for its bootstrap seeds), a
//! plain `derivation` with a `urls` list, derivations shaped like nixpkgs'
//! `fetchgit` and `fetchpatch`, and the same with `__structuredAttrs = true`.
//! Each `.drv` is read back from the throwaway store with
//! `provenix_store::drv::read_derivation`.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use provenix_core::fod::{FodFlags, FodInfo, SourceKind, classify, fod_urls};
use provenix_core::mirrors::MirrorTable;
use provenix_formats::derivation::{Derivation, drv_name};
use provenix_formats::store_path::{ContentAddressMethod, StoreDir};
use provenix_store::Store;
use provenix_store::drv::read_derivation;
use provenix_testkit::{NixHarness, current_system};

/// sha256 of the empty string, nixbase32.
const EMPTY_SHA256: &str = "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73";

/// An attribute set of derivations; `@SYS@` and `@HASH@` are filled in.
const EXPR: &str = r#"
let
  sys = "@SYS@";
  hash = "@HASH@";
  fod = attrs: derivation ({
    system = sys; builder = "/bin/sh"; args = [ "-c" "exit 1" ];
    outputHashAlgo = "sha256"; outputHash = hash;
  } // attrs);
  latin1 = builtins.readFile ./latin1.bin;
in {
  nix-fetchurl = import <nix/fetchurl.nix> {
    url = "mirror://gnu/hello/hello-2.12.tar.gz"; sha256 = hash;
  };
  nix-fetchurl-busybox = import <nix/fetchurl.nix> {
    url = "http://tarballs.nixos.org/stdenv/x86_64-unknown-linux-gnu/82b583ba/busybox";
    sha256 = hash; executable = true;
  };
  nix-fetchurl-unpack = import <nix/fetchurl.nix> {
    url = "https://example.org/unpack.nar.xz"; name = "unpack"; sha256 = hash; unpack = true;
  };
  urls-list = fod {
    name = "lib-1.0.tar.gz";
    urls = [ "https://a.example/lib-1.0.tar.gz" "" "mirror://nosuch/lib-1.0.tar.gz" "https://a.example/lib-1.0.tar.gz" ];
  };
  structured = fod {
    name = "structured";
    __structuredAttrs = true;
    urls = [ "https://b.example/pkg-2.0.zip" "https://c.example/pkg-2.0.zip" ];
    __noChroot = true;
    executable = true;
    postFetch = "unzip -l $out";
  };
  fetchgit-shaped = fod {
    name = "source";
    outputHashMode = "recursive";
    fetcher = ./nix-prefetch-git;
    url = "https://github.com/NixOS/nix.git";
    rev = "9e212e0ca8e1f5d4ca1e3c3a58c34f5c6a6fe3a8";
    leaveDotGit = false;
    fetchSubmodules = true;
    postFetch = "";
  };
  fetchgit-structured = fod {
    name = "source";
    __structuredAttrs = true;
    outputHashMode = "recursive";
    fetcher = ./nix-prefetch-git;
    url = "https://codeberg.org/forgejo/forgejo.git";
    rev = "refs/tags/v1.0";
    fetchSubmodules = false;
  };
  fetchpatch-shaped = fod {
    name = "fix-build.patch";
    urls = [ "https://github.com/o/r/commit/0123abcd.patch" ];
    postFetch = "lsdiff $out | xargs -I{} filterdiff --include={} --clean $out > $TMPDIR/p";
  };
  latin1-url = fod { name = "latin1"; url = "https://a.example/${latin1}.tar.gz"; };
  not-a-fod = derivation { name = "plain"; system = sys; builder = "/bin/sh"; url = "https://a.example/x"; };
}
"#;

/// The derivations of [`EXPR`] by attribute name, with their `.drv` names.
fn instantiate() -> Option<BTreeMap<String, (String, Derivation)>> {
    let h = NixHarness::new()?;
    let scratch = h.scratch();
    std::fs::write(scratch.join("latin1.bin"), b"caf\xe9").unwrap();
    std::fs::write(scratch.join("nix-prefetch-git"), "#!/bin/sh\n").unwrap();
    let file = scratch.join("fods.nix");
    std::fs::write(&file, EXPR.replace("@SYS@", current_system()).replace("@HASH@", EMPTY_SHA256)).unwrap();
    let store = Store::new(StoreDir::default(), Some(h.root().to_owned()));
    let mut out = BTreeMap::new();
    // One `nix-instantiate -A` per attribute, so each `.drv` is known by name.
    let names = [
        "nix-fetchurl",
        "nix-fetchurl-busybox",
        "nix-fetchurl-unpack",
        "urls-list",
        "structured",
        "fetchgit-shaped",
        "fetchgit-structured",
        "fetchpatch-shaped",
        "latin1-url",
        "not-a-fod",
    ];
    for attr in names {
        let drv_path = h.run_text("nix-instantiate", [file.to_str().unwrap(), "-A", attr]);
        let path = store.parse_user_path(&drv_path).unwrap();
        let drv = read_derivation(&store, &path).unwrap_or_else(|e| panic!("{drv_path}: {e}"));
        out.insert(attr.to_owned(), (drv_name(&path).unwrap().to_owned(), drv));
    }
    Some(out)
}

fn info(drvs: &BTreeMap<String, (String, Derivation)>, attr: &str) -> FodInfo {
    let (name, drv) = &drvs[attr];
    FodInfo::from_derivation(name, drv, &MirrorTable::builtin()).unwrap_or_else(|| panic!("{attr} is not a FOD"))
}

#[test]
fn urls_and_kinds_of_derivations_written_by_nix_instantiate() {
    let Some(drvs) = instantiate() else { return };
    let expected: &[(&str, &[&str], SourceKind)] = &[
        ("nix-fetchurl", &["mirror://gnu/hello/hello-2.12.tar.gz"], SourceKind::Tarball),
        (
            "nix-fetchurl-busybox",
            &["http://tarballs.nixos.org/stdenv/x86_64-unknown-linux-gnu/82b583ba/busybox"],
            SourceKind::Bootstrap,
        ),
        ("nix-fetchurl-unpack", &["https://example.org/unpack.nar.xz"], SourceKind::Bootstrap),
        ("urls-list", &["https://a.example/lib-1.0.tar.gz", "mirror://nosuch/lib-1.0.tar.gz"], SourceKind::Tarball),
        ("structured", &["https://b.example/pkg-2.0.zip", "https://c.example/pkg-2.0.zip"], SourceKind::Tarball),
        ("fetchgit-shaped", &["https://github.com/NixOS/nix.git"], SourceKind::Git),
        ("fetchgit-structured", &["https://codeberg.org/forgejo/forgejo.git"], SourceKind::Git),
        ("fetchpatch-shaped", &["https://github.com/o/r/commit/0123abcd.patch"], SourceKind::Patch),
        ("latin1-url", &["https://a.example/caf\u{fffd}.tar.gz"], SourceKind::Tarball),
    ];
    for (attr, urls, kind) in expected {
        let (name, drv) = &drvs[*attr];
        assert!(drv.is_fixed_output(), "{attr}");
        assert_eq!(fod_urls(drv), *urls, "{attr}");
        assert_eq!(classify(name, drv, &fod_urls(drv)), *kind, "{attr}");
    }
    assert!(drvs["structured"].1.has_structured_attrs());
    assert!(drvs["fetchgit-structured"].1.has_structured_attrs());
}

#[test]
fn builtin_fetchurl_seeds_are_flagged_and_mirrors_expanded() {
    let Some(drvs) = instantiate() else { return };
    let hello = info(&drvs, "nix-fetchurl");
    assert_eq!(hello.name, "hello-2.12.tar.gz");
    assert_eq!(hello.method, ContentAddressMethod::Flat);
    assert_eq!(hello.hash.to_sri(), "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
    assert_eq!(hello.flags, FodFlags { builtin_fetchurl: true, ..FodFlags::default() });
    assert_eq!(hello.resolved_urls[0], "https://ftp.gnu.org/pub/gnu/hello/hello-2.12.tar.gz");
    assert!(hello.unknown_mirrors.is_empty());

    let busybox = info(&drvs, "nix-fetchurl-busybox");
    // `executable = true` makes `<nix/fetchurl.nix>` hash the NAR.
    assert_eq!(busybox.method, ContentAddressMethod::Recursive);
    assert_eq!(busybox.flags, FodFlags { builtin_fetchurl: true, executable: true, ..FodFlags::default() });
}

#[test]
fn structured_attrs_and_unknown_mirrors_from_nix_instantiate() {
    let Some(drvs) = instantiate() else { return };
    let structured = info(&drvs, "structured");
    assert_eq!(
        structured.flags,
        FodFlags { no_chroot: true, executable: true, has_post_fetch: true, ..FodFlags::default() }
    );
    let list = info(&drvs, "urls-list");
    assert_eq!(list.unknown_mirrors, ["nosuch"]);
    assert_eq!(list.resolved_urls, ["https://a.example/lib-1.0.tar.gz"]);
    let (name, drv) = &drvs["not-a-fod"];
    assert_eq!(FodInfo::from_derivation(name, drv, &MirrorTable::builtin()), None);
}
