# Fixed-output derivations for files already added to a store, for the
# `rehash` benchmark of bench/run.sh.
#
#   nix-store --store ROOT --add-fixed sha256 FILE...
#   nix-instantiate --store ROOT bench/gen-sources.nix --argstr manifest M.json
#
# M.json is a list of { "name": base name of a file, "sha256": hex of its
# contents }. Each entry becomes a flat sha256 FOD of the same name, whose
# output path is therefore the path `--add-fixed` gave the file: the sources
# are realised without building anything. The root depends on all of them.
{ manifest, system ? builtins.currentSystem }:
let
  files = builtins.fromJSON (builtins.readFile manifest);
  fod = f:
    derivation {
      inherit (f) name;
      inherit system;
      builder = "/bin/sh";
      args = [ "-c" "exit 1" ];
      outputHashMode = "flat";
      outputHashAlgo = "sha256";
      outputHash = f.sha256;
      urls = [ "https://example.org/${f.name}" ];
    };
in
derivation {
  name = "rehash-root";
  inherit system;
  builder = "/bin/sh";
  args = [ "-c" "exit 1" ];
  srcs = map fod files;
}
