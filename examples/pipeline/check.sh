#!/usr/bin/env bash
# Checks, with Nix alone, the properties provenix demonstrates on this example.
# Run as root (unshare --net needs it); every store is a throwaway one under a
# temporary directory, never /nix/store. Needs nix-bin (Nix 2.8), busybox at
# /bin/busybox, GNU tar, gzip and jq.
#
#   1. the tarballs match the upstream source trees (upstream/make-tarballs.sh --check)
#   2. two builds in two fresh stores give the same NAR hash for every output
#   3. the FODs carry file:// URLs and the patch is an inputSrc
#   4. the .drv closure plus the FOD outputs, exported and imported into a
#      fresh store, rebuild the app offline (no network namespace access, no
#      substituters, no tarball directory) with the same hashes
#   5. with nonReproducible = true the offline rebuild differs, in
#      share/greeter/build-id only
#
#   bash examples/pipeline/check.sh          (KEEP=1 keeps the stores)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tarballs=$here/tarballs
work=$(mktemp -d /tmp/provenix-pipeline.XXXXXX)
[ "${KEEP:-}" = 1 ] && echo "stores kept under $work" || trap 'rm -rf "$work"' EXIT

unset NIX_PATH
export NIX_CONF_DIR=$work/etc XDG_CACHE_HOME=$work/cache HOME=$work/home
opts=(--option sandbox true --option sandbox-paths /bin/sh=/bin/busybox
      --option substituters '' --option build-users-group '')
fetch=(--option extra-sandbox-paths "$tarballs")   # only where tarballs are fetched

# output NAR hashes of the whole build closure of DRV in STORE, sorted
output_hashes() { # STORE DRV
  local d o
  for d in $(nix-store --store "$1" -qR "$2" | grep '\.drv$'); do
    for o in $(nix-store --store "$1" -q --outputs "$d"); do
      echo "$o $(nix-store --store "$1" -q --hash "$o")"
    done
  done | sort
}

echo "== 1. tarballs vs upstream trees"
sh "$here/upstream/make-tarballs.sh" --check

for flag in false true; do
  args=(--argstr tarballs "$tarballs" --arg nonReproducible "$flag")
  echo "== nonReproducible = $flag"

  echo "== 2. build in two fresh stores"
  for s in a b; do
    nix-build --store "$work/$flag-$s" "$here" "${args[@]}" "${opts[@]}" "${fetch[@]}" --no-out-link >/dev/null 2>"$work/$flag-$s.log" ||
      { cat "$work/$flag-$s.log" >&2; exit 1; }
  done
  drv=$(nix-instantiate --store "$work/$flag-a" "$here" "${args[@]}" "${opts[@]}" 2>/dev/null)
  out=$(nix-store --store "$work/$flag-a" -q --outputs "$drv")
  output_hashes "$work/$flag-a" "$drv" > "$work/$flag-a.hashes"
  output_hashes "$work/$flag-b" "$drv" > "$work/$flag-b.hashes"
  if cmp -s "$work/$flag-a.hashes" "$work/$flag-b.hashes"; then
    echo "   identical: $(wc -l < "$work/$flag-a.hashes") outputs"
  else
    echo "   differ:"; diff "$work/$flag-a.hashes" "$work/$flag-b.hashes" | sed 's/^/   /' || true
  fi

  echo "== 3. FODs and inputSrcs (nix show-derivation -r)"
  nix --extra-experimental-features nix-command show-derivation -r --store "$work/$flag-a" "${opts[@]}" "$drv" \
    > "$work/$flag-show.json"
  jq -r 'to_entries[] | .value as $d
         | ($d.outputs[] | select(.hash) | "   FOD       \($d.env.name)  \(.hashAlgo):\(.hash)  \($d.env.url)"),
           ($d.inputSrcs[] | "   inputSrc  \(.)")' "$work/$flag-show.json"
  jq -e '[.[] | .env.url // empty | select(startswith("file://"))] | length == 3' "$work/$flag-show.json" >/dev/null

  echo "== 4. export .drv closure + FOD outputs, import into a fresh store, rebuild offline"
  fod_outputs=$(jq -r '.[] | .outputs[] | select(.hash) | .path' "$work/$flag-show.json")
  # shellcheck disable=SC2046  # store paths have no spaces
  nix-store --store "$work/$flag-a" --export $(nix-store --store "$work/$flag-a" -qR "$drv") $fod_outputs \
    > "$work/$flag-sources.export"
  unshare --net -- nix-store --store "$work/$flag-offline" --import < "$work/$flag-sources.export" >/dev/null
  unshare --net -- nix-store --store "$work/$flag-offline" "${opts[@]}" --realise "$drv" >/dev/null 2>"$work/$flag-offline.log" ||
    { cat "$work/$flag-offline.log" >&2; exit 1; }
  output_hashes "$work/$flag-offline" "$drv" > "$work/$flag-offline.hashes"
  if cmp -s "$work/$flag-a.hashes" "$work/$flag-offline.hashes"; then
    echo "   offline rebuild identical"
  else
    echo "   offline rebuild differs:"
    diff "$work/$flag-a.hashes" "$work/$flag-offline.hashes" | sed 's/^/   /' || true
    diff -r "$work/$flag-a$out" "$work/$flag-offline$out" | sed 's/^/   /' || true
  fi

  # the verdicts this example is made for
  if [ "$flag" = false ]; then
    cmp -s "$work/$flag-a.hashes" "$work/$flag-b.hashes"
    cmp -s "$work/$flag-a.hashes" "$work/$flag-offline.hashes"
  else
    [ "$(diff -rq "$work/$flag-a$out" "$work/$flag-offline$out" | sed "s|$work/$flag-[a-z]*||g")" = \
      "Files $out/share/greeter/build-id and $out/share/greeter/build-id differ" ]
  fi
done
echo "OK: reproducible with nonReproducible = false; only share/greeter/build-id differs with true."
