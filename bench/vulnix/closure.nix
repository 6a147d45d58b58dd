# The small closure of the vulnix comparison: one plain derivation per package
# of bench/vulnix/dataset.py (which writes PACKAGES.json), all inputs of a root.
#
#   nix-instantiate --store ROOT --option substituters '' bench/vulnix/closure.nix --argstr packages PACKAGES.json
#
# Nothing is built: both tools read the .drv files only. A package's patches
# are fixed-output derivations named like nixpkgs' fetchpatch results.
{ packages, system ? builtins.currentSystem }:
let
  patch = name:
    derivation {
      inherit name system;
      builder = "/bin/sh";
      args = [ "-c" "echo unreachable; exit 1" ];
      url = "https://example.org/patches/${name}";
      outputHashMode = "flat";
      outputHashAlgo = "sha256";
      outputHash = builtins.hashString "sha256" name;
    };
  package = p:
    derivation {
      inherit (p) name pname version;
      inherit system;
      builder = "/bin/sh";
      args = [ "-c" "echo ${p.name} > $out" ];
      patches = map patch p.patches;
    };
in
derivation {
  name = "vulnix-comparison-root";
  inherit system;
  builder = "/bin/sh";
  args = [ "-c" "echo root > $out" ];
  buildInputs = map package (builtins.fromJSON (builtins.readFile packages));
}
