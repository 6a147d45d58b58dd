#!/bin/sh
# Makes the "upstream release" tarballs ../tarballs/NAME-VERSION.tar.gz from
# the source trees next to this script, deterministically: entries sorted by
# name, mtime 0, owner and group 0, normalised modes, ustar format, and gzip
# without a name or timestamp (-n).
#
#   sh make-tarballs.sh           rewrite ../tarballs/*.tar.gz, print sha256s
#   sh make-tarballs.sh --check   remake into a temporary directory and compare
#                                 with the committed tarballs (exit 1 if any differ)
#
# The sha256 of every tarball is pinned in ../default.nix: after changing a
# source tree, rerun this script and paste the printed hashes there.
#
# Needs GNU tar (for --sort, --mtime, --owner ...) and gzip. Different gzip
# implementations or versions may compress differently, so --check also
# compares the uncompressed tar streams and tells the two cases apart.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
tarballs=$here/../tarballs
packages="libgreet-1.2 wordstat-0.4 wordstat-0.5 greeter-1.0"
export LC_ALL=C TZ=UTC

make_tarball() { # make_tarball PACKAGE OUTFILE
  tar -C "$here" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
      --mode='u+rwX,go+rX,go-w' --format=ustar -cf - "$1" | gzip -n -9 > "$2"
}

case "${1:-}" in
  --check)
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    status=0
    for p in $packages; do
      make_tarball "$p" "$tmp/$p.tar.gz"
      if cmp -s "$tmp/$p.tar.gz" "$tarballs/$p.tar.gz"; then
        echo "ok       $p.tar.gz"
      elif gzip -dc "$tmp/$p.tar.gz" > "$tmp/new.tar" &&
           gzip -dc "$tarballs/$p.tar.gz" > "$tmp/old.tar" 2>/dev/null &&
           cmp -s "$tmp/new.tar" "$tmp/old.tar"; then
        echo "gzip     $p.tar.gz: same tar stream, different gzip bytes (another gzip version?)"
      else
        echo "DIFFERS  $p.tar.gz: the source tree does not match the committed tarball"
        status=1
      fi
    done
    exit $status
    ;;
  "")
    mkdir -p "$tarballs"
    for p in $packages; do
      make_tarball "$p" "$tarballs/$p.tar.gz"
    done
    cd "$tarballs" && sha256sum $(for p in $packages; do echo "$p.tar.gz"; done)
    ;;
  *)
    echo "usage: sh make-tarballs.sh [--check]" >&2
    exit 2
    ;;
esac
