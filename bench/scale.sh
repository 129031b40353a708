#!/bin/sh
# scale.sh: the scale scenario as a benchmark (issue 9): N real IKE tunnels taken over in the lab, graceful and crash, and the same N without the agent; writes bench/results/scale-N[-baseline].json (figures, never pass/fail on time).
#   SCALE_SIZES="1000"       tunnel counts, one guest each
#   SCALE_BASELINE_TOO=1     also run each size without the agent (baseline)
#   SCALE_UPDOWN=%disabled   the gateways' updown (default: Libreswan's own script)
#   LAB_REMOTE_DPDDELAY=2s LAB_REMOTE_RETRANSMIT_TIMEOUT=6s   the sites' liveness
#   SCALE_KEEP=1             keep the lab's output directories
set -eu
cd "$(dirname "$0")/.."

SCALE_SIZES=${SCALE_SIZES:-1000}
SCALE_BASELINE_TOO=${SCALE_BASELINE_TOO:-1}
make -s all
mkdir -p build/bench bench/results
keep=
[ "${SCALE_KEEP:-0}" = 1 ] && keep=--keep

run() { # N BASELINE SUFFIX
	# The guest cannot see our environment; it reads this file from the repository.
	{
		printf 'SCALE_TUNNELS=%s\nSCALE_BASELINE=%s\nSCALE_RESULT_SUFFIX=%s\n' "$1" "$2" "$3"
		printf 'SCALE_UPDOWN=%s\n' "${SCALE_UPDOWN:-%disabled}"
		printf 'LAB_REMOTE_DPDDELAY=%s\nLAB_REMOTE_RETRANSMIT_TIMEOUT=%s\n' \
			"${LAB_REMOTE_DPDDELAY:-2s}" "${LAB_REMOTE_RETRANSMIT_TIMEOUT:-6s}"
	} >build/bench/scale.env
	load=$(cut -d' ' -f1-3 /proc/loadavg)
	rm -f "tests/lab/results/scale$3.json"
	status=0
	# Bring-up, two failovers with quiet spells, restarts: about 1 s per tunnel.
	tests/lab/run $keep --timeout $((900 + 3 * $1)) --script bench/lab/scale.lab.sh || status=$?
	res=tests/lab/results/scale$3.json
	if [ ! -s "$res" ]; then
		echo "scale: N=$1 wrote no figures (lab exit $status)" >&2
		return 0
	fi
	jq --arg load "$load" --argjson lab_exit "$status" \
		--arg commit "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
		'{host: {loadavg_at_start: $load, notes: "shared 2-core machine; the guest is one UML process"},
		  commit: $commit, lab_exit: $lab_exit} + .' "$res" >"bench/results/scale$3.json"
	jq -r '"N=\(.tunnels) agent=\(.agent) bring-up \(.bringup_s) s, lab exit \(.lab_exit)",
		(.failovers[] | "  \(.mode): traffic back p50 \(.traffic.p50_ms) ms p99 \(.traffic.p99_ms) ms max \(.traffic.max_ms) ms (\(.traffic.recovered)/\(.traffic.sites)); IKE SAs activated \(.activation.ike_activated) from \(.activation.first_ms) to \(.activation.last_ms) ms; probes \(.liveness.probes) unanswered \(.liveness.unanswered); new IKE SAs \(.new_ike_sas_remote), IKE_SA_INIT \(.ike_sa_init), replay errors \(.replay_errors_remote)"),
		"  restarts: \(.restarts)", "  rss: \(.rss)", "  EXPECTATION FAILED: \(.expectation_failed)"' \
		"bench/results/scale$3.json"
}

for n in $SCALE_SIZES; do
	run "$n" 0 "-$n"
	[ "$SCALE_BASELINE_TOO" = 1 ] && run "$n" 1 "-$n-baseline"
done
rm -f build/bench/scale.env
