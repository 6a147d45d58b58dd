#!/usr/bin/env bash
# Installs what provenix's tests and examples need on Debian (run as root):
# Nix 2.8 (Debian's nix-bin), busybox-static (the sandbox's /bin/sh), jq and
# hyperfine (benchmarks), xz-utils, openssl (a second ed25519 implementation that
# cross-checks attestation signatures), diffoscope-minimal (`diff-output`; without
# recommends it is three small packages, about 1 MB). Rust itself comes from
# rustup (edition 2024, Rust >= 1.85).
set -euo pipefail

need=()
command -v nix-store >/dev/null 2>&1 || need+=(nix-bin)
[ -x /bin/busybox ] || need+=(busybox-static)
command -v jq >/dev/null 2>&1 || need+=(jq)
command -v hyperfine >/dev/null 2>&1 || need+=(hyperfine)
command -v xz >/dev/null 2>&1 || need+=(xz-utils)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v diffoscope >/dev/null 2>&1 || need+=(diffoscope-minimal)
if [ ${#need[@]} -gt 0 ]; then
  echo "install-deps: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  if [ -x "$HOME/.cargo/bin/cargo" ]; then
    echo "install-deps: cargo is in ~/.cargo/bin; add it to PATH" >&2
  else
    echo "install-deps: installing Rust with rustup" >&2
    command -v curl >/dev/null 2>&1 || apt-get install -y -qq curl ca-certificates >/dev/null
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal -c clippy,rustfmt
  fi
fi

# Nix's single-user mode as root needs its state directory.
mkdir -p /nix/var/nix
nix-store --version >&2
