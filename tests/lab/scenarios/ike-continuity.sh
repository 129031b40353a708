# ike-continuity: after a failover the remote peer keeps its IKE SA (issue 5).
# The remote runs pluto with short liveness (it probes after LAB_REMOTE_DPDDELAY
# of silence and gives the peer up when an exchange goes unanswered for
# LAB_REMOTE_RETRANSMIT_TIMEOUT), so a new master that does not hold the IKE
# SA is found out within the run. A graceful failover (gw1 -> gw2), then,
# with gw1 back as the standby, a crash (gw2 -> gw1). After each: the traffic
# gap; a quiet spell of several liveness intervals in which the remote's
# probes must be answered and its log must show nothing given up; the same
# IKE SA on the remote; Child SA and IKE SA rekeys started by the remote and
# by the new master; no IKE_SA_INIT on the outside segment since the
# failover; then the remote deletes the tunnel and brings it up again (that
# one IKE_SA_INIT is expected). After the graceful one, the node that
# stepped down must have sent nothing on the outside segment but VRRP, ARP
# and IPv6 link housekeeping.

LAB_PLUTO_HA=1
LAB_REMOTE_DPDDELAY=${LAB_REMOTE_DPDDELAY:-2s}
LAB_REMOTE_RETRANSMIT_TIMEOUT=${LAB_REMOTE_RETRANSMIT_TIMEOUT:-6s}
# Quiet spell after each failover, seconds: more than 3 liveness intervals
# and more than one interval plus the retransmit timeout, so a probe left
# unanswered is given up on before it ends.
QUIET=${QUIET:-12}
CONN=tun1
# The gateways keep the lab's slower liveness: a peer that probes counts as
# contact, so with the same delay on both sides only one side might probe;
# this way the remote is the one that probes.

lab_ha_pair 1
lab_capture_start outside

# step VAR DESC COMMAND...: a check whose outcome (true/false) is also kept
# in VAR for the results.
step() {
	local var=$1 what=$2
	shift 2
	if "$@" >>"$LAB_RUN/check.log" 2>&1; then
		lab_pass "$what"
		printf -v "$var" true
	else
		lab_fail "$what"
		printf -v "$var" false
	fi
}

# peer_trouble HOST MARK: the lines of HOST's pluto log since MARK showing a
# peer given up, an unknown IKE SA or a new IKE SA.
peer_trouble() { pluto_log_since "$1" "$2" | grep -E "$PLUTO_PEER_TROUBLE"; }

# delete_handled HOST MARK: HOST's pluto deleted its IKE SA of the
# connection on the remote's request and holds none.
delete_handled() {
	pluto_log_since "$1" "$2" | grep -q 'deleting IKE SA' &&
		[ "$(pluto_ike_count "$1" "$CONN")" -eq 0 ]
}

rekey_then_traffic() { pluto_rekey "$@" && lab_wait 5 lab_ping_through; }
# rekey_step VAR DESC HOST ike|child: a rekey as a step; on failure what
# whack said goes to the console.
rekey_step() {
	step "$1" "$2" rekey_then_traffic "$3" "$4" "$CONN"
	[ "${!1}" = true ] || awk '/ rekey-/ {n = NR} {l[NR] = $0} END {for (i = n; i <= NR; i++) print "    " l[i]}' \
		"$LAB_RUN/$3/whack.log"
}
has_ike() { [ "$(pluto_ike_count "$1" "$CONN")" -ge 1 ]; }
no_ike() { [ "$(pluto_ike_count "$1" "$CONN")" -eq 0 ]; }
has_dormant() { pluto_whack "$1" --showstates 2>/dev/null | grep -q "^\"$CONN\": dormant IKE SA"; }
same_child() { [ "$(pluto_child_spis remote "$CONN")" = "$1" ]; }
one_ike_sa() { [ "$(pluto_ike_count remote "$CONN")" -eq 1 ]; }
# Packets in the capture NAME matching FILTER in [FROM, TO].
count() { lab_capture_read "$1" "$2" "$3" "${4:-9e18}" | wc -l; }

if ! lab_wait 60 lab_tunnels_up 1; then
	# Nothing below means anything without the tunnel: stop here.
	lab_fail "tunnel up between remote and the VIP on gw1"
	grep -E 'NO_PROPOSAL|no suitable|ha:' "$LAB_RUN/gw1/pluto.log" | tail -n 5 | sed 's/^/    gw1: /'
	lab_capture_stop outside
	return 1
fi
lab_pass "tunnel up between remote and the VIP on gw1"
lab_check "traffic flows through the tunnel" lab_wait 10 lab_ping_through
lab_check "the remote has one IKE SA for $CONN" lab_wait 10 one_ike_sa
lab_check "gw2 holds every SA of gw1's kernel" lab_wait 10 lab_holds_master gw1 gw2

# The rekeys the failovers need, against gw1 first: they must work without
# any failover before their failure after one means anything.
lab_check "before: Child SA rekey by the remote" rekey_then_traffic remote child "$CONN"
lab_check "before: Child SA rekey by gw1" rekey_then_traffic gw1 child "$CONN"
lab_check "before: IKE SA rekey by the remote" rekey_then_traffic remote ike "$CONN"
lab_check "before: IKE SA rekey by gw1" rekey_then_traffic gw1 ike "$CONN"
lab_check "before: the remote still has one IKE SA" lab_wait 5 one_ike_sa
lab_check "before: gw2 holds every SA of gw1's kernel again" lab_wait 10 lab_holds_master gw1 gw2

# Bad input on pluto's HA socket, from a client that is not the agent (it
# replaces the agent's connection, as a restarted agent would): each message
# refused with a reason, pluto still up, and the agent back, resynced, the
# IKE SA dormant again.
ha_garbage() {
	local m
	for m in 'not json' '{"version":2,"type":"ike_sa"}' '{"version":1}' \
		'{"version":1,"type":"child_sa","serial":9,"ike_serial":99999,"connection":"tun1"}' \
		'{"version":1,"type":"ike_sa","serial":5,"spi_i":"zz","spi_r":"00","connection":"tun1"}' \
		'{"version":1,"type":"activate","local":"not-an-address"}' \
		'{"version":1,"type":"frobnicate"}'; do
		printf '%s' "$m" | in_ns gw2 socat -t 0.3 - UNIX-CONNECT:/run/pluto-gw2/ha.ctl,type=5 >/dev/null 2>&1
	done
}
agent_connections() { grep -c 'connected to the HA socket' "$LAB_RUN/gw2/hasyncd.log"; }
gmark=$(pluto_log_mark gw2)
conns0=$(agent_connections)
ha_garbage
refusals() { [ "$(pluto_log_since gw2 "$gmark" | grep -c 'ha: refused')" -eq 7 ]; }
reconnected() { [ "$(agent_connections)" -gt "$conns0" ]; }
lab_check "bad messages on gw2's HA socket: all 7 refused, with a reason" refusals
pluto_log_since gw2 "$gmark" | grep 'ha: refused' | sed 's/^/    /' >>"$LAB_RUN/check.log"
lab_check "after them: gw2's pluto still answers whack" pluto_whack gw2 --showstates
lab_check "after them: gw2's agent reconnected to pluto" lab_wait 15 reconnected
lab_check "after them: gw2's pluto holds the IKE SA dormant again" lab_wait 10 has_dormant gw2
# The listing has the SAs (their SPIs) and never a key member.
no_keys() {
	local out
	out=$(hactl "$1" --json ike) && printf '%s' "$out" | grep -q '"spi_i"' &&
		! printf '%s' "$out" | grep -Eq '"(sk_[a-z]+|keys|keymat|salt_[ir])"'
}
keys_hidden() { no_keys gw1 && no_keys gw2; }
lab_check "hasyncctl ike on gw1 and gw2 lists the IKE SA and no key" keys_hidden

failovers=()
master=gw1
i=0
for mode in graceful crash; do
	i=$((i + 1))
	standby=$(lab_other "$master")
	t="$i $mode"
	lab_log "failover $i ($mode): $master -> $standby"
	ike0=$(pluto_ike_established remote)
	ike_serial0=$(pluto_ike_serial remote "$CONN")
	child0=$(pluto_child_spis remote "$CONN")
	# What the new master holds before the failover, for the logs: its
	# agent's IKE caches and its pluto's states (dormant ones included).
	hactl "$standby" --json ike >"$LAB_RUN/$standby/ike-before-failover-$i.json" 2>&1
	pluto_whack "$standby" --showstates >"$LAB_RUN/$standby/states-before-failover-$i.txt" 2>&1
	lab_check "$t: $standby's pluto holds the IKE SA dormant" lab_wait 5 has_dormant "$standby"
	lab_traffic_start "f$i"
	sleep 2
	if [ "$mode" = graceful ]; then
		lab_capture_start "stepped-down-$i" "$master" eth-out out
	fi
	rmark=$(pluto_log_mark remote)
	t_fail=$(lab_now)
	case $mode in
	graceful) lab_keepalived_stop "$master" ;;
	crash) lab_crash "$master" ;;
	esac
	# Graceful: keepalived has exited, the VIP is gone from the old master.
	t_down=$(lab_now)
	lab_check "$t: VIP moved to $standby" lab_wait 10 lab_has_vip "$standby"
	lab_check "$t: traffic flows through $standby" lab_wait 20 lab_ping_through
	if [ "$mode" = graceful ]; then
		lab_check "$t: $master's pluto dropped its IKE SA" lab_wait 5 no_ike "$master"
	fi
	# Before the remote could have renegotiated: the activated SA, not a new one.
	lab_check "$t: $standby's pluto has the IKE SA established" lab_wait 2 has_ike "$standby"
	sleep 2
	traffic=$(lab_traffic_stop "f$i")
	lab_log "$t: $(echo "$traffic" | jq -c '{gap_ms, lost}')"

	# No traffic now: the remote's liveness probes go to the new master.
	t_quiet=$(lab_now)
	sleep "$QUIET"
	t_quiet_end=$(lab_now)
	# Liveness probes are empty INFORMATIONAL requests: the remote's since
	# the failover (but the last second's, whose answer may be on its way)
	# must all have had their response from the VIP.
	probes=$(count outside "src host $REMOTE_OUT and $(ike_exchange_filter 37 request)" "$t_quiet" "$t_quiet_end")
	unanswered=$(lab_ike_unanswered outside "$REMOTE_OUT" "$VIP_OUT" 37 "$t_fail" "$(awk -v t="$t_quiet_end" 'BEGIN {printf "%.6f", t - 1}')")
	lab_log "$t: quiet ${QUIET}s: the remote sent $probes INFORMATIONAL requests (retransmissions included); unanswered since the failover: $(printf '%s' "${unanswered:-none}" | tr '\n' ',')"
	unanswered=$(printf '%s' "$unanswered" | grep -c .)
	lab_check "$t: the remote probed the new master while traffic was quiet" test "$probes" -ge 2
	lab_check "$t: every INFORMATIONAL request of the remote answered" test "$unanswered" -eq 0
	trouble=$(peer_trouble remote "$rmark" | wc -l)
	step quiet_ok "$t: the remote's log: no peer given up, no new IKE SA" test "$trouble" -eq 0
	[ "$trouble" -eq 0 ] || peer_trouble remote "$rmark" | head -n 8 | sed 's/^/    remote: /'
	step same_ike "$t: the remote kept its IKE SA (#$ike_serial0)" \
		test "$(pluto_ike_serial remote "$CONN")" = "$ike_serial0"
	lab_check "$t: the remote kept its Child SA ($child0)" same_child "$child0"
	lab_check "$t: traffic flows after the quiet spell" lab_wait 10 lab_ping_through

	rekey_step child_remote "$t: Child SA rekey by the remote" remote child
	rekey_step child_master "$t: Child SA rekey by $standby" "$standby" child
	rekey_step ike_remote "$t: IKE SA rekey by the remote" remote ike
	rekey_step ike_master "$t: IKE SA rekey by $standby" "$standby" ike
	rekeyed_trouble=$(pluto_log_since remote "$rmark" | grep -c -E 'timeout exceeded|max number of retransmissions|No response')
	lab_check "$t: no exchange of the remote's timed out" test "$rekeyed_trouble" -eq 0
	# Not failures, figures: requests the remote had to repeat (one sent
	# while the VIP moved), ICMP errors it got (the VIP up before pluto
	# listens on it).
	retrans=$(pluto_log_since remote "$rmark" | grep -c 'retransmission; will wait')
	icmp=$(pluto_log_since remote "$rmark" | grep -c 'asynchronous network error report')
	[ $((retrans + icmp)) -eq 0 ] || pluto_log_since remote "$rmark" |
		grep -E 'retransmission; will wait|asynchronous network error report' | head -n 4 | sed 's/^/    note: remote: /'

	ike=$(( $(pluto_ike_established remote) - ike0 ))
	t_del=$(lab_now)
	init_seen=$(lab_ike_sa_init_count outside "$t_fail" "$t_del")
	lab_log "$t: new IKE SAs on the remote $ike, IKE_SA_INIT requests since the failover $init_seen"
	lab_check "$t: new_ike_sas_remote is 0" test "$ike" -eq 0
	lab_check "$t: no IKE_SA_INIT on the outside segment since the failover" test "$init_seen" -eq 0

	# The remote deletes the tunnel (DELETE of the IKE SA and its Child SA),
	# then brings it up again: the one IKE_SA_INIT expected.
	mmark=$(pluto_log_mark "$standby")
	lab_check "$t: the remote deletes $CONN (--down)" pluto_whack remote --down --name "$CONN"
	step deleted "$t: $standby deleted its IKE SA on the remote's request" \
		lab_wait 5 delete_handled "$standby" "$mmark"
	lab_check "$t: the remote re-establishes $CONN (--initiate)" \
		pluto_whack remote --initiate --name "$CONN" --asynchronous
	step reestablished "$t: tunnel up again" lab_wait 20 lab_tunnel_up remote "$CONN"
	lab_check "$t: traffic flows through the new tunnel" lab_wait 10 lab_ping_through
	init_after=$(lab_ike_sa_init_count outside "$t_del")
	ike_after=$(( $(pluto_ike_established remote) - ike0 ))
	lab_check "$t: the re-establish was seen on the wire (IKE_SA_INIT)" test "$init_after" -ge 1
	lab_check "$t: and made one new IKE SA on the remote" test "$ike_after" -eq $((ike + 1))

	quiet_pkts=null
	if [ "$mode" = graceful ]; then
		lab_capture_stop "stepped-down-$i"
		quiet_pkts=$(count "stepped-down-$i" "$NOT_LINK_HOUSEKEEPING" "$t_down")
		since_sigterm=$(count "stepped-down-$i" "$NOT_LINK_HOUSEKEEPING" "$t_fail")
		lab_capture_read "stepped-down-$i" "$NOT_LINK_HOUSEKEEPING" "$t_fail" >>"$LAB_RUN/check.log"
		lab_log "$t: $master sent $quiet_pkts packets after stepping down ($since_sigterm since keepalived was told to stop)"
		lab_check "$t: $master sent nothing on the outside segment after stepping down" \
			test "$quiet_pkts" -eq 0
	fi
	promote_ms=$(hactl "$standby" --json status |
		jq '[.vips[] | .last_takeover | select(. != null and .kind == "promote") | .total_ms] | max // null')
	failovers+=("$(jq -n -c --arg mode "$mode" --arg from "$master" --arg to "$standby" \
		--argjson tr "$traffic" --argjson ike "$ike" --argjson ike_after "$ike_after" \
		--argjson init "$init_seen" --argjson init_after "$init_after" \
		--argjson probes "$probes" --argjson unanswered "$unanswered" \
		--argjson trouble "$trouble" --argjson retrans "$retrans" --argjson icmp "$icmp" \
		--argjson quiet_ok "$quiet_ok" --argjson same "$same_ike" \
		--argjson cr "$child_remote" --argjson cm "$child_master" \
		--argjson ir "$ike_remote" --argjson im "$ike_master" \
		--argjson del "$deleted" --argjson up "$reestablished" \
		--argjson sd "$quiet_pkts" --argjson pm "${promote_ms:-null}" \
		'{mode: $mode, from: $from, to: $to, gap_ms: $tr.gap_ms, lost: $tr.lost,
		  new_ike_sas_remote: $ike, ike_sa_init_seen: $init,
		  remote_liveness_probes_quiet: $probes, remote_requests_unanswered: $unanswered,
		  remote_log_trouble_lines: $trouble, remote_never_gave_up: $quiet_ok,
		  remote_retransmissions: $retrans, remote_icmp_errors: $icmp,
		  same_ike_sa_remote: $same,
		  rekeys_ok: {child_by_remote: $cr, child_by_new_master: $cm,
		              ike_by_remote: $ir, ike_by_new_master: $im},
		  delete_by_remote_ok: $del, reestablish_ok: $up,
		  ike_sa_init_after_reestablish: $init_after,
		  new_ike_sas_remote_after_reestablish: $ike_after,
		  stepped_down_packets: $sd, promote_ms: $pm}')")

	lab_rejoin_as_standby "$master" "$standby" "$mode" "$i"
	master=$standby
done
lab_capture_stop outside

lab_result ike-continuity "$(printf '%s\n' "${failovers[@]}" | jq -s -c \
	--arg rdpd "$LAB_REMOTE_DPDDELAY" --arg rrt "$LAB_REMOTE_RETRANSMIT_TIMEOUT" \
	--arg gdpd "$LAB_DPDDELAY" --arg grt "$LAB_RETRANSMIT_TIMEOUT" --argjson quiet "$QUIET" \
	--arg adv "$LAB_ADVERT_INT" --arg pluto "$(/usr/libexec/ipsec/pluto --version 2>&1 | head -n 1)" \
	'{failovers: ., settings: {remote: {dpddelay: $rdpd, retransmit_timeout: $rrt},
	  gateways: {dpddelay: $gdpd, retransmit_timeout: $grt}, quiet_s: $quiet,
	  advert_int_s: ($adv | tonumber), pluto: $pluto}}')"
