#!/usr/bin/env bash
# Installs what provenix's tests and examples need on Debian (run as root):
# Nix 2.8 (Debian's nix-bin), busybox-static (the sandbox's /bin/sh), jq and
# hyperfine (benchmarks), xz-utils, openssl (a second ed25519 implementation that
# cross-checks attestation signatures), diffoscope-minimal (`diff-output`; without
# recommends it is three small packages, about 1 MB), python3-venv (the SBOM
# validators below). Rust itself comes from rustup (edition 2024, Rust >= 1.85).
set -euo pipefail

need=()
command -v nix-store >/dev/null 2>&1 || need+=(nix-bin)
[ -x /bin/busybox ] || need+=(busybox-static)
command -v jq >/dev/null 2>&1 || need+=(jq)
command -v hyperfine >/dev/null 2>&1 || need+=(hyperfine)
command -v xz >/dev/null 2>&1 || need+=(xz-utils)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v diffoscope >/dev/null 2>&1 || need+=(diffoscope-minimal)
/usr/bin/python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need+=(python3-venv)
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

# SBOM validators for the sbom tests (crates/provenix-cli/tests/sbom_validate.py), pinned, in a venv
# at a fixed place (PROVENIX_SBOM_VENV overrides it for the tests): cyclonedx-python-lib (CycloneDX's
# own validator, bundling the official 1.6 schema), spdx-tools (SPDX's own parser and validator),
# jsonschema, and lib4sbom only for the official SPDX 2.3 JSON schema file it ships (its code never runs).
# Skipped when the venv already holds exactly these pins and they import.
venv=${PROVENIX_SBOM_VENV:-/opt/provenix/venv}
pins="cyclonedx-python-lib[json-validation]==11.12.0 spdx-tools==0.8.5 jsonschema[format-nongpl]==4.26.0"
pins_nodeps="lib4sbom==0.10.4"
stamp="$venv/provenix-pins.txt"
if [ "$(cat "$stamp" 2>/dev/null)" != "$pins $pins_nodeps" ] ||
  ! "$venv/bin/python" -c 'import cyclonedx.validation.json, spdx_tools.spdx.validation, jsonschema, importlib.util as u; assert u.find_spec("lib4sbom")' 2>/dev/null; then
  echo "install-deps: creating the SBOM validator venv in $venv" >&2
  rm -rf "$venv"
  /usr/bin/python3 -m venv "$venv"
  # shellcheck disable=SC2086
  "$venv/bin/pip" install -q --disable-pip-version-check $pins
  # shellcheck disable=SC2086
  "$venv/bin/pip" install -q --disable-pip-version-check --no-deps $pins_nodeps
  echo "$pins $pins_nodeps" >"$stamp"
fi

# Nix's single-user mode as root needs its state directory.
mkdir -p /nix/var/nix
nix-store --version >&2
