# failback: the old master returns. With preemption and `hasyncctl check`
# tracked by keepalived, it must not take the VIP back before its agent holds
# a complete copy of the new master's state; then the failback is itself a
# stateful takeover: small gap, no replay errors on the remote.

TUNNELS=${TUNNELS:-3}
LAB_PREEMPT=1
LAB_TRACK_CHECK=1
lab_ha_pair "$TUNNELS"

uptime_s() { cut -d' ' -f1 /proc/uptime; }

lab_check "$TUNNELS tunnels up through gw1" lab_wait 60 lab_tunnels_up "$TUNNELS"
lab_check "gw2 holds every SA of gw1's kernel" lab_wait 10 lab_holds_master gw1 gw2

# gw1 crashes: gw2 takes over.
seq0=$(xfrm_stat remote XfrmInStateSeqError)
lab_traffic_start crash
sleep 2
lab_crash gw1
lab_check "crash: VIP moved to gw2" lab_wait 10 lab_has_vip gw2
lab_check "crash: traffic flows through gw2" lab_wait 20 lab_ping_through
sleep 1
crash=$(lab_traffic_stop crash)

# gw1 returns, its keepalived first and its agent 8 s later: until the agent
# is in sync, the tracked check keeps gw1's priority below gw2's.
lab_revive gw1
lab_pluto_start gw1
ike0=$(pluto_ike_established remote)
lab_traffic_start failback
lab_keepalived_start gw1
sleep 8
lab_check "gw1 did not take the VIP back while its agent was not running" \
	sh -c "! ip netns exec gw1 ip -o addr | grep -q ' $VIP_OUT/'"
lab_hasyncd_start gw1
t_start=$(uptime_s)
t_sync=
t_vip=
for _ in $(seq 1 300); do
	[ -z "$t_sync" ] && lab_in_sync gw1 && t_sync=$(uptime_s)
	[ -z "$t_vip" ] && lab_has_vip gw1 && t_vip=$(uptime_s)
	[ -n "$t_vip" ] && [ -n "$t_sync" ] && break
	sleep 0.05
done
lab_log "gw1's agent started at $t_start, in sync at ${t_sync:-never}, VIP back at ${t_vip:-never}"
lab_check "failback: gw1 took the VIP back" test -n "$t_vip"
lab_check "failback: only after its agent was in sync" \
	awk -v s="${t_sync:-999999}" -v v="${t_vip:-0}" 'BEGIN {exit !(v >= s)}'
lab_check "failback: traffic flows through gw1" lab_wait 20 lab_ping_through
sleep 2
failback=$(lab_traffic_stop failback)
replays=$(( $(xfrm_stat remote XfrmInStateSeqError) - seq0 ))
lab_check "no replay errors on the remote across both takeovers" test "$replays" -eq 0
no_vip_sas() { [ "$(kernel_sas "$1" | wc -l)" -eq 0 ]; }
lab_check "gw2 stepped down: no SA of the VIP left" lab_wait 5 no_vip_sas gw2
lab_check "gw2 stepped down: no reverse route left" test "$(in_ns gw2 ip route show proto 201 | wc -l)" -eq 0
lab_check "gw2 holds every SA of gw1's kernel again" lab_wait 10 lab_holds_master gw1 gw2
promote_ms=$(hactl gw1 --json status | jq '.vips[0].last_takeover.total_ms')
lab_log "crash: $(echo "$crash" | jq -c '{gap_ms, lost}'), failback: $(echo "$failback" | jq -c '{gap_ms, lost}')"

lab_result failback "$(jq -n -c --argjson c "$crash" --argjson f "$failback" \
	--argjson rep "$replays" --argjson ike "$(( $(pluto_ike_established remote) - ike0 ))" \
	--argjson pm "${promote_ms:-null}" --arg ts "$t_start" --arg tsync "${t_sync:-null}" --arg tvip "${t_vip:-null}" \
	'{failovers: [{mode: "crash", gap_ms: $c.gap_ms, lost: $c.lost},
	              {mode: "failback", gap_ms: $f.gap_ms, lost: $f.lost, new_ike_sas_remote: $ike,
	               promote_ms: $pm}],
	  replay_errors_remote: $rep,
	  agent_start_to_in_sync_s: (if $tsync == "null" then null else (($tsync | tonumber) - ($ts | tonumber)) end),
	  agent_start_to_vip_s: (if $tvip == "null" then null else (($tvip | tonumber) - ($ts | tonumber)) end)}')"
