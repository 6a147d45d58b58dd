#!/usr/bin/env bash
# What `provenix report --post-build-hook` adds to a Nix build (BENCHMARKS.md, "Post-build hook"):
# N builds of small, distinct derivations in a throwaway store, sandboxed, with no hook, with the hook
# and `provenix serve` up on 127.0.0.1, and with the hook and the server down (reports spooled).
# Prints the mean wall time per nix-build and the hook's own "done in" times.
# Usage: bash bench/report_hook.sh [N]   (PROVENIX=path/to/provenix to skip the release build)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
n="${1:-20}"
if [ -z "${PROVENIX:-}" ]; then
  cargo build --release --locked -q -p provenix-cli
  PROVENIX=$PWD/target/release/provenix
fi
work=$PWD/target/bench/report-hook
rm -rf "$work" && mkdir -p "$work"
store=$work/store
nixopts=(--option sandbox true --option sandbox-paths /bin/sh=/bin/busybox
         --option substituters '' --option build-users-group '')

"$PROVENIX" key generate bench-builder --secret-out "$work/builder.sec" --public-out "$work/builder.pub" >/dev/null 2>&1
"$PROVENIX" key generate bench-log --secret-out "$work/log.sec" --public-out "$work/log.pub" >/dev/null 2>&1
"$PROVENIX" serve --db "sqlite:$work/log.sqlite" --listen 127.0.0.1:0 --log-key "$work/log.sec" \
  --builders "$work/builder.pub" 2>"$work/serve.log" &
serve_pid=$!
trap 'kill "$serve_pid" 2>/dev/null || true' EXIT
url=
for _ in $(seq 100); do
  url=$(sed -n 's/^provenix serve: listening on //p' "$work/serve.log")
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || { cat "$work/serve.log" >&2; exit 1; }
dead=http://127.0.0.1:9   # discard port: nothing listens

hook() {  # hook URL: a wrapper as docs/log.md shows
  cat > "$work/hook" <<EOF
#!/bin/sh
exec $PROVENIX report --post-build-hook --server $1 --key $work/builder.sec --trust-log-key $work/log.pub --spool $work/spool
EOF
  chmod +x "$work/hook"
}

# mode NAME [HOOK_OPTION...]: N builds, mean ms per build.
run() {
  local name=$1; shift
  : > "$work/$name.log"
  local start end
  start=$(date +%s%N)
  for i in $(seq "$n"); do
    printf 'derivation { name = "bench-%s-%s"; system = builtins.currentSystem; builder = "/bin/sh"; args = ["-c" "echo %s > $out"]; }\n' \
      "$name" "$i" "$i" > "$work/d.nix"
    nix-build --store "$store" "${nixopts[@]}" "$@" --no-out-link "$work/d.nix" >/dev/null 2>>"$work/$name.log"
  done
  end=$(date +%s%N)
  local hook_ms
  hook_ms=$(sed -n 's/.*provenix report: done in \([0-9]*\) ms/\1/p' "$work/$name.log" | sort -n |
            awk '{a[NR]=$1} END {if (NR) printf "hook median %d ms, max %d ms", a[int((NR+1)/2)], a[NR]; else printf "no hook"}')
  printf '%-12s %4d builds  %6.1f ms per nix-build  (%s)\n' "$name" "$n" "$(( (end - start) / n ))e-6" "$hook_ms"
}

run no-hook
hook "$url"
run server-up --option post-build-hook "$work/hook"
hook "$dead"
run server-down --option post-build-hook "$work/hook"
echo "spooled while down: $(ls "$work/spool"/*.entry 2>/dev/null | wc -l)"
hook "$url"
"$PROVENIX" report --flush --server "$url" --spool "$work/spool" --trust-log-key "$work/log.pub" >/dev/null
echo "left after --flush: $(ls "$work/spool"/*.entry 2>/dev/null | wc -l)"
