#!/bin/sh
# bulk-sync.sh: bulk sync benchmark in the lab (1,000 and 10,000 ESP SAs): kernel floor, live sync, resync after restarts, memory per SA; writes bench/results/bulk-sync.json (figures, never pass/fail).
#   BULK_SIZES="1000 10000"   SA counts, one after the other in one guest
#   BULK_BREAKDOWN=0           skip the runs that say where the live sync's time goes
#   BULK_KEEP=1                keep the lab's output directory (agent logs)
set -eu
cd "$(dirname "$0")/.."

BULK_SIZES=${BULK_SIZES:-"1000 10000"}
BULK_BREAKDOWN=${BULK_BREAKDOWN:-1}
case "$BULK_SIZES$BULK_BREAKDOWN" in
*[!0-9\ ]*) echo "bulk-sync: BULK_SIZES takes numbers, BULK_BREAKDOWN 0 or 1" >&2; exit 2 ;;
esac
make -s all

mkdir -p build/bench bench/results
# The guest cannot see our environment; it reads this file from the repository.
printf 'BULK_SIZES="%s"\nBULK_BREAKDOWN=%s\n' "$BULK_SIZES" "$BULK_BREAKDOWN" >build/bench/bulk-sync.env

keep=
[ "${BULK_KEEP:-0}" = 1 ] && keep=--keep
load=$(cut -d' ' -f1-3 /proc/loadavg)
# The guest's checks say whether every SA arrived; a failed check is
# reported in the JSON (complete: false), it does not stop `make bench`.
rm -f tests/lab/results/bulk-sync.json
status=0
tests/lab/run $keep --timeout 300 --script bench/lab/bulk-sync.lab.sh || status=$?
rm -f build/bench/bulk-sync.env
res=tests/lab/results/bulk-sync.json
if [ ! -s "$res" ]; then
	echo "bulk-sync: the guest wrote no figures (lab exit $status)" >&2
	exit 1
fi

out=bench/results/bulk-sync.json
jq --arg cpu "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)" \
	--argjson cpus "$(getconf _NPROCESSORS_ONLN)" --arg load "$load" \
	--arg host_kernel "$(uname -r)" --argjson lab_exit "$status" \
	--arg commit "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
	--argjson dirty "$(git status --porcelain -- agent 2>/dev/null | wc -l)" \
	'{host: {cpu: $cpu, cpus_online: $cpus, kernel: $host_kernel, loadavg_at_start: $load,
	         notes: "shared development machine; the guest is one UML process"},
	  commit: $commit, agent_files_uncommitted: $dirty, lab_exit: $lab_exit} + .' "$res" >"$out.tmp"
mv "$out.tmp" "$out"
# The headline figures; the rest (breakdown, phases, CPU) is in the file.
jq -c '.runs[] | del(.detail)' "$out"
echo "wrote $out"
