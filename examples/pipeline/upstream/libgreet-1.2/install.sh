#!/bin/sh
# Usage: sh ./install.sh PREFIX [DOCDIR]
set -e
prefix=$1
docdir=${2:-$prefix/share/doc/libgreet}
mkdir -p "$prefix/lib" "$docdir"
cp lib/libgreet.sh "$prefix/lib/libgreet.sh"
cp README "$docdir/README"
