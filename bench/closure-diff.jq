# The Nix-CLI way to what `provenix diff OLD NEW --json` reports about sources, for bench/run.sh:
#
#   jq -n --slurpfile old OLD.json --slurpfile new NEW.json -f bench/closure-diff.jq
#
# where OLD.json and NEW.json are `nix show-derivation -r` of the two roots. Keeps the
# fixed-output derivations of each side, keys them by the first (sorted) pname of the packages
# using them and their name without version and archive extension (a patch by its whole name), as
# provenix pairs them, and lists the sources added, removed, and changed (URLs or
# hash), with the stale-hash pattern (URLs changed, hash did not) flagged. It has no patches,
# dependencies or package versions.
def users:
  reduce (to_entries[] | select(all(.value.outputs[]; .hash == null)) | .value.env.pname as $p
          | .value.inputDrvs | keys[] | { drv: ., p: $p }) as $e
    ({}; .[$e.drv] = ([.[$e.drv] // $e.p, $e.p] | min));
def fods:
  users as $u
  | [ to_entries[] | .key as $drv | .value | select(any(.outputs[]; .hash != null))
      | { key: (($u[$drv] // "") + "/" + (if (.env.name | test("\\.(patch|diff)$")) then .env.name
                                            else .env.name | sub("\\.tar\\.gz$"; "") | sub("-[0-9][^-]*$"; "") end)),
          drv: $drv, name: .env.name,
          urls: ((.env.urls // .env.url // "") | split(" ") | map(select(. != ""))),
          hash: (.outputs.out.hashAlgo + ":" + .outputs.out.hash) } ]
  | map({ (.key): . }) | add // {};
($old[0] | fods) as $o | ($new[0] | fods) as $n
| { added: [ $n | keys[] | select($o[.] == null) ],
    removed: [ $o | keys[] | select($n[.] == null) ],
    changed: [ $n | to_entries[] | select($o[.key] != null) | .key as $k | $o[$k] as $a | .value as $b
               | select($a.urls != $b.urls or $a.hash != $b.hash)
               | { key: $k, old: $a.name, new: $b.name, urls: ($a.urls != $b.urls), hash: ($a.hash != $b.hash),
                   staleHash: ($a.urls != $b.urls and $a.hash == $b.hash) } ] }
