#!/bin/sh
# cache.sh: build and run the standby cache benchmark for 10,000 and 100,000 SAs; writes bench/results/cache.json (figures, never pass/fail).
set -eu
cd "$(dirname "$0")/.."

SIZES=${SIZES:-"10000 100000"}
make -s all

mkdir -p bench/results
make -s build/bench/cache_bench

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
