#!/usr/bin/env bash
# Benchmarks provenix against the Nix CLI doing the same job, side by side in
# one run (hyperfine, medians), plus peak memory (GNU time). Results go to
# stdout as Markdown; BENCHMARKS.md records them with the machine.
#
#   bash bench/run.sh [nar|drv|sources|rehash|bundle|sbom|vulns|vulnix|diff|policy|all]
#
# Inputs are made under target/bench/ (BENCH_DIR) and kept for the next run.
# sbom, vulns and vulnix say "... not available yet" while the provenix binary
# lacks the command.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
what=${1:-all}
case $what in nar|drv|sources|rehash|bundle|sbom|vulns|vulnix|diff|policy|all) ;; *) echo "usage: bash bench/run.sh [nar|drv|sources|rehash|bundle|sbom|vulns|vulnix|diff|policy|all]" >&2; exit 2 ;; esac
work=${BENCH_DIR:-target/bench}
mkdir -p "$work"
cargo build --release --locked -q -p provenix-cli
provenix=$PWD/target/release/provenix
nixopts=(--option substituters '' --option build-users-group '')
nix=(nix --extra-experimental-features nix-command)

peak_kb() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }

hf() { # name, then commands
  local name=$1; shift
  hyperfine --style basic --warmup 1 --min-runs 5 --export-markdown "$work/$name.md" "$@" >&2
  cat "$work/$name.md"; echo
}

# Like hf, but reports medians (from hyperfine's JSON export, kept as
# $work/NAME.json for median below): warm-up runs, then at least RUNS runs.
hfm() { # name, then commands
  local name=$1; shift
  hyperfine --style basic --warmup "${WARMUP:-2}" --min-runs "${RUNS:-10}" --export-json "$work/$name.json" "$@" >&2
  echo "| Command | Median [ms] | Mean ± σ [ms] | Min [ms] | Max [ms] | Runs | Median ratio |"
  echo "|:---|---:|---:|---:|---:|---:|---:|"
  jq -r '(.results | map(.median) | min) as $best | .results[]
         | [.command, .median, .mean, .stddev, .min, .max, (.times | length), .median / $best] | @tsv' "$work/$name.json" |
    awk -F'\t' '{ gsub(/\|/, "\\|", $1); printf "| `%s` | %.1f | %.1f ± %.1f | %.1f | %.1f | %d | %.2f |\n", $1, $2*1000, $3*1000, $4*1000, $5*1000, $6*1000, $7, $8 }'
  echo
}

median() { jq -r ".results[$2].median" "$work/$1.json"; } # name, index: seconds
# Mean CPU time (user + system) of each command of a hfm run, in ms: on a shared machine the wall
# time depends on the load, the CPU time much less.
cpu() { jq -r '.results[] | "`\(.command)`: \((.user + .system) * 1000 | floor) ms"' "$work/$1.json" | paste -sd ';' | sed 's/;/; /g'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a / b }'; }
# The machine may be shared: how busy it was just before a measurement.
load() { echo "load average $(cut -d' ' -f1-3 /proc/loadavg), CPU idle over 3 s $(vmstat 3 2 | tail -1 | awk '{ print $15 }')%"; }

make_trees() {
  [ -e "$work/trees/.done" ] && return
  rm -rf "$work/trees"; mkdir -p "$work/trees/small" "$work/trees/large"
  # 20,000 files of 1-8 KiB in a 3-level directory tree (~90 MB), some executable, some symlinks.
  python3 - "$work/trees/small" <<'PY'
import os, random, sys
random.seed(42)
root = sys.argv[1]
for i in range(20000):
    d = os.path.join(root, f"d{i % 20}", f"e{i % 200}")
    os.makedirs(d, exist_ok=True)
    p = os.path.join(d, f"file-{i}.dat")
    with open(p, "wb") as f:
        f.write(random.randbytes(random.randint(1024, 8192)))
    if i % 10 == 0:
        os.chmod(p, 0o755)
    if i % 100 == 0:
        os.symlink(f"file-{i}.dat", os.path.join(d, f"link-{i}"))
PY
  # 4 files of 128 MiB each (512 MiB).
  for i in 1 2 3 4; do head -c $((128 << 20)) /dev/urandom > "$work/trees/large/blob$i"; done
  touch "$work/trees/.done"
}

bench_nar() {
  make_trees
  for t in small large; do
    local tree=$work/trees/$t
    local bytes; bytes=$(nix-store --dump "$tree" | wc -c)
    echo "### NAR of tree \`$t\` ($((bytes >> 20)) MiB NAR)"; echo
    [ "$("$provenix" nar hash --base32 "$tree")" = "$(nix-hash --type sha256 --base32 "$tree")" ] || { echo "hash mismatch" >&2; exit 1; }
    hf "nar-hash-$t" -n "provenix nar hash" "$provenix nar hash --base32 $tree" \
                     -n "nix-hash --type sha256" "nix-hash --type sha256 --base32 $tree"
    hf "nar-dump-$t" -n "provenix nar dump" "$provenix nar dump $tree > /dev/null" \
                     -n "nix-store --dump" "nix-store --dump $tree > /dev/null"
    echo "Peak RSS: provenix nar hash $(peak_kb "$provenix" nar hash "$tree") KB," \
         "nix-hash $(peak_kb nix-hash --type sha256 "$tree") KB;" \
         "provenix nar dump $(peak_kb "$provenix" nar dump "$tree") KB," \
         "nix-store --dump $(peak_kb nix-store --dump "$tree") KB."; echo
  done
}

# The generated closure of $1 derivations in the throwaway store $work/store-N:
# sets store and drv. The root .drv path is cached per version of the generator.
closure() {
  local n=$1
  store=$PWD/$work/store-$n
  local cache; cache=$work/store-$n.root-$(sha256sum bench/gen-closure.nix | cut -c1-12)
  if [ -s "$cache" ] && [ -e "$store$(cat "$cache")" ]; then drv=$(cat "$cache"); return; fi
  drv=$(nix-instantiate --store "$store" "${nixopts[@]}" bench/gen-closure.nix --arg n "$n" 2>/dev/null)
  echo "$drv" > "$cache"
}

bench_drv() {
  local n=${DRV_COUNT:-10000} store drv
  closure "$n"
  local count; count=$("$provenix" --store "$store" drv show --recursive "$drv" | jq length)
  echo "### \`drv show --recursive\` on a generated closure of $count derivations"; echo
  hf "drv-show-$n" -n "provenix drv show --recursive" "$provenix --store $store drv show --recursive $drv > /dev/null" \
     -n "nix show-derivation -r" "nix --extra-experimental-features nix-command --store $store show-derivation -r $drv > /dev/null"
  echo "Peak RSS: provenix $(peak_kb "$provenix" --store "$store" drv show --recursive "$drv") KB," \
       "nix $(peak_kb nix --extra-experimental-features nix-command --store "$store" show-derivation -r "$drv") KB."; echo
}

bench_sources() {
  local n=${SOURCES_COUNT:-40000} store drv
  closure "$n"
  local show="${nix[*]} --store $store show-derivation -r $drv"
  # Sanity: both sides find the same FODs (the same .drv paths).
  "$provenix" --store "$store" sources --json "$drv" > "$work/sources.json"
  $show > "$work/show.json"
  jq -f bench/fods.jq "$work/show.json" > "$work/fods.json"
  local derivations fods
  derivations=$(jq .derivations "$work/sources.json")
  fods=$(jq '.sources | length' "$work/sources.json")
  cmp -s <(jq -r '.sources[].drvPath' "$work/sources.json" | sort) <(jq -r '.[].drvPath' "$work/fods.json" | sort) ||
    { echo "FODs differ: provenix $fods, nix | jq $(jq length "$work/fods.json")" >&2; exit 1; }
  echo "### \`sources\` on a generated closure of $derivations derivations ($fods FODs)"; echo
  echo "Both sides find the same $fods FODs. Output: provenix $(($(wc -c < "$work/sources.json") >> 10)) KiB of JSON;" \
       "\`nix show-derivation -r\` $(($(wc -c < "$work/show.json") >> 20)) MiB, which jq (\`bench/fods.jq\`) cuts to $(($(wc -c < "$work/fods.json") >> 10)) KiB."
  echo "Before: $(load)."; echo
  hfm "sources-$n" -n "provenix sources --json" "$provenix --store $store sources --json $drv > /dev/null" \
     -n "nix show-derivation -r | jq -f bench/fods.jq" "$show | jq -f bench/fods.jq > /dev/null" \
     -n "nix show-derivation -r (alone)" "$show > /dev/null"
  hfm "sources-why-$n" -n "provenix sources --why --json" "$provenix --store $store sources --why --json $drv > /dev/null"
  local p w n_kb j_kb
  p=$(peak_kb "$provenix" --store "$store" sources --json "$drv")
  w=$(peak_kb "$provenix" --store "$store" sources --why --json "$drv")
  /usr/bin/time -o "$work/rss-nix" -f %M $show | /usr/bin/time -o "$work/rss-jq" -f %M jq -f bench/fods.jq > /dev/null
  n_kb=$(tail -1 "$work/rss-nix"); j_kb=$(tail -1 "$work/rss-jq")
  local pipe=$n_kb who=nix; [ "$j_kb" -gt "$n_kb" ] && { pipe=$j_kb; who=jq; }
  echo "Peak RSS: provenix sources --json $p KB, with --why $w KB; nix show-derivation -r $n_kb KB, jq $j_kb KB" \
       "(pipeline peak: $who, $pipe KB)."; echo
  local tp tn
  tp=$(median "sources-$n" 0); tn=$(median "sources-$n" 1)
  echo "Medians: provenix $(awk -v t="$tp" 'BEGIN { printf "%.1f", t * 1000 }') ms, nix | jq $(awk -v t="$tn" 'BEGIN { printf "%.1f", t * 1000 }') ms:" \
       "**$(ratio "$tn" "$tp")x faster** (goal 10x); peak memory $(awk -v a="$p" -v b="$pipe" 'BEGIN { printf "%.2f", a / b }') of the pipeline's (goal at most 0.25)."; echo
}

# The generated closure of $1 derivations with one source in a hundred bumped
# (bench/gen-closure.nix --arg bump true), in the same store as `closure $1`: sets bumped.
bumped_closure() {
  local n=$1
  local cache; cache=$work/store-$n.bumped-$(sha256sum bench/gen-closure.nix | cut -c1-12)
  if [ -s "$cache" ] && [ -e "$store$(cat "$cache")" ]; then bumped=$(cat "$cache"); return; fi
  bumped=$(nix-instantiate --store "$store" "${nixopts[@]}" bench/gen-closure.nix --arg n "$n" --arg bump true 2>/dev/null)
  echo "$bumped" > "$cache"
}

# provenix diff of two generated closures that differ in 1% of their sources, against
# `nix show-derivation -r` of both and jq (bench/closure-diff.jq). `nix store diff-closures`
# compares realised output closures (it needs the builds done), and nix-diff is not packaged for
# Debian, so neither runs on these unbuilt closures.
bench_diff() {
  local n=${DIFF_COUNT:-40000} store drv bumped
  closure "$n"
  bumped_closure "$n"
  local show="${nix[*]} --store $store show-derivation -r"
  "$provenix" --store "$store" --json diff "$drv" "$bumped" > "$work/diff.json" || [ $? = 1 ]
  $show "$drv" > "$work/diff-old.json"; $show "$bumped" > "$work/diff-new.json"
  jq -n --slurpfile old "$work/diff-old.json" --slurpfile new "$work/diff-new.json" -f bench/closure-diff.jq > "$work/diff-jq.json"
  local changed jq_changed
  changed=$(jq '.summary.sourcesChanged' "$work/diff.json"); jq_changed=$(jq '.changed | length' "$work/diff-jq.json")
  [ "$changed" = "$jq_changed" ] || { echo "changed sources differ: provenix $changed, nix | jq $jq_changed" >&2; exit 1; }
  echo "### \`diff\` of two generated closures of $(jq .summary.oldDerivations "$work/diff.json") derivations, $(jq .summary.oldSources "$work/diff.json") sources, $changed of them bumped"; echo
  echo "Both sides find the same $changed changed sources (provenix: $(jq .summary.versionChanges "$work/diff.json") version changes among them, $(jq .summary.toReview "$work/diff.json") to review)."
  echo "Before: $(load)."; echo
  hfm "diff-$n" -n "provenix diff --json" "$provenix --store $store --json diff $drv $bumped > /dev/null; test \$? -le 1" \
     -n "nix show-derivation -r (both) | jq -f bench/closure-diff.jq" \
        "$show $drv > $work/o.json && $show $bumped > $work/n.json && jq -n --slurpfile old $work/o.json --slurpfile new $work/n.json -f bench/closure-diff.jq > /dev/null"
  echo "CPU time (user + system, mean): $(cpu "diff-$n")."; echo
  local p
  p=$(peak_kb "$provenix" --store "$store" --json diff "$drv" "$bumped" || true)
  echo "Peak RSS: provenix diff $p KB."; echo
  local tp tn
  tp=$(median "diff-$n" 0); tn=$(median "diff-$n" 1)
  echo "Medians: provenix $(awk -v t="$tp" 'BEGIN { printf "%.1f", t * 1000 }') ms (goal: under 1 s), nix | jq $(awk -v t="$tn" 'BEGIN { printf "%.1f", t * 1000 }') ms: $(ratio "$tn" "$tp")x."; echo
}

# provenix policy check on the generated closure with REVIEW_COUNT (100,000) review records
# by 20 reviewers in 10 groups (bench/gen-reviews.py, signed with python3-cryptography).
bench_policy() {
  local n=${POLICY_COUNT:-40000} count=${REVIEW_COUNT:-100000} store drv
  closure "$n"
  local dir=$work/reviews-$n-$count
  local stamp; stamp=$dir/.done-$(cat bench/gen-reviews.py bench/gen-closure.nix | sha256sum | cut -c1-12)
  if [ ! -e "$stamp" ]; then
    rm -rf "$dir"; mkdir -p "$dir"
    "$provenix" --store "$store" --json sources "$drv" > "$dir/sources.json"
    /usr/bin/time -o "$dir/gen.time" -f '%e %M' python3 bench/gen-reviews.py --sources "$dir/sources.json" --out "$dir" --count "$count" > "$dir/gen.log"
    touch "$stamp"
  fi
  # The cache of signature checks goes under BENCH_DIR, never the user's: the first (warm-up)
  # run fills it, and --no-cache measures the cold case.
  local cache=$PWD/$work/policy-cache
  rm -rf "$cache"
  local check="env XDG_CACHE_HOME=$cache $provenix --store $store --json policy check $drv --policy $dir/policy.toml --reviews $dir/reviews"
  $check > "$work/policy.json" || [ $? = 1 ]
  echo "### \`policy check\` on a generated closure of $n derivations with $count review records"; echo
  echo "Data: \`python3 bench/gen-reviews.py --count $count\` ($(cat "$dir/gen.log"); $(du -sh "$dir/reviews" | cut -f1) in $(find "$dir/reviews" -name '*.json' | wc -l) files)." \
       "Verdicts: $(jq -r '.summary | "\(.sources) sources: \(.reviewed) reviewed, \(.underReviewed) under-reviewed, \(.unreviewed) unreviewed, \(.records) records"' "$work/policy.json")."
  echo "Before: $(load)."; echo
  hfm "policy-$n" -n "provenix policy check --json (signature checks cached)" "$check > /dev/null; test \$? -le 1" \
     -n "provenix policy check --json --no-cache" "$check --no-cache > /dev/null; test \$? -le 1" \
     -n "provenix sources --json (the closure walk alone)" "$provenix --store $store --json sources $drv > /dev/null"
  echo "CPU time (user + system, mean): $(cpu "policy-$n")."; echo
  local p
  p=$(peak_kb $check || true)
  echo "Peak RSS: provenix policy check $p KB."; echo
  echo "Medians: $(awk -v t="$(median "policy-$n" 0)" 'BEGIN { printf "%.1f", t * 1000 }') ms with the signature checks cached," \
       "$(awk -v t="$(median "policy-$n" 1)" 'BEGIN { printf "%.1f", t * 1000 }') ms with --no-cache (goal: under 1 s)."; echo
}

# ~1 GiB of random "sources" (3 of 100+ MiB, 197 of ~4 KiB to ~22 MiB) added to
# the throwaway store $work/rehash/store with `nix-store --add-fixed`, and FODs
# for them (bench/gen-sources.nix) whose outputs are those very paths.
make_sources() {
  local dir=$work/rehash
  local store=$PWD/$dir/store
  if [ ! -e "$dir/.done" ]; then
    rm -rf "$dir"; mkdir -p "$dir/files"
    python3 - > "$dir/sizes.tsv" <<'PY'
import math, random
random.seed(7)
big = [("src-big-1-6.6.tar.xz", 256 << 20), ("src-big-2-15.0.tar.xz", 160 << 20), ("src-big-3-2.41.tar.gz", 112 << 20)]
rest = (1 << 30) - sum(size for _, size in big)
exts = [".tar.gz", ".tar.xz", ".tar.bz2", ".patch", ".zip", ".crate"]
raw = [math.exp(random.uniform(math.log(4 << 10), math.log(24 << 20))) for _ in range(197)]
sizes = [int(r * rest / sum(raw)) for r in raw]
sizes[0] += rest - sum(sizes)
for name, size in big:
    print(name, size, sep="\t")
for i, size in enumerate(sizes):
    ext = exts[i % len(exts)]
    name = f"fix-CVE-2024-{10000 + i}.patch" if ext == ".patch" else f"src-{i}-1.{i % 13}{ext}"
    print(name, size, sep="\t")
PY
    while IFS=$'\t' read -r name size; do head -c "$size" /dev/urandom > "$dir/files/$name"; done < "$dir/sizes.tsv"
    nix-store --store "$store" "${nixopts[@]}" --add-fixed sha256 "$dir"/files/* | sort > "$dir/added"
    (cd "$dir/files" && sha256sum -- *) |
      jq -R -s 'split("\n") | map(select(. != "") | split("  ") | { name: .[1], sha256: .[0] })' > "$dir/manifest.json"
    nix-instantiate --store "$store" "${nixopts[@]}" bench/gen-sources.nix --argstr manifest "$PWD/$dir/manifest.json" 2>/dev/null > "$dir/root"
    rm -rf "$dir/files"
    touch "$dir/.done"
  fi
  # The FODs' outputs are exactly the added paths: realised without building.
  local fods; fods=$(nix-store --store "$store" -q --references "$(cat "$dir/root")" | grep '\.drv$')
  # shellcheck disable=SC2086
  nix-store --store "$store" -q --outputs $fods | sort | cmp -s - "$dir/added" ||
    { echo "the FODs' outputs are not the added paths" >&2; exit 1; }
}

bench_rehash() {
  make_sources
  local dir=$work/rehash store=$PWD/$work/rehash/store root added phys bytes
  root=$(cat "$dir/root")
  mapfile -t added < "$dir/added"
  phys=("${added[@]/#/$store}")
  bytes=$(stat -c %s "${phys[@]}" | awk '{ s += $1 } END { print s }')
  local big; big=$(stat -c %s "${phys[@]}" | awk '$1 >= 100 * 1048576' | wc -l)
  # Sanity: by default provenix compares every source's NAR sha256 with the
  # database and its flat sha256 with the declared hash (both from one read);
  # with --once a source matching its declared sha256 is hashed once (its NAR
  # follows from those bytes; only its size is checked against the database).
  "$provenix" --store "$store" verify "$root" --json > "$work/verify.json"
  jq -e --argjson n "${#added[@]}" '.checked.fodsRehashed == $n and .checked.outputsRehashed == $n
    and all(.findings[]; .severity != "error")' "$work/verify.json" > /dev/null ||
    { echo "provenix verify did not rehash all ${#added[@]} sources cleanly" >&2; exit 1; }
  "$provenix" --store "$store" verify --once "$root" --json > "$work/verify-once.json"
  jq -e --argjson n "${#added[@]}" '.checked.fodsRehashed == $n and .checked.outputsPinned == $n
    and all(.findings[]; .severity != "error")' "$work/verify-once.json" > /dev/null ||
    { echo "provenix verify --once did not pin all ${#added[@]} sources cleanly" >&2; exit 1; }
  echo "### Rehashing ${#added[@]} realised sources ($((bytes >> 20)) MiB; $big of 100+ MiB)"; echo
  echo "Every FOD output is realised (its path is the one \`nix-store --add-fixed\` gave the file)." \
       "provenix verify hashes each source twice from one read (NAR sha256 against the Nix database, flat" \
       "sha256 against the declared hash); with --once, once. Page cache warm (warm-up runs read everything first)."
  echo "Before: $(load)."; echo
  hfm rehash -n "provenix verify --json" "$provenix --store $store verify $root --json > /dev/null" \
     -n "provenix verify --once --json" "$provenix --store $store verify --once $root --json > /dev/null" \
     -n "provenix verify --once --json, 1 thread" "RAYON_NUM_THREADS=1 $provenix --store $store verify --once $root --json > /dev/null" \
     -n "nix-hash --type sha256 --flat" "nix-hash --type sha256 --flat ${phys[*]} > /dev/null" \
     -n "sha256sum" "sha256sum ${phys[*]} > /dev/null" \
     -n "nix-store --verify-path" "nix-store --store $store --verify-path ${added[*]}" \
     -n "nix-store --verify --check-contents" "nix-store --store $store --verify --check-contents 2> /dev/null"
  echo "| Command | Sources MB/s (10^6 B, median) | CPU user+sys [s] | Peak RSS [KB] |"
  echo "|:---|---:|---:|---:|"
  local rss=(
    "$(peak_kb "$provenix" --store "$store" verify "$root" --json)"
    "$(peak_kb "$provenix" --store "$store" verify --once "$root" --json)"
    "$(RAYON_NUM_THREADS=1 peak_kb "$provenix" --store "$store" verify --once "$root" --json)"
    "$(peak_kb nix-hash --type sha256 --flat "${phys[@]}")"
    "$(peak_kb sha256sum "${phys[@]}")"
    "$(peak_kb nix-store --store "$store" --verify-path "${added[@]}")"
    "$(peak_kb nix-store --store "$store" --verify --check-contents)"
  )
  local i=0
  while IFS=$'\t' read -r cmd med cpu; do
    printf '| `%s` | %.0f | %.2f | %s |\n' "$cmd" "$(awk -v b="$bytes" -v t="$med" 'BEGIN { print b / t / 1e6 }')" "$cpu" "${rss[$i]}"
    i=$((i + 1))
  done < <(jq -r '.results[] | [.command, .median, .user + .system] | @tsv' "$work/rehash.json")
  echo
}

# provenix bundle against `nix-store --export` of the same paths (the .drv
# closure and the 200 realised sources of make_sources, 1 GiB), both written
# to a file on the same disk.
bench_bundle() {
  make_sources
  local dir=$work/rehash store=$PWD/$work/rehash/store root out=$PWD/$work/bundle
  root=$(cat "$dir/root")
  mkdir -p "$out"
  "$provenix" --store "$store" bundle "$root" -o "$out/b.tar" --json > "$work/bundle-report.json"
  mapfile -t paths < <(tar -xOf "$out/b.tar" manifest.json | jq -r '.paths[].path')
  # Sanity: the bundle's stream is nix-store --export's, byte for byte.
  nix-store --store "$store" --export "${paths[@]}" > "$out/n.export"
  tar -xOf "$out/b.tar" store.export | cmp -s - "$out/n.export" ||
    { echo "store.export differs from nix-store --export of the same paths" >&2; exit 1; }
  local bytes; bytes=$(stat -c %s "$out/n.export")
  local r=$work/bundle-report.json
  echo "### Bundle: ${#paths[@]} paths ($(jq .derivations "$r") .drv, $(jq .sources "$r") sources), export stream $((bytes >> 20)) MiB"; echo
  echo "Both write a file in $work/bundle (page cache warm). provenix also sizes every path first (lstat only)," \
       "hashes each NAR and compares it with the database, writes the manifest and renames the file into place."
  echo "Before: $(load)."; echo
  hfm bundle -n "provenix bundle" "$provenix --store $store bundle $root -o $out/b.tar > /dev/null" \
     -n "nix-store --export" "nix-store --store $store --export ${paths[*]} > $out/n.export"
  # Memory does not grow with the sources: the same for the smallest source alone.
  local small; small=$(jq -r '.sources | min_by(.narSize // 0) | .drvPath' < <("$provenix" --store "$store" sources "$root" --json))
  mapfile -t small_paths < <("$provenix" --store "$store" bundle "$small" -o "$out/s.tar" --json >/dev/null && tar -xOf "$out/s.tar" manifest.json | jq -r '.paths[].path')
  echo "| Command | MB/s (10^6 B, median) | CPU user+sys [s] | Peak RSS [KB] | Peak RSS [KB], smallest source alone |"
  echo "|:---|---:|---:|---:|---:|"
  local rss=(
    "$(peak_kb "$provenix" --store "$store" bundle "$root" -o "$out/b.tar")"
    "$(peak_kb sh -c "nix-store --store $store --export ${paths[*]} > $out/n.export")"
  )
  local rss_small=(
    "$(peak_kb "$provenix" --store "$store" bundle "$small" -o "$out/s.tar")"
    "$(peak_kb sh -c "nix-store --store $store --export ${small_paths[*]} > $out/s.export")"
  )
  local i=0
  while IFS=$'\t' read -r cmd med cpu; do
    printf '| `%s` | %.0f | %.2f | %s | %s |\n' "$cmd" "$(awk -v b="$bytes" -v t="$med" 'BEGIN { print b / t / 1e6 }')" "$cpu" "${rss[$i]}" "${rss_small[$i]}"
    i=$((i + 1))
  done < <(jq -r '.results[] | [.command, .median, .user + .system] | @tsv' "$work/bundle.json")
  echo
  rm -f "$out/n.export" "$out/s.export"
}

# Whether this provenix has the subcommand $1 (sbom and vulns came with issue 5).
has_cmd() { "$provenix" "$1" --help > /dev/null 2>&1; }

# bench/gen-cves.py's data for the generated closure of $1 derivations:
# CVE_COUNT (default 200,000) NVD 2.0 CVEs plus CVE 5 and OSV records, the
# identity table of the closure's packages and the findings the data is built
# to give. Sets cves (the directory) and cves_stamp; cached per version of
# the generator. The generator's time and peak RSS go to gen-cves.time.
make_cves() {
  local n=$1 count=${CVE_COUNT:-200000}
  cves=$PWD/$work/cves-$n-$count
  cves_stamp=$cves/.done-$(sha256sum bench/gen-cves.py | cut -c1-12)
  [ -e "$cves_stamp" ] && return
  /usr/bin/time -o "$work/gen-cves.time" -f '%e %M' \
    python3 bench/gen-cves.py --out "$cves" --count "$count" --closure-size "$n" > "$work/gen-cves.log"
  touch "$cves_stamp"
}

# provenix sbom (CycloneDX 1.6 and SPDX 2.3, to stdout: `-o /dev/null` would
# rename a temporary file over /dev/null) against `nix show-derivation -r |
# jq -f bench/sbom.jq`, the Nix-CLI way to the same inventory (see there).
bench_sbom() {
  if ! has_cmd sbom; then echo "provenix sbom not available yet."; echo; return; fi
  local n=${SBOM_COUNT:-40000} store drv cves cves_stamp
  closure "$n"
  make_cves "$n"
  local show="${nix[*]} --store $store show-derivation -r $drv"
  local cdx="$provenix --store $store sbom $drv --format cyclonedx --identities $cves/identities.toml"
  local spdx="$provenix --store $store sbom $drv --format spdx --identities $cves/identities.toml"
  $cdx > "$work/sbom.cdx.json"
  $spdx > "$work/sbom.spdx.json"
  $show | jq -f bench/sbom.jq > "$work/sbom.nix.json"
  # Sanity: the formats they claim, and components for every derivation.
  jq -e '.bomFormat == "CycloneDX" and .specVersion == "1.6"' "$work/sbom.cdx.json" > /dev/null ||
    { echo "provenix sbom --format cyclonedx did not write CycloneDX 1.6" >&2; exit 1; }
  jq -e '.spdxVersion == "SPDX-2.3"' "$work/sbom.spdx.json" > /dev/null ||
    { echo "provenix sbom --format spdx did not write SPDX 2.3" >&2; exit 1; }
  local nc pc ps
  nc=$(jq '.components | length' "$work/sbom.nix.json")
  pc=$(jq '.components | length' "$work/sbom.cdx.json")
  ps=$(jq '.packages | length' "$work/sbom.spdx.json")
  [ "$pc" -ge "$nc" ] || echo "warning: provenix's CycloneDX has $pc components for $nc derivations" >&2
  echo "### \`sbom\` on a generated closure of $nc derivations"; echo
  echo "provenix writes CycloneDX 1.6 with $pc components ($(($(wc -c < "$work/sbom.cdx.json") >> 10)) KiB) and SPDX 2.3 with" \
       "$ps packages ($(($(wc -c < "$work/sbom.spdx.json") >> 10)) KiB), with the identity table of \`bench/gen-cves.py\`" \
       "(CPEs for the $(grep -c '^cpe = ' "$cves/identities.toml") packages). The Nix-CLI way to the same inventory is" \
       "\`nix show-derivation -r | jq -f bench/sbom.jq\`: one CycloneDX-shaped component per derivation (name, version," \
       "purl, output paths, a FOD's hash and URLs) and the \`inputDrvs\` graph, $nc components" \
       "($(($(wc -c < "$work/sbom.nix.json") >> 10)) KiB); it has no CPEs, licenses or NAR hashes. Output to /dev/null."
  echo "Before: $(load)."; echo
  hfm "sbom-$n" -n "provenix sbom --format cyclonedx" "$cdx > /dev/null" \
     -n "provenix sbom --format spdx" "$spdx > /dev/null" \
     -n "nix show-derivation -r | jq -f bench/sbom.jq" "$show | jq -f bench/sbom.jq > /dev/null" \
     -n "nix show-derivation -r (alone)" "$show > /dev/null"
  local c s n_kb j_kb
  # shellcheck disable=SC2086
  c=$(peak_kb $cdx)
  # shellcheck disable=SC2086
  s=$(peak_kb $spdx)
  # shellcheck disable=SC2086
  /usr/bin/time -o "$work/rss-nix" -f %M $show | /usr/bin/time -o "$work/rss-jq" -f %M jq -f bench/sbom.jq > /dev/null
  n_kb=$(tail -1 "$work/rss-nix"); j_kb=$(tail -1 "$work/rss-jq")
  echo "Peak RSS: provenix sbom CycloneDX $c KB, SPDX $s KB; nix show-derivation -r $n_kb KB, jq $j_kb KB."; echo
  local tc ts tn
  tc=$(median "sbom-$n" 0); ts=$(median "sbom-$n" 1); tn=$(median "sbom-$n" 2)
  echo "Medians: CycloneDX $(awk -v t="$tc" 'BEGIN { printf "%.1f", t * 1000 }') ms, SPDX $(awk -v t="$ts" 'BEGIN { printf "%.1f", t * 1000 }') ms" \
       "(goal: under 2 s); nix | jq takes $(ratio "$tn" "$tc") and $(ratio "$tn" "$ts") times as long."; echo
}

# provenix vulns on the generated closure against bench/gen-cves.py's data:
# the index is built once (timed alone, one run), then scans use it (hyperfine).
# Where provenix keeps its index is its business: the build run starts with an
# empty XDG_CACHE_HOME and without any file written into the data directory
# after it was generated.
bench_vulns() {
  if ! has_cmd vulns; then echo "provenix vulns not available yet."; echo; return; fi
  local n=${VULNS_COUNT:-40000} store drv cves cves_stamp
  closure "$n"
  make_cves "$n"
  local xdg=$PWD/$work/vulns-cache rc
  local scan="$provenix --store $store vulns $drv --vuln-db $cves/db --identities $cves/identities.toml --json"
  rm -rf "$xdg"; mkdir -p "$xdg"
  find "$cves/db" -mindepth 1 -newer "$cves_stamp" -type f -delete
  find "$cves/db" -mindepth 1 -newer "$cves_stamp" -type d -empty -delete
  set +e
  # shellcheck disable=SC2086
  XDG_CACHE_HOME=$xdg /usr/bin/time -o "$work/vulns-index.time" -f '%e %M' $scan > "$work/vulns.json"
  rc=$?
  set -e
  [ "$rc" -le 1 ] || { echo "provenix vulns failed (exit $rc)" >&2; exit 1; }
  local index; index=$( { find "$cves/db" -mindepth 1 -newer "$cves_stamp" -type f; find "$xdg" -type f; } |
    xargs -r du -cb | tail -1 | cut -f1)
  # Sanity: the (ID, package, version) findings against those the data was built to give.
  # A finding is named by its CVE id with the GHSA/OSV ids of the same vulnerability as aliases; it
  # answers an expected (ID, package) pair when any of its ids is that ID.
  cut -d' ' -f1-3 "$cves/expected.txt" | sort -u > "$work/vulns-expected.txt"
  jq -r '.findings[] | ([.id] + .aliases | join("|")) as $ids | .components[]
         | "\($ids) \(.pname) \(.version)"' "$work/vulns.json" | sort -u > "$work/vulns-found-ids.txt"
  awk 'NR == FNR { want[$0] = 1; next }
       { n = split($1, ids, "|"); hit = ""
         for (i = 1; i <= n; i++) if ((ids[i] " " $2 " " $3) in want) hit = ids[i] " " $2 " " $3
         if (hit != "") print hit > found; else print ids[1] " " $2 " " $3 > unexpected }' \
      found="$work/vulns-found.txt" unexpected="$work/vulns-unexpected.txt" \
      "$work/vulns-expected.txt" "$work/vulns-found-ids.txt"
  touch "$work/vulns-found.txt" "$work/vulns-unexpected.txt"
  sort -u -o "$work/vulns-found.txt" "$work/vulns-found.txt"
  comm -23 "$work/vulns-expected.txt" "$work/vulns-found.txt" > "$work/vulns-missing.txt"
  local gen_s gen_kb db_mb db_files
  read -r gen_s gen_kb < <(tail -1 "$work/gen-cves.time")
  db_mb=$(du -sb "$cves/db" | awk '{ printf "%.0f", $1 / 1e6 }')
  db_files=$(find "$cves/db" -type f | wc -l)
  echo "### \`vulns\` on a generated closure of $n derivations"; echo
  echo "Data: \`python3 bench/gen-cves.py --count ${CVE_COUNT:-200000} --closure-size $n\` ($gen_s s, $gen_kb KB peak RSS):" \
       "$(head -1 "$work/gen-cves.log"); $db_files files, $db_mb MB of JSON. $(grep '^expected' "$work/gen-cves.log")."; echo
  local index_s index_kb
  read -r index_s index_kb < <(tail -1 "$work/vulns-index.time") # after "Command exited with non-zero status 1"
  echo "Index build (first scan, once): $index_s s, peak RSS $index_kb KB;" \
       "index $(awk -v b="${index:-0}" 'BEGIN { printf "%.1f", b / 1048576 }') MiB. Findings: $(wc -l < "$work/vulns-found.txt") (ID, package) pairs, of the" \
       "$(wc -l < "$work/vulns-expected.txt") the data was built to give $(wc -l < "$work/vulns-missing.txt") missing" \
       "($work/vulns-missing.txt) and $(wc -l < "$work/vulns-unexpected.txt") unexpected ($work/vulns-unexpected.txt)."; echo
  echo "Before: $(load)."; echo
  hfm "vulns-$n" -n "provenix vulns --json (index built)" "XDG_CACHE_HOME=$xdg $scan > /dev/null; test \$? -le 1"
  local p
  # shellcheck disable=SC2086
  p=$(XDG_CACHE_HOME=$xdg peak_kb $scan || true)
  echo "Peak RSS: provenix vulns with the index $p KB."; echo
  echo "Median: $(awk -v t="$(median "vulns-$n" 0)" 'BEGIN { printf "%.1f", t * 1000 }') ms (goal: under 2 s once the index exists)."; echo
}

# vulnix 1.10.1 and provenix vulns on the small dataset (bench/vulnix/run.sh).
bench_vulnix() {
  PROVENIX=$provenix BENCH_DIR=$work bash bench/vulnix/run.sh
}

echo "Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(nix --version); provenix $(git rev-parse --short HEAD)"; echo
case $what in
  nar) bench_nar ;;
  drv) bench_drv ;;
  sources) bench_sources ;;
  rehash) bench_rehash ;;
  bundle) bench_bundle ;;
  sbom) bench_sbom ;;
  vulns) bench_vulns ;;
  vulnix) bench_vulnix ;;
  diff) bench_diff ;;
  policy) bench_policy ;;
  all) bench_nar; bench_drv; bench_sources; bench_rehash; bench_bundle; bench_sbom; bench_vulns; bench_vulnix; bench_diff; bench_policy ;;
esac
