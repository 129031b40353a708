# scale: N remote-initiated tunnels, each its own IKE SA and Child SA, taken
# over across a graceful and a crash failover (issue 9). The remote is N
# sites: one outer address each (198.18.0.0/16, routed via 192.0.2.100) and
# one protected /24 each (10.128.0.0/9); the gateways run SCALE_UPDOWN (below).
# script, as an operator's would. Every tunnel carries pings (fping from
# inside to each site) through each failover; then a quiet spell in which
# the remote's liveness probes every IKE SA. After each failover: time until
# each tunnel carries traffic again, when the IKE SAs were activated, the
# remote's new IKE SAs and IKE_SA_INITs (0), liveness probes unanswered (0),
# replay errors (0), and the old master back as a standby holding every SA
# and every IKE SA. Then the standby's agent and pluto restart and must hold
# everything again (the bulk sync time). No pluto may log EXPECTATION FAILED.
#
# SCALE_TUNNELS (default 100, what make check runs), SCALE_BASELINE=1: the same without the agent
# (pluto unpatched-in-effect: no HA socket), one graceful failover.

SCALE_TUNNELS=${SCALE_TUNNELS:-100}
SCALE_BASELINE=${SCALE_BASELINE:-0}
# The gateways' updown: %disabled (default), as Libreswan advises for busy
# servers that need nothing from it (the routes here are the agent's RRI and
# the gateways' route towards the sites); "default" runs Libreswan's own
# script, which costs about a second per Child SA in this single-CPU guest
# (pluto 5.2 runs it synchronously when a tunnel is negotiated).
SCALE_UPDOWN=${SCALE_UPDOWN:-%disabled}
# Initiations the remote starts at once during the bring-up.
SCALE_BATCH=${SCALE_BATCH:-10}
N=$SCALE_TUNNELS
LAB_REMOTE_DPDDELAY=${LAB_REMOTE_DPDDELAY:-2s}
LAB_REMOTE_RETRANSMIT_TIMEOUT=${LAB_REMOTE_RETRANSMIT_TIMEOUT:-6s}
dpd_s=${LAB_REMOTE_DPDDELAY%s}
rt_s=${LAB_REMOTE_RETRANSMIT_TIMEOUT%s}
# Quiet spell: every IKE SA probed at least twice, and a probe left
# unanswered given up on before it ends.
QUIET=${QUIET:-$((2 * dpd_s + rt_s + 2))}
# Ping period per site: 1,000 pings/s at most in the single-CPU guest.
PERIOD_MS=$((N > 100 ? N : 100))

[ "$SCALE_BASELINE" = 1 ] || LAB_PLUTO_HA=1
# The remote's pluto listens on N addresses: give it a second per 20.
LAB_PLUTO_START_WAIT=$((N / 20 > 10 ? N / 20 : 10))
# ... and opens two sockets per address: more than the default 1,024
# descriptors from about 500 sites.
ulimit -n $((4 * N + 1024))

# site_out N / site_net N / site_addr N: tunnel N's remote outer address,
# protected /24 and the remote's address inside it.
site_out() { echo "198.18.$((($1 - 1) / 250)).$((($1 - 1) % 250 + 1))"; }
site_net() { echo "10.$((128 + ($1 - 1) / 256)).$((($1 - 1) % 256)).0/24"; }
site_addr() { echo "10.$((128 + ($1 - 1) / 256)).$((($1 - 1) % 256)).1"; }

# scale_pluto_conf HOST: N connections; the gateways' identical, the remote's
# the mirror image.
scale_pluto_conf() {
	local host=$1 dir=$LAB_RUN/$1 n ha= dpd=$LAB_DPDDELAY rt=$LAB_RETRANSMIT_TIMEOUT
	mkdir -p "$dir/ipsec.d" "$dir/nss"
	if [ "$host" = remote ]; then
		dpd=$LAB_REMOTE_DPDDELAY
		rt=$LAB_REMOTE_RETRANSMIT_TIMEOUT
	elif [ "${LAB_PLUTO_HA:-0}" = 1 ]; then
		ha="	ha-socket=$(pluto_ha_socket "$host")"
	fi
	if [ "${LAB_PLUTO_HA:-0}" = 1 ]; then lab_use_patched_pluto || return 1; fi
	{
		printf 'config setup\n\tplutodebug=none\n%s\n\n' "$ha"
		printf 'conn %%default\n\tkeyexchange=ikev2\n\tauthby=secret\n'
		printf '\tdpddelay=%s\n\tretransmit-timeout=%s\n' "$dpd" "$rt"
		# The remote is N sites, not under test: no updown. The gateways
		# run SCALE_UPDOWN (below).
		if [ "$host" = remote ]; then
			printf '\tleftupdown=%%disabled\n'
		elif [ "$SCALE_UPDOWN" != default ]; then
			printf '\tleftupdown=%s\n' "$SCALE_UPDOWN"
		fi
		for n in $(seq 1 "$N"); do
			if [ "$host" = remote ]; then
				printf '\nconn tun%s\n\tleft=%s\n\tleftid=@remote\n\tleftsubnet=%s\n' \
					"$n" "$(site_out "$n")" "$(site_net "$n")"
				printf '\tright=%s\n\trightid=@gateway\n\trightsubnet=10.1.0.0/24\n' "$VIP_OUT"
				printf '\treqid=%s\n\tauto=add\n' $((1000 + n))
			else
				printf '\nconn tun%s\n\tleft=%s\n\tleftid=@gateway\n\tleftsubnet=10.1.0.0/24\n' \
					"$n" "$VIP_OUT"
				printf '\tleftsourceip=%s\n\tright=%s\n\trightid=@remote\n\trightsubnet=%s\n' \
					"$VIP_IN" "$(site_out "$n")" "$(site_net "$n")"
				printf '\treqid=%s\n\tauto=add\n' $((1000 + n))
			fi
		done
	} >"$dir/ipsec.conf"
	printf '@gateway @remote : PSK "%s"\n' "$LAB_PSK" >"$dir/ipsec.secrets"
	chmod 0600 "$dir/ipsec.secrets"
	[ -f "$dir/nss/cert9.db" ] || ipsec initnss --nssdir "$dir/nss" >/dev/null
}

scale_topology() {
	local n h
	lab_topology
	in_ns remote ip link add sites type dummy
	in_ns remote ip link set sites up
	for n in $(seq 1 "$N"); do
		printf 'address add %s/32 dev eth-out\naddress add %s/24 dev sites\n' \
			"$(site_out "$n")" "$(site_addr "$n")"
	done | in_ns remote ip -batch -
	# The gateways reach the sites the way they reach the internet; the
	# remote reaches the protected inside network through the VIP.
	for h in gw1 gw2; do in_ns "$h" ip route add 198.18.0.0/16 via "$REMOTE_OUT"; done
	in_ns remote ip route add 10.1.0.0/24 via "$VIP_OUT"
}

# ---------------------------------------------------------------- measures

# Established Child SAs (tunnels) the remote has.
remote_tunnels() { pluto_whack remote --trafficstatus 2>/dev/null | grep -c '"tun[0-9]*"'; }
tunnels_at_least() { [ "$(remote_tunnels)" -ge "$1" ]; }
all_up() { tunnels_at_least "$N"; }
# Established (not dormant) IKE SAs, and dormant IKE SAs, in HOST's pluto.
ike_live() { pluto_whack "$1" --showstates 2>/dev/null | awk '$3 == "ESTABLISHED_IKE_SA" && !/dormant/ {n++} END {print n + 0}'; }
ike_dormant() { pluto_whack "$1" --showstates 2>/dev/null | grep -c ': dormant IKE SA'; }
holds_all_dormant() { [ "$(ike_dormant "$1")" -ge "$N" ]; }
vip_sas() { kernel_sas "$1" | wc -l; }
# The standby holds every SA of the master's kernel and every IKE SA dormant.
standby_holds_all() { lab_holds_master "$1" "$2" && holds_all_dormant "$2"; }
rss_kb() { local pid; pid=$(lab_pid_of "$1" "$2") && awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" || echo null; }
expectation_failures() { cat "$LAB_RUN"/*/pluto.log 2>/dev/null | grep -c 'EXPECTATION FAILED'; }

# fping every site from inside; one line per reply with its time.
pings_start() {
	rm -f "$LAB_RUN/pings-$1.log"
	for n in $(seq 1 "$N"); do site_addr "$n"; done >"$LAB_RUN/sites.txt"
	in_ns inside fping -l -D -p "$PERIOD_MS" -i 1 -t 500 -r 0 -f "$LAB_RUN/sites.txt" \
		>"$LAB_RUN/pings-$1.log" 2>/dev/null &
	echo $! >"$LAB_RUN/pings-$1.pid"
}
pings_stop() { kill "$(cat "$LAB_RUN/pings-$1.pid")" 2>/dev/null; sleep 0.3; }
# Sites that answered after time T.
answering_since() { awk -v t="$2" '{ts = substr($1, 2) + 0} ts > t + 0 {print $2}' "$LAB_RUN/pings-$1.log" | sort -u | wc -l; }
all_answering_since() { [ "$(answering_since "$1" "$2")" -ge "$N" ]; }
# Per site, the time from T until its first reply after T, in ms: p50,
# p99 and max as JSON (sites that never answered count as null).
recovery_json() {
	awk -v t="$2" '{ts = substr($1, 2) + 0; s = $2}
		ts > t + 0 && !(s in first) {first[s] = ts}
		END {for (s in first) printf "%.1f\n", (first[s] - t) * 1000}' "$LAB_RUN/pings-$1.log" |
		sort -n | awk -v n="$N" '{v[++m] = $1}
		END {printf "{\"sites\":%d,\"recovered\":%d,\"p50_ms\":%s,\"p99_ms\":%s,\"max_ms\":%s}\n",
			n, m, m ? v[int((m - 1) * 0.5) + 1] : "null", m ? v[int((m - 1) * 0.99) + 1] : "null",
			m ? v[m] : "null"}'
}
# IKE SAs pluto on HOST reported activated since log MARK: first and last,
# in ms from T. Pluto's log has the time of day (the guest runs in UTC).
activation_json() {
	pluto_log_since "$1" "$2" | awk -v t="$3" '/ha: activated the IKE SA of peer/ {
			for (i = 1; i <= 4; i++) if ($i ~ /^[0-9]+:[0-9]+:[0-9.]+:?$/) break
			split($i, hms, ":"); e = hms[1] * 3600 + hms[2] * 60 + hms[3]
			if (!n++) first = e; last = e }
		END {day = t - (t % 86400)
			printf "{\"ike_activated\":%d,\"first_ms\":%s,\"last_ms\":%s}\n", n,
				n ? int((day + first - t) * 1000) : "null", n ? int((day + last - t) * 1000) : "null"}'
}
# IKEv2 INFORMATIONAL requests from the sites to the VIP in the capture
# from T, retransmissions folded, left without a response.
probes_json() {
	lab_ike_messages outside "$2" | awk -v vip="$VIP_OUT" '$6 == 37 {
			k = $4 " " $5 " " $8
			if ($3 == vip && $7 == "request" && !(k in req)) { req[k] = 1; n++ }
			if ($2 == vip && $7 == "response") resp[k] = 1 }
		END {u = 0; for (k in req) if (!(k in resp)) u++
			printf "{\"probes\":%d,\"unanswered\":%d}\n", n, u}'
}

# ---------------------------------------------------------------- bring-up

scale_topology
for h in gw1 gw2 remote; do scale_pluto_conf "$h"; done
LAB_AGENT=$([ "$SCALE_BASELINE" = 1 ] && echo 0 || echo 1)
lab_keepalived_conf gw1 150
lab_keepalived_conf gw2 100
for h in gw1 gw2 remote; do lab_pluto_start "$h" || return 1; done
if [ "$SCALE_BASELINE" != 1 ]; then
	for h in gw1 gw2; do lab_hasyncd_conf "$h"; lab_hasyncd_start "$h"; done
fi
lab_keepalived_start gw1
lab_wait 10 lab_has_vip gw1
lab_keepalived_start gw2
pluto_whack remote --listen >/dev/null

t_up=$(lab_now)
for n in $(seq 1 "$N"); do
	pluto_whack remote --initiate --asynchronous --name "tun$n" >/dev/null 2>&1
	if [ $((n % SCALE_BATCH)) -eq 0 ]; then
		lab_wait 120 tunnels_at_least "$n"
	fi
done
lab_check "all $N tunnels up between the sites and the VIP on gw1" lab_wait 300 all_up
bringup_s=$(awk -v a="$t_up" -v b="$(lab_now)" 'BEGIN {printf "%.1f", b - a}')
lab_log "bring-up of $N tunnels: ${bringup_s} s ($(remote_tunnels) up)"
if ! all_up; then
	grep -E 'EXPECTATION|ERROR|failed' "$LAB_RUN/gw1/pluto.log" | tail -n 5 | sed 's/^/    gw1: /'
	return 1
fi
if [ "$SCALE_BASELINE" != 1 ]; then
	t_sync=$(lab_now)
	lab_check "gw2 holds every SA of gw1's kernel and all $N IKE SAs dormant" lab_wait 120 standby_holds_all gw1 gw2
	sync_s=$(awk -v a="$t_sync" -v b="$(lab_now)" 'BEGIN {printf "%.2f", b - a}')
fi
lab_capture_start outside

# ---------------------------------------------------------------- failovers

failovers=()
master=gw1
modes="graceful crash"
[ "$SCALE_BASELINE" = 1 ] && modes=graceful
for mode in $modes; do
	standby=$(lab_other "$master")
	lab_log "$mode failover: $master -> $standby"
	ike0=$(pluto_ike_established remote)
	init0=$(lab_ike_sa_init_count outside)
	seq0=$(xfrm_stat remote XfrmInStateSeqError)
	mark=$(pluto_log_mark "$standby")
	pings_start "$mode"
	sleep 3
	t0=$(lab_now)
	case $mode in
	graceful) lab_keepalived_stop "$master" ;;
	crash) lab_crash "$master" ;;
	esac
	lab_check "$mode: VIP moved to $standby" lab_wait 10 lab_has_vip "$standby"
	wait_s=$([ "$SCALE_BASELINE" = 1 ] && echo 400 || echo 30)
	lab_check "$mode: all $N tunnels carry traffic through $standby" lab_wait "$wait_s" all_answering_since "$mode" "$t0"
	sleep 1
	pings_stop "$mode"
	recovery=$(recovery_json "$mode" "$t0")
	t_quiet=$(lab_now)
	lab_log "$mode: $recovery; quiet for $QUIET s"
	sleep "$QUIET"
	activation=$(activation_json "$standby" "$mark" "$t0")
	probes=$(probes_json outside "$t_quiet")
	new_ike=$(( $(pluto_ike_established remote) - ike0 ))
	inits=$(( $(lab_ike_sa_init_count outside) - init0 ))
	replays=$(( $(xfrm_stat remote XfrmInStateSeqError) - seq0 ))
	lab_log "$mode: $activation $probes new IKE SAs $new_ike IKE_SA_INIT $inits replay errors $replays"
	if [ "$SCALE_BASELINE" != 1 ]; then
		lab_check "$mode: $standby's pluto activated all $N IKE SAs" test "$(echo "$activation" | jq .ike_activated)" -ge "$N"
		lab_check "$mode: $standby's pluto has all $N IKE SAs live" test "$(ike_live "$standby")" -ge "$N"
		lab_check "$mode: every liveness probe of the quiet spell answered" test "$(echo "$probes" | jq .unanswered)" -eq 0
		lab_check "$mode: the remote probed during the quiet spell" test "$(echo "$probes" | jq .probes)" -ge "$N"
		lab_check "$mode: no new IKE SA on the remote" test "$new_ike" -eq 0
		lab_check "$mode: no IKE_SA_INIT on the wire" test "$inits" -eq 0
		lab_check "$mode: no replay errors on the remote" test "$replays" -eq 0
	fi
	failovers+=("$(jq -n -c --arg mode "$mode" --argjson r "$recovery" --argjson a "$activation" \
		--argjson p "$probes" --argjson ike "$new_ike" --argjson init "$inits" --argjson rep "$replays" \
		'{mode: $mode, traffic: $r, activation: $a, liveness: $p, new_ike_sas_remote: $ike,
		  ike_sa_init: $init, replay_errors_remote: $rep}')")
	if [ "$SCALE_BASELINE" != 1 ]; then
		lab_rejoin_as_standby "$master" "$standby" "$mode" "$mode"
		lab_check "$mode: $master back as standby holds all $N IKE SAs dormant" lab_wait 60 holds_all_dormant "$master"
	fi
	master=$standby
done

# ---------------------------------------------------------------- restarts

restarts='null'
if [ "$SCALE_BASELINE" != 1 ]; then
	standby=$(lab_other "$master")
	lab_hasyncd_stop "$standby"
	t=$(lab_now)
	lab_hasyncd_start "$standby"
	lab_check "standby agent restarted: holds everything again" lab_wait 120 standby_holds_all "$master" "$standby"
	agent_s=$(awk -v a="$t" -v b="$(lab_now)" 'BEGIN {printf "%.2f", b - a}')
	lab_pluto_stop "$standby"
	t=$(lab_now)
	lab_pluto_start "$standby"
	lab_check "standby pluto restarted: holds all $N IKE SAs dormant again" lab_wait 120 holds_all_dormant "$standby"
	pluto_s=$(awk -v a="$t" -v b="$(lab_now)" 'BEGIN {printf "%.2f", b - a}')
	lab_log "bulk sync after bring-up ${sync_s} s, after an agent restart ${agent_s} s, after a pluto restart ${pluto_s} s"
	restarts=$(jq -n -c --argjson s "$sync_s" --argjson a "$agent_s" --argjson p "$pluto_s" \
		'{bulk_sync_after_bringup_s: $s, agent_restart_s: $a, pluto_restart_s: $p}')
fi
fails=$(expectation_failures)
lab_check "no EXPECTATION FAILED in any pluto log" test "$fails" -eq 0
lab_capture_stop outside

rss=$(jq -n -c --arg a "$(rss_kb gw1 hasyncd)" --arg b "$(rss_kb gw2 hasyncd)" \
	--arg c "$(rss_kb gw1 pluto)" --arg d "$(rss_kb gw2 pluto)" \
	'{hasyncd_gw1_kb: ($a | tonumber? // null), hasyncd_gw2_kb: ($b | tonumber? // null),
	  pluto_gw1_kb: ($c | tonumber? // null), pluto_gw2_kb: ($d | tonumber? // null)}')
lab_result "scale${SCALE_RESULT_SUFFIX:-}" "$(printf '%s\n' "${failovers[@]}" | jq -s -c \
	--argjson n "$N" --arg b "$SCALE_BASELINE" --arg dpd "$LAB_REMOTE_DPDDELAY" \
	--arg rt "$LAB_REMOTE_RETRANSMIT_TIMEOUT" --argjson up "$bringup_s" --argjson rs "$restarts" \
	--argjson rss "$rss" --argjson ef "$fails" \
	--arg ud "$SCALE_UPDOWN" \
	'{tunnels: $n, agent: ($b != "1"), gateway_updown: $ud, remote_liveness: {dpddelay: $dpd, retransmit_timeout: $rt},
	  bringup_s: $up, failovers: ., restarts: $rs, rss: $rss, expectation_failed: $ef}')"
