# baseline-failover: the world without hasyncd. Steady traffic through a
# remote-initiated IKEv2 tunnel to the VIP, then (a) a graceful failover
# (gw1's keepalived stops) and (b) a crash of the new master (every process
# killed, links cut). For each: the traffic gap, packets lost, the new IKE
# SAs the remote had to negotiate and the remote's replay errors.
# The gateways run Libreswan with identical configuration; the new master's
# notify script only tells pluto to listen on the VIP, as an operator would.

lab_topology
for h in gw1 gw2 remote; do lab_pluto_conf "$h"; done
lab_keepalived_conf gw1 150
lab_keepalived_conf gw2 100
for h in gw1 gw2 remote; do lab_pluto_start "$h"; done
lab_keepalived_start gw1
lab_wait 10 lab_has_vip gw1
lab_keepalived_start gw2
pluto_whack remote --listen >/dev/null
lab_check "tunnel up between remote and the VIP on gw1" lab_wait 30 lab_tunnel_up remote tun1
lab_check "traffic flows through the tunnel" lab_wait 10 lab_ping_through

failovers=()

# baseline_failover MODE FROM TO
baseline_failover() {
	local mode=$1 from=$2 to=$3 ike0 seq0 t0 t1 traffic
	ike0=$(pluto_ike_established remote)
	seq0=$(xfrm_stat remote XfrmInStateSeqError)
	lab_traffic_start "$mode"
	sleep 3
	lab_log "$mode failover: $from -> $to"
	t0=$(cut -d' ' -f1 /proc/uptime)
	case $mode in
	graceful) lab_keepalived_stop "$from" ;;
	crash) lab_crash "$from" ;;
	esac
	lab_check "$mode: VRRP moved the VIP to $to" lab_wait 10 lab_has_vip "$to"
	# The remote only notices after its liveness probes go unanswered for
	# retransmit-timeout, then renegotiates with the new master.
	lab_check "$mode: traffic recovered through $to" lab_wait 150 lab_ping_through
	t1=$(cut -d' ' -f1 /proc/uptime)
	lab_log "$mode: traffic back after $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}') s"
	sleep 3
	traffic=$(lab_traffic_stop "$mode")
	lab_log "$mode: $traffic"
	failovers+=("$(jq -n -c --arg mode "$mode" --argjson t "$traffic" \
		--argjson ike "$(( $(pluto_ike_established remote) - ike0 ))" \
		--argjson rep "$(( $(xfrm_stat remote XfrmInStateSeqError) - seq0 ))" \
		--argjson rec "$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%d", (b - a) * 1000}')" \
		'{mode: $mode, gap_ms: $t.gap_ms, lost: $t.lost, new_ike_sas_remote: $ike,
		  replay_errors_remote: $rep, recovered_after_ms: $rec, initiator: "remote",
		  traffic: $t}')")
}

# (a) graceful: gw1's keepalived stops and leaves with priority 0.
baseline_failover graceful gw1 gw2

# gw1 comes back as a clean standby, as after a reboot (nopreempt keeps it backup).
lab_pluto_stop gw1
lab_revive gw1
lab_pluto_start gw1
lab_keepalived_start gw1
lab_check "gw1 back as VRRP backup" lab_wait 5 sh -c "tail -n 1 $LAB_RUN/gw1/notify.states | grep -q BACKUP"

# (b) crash of the master, now gw2.
baseline_failover crash gw2 gw1

lab_result baseline-failover "$(printf '%s\n' "${failovers[@]}" | jq -s -c \
	--arg dpd "$LAB_DPDDELAY" --arg rt "$LAB_RETRANSMIT_TIMEOUT" \
	--arg adv "$LAB_ADVERT_INT" --arg rate "${LAB_TRAFFIC_RATE:-1000}" \
	--arg ls "$(in_ns remote ipsec --version 2>/dev/null | head -n 1)" \
	--arg ka "$(keepalived --version 2>&1 | head -n 1)" --arg kernel "$(uname -r)" \
	'{failovers: ., settings: {initiator: "remote", dpddelay: $dpd,
	  retransmit_timeout: $rt, vrrp_version: 3, advert_int_s: ($adv | tonumber),
	  traffic_pps_each_way: ($rate | tonumber), libreswan: $ls, keepalived: $ka,
	  kernel: $kernel, agent: "none"}}')"
