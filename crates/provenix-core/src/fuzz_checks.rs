//! Fuzz target bodies for the untrusted input core reads (feature
//! `fuzzing`): a user's mirror file, a FOD's environment, whose
//! `__json` (structured attrs) comes from whoever wrote the `.drv`, and the
//! in-toto statement inside an attestation, and vulnerability data (NVD 2.0,
//! CVE 5, OSV; also as `.zip` and `.json.gz` files), the CycloneDX SBOM `vulns --sbom`
//! reads, review records and review policies, and a log server's entry bundles. Each body
//! must not panic; `fuzz/` drives them and `cargo test` replays the seeds.

#![allow(clippy::panic)] // a fuzz body reports a broken invariant by panicking, for the fuzzer to see

use std::collections::HashSet;

use provenix_formats::derivation::{BString, Derivation, DerivationParts, Output, OutputName};
use provenix_formats::hash::{Hash, HashAlgo};
use provenix_formats::store_path::{ContentAddressMethod, StorePath};

use crate::attest::Statement;
use crate::fod::FodInfo;
use crate::identity::{IdentityTable, MetaTable};
use crate::mirrors::{MirrorTable, Resolved};
use crate::vulndb::filter::passes;
use crate::vulndb::parse::{Kind, parse_file};
use crate::vulndb::rules::{Prepared, Present, RuleSet};
use crate::vulndb::{Advisory, CpeId, Package, RepoRef, Target};
use crate::vulns::Whitelist;

/// A mirror file: parses, and every site it defines resolves to its URLs.
pub fn mirrors(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(table) = MirrorTable::parse(text) else { return };
    for name in table.names() {
        let url = format!("mirror://{name}/dir/file.tar.gz");
        match table.resolve(&url) {
            Resolved::Mirrored { urls, .. } => assert!(!urls.is_empty(), "{name} resolves to nothing"),
            other => panic!("{name} is in the table but resolves to {other:?}"),
        }
    }
}

/// A fixed-output derivation whose environment is `data`: the first line is
/// the `urls` value and the rest the `__json` document, so both the plain
/// and the structured-attrs paths see hostile bytes.
pub fn fod_env(data: &[u8]) {
    let (urls, json) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (data.get(..i).unwrap_or_default(), data.get(i + 1..).unwrap_or_default()),
        None => (data, &[][..]),
    };
    let (Some(out), Ok(path)) =
        (OutputName::new("out"), StorePath::from_base_name("0123456789abcdfghijklmnpqrsvwxyz-fuzz"))
    else {
        return;
    };
    let output = Output::Fixed { method: ContentAddressMethod::Flat, hash: Hash::compute(HashAlgo::Sha256, b""), path };
    let mut env = vec![(BString::new(b"urls".to_vec()), BString::new(urls.to_vec()))];
    if !json.is_empty() {
        env.push((BString::new(b"__json".to_vec()), BString::new(json.to_vec())));
    }
    let parts = DerivationParts {
        outputs: [(out, output)].into_iter().collect(),
        platform: BString::new(b"x86_64-linux".to_vec()),
        builder: BString::new(b"builtin:fetchurl".to_vec()),
        env: env.into_iter().collect(),
        ..DerivationParts::default()
    };
    let Ok(drv) = Derivation::new(parts) else { return };
    let Some(info) = FodInfo::from_derivation("fuzz", &drv, &MirrorTable::builtin()) else {
        panic!("a fixed-output derivation is not described as a source");
    };
    assert!(info.urls.iter().all(|u| !u.is_empty()), "empty URL kept");
}

/// An in-toto statement payload: whatever parses (and so validates)
/// renders to JSON that parses to the same statement, and renders the same
/// again (unknown fields and `null`s are gone after the first rendering).
pub fn statement(data: &[u8]) {
    let Ok(statement) = Statement::parse(data) else { return };
    let json = statement.to_json();
    let again = match Statement::parse(&json) {
        Ok(again) => again,
        Err(e) => panic!("a rendered statement does not parse: {e}"),
    };
    assert!(again == statement, "parse -> render -> parse changed the statement");
    assert!(again.to_json() == json, "rendering is not canonical");
    if let Ok(provenance) = statement.provenance_predicate() {
        let rebuilt = Statement::provenance(statement.subject.clone(), &provenance);
        assert!(rebuilt.provenance_predicate().ok() == Some(provenance), "provenance does not round-trip");
    }
}

/// An NVD 2.0 page or `cve` object (see [`vulndb_file`]).
pub fn nvd(data: &[u8]) {
    vulndb_file(data, Kind::Nvd);
}

/// A CVE 5 record or array of records (see [`vulndb_file`]).
pub fn cve5(data: &[u8]) {
    vulndb_file(data, Kind::Cve5);
}

/// An OSV record or array of records (see [`vulndb_file`]).
pub fn osv(data: &[u8]) {
    vulndb_file(data, Kind::Osv);
}

/// A vulnerability data file of `kind`: whatever parses keeps its rules
/// and advisory through the index's JSON encoding, and the rules evaluate
/// without panicking against components named by each of the record's
/// index keys, at a few versions and with a present platform.
fn vulndb_file(data: &[u8], kind: Kind) {
    let Ok(outcome) = parse_file("fuzz.json", data, Some(kind)) else { return };
    let present: HashSet<(String, String)> = [("GNU".to_owned(), "Bash".to_owned())].into_iter().collect();
    let present = Present::new(&present);
    for record in &outcome.records {
        let Ok(json) = serde_json::to_string(&record.rules) else { panic!("rules do not encode") };
        match serde_json::from_str::<RuleSet>(&json) {
            Ok(again) => assert!(again == record.rules, "rules changed through the index encoding"),
            Err(e) => panic!("encoded rules do not decode: {e}"),
        }
        let Ok(json) = serde_json::to_string(&record.advisory) else { panic!("advisory does not encode") };
        match serde_json::from_str::<Advisory>(&json) {
            Ok(again) => assert!(again == record.advisory, "advisory changed through the index encoding"),
            Err(e) => panic!("encoded advisory does not decode: {e}"),
        }
        let keys = record.rules.keys();
        for (key, vendor, _) in &keys {
            for version in [None, Some("0"), Some("1.0"), Some("5.6.1-rc1")] {
                let mut target = Target { version: version.map(str::to_owned), ..Target::default() };
                if let Some(product) = key.strip_prefix("c:") {
                    target.cpes.push(CpeId { vendor: vendor.clone(), product: product.to_owned() });
                } else if let Some((ecosystem, name)) = key.strip_prefix("p:").and_then(|k| k.split_once('\n')) {
                    target.packages.push(Package {
                        ecosystem: ecosystem.to_owned(),
                        name: name.to_owned(),
                        version: None,
                    });
                } else if let Some(url) = key.strip_prefix("g:") {
                    let tag = version.map(|v| format!("v{v}"));
                    let rev = Some("0123456789abcdef0123456789abcdef01234567".to_owned());
                    target.repos.push(RepoRef { url: url.to_owned(), tag, rev });
                }
                let prepared = Prepared::new(&target);
                let looked_up = prepared.keys();
                assert!(looked_up.contains(key), "a target named by {key:?} is not looked up by it");
                if let Some(((rule, _), _)) = record.rules.evaluate(&prepared, &present) {
                    assert!(!rule.to_string().is_empty(), "a rule without description");
                    // The version filters are supersets: a hit passes the filter of a key row it is looked up by.
                    let admitted = keys.iter().any(|(k, v, f)| {
                        looked_up.contains(k) && prepared.wants(k, v) && passes(f, prepared.version())
                    });
                    assert!(admitted, "{rule} hit at {version:?} but no key row's filter admits it: {keys:?}");
                }
            }
        }
    }
}

/// A user's identity table: whatever parses has only well-formed entries
/// (CPE vendor and product non-empty and without `:`, repositories http(s)).
pub fn identity_table(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(table) = IdentityTable::parse(text, std::path::Path::new("fuzz.toml")) else { return };
    for (pname, entry) in table.iter() {
        assert!(table.get(pname) == Some(entry), "{pname} is listed but not found");
        for id in &entry.cpe {
            assert!(!id.vendor.is_empty() && !id.product.is_empty() && !id.product.contains(':'), "{id:?}");
        }
        if let Some(repo) = &entry.repo {
            assert!(repo.starts_with("http://") || repo.starts_with("https://"), "{repo}");
        }
    }
}

/// A `--meta` file: parses or errors, and every CPE kept names a vendor and product.
pub fn meta(data: &[u8]) {
    let Ok(table) = MetaTable::parse(data, std::path::Path::new("fuzz.json")) else { return };
    assert!(!table.is_empty(), "a table without packages parsed");
}

/// A whitelist: every entry that parses has an id, a reason and a valid date.
pub fn whitelist(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(list) = Whitelist::parse(text, std::path::Path::new("fuzz.toml")) else { return };
    for e in &list.entries {
        assert!(!e.id.trim().is_empty() && !e.reason.trim().is_empty(), "{e:?}");
        if let Some(d) = e.until {
            assert!((1..=12).contains(&d.month) && (1..=31).contains(&d.day), "{d}");
            assert!(crate::vulns::Date::parse(&d.to_string()) == Some(d), "{d} does not round-trip");
        }
        assert!(e.version.is_none() || e.pname.is_some(), "{e:?}");
    }
}

/// A compressed vulnerability data file, as `vulns --vuln-db` reads it: the same bytes as a
/// `.zip` archive and as a `.json.gz` stream either index or fail with an error, never a panic,
/// and never expand past their limit (the reader stops there).
pub fn vulndb_packed(data: &[u8]) {
    for name in ["feed.zip", "feed.json.gz"] {
        let Ok(dir) = tempfile::tempdir() else { return };
        if std::fs::write(dir.path().join(name), data).is_err() {
            return;
        }
        let index = dir.path().join("index").join("i.sqlite");
        if let Ok((_, stats)) = crate::vulndb::VulnDb::open(dir.path(), &index, &crate::verify::NoProgress) {
            assert!(stats.files == 1, "{name}: {stats:?}");
            assert!(stats.skipped_files.iter().all(|f| f.starts_with("feed.zip/")), "{name}: {stats:?}");
        }
    }
}

/// A release archive for `equiv` (tar, compressed tar, zip or NAR, told by magic): reading it
/// never panics, stays within the limits, and a tree it accepts has only safe paths.
pub fn equiv_archive(data: &[u8]) {
    use crate::review::equiv::{Limits, Node, archive::read_bytes};
    let limits = Limits { max_entries: 10_000, max_bytes: 64 << 20, ..Limits::default() };
    let Ok(tree) = read_bytes(std::path::Path::new("fuzz.tar"), data, &limits) else { return };
    assert!(tree.bytes <= limits.max_bytes);
    for (path, node) in &tree.entries {
        assert!(!path.is_empty() && !path.starts_with('/'), "{path:?}");
        assert!(path.split('/').all(|c| !c.is_empty() && c != "." && c != ".."), "{path:?}");
        if let Node::Symlink { target } = node {
            assert!(!target.starts_with('/'), "{path} -> {target}");
        }
    }
}

/// A CycloneDX SBOM given to `vulns --sbom`: parses or errors without panicking, and what
/// parses keeps its limits and only well-formed identities; why-chains end at their component.
pub fn sbom_input(data: &[u8]) {
    use crate::vulns::sbom_input;
    let Ok(sbom) = sbom_input::parse(data, std::path::Path::new("fuzz.cdx.json")) else { return };
    assert!(sbom.components.len() <= sbom.total && sbom.total <= sbom_input::MAX_COMPONENTS);
    for c in &sbom.components {
        for id in &c.target.cpes {
            assert!(!id.vendor.is_empty() && !id.product.is_empty(), "{id:?}");
        }
        for p in &c.target.packages {
            assert!(!p.name.is_empty(), "{p:?}");
        }
        assert_eq!(sbom.why(&c.bom_ref).last(), Some(&c.bom_ref));
    }
    assert_eq!(sbom.closures().len(), sbom.roots.len());
}

/// A review record: parses or errors; one that parses re-signs to a record that parses back to
/// the same review, and its subject is its source's content digest.
pub fn review_record(data: &[u8]) {
    let Ok(record) = crate::review::record::ReviewRecord::parse(data) else { return };
    let digest = record.review.source.content_digest();
    assert!(digest.as_ref().is_ok_and(|d| *d == record.digest), "{:?}", record.review);
    let Ok(key) = provenix_formats::signature::SecretKey::from_seed("fuzz-1", [1; 32]) else { return };
    let Ok(bytes) = record.review.sign(&key) else { panic!("a parsed review does not sign: {:?}", record.review) };
    match crate::review::record::ReviewRecord::parse(&bytes) {
        Ok(again) => assert!(again.review == record.review, "{:?} != {:?}", again.review, record.review),
        Err(e) => panic!("a re-signed review does not parse: {e}"),
    }
}

/// A review policy: parses or errors; a policy that parses has a requirement of at least one
/// reviewer for every kind, named reviewers with groups, and exemptions with reasons.
pub fn review_policy(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(policy) = crate::review::policy::Policy::parse(text, std::path::Path::new("fuzz.toml")) else { return };
    for kind in crate::fod::SourceKind::ALL {
        assert!(policy.requirement(kind).reviewers >= 1, "{kind}");
    }
    for r in &policy.reviewers {
        assert!(!r.name.trim().is_empty() && !r.group.trim().is_empty(), "{r:?}");
    }
    for e in &policy.exemptions {
        assert!(!e.reason.trim().is_empty() && (e.name.is_some() || e.hash.is_some()), "{e:?}");
    }
}

/// A file given as a ROOT, as the root sniffer sees its first bytes: it never panics, names what
/// it finds with an article and gives advice as `: …` or none, and never refuses text that may
/// be a Nix expression (UTF-8 without NUL or control characters other than whitespace, not
/// starting like a JSON object, a `.drv` file or a bzip2 stream).
pub fn root_sniff(data: &[u8]) {
    use provenix_store::roots::{SNIFF_LEN, sniff_bytes};
    let head = data.get(..SNIFF_LEN).unwrap_or(data);
    let answer = sniff_bytes(head);
    if let Some((what, advice)) = answer {
        assert!(what.starts_with("a ") || what.starts_with("an "), "{what:?}");
        assert!(advice.is_empty() || advice.starts_with(": "), "{advice:?}");
    }
    if may_be_nix_text(head) {
        assert_eq!(answer, None, "Nix text refused: {:?}", String::from_utf8_lossy(head));
    }
}

/// Text a Nix file may hold, read as the sniffer reads it (a character cut off at the end is
/// still text), minus the starts the sniffer is entitled to recognise.
fn may_be_nix_text(head: &[u8]) -> bool {
    let text = match std::str::from_utf8(head) {
        Ok(text) => text,
        Err(e) if e.error_len().is_none() => {
            std::str::from_utf8(head.get(..e.valid_up_to()).unwrap_or_default()).unwrap_or_default()
        }
        Err(_) => return false,
    };
    // `{` and a string key followed by `:`, which JSON needs and Nix never has after a key.
    let json =
        text.trim_start().strip_prefix('{').and_then(|rest| rest.trim_start().strip_prefix('"')).is_some_and(|key| {
            let mut chars = key.chars();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => drop(chars.next()),
                    '"' => return chars.as_str().trim_start().starts_with(':'),
                    _ => {}
                }
            }
            false
        });
    let bzip2 =
        text.as_bytes().get(..4).is_some_and(|m| m.starts_with(b"BZh") && m.get(3).is_some_and(u8::is_ascii_digit));
    !text.chars().any(|c| c.is_control() && !c.is_ascii_whitespace()) && !json && !bzip2 && !text.starts_with("Derive(")
}

/// A C2SP entry bundle from a log server (`log verify --full`): split into
/// exactly the entries a naive walk finds, re-encoding to the same bytes, and
/// refused for any other count or when an entry is cut short.
pub fn log_entry_bundle(data: &[u8]) {
    let (mut rest, mut count, mut whole) = (data, 0usize, true);
    while !rest.is_empty() {
        let Some(len) = rest.get(..2).map(|l| usize::from(u16::from_be_bytes([l[0], l[1]]))) else {
            whole = false;
            break;
        };
        let Some(after) = rest.get(2 + len..) else {
            whole = false;
            break;
        };
        rest = after;
        count += 1;
    }
    let split = crate::log::check::split_bundle(data, count);
    assert!(crate::log::check::split_bundle(data, count + 1).is_none(), "a count the bundle does not have");
    match split {
        Some(entries) => {
            assert!(whole, "a cut bundle split");
            let mut again = Vec::with_capacity(data.len());
            for e in &entries {
                let len = u16::try_from(e.len()).unwrap_or_else(|_| panic!("entry of {} bytes", e.len()));
                again.extend_from_slice(&len.to_be_bytes());
                again.extend_from_slice(e);
            }
            assert!(again == data, "the entries do not re-encode to the bundle");
        }
        None => assert!(!whole, "a whole bundle of {count} entries refused"),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// The committed seeds of `target`, then its past crashes (`fuzz/regressions/`).
    fn seeds(target: &str) -> Vec<Vec<u8>> {
        let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
        let mut files: Vec<_> =
            std::fs::read_dir(fuzz.join("seeds").join(target)).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        if let Ok(entries) = std::fs::read_dir(fuzz.join("regressions").join(target)) {
            let mut past: Vec<_> = entries.map(|e| e.unwrap().path()).collect();
            past.sort();
            files.extend(past);
        }
        files.into_iter().map(|p| std::fs::read(p).unwrap()).collect()
    }

    #[test]
    fn the_committed_seeds_pass_the_fuzz_bodies() {
        let mirrors = seeds("mirrors");
        assert!(!mirrors.is_empty());
        for seed in mirrors {
            super::mirrors(&seed);
        }
        let envs = seeds("fod_env");
        assert!(!envs.is_empty());
        for seed in envs {
            super::fod_env(&seed);
        }
        let bundles = seeds("log_entry_bundle");
        assert!(!bundles.is_empty());
        for seed in bundles {
            assert!(crate::log::check::split_bundle(&seed, 2).is_some(), "the seed is a bundle of two entries");
            super::log_entry_bundle(&seed);
        }
        let statements = seeds("statement");
        assert!(statements.len() >= 4);
        for seed in statements {
            // Every seed and past crash is a valid statement, so the body checks the round trip.
            assert!(crate::attest::Statement::parse(&seed).is_ok(), "{}", String::from_utf8_lossy(&seed));
            super::statement(&seed);
        }
    }

    proptest::proptest! {
        /// The root sniffer's rule on random bytes and on random text around its magics.
        #[test]
        fn the_root_sniff_body_holds_for_random_bytes_and_text(
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..600),
            text in "[ -~\n\té]{0,300}",
            magic in proptest::sample::select(vec!["ustar", "BZh9", "{ \"runs\"", "Derive(", "{\"bomFormat\"", "sarif"]),
            at in 0usize..300,
        ) {
            super::root_sniff(&bytes);
            let mut spliced = text.clone().into_bytes();
            let at = at.min(spliced.len());
            spliced.splice(at..at, magic.bytes());
            super::root_sniff(&spliced);
            super::root_sniff(text.as_bytes());
        }
    }

    #[test]
    fn the_committed_vulnerability_seeds_parse_and_pass_the_fuzz_bodies() {
        for (target, kind, body) in [
            ("nvd", super::Kind::Nvd, super::nvd as fn(&[u8])),
            ("cve5", super::Kind::Cve5, super::cve5),
            ("osv", super::Kind::Osv, super::osv),
        ] {
            let seeds = seeds(target);
            assert!(seeds.len() >= 2, "{target}");
            for seed in seeds {
                let parsed = super::parse_file("seed.json", &seed, Some(kind));
                assert!(parsed.is_ok_and(|o| !o.records.is_empty()), "{target}: {}", String::from_utf8_lossy(&seed));
                body(&seed);
            }
        }
    }

    #[test]
    fn the_committed_review_seeds_parse_and_pass_the_fuzz_body() {
        let seeds = seeds("review_record");
        assert!(seeds.len() >= 2);
        for seed in seeds {
            let parsed = crate::review::record::ReviewRecord::parse(&seed);
            assert!(parsed.is_ok(), "{parsed:?}: {}", String::from_utf8_lossy(&seed));
            super::review_record(&seed);
        }
    }

    #[test]
    fn the_committed_archive_seeds_pass_the_fuzz_body() {
        let seeds = seeds("equiv_archive");
        assert!(seeds.len() >= 6);
        for seed in seeds {
            super::equiv_archive(&seed);
        }
    }

    #[test]
    fn the_committed_user_file_seeds_pass_the_fuzz_bodies() {
        for (target, body) in [
            ("identity_table", super::identity_table as fn(&[u8])),
            ("meta", super::meta),
            ("whitelist", super::whitelist),
            ("sbom_input", super::sbom_input),
            ("vulndb_packed", super::vulndb_packed),
            ("review_policy", super::review_policy),
            ("root_sniff", super::root_sniff),
        ] {
            let seeds = seeds(target);
            assert!(!seeds.is_empty(), "{target} has no seeds");
            for seed in seeds {
                body(&seed);
            }
        }
    }
}
