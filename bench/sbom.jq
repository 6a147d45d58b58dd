# The Nix-CLI way to the inventory `provenix sbom` writes, for bench/run.sh:
#
#   nix show-derivation -r ROOT | jq -f bench/sbom.jq
#
# One component per derivation of the build closure, CycloneDX-shaped: its
# .drv path as bom-ref, name and version (env `pname`/`version`, else the name
# split at the first `-` before a non-letter, as Nix's parseDrvName does), a
# `pkg:nix` purl, output paths, and for fixed-output derivations the declared
# hash and URLs; plus the dependency graph from `inputDrvs`. What it cannot
# give: NAR hashes of realised outputs (the Nix database), CPEs, licenses.
[ to_entries[]
  | .key as $drv
  | .value as $d
  | ($d.env.pname // null) as $pname
  | (if $pname then { name: $pname, version: ($d.env.version // "") }
     else ($d.env.name | capture("^(?<name>.+?)-(?<version>[^a-zA-Z].*)$") // { name: $d.env.name, version: "" })
     end) as $nv
  | { component: ({ "bom-ref": $drv, type: "library", name: $nv.name, version: $nv.version,
                    purl: "pkg:nix/\($nv.name)@\($nv.version)",
                    properties: [ $d.outputs | to_entries[] | { name: "nix:output:\(.key)", value: .value.path } ] }
                  + (if $d.outputs.out.hash then
                       { hashes: [ { alg: ($d.outputs.out.hashAlgo | ltrimstr("r:") | ascii_upcase | sub("SHA"; "SHA-")),
                                     content: $d.outputs.out.hash } ],
                         externalReferences: [ (($d.env.urls // $d.env.url // "") | split(" ")[] | select(. != ""))
                                               | { type: "distribution", url: . } ] }
                     else {} end)),
      dependency: { ref: $drv, dependsOn: ($d.inputDrvs | keys) } }
]
| { bomFormat: "CycloneDX", specVersion: "1.6", version: 1,
    components: map(.component), dependencies: map(.dependency) }
