# The Nix-CLI way to what `provenix diff OLD NEW --json` reports about sources, for bench/run.sh:
#
#   jq -n --slurpfile old OLD.json --slurpfile new NEW.json -f bench/closure-diff.jq
#
# where OLD.json and NEW.json are `nix show-derivation -r` of the two roots. Keeps the
# fixed-output derivations of each side, keys them by name without version (the part from the
# first "-" followed by a digit), and lists the sources added, removed, and changed (URLs or
# hash), with the stale-hash pattern (URLs changed, hash did not) flagged. It has no patches,
# dependencies or package versions.
def fods:
  [ to_entries[] | .key as $drv | .value | select(any(.outputs[]; .hash != null))
    | { key: (.env.name | sub("-[0-9].*$"; "")), drv: $drv, name: .env.name,
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
