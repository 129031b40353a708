# bulk-sync.lab.sh: the guest half of bench/bulk-sync.sh: the kernel's insert rate for N ESP SAs, their live sync to gw2, bulk resyncs after either agent restarts, memory per SA, and where the time goes.
#
# Run by tests/lab/run --script (lib.sh sourced, as root in a fresh guest).
# Figures, never pass/fail on time: the checks only say whether the SAs
# arrived whole. Results go to results/bulk-sync.json. bench/bulk-sync.sh
# may leave build/bench/bulk-sync.env to set BULK_SIZES and BULK_BREAKDOWN.

BULK_SIZES="1000 10000"
BULK_BREAKDOWN=1	# also the batch with gw1's agent alone, and with both but no polling
ENV_FILE=$LAB_SRC/build/bench/bulk-sync.env
# shellcheck disable=SC1090
[ -f "$ENV_FILE" ] && . "$ENV_FILE"

POLL_S=0.05
BD=$LAB_RUN/bulk
mkdir -p "$BD"
HZ=$(getconf CLK_TCK)

# Microseconds since the epoch without a fork: the timing loops call it often.
now_us() { NOW_US=${EPOCHREALTIME/./}; }
ms_since() { echo $(( ($2 - $1) / 1000 )); }

# ---------------------------------------------------------------- the SAs

# gen N FIRST_SPI BATCH EXPECTED: ip -batch lines adding N tunnel-mode ESP
# SAs, alternately out of the VIP (even i) and into it (odd i), one remote
# peer address per pair (100.64.0.0/10), distinct SPIs and keys, AES-GCM
# with a 160-bit key (128 + salt), ESN with a 128-packet window; EXPECTED
# gets "spi key_sha256_8" per SA, sorted, as held_sas prints them.
gen() {
	perl -MDigest::SHA=sha256,sha256_hex -e '
		my ($n, $base, $vip, $batch, $exp) = @ARGV;
		open(my $b, ">", $batch) or die "$batch: $!";
		open(my $e, ">", $exp) or die "$exp: $!";
		for my $i (0 .. $n - 1) {
			my $spi = $base + $i;
			my $t = int($i / 2);
			my $peer = sprintf("100.64.%d.%d", $t >> 8, $t & 255);
			my ($src, $dst) = $i % 2 ? ($peer, $vip) : ($vip, $peer);
			my $key = substr(sha256("bulk-sync $n $i"), 0, 20);
			printf $b "xfrm state add src %s dst %s proto esp spi 0x%08x reqid %d mode tunnel " .
				"flag esn replay-window 128 aead rfc4106(gcm(aes)) 0x%s 128\n",
				$src, $dst, $spi, 10000 + $t, unpack("H*", $key);
			printf $e "%08x %s\n", $spi, substr(sha256_hex($key), 0, 8);
		}' "$1" "$2" "$VIP_OUT" "$3" "$4.unsorted"
	sort "$4.unsorted" >"$4"
	rm -f "$4.unsorted"
}

kernel_count() { in_ns "$1" ip xfrm state count | awk '{print $NF}'; }

# batch_bg FILE: the batch on gw1 in the background (BATCH_PID); when it
# ends, its end time and the CPU time of ip go to $BD/batch-end.
batch_bg() {
	(
		in_ns gw1 ip -batch "$1"
		end=${EPOCHREALTIME/./}
		times >"$BD/batch-times"
		echo "$end $(children_ms "$BD/batch-times")" >"$BD/batch-end"
	) &
	BATCH_PID=$!
}

# ---------------------------------------------------------------- agents

# The agents as lib.sh starts them, with each log line stamped with the
# wall clock (ms) so phases can be timed from the logs; no wait here, the
# measurement polls.
agent_start() {
	local host=$1 dir=$LAB_RUN/$1
	in_ns "$host" "$LAB_BIN/hasyncd" -f -c "$dir/hasyncd.conf" 2>&1 </dev/null |
		perl -MTime::HiRes=time -ne 'BEGIN { $| = 1 } printf "%.3f %s", time, $_' \
			>>"$dir/hasyncd.log" &
}

agent_rss_kb() {
	local pid
	pid=$(lab_pid_of "$1" hasyncd) || { echo null; return; }
	awk '$1 == "VmRSS:" {print $2}' "/proc/$pid/status"
}

# CPU time (user + system, ms) a process has used.
pid_cpu_ms() {
	awk -v hz="$HZ" '{sub(/^.*\) /, ""); printf "%d\n", ($12 + $13) * 1000 / hz}' "/proc/$1/stat" 2>/dev/null ||
		echo null
}

# The same for HOST's agent, and how often it went to sleep (voluntary
# context switches: event loop wakeups); null if it is not running.
agent_cpu_ms() {
	local pid
	pid=$(lab_pid_of "$1" hasyncd) || { echo null; return; }
	pid_cpu_ms "$pid"
}
agent_sleeps() {
	local pid
	pid=$(lab_pid_of "$1" hasyncd) || { echo null; return; }
	awk '$1 == "voluntary_ctxt_switches:" {print $2}' "/proc/$pid/status"
}

# children_ms FILE: user + system ms of reaped children in the output of `times`.
children_ms() {
	awk 'function s(t) { split(t, p, "m"); return p[1] * 60 + p[2] }
		NR == 2 { sub(/s$/, "", $1); sub(/s$/, "", $2); printf "%d\n", (s($1) + s($2)) * 1000 }' "$1"
}

# The whole guest's CPU (ms) by kind: user, system, softirq, idle.
cpu_all() {
	awk -v hz="$HZ" '$1 == "cpu" { printf "%d %d %d %d\n", ($2 + $3) * 1000 / hz,
		$4 * 1000 / hz, ($7 + $8) * 1000 / hz, ($5 + $6) * 1000 / hz }' /proc/stat
}

# SCTP counters of a namespace: packets out, data chunks out, packets in.
sctp_snmp() {
	# shellcheck disable=SC2016 # an awk program
	in_ns "$1" awk '$1 == "SctpOutSCTPPacks" {p = $2} $1 == "SctpOutOrderChunks" {o = $2}
		$1 == "SctpOutUnorderChunks" {u = $2} $1 == "SctpInSCTPPacks" {i = $2}
		END {printf "%d %d %d\n", p, o + u, i}' /proc/net/sctp/snmp
}

# cpu_begin / cpu_end: where the CPU went between the two, as JSON in
# CPU_JSON: the guest's busy and idle time, the agents', ip's and the
# poller's (this shell's other children); SCTP packets and data chunks
# each way. Not in a subshell: `times` must be this shell's.
cpu_begin() {
	read -r C0_USER C0_SYS C0_SIRQ C0_IDLE < <(cpu_all)
	C0_GW1=$(agent_cpu_ms gw1)
	C0_GW2=$(agent_cpu_ms gw2)
	W0_GW1=$(agent_sleeps gw1)
	W0_GW2=$(agent_sleeps gw2)
	read -r S0_P1 S0_C1 S0_I1 < <(sctp_snmp gw1)
	read -r S0_P2 S0_C2 _ < <(sctp_snmp gw2)
	times >"$BD/times0"
}
cpu_end() {
	local u s q i g1 g2 w1 w2 kids0 kids1 ip_ms p1 c1 i1 p2 c2
	times >"$BD/times1"
	read -r u s q i < <(cpu_all)
	g1=$(agent_cpu_ms gw1)
	g2=$(agent_cpu_ms gw2)
	w1=$(agent_sleeps gw1)
	w2=$(agent_sleeps gw2)
	read -r p1 c1 i1 < <(sctp_snmp gw1)
	read -r p2 c2 _ < <(sctp_snmp gw2)
	kids0=$(children_ms "$BD/times0")
	kids1=$(children_ms "$BD/times1")
	ip_ms=$(cut -d' ' -f2 "$BD/batch-end")
	CPU_JSON=$(jq -n -c --argjson u $((u - C0_USER)) --argjson s $((s - C0_SYS)) \
		--argjson q $((q - C0_SIRQ)) --argjson i $((i - C0_IDLE)) \
		--argjson g1a "$C0_GW1" --argjson g1b "$g1" --argjson g2a "$C0_GW2" --argjson g2b "$g2" \
		--argjson w1a "$W0_GW1" --argjson w1b "$w1" --argjson w2a "$W0_GW2" --argjson w2b "$w2" \
		--argjson ip "$ip_ms" --argjson kids $((kids1 - kids0)) \
		--argjson p1 $((p1 - S0_P1)) --argjson c1 $((c1 - S0_C1)) --argjson i1 $((i1 - S0_I1)) \
		--argjson p2 $((p2 - S0_P2)) --argjson c2 $((c2 - S0_C2)) '
		def d(a; b): if a == null or b == null then null else b - a end;
		{guest_ms: {user: $u, system: $s, softirq: $q, idle: $i},
		 gw1_agent_ms: d($g1a; $g1b), gw2_agent_ms: d($g2a; $g2b), ip_batch_ms: $ip,
		 gw1_agent_wakeups: d($w1a; $w1b), gw2_agent_wakeups: d($w2a; $w2b),
		 poller_ms: ($kids - $ip),
		 sctp: {gw1_packets_out: $p1, gw1_data_chunks_out: $c1, gw1_packets_in: $i1,
		        gw2_packets_out: $p2, gw2_data_chunks_out: $c2}}')
}

# The last status reply, kept by the poll conditions.
STATUS='{}'
status_of() { STATUS=$(hactl "$1" --json status 2>/dev/null) || STATUS='{}'; }

holds() { status_of "$1"; jq -e --argjson n "$2" '.sas.total == $n' <<<"$STATUS" >/dev/null; }
gw1_captured() { status_of gw1; jq -e --argjson n "$1" '.agent.own_sas == $n' <<<"$STATUS" >/dev/null; }
gw2_resynced() { hactl gw2 check >/dev/null 2>&1 && holds gw2 "$1"; }
# A snapshot completed since T0_US (age_ms younger than our wait), whole.
gw2_new_bulk() {
	local waited_ms
	status_of gw2
	now_us
	waited_ms=$(ms_since "$T0_US" "$NOW_US")
	jq -e --argjson n "$1" --argjson w "$waited_ms" '.peer.state == "up" and .in_sync and
		.last_bulk.result == "ok" and .last_bulk.age_ms < $w and .sas.total == $n' \
		<<<"$STATUS" >/dev/null
}
peer_up() { hactl "$1" --json status 2>/dev/null | jq -e '.peer.state == "up"' >/dev/null; }
in_sync() { hactl "$1" check >/dev/null 2>&1; }
ctl_up() { hactl "$1" --json status >/dev/null 2>&1; }

# poll SECONDS COND ARGS...: COND every POLL_S until it holds; DONE_US is
# when the reply that satisfied it was in, POLLS how many were made.
poll() {
	local limit
	now_us
	limit=$((NOW_US + $1 * 1000000))
	shift
	POLLS=0
	while :; do
		POLLS=$((POLLS + 1))
		if "$@"; then
			now_us
			DONE_US=$NOW_US
			return 0
		fi
		now_us
		[ "$NOW_US" -lt "$limit" ] || return 1
		sleep "$POLL_S"
	done
}

# log_ms HOST TEXT: ms from T0_US to the first log line of HOST's agent
# after T0_US containing TEXT, null if none.
log_ms() {
	awk -v t0="$T0_US" -v pat="$2" '
		$1 * 1e6 >= t0 && index($0, pat) { printf "%d\n", ($1 * 1e6 - t0) / 1000; found = 1; exit }
		END { if (!found) print "null" }' "$LAB_RUN/$1/hasyncd.log"
}

# Frames and records gw1 sent and gw2 received, from both sides' counters.
traffic_of() {
	local a b
	a=$(hactl gw1 --json peers 2>>"$BD/hactl.err" || echo '{}')
	b=$(hactl gw2 --json peers 2>>"$BD/hactl.err" || echo '{}')
	jq -n -c --argjson a "$a" --argjson b "$b" '
		{gw1_records_sent: $a.counters.records_sent, gw1_bytes_sent: $a.counters.bytes_sent,
		 gw2_records_received: $b.counters.records_received,
		 gw2_bytes_received: $b.counters.bytes_received,
		 gw2_records_sent: $b.counters.records_sent}'
}

# same_as_expected FILE: gw2's cache holds exactly the SPIs and key hashes made.
same_as_expected() {
	held_sas gw2 | cut -d' ' -f1,2 >"$BD/held"
	cmp -s "$BD/held" "$1"
}

# check_complete DESCRIPTION: one PASS/FAIL line for same_as_expected with
# this run's SAs; a failure makes the run incomplete.
check_complete() {
	if same_as_expected "$BD/expected-$N"; then
		lab_pass "$1"
	else
		lab_fail "$1 ($(wc -l <"$BD/held") held, $(comm -23 "$BD/expected-$N" "$BD/held" | wc -l) missing or different)"
		complete=false
	fi
}

# The capture alone (build/labtools/xfrm_probe, agent/xfrm.c without the
# rest of the agent) on gw1, in the background: PROBE_PID, its JSON lines
# in FILE. Thresholds as lab_hasyncd_conf sets them, unless --no-thresholds.
PROBE_THR=(--replay-in "${LAB_REPLAY_IN:-1000}" --replay-out "${LAB_REPLAY_OUT:-100000}" --etimer-ms 1000)
probe_start() {
	local out=$1
	shift
	ip netns exec gw1 "$LAB_BIN/labtools/xfrm_probe" --quiet "$@" "$VIP_OUT" >"$out" 2>"$out.err" &
	PROBE_PID=$!
}
probe_dumped() { grep -q '"ev":"dump_end"' "$1"; }
probe_stop() { kill -TERM "$PROBE_PID" 2>/dev/null; wait "$PROBE_PID" 2>/dev/null; }
probe_dump_ms() { jq -n '[inputs | select(.ev == "dump_end")][0].dump_ms // null' "$1"; }

# probe_batch FILE PROBE-OPTIONS...: the batch on gw1 with only the probe
# listening; PB_JSON gets the batch's time and the probe's CPU time. The
# SAs stay in gw1's kernel.
probe_batch() {
	local out=$1 c0 c1 t0
	shift
	probe_start "$out" "$@"
	lab_wait 10 probe_dumped "$out"
	c0=$(pid_cpu_ms "$PROBE_PID")
	now_us
	t0=$NOW_US
	in_ns gw1 ip -batch "$BD/batch-$N"
	now_us
	sleep 0.5	# the probe drains what is queued for it
	c1=$(pid_cpu_ms "$PROBE_PID")
	probe_stop
	PB_JSON=$(jq -n -c --argjson b "$(ms_since "$t0" "$NOW_US")" --argjson c0 "$c0" --argjson c1 "$c1" \
		--argjson st "$(jq -n -c '[inputs | select(.ev == "stats")][0] // {} | {events, aevents, ae_sets, enobufs}' "$out")" \
		'{batch_ms: $b, capture_cpu_ms: (if $c0 and $c1 then $c1 - $c0 else null end), stats: $st}')
}

stop_agents() {
	lab_hasyncd_stop gw1
	lab_hasyncd_stop gw2
}

# ---------------------------------------------------------------- setup

lab_topology
# gw1 holds the VIP, as keepalived would make it; no pluto, no keepalived:
# the SAs are keyed by hand.
in_ns gw1 ip addr add "$VIP_OUT/24" dev eth-out
for h in gw1 gw2; do lab_hasyncd_conf "$h"; done

# The first rfc4106(gcm(aes)) SA instantiates the crypto templates (about
# 100 ms in UML): done once here so it is not in the first size's floor.
gen 2 $((0x0f000000)) "$BD/warm" "$BD/warm.expected"
in_ns gw1 ip -batch "$BD/warm"
in_ns gw1 ip xfrm state flush

# The cost of one status poll, to size the resolution of the figures.
agent_start gw1
agent_start gw2
lab_check "agents authenticated each other over SCTP" lab_wait 10 peer_up gw2
now_us
t=$NOW_US
for _ in 1 2 3 4 5 6 7 8 9 10; do status_of gw2; done
now_us
poll_cost_ms=$(( (NOW_US - t) / 10000 ))
stop_agents
lab_log "one status poll of gw2 (hasyncctl + jq) costs $poll_cost_ms ms"

runs=()
spi_base=$((0x10000000))
for N in $BULK_SIZES; do
	lab_log "---- N = $N"
	gen "$N" "$spi_base" "$BD/batch-$N" "$BD/expected-$N"
	spi_base=$((spi_base + 0x01000000))
	complete=true
	live_polls=null
	for h in gw1 gw2; do in_ns "$h" ip xfrm state flush; done

	# 1. The floor: the kernel alone.
	now_us
	T0_US=$NOW_US
	in_ns gw1 ip -batch "$BD/batch-$N"
	now_us
	insert_ms=$(ms_since "$T0_US" "$NOW_US")
	lab_check "N=$N: gw1's kernel took all $N SAs from one ip -batch" \
		test "$(kernel_count gw1)" -eq "$N"
	lab_log "N=$N: kernel insert without agents: $insert_ms ms"
	in_ns gw1 ip xfrm state flush

	# 2. Live sync: both agents in sync with nothing, then the same batch.
	agent_start gw1
	agent_start gw2
	lab_check "N=$N: gw2 in sync with gw1 (empty snapshot)" lab_wait 10 in_sync gw2
	sleep 0.5
	rss0_kb=$(agent_rss_kb gw2)
	status_of gw2
	held0=$(jq '.agent.held_memory_bytes // null' <<<"$STATUS")

	cpu_begin
	now_us
	T0_US=$NOW_US
	batch_bg "$BD/batch-$N"
	live_ms=null
	live_rate=null
	if poll 60 holds gw2 "$N"; then
		live_ms=$(ms_since "$T0_US" "$DONE_US")
		live_rate=$(awk -v n="$N" -v ms="$live_ms" 'BEGIN {printf "%d", (ms > 0 ? n * 1000 / ms : 0)}')
		live_polls=$POLLS
	else
		complete=false
		lab_fail "N=$N: live sync: gw2 does not hold $N SAs after 60 s ($(jq -c .sas <<<"$STATUS"))"
	fi
	wait "$BATCH_PID"
	cpu_end
	live_cpu=$CPU_JSON
	live_insert_ms=$(ms_since "$T0_US" "$(cut -d' ' -f1 "$BD/batch-end")")
	lab_log "N=$N: live sync: gw2 held all after $live_ms ms ($live_rate SAs/s);" \
		"the batch itself took $live_insert_ms ms; CPU $live_cpu"
	sleep 1
	# RSS before the `sas` listing below, which leaves its own heap behind.
	rssn_kb=$(agent_rss_kb gw2)
	check_complete "N=$N: live sync: gw2's cache holds the same SPIs and key hashes as made"
	rss_listed_kb=$(agent_rss_kb gw2)
	status_of gw2
	heldn=$(jq '.agent.held_memory_bytes // null' <<<"$STATUS")
	live_traffic=$(traffic_of)
	status_of gw1
	gw1_live=$(jq -c '{own_sas: .agent.own_sas, netlink_events: .agent.netlink_events,
		netlink_overruns: .agent.netlink_overruns, kernel_dumps: .agent.kernel_dumps}' <<<"$STATUS")
	rss_per_sa=$(awk -v a="$rss0_kb" -v b="$rssn_kb" -v n="$N" 'BEGIN {printf "%d", (b - a) * 1024 / n}')
	cache_per_sa=$(awk -v a="$held0" -v b="$heldn" -v n="$N" 'BEGIN {printf "%d", (b - a) / n}')
	lab_log "N=$N: gw2 RSS $rss0_kb kB -> $rssn_kb kB ($rss_per_sa B/SA); cache $cache_per_sa B/SA;" \
		"traffic $live_traffic; gw1 $gw1_live"

	# 3a. Bulk resync: gw2's agent restarts and gets gw1's snapshot.
	lab_hasyncd_stop gw2
	now_us
	T0_US=$NOW_US
	agent_start gw2
	r2_ms=null
	if poll 60 gw2_resynced "$N"; then
		r2_ms=$(ms_since "$T0_US" "$DONE_US")
	else
		complete=false
		lab_fail "N=$N: gw2 restart: not in sync with $N SAs after 60 s"
	fi
	r2_bulk=$(jq -c '.last_bulk' <<<"$STATUS")
	r2_log=$(jq -n -c --argjson init "$(log_ms gw2 ': node gw2,')" \
		--argjson up "$(log_ms gw1 'association with')" \
		--argjson sent "$(log_ms gw1 'sent snapshot')" \
		--argjson applied "$(log_ms gw2 'applied:')" \
		'{initialised_ms: $init, association_up_ms: $up, snapshot_queued_by_gw1_ms: $sent,
		  snapshot_applied_ms: $applied}')
	r2_rss_kb=$(agent_rss_kb gw2)
	lab_log "N=$N: gw2 restart: in sync after $r2_ms ms, last_bulk $r2_bulk, log $r2_log"
	check_complete "N=$N: after gw2's agent restarts: its cache holds the same SPIs and key hashes"

	# 3b. Bulk resync: gw1's agent restarts, dumps its kernel, resends it all.
	rx0=$(traffic_of | jq '.gw2_records_received')
	lab_hasyncd_stop gw1
	now_us
	T0_US=$NOW_US
	agent_start gw1
	r1_ms=null
	if poll 60 gw2_new_bulk "$N"; then
		r1_ms=$(ms_since "$T0_US" "$DONE_US")
	else
		complete=false
		lab_fail "N=$N: gw1 restart: no new complete snapshot of $N SAs on gw2 after 60 s"
	fi
	r1_bulk=$(jq -c '.last_bulk' <<<"$STATUS")
	sleep 0.5	# whatever else gw1 sends for the restart has arrived
	r1_records=$(traffic_of | jq --argjson a "$rx0" '.gw2_records_received - $a')
	r1_log=$(jq -n -c --argjson init "$(log_ms gw1 ': node gw1,')" \
		--argjson up "$(log_ms gw1 'association with')" \
		--argjson dump "$(log_ms gw1 'xfrm: dump 1 complete')" \
		--argjson sent "$(log_ms gw1 'sent snapshot')" \
		--argjson applied "$(log_ms gw2 'applied:')" \
		'{initialised_ms: $init, association_up_ms: $up, kernel_dump_done_ms: $dump, snapshot_queued_ms: $sent,
		  snapshot_applied_on_gw2_ms: $applied}')
	lab_log "N=$N: gw1 restart: gw2 had a new snapshot after $r1_ms ms, last_bulk $r1_bulk, log $r1_log;" \
		"gw2 received $r1_records records"
	check_complete "N=$N: after gw1's agent restarts: gw2's cache holds the same SPIs and key hashes"
	status_of gw2
	resyncs=$(jq '.agent.resyncs // null' <<<"$STATUS")
	stop_agents
	in_ns gw1 ip xfrm state flush

	# 4. Where the live sync's time goes (BULK_BREAKDOWN): the same batch
	# with only the capture listening (without, then with its per-SA
	# threshold requests), the capture's dump of N SAs (without, then with
	# thresholds), gw1's agent alone (no peer), and both agents with nobody
	# polling until the batch is over.
	breakdown=null
	if [ "$BULK_BREAKDOWN" = 1 ]; then
		probe_batch "$BD/probe-nothr-$N.json" --no-thresholds
		pb_nothr=$PB_JSON
		in_ns gw1 ip xfrm state flush
		probe_batch "$BD/probe-thr-$N.json" "${PROBE_THR[@]}"
		pb_thr=$PB_JSON
		lab_log "N=$N: batch with the capture alone: no thresholds $pb_nothr; thresholds $pb_thr"
		for kind in nothr thr; do
			if [ "$kind" = nothr ]; then
				probe_start "$BD/dump-$kind-$N.json" --no-thresholds
			else
				probe_start "$BD/dump-$kind-$N.json" "${PROBE_THR[@]}"
			fi
			lab_wait 30 probe_dumped "$BD/dump-$kind-$N.json"
			probe_stop
		done
		dump_nothr=$(probe_dump_ms "$BD/dump-nothr-$N.json")
		dump_thr=$(probe_dump_ms "$BD/dump-thr-$N.json")
		lab_log "N=$N: the capture's dump of $N SAs: $dump_nothr ms, with threshold requests $dump_thr ms"
		in_ns gw1 ip xfrm state flush

		agent_start gw1
		lab_wait 5 ctl_up gw1
		sleep 0.5
		cpu_begin
		now_us
		T0_US=$NOW_US
		batch_bg "$BD/batch-$N"
		wait "$BATCH_PID"
		cap_batch_ms=$(ms_since "$T0_US" "$(cut -d' ' -f1 "$BD/batch-end")")
		cap_ms=null
		poll 60 gw1_captured "$N" && cap_ms=$(ms_since "$T0_US" "$DONE_US")
		cpu_end
		cap_cpu=$CPU_JSON
		status_of gw1
		cap_overruns=$(jq '.agent.netlink_overruns // null' <<<"$STATUS")
		# The same agent restarted, alone, with the N SAs in the kernel:
		# its dump with nobody to send to.
		lab_hasyncd_stop gw1
		now_us
		T0_US=$NOW_US
		agent_start gw1
		poll 60 gw1_captured "$N"
		alone_dump_ms=$(log_ms gw1 'xfrm: dump 1 complete')
		stop_agents
		in_ns gw1 ip xfrm state flush
		lab_log "N=$N: gw1's agent alone: batch $cap_batch_ms ms, all captured after $cap_ms ms; CPU $cap_cpu;" \
			"restarted alone: dump done after $alone_dump_ms ms"

		agent_start gw1
		agent_start gw2
		lab_wait 10 in_sync gw2
		sleep 0.5
		cpu_begin
		now_us
		T0_US=$NOW_US
		batch_bg "$BD/batch-$N"
		wait "$BATCH_PID"
		q_batch_ms=$(ms_since "$T0_US" "$(cut -d' ' -f1 "$BD/batch-end")")
		q_ms=null
		poll 60 holds gw2 "$N" && q_ms=$(ms_since "$T0_US" "$DONE_US")
		cpu_end
		q_cpu=$CPU_JSON
		stop_agents
		in_ns gw1 ip xfrm state flush
		lab_log "N=$N: both agents, no polling during the batch: batch $q_batch_ms ms," \
			"gw2 held all after $q_ms ms; CPU $q_cpu"
		breakdown=$(jq -n -c --argjson pn "$pb_nothr" --argjson pt "$pb_thr" \
			--argjson dn "$dump_nothr" --argjson dt "$dump_thr" \
			--argjson cb "$cap_batch_ms" --argjson c "$cap_ms" --argjson cc "$cap_cpu" \
			--argjson co "$cap_overruns" --argjson ad "$alone_dump_ms" --argjson qb "$q_batch_ms" --argjson q "$q_ms" --argjson qc "$q_cpu" '
			{capture_alone_no_thresholds: $pn, capture_alone_with_thresholds: $pt,
			 capture_dump_ms: {no_thresholds: $dn, with_thresholds: $dt},
			 gw1_agent_alone: {batch_ms: $cb, all_captured_ms: $c, netlink_overruns: $co, cpu: $cc,
			                   restart_dump_done_ms: $ad},
			 both_agents_unpolled: {batch_ms: $qb, gw2_holds_all_ms: $q, cpu: $qc}}')
	fi

	runs+=("$(jq -n -c --argjson n "$N" --argjson insert "$insert_ms" --argjson live "$live_ms" \
		--argjson rate "$live_rate" --argjson live_insert "$live_insert_ms" \
		--argjson polls "$live_polls" --argjson live_cpu "$live_cpu" \
		--argjson traffic "$live_traffic" --argjson gw1 "$gw1_live" \
		--argjson r2 "$r2_ms" --argjson r2_bulk "$r2_bulk" --argjson r2_log "$r2_log" \
		--argjson r1 "$r1_ms" --argjson r1_bulk "$r1_bulk" --argjson r1_log "$r1_log" \
		--argjson r1_records "$r1_records" \
		--argjson rss_per_sa "$rss_per_sa" --argjson cache_per_sa "$cache_per_sa" \
		--argjson rss0 "$rss0_kb" --argjson rssn "$rssn_kb" --argjson rssl "$rss_listed_kb" --argjson rss_bulk "$r2_rss_kb" \
		--argjson held0 "$held0" --argjson heldn "$heldn" --argjson breakdown "$breakdown" \
		--argjson resyncs "$resyncs" --argjson complete "$complete" '
		{n: $n, kernel_insert_ms: $insert, live_sync_ms: $live, live_sync_sas_per_s: $rate,
		 resync_gw2_restart_ms: $r2, resync_gw1_restart_ms: $r1,
		 rss_per_sa_bytes: $rss_per_sa, cache_bytes_per_sa: $cache_per_sa, complete: $complete,
		 detail: {
		   live: {batch_with_agents_ms: $live_insert, polls: $polls, cpu: $live_cpu,
		          traffic: $traffic, gw1: $gw1},
		   gw2_restart: {last_bulk: $r2_bulk, from_log: $r2_log, rss_kb_holding_n_from_snapshot: $rss_bulk,
		                 rss_per_sa_bytes: (if $rss_bulk then (($rss_bulk - $rss0) * 1024 / $n | floor) else null end)},
		   gw1_restart: {last_bulk_on_gw2: $r1_bulk, from_log: $r1_log, gw2_records_received: $r1_records},
		   gw2_rss_kb: {empty: $rss0, holding_n: $rssn, after_sas_listing: $rssl},
		   gw2_held_memory_bytes: {empty: $held0, holding_n: $heldn},
		   gw2_resyncs_counted: $resyncs,
		   breakdown: $breakdown}}')")
done

lab_result bulk-sync "$(printf '%s\n' "${runs[@]}" | jq -s -c \
	--arg kernel "$(uname -r)" --argjson cpus "$(nproc)" --argjson poll "$poll_cost_ms" \
	--arg mem "$(awk '$1 == "MemTotal:" {print $2 " kB"}' /proc/meminfo)" '
	{benchmark: "bulk-sync",
	 guest: {kernel: $kernel, cpus: $cpus, memory: $mem,
	         notes: "User-Mode Linux guest: one CPU shared by the kernel, ip, both agents and the poller; every system call of a guest process traps to the UML kernel, so syscall-heavy work is slower than on hardware; times are wall clock in the guest"},
	 sa_profile: "IPv4 tunnel mode ESP, rfc4106(gcm(aes)) 160-bit key (128 + salt), ICV 128, ESN, replay-window 128; half out of 192.0.2.1, half into it; one remote address per pair",
	 method: {poll_interval_ms: 50, poll_cost_ms: $poll,
	          kernel_insert_ms: "ip -batch of n SAs in gw1, no agent running",
	          live_sync_ms: "start of the same ip -batch with both agents in sync -> the status poll (hasyncctl, every 50 ms) in which gw2 .sas.total == n",
	          resync_gw2_restart_ms: "start of gw2 hasyncd -> the poll in which hasyncctl check passes and .sas.total == n",
	          resync_gw1_restart_ms: "start of gw1 hasyncd -> the poll in which gw2 shows a snapshot completed since then with n SAs",
	          rss_per_sa_bytes: "(gw2 hasyncd VmRSS holding n - VmRSS in sync with 0) / n, after the live sync, before any sas listing",
	          cache_bytes_per_sa: "(gw2 .agent.held_memory_bytes holding n - with 0) / n",
	          from_log: "ms from the agent start to its log lines (stamped as they are written)",
	          cpu: "guest CPU by kind over the phase; agents from /proc/PID/stat, ip and the poller from times"},
	 runs: .}')"
