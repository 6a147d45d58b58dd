# The Nix-CLI equivalent of `provenix sources --json`, for bench/run.sh:
#
#   nix show-derivation -r ROOT | jq -f bench/fods.jq
#
# keeps the fixed-output derivations (an output with a `hash`) and gives each
# its .drv path, name, URLs, output path, hash algorithm (`r:` for recursive)
# and hash, as an array like provenix's `sources`. (`with_entries(select(...))`
# would keep Nix's object shape but takes jq 1.6 over 10 s on 40,000
# derivations: its `from_entries` adds objects one by one, O(n^2).)
[ to_entries[]
  | .key as $drv
  | .value
  | select(any(.outputs[]; .hash != null))
  | .outputs.out as $out
  | { drvPath: $drv,
      name: .env.name,
      urls: ((.env.urls // .env.url // "") | split(" ") | map(select(. != ""))),
      path: $out.path,
      hashAlgo: $out.hashAlgo,
      hash: $out.hash }
]
