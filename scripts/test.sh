#!/usr/bin/env bash
# The whole test suite: formatting, lints, and every test, including the
# conformance tests that run real Nix in throwaway stores.
set -euo pipefail
cd "$(dirname "$0")/.."
export PROVENIX_REQUIRE_NIX="${PROVENIX_REQUIRE_NIX:-1}"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
