#!/bin/sh
# codec.sh: build and run the codec benchmark; writes bench/results/codec.json (figures, never pass/fail).
set -eu
cd "$(dirname "$0")/.."

N=${N:-100000}
make -s all

mkdir -p bench/results
make -s build/bench/codec_bench
build/bench/codec_bench "$N" > bench/results/codec.json
echo "wrote bench/results/codec.json"
