#!/bin/sh
# ike-msgid.sh: build and run the IKE msgid record benchmark; writes bench/results/ike-msgid.json (figures, never pass/fail).
set -eu
cd "$(dirname "$0")/.."

N=${N:-200000}
make -s all

# The Makefile's own warning flags and packages, so the bench builds like the daemon.
WARN=$(sed -n '/^WARN[[:space:]]*:=/,/[^\\]$/p' Makefile | sed 's/^WARN[[:space:]]*:=//; s/\\$//' | tr -s ' \t\n' ' ')
PKGS=$(sed -n 's/^PKGS[[:space:]]*:=//p' Makefile)
if pkg-config --exists libsystemd 2>/dev/null; then
	PKGS="$PKGS libsystemd"
fi

mkdir -p build/bench bench/results
# shellcheck disable=SC2086 # word splitting of flag lists is wanted
cc $WARN -O2 -g -D_GNU_SOURCE -Iagent $(pkg-config --cflags $PKGS) \
	-o build/bench/ike_msgid_bench bench/ike_msgid_bench.c build/libhasync.a $(pkg-config --libs $PKGS)
build/bench/ike_msgid_bench "$N" > bench/results/ike-msgid.json
echo "wrote bench/results/ike-msgid.json"
