# flap: 30 graceful failovers in a row, as fast as VRRP allows, with traffic
# flowing. Afterwards both agents are the same processes, their caches equal
# the master's kernel, and nothing leaked: no SA or route on the standby, the
# master's SA count unchanged, no file descriptor gained by either agent.

TUNNELS=${TUNNELS:-3}
FLAPS=${FLAPS:-30}
lab_ha_pair "$TUNNELS"

fds() { ls "/proc/$(lab_pid_of "$1" hasyncd)/fd" | wc -l; }
backup_again() { [ "$(lab_vrrp_state "$1")" = BACKUP ]; }

lab_check "$TUNNELS tunnels up through gw1" lab_wait 60 lab_tunnels_up "$TUNNELS"
lab_check "gw2 holds every SA of gw1's kernel" lab_wait 10 lab_holds_master gw1 gw2
pid1=$(lab_pid_of gw1 hasyncd)
pid2=$(lab_pid_of gw2 hasyncd)
fds1=$(fds gw1)
fds2=$(fds gw2)
sas0=$(kernel_sas gw1 | wc -l)
seq0=$(xfrm_stat remote XfrmInStateSeqError)

lab_traffic_start flap
master=gw1
t0=$(cut -d' ' -f1 /proc/uptime)
moved=0
for i in $(seq 1 "$FLAPS"); do
	standby=$(lab_other "$master")
	lab_keepalived_stop "$master"
	lab_wait 10 lab_has_vip "$standby" && moved=$((moved + 1))
	lab_keepalived_start "$master"
	lab_wait 10 backup_again "$master"
	# The next failover needs the returning node's agent to hold the new
	# master's state; with nopreempt it is backup at once.
	lab_wait 10 lab_holds_master "$standby" "$master"
	master=$standby
done
t1=$(cut -d' ' -f1 /proc/uptime)
sleep 2
traffic=$(lab_traffic_stop flap)
standby=$(lab_other "$master")
lab_log "$FLAPS failovers in $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}') s: $(echo "$traffic" | jq -c '{gap_ms, lost, sent}')"

lab_check "every one of the $FLAPS failovers moved the VIP" test "$moved" -eq "$FLAPS"
lab_check "both agents are the processes they were" \
	test "$(lab_pid_of gw1 hasyncd) $(lab_pid_of gw2 hasyncd)" = "$pid1 $pid2"
lab_check "the standby ($standby) is in sync" lab_wait 10 lab_in_sync "$standby"
lab_check "the standby's cache equals the master's kernel" lab_wait 10 lab_holds_master "$master" "$standby"
lab_check "the master ($master) holds as many SAs as at the start ($sas0)" \
	test "$(kernel_sas "$master" | wc -l)" -eq "$sas0"
lab_check "no SA of the VIP on the standby" test "$(kernel_sas "$standby" | wc -l)" -eq 0
lab_check "reverse routes only on the master" \
	test "$(in_ns "$master" ip route show proto 201 | wc -l) $(in_ns "$standby" ip route show proto 201 | wc -l)" = "$TUNNELS 0"
lab_check "no file descriptor leaked by either agent" test "$(fds gw1) $(fds gw2)" = "$fds1 $fds2"
replays=$(( $(xfrm_stat remote XfrmInStateSeqError) - seq0 ))
lab_check "no replay errors on the remote" test "$replays" -eq 0
lab_check "traffic still flows" lab_wait 10 lab_ping_through

lab_result flap "$(jq -n -c --argjson t "$traffic" --argjson n "$FLAPS" --argjson rep "$replays" \
	--arg secs "$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}')" \
	'{failovers: $n, seconds: ($secs | tonumber), max_gap_ms: $t.gap_ms, lost: $t.lost,
	  sent: $t.sent, replay_errors_remote: $rep}')"
