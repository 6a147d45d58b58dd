#!/usr/bin/env bash
# `provenix equiv` against extract-and-diff on a large real-shaped pair (bench/gen-equiv-pair.py):
# the release as .tar.xz, the VCS tree as a forge-style .tar.gz, and the two ways to compare them:
#   provenix equiv rel.tar.xz vcs.tar.gz
#   tar -xJf rel.tar.xz -C a && tar -xzf vcs.tar.gz -C b && diff -r a b    (into a fresh temp dir)
# Time (hyperfine, mean of >= 3 runs after a warm-up) and peak RSS (GNU time) at two sizes, to show
# that memory does not grow with the bytes. Markdown on stdout.
#
#   bash bench/equiv.sh [FILES MIB]...   (default: 20000 250 and 20000 500)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
work=${BENCH_DIR:-target/bench}/equiv
mkdir -p "$work"
cargo build --release --locked -q -p provenix-cli
provenix=$PWD/target/release/provenix
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(20000 250 20000 500)
peak_kb() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }
extract_diff() { # rel vcs
  local t; t=$(mktemp -d -p "$work")
  mkdir "$t/a" "$t/b"
  tar -xJf "$1" -C "$t/a" && tar -xzf "$2" -C "$t/b"
  diff -r "$t/a/proj-1.0" "$t/b/proj-1.0" >/dev/null || true
  rm -rf "$t"
}
# hyperfine runs each command with bash (-S bash): dash drops exported functions from the environment.
export -f extract_diff
export work
set -- "${sizes[@]}"
while [ $# -ge 2 ]; do
  n=$1 mb=$2; shift 2
  pair=$work/pair-$n-$mb
  if [ ! -f "$pair/rel.tar.xz" ]; then
    rm -rf "$pair" && mkdir -p "$pair"
    python3 bench/gen-equiv-pair.py "$pair" "$n" "$mb"
    XZ_OPT=-T0 tar -cJf "$pair/rel.tar.xz" --sort=name -C "$pair/rel" proj-1.0
    tar -czf "$pair/vcs.tar.gz" --sort=name -C "$pair/vcs" proj-1.0
    rm -rf "$pair/rel" "$pair/vcs"
  fi
  files=$("$provenix" --json equiv "$pair/rel.tar.xz" "$pair/vcs.tar.gz" | jq -r '"\(.archive.files) files, \(.archive.bytes) bytes unpacked (archive); \(.findings | length) findings"')
  echo "### $n files, $mb MiB per side: $files"
  echo "archives: rel.tar.xz $(du -h "$pair/rel.tar.xz" | cut -f1), vcs.tar.gz $(du -h "$pair/vcs.tar.gz" | cut -f1)"
  echo
  hyperfine -S bash --style basic --warmup 1 --min-runs 3 --export-markdown "$work/equiv-$n-$mb.md" \
    -n "provenix equiv" "$provenix equiv $pair/rel.tar.xz $pair/vcs.tar.gz" \
    -n "tar x (both) + diff -r" "bash -c 'extract_diff $pair/rel.tar.xz $pair/vcs.tar.gz'" >&2
  cat "$work/equiv-$n-$mb.md"; echo
  echo "peak RSS: provenix equiv $(peak_kb "$provenix" equiv "$pair/rel.tar.xz" "$pair/vcs.tar.gz") KiB;" \
    "tar -xJf $(peak_kb tar -xJf "$pair/rel.tar.xz" -O) KiB, diff -r (after extraction): see below"
  t=$(mktemp -d -p "$work"); mkdir "$t/a" "$t/b"
  tar -xJf "$pair/rel.tar.xz" -C "$t/a"; tar -xzf "$pair/vcs.tar.gz" -C "$t/b"
  echo "diff -r $(/usr/bin/time -f %M diff -r "$t/a/proj-1.0" "$t/b/proj-1.0" 2>&1 >/dev/null | tail -1) KiB"
  rm -rf "$t"
  echo
done
