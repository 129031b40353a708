# failover: stateful failovers with hasyncd. Steady traffic through a
# remote-initiated tunnel while the VIP moves back and forth, alternating a
# graceful failover (keepalived stops) and a crash (every process of the
# master killed, its links cut). The new master promotes the SAs it holds
# for the VIP; the node that stepped down removes its own. After each:
# traffic gap, loss, the remote's replay errors (must stay 0) and new IKE
# SAs, routes only on the master, no SA left on the node that stepped down.

TUNNELS=${TUNNELS:-3}
FAILOVERS=${FAILOVERS:-10}
# The patched pluto with its HA socket, the agent connected to it: the
# failovers must pass with the IKE half in (issue 5).
LAB_PLUTO_HA=1
lab_ha_pair "$TUNNELS"

vip_sas() { kernel_sas "$1" | wc -l; }
# HOST's pluto has the tunnels' IKE SA (the lab's tunnels share one: same
# IDs and endpoints) and an established Child SA of every tunnel; or none.
ike_all() {
	local n
	[ "$(pluto_ike_count "$1" tun1)" -ge 1 ] || return 1
	for n in $(seq 1 "$TUNNELS"); do [ -n "$(pluto_child_serial "$1" "tun$n")" ] || return 1; done
}
ike_none() {
	local n
	for n in $(seq 1 "$TUNNELS"); do
		[ "$(pluto_ike_count "$1" "tun$n")" -eq 0 ] && [ -z "$(pluto_child_serial "$1" "tun$n")" ] || return 1
	done
}
# The remote's IKE SA serial and each tunnel's Child SA serial (pluto never
# reuses a serial): unchanged means nothing was renegotiated or rekeyed.
remote_sa_serials() {
	local n
	printf '%s' "$(pluto_ike_serial remote tun1)"
	for n in $(seq 1 "$TUNNELS"); do printf ' %s' "$(pluto_child_serial remote "tun$n")"; done
}
no_vip_sas() { [ "$(vip_sas "$1")" -eq 0 ]; }
our_routes() { in_ns "$1" ip route show proto 201 | wc -l; }

lab_check "$TUNNELS tunnels up between remote and the VIP on gw1" lab_wait 60 lab_tunnels_up "$TUNNELS"
lab_check "traffic flows through the tunnel" lab_wait 10 lab_ping_through
lab_check "gw2 holds every SA of gw1's kernel" lab_wait 10 lab_holds_master gw1 gw2

failovers=()
master=gw1
for i in $(seq 1 "$FAILOVERS"); do
	standby=$(lab_other "$master")
	if [ $((i % 2)) -eq 1 ]; then mode=graceful; else mode=crash; fi
	lab_log "failover $i ($mode): $master -> $standby"
	ike0=$(pluto_ike_established remote)
	serials0=$(remote_sa_serials)
	seq0=$(xfrm_stat remote XfrmInStateSeqError)
	lab_traffic_start "f$i"
	sleep 2
	case $mode in
	graceful) lab_keepalived_stop "$master" ;;
	crash) lab_crash "$master" ;;
	esac
	lab_check "$i $mode: VIP moved to $standby" lab_wait 10 lab_has_vip "$standby"
	lab_check "$i $mode: traffic flows through $standby" lab_wait 20 lab_ping_through
	lab_check "$i $mode: $standby's pluto took over the IKE SA and the Child SAs of all $TUNNELS tunnels" lab_wait 5 ike_all "$standby"
	sleep 2
	traffic=$(lab_traffic_stop "f$i")
	replays=$(( $(xfrm_stat remote XfrmInStateSeqError) - seq0 ))
	ike=$(( $(pluto_ike_established remote) - ike0 ))
	promote_ms=$(hactl "$standby" --json status |
		jq '[.vips[] | .last_takeover | select(. != null and .kind == "promote") | .total_ms] | max // null | if . == null then null else (. * 1000 | round / 1000) end')
	lab_log "$i $mode: $(echo "$traffic" | jq -c '{gap_ms, lost}') replays $replays new IKE SAs $ike promote ${promote_ms} ms"
	lab_check "$i $mode: no replay errors on the remote" test "$replays" -eq 0
	lab_check "$i $mode: $standby's kernel holds the VIP's SAs" test "$(vip_sas "$standby")" -ge $((2 * TUNNELS))
	lab_check "$i $mode: reverse routes on $standby" test "$(our_routes "$standby")" -ge "$TUNNELS"
	lab_check "$i $mode: the remote kept its IKE SA and every Child SA ($serials0)" test "$(remote_sa_serials)" = "$serials0"
	if [ "$mode" = graceful ]; then
		lab_check "$i $mode: $master's pluto dropped its IKE and Child SAs" lab_wait 5 ike_none "$master"
		lab_check "$i $mode: no SA of the VIP left on $master" lab_wait 5 no_vip_sas "$master"
		lab_check "$i $mode: no reverse route left on $master" test "$(our_routes "$master")" -eq 0
	fi
	failovers+=("$(jq -n -c --arg mode "$mode" --argjson t "$traffic" --argjson ike "$ike" \
		--argjson rep "$replays" --argjson pm "${promote_ms:-null}" \
		'{mode: $mode, gap_ms: $t.gap_ms, lost: $t.lost, new_ike_sas_remote: $ike,
		  replay_errors_remote: $rep, promote_ms: $pm}')")

	lab_rejoin_as_standby "$master" "$standby" "$mode" "$i"
	lab_check "$i: no SA of the VIP on $master" test "$(vip_sas "$master")" -eq 0
	master=$standby
done

# Bad events get a clear error and change nothing.
roles() { for h in gw1 gw2; do hactl "$h" --json status | jq -c '[.vips[] | .state]'; done; }
# expect_error CODE PATTERN ARGS...: hasyncctl on the master exits CODE saying PATTERN.
expect_error() {
	local code=$1 pattern=$2 out rc
	shift 2
	out=$(hactl "$master" "$@" 2>&1)
	rc=$?
	echo "hasyncctl $*: exit $rc: $out" >>"$LAB_RUN/check.log"
	[ "$rc" -eq "$code" ] && printf '%s' "$out" | grep -q -- "$pattern"
}
garbage_reply() {
	printf 'GET / HTTP/1.0\r\n\r\n' |
		in_ns "$master" socat -t 2 - "UNIX-CONNECT:$LAB_RUN/$master/ctl.sock" | grep -q '"ok":false'
}
before=$(roles)
lab_check "notify for an instance we do not manage: refused, says why" \
	expect_error 1 'instance=NOT_OURS' notify GROUP NOT_OURS BACKUP 100
lab_check "notify with a state keepalived never sends: usage error" \
	expect_error 2 'SIDEWAYS' notify GROUP G_HA SIDEWAYS 100
lab_check "promote of a VIP we do not have: refused, says why" \
	expect_error 1 'nosuchvip' promote nosuchvip
lab_check "garbage on the control socket: an error reply" garbage_reply
lab_check "after the bad events: both nodes' roles unchanged" test "$before" = "$(roles)"
lab_check "after the bad events: traffic still flows" lab_wait 10 lab_ping_through

lab_result failover "$(printf '%s\n' "${failovers[@]}" | jq -s -c \
	--arg adv "$LAB_ADVERT_INT" --arg dpd "$LAB_DPDDELAY" --arg rt "$LAB_RETRANSMIT_TIMEOUT" \
	--argjson tunnels "$TUNNELS" \
	'{failovers: ., settings: {tunnels: $tunnels, advert_int_s: ($adv | tonumber),
	  dpddelay: $dpd, retransmit_timeout: $rt, agent: "hasyncd (kernel-only takeover)"}}')"
