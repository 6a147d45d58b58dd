#!/usr/bin/env bash
# Benchmarks provenix against the Nix CLI doing the same job, side by side in
# one run (hyperfine, medians), plus peak memory (GNU time). Results go to
# stdout as Markdown; BENCHMARKS.md records them with the machine.
#
#   bash bench/run.sh [nar|drv|all]
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
what=${1:-all}
work=${BENCH_DIR:-target/bench}
mkdir -p "$work"
cargo build --release --locked -q
provenix=$PWD/target/release/provenix
nixopts=(--option substituters '' --option build-users-group '')

peak_kb() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }

hf() { # name, then commands
  local name=$1; shift
  hyperfine --style basic --warmup 1 --min-runs 5 --export-markdown "$work/$name.md" "$@" >&2
  cat "$work/$name.md"; echo
}

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

bench_drv() {
  local n=${DRV_COUNT:-10000}
  local store=$PWD/$work/store-$n
  local drv
  drv=$(nix-instantiate --store "$store" "${nixopts[@]}" bench/gen-closure.nix --arg n "$n" 2>/dev/null)
  local count; count=$("$provenix" --store "$store" drv show --recursive "$drv" | jq length)
  echo "### \`drv show --recursive\` on a generated closure of $count derivations"; echo
  hf "drv-show-$n" -n "provenix drv show --recursive" "$provenix --store $store drv show --recursive $drv > /dev/null" \
     -n "nix show-derivation -r" "nix --extra-experimental-features nix-command --store $store show-derivation -r $drv > /dev/null"
  echo "Peak RSS: provenix $(peak_kb "$provenix" --store "$store" drv show --recursive "$drv") KB," \
       "nix $(peak_kb nix --extra-experimental-features nix-command --store "$store" show-derivation -r "$drv") KB."; echo
}

echo "Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(nix --version); provenix $(git rev-parse --short HEAD)"; echo
case $what in
  nar) bench_nar ;;
  drv) bench_drv ;;
  all) bench_nar; bench_drv ;;
esac
