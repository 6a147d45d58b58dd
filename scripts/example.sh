#!/usr/bin/env bash
# The whole provenix pipeline on the bundled example (examples/pipeline), in
# throwaway Nix stores under target/example: never the host store.
#
#   sources -> verify -> equiv (the xz-style case) -> sbom -> vulns -> bundle (signed) -> rebuild offline
#   in a fresh store (after `provenix doctor`) -> signed attestation -> attest verify; then the
#   non-reproducible variant, whose rebuild differs, and diff-output naming the file that differs; a rebuild
#   transparency log (provenix serve) that both builds and both rebuilds are reported to (provenix report),
#   reproduced and disputed (provenix log show); then a version bump (--arg bump true): diff, and a review
#   gate that fails, then passes after two reviewers sign.
#
# Run as root (Nix single-user, and `unshare --net` for the offline rebuild).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

cargo build --release --locked -q
provenix=$PWD/target/release/provenix
work=$PWD/target/example
rm -rf "$work" && mkdir -p "$work"
tarballs=$PWD/examples/pipeline/tarballs
store=$work/store
nixopts=(--option sandbox true --option sandbox-paths /bin/sh=/bin/busybox
         --option substituters '' --option build-users-group '')
# The same options for the rebuild's own Nix calls.
rebuildopts=(--nix-option sandbox-paths /bin/sh=/bin/busybox --nix-option build-users-group '')
step() { printf '\n== %s\n' "$*"; }

step "nix-build examples/pipeline (sandboxed, busybox only, sources from file:// tarballs; store under $store)"
out=$(nix-build --store "$store" "${nixopts[@]}" --option extra-sandbox-paths "$tarballs" --no-out-link \
        examples/pipeline --argstr tarballs "$tarballs" 2>"$work/nix-build.log")
drv=$(nix-instantiate --store "$store" "${nixopts[@]}" examples/pipeline --argstr tarballs "$tarballs" 2>/dev/null)
echo "   $drv"
echo "   -> $out"

step "provenix sources: every fixed-output derivation, with why-chains"
"$provenix" --store "$store" sources --why "$drv"

step "provenix verify: .drv and output paths recomputed, contents rehashed, hygiene"
"$provenix" --store "$store" verify "$drv"

step "provenix equiv: the xz-style case (the release tarball = the git tag plus one m4 file nobody reviewed)"
# libgreet's upstream repository, made here from its tarball and tagged v1.2; the "release" is that
# tag plus m4/build-to-host.m4, as xz 5.6.0/5.6.1's tarballs were. equiv names the file (a warning,
# unknown-build-file: it matches no known copy of a gnulib/autoconf-archive/automake file).
xz=$work/xz-style
mkdir -p "$xz/release"
tar -xzf "$tarballs/libgreet-1.2.tar.gz" -C "$xz"
gitx() { git -C "$xz/libgreet-1.2" -c user.name=example -c user.email=example@example.invalid "$@"; }
gitx init -q && gitx add -A && gitx commit -qm "libgreet 1.2" && gitx tag v1.2
gitx archive --prefix=libgreet-1.2/ v1.2 | tar -x -C "$xz/release"
mkdir -p "$xz/release/libgreet-1.2/m4"
printf '# build-to-host.m4 serial 30\nAC_DEFUN([gl_BUILD_TO_HOST], [eval $gl_[$1]_prefix])\n' \
  > "$xz/release/libgreet-1.2/m4/build-to-host.m4"
tar -czf "$xz/libgreet-1.2-release.tar.gz" -C "$xz/release" libgreet-1.2
"$provenix" equiv "$xz/libgreet-1.2-release.tar.gz" "$xz/libgreet-1.2"
set +e
"$provenix" equiv --fail-on warning "$xz/libgreet-1.2-release.tar.gz" "$xz/libgreet-1.2" >/dev/null
status=$?
set -e
[ "$status" = 1 ] || { echo "expected exit 1 from equiv --fail-on warning, got $status" >&2; exit 1; }
echo "   (exit 1 with --fail-on warning, as expected)"

step "provenix sbom: CycloneDX 1.6 (build closure) and SPDX 2.3 (runtime closure), hashes, sources, patches, graph"
"$provenix" --store "$store" sbom "$drv" --format cyclonedx --identities examples/pipeline/identities.toml \
  -o "$work/greeter.cdx.json"
"$provenix" --store "$store" sbom "$drv" --format spdx --runtime --identities examples/pipeline/identities.toml \
  -o "$work/greeter.spdx.json"

step "provenix vulns: the closure against NVD 2.0 data (examples/pipeline/vulndb), offline"
vulns=("$provenix" --store "$store" vulns "$drv" --vuln-db examples/pipeline/vulndb --index "$work/vulns-index.sqlite"
       --identities examples/pipeline/identities.toml)
set +e
"${vulns[@]}"
status=$?
set -e
[ "$status" = 1 ] || { echo "expected exit 1 (vulnerable) from vulns, got $status" >&2; exit 1; }

step "provenix vulns with the team's whitelist (accepted, with a reason and an expiry), and SARIF"
"${vulns[@]}" --whitelist examples/pipeline/whitelist.toml --sarif "$work/greeter.sarif"

step "provenix vulns --sbom: the CycloneDX SBOM written above, scanned with the same engine and whitelist"
"$provenix" vulns --sbom "$work/greeter.cdx.json" --vuln-db examples/pipeline/vulndb --index "$work/vulns-index.sqlite" \
  --whitelist examples/pipeline/whitelist.toml --max-data-age 0

step "provenix key generate: a release key and an independent rebuilder's key"
"$provenix" key generate release-1 --secret-out "$work/release.sec" --public-out "$work/release.pub" 2>/dev/null
"$provenix" key generate rebuilder-1 --secret-out "$work/rebuilder.sec" --public-out "$work/rebuilder.pub" 2>/dev/null
echo "   release:   $(cat "$work/release.pub")"
echo "   rebuilder: $(cat "$work/rebuilder.pub")"

step "provenix bundle: the source-only closure as one signed archive"
"$provenix" --store "$store" bundle "$drv" -o "$work/greeter.bundle.tar" --sign-key "$work/release.sec"

step "provenix doctor: can this machine's Nix rebuild in its sandbox? (as configured; exit 1 names the fixes)"
set +e
"$provenix" doctor
status=$?
set -e
echo "   (doctor exited $status)"
step "provenix doctor with the options the rebuild below passes"
"$provenix" doctor "${rebuildopts[@]}"

step "provenix rebuild: check every byte, import into a fresh store, build with the network cut off"
"$provenix" rebuild "$work/greeter.bundle.tar" --trust-key "$work/release.pub" \
  --work-dir "$work/rebuild" "${rebuildopts[@]}" \
  --attest-key "$work/rebuilder.sec" -o "$work/greeter.rebuild.dsse.json"

step "provenix attest verify: the rebuilder's signed in-toto/SLSA provenance, gated on an identical rebuild"
"$provenix" attest verify "$work/greeter.rebuild.dsse.json" --trust-key "$work/rebuilder.pub" \
  --require-verdict identical --artifact "$work/rebuild/store$out"

step "the same with one package made non-reproducible (--arg nonReproducible true)"
nr_store=$work/store-nr
nr_out=$(nix-build --store "$nr_store" "${nixopts[@]}" --option extra-sandbox-paths "$tarballs" --no-out-link \
          examples/pipeline --argstr tarballs "$tarballs" --arg nonReproducible true 2>"$work/nix-build-nr.log")
nr_drv=$(nix-instantiate --store "$nr_store" "${nixopts[@]}" examples/pipeline --argstr tarballs "$tarballs" \
          --arg nonReproducible true 2>/dev/null)
"$provenix" --store "$nr_store" -q bundle "$nr_drv" -o "$work/greeter-nr.bundle.tar" --sign-key "$work/release.sec" >/dev/null
set +e
"$provenix" rebuild "$work/greeter-nr.bundle.tar" --trust-key "$work/release.pub" \
  --work-dir "$work/rebuild-nr" "${rebuildopts[@]}"
status=$?
set -e
[ "$status" = 1 ] || { echo "expected exit 1 (differs) from the non-reproducible rebuild, got $status" >&2; exit 1; }

step "provenix diff-output: what differs between the shipped and the rebuilt output"
set +e
"$provenix" --store "$nr_store" diff-output --no-diffoscope "$nr_out" "$work/rebuild-nr/store$nr_out"
status=$?
set -e
[ "$status" = 1 ] || { echo "expected exit 1 (differs) from diff-output, got $status" >&2; exit 1; }

step "provenix serve: a rebuild transparency log on 127.0.0.1 (a fresh SQLite file, a free port)"
"$provenix" key generate log.example --secret-out "$work/log.sec" --public-out "$work/log.pub" >/dev/null 2>&1
{ cat "$work/release.pub"; echo; cat "$work/rebuilder.pub"; echo; } > "$work/builders"
"$provenix" serve --db "sqlite:$work/log.sqlite" --listen 127.0.0.1:0 --log-key "$work/log.sec" \
  --builders "$work/builders" 2>"$work/serve.log" &
serve_pid=$!
trap 'kill "$serve_pid" 2>/dev/null || true' EXIT
url=
for _ in $(seq 100); do
  url=$(sed -n 's/^provenix serve: listening on //p' "$work/serve.log")
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || { echo "provenix serve did not start:" >&2; cat "$work/serve.log" >&2; exit 1; }
echo "   $url, log key $(cat "$work/log.pub")"
report=("$provenix" report --server "$url" --trust-log-key "$work/log.pub")

step "provenix report: the shipped build (release-1) and the offline rebuild's attestation (rebuilder-1)"
"$provenix" --store "$store" "${report[@]:1}" --key "$work/release.sec" --path "$out"
"${report[@]}" --key "$work/rebuilder.sec" "$work/greeter.rebuild.dsse.json"

step "provenix report: the non-reproducible variant, shipped and rebuilt: the second report DIFFERS"
"$provenix" --store "$nr_store" "${report[@]:1}" --key "$work/release.sec" --path "$nr_out"
"$provenix" --store "$work/rebuild-nr/store" "${report[@]:1}" --key "$work/rebuilder.sec" --path "$nr_out"

step "provenix log show: the verdicts"
"$provenix" log show "$out" --server "$url"
"$provenix" log show "$nr_out" --server "$url"
verdict=$("$provenix" --json log show "$out" --server "$url" | jq -r .verdict)
nr_verdict=$("$provenix" --json log show "$nr_out" --server "$url" | jq -r .verdict)
[ "$verdict" = reproduced ] && [ "$nr_verdict" = disputed ] ||
  { echo "expected reproduced and disputed, got $verdict and $nr_verdict" >&2; exit 1; }
kill "$serve_pid" && wait "$serve_pid" 2>/dev/null || true
trap - EXIT

step "a version bump (--arg bump true: wordstat 0.4 -> 0.5, which fixes CVE-2024-0001 upstream): provenix diff"
bump_drv=$(nix-instantiate --store "$store" "${nixopts[@]}" examples/pipeline --argstr tarballs "$tarballs" \
            --arg bump true 2>/dev/null)
set +e
"$provenix" --store "$store" diff "$drv" "$bump_drv"
status=$?
set -e
[ "$status" = 1 ] || { echo "expected exit 1 (differs) from diff, got $status" >&2; exit 1; }

step "the review gate on the bump: two independent reviewers per source (docs/review.md)"
"$provenix" key generate alice-1 --secret-out "$work/alice.sec" --public-out "$work/alice.pub" 2>/dev/null
"$provenix" key generate bob-1 --secret-out "$work/bob.sec" --public-out "$work/bob.pub" 2>/dev/null
cat > "$work/review-policy.toml" <<EOF
[require]
reviewers = 2        # independent: distinct groups
level = "medium"
delta = true         # a delta review from a fully reviewed version counts

[[rule]]
kinds = ["patch"]
level = "high"

[[reviewer]]
name = "alice"
group = "acme"
keys = ["$(cat "$work/alice.pub")"]

[[reviewer]]
name = "bob"
group = "globex"
keys = ["$(cat "$work/bob.pub")"]
EOF
mkdir -p "$work/reviews"
gate=("$provenix" --store "$store" policy check "$bump_drv" --policy "$work/review-policy.toml" --reviews "$work/reviews")
set +e
"${gate[@]}"
status=$?
set -e
[ "$status" = 1 ] || { echo "expected exit 1 (not met) from policy check without reviews, got $status" >&2; exit 1; }

step "alice and bob review: 1.0's sources in full, then only the change to wordstat 0.5 (a delta review)"
fod() { "$provenix" --store "$store" --json sources "$1" | jq -r --arg n "$2" '.sources[] | select(.name == $n) | .drvPath'; }
for who in alice bob; do
  for name in libgreet-1.2.tar.gz greeter-1.0.tar.gz wordstat-0.4.tar.gz; do
    "$provenix" --store "$store" -q review sign "$(fod "$drv" "$name")" --key "$work/$who.sec" \
      --level high --understanding medium --comment "read in full" -o "$work/reviews/$who-$name.json"
  done
  "$provenix" --store "$store" -q review sign "$(fod "$bump_drv" wordstat-0.5.tar.gz)" --key "$work/$who.sec" \
    --level high --understanding high --diff-from "$(fod "$drv" wordstat-0.4.tar.gz)" \
    --comment "0.4 -> 0.5: the CVE-2024-0001 fix, as in our patch" -o "$work/reviews/$who-wordstat-0.5.json"
done
"$provenix" --store "$store" review list "$bump_drv" --reviews "$work/reviews" \
  --trust-key "$work/alice.pub" --trust-key "$work/bob.pub"

step "the gate again: met (exit 0), and SARIF for code scanning"
"${gate[@]}" --sarif "$work/review-gate.sarif"

step "summary"
report=$("$provenix" --json attest verify "$work/greeter.rebuild.dsse.json" --trust-key "$work/rebuilder.pub")
sources=$("$provenix" --store "$store" --json sources "$drv" | jq '.sources | length')
cat <<EOF
   root:         $drv
   sources:      $sources fixed-output derivations, verified, bundled in $(du -h "$work/greeter.bundle.tar" | cut -f1) ($work/greeter.bundle.tar)
   bundle:       manifest signed by $(cut -d: -f1 "$work/release.pub")
   rebuild:      offline, fresh store $work/rebuild/store: $(echo "$report" | jq -r '[.statement.predicate.runDetails.byproducts[]? | select(.annotations.verdict) | .annotations.verdict] | group_by(.) | map("\(length) \(.[0])") | join(", ")') outputs
   sbom:         $work/greeter.cdx.json ($(jq '.components | length' "$work/greeter.cdx.json") components), $work/greeter.spdx.json ($(jq '.packages | length' "$work/greeter.spdx.json") runtime packages)
   vulns:        $("${vulns[@]}" --json --whitelist examples/pipeline/whitelist.toml | jq -r '"\(.findings | length) open, \(.patched | length) patched, \(.whitelisted | length) whitelisted"'); SARIF in $work/greeter.sarif
   attestation:  $work/greeter.rebuild.dsse.json, signed by $(echo "$report" | jq -r '.signers | join(", ")'), verifies
   variant:      nonReproducible=true rebuild differs, as expected; diff-output names the file
   log:          provenix serve on $url: the build and its rebuild $verdict, the variant $nr_verdict ($work/log.sqlite)
   bump:         diff of wordstat 0.4 -> 0.5; review gate not met without reviews, met after alice's and bob's ($(ls "$work/reviews" | wc -l) records); SARIF in $work/review-gate.sarif
   equiv:        the xz-style release tarball's m4/build-to-host.m4 named as tarball-only-file (unknown-build-file)
EOF
echo "OK: the pipeline ran end to end."
