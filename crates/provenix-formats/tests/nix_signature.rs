//! Keys and signatures against real Nix 2.8, in throwaway stores.
//!
//! Mirrors `nix-store --generate-binary-cache-key`, `nix store sign`,
//! `nix store verify`, `nix path-info --json --sigs`, and `nix copy` from a
//! `file://` binary cache with `require-sigs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};

use provenix_formats::hash::Hash;
use provenix_formats::narinfo::{self, NarInfo};
use provenix_formats::signature::{PublicKey, SecretKey, Signature, SignatureStatus, TrustedKeys};
use provenix_formats::store_path::{StoreDir, StorePath};
use provenix_testkit::{NixHarness, copy_into_fresh_store, copy_tree, narinfo_files};

fn nix_key(h: &NixHarness, name: &str) -> (PathBuf, PathBuf) {
    let (sec, public) = h.generate_key(name);
    (sec, public)
}

fn write_key_files(h: &NixHarness, key: &SecretKey) -> (PathBuf, PathBuf) {
    let dir = h.scratch();
    let (sec, public) = (dir.join(format!("{}.sec", key.name())), dir.join(format!("{}.pub", key.name())));
    std::fs::write(&sec, key.to_string()).unwrap();
    std::fs::write(&public, key.to_public().to_string()).unwrap();
    (sec, public)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

/// `nix store verify --trusted-public-keys KEYS --sigs-needed 1 PATH`; true if Nix trusts the path.
fn nix_verifies(h: &NixHarness, trusted: &str, path: &str) -> bool {
    let out = h.try_nix(["store", "verify", "--trusted-public-keys", trusted, "--sigs-needed", "1", path]);
    out.status.success()
}

struct PathInfo {
    path: StorePath,
    fingerprint: String,
    signatures: Vec<Signature>,
}

/// `nix path-info --json --sigs -r PATH`, with our fingerprint of each entry.
fn path_infos(h: &NixHarness, path: &str) -> Vec<PathInfo> {
    let store = StoreDir::default();
    let out = h.nix(["path-info", "--json", "--sigs", "-r", path]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    json.as_array()
        .unwrap()
        .iter()
        .map(|info| {
            let path = store.parse_path(info["path"].as_str().unwrap()).unwrap();
            // path-info gives the NAR hash in SRI form; the fingerprint needs nixbase32.
            let nar_hash = Hash::parse(info["narHash"].as_str().unwrap(), None).unwrap();
            let refs: Vec<StorePath> = info["references"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| store.parse_path(r.as_str().unwrap()).unwrap())
                .collect();
            let fingerprint = narinfo::fingerprint(&store, &path, &nar_hash, info["narSize"].as_u64().unwrap(), &refs);
            let signatures = info
                .get("signatures")
                .and_then(|s| s.as_array())
                .map(|sigs| sigs.iter().map(|s| Signature::parse(s.as_str().unwrap()).unwrap()).collect())
                .unwrap_or_default();
            PathInfo { path, fingerprint, signatures }
        })
        .collect()
}

#[test]
fn keys_from_generate_binary_cache_key_parse_and_our_public_half_equals_nixs() {
    let Some(h) = NixHarness::new() else { return };
    for name in ["cache.example.org-1", "k", "provenix-test-2"] {
        let (sec, public) = nix_key(&h, name);
        let (sec_text, pub_text) = (read(&sec), read(&public));
        let secret = SecretKey::parse(&sec_text).unwrap();
        assert_eq!(secret.name(), name);
        assert_eq!(secret.to_string(), sec_text, "secret key re-renders byte-identical");
        assert_eq!(secret.to_public().to_string(), pub_text, "our to_public() equals Nix's public key file");
        assert_eq!(PublicKey::parse(&pub_text).unwrap(), secret.to_public());
    }
}

#[test]
fn keys_we_make_from_a_seed_sign_paths_that_nix_store_verify_accepts() {
    let Some(h) = NixHarness::new() else { return };
    let ours = SecretKey::from_seed("provenix-test-1", *b"0123456789abcdef0123456789abcdef").unwrap();
    let (sec, public) = write_key_files(&h, &ours);
    let top = h.build_two_leaf_closure();
    let trusted = read(&public);
    assert!(!nix_verifies(&h, &trusted, &top), "a locally built path has no signature yet");

    h.nix(["store".as_ref(), "sign".as_ref(), "--key-file".as_ref(), sec.as_os_str(), top.as_ref()]);
    assert!(nix_verifies(&h, &trusted, &top), "nix store verify accepts the signature made with our key");

    let impostor = SecretKey::from_seed("provenix-test-1", [0x55; 32]).unwrap();
    assert!(!nix_verifies(&h, &impostor.to_public().to_string(), &top), "same name, other key: refused");

    // ed25519 is deterministic: Nix's signature with our key is the one we make over our fingerprint.
    let info = path_infos(&h, &top).into_iter().find(|i| StoreDir::default().display(&i.path) == top).unwrap();
    assert_eq!(info.signatures, [ours.sign(info.fingerprint.as_bytes())]);
}

#[test]
fn signatures_from_nix_store_sign_verify_over_our_fingerprint_of_path_info() {
    let Some(h) = NixHarness::new() else { return };
    let (sec, public) = nix_key(&h, "nix-signer-1");
    let top = h.build_two_leaf_closure();
    h.nix(["store".as_ref(), "sign".as_ref(), "-r".as_ref(), "-k".as_ref(), sec.as_os_str(), top.as_ref()]);
    let keys = TrustedKeys::parse_list(&read(&public)).unwrap();
    let infos = path_infos(&h, &top);
    assert_eq!(infos.len(), 3);
    for info in &infos {
        assert_eq!(info.signatures.len(), 1, "{:?}", info.path);
        let verified = keys.verify(&info.path, info.fingerprint.as_bytes(), &info.signatures, 1).unwrap();
        assert_eq!(verified.signers(), ["nix-signer-1"]);
        // The same signature over a fingerprint with one byte changed is refused.
        let altered = info.fingerprint.replacen("1;", "2;", 1);
        assert_ne!(altered, info.fingerprint);
        let err = keys.verify((), altered.as_bytes(), &info.signatures, 1).unwrap_err();
        assert_eq!(err.findings[0].status, SignatureStatus::Invalid);
    }
}

/// Rewrites each narinfo of `cache` through `edit(file name, parsed narinfo) -> new text`.
fn rewrite_narinfos(cache: &Path, mut edit: impl FnMut(&str, NarInfo<'_>) -> String) {
    for file in narinfo_files(cache) {
        let bytes = std::fs::read(&file).unwrap();
        let info = NarInfo::parse(&bytes, &StoreDir::default()).unwrap();
        let text = edit(file.file_name().unwrap().to_str().unwrap(), info);
        std::fs::write(&file, text).unwrap();
    }
}

#[test]
fn signatures_we_put_in_a_binary_cache_are_accepted_by_nix_copy_and_tampered_ones_refused_by_both() {
    let Some(h) = NixHarness::new() else { return };
    let store = StoreDir::default();
    let ours = SecretKey::from_seed("provenix-cache-1", [0x42; 32]).unwrap();
    let our_pub = ours.to_public().to_string();
    let top = h.build_two_leaf_closure();
    let top_file = format!("{}.narinfo", store.parse_path(&top).unwrap().hash_part());
    let cache = h.scratch().join("cache");
    h.nix(["copy", "--to", &format!("file://{}", cache.display()), &top]);

    // Unsigned: Nix refuses the input-addressed paths.
    let err = copy_into_fresh_store(&cache, &our_pub, &top).err().expect("unsigned paths are refused");
    assert!(err.contains("lacks a valid signature"), "{err}");

    rewrite_narinfos(&cache, |_, mut info| {
        assert!(info.signatures().is_empty());
        info.sign(&store, &ours).unwrap();
        info.to_string()
    });
    let fresh = copy_into_fresh_store(&cache, &our_pub, &top).expect("Nix accepts our signatures");
    let out = fresh.nix(["path-info", "--json", "--sigs", &top]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let sig = Signature::parse(json[0]["signatures"][0].as_str().unwrap()).unwrap();
    assert_eq!(sig.key_name(), "provenix-cache-1", "the copied path carries our signature");

    let impostor = SecretKey::from_seed("provenix-cache-1", [0x43; 32]).unwrap();
    let stranger = SecretKey::from_seed("stranger-1", [0x44; 32]).unwrap();
    type Tamper = Box<dyn Fn(&Signature, &str) -> Signature>;
    let cases: Vec<(&str, Tamper, SignatureStatus)> = vec![
        (
            "flipped byte",
            Box::new(|s: &Signature, _: &str| {
                let mut bytes = *s.bytes();
                bytes[17] ^= 0x01;
                Signature::new(s.key_name(), bytes).unwrap()
            }),
            SignatureStatus::Invalid,
        ),
        (
            "wrong key name",
            Box::new(|s: &Signature, _: &str| Signature::new("someone-else-1", *s.bytes()).unwrap()),
            SignatureStatus::UntrustedKey,
        ),
        ("wrong key", Box::new(move |_: &Signature, fp: &str| impostor.sign(fp.as_bytes())), SignatureStatus::Invalid),
        (
            "untrusted key",
            Box::new(move |_: &Signature, fp: &str| stranger.sign(fp.as_bytes())),
            SignatureStatus::UntrustedKey,
        ),
    ];
    let keys = TrustedKeys::parse_list(&our_pub).unwrap();
    for (what, tamper, status) in cases {
        let tampered = h.scratch().join(format!("cache-{}", what.replace(' ', "-")));
        copy_tree(&cache, &tampered);
        rewrite_narinfos(&tampered, |file, info| {
            if file != top_file {
                return info.to_string();
            }
            let fingerprint = info.fingerprint(&store);
            let bad = tamper(&info.signatures()[0], &fingerprint);
            let text = info.to_string();
            let good_line = format!("Sig: {}\n", info.signatures()[0]);
            let text = text.replace(&good_line, &format!("Sig: {bad}\n"));
            // We refuse it ...
            let reparsed = NarInfo::parse(text.as_bytes(), &store).unwrap();
            let rejection = reparsed.verify_signatures(&store, &keys, 1).unwrap_err();
            assert_eq!(rejection.findings[0].status, status, "{what}");
            text
        });
        // ... and so does Nix.
        let err = copy_into_fresh_store(&tampered, &our_pub, &top).err().unwrap_or_else(|| panic!("{what} accepted"));
        assert!(err.contains("lacks a valid signature"), "{what}: {err}");
    }
}
