//! narinfo files against real Nix 2.8, in throwaway stores.
//!
//! Mirrors `nix copy --to file://DIR` (which writes narinfo files, `xz` by
//! default or `?compression=none`) and `nix copy --from file://DIR` with
//! `require-sigs` (which reads them and checks their signatures).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};

use provenix_formats::hash::HashAlgo;
use provenix_formats::narinfo::NarInfo;
use provenix_formats::signature::{PublicKey, SecretKey, TrustedKeys};
use provenix_formats::store_path::{ContentAddressMethod, StoreDir};
use provenix_testkit::{NixHarness, copy_into_fresh_store, narinfo_files};

/// A content-addressed path from `nix-store --add`: no references, no deriver, a `CA` field.
fn add_file(h: &NixHarness) -> String {
    let file = h.scratch().join("added.txt");
    std::fs::write(&file, "added by nix-store --add\n").unwrap();
    h.add(&file)
}

fn nix_key(h: &NixHarness, name: &str) -> (PathBuf, PublicKey) {
    let (sec, public) = h.generate_key(name);
    (sec, PublicKey::parse(&std::fs::read_to_string(public).unwrap()).unwrap())
}

fn copy_to_cache(h: &NixHarness, cache: &Path, query: &str, paths: &[&str]) {
    let to = format!("file://{}{query}", cache.display());
    let mut args = vec!["copy", "--to", &to];
    args.extend(paths);
    h.nix(args);
}

#[test]
fn narinfo_files_from_nix_copy_re_render_byte_identical_and_their_signatures_verify() {
    let Some(h) = NixHarness::new() else { return };
    let store = StoreDir::default();
    let (sec, public) = nix_key(&h, "nix-cache-1");
    let top = h.build_two_leaf_closure();
    let added = add_file(&h);
    h.nix([
        "store".as_ref(),
        "sign".as_ref(),
        "-r".as_ref(),
        "-k".as_ref(),
        sec.as_os_str(),
        top.as_ref(),
        added.as_ref(),
    ]);
    let keys: TrustedKeys = [public].into_iter().collect();

    for (query, compression) in [("", "xz"), ("?compression=none", "none")] {
        let cache = h.scratch().join(format!("cache-{compression}"));
        copy_to_cache(&h, &cache, query, &[&top, &added]);
        let files = narinfo_files(&cache);
        assert_eq!(files.len(), 4, "top, two leaves and the added file");
        let (mut with_refs, mut with_deriver, mut with_ca) = (0, 0, 0);
        for file in files {
            let bytes = std::fs::read(&file).unwrap();
            let info = NarInfo::parse(&bytes, &store).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            assert_eq!(info.to_string().as_bytes(), bytes.as_slice(), "{} re-renders byte-identical", file.display());
            assert_eq!(info.compression(), compression);
            assert_eq!(info.nar_hash().algo(), HashAlgo::Sha256);
            assert!(info.url().starts_with("nar/"));
            if compression == "none" {
                assert_eq!(info.file_hash(), Some(info.nar_hash()), "uncompressed: the file is the NAR");
            }
            with_refs += usize::from(!info.references().is_empty());
            with_deriver += usize::from(info.deriver().is_some());
            if let Some(ca) = info.ca() {
                with_ca += 1;
                assert_eq!(ca.method, ContentAddressMethod::Recursive);
                assert_eq!(&ca.hash, info.nar_hash());
                assert!(info.references().is_empty());
            }
            let verified = info.verify_signatures(&store, &keys, 1).unwrap();
            assert_eq!(verified.signers(), ["nix-cache-1"]);
        }
        assert_eq!((with_refs, with_deriver, with_ca), (1, 3, 1));
    }
}

#[test]
fn nix_accepts_our_signature_over_a_normalised_fingerprint_of_an_odd_narinfo() {
    let Some(h) = NixHarness::new() else { return };
    let store = StoreDir::default();
    let ours = SecretKey::from_seed("provenix-odd-1", [0x17; 32]).unwrap();
    let top = h.build_two_leaf_closure();
    let cache = h.scratch().join("cache");
    copy_to_cache(&h, &cache, "", &[&top]);
    for file in narinfo_files(&cache) {
        let bytes = std::fs::read(&file).unwrap();
        let nix_text = String::from_utf8(bytes).unwrap();
        let info = NarInfo::parse(nix_text.as_bytes(), &store).unwrap();
        // NarHash in base16, references reversed and an unknown field: all
        // accepted by Nix, none changing the fingerprint.
        let hex = format!("NarHash: sha256:{}\n", info.nar_hash().to_base16());
        let nix_hash = format!("NarHash: {}\n", info.nar_hash().to_prefixed_nixbase32());
        let mut refs: Vec<String> = info.references().iter().map(ToString::to_string).collect();
        let sorted_refs = format!("References: {}\n", refs.join(" "));
        refs.reverse();
        let odd = nix_text
            .replace(&nix_hash, &hex)
            .replace(&sorted_refs, &format!("References: {}\n", refs.join(" ")))
            .replacen("URL: ", "X-Provenix-Note: kept\nURL: ", 1);
        let mut odd_info = NarInfo::parse(odd.as_bytes(), &store).unwrap();
        assert_eq!(odd_info.fingerprint(&store), info.fingerprint(&store));
        assert_eq!(odd_info.unknown_fields(), [("X-Provenix-Note", "kept")]);
        odd_info.sign(&store, &ours).unwrap();
        let rendered = odd_info.to_string();
        assert!(rendered.contains(&hex), "base16 NarHash kept as written");
        std::fs::write(&file, rendered).unwrap();
    }
    copy_into_fresh_store(&cache, &ours.to_public().to_string(), &top).unwrap();
}

#[test]
fn nix_trusts_content_addressed_paths_without_signatures_but_we_report_none() {
    let Some(h) = NixHarness::new() else { return };
    let store = StoreDir::default();
    let added = add_file(&h);
    let cache = h.scratch().join("cache");
    copy_to_cache(&h, &cache, "", &[&added]);
    let stranger = SecretKey::from_seed("stranger-1", [1; 32]).unwrap().to_public();
    copy_into_fresh_store(&cache, &stranger.to_string(), &added).expect("Nix copies an unsigned CA path");
    let files = narinfo_files(&cache);
    let bytes = std::fs::read(&files[0]).unwrap();
    let info = NarInfo::parse(&bytes, &store).unwrap();
    assert!(info.ca().is_some() && info.signatures().is_empty());
    let keys: TrustedKeys = [stranger].into_iter().collect();
    let rejection = info.verify_signatures(&store, &keys, 1).unwrap_err();
    assert_eq!(rejection.valid, 0);
}

/// Nix 2.8 is laxer than we are; each of these files is accepted by
/// `nix copy --from` and refused by our parser (see the module docs of
/// `narinfo` and `signature`).
#[test]
fn nix_accepts_lax_narinfo_that_we_refuse() {
    let Some(h) = NixHarness::new() else { return };
    let store = StoreDir::default();
    let ours = SecretKey::from_seed("provenix-lax-1", [0x23; 32]).unwrap();
    let top = h.build_two_leaf_closure();
    let cache = h.scratch().join("cache");
    copy_to_cache(&h, &cache, "", &[&top]);
    for file in narinfo_files(&cache) {
        let bytes = std::fs::read(&file).unwrap();
        let mut info = NarInfo::parse(&bytes, &store).unwrap();
        info.sign(&store, &ours).unwrap();
        std::fs::write(&file, info.to_string()).unwrap();
    }
    let top_file = cache.join(format!("{}.narinfo", store.parse_path(&top).unwrap().hash_part()));
    let signed = std::fs::read_to_string(&top_file).unwrap();
    type Edit = fn(&str) -> String;
    let cases: [(&str, Edit, &str); 3] = [
        ("junk after the signature's padding", |t| t.replace("==\n", "==junk!\n"), "invalid Sig"),
        ("no space after the colon", |t| t.replacen("StorePath: ", "StorePath:_", 1), "expected `Key: value`"),
        ("a repeated field", |t| t.replacen("URL: ", "URL: nar/missing.nar.xz\nURL: ", 1), "appears twice"),
    ];
    for (what, edit, our_error) in cases {
        let lax = edit(&signed);
        assert_ne!(lax, signed, "{what}");
        let err = NarInfo::parse(lax.as_bytes(), &store).unwrap_err();
        let chain = format!("{err}: {}", std::error::Error::source(&err).map(ToString::to_string).unwrap_or_default());
        assert!(chain.contains(our_error), "{what}: {chain}");
        std::fs::write(&top_file, &lax).unwrap();
        copy_into_fresh_store(&cache, &ours.to_public().to_string(), &top)
            .unwrap_or_else(|e| panic!("Nix refused {what}: {e}"));
    }
}
