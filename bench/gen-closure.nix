# A generated, nixpkgs-shaped build closure for benchmarks.
#
#   nix-instantiate --store ROOT bench/gen-closure.nix --arg n 10000
#
# Node 0 is the root. Node i depends on nodes 2i+1 and 2i+2 (a tree of depth
# log2 n, so evaluation never recurses deeply) and on one cross edge further
# down, which makes the graph a DAG with shared subtrees, like nixpkgs. Leaves
# are sources: two thirds are fixed-output derivations (tarballs, patches,
# git checkouts, vendored dependency sets), the rest plain leaf packages. Every
# derivation carries an env of realistic size.
#
# With --arg bump true, one source in a hundred (those whose number is a
# multiple of 100) is the next release: version, URLs and hash change (a git
# checkout keeps its name `source-N`), as an auto-bump would do; `provenix
# diff` of the two closures is benchmarked on that.
{ n ? 10000, bump ? false, system ? builtins.currentSystem }:
let
  mod = a: b: a - (a / b) * b;
  bumped = i: bump && mod i 100 == 0;
  hexOf = i: builtins.hashString "sha256" "source-${toString i}${if bumped i then "-next" else ""}";
  kinds = [ "tarball" "patch" "git" "vendor" ];
  fod = i:
    let
      kind = builtins.elemAt kinds (mod i 4);
      major = if bumped i then "2" else "1";
      tag = if bumped i then "-next" else "";
    in
    derivation {
      name =
        if kind == "tarball" then "src-${toString i}-${major}.${toString (mod i 13)}.tar.gz"
        else if kind == "patch" then "fix-CVE-2024-${toString (10000 + i)}.patch"
        else if kind == "git" then "source-${toString i}"
        else "pkg-${toString i}-vendor.tar.gz";
      inherit system;
      builder = "/bin/sh";
      args = [ "-c" "echo unreachable; exit 1" ];
      urls = [ "https://example.org/dist/src-${toString i}${tag}.tar.gz" "mirror://gnu/src-${toString i}${tag}.tar.gz" ];
      outputHashMode = if kind == "git" || kind == "vendor" then "recursive" else "flat";
      outputHashAlgo = "sha256";
      outputHash = hexOf i;
      preferLocalBuild = true;
    };
  pkg = i: deps:
    derivation {
      name = "pkg-${toString i}-${toString (mod i 7)}.${toString (mod i 11)}";
      pname = "pkg-${toString i}";
      version = "${toString (mod i 7)}.${toString (mod i 11)}";
      inherit system;
      builder = "/bin/sh";
      args = [ "-e" "-c" "echo building ${toString i}; for d in $buildInputs; do echo $d; done > $out" ];
      outputs = if mod i 5 == 0 then [ "out" "dev" ] else [ "out" ];
      buildInputs = deps;
      configureFlags = [ "--enable-feature-${toString (mod i 3)}" "--with-prefix=/usr" ];
      meta_description = "Generated package number ${toString i} for benchmarks";
    };
  node = i:
    let
      children = builtins.filter (j: j < n) [ (2 * i + 1) (2 * i + 2) ];
      cross = let j = 2 * i + 3 + mod (i * 7919) 97; in if j < n then [ j ] else [ ];
    in
    if children == [ ] then (if mod i 3 == 2 then pkg i [ ] else fod i)
    else pkg i (map (j: builtins.elemAt nodes j) (children ++ cross));
  nodes = builtins.genList node n;
in
builtins.elemAt nodes 0
