#!/usr/bin/env bash
# Load test of `provenix serve`'s log on SQLite (BENCHMARKS.md, "Log server"):
# CONCURRENCY submitters for SECONDS (BATCH reports per request; 1 = the
# single-report endpoint), then PROOF_CLIENTS clients asking for inclusion
# proofs, on a log prefilled with PREFILL entries.
# Usage: bash bench/log_load.sh [CONCURRENCY] [SECONDS] [PREFILL] [BATCH] [PROOF_CLIENTS]
# LOG_LOAD_REPORTS sets how many reports are signed in advance (default 500,000).
set -euo pipefail
cd "$(dirname "$0")/.."
concurrency="${1:-64}" seconds="${2:-30}" prefill="${3:-1000000}" batch="${4:-1}" proof_clients="${5:-${1:-64}}"
work=target/bench/log-load
rm -rf "$work" && mkdir -p "$work"
cargo build --release -p provenix-server --example log_load
./target/release/examples/log_load "$work/log.sqlite" "$concurrency" "$seconds" "$prefill" "$batch" "$proof_clients"
