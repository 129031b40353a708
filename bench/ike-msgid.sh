#!/bin/sh
# ike-msgid.sh: build and run the IKE msgid record benchmark; writes bench/results/ike-msgid.json (figures, never pass/fail).
set -eu
cd "$(dirname "$0")/.."

N=${N:-200000}
make -s all

mkdir -p bench/results
make -s build/bench/ike_msgid_bench
build/bench/ike_msgid_bench "$N" > bench/results/ike-msgid.json
echo "wrote bench/results/ike-msgid.json"
