#!/usr/bin/env bash
# Runs provenix on the bundled example (examples/hello) in a throwaway Nix
# store under target/example-store: never the host store.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

cargo build --release --locked -q
provenix=target/release/provenix
root=target/example-store
nixopts=(--store "$PWD/$root" --option sandbox true --option sandbox-paths /bin/sh=/bin/busybox
         --option substituters '' --option build-users-group '')

echo "== nix-build examples/hello (sandboxed, store under $root)"
out=$(nix-build "${nixopts[@]}" --no-out-link examples/hello 2>/dev/null)
drv=$(nix-instantiate "${nixopts[@]}" examples/hello 2>/dev/null)
echo "   $drv -> $out"

echo "== provenix sources: every fixed-output derivation, with why-chains"
"$provenix" --store "$root" sources --why "$drv"

echo "== provenix verify: paths, contents and hygiene of the whole closure"
"$provenix" --store "$root" verify "$drv"

echo "== provenix verify on a copy of the store where a source was changed (exit 1 expected)"
tampered=target/example-tampered
rm -rf "$tampered" && cp -a "$root" "$tampered"
src=$("$provenix" --store "$root" sources --json "$drv" | jq -r '.sources[0].outputPath')
chmod u+w "$tampered$src" && echo "backdoored" > "$tampered$src"
set +e
"$provenix" --store "$tampered" verify "$drv"
status=$?
set -e
[ "$status" = 1 ] || { echo "expected exit 1 from verify on the tampered store, got $status" >&2; exit 1; }
rm -rf "$tampered"

echo "== provenix drv paths: drv and output paths recomputed from the bytes"
"$provenix" --store "$root" drv paths "$drv"

echo "== provenix drv show --recursive: the build closure ($(
  "$provenix" --store "$root" drv show --recursive "$drv" | jq 'length') derivations)"
"$provenix" --store "$root" drv show --recursive "$drv" \
  | jq -r 'to_entries[] | select(.value.outputs.out.hash != null)
           | "   fixed-output: \(.value.env.name)  \(.value.outputs.out.hashAlgo):\(.value.outputs.out.hash)  \(.value.env.urls // "")"'

echo "== provenix nar hash vs nix-store -q --hash"
ours=$("$provenix" --store "$root" nar hash --base32 "$root$out")
theirs=$(nix-store "${nixopts[@]}" -q --hash "$out")
echo "   provenix: sha256:$ours"
echo "   nix:      $theirs"
[ "sha256:$ours" = "$theirs" ] || { echo "MISMATCH" >&2; exit 1; }

echo "== provenix nar dump | provenix nar check"
"$provenix" nar dump "$root$out" > "$root/app.nar"
"$provenix" nar check "$root/app.nar"
echo "OK: the example's paths and hashes agree with Nix."
