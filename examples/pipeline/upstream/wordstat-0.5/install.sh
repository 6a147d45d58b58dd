#!/bin/sh
# Usage: sh ./install.sh PREFIX
set -e
mkdir -p "$1/bin"
cp bin/wordstat "$1/bin/wordstat"
chmod 755 "$1/bin/wordstat"
