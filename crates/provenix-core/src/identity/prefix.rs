//! Interpreter-prefixed package names: nixpkgs names the packages of an
//! interpreter's package set after the interpreter, and a package must be
//! the same component whatever prefix it got.
//!
//! | family | nixpkgs names | registry |
//! |---|---|---|
//! | `python` | `python3.12-urllib3-2.0.7` (name; `pname` is `urllib3`), `python311-…`, `python3-…`, `pypy3.10-…` | PyPI |
//! | `perl` | `perl5.38.2-URI-5.21` (`pname` carries the prefix) | none in OSV |
//! | `ruby` | `ruby3.1-nokogiri-1.15.4`, `ruby2.7.6-…` | RubyGems |
//! | `lua` | `lua5.4-lpeg-1.1.0`, `luajit2.1-…` | none in OSV |
//! | `ocaml` | `ocaml4.14.1-yojson-2.1.0`, `ocaml5.1.1-…` | none in OSV |
//! | `haskell` | `ghc9.4.8-aeson-2.1.2.1`, `ghc-9.4.8-aeson-…` | Hackage |
//! | `node` | `node_semver-7.5.4`, `node__at_types_slash_node-18.7.15` (node2nix, whose `packageName` is `@types/node`) | npm |
//!
//! A prefix is the interpreter's word, its version (digits and dots, at
//! least one digit; `ghc` may have a `-` before it) and a `-`, followed by a
//! name that starts with a letter (so `python3-3.12.1-env` and `ghc-9.4.8`
//! have none); node2nix's is `node_`, and counts only in a derivation that
//! node2nix made, whose `packageName` is what follows it (so
//! `node_exporter`, Prometheus' exporter, is no npm package `exporter`). A
//! few names after a prefix are the interpreter's own variants, not packages
//! (`python3-minimal`, `ghc-9.4.8-with-packages`), and are not split.
//!
//! The identity of such a package is `<family>:<name>`, the name compared as
//! its registry compares it (PyPI: PEP 503, lowercase with runs of `-_.` as
//! one `-`; others as written): `python3.12-urllib3`, `python311-urllib3`
//! and a `pname` of `urllib3` in a derivation named `python3.13-urllib3-…`
//! are all `python:urllib3`.

use std::borrow::Cow;

/// An interpreter's package set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    /// CPython and PyPy packages.
    Python,
    /// Perl modules.
    Perl,
    /// Ruby gems.
    Ruby,
    /// Lua and LuaJIT rocks.
    Lua,
    /// OCaml libraries.
    Ocaml,
    /// Haskell packages.
    Haskell,
    /// Node packages (node2nix).
    Node,
}

impl Family {
    /// Every family.
    pub const ALL: [Family; 7] =
        [Family::Python, Family::Perl, Family::Ruby, Family::Lua, Family::Ocaml, Family::Haskell, Family::Node];

    /// The family's name in identity keys (`python`).
    pub fn name(self) -> &'static str {
        match self {
            Family::Python => "python",
            Family::Perl => "perl",
            Family::Ruby => "ruby",
            Family::Lua => "lua",
            Family::Ocaml => "ocaml",
            Family::Haskell => "haskell",
            Family::Node => "node",
        }
    }

    /// The family of an identity key's prefix (`python` in `python:urllib3`).
    pub fn from_name(name: &str) -> Option<Family> {
        Family::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The OSV ecosystem of the family's registry, when OSV has one.
    pub fn ecosystem(self) -> Option<&'static str> {
        match self {
            Family::Python => Some("PyPI"),
            Family::Ruby => Some("RubyGems"),
            Family::Haskell => Some("Hackage"),
            Family::Node => Some("npm"),
            Family::Perl | Family::Lua | Family::Ocaml => None,
        }
    }

    /// A package name as the registry compares it: PEP 503 for Python
    /// (lowercase, runs of `-`, `_`, `.` as one `-`), others as written.
    pub fn normalize(self, name: &str) -> String {
        if self != Family::Python {
            return name.to_owned();
        }
        // The same comparison form the OSV matcher uses for PyPI names.
        crate::vulndb::rules::normalize_package("pypi", name)
    }

    /// The identity key of package `name` of this family (`python:urllib3`).
    pub fn key(self, name: &str) -> String {
        format!("{}:{}", self.name(), self.normalize(name))
    }
}

/// Interpreter words, longest first where one starts another.
const WORDS: [(&str, Family); 8] = [
    ("python", Family::Python),
    ("pypy", Family::Python),
    ("perl", Family::Perl),
    ("ruby", Family::Ruby),
    ("luajit", Family::Lua),
    ("lua", Family::Lua),
    ("ocaml", Family::Ocaml),
    ("ghc", Family::Haskell),
];

/// Names after a prefix that are the interpreter's own variants.
const NOT_PACKAGES: [(Family, &str); 3] =
    [(Family::Python, "minimal"), (Family::Haskell, "with-packages"), (Family::Haskell, "with-hoogle")];

/// A name split at its interpreter prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prefixed<'a> {
    /// The interpreter's package set.
    pub family: Family,
    /// The prefix with its `-` or `_` (`python3.12-`, `node_`).
    pub prefix: &'a str,
    /// What follows it, as written (`urllib3-2.0.7`, `_at_types_slash_node`).
    pub rest: &'a str,
}

/// Splits `name` (a derivation name or a `pname`) at its interpreter
/// prefix, when it has one.
pub fn split(name: &str) -> Option<Prefixed<'_>> {
    if let Some(rest) = name.strip_prefix("node_") {
        let first = rest.bytes().next()?;
        let prefix = name.get(..5)?;
        return (first.is_ascii_alphanumeric() || first == b'_').then_some(Prefixed {
            family: Family::Node,
            prefix,
            rest,
        });
    }
    let (word, family) = WORDS.iter().find(|(w, _)| name.starts_with(w))?;
    let mut at = word.len();
    if *family == Family::Haskell && name.as_bytes().get(at) == Some(&b'-') {
        at += 1;
    }
    let bytes = name.as_bytes();
    let version_len = bytes.get(at..)?.iter().take_while(|b| b.is_ascii_digit() || **b == b'.').count();
    if version_len == 0 || !bytes.get(at).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    at += version_len;
    if bytes.get(at) != Some(&b'-') {
        return None;
    }
    let rest = name.get(at + 1..)?;
    if !rest.bytes().next().is_some_and(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    let (rest_name, _) = super::parse_drv_name(rest);
    if NOT_PACKAGES.iter().any(|(f, n)| f == family && (rest == *n || rest_name == *n)) {
        return None;
    }
    Some(Prefixed { family: *family, prefix: name.get(..at + 1)?, rest })
}

/// The registry name of what follows a prefix: node2nix writes `@scope/name`
/// as `_at_scope_slash_name`; others are as written.
pub fn registry_name(family: Family, rest: &str) -> Cow<'_, str> {
    if family == Family::Node
        && let Some(scoped) = rest.strip_prefix("_at_")
        && let Some((scope, name)) = scoped.split_once("_slash_")
        && !scope.is_empty()
        && !name.is_empty()
    {
        return Cow::Owned(format!("@{scope}/{name}"));
    }
    Cow::Borrowed(rest)
}

/// A package of an interpreter's set, as identified from a component's
/// derivation name and `pname`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interpreted {
    /// The interpreter's package set.
    pub family: Family,
    /// The package's name in its registry (`urllib3`, `@types/node`).
    pub name: String,
}

impl Interpreted {
    /// The identity key (`python:urllib3`).
    pub fn key(&self) -> String {
        self.family.key(&self.name)
    }
}

/// The interpreter package a component is, from its `pname` (which carries
/// the prefix for Perl and when Nix split the name) or else its derivation
/// name whose prefix is followed by the `pname` (`python3.12-urllib3-2.0.7`
/// with `pname` `urllib3`). `package_name` is the derivation's
/// `packageName` (node2nix sets it to the npm name): a `node_` prefix counts
/// only when it names what follows the prefix.
pub fn interpreted(name: &str, pname: &str, package_name: Option<&str>) -> Option<Interpreted> {
    let node2nix = |p: &Prefixed<'_>, rest: &str| {
        p.family != Family::Node || package_name.is_some_and(|n| registry_name(Family::Node, rest) == n)
    };
    if let Some(p) = split(pname) {
        return node2nix(&p, p.rest)
            .then(|| Interpreted { family: p.family, name: registry_name(p.family, p.rest).into_owned() });
    }
    let p = split(name)?;
    let (rest_pname, _) = super::parse_drv_name(p.rest);
    let fits = rest_pname == pname || p.family.normalize(rest_pname) == p.family.normalize(pname);
    (fits && !pname.is_empty() && node2nix(&p, rest_pname))
        .then(|| Interpreted { family: p.family, name: registry_name(p.family, pname).into_owned() })
}

/// The family and name of an identity table key: `python:urllib3` as
/// written, or a prefixed `pname` (`python3.12-urllib3`; not `node_…`, which
/// may be a native package's `pname`: node packages are written
/// `node:<name>`). `Err` for a `:` key of an unknown family; `Ok(None)` for a
/// plain `pname`.
pub(crate) fn table_key(key: &str) -> Result<Option<Interpreted>, ()> {
    if let Some((family, name)) = key.split_once(':') {
        let family = Family::from_name(family).ok_or(())?;
        if name.is_empty() {
            return Err(());
        }
        return Ok(Some(Interpreted { family, name: name.to_owned() }));
    }
    Ok(split(key)
        .filter(|p| p.family != Family::Node)
        .map(|p| Interpreted { family: p.family, name: registry_name(p.family, p.rest).into_owned() }))
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case::python_dotted("python3.12-urllib3", Family::Python, "python3.12-", "urllib3")]
    #[case::python_undotted("python311-urllib3", Family::Python, "python311-", "urllib3")]
    #[case::python_major("python3-six", Family::Python, "python3-", "six")]
    #[case::pypy("pypy3.10-cffi", Family::Python, "pypy3.10-", "cffi")]
    #[case::perl("perl5.38.2-URI", Family::Perl, "perl5.38.2-", "URI")]
    #[case::ruby("ruby3.1-nokogiri", Family::Ruby, "ruby3.1-", "nokogiri")]
    #[case::lua("lua5.4-lpeg", Family::Lua, "lua5.4-", "lpeg")]
    #[case::luajit("luajit2.1-lpeg", Family::Lua, "luajit2.1-", "lpeg")]
    #[case::ocaml("ocaml4.14.1-yojson", Family::Ocaml, "ocaml4.14.1-", "yojson")]
    #[case::ghc("ghc9.4.8-aeson", Family::Haskell, "ghc9.4.8-", "aeson")]
    #[case::ghc_dash("ghc-9.4.8-aeson-2.1.2.1", Family::Haskell, "ghc-9.4.8-", "aeson-2.1.2.1")]
    #[case::node("node_semver", Family::Node, "node_", "semver")]
    #[case::node_scoped("node__at_types_slash_node", Family::Node, "node_", "_at_types_slash_node")]
    #[case::with_version("python3.13-urllib3-2.0.7", Family::Python, "python3.13-", "urllib3-2.0.7")]
    fn prefixes_split(#[case] name: &str, #[case] family: Family, #[case] prefix: &str, #[case] rest: &str) {
        assert_eq!(split(name), Some(Prefixed { family, prefix, rest }));
    }

    #[rstest]
    #[case::interpreter_itself("python3")]
    #[case::interpreter_with_version_only("python3-3.12.1")]
    #[case::env("python3-3.12.1-env")]
    #[case::no_version("python-dateutil")]
    #[case::word_then_letters("pythonfoo-bar")]
    #[case::perl_no_version("perl-xml-parser")]
    #[case::ruby_no_version("ruby-build")]
    #[case::ghc_itself("ghc-9.4.8")]
    #[case::ghc_env("ghc-9.4.8-with-packages")]
    #[case::python_minimal("python3-minimal")]
    #[case::lua_itself("lua5.4")]
    #[case::luarocks("luarocks-3.9")]
    #[case::ocaml_ng("ocaml-ng")]
    #[case::node_alone("node_")]
    #[case::nodejs("nodejs-20.1.0")]
    #[case::plain("urllib3")]
    #[case::empty("")]
    fn other_names_have_no_prefix(#[case] name: &str) {
        assert_eq!(split(name), None, "{name}");
    }

    #[test]
    fn node2nix_names_decode_to_npm_names() {
        assert_eq!(registry_name(Family::Node, "_at_types_slash_node"), "@types/node");
        assert_eq!(registry_name(Family::Node, "semver"), "semver");
        assert_eq!(registry_name(Family::Node, "_at__slash_x"), "_at__slash_x");
        assert_eq!(registry_name(Family::Python, "_at_a_slash_b"), "_at_a_slash_b");
    }

    /// Whatever the prefix, and whether `pname` carries it or not, one key.
    #[rstest]
    #[case::name_prefix_pname_bare("python3.12-urllib3-2.0.7", "urllib3")]
    #[case::pname_prefixed("python3.12-urllib3-2.0.7", "python3.12-urllib3")]
    #[case::undotted("python311-urllib3-2.0.7", "python311-urllib3")]
    #[case::undotted_bare("python313-urllib3-2.0.7", "urllib3")]
    #[case::pypy("pypy3.10-urllib3-2.0.7", "urllib3")]
    #[case::case_and_separators("python3.12-URLlib3-2.0.7", "URLlib3")]
    fn python_prefixes_resolve_to_one_key(#[case] name: &str, #[case] pname: &str) {
        assert_eq!(interpreted(name, pname, None).map(|i| i.key()).as_deref(), Some("python:urllib3"));
    }

    #[rstest]
    #[case::perl("perl5.38.2-URI-5.21", "perl5.38.2-URI", "perl:URI")]
    #[case::perl_other_version("perl5.36.0-URI-5.21", "perl5.36.0-URI", "perl:URI")]
    #[case::ruby("ruby3.1-nokogiri-1.15.4", "ruby3.1-nokogiri", "ruby:nokogiri")]
    #[case::ruby_bare("ruby2.7.6-nokogiri-1.15.4", "nokogiri", "ruby:nokogiri")]
    #[case::lua("lua5.4-lpeg-1.1.0", "lpeg", "lua:lpeg")]
    #[case::luajit("luajit2.1-lpeg-1.1.0", "lpeg", "lua:lpeg")]
    #[case::ocaml("ocaml4.14.1-yojson-2.1.0", "yojson", "ocaml:yojson")]
    #[case::ocaml5("ocaml5.1.1-yojson-2.1.0", "ocaml5.1.1-yojson", "ocaml:yojson")]
    #[case::ghc("ghc-9.4.8-aeson-2.1.2.1", "aeson", "haskell:aeson")]
    #[case::ghc_pname("ghc9.6.3-aeson-2.1.2.1", "ghc9.6.3-aeson", "haskell:aeson")]
    fn other_families_resolve_to_one_key(#[case] name: &str, #[case] pname: &str, #[case] key: &str) {
        assert_eq!(interpreted(name, pname, None).map(|i| i.key()).as_deref(), Some(key));
    }

    #[rstest]
    #[case::node("node_semver-7.5.4", "node_semver", "semver", Some("node:semver"))]
    #[case::node_scoped(
        "node__at_types_slash_node-18.7.15",
        "node__at_types_slash_node",
        "@types/node",
        Some("node:@types/node")
    )]
    #[case::other_package_name("node_semver-7.5.4", "node_semver", "other", None)]
    fn node2nix_packages_need_their_package_name(
        #[case] name: &str,
        #[case] pname: &str,
        #[case] package_name: &str,
        #[case] key: Option<&str>,
    ) {
        assert_eq!(interpreted(name, pname, Some(package_name)).map(|i| i.key()).as_deref(), key);
        assert_eq!(interpreted(name, pname, None), None, "no packageName: not node2nix's");
    }

    #[test]
    fn prometheus_node_exporter_is_no_npm_package() {
        assert_eq!(interpreted("node_exporter-1.8.2", "node_exporter", None), None);
        assert_eq!(table_key("node_exporter"), Ok(None));
    }

    #[test]
    fn a_pname_that_is_not_what_follows_the_prefix_is_not_that_package() {
        // The name says urllib3, the pname something else: trust neither.
        assert_eq!(interpreted("python3.12-urllib3-2.0.7", "requests", None), None);
        assert_eq!(interpreted("urllib3-2.0.7", "urllib3", None), None);
        assert_eq!(interpreted("hello-2.12", "hello", None), None);
    }

    #[test]
    fn table_keys() {
        let key = |k: &str| table_key(k).map(|o| o.map(|i| i.key()));
        assert_eq!(key("python:urllib3"), Ok(Some("python:urllib3".to_owned())));
        assert_eq!(key("python:URLlib3"), Ok(Some("python:urllib3".to_owned())));
        assert_eq!(key("python3.12-requests"), Ok(Some("python:requests".to_owned())));
        assert_eq!(key("perl:URI"), Ok(Some("perl:URI".to_owned())));
        assert_eq!(key("curl"), Ok(None));
        assert_eq!(key("pyton:requests"), Err(()));
        assert_eq!(key("python:"), Err(()));
    }
}
