#!/usr/bin/env bash
# Load test of `provenix serve`'s log (BENCHMARKS.md, "Log server" and "Log
# server on PostgreSQL"): CONCURRENCY submitters for SECONDS (BATCH reports
# per request; 1 = the single-report endpoint), then PROOF_CLIENTS clients
# asking for inclusion proofs, on a log prefilled with PREFILL entries.
# Usage: bash bench/log_load.sh [CONCURRENCY] [SECONDS] [PREFILL] [BATCH] [PROOF_CLIENTS]
# LOG_LOAD_REPORTS sets how many reports are signed in advance (default 500,000).
# LOG_LOAD_DB=postgres runs on a throwaway PostgreSQL cluster (Debian's
# `postgresql`, started here on 127.0.0.1 with fsync on, as the `postgres` user
# when run as root, and stopped at exit); the default is a SQLite file.
set -euo pipefail
cd "$(dirname "$0")/.."
concurrency="${1:-64}" seconds="${2:-30}" prefill="${3:-1000000}" batch="${4:-1}" proof_clients="${5:-${1:-64}}"
work=target/bench/log-load
rm -rf "$work" && mkdir -p "$work"
cargo build --release -p provenix-server --example log_load
db="$work/log.sqlite"
if [ "${LOG_LOAD_DB:-sqlite}" = postgres ]; then
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
  [ -x "$bin/initdb" ] || { echo "log_load: PostgreSQL is not installed: run scripts/install-deps.sh" >&2; exit 2; }
  cluster=$(mktemp -d /tmp/provenix-bench-pg.XXXXXX)
  as=()
  if [ "$(id -u)" = 0 ]; then chown postgres: "$cluster"; as=(runuser -u postgres --); fi
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "${as[@]}" "$bin/initdb" -D "$cluster/data" --auth=trust --username=postgres --encoding=UTF8 --locale=C >/dev/null
  "${as[@]}" "$bin/pg_ctl" -D "$cluster/data" -l "$cluster/log" -w \
    -o "-h 127.0.0.1 -p $port -k $cluster -c shared_buffers=128MB" start >/dev/null
  trap '"${as[@]}" "$bin/pg_ctl" -D "$cluster/data" -m fast stop >/dev/null; rm -rf "$cluster"' EXIT
  "$bin/psql" -X -q -h 127.0.0.1 -p "$port" -U postgres -c 'CREATE DATABASE log' postgres
  db="postgres://postgres@127.0.0.1:$port/log"
fi
./target/release/examples/log_load "$db" "$concurrency" "$seconds" "$prefill" "$batch" "$proof_clients"
