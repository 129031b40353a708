# transport: the sync transport between gw1 and gw2 with the real kernel SCTP:
# an association over sync0 and sync1, frames at 200/s on 4 streams, sync0
# taken down and back mid-stream, the receiver killed and restarted; then
# the basic checks again over TCP. Writes its figures to results/transport.json.

PROBE=$LAB_BIN/labtools/transport_probe
TP=$LAB_RUN/transport
TP_RATE=200
TP_STREAMS=4
TP_RECONNECT_MAX=2000	# ms; the sender must be back within this (plus a connect)
GW1_SYNC=10.9.0.1,10.9.1.1
GW2_SYNC=10.9.0.2,10.9.1.2

mkdir -p "$TP"
now() { cut -d' ' -f1 /proc/uptime; }

# tp_start NAME NS ARGS...: a probe in the background (started directly, so
# $! is its pid); its events, log, status and summary are $TP/NAME.*.
tp_start() {
	local name=$1 ns=$2
	shift 2
	rm -f "$TP/$name".*
	ip netns exec "$ns" "$PROBE" --status "$TP/$name.status" --summary "$TP/$name.summary" \
		--stop-file "$TP/$name.stop" --streams "$TP_STREAMS" --reconnect-min 100 \
		--reconnect-max "$TP_RECONNECT_MAX" "$@" >"$TP/$name.events" 2>"$TP/$name.log" &
	echo $! >"$TP/$name.pid"
	disown $!	# killed on purpose later: no "Killed" line from bash
}

# tp_stop NAME: graceful stop (a sender drains its queue first), waits for the summary.
tp_stop() {
	touch "$TP/$1.stop"
	lab_wait 6 test -s "$TP/$1.summary" || lab_fail "probe $1 wrote no summary"
}

tp_kill() { kill -KILL "$(cat "$TP/$1.pid")" 2>/dev/null; sleep 0.1; }

# tp_is NAME JQ-EXPRESSION: the probe's current status satisfies the expression.
tp_is() { jq -e "$2" "$TP/$1.status" >/dev/null 2>&1; }
tp_sum() { jq -r "$2" "$TP/$1.summary" 2>/dev/null; }
tp_stat() { jq -r "$2" "$TP/$1.status" 2>/dev/null; }

# tp_event_time NAME AFTER PATTERN: time of the first event matching PATTERN (awk regex) after AFTER.
tp_event_time() {
	awk -v after="$2" -v pat="$3" '$1 >= after && $0 ~ pat {print $1; exit}' "$TP/$1.events"
}

# tp_max_gap NAME FROM TO: the longest delivery pause (ms) logged between two times.
tp_max_gap() {
	awk -v a="$2" -v b="$3" '$2 == "gap" && $1 >= a && $1 <= b && $3 > m {m = $3} END {print m + 0}' \
		"$TP/$1.events"
}

diff_s() { awk -v a="$1" -v b="$2" 'BEGIN {if (a == "" || b == "") print "null"; else printf "%.3f", b - a}'; }

both_paths() {
	local name=$1 a=$2 b=$3
	tp_is "$name" ".up and .paths[\"$a\"] == \"ACTIVE\" and .paths[\"$b\"] == \"ACTIVE\""
}

lab_topology
lab_check "gw1 reaches gw2 over sync0 and sync1" \
	sh -c "ip netns exec gw1 ping -c1 -W1 10.9.0.2 && ip netns exec gw1 ping -c1 -W1 10.9.1.2"

# ---------------------------------------------------------------- SCTP: path failure
lab_log "SCTP: association, then sync0 down and back mid-stream"
tp_start rx1 gw2 --kind sctp --local "$GW2_SYNC" --remote "$GW1_SYNC"
tp_start tx1 gw1 --kind sctp --local "$GW1_SYNC" --remote "$GW2_SYNC" --rate "$TP_RATE" --big-every 100
lab_check "gw1 connects (lower address) and gw2 accepts" lab_wait 3 \
	sh -c "grep -q 'sctp connecting' $TP/tx1.events && grep -q 'sctp accepting' $TP/rx1.events"
lab_check "SCTP association up, both paths ACTIVE seen from gw1" lab_wait 5 both_paths tx1 10.9.0.2 10.9.1.2
lab_check "SCTP association up, both paths ACTIVE seen from gw2" lab_wait 5 both_paths rx1 10.9.0.1 10.9.1.1
in_ns gw1 cat /proc/net/sctp/assocs >"$TP/assocs-before.txt" 2>&1
sleep 2
lab_check "frames flow at $TP_RATE/s on $TP_STREAMS streams" \
	test "$(tp_stat rx1 .received)" -ge $((TP_RATE * 3 / 2))

t_down=$(now)
in_ns gw1 ip link set sync0 down
lab_log "sync0 down at $t_down"
lab_check "gw1 reports path 10.9.0.2 INACTIVE within ~3 s" \
	lab_wait 3.5 tp_is tx1 '.paths["10.9.0.2"] == "INACTIVE"'
lab_check "association stays up while sync0 is down" tp_is tx1 .up
rx_at_down=$(tp_stat rx1 .received)
sleep 2
lab_check "frames keep flowing over sync1" test "$(tp_stat rx1 .received)" -ge $((rx_at_down + TP_RATE))
in_ns gw1 cat /proc/net/sctp/paths >"$TP/paths-during.txt" 2>&1

t_up=$(now)
in_ns gw1 ip link set sync0 up
lab_log "sync0 up at $t_up"
lab_check "path 10.9.0.2 ACTIVE again after the link returns" \
	lab_wait 8 tp_is tx1 '.paths["10.9.0.2"] == "ACTIVE"'
lab_check "gw2 sees both of gw1's paths ACTIVE again" lab_wait 8 both_paths rx1 10.9.0.1 10.9.1.1
sleep 1
tp_stop tx1
lab_wait 5 grep -q ' down ' "$TP/rx1.events"	# gw1's SHUTDOWN arrives after its data
tp_stop rx1
sent=$(tp_sum tx1 .sent)
lab_check "every frame sent arrived ($sent)" test "$(tp_sum rx1 .received)" = "$sent"
lab_check "no frame lost within a stream" test "$(tp_sum rx1 .lost)" = 0
lab_check "no frame reordered within a stream" test "$(tp_sum rx1 .reordered)" = 0
lab_check "no frame corrupted or on the wrong stream (70,000-byte frames included)" \
	sh -c "jq -e '.corrupt == 0 and .wrong_stream == 0 and .big_received > 0' $TP/rx1.summary"
lab_check "the association never went down" test "$(tp_sum tx1 .downs)" = 0

t_inactive=$(tp_event_time tx1 "$t_down" 'path 10\.9\.0\.2 INACTIVE')
t_pf=$(tp_event_time tx1 "$t_down" 'path 10\.9\.0\.2 POTENTIALLY_FAILED')
t_active=$(tp_event_time tx1 "$t_up" 'path 10\.9\.0\.2 ACTIVE')
pause_ms=$(tp_max_gap rx1 "$t_down" "$(awk -v t="$t_down" 'BEGIN {print t + 5}')")
lab_log "delivery pause at the path failure: ${pause_ms} ms (gaps below 50 ms are not logged)"
lab_log "path INACTIVE after $(diff_s "$t_down" "$t_inactive") s, ACTIVE after $(diff_s "$t_up" "$t_active") s"

# ---------------------------------------------------------------- SCTP: receiver restart
lab_log "SCTP: the receiver killed and restarted"
tp_start rx2 gw2 --kind sctp --local "$GW2_SYNC" --remote "$GW1_SYNC"
tp_start tx2 gw1 --kind sctp --local "$GW1_SYNC" --remote "$GW2_SYNC" --rate "$TP_RATE"
lab_wait 5 both_paths tx2 10.9.0.2 10.9.1.2
sleep 1
lab_check "SCTP: frames flowed before the kill, none lost" \
	tp_is rx2 '.received > 100 and .lost == 0 and .reordered == 0'
tp_kill rx2
lab_check "SCTP: the sender sees the association go down" lab_wait 3 tp_is tx2 '.up | not'
sleep 1
t_restart=$(now)
tp_start rx3 gw2 --kind sctp --local "$GW2_SYNC" --remote "$GW1_SYNC"
lab_check "SCTP: the sender reconnects within reconnect_max ($TP_RECONNECT_MAX ms)" \
	lab_wait $((TP_RECONNECT_MAX / 1000 + 1)) tp_is tx2 '.up and .ups == 2'
t_reup=$(tp_event_time tx2 "$t_restart" ' up$')
sleep 1.5
tp_stop tx2
lab_wait 5 grep -q ' down ' "$TP/rx3.events"
tp_stop rx3
lab_check "SCTP: frames flow again after the restart, in order" \
	sh -c "jq -e '.received > $((TP_RATE)) and .lost == 0 and .reordered == 0 and .corrupt == 0' $TP/rx3.summary"
sctp_reconnect=$(diff_s "$t_restart" "$t_reup")

# ---------------------------------------------------------------- TCP
lab_log "TCP: the same basic checks (first address pair only)"
tp_start rx4 gw2 --kind tcp --local 10.9.0.2 --remote 10.9.0.1 --port 7789
tp_start tx4 gw1 --kind tcp --local 10.9.0.1 --remote 10.9.0.2 --port 7789 --rate "$TP_RATE" --big-every 100
lab_check "TCP: connection up, path ACTIVE" lab_wait 5 tp_is tx4 '.up and .paths["10.9.0.2"] == "ACTIVE"'
sleep 1.5
lab_check "TCP: frames flow on $TP_STREAMS streams, none lost or reordered" \
	tp_is rx4 ".received > $TP_RATE and .lost == 0 and .reordered == 0"
tp_kill rx4
lab_check "TCP: the sender sees the connection go down" lab_wait 3 tp_is tx4 '.up | not'
sleep 1
t_restart=$(now)
tp_start rx5 gw2 --kind tcp --local 10.9.0.2 --remote 10.9.0.1 --port 7789
lab_check "TCP: the sender reconnects within reconnect_max ($TP_RECONNECT_MAX ms)" \
	lab_wait $((TP_RECONNECT_MAX / 1000 + 1)) tp_is tx4 '.up and .ups == 2'
t_reup=$(tp_event_time tx4 "$t_restart" ' up$')
sleep 1.5
tp_stop tx4
lab_wait 5 grep -q ' down ' "$TP/rx5.events"
tp_stop rx5
lab_check "TCP: frames flow again after the restart, intact and in order" \
	sh -c "jq -e '.received > $TP_RATE and .lost == 0 and .reordered == 0 and .corrupt == 0 and .wrong_stream == 0 and .big_received > 0' $TP/rx5.summary"
tcp_reconnect=$(diff_s "$t_restart" "$t_reup")

# Strangers: remote (192.0.2.100, not a configured remote) reaches gw2's sync
# addresses through gw2's outside address, and is turned away.
in_ns remote ip route add 10.9.0.0/30 via "$GW2_OUT"
tp_start rx6 gw2 --kind tcp --local 10.9.0.2 --remote 10.9.0.1 --port 7789
tp_start rx7 gw2 --kind sctp --local "$GW2_SYNC" --remote "$GW1_SYNC"
lab_wait 3 sh -c "test -s $TP/rx6.status && test -s $TP/rx7.status"
ip netns exec remote socat -u /dev/null TCP:10.9.0.2:7789,connect-timeout=2 >>"$TP/stranger.log" 2>&1
ip netns exec remote socat -u /dev/null SCTP:10.9.0.2:7788,connect-timeout=2 >>"$TP/stranger.log" 2>&1
sleep 0.3
tp_stop rx6
tp_stop rx7
lab_check "TCP: a connection from an unknown address is refused" \
	sh -c "jq -e '.refused >= 1 and .ups == 0' $TP/rx6.summary"
lab_check "SCTP: an association from an unknown address is refused" \
	sh -c "jq -e '.refused >= 1 and .ups == 0' $TP/rx7.summary"

lab_result transport "$(jq -n \
	--arg pause "$pause_ms" --arg maxgap "$(tp_sum rx1 .max_gap_ms)" \
	--arg inactive "$(diff_s "$t_down" "$t_inactive")" --arg pf "$(diff_s "$t_down" "$t_pf")" \
	--arg active "$(diff_s "$t_up" "$t_active")" \
	--arg sctp_rc "$sctp_reconnect" --arg tcp_rc "$tcp_reconnect" \
	--arg sent "$(tp_sum tx1 .sent)" --arg recv "$(tp_sum rx1 .received)" \
	--arg lat "$(tp_sum rx1 .max_latency_ms)" \
	'{sctp_failover_pause_ms: ($pause | tonumber), sctp_run_max_gap_ms: ($maxgap | tonumber),
	  sctp_max_latency_ms: ($lat | tonumber),
	  path_potentially_failed_after_s: ($pf | fromjson), path_inactive_after_s: ($inactive | fromjson),
	  path_active_after_link_up_s: ($active | fromjson),
	  sctp_reconnect_after_restart_s: ($sctp_rc | fromjson), tcp_reconnect_after_restart_s: ($tcp_rc | fromjson),
	  failover_run: {frames_sent: ($sent | tonumber), frames_received: ($recv | tonumber)},
	  rate_per_s: '"$TP_RATE"', streams: '"$TP_STREAMS"',
	  tuning: {rto_min_ms: 100, rto_max_ms: 1000, hb_interval_ms: 500, path_max_retrans: 2}}')"
