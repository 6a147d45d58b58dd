#!/bin/sh
# Usage: LIBGREET=DIR WORDSTAT=DIR sh ./install.sh PREFIX
set -e
: "${LIBGREET:?set LIBGREET to the libgreet prefix}"
: "${WORDSTAT:?set WORDSTAT to the wordstat prefix}"
mkdir -p "$1/bin" "$1/share/greeter"
sed -e "s|@libgreet@|$LIBGREET|g" -e "s|@wordstat@|$WORDSTAT|g" bin/greeter.in > "$1/bin/greeter"
chmod 755 "$1/bin/greeter"
cp README "$1/share/greeter/README"
