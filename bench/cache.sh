#!/bin/sh
# cache.sh: build and run the standby cache benchmark for 10,000 and 100,000 SAs; writes bench/results/cache.json (figures, never pass/fail).
set -eu
cd "$(dirname "$0")/.."

SIZES=${SIZES:-"10000 100000"}
make -s all

# The Makefile's own warning flags and packages, so the bench builds like the daemon.
WARN=$(sed -n '/^WARN[[:space:]]*:=/,/[^\\]$/p' Makefile | sed 's/^WARN[[:space:]]*:=//; s/\\$//' | tr -s ' \t\n' ' ')
PKGS=$(sed -n 's/^PKGS[[:space:]]*:=//p' Makefile)
if pkg-config --exists libsystemd 2>/dev/null; then
	PKGS="$PKGS libsystemd"
fi

mkdir -p build/bench bench/results
# shellcheck disable=SC2086,SC2046 # word splitting of flag lists is wanted
cc $WARN -O2 -g -D_GNU_SOURCE -Iagent $(pkg-config --cflags $PKGS) \
	-o build/bench/cache_bench bench/cache_bench.c build/libhasync.a $(pkg-config --libs $PKGS)

# One process per size, so one size's RSS is not blurred by what the
# allocator kept from another.
out=bench/results/cache.json
{
	printf '{\n  "benchmark": "cache",\n  "cpus_online": %s,\n  "sa_profile": "IPv4 tunnel, rfc4106(gcm(aes)) 288-bit key, ESN window 128",\n  "runs": [\n' "$(getconf _NPROCESSORS_ONLN)"
	sep=""
	for n in $SIZES; do
		run=$(build/bench/cache_bench "$n" | sed 's/^/    /')
		printf '%s%s' "$sep" "$run"
		sep=",
"
	done
	printf '\n  ]\n}\n'
} > "$out.tmp"
mv "$out.tmp" "$out"
cat "$out"
echo "wrote $out"
