# active-active: two VIPs, each gateway master of one and the other's standby.
# G_A (192.0.2.1, 10.1.0.1) is master on gw1 with tunnel tunA; G_B
# (192.0.2.11, 10.1.0.11) is master on gw2 with tunB. Each agent holds the
# other's VIP. Then: gw1 crashes (gw2 promotes A, B is left alone); gw1
# returns as backup of both (nopreempt) and syncs both VIPs; gw2's
# keepalived stops (gw1 promotes both); gw2 returns, and G_B alone moves
# back to it (gw1's G_B forced to FAULT): gw1 steps down B and keeps A.
# After each move: traffic gap per tunnel, promotion time per VIP, the
# remote's replay errors (must stay 0), and what the other VIP kept.
# About 35 s in the guest.

VIP_A_OUT=$VIP_OUT
VIP_A_IN=$VIP_IN
VIP_B_OUT=192.0.2.11
VIP_B_IN=10.1.0.11
RHOST2=10.2.1.10		# behind remote, reached through tunB
REMOTE_IN2=10.2.1.1

# ---------------------------------------------------------------- helpers

# The lib's one-VIP helpers, for either VIP (they read VIP_OUT).
kernel_sas_vip() { VIP_OUT=$2 kernel_sas "$1"; }
has_addr() { in_ns "$1" ip -o addr show | grep -q " $2/"; }
# held_sas_vip HOST VIPNAME: the standby cache's lines for one vip section.
held_sas_vip() {
	hactl "$1" --json sas "$2" 2>/dev/null |
		jq -r '.sas[] | "\(.spi) \(.key_sha256_8) \(.seq) \(.oseq)"' | sort
}
# holds_vip MASTER STANDBY VIPADDR VIPNAME: the standby's cache of the VIP
# is exactly the master's kernel SAs of it (SPI and key hash), and not empty.
holds_vip() {
	local k
	k=$(kernel_sas_vip "$1" "$3" | cut -d' ' -f1,2)
	[ -n "$k" ] && [ "$k" = "$(held_sas_vip "$2" "$4" | cut -d' ' -f1,2)" ]
}
vip_sa_count() { kernel_sas_vip "$1" "$2" | wc -l; }
vip_ids() { kernel_sas_vip "$1" "$2" | cut -d' ' -f1,2; }
# Policies whose template has ADDR at either end (out, in and fwd).
vip_policies() { in_ns "$1" ip xfrm policy | awk -v a="$2" '$1 == "tmpl" && ($3 == a || $5 == a)' | wc -l; }
# agent_routes HOST: the prefixes of the agent's reverse routes, on one line.
agent_routes() { in_ns "$1" ip route show proto 201 | awk '{print $1}' | sort | xargs; }
# group_state HOST GROUP [SKIP]: the last VRRP state HOST's notify script saw
# for GROUP, after the first SKIP lines of its log.
group_state() {
	awk -v g="$2" -v skip="${3:-0}" 'NR > skip && $3 == g {s = $4} END {print s}' \
		"$LAB_RUN/$1/notify.states" 2>/dev/null
}
# in_state HOST GROUP STATE [SKIP]: for lab_wait, which repeats its command
# as given (a "$(...)" in its arguments would be read once).
in_state() { [ "$(group_state "$1" "$2" "${4:-0}")" = "$3" ]; }
states_seen() { wc -l <"$LAB_RUN/$1/notify.states"; }
# no_sas HOST ADDR...: HOST's kernel has no SA of any of the VIPs.
no_sas() {
	local h=$1 a
	shift
	for a in "$@"; do [ "$(vip_sa_count "$h" "$a")" -eq 0 ] || return 1; done
}
# vip_status HOST VIPNAME JQ: a field of one VIP in the agent's status.
vip_status() {
	hactl "$1" --json status | jq -c --arg n "$2" ".vips[] | select(.name == \$n) | $3"
}
# takeover_ms HOST VIPNAME KIND: total_ms of the VIP's last takeover if of KIND.
takeover_ms() {
	vip_status "$1" "$2" "(.last_takeover // {}) | select(.kind == \"$3\") | .total_ms * 1000 | round / 1000" |
		grep . || echo null
}
ping_a() { in_ns inside ping -c 1 -W 1 -q "$RHOST" >/dev/null 2>&1; }
ping_b() { in_ns inside ping -c 1 -W 1 -q "$RHOST2" >/dev/null 2>&1; }
both_tunnels_up() { lab_tunnel_up remote tunA && lab_tunnel_up remote tunB; }
# peer_synced HOST: the agent holds a complete snapshot of its peer (status'
# in_sync; `hasyncctl check` passes on any master, as each node is here).
peer_synced() { [ "$(hactl "$1" --json status | jq .in_sync)" = true ]; }
both_in_sync() { peer_synced gw1 && peer_synced gw2; }

# The takeovers here are kernel-only (no HA socket): a liveness probe would
# find the other side without the IKE SA (the remote probing a new master;
# a node that stepped down probing from a VIP it no longer has) and, after
# the retransmit timeout, renegotiate or delete, replacing or removing the
# SAs the checks compare whenever a run outlasts one probe interval plus
# the retransmit timeout (about 40 s; on a slow machine a run takes 130 s).
# Liveness probes once a day here: IKE continuity is what ike-continuity,
# failover and scale check.
AA_DPDDELAY=${AA_DPDDELAY:-86400s}
# aa_pluto_conf HOST: tunA (the gateways' left= VIP A) and tunB (VIP B),
# identical on gw1 and gw2; the remote initiates both, when told: with
# auto=start, pluto's own load and lab_pluto_start's addconn would each
# start them, and the second cuts the first short after the gateway has
# installed its Child SA, which then stays there as an orphan.
aa_pluto_conf() {
	local host=$1 dir=$LAB_RUN/$1 t vip src rsub rsrc reqid
	mkdir -p "$dir/ipsec.d" "$dir/nss"
	cat >"$dir/ipsec.conf" <<EOF
config setup
	plutodebug=none

conn %default
	keyexchange=ikev2
	authby=secret
	dpddelay=$AA_DPDDELAY
	retransmit-timeout=$LAB_RETRANSMIT_TIMEOUT
EOF
	for t in A B; do
		case $t in
		A) vip=$VIP_A_OUT src=$VIP_A_IN rsub=10.2.0.0/24 rsrc=$REMOTE_IN reqid=1001 ;;
		B) vip=$VIP_B_OUT src=$VIP_B_IN rsub=10.2.1.0/24 rsrc=$REMOTE_IN2 reqid=1005 ;;
		esac
		if [ "$host" = remote ]; then
			cat >>"$dir/ipsec.conf" <<EOF

conn tun$t
	left=$REMOTE_OUT
	leftid=@remote
	leftsubnet=$rsub
	leftsourceip=$rsrc
	right=$vip
	rightid=@gateway
	rightsubnet=10.1.0.0/24
	reqid=$reqid
	auto=add
EOF
		else
			cat >>"$dir/ipsec.conf" <<EOF

conn tun$t
	left=$vip
	leftid=@gateway
	leftsubnet=10.1.0.0/24
	leftsourceip=$src
	right=$REMOTE_OUT
	rightid=@remote
	rightsubnet=$rsub
	reqid=$reqid
	auto=add
EOF
		fi
	done
	printf '@gateway @remote : PSK "%s"\n' "$LAB_PSK" >"$dir/ipsec.secrets"
	chmod 0600 "$dir/ipsec.secrets"
	[ -f "$dir/nss/cert9.db" ] || ipsec initnss --nssdir "$dir/nss" >/dev/null
}

# aa_keepalived_conf HOST PRIO_A PRIO_B: two sync groups, VRRPv3, nopreempt,
# one notify script (hasyncctl notify, then `ipsec whack --listen` on
# MASTER). G_B's instances track the file HOST/hold-b: while it holds a
# non-zero number G_B is in FAULT on HOST. With nopreempt the first node up
# would otherwise take both groups; the hold lets gw2 win G_B at start, and
# later moves G_B alone.
aa_keepalived_conf() {
	local host=$1 pa=$2 pb=$3 dir=$LAB_RUN/$1
	[ -f "$dir/hold-b" ] || echo 0 >"$dir/hold-b"
	cat >"$dir/notify.sh" <<EOF
#!/bin/sh
# keepalived notify for $host: TYPE NAME STATE PRIORITY
echo "\$(cut -d' ' -f1 /proc/uptime) \$1 \$2 \$3" | tee -a $dir/notify.states >>$dir/notify.log
$LAB_BIN/hasyncctl --socket $dir/ctl.sock notify "\$@" >>$dir/notify.log 2>&1
if [ "\$3" = MASTER ]; then
	ipsec whack --ctlsocket $(pluto_ctl "$host") --listen >>$dir/notify.log 2>&1
fi
EOF
	chmod 0755 "$dir/notify.sh"
	cat >"$dir/keepalived.conf" <<EOF
global_defs {
	router_id $host
	vrrp_version 3
	enable_script_security
	script_user root
	vrrp_garp_master_refresh 0
}
vrrp_track_file hold_b {
	file "$dir/hold-b"
	weight 0
}
vrrp_sync_group G_A {
	group {
		VI_OUT_A
		VI_IN_A
	}
	notify $dir/notify.sh
}
vrrp_sync_group G_B {
	group {
		VI_OUT_B
		VI_IN_B
	}
	notify $dir/notify.sh
}
vrrp_instance VI_OUT_A {
	state BACKUP
	nopreempt
	interface eth-out
	virtual_router_id 51
	priority $pa
	advert_int $LAB_ADVERT_INT
	virtual_ipaddress {
		$VIP_A_OUT/24 dev eth-out
	}
}
vrrp_instance VI_IN_A {
	state BACKUP
	nopreempt
	interface eth-in
	virtual_router_id 52
	priority $pa
	advert_int $LAB_ADVERT_INT
	virtual_ipaddress {
		$VIP_A_IN/24 dev eth-in
	}
}
vrrp_instance VI_OUT_B {
	state BACKUP
	nopreempt
	interface eth-out
	virtual_router_id 53
	priority $pb
	advert_int $LAB_ADVERT_INT
	virtual_ipaddress {
		$VIP_B_OUT/24 dev eth-out
	}
	track_file {
		hold_b
	}
}
vrrp_instance VI_IN_B {
	state BACKUP
	nopreempt
	interface eth-in
	virtual_router_id 54
	priority $pb
	advert_int $LAB_ADVERT_INT
	virtual_ipaddress {
		$VIP_B_IN/24 dev eth-in
	}
	track_file {
		hold_b
	}
}
EOF
}

# aa_hasyncd_conf HOST: the lib's agent configuration (sync channel and
# intervals as every scenario has them) with two vip sections.
aa_hasyncd_conf() {
	local f=$LAB_RUN/$1/hasyncd.conf
	lab_hasyncd_conf "$1"
	sed -i '/^vip outside$/,$d' "$f"
	cat >>"$f" <<EOF
vip a
	address=$VIP_A_OUT
	instance=G_A
	rri=yes
	route-table=main
	route-metric=50

vip b
	address=$VIP_B_OUT
	instance=G_B
	rri=yes
	route-table=main
	route-metric=50
EOF
}

# The remote's replay errors since the tunnels came up.
replays() { echo $(( $(xfrm_stat remote XfrmInStateSeqError) - seq_start )); }

# ---------------------------------------------------------------- the pair

LAB_AGENT=1
lab_topology
lab_ns rhost2
lab_link rhost2 eth0 br-far "$RHOST2/24"
in_ns rhost2 ip route add default via "$REMOTE_IN2"
in_ns remote ip addr add "$REMOTE_IN2/24" dev eth-in
# inside reaches rhost through VIP A (its default route), rhost2 through VIP B.
in_ns inside ip route add 10.2.1.0/24 via "$VIP_B_IN"

for h in gw1 gw2 remote; do aa_pluto_conf "$h"; done
aa_keepalived_conf gw1 150 100
aa_keepalived_conf gw2 100 150
echo 1 >"$LAB_RUN/gw1/hold-b"
for h in gw1 gw2; do lab_pluto_start "$h"; done
for h in gw1 gw2; do aa_hasyncd_conf "$h"; lab_hasyncd_start "$h"; done
lab_keepalived_start gw1
lab_check "start: gw1 master of G_A" lab_wait 10 has_addr gw1 "$VIP_A_OUT"
lab_keepalived_start gw2
lab_check "start: gw2 master of G_B" lab_wait 10 has_addr gw2 "$VIP_B_OUT"
echo 0 >"$LAB_RUN/gw1/hold-b"
lab_check "start: gw1 backup of G_B" lab_wait 10 in_state gw1 G_B BACKUP
lab_check "start: gw2 backup of G_A" in_state gw2 G_A BACKUP
seq_start=$(xfrm_stat remote XfrmInStateSeqError)
lab_pluto_start remote
pluto_whack remote --initiate --name tunA --asynchronous >/dev/null
pluto_whack remote --initiate --name tunB --asynchronous >/dev/null

lab_check "tunA and tunB up on the remote" lab_wait 60 both_tunnels_up
lab_check "tunA established on gw1's pluto" lab_wait 10 lab_tunnel_up gw1 tunA
lab_check "tunB established on gw2's pluto" lab_wait 10 lab_tunnel_up gw2 tunB
lab_check "traffic through tunA (gw1)" lab_wait 10 ping_a
lab_check "traffic through tunB (gw2)" lab_wait 10 ping_b
lab_check "A's two SAs only in gw1's kernel" \
	test "$(vip_sa_count gw1 "$VIP_A_OUT") $(vip_sa_count gw2 "$VIP_A_OUT")" = "2 0"
lab_check "B's two SAs only in gw2's kernel" \
	test "$(vip_sa_count gw2 "$VIP_B_OUT") $(vip_sa_count gw1 "$VIP_B_OUT")" = "2 0"
lab_check "gw2 holds exactly gw1's SAs of VIP A" lab_wait 10 holds_vip gw1 gw2 "$VIP_A_OUT" a
lab_check "gw1 holds exactly gw2's SAs of VIP B" lab_wait 10 holds_vip gw2 gw1 "$VIP_B_OUT" b
lab_check "gw1 holds nothing of its own VIP A" test -z "$(held_sas_vip gw1 a)"
lab_check "gw2 holds nothing of its own VIP B" test -z "$(held_sas_vip gw2 b)"
lab_check "both agents hold a complete snapshot of the other" lab_wait 10 both_in_sync
lab_check "agents: gw1 MASTER of a, BACKUP of b" \
	test "$(vip_status gw1 a .state)$(vip_status gw1 b .state)" = '"MASTER""BACKUP"'
lab_check "agents: gw2 BACKUP of a, MASTER of b" \
	test "$(vip_status gw2 a .state)$(vip_status gw2 b .state)" = '"BACKUP""MASTER"'
for h in gw1 gw2; do
	lab_log "$h kernel A: $(vip_ids "$h" "$VIP_A_OUT" | tr '\n' ' ')| B: $(vip_ids "$h" "$VIP_B_OUT" | tr '\n' ' ')"
	lab_log "$h held  a: $(held_sas_vip "$h" a | cut -d' ' -f1,2 | tr '\n' ' ')| b: $(held_sas_vip "$h" b | cut -d' ' -f1,2 | tr '\n' ' ')"
done
ike_start=$(pluto_ike_established remote)
failovers=()

# record MODE FROM TO MOVED TAG PROMOTE_JSON DEMOTE_JSON: one failover's figures.
record() {
	local ta tb
	ta=$(lab_traffic_stop "$5-a")
	tb=$(lab_traffic_stop "$5-b")
	lab_log "$1: $2 -> $3 ($4): A $(echo "$ta" | jq -c '{gap_ms, lost}') B $(echo "$tb" | jq -c '{gap_ms, lost}') promote $6 demote $7"
	failovers+=("$(jq -n -c --arg mode "$1" --arg from "$2" --arg to "$3" --arg moved "$4" \
		--argjson ta "$ta" --argjson tb "$tb" --argjson pm "$6" --argjson dm "$7" \
		--argjson rep "$(replays)" --argjson ike "$(( $(pluto_ike_established remote) - ike_start ))" \
		'{mode: $mode, from: $from, to: $to, vips_moved: ($moved | split(",")),
		  tunA: {gap_ms: $ta.gap_ms, lost: $ta.lost}, tunB: {gap_ms: $tb.gap_ms, lost: $tb.lost},
		  promote_ms: $pm, demote_ms: $dm,
		  replay_errors_remote_total: $rep, new_ike_sas_remote_total: $ike}')")
	echo "$ta" >"$LAB_RUN/last-a.json"
	echo "$tb" >"$LAB_RUN/last-b.json"
}

# ---------------------------------------------------------------- 1. gw1 crashes

a_before=$(vip_ids gw1 "$VIP_A_OUT")
b_before=$(vip_ids gw2 "$VIP_B_OUT")
b_promotions=$(vip_status gw2 b .promotions)
b_demotions=$(vip_status gw2 b .demotions)
b_last=$(vip_status gw2 b .last_takeover.at_ms)
lab_traffic_start crash-a
lab_traffic_start crash-b rhost2 "$RHOST2" 6003
sleep 2
lab_log "crash gw1"
lab_crash gw1
lab_check "crash: gw2 master of G_A" lab_wait 10 has_addr gw2 "$VIP_A_OUT"
lab_check "crash: traffic through tunA on gw2" lab_wait 20 ping_a
lab_check "crash: traffic through tunB on gw2" lab_wait 5 ping_b
sleep 2
record crash gw1 gw2 a crash \
	"{\"a\": $(takeover_ms gw2 a promote)}" null
lab_check "crash: gw2 runs A's SAs as gw1 had them" test "$a_before" = "$(vip_ids gw2 "$VIP_A_OUT")"
lab_check "crash: reverse route for tunA on gw2" test "$(agent_routes gw2)" = 10.2.0.0/24
lab_check "crash: gw2's agent MASTER of a and b" \
	test "$(vip_status gw2 a .state)$(vip_status gw2 b .state)" = '"MASTER""MASTER"'
lab_check "crash: B untouched: same SAs in gw2's kernel" test "$b_before" = "$(vip_ids gw2 "$VIP_B_OUT")"
lab_check "crash: B untouched: no promotion or step-down of b" test \
	"$b_promotions $b_demotions $b_last" = \
	"$(vip_status gw2 b .promotions) $(vip_status gw2 b .demotions) $(vip_status gw2 b .last_takeover.at_ms)"
lab_check "crash: tunB lost nothing" test "$(jq .lost "$LAB_RUN/last-b.json")" -eq 0
lab_check "crash: no replay errors on the remote" test "$(replays)" -eq 0

# ---------------------------------------------------------------- 2. gw1 returns

lab_revive gw1
lab_pluto_start gw1
lab_hasyncd_start gw1
seen=$(states_seen gw1)
lab_keepalived_start gw1
lab_check "return: gw1 backup of G_A" lab_wait 10 in_state gw1 G_A BACKUP "$seen"
lab_check "return: gw1 backup of G_B" lab_wait 10 in_state gw1 G_B BACKUP "$seen"
lab_check "return: gw1 in sync" lab_wait 15 lab_in_sync gw1
lab_check "return: gw1 holds exactly gw2's SAs of VIP A" lab_wait 10 holds_vip gw2 gw1 "$VIP_A_OUT" a
lab_check "return: gw1 holds exactly gw2's SAs of VIP B" lab_wait 10 holds_vip gw2 gw1 "$VIP_B_OUT" b
lab_check "return: gw2 holds nothing (gw1's kernel has no SA of either VIP)" \
	test -z "$(held_sas_vip gw2 a)$(held_sas_vip gw2 b)"
lab_check "return: gw1 took neither VIP (nopreempt)" \
	sh -c "! ip netns exec gw1 ip -o addr | grep -q ' $VIP_A_OUT/\| $VIP_B_OUT/'"
lab_check "return: no SA of either VIP in gw1's kernel" no_sas gw1 "$VIP_A_OUT" "$VIP_B_OUT"

# ---------------------------------------------------------------- 3. gw2 stops

a_before=$(vip_ids gw2 "$VIP_A_OUT")
b_before=$(vip_ids gw2 "$VIP_B_OUT")
lab_traffic_start stop-a
lab_traffic_start stop-b rhost2 "$RHOST2" 6003
sleep 2
lab_log "stop gw2's keepalived"
lab_keepalived_stop gw2
lab_check "stop: gw1 master of G_A" lab_wait 10 has_addr gw1 "$VIP_A_OUT"
lab_check "stop: gw1 master of G_B" lab_wait 10 has_addr gw1 "$VIP_B_OUT"
lab_check "stop: traffic through tunA on gw1" lab_wait 20 ping_a
lab_check "stop: traffic through tunB on gw1" lab_wait 20 ping_b
sleep 2
record graceful gw2 gw1 a,b stop \
	"{\"a\": $(takeover_ms gw1 a promote), \"b\": $(takeover_ms gw1 b promote)}" \
	"{\"a\": $(takeover_ms gw2 a demote), \"b\": $(takeover_ms gw2 b demote)}"
lab_check "stop: gw1 runs A's SAs as gw2 had them" test "$a_before" = "$(vip_ids gw1 "$VIP_A_OUT")"
lab_check "stop: gw1 runs B's SAs as gw2 had them" test "$b_before" = "$(vip_ids gw1 "$VIP_B_OUT")"
lab_check "stop: no SA of either VIP left on gw2" lab_wait 5 no_sas gw2 "$VIP_A_OUT" "$VIP_B_OUT"
lab_check "stop: no policy of either VIP left on gw2" \
	test "$(vip_policies gw2 "$VIP_A_OUT") $(vip_policies gw2 "$VIP_B_OUT")" = "0 0"
lab_check "stop: no reverse route left on gw2" test -z "$(agent_routes gw2)"
lab_check "stop: reverse routes for both tunnels on gw1" \
	test "$(agent_routes gw1)" = "10.2.0.0/24 10.2.1.0/24"
lab_check "stop: no replay errors on the remote" test "$(replays)" -eq 0

# ---------------------------------------------------------------- 4. G_B alone back to gw2

seen=$(states_seen gw2)
lab_keepalived_start gw2
lab_check "back: gw2 backup of G_A" lab_wait 10 in_state gw2 G_A BACKUP "$seen"
lab_check "back: gw2 backup of G_B" lab_wait 10 in_state gw2 G_B BACKUP "$seen"
lab_check "back: gw2 in sync" lab_wait 15 lab_in_sync gw2
lab_check "back: gw2 holds exactly gw1's SAs of VIP B" lab_wait 10 holds_vip gw1 gw2 "$VIP_B_OUT" b
a_before=$(vip_ids gw1 "$VIP_A_OUT")
a_pols=$(vip_policies gw1 "$VIP_A_OUT")
b_before=$(vip_ids gw1 "$VIP_B_OUT")
lab_traffic_start fault-a
lab_traffic_start fault-b rhost2 "$RHOST2" 6003
sleep 2
lab_log "G_B to FAULT on gw1"
echo 1 >"$LAB_RUN/gw1/hold-b"
lab_check "back: gw2 master of G_B" lab_wait 10 has_addr gw2 "$VIP_B_OUT"
lab_check "back: traffic through tunB on gw2" lab_wait 20 ping_b
sleep 2
record fault gw1 gw2 b fault \
	"{\"b\": $(takeover_ms gw2 b promote)}" "{\"b\": $(takeover_ms gw1 b demote)}"
lab_check "back: gw1 still master of G_A" has_addr gw1 "$VIP_A_OUT"
lab_check "back: gw1 stepped down B: no SA of VIP B left" lab_wait 5 no_sas gw1 "$VIP_B_OUT"
lab_check "back: gw1 stepped down B: no policy of VIP B left" test "$(vip_policies gw1 "$VIP_B_OUT")" -eq 0
lab_check "back: gw2 runs B's SAs as gw1 had them" test "$b_before" = "$(vip_ids gw2 "$VIP_B_OUT")"
lab_check "back: A untouched on gw1: same SAs" test "$a_before" = "$(vip_ids gw1 "$VIP_A_OUT")"
lab_check "back: A untouched on gw1: same policies" test "$a_pols" = "$(vip_policies gw1 "$VIP_A_OUT")"
lab_check "back: A untouched: gw1's agent MASTER of a" test "$(vip_status gw1 a .state)" = '"MASTER"'
lab_check "back: A's reverse route kept on gw1, B's removed" test "$(agent_routes gw1)" = 10.2.0.0/24
lab_check "back: B's reverse route on gw2" test "$(agent_routes gw2)" = 10.2.1.0/24
lab_check "back: tunA lost nothing" test "$(jq .lost "$LAB_RUN/last-a.json")" -eq 0
lab_check "back: traffic through tunA on gw1" ping_a
lab_check "back: no replay errors on the remote" test "$(replays)" -eq 0
echo 0 >"$LAB_RUN/gw1/hold-b"
lab_check "back: gw1 backup of G_B again" lab_wait 10 in_state gw1 G_B BACKUP
lab_check "back: gw2 holds exactly gw1's SAs of VIP A" lab_wait 10 holds_vip gw1 gw2 "$VIP_A_OUT" a
lab_check "back: gw1 holds exactly gw2's SAs of VIP B" lab_wait 10 holds_vip gw2 gw1 "$VIP_B_OUT" b
lab_check "end: agents back to the start: gw1 MASTER of a, BACKUP of b" \
	test "$(vip_status gw1 a .state)$(vip_status gw1 b .state)" = '"MASTER""BACKUP"'
lab_check "end: agents back to the start: gw2 BACKUP of a, MASTER of b" \
	test "$(vip_status gw2 a .state)$(vip_status gw2 b .state)" = '"BACKUP""MASTER"'
for h in gw1 gw2; do
	lab_log "$h agent log, vip lines:"
	grep -h 'vip [ab]:' "$LAB_RUN/$h/hasyncd.log" | sed 's/^/    /'
done

lab_result active-active "$(printf '%s\n' "${failovers[@]}" | jq -s -c \
	--arg adv "$LAB_ADVERT_INT" --arg dpd "$AA_DPDDELAY" --arg rt "$LAB_RETRANSMIT_TIMEOUT" \
	--argjson rate "${LAB_TRAFFIC_RATE:-1000}" \
	'{failovers: ., settings: {vips: {a: "192.0.2.1 (G_A, tunA)", b: "192.0.2.11 (G_B, tunB)"},
	  tunnels_per_vip: 1, advert_int_s: ($adv | tonumber), nopreempt: true,
	  traffic_pps_per_tunnel_each_way: $rate, dpddelay: $dpd, retransmit_timeout: $rt,
	  agent: "hasyncd (kernel-only takeover)"}}')"
