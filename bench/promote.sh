#!/bin/sh
# promote.sh: promotion benchmark in the lab (1,000 and 10,000 held ESP SAs into an empty kernel) against ip -batch adding the same SAs, and demotion; writes bench/results/promote.json (figures, never pass/fail).
#   PROMOTE_SIZES="1000 10000"   SA counts, one after the other in one guest
#   PROMOTE_REPEAT=3             runs per size (medians are reported)
#   PROMOTE_KEEP=1               keep the lab's output directory
set -eu
cd "$(dirname "$0")/.."

PROMOTE_SIZES=${PROMOTE_SIZES:-"1000 10000"}
PROMOTE_REPEAT=${PROMOTE_REPEAT:-3}
make -s all

mkdir -p build/bench bench/results
# The guest cannot see our environment; it reads this file from the repository.
printf 'PROMOTE_SIZES="%s"\nPROMOTE_REPEAT=%s\n' "$PROMOTE_SIZES" "$PROMOTE_REPEAT" >build/bench/promote.env

keep=
[ "${PROMOTE_KEEP:-0}" = 1 ] && keep=--keep
load=$(cut -d' ' -f1-3 /proc/loadavg)
rm -f tests/lab/results/promote.json
status=0
tests/lab/run $keep --timeout 300 --script bench/lab/promote.lab.sh || status=$?
rm -f build/bench/promote.env
res=tests/lab/results/promote.json
if [ ! -s "$res" ]; then
	echo "promote: the guest wrote no figures (lab exit $status)" >&2
	exit 1
fi

out=bench/results/promote.json
jq --arg cpu "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)" \
	--argjson cpus "$(getconf _NPROCESSORS_ONLN)" --arg load "$load" \
	--arg host_kernel "$(uname -r)" --argjson lab_exit "$status" \
	--arg commit "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
	'{host: {cpu: $cpu, cpus_online: $cpus, kernel: $host_kernel, loadavg_at_start: $load,
	         notes: "shared development machine; the guest is one UML process"},
	  commit: $commit, lab_exit: $lab_exit} + .' "$res" >"$out.tmp"
mv "$out.tmp" "$out"
jq -r '.runs[] | "n=\(.n): ip -batch \(.ip_batch_ms) ms, promotion \(.promote_ms) ms (\(.promote_us_per_sa) us/SA, \(.promote_vs_ip_batch)x ip -batch, requests built in \(.build_requests_ms) ms), demotion \(.demote_ms) ms, ip flush \(.ip_flush_ms) ms, complete \(.complete)"' "$out"
jq -r '.full[]? | "n=\(.n) with \(.policies) policies and \(.routes) routes: ip -batch \(.ip_batch_ms) ms, promotion \(.promote_ms) ms (SAs \(.promote_sas_ms), policies \(.promote_policies_ms), routes \(.promote_routes_ms) ms), demotion \(.demote_ms) ms, complete \(.complete)"' "$out"
echo "wrote $out"
