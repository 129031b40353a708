# takeover: promotion into gw2's kernel (agent/takeover.c, run by build/labtools/takeover_probe) of SAs captured on gw1:
# traffic goes on through gw2, the remote sees no replay, counters jumped by the interval, routes injected; then demotion.
#
# gw1 holds both VIPs; manually keyed tunnel-mode ESP between the outside
# VIP and remote: tunnel A (rfc4106(gcm(aes)), no ESN, inside <-> rhost
# subnets, forwarded) and tunnel B (rfc4106(gcm(aes)), ESN, window 128,
# the gateways' inner addresses, XFRMA_SA_DIR out and in on the gateway). Three more outbound SAs test the end of
# the sequence space: C (ESN, oseq 0xfffffff0: crosses into oseq-hi),
# D (no ESN, oseq 0xfffffff0) and E (ESN, oseq-hi:oseq 2^64 - 16): D and E
# must be left out and counted. The capture runs on gw1 with replay
# thresholds and no timer, so what it holds lags the kernel by less than
# the interval, as on a master that died; gw1 is then cut off, its capture
# written to a file (the records the sync channel would carry), and gw2
# promotes them.

PROBE=$LAB_BIN/labtools/takeover_probe
TD=$LAB_RUN/takeover
mkdir -p "$TD"

R_OUT=50		# replay-interval-outbound
R_IN=20			# replay-interval-inbound
MARGIN=1000000		# exhaustion margin, packets
ETIMER_MS=3600000	# no timer-driven aevents: the counters move by thresholds only
KA1=0x1111111111111111111111111111111111111111
KA2=0x2222222222222222222222222222222222222222
KB1=0x3333333333333333333333333333333333333333
KB2=0x4444444444444444444444444444444444444444
KC=0x5555555555555555555555555555555555555555
ROUTE_PROTO=201
ROUTE_METRIC=50

# ---------------------------------------------------------------- helpers

# kparse SPI <STATE: "seq oseq packets" of the SA in ip -s xfrm state's output,
# 64-bit counters under ESN; empty if absent.
kparse() {
	SPI="$1" perl -Mbigint -ne '
		if (/proto esp spi (0x[0-9a-f]+)/) { $cur = hex($1) == hex($ENV{SPI}); next }
		next unless $cur;
		($s, $o) = (hex($1) * 4294967296 + hex($2), hex($3) * 4294967296 + hex($4))
			if /seq-hi (0x[0-9a-f]+), seq (0x[0-9a-f]+), oseq-hi (0x[0-9a-f]+), oseq (0x[0-9a-f]+)/;
		($s, $o) = (hex($1), hex($2)) if /anti-replay context: seq (0x[0-9a-f]+), oseq (0x[0-9a-f]+)/;
		$p = $1 if !/limit/ && /(\d+)\(packets\)/;
		END { print "$s $o $p\n" if defined $o }'
}
kstate() { in_ns "$1" ip -s xfrm state | kparse "$2"; }
kseq() { kstate "$1" "$2" | awk '{print $1}'; }
koseq() { kstate "$1" "$2" | awk '{print $2}'; }
kpackets() { kstate "$1" "$2" | awk '{print $3}'; }

# pj FILE JQ-FILTER over the probe's JSON lines.
pj() { jq -Rn -c "[inputs | fromjson? ] | $2" "$1"; }
# written FILE SPI FIELD: a counter as the capture wrote it to the file.
written() { pj "$1" "map(select(.ev == \"written\" and .spi == \"$2\")) | last | .$3 // -1"; }
res() { pj "$1" "map(select(.ev == \"$2\")) | last | .$3"; }

sa_count() { in_ns "$1" ip xfrm state count | awk '{print $NF}'; }
policy_count() { in_ns "$1" ip xfrm policy list | grep -c '^src'; }
our_routes() { in_ns "$1" ip route show table main proto $ROUTE_PROTO; }

tmpl() { echo "tmpl src $1 dst $2 proto esp reqid $3 mode tunnel"; }

# sa NS SRC DST SPI REQID KEY [EXTRA...]: a tunnel-mode AEAD SA.
sa() {
	local ns=$1 src=$2 dst=$3 spi=$4 reqid=$5 key=$6
	shift 6
	in_ns "$ns" ip xfrm state add src "$src" dst "$dst" proto esp spi "$spi" reqid "$reqid" \
		mode tunnel "$@" aead 'rfc4106(gcm(aes))' "$key" 128
}

# ---------------------------------------------------------------- setup

lab_topology
in_ns gw1 ip addr add "$VIP_OUT/24" dev eth-out
in_ns gw1 ip addr add "$VIP_IN/24" dev eth-in
in_ns gw1 ip route add 10.2.0.0/24 via "$REMOTE_OUT"
in_ns remote ip route add 10.1.0.0/24 via "$VIP_OUT"

for ns in gw1 remote; do
	sa "$ns" "$VIP_OUT" "$REMOTE_OUT" 0xa001 101 "$KA1" replay-window 32
	sa "$ns" "$REMOTE_OUT" "$VIP_OUT" 0xa002 101 "$KA2" replay-window 32
done
# Tunnel B with XFRMA_SA_DIR on the gateway (6.10+): an output SA carries
# no window, an input SA no output counter; the promotion must keep to it.
sa gw1 "$VIP_OUT" "$REMOTE_OUT" 0xb001 102 "$KB1" dir out flag esn
sa gw1 "$REMOTE_OUT" "$VIP_OUT" 0xb002 102 "$KB2" dir in flag esn replay-window 128
sa remote "$VIP_OUT" "$REMOTE_OUT" 0xb001 102 "$KB1" flag esn replay-window 128
sa remote "$REMOTE_OUT" "$VIP_OUT" 0xb002 102 "$KB2" flag esn replay-window 128
# The end of the sequence space, on gw1 only: nothing sends on them.
sa gw1 "$VIP_OUT" "$REMOTE_OUT" 0xc001 103 "$KC" flag esn replay-window 128 replay-oseq 0xfffffff0
sa gw1 "$VIP_OUT" "$REMOTE_OUT" 0xd001 104 "$KC" replay-window 32 replay-oseq 0xfffffff0
sa gw1 "$VIP_OUT" "$REMOTE_OUT" 0xe001 105 "$KC" flag esn replay-window 128 \
	replay-oseq-hi 0xffffffff replay-oseq 0xfffffff0

# Tunnel B's /32 selectors sit inside tunnel A's /24s: B first by priority.
# shellcheck disable=SC2046
{
	in_ns gw1 ip xfrm policy add src 10.1.0.0/24 dst 10.2.0.0/24 dir out priority 200 $(tmpl "$VIP_OUT" "$REMOTE_OUT" 101)
	in_ns gw1 ip xfrm policy add src 10.2.0.0/24 dst 10.1.0.0/24 dir fwd priority 200 $(tmpl "$REMOTE_OUT" "$VIP_OUT" 101)
	in_ns gw1 ip xfrm policy add src 10.2.0.0/24 dst 10.1.0.0/24 dir in priority 200 $(tmpl "$REMOTE_OUT" "$VIP_OUT" 101)
	in_ns gw1 ip xfrm policy add src 10.1.0.1/32 dst 10.2.0.1/32 dir out priority 100 $(tmpl "$VIP_OUT" "$REMOTE_OUT" 102)
	in_ns gw1 ip xfrm policy add src 10.2.0.1/32 dst 10.1.0.1/32 dir in priority 100 $(tmpl "$REMOTE_OUT" "$VIP_OUT" 102)
	in_ns remote ip xfrm policy add src 10.2.0.0/24 dst 10.1.0.0/24 dir out priority 200 $(tmpl "$REMOTE_OUT" "$VIP_OUT" 101)
	in_ns remote ip xfrm policy add src 10.1.0.0/24 dst 10.2.0.0/24 dir fwd priority 200 $(tmpl "$VIP_OUT" "$REMOTE_OUT" 101)
	in_ns remote ip xfrm policy add src 10.1.0.0/24 dst 10.2.0.0/24 dir in priority 200 $(tmpl "$VIP_OUT" "$REMOTE_OUT" 101)
	in_ns remote ip xfrm policy add src 10.2.0.1/32 dst 10.1.0.1/32 dir out priority 100 $(tmpl "$REMOTE_OUT" "$VIP_OUT" 102)
	in_ns remote ip xfrm policy add src 10.1.0.1/32 dst 10.2.0.1/32 dir in priority 100 $(tmpl "$VIP_OUT" "$REMOTE_OUT" 102)
}

# ---------------------------------------------------------------- gw1 carries traffic, its capture runs

CAP=$TD/capture.json
FILE=$TD/held.bin
ip netns exec gw1 "$PROBE" capture --vip "$VIP_OUT" --file "$FILE" --replay-out $R_OUT \
	--replay-in $R_IN --etimer-ms $ETIMER_MS >"$CAP" 2>"$CAP.err" &
CAP_PID=$!
cap_dumped() { grep -q '"ev":"dump_end"' "$CAP"; }
lab_check "gw1: the capture's first dump completes" lab_wait 5 cap_dumped

lab_traffic_start takeover
in_ns gw1 ping -c 300 -i 0.01 -q -I "$VIP_IN" "$REMOTE_IN" >"$TD/ping-b-gw1.txt" 2>&1
sleep 1
lab_check "gw1: tunnel A carries the inside <-> rhost traffic" test "$(kpackets gw1 0xa001)" -gt 100
lab_check "gw1: tunnel B carried 300 pings" grep -q '300 received' "$TD/ping-b-gw1.txt"

# ---------------------------------------------------------------- gw1 dies, gw2 takes over

# Cut first, so that nothing is sent after the capture's last counters;
# then the capture writes what it held (the standby's cache at that moment).
t_cut=$(date +%s%N)
in_ns gw1 ip link set eth-out down
in_ns gw1 ip link set eth-in down
sleep 0.2
kill -TERM "$CAP_PID"
wait "$CAP_PID"
in_ns gw2 ip addr add "$VIP_OUT/24" dev eth-out
in_ns gw2 ip addr add "$VIP_IN/24" dev eth-in
PROM=$TD/promote.json
in_ns gw2 "$PROBE" promote --vip "$VIP_OUT" --file "$FILE" --replay-out $R_OUT --replay-in $R_IN \
	--margin $MARGIN --rri --metric $ROUTE_METRIC --proto $ROUTE_PROTO >"$PROM" 2>"$PROM.err"
# What was installed, before any packet reaches gw2 (the neighbours still
# point at gw1's MAC): traffic moves the counters at once afterwards.
STATE=$TD/state-gw2-promoted.txt
in_ns gw2 ip -s xfrm state >"$STATE"
# No gratuitous ARP tool in the image: the neighbours forget gw1's MAC.
in_ns inside ip neigh flush all
in_ns remote ip neigh flush all
t_prom=$(date +%s%N)
cat "$PROM.err"

# gw1 is cut off: its counters no longer move.
lab_check "gw1: the capture wrote its SAs and policies" test -s "$FILE"
in_ns gw1 ip -s xfrm state >"$TD/state-gw1-final.txt"
for spi in 0xa001 0xa002 0xb001 0xb002; do
	read -r s o p <<<"$(kparse $spi <"$TD/state-gw1-final.txt")"
	eval "G1_${spi}_SEQ=$s G1_${spi}_OSEQ=$o"
	lab_log "gw1 final $spi: seq $s oseq $o packets $p; written seq $(written "$CAP" 0x0000${spi#0x} seq) oseq $(written "$CAP" 0x0000${spi#0x} oseq)"
done
installed() { kparse "$1" <"$STATE" | awk -v f="$2" '{print $f}'; }

lab_check "promote: 5 SAs installed, none failed" \
	test "$(res "$PROM" promote sas_installed)/$(res "$PROM" promote sas_failed)" = 5/0
lab_check "promote: the non-ESN and the ESN SA at their space's end left out and counted" \
	test "$(res "$PROM" promote sas_near_exhaustion)" = 2
lab_check "promote: 5 policies installed" \
	test "$(res "$PROM" promote policies_installed)/$(res "$PROM" promote policies_failed)" = 5/0
lab_check "promote: 2 routes added" \
	test "$(res "$PROM" promote routes_added)/$(res "$PROM" promote routes_failed)" = 2/0
absent() { [ -z "$(kparse "$1" <"$STATE")" ]; }
lab_check "gw2: no wrapped counter: SA 0xd001 (no ESN, oseq 0xfffffff0) not installed" absent 0xd001
lab_check "gw2: SA 0xe001 (ESN, 2^64 - 16) not installed" absent 0xe001

# Outbound: the written counter plus the interval, past what gw1 sent.
oseq_jumped() {
	local spi=$1 w g1 g2
	w=$(written "$CAP" "0x0000${spi#0x}" oseq)
	g1=$(eval echo "\$G1_${spi}_OSEQ")
	g2=$(installed "$spi" 2)
	echo "$spi: written $w gw1 $g1 gw2 $g2"
	[ "$g2" -eq $((w + R_OUT)) ] && [ "$g2" -gt "$g1" ] && [ $((g1 - w)) -lt $R_OUT ]
}
lab_check "gw2: tunnel A's outbound oseq = synced + $R_OUT, past gw1's last" oseq_jumped 0xa001
lab_check "gw2: tunnel B's outbound ESN oseq = synced + $R_OUT, past gw1's last" oseq_jumped 0xb001
dir_kept() { grep -A12 "spi 0x0000b001" "$STATE" | grep -q "dir out" && grep -A12 "spi 0x0000b002" "$STATE" | grep -q "dir in"; }
lab_check "gw2: tunnel B's SAs kept their direction (dir out, dir in)" dir_kept
esn_carry() { [ "$(installed 0xc001 2)" = $((0xfffffff0 + R_OUT)) ]; }
lab_check "gw2: ESN SA 0xc001 crossed 2^32 into oseq-hi 1" esn_carry
seq_kept() {
	local spi=$1 w
	w=$(written "$CAP" "0x0000${spi#0x}" seq)
	echo "$spi: written seq $w gw2 $(installed "$spi" 1)"
	[ "$(installed "$spi" 1)" = "$w" ] && [ "$w" -gt 0 ]
}
lab_check "gw2: tunnel A's inbound window as synced" seq_kept 0xa002
lab_check "gw2: tunnel B's inbound ESN window as synced" seq_kept 0xb002
lifetime_kept() { [ "$(installed 0xa001 3)" = "$(written "$CAP" 0x0000a001 packets)" ] &&
	[ "$(written "$CAP" 0x0000a001 packets)" -gt 0 ]; }
lab_check "gw2: the current lifetime counters came along (XFRMA_LTIME_VAL at NEWSA)" lifetime_kept
routes_ok() {
	our_routes gw2 | grep -q "^10.2.0.0/24 via $REMOTE_OUT dev eth-out metric $ROUTE_METRIC" &&
		our_routes gw2 | grep -q "^10.2.0.1 via $REMOTE_OUT dev eth-out metric $ROUTE_METRIC"
}
lab_check "gw2: routes to 10.2.0.0/24 and 10.2.0.1 via remote, protocol $ROUTE_PROTO, metric $ROUTE_METRIC" routes_ok
our_routes gw2 >"$TD/routes-gw2.txt"
in_ns gw2 ip xfrm policy >"$TD/policy-gw2-after-promote.txt"

# ---------------------------------------------------------------- traffic goes on through gw2

sleep 2
in_ns gw2 ping -c 50 -i 0.02 -q -I "$VIP_IN" "$REMOTE_IN" >"$TD/ping-b-gw2.txt" 2>&1
traffic=$(lab_traffic_stop takeover)
echo "$traffic" >"$TD/traffic.json"
lab_log "traffic across the takeover: $(jq -c '{gap_ms, lost, sent, received}' <<<"$traffic")"
through_gw2() { [ "$(kpackets gw2 0xa001)" -gt "$(written "$CAP" 0x0000a001 packets)" ] &&
	[ "$(kseq gw2 0xa002)" -gt "$(written "$CAP" 0x0000a002 seq)" ]; }
lab_check "traffic: inside <-> rhost goes on through gw2's promoted SAs" through_gw2
lab_check "traffic: tunnel B's pings from gw2 all answered" grep -q '50 received' "$TD/ping-b-gw2.txt"
received_after() { [ "$(jq '.to_rhost.last_rx_ms > .to_rhost.max_gap_start_ms + .to_rhost.max_gap_ms' <<<"$traffic")" = true ]; }
lab_check "traffic: rhost kept receiving after the gap" received_after
seq_err=$(xfrm_stat remote XfrmInStateSeqError)
lab_check "remote: XfrmInStateSeqError stays 0 (no packet of gw2 taken for a replay)" test "$seq_err" = 0
remote_accepts() { [ "$(kseq remote 0xa001)" -gt "$G1_0xa001_OSEQ" ] && [ "$(kseq remote 0xb001)" -gt "$G1_0xb001_OSEQ" ]; }
lab_check "remote: its inbound windows moved past gw1's last packet (gw2's accepted)" remote_accepts
in_ns remote cat /proc/net/xfrm_stat >"$TD/xfrm_stat-remote.txt"
in_ns gw2 cat /proc/net/xfrm_stat >"$TD/xfrm_stat-gw2.txt"

# ---------------------------------------------------------------- promote again: updated, not duplicated

oseq_before=$(koseq gw2 0xa001)
seq_before=$(kseq gw2 0xa002)
AGAIN=$TD/promote-again.json
in_ns gw2 "$PROBE" promote --vip "$VIP_OUT" --file "$FILE" --replay-out $R_OUT --replay-in $R_IN \
	--margin $MARGIN --rri --metric $ROUTE_METRIC --proto $ROUTE_PROTO >"$AGAIN" 2>"$AGAIN.err"
cat "$AGAIN.err"
lab_check "promote again: the 5 SAs updated in place, none failed" \
	test "$(res "$AGAIN" promote sas_updated)/$(res "$AGAIN" promote sas_failed)" = 5/0
lab_check "promote again: still 5 of our SAs in gw2's kernel" test "$(sa_count gw2)" = 5
not_back() { [ "$(koseq gw2 0xa001)" -ge "$oseq_before" ] && [ "$(kseq gw2 0xa002)" -ge "$seq_before" ]; }
lab_check "promote again: counters did not move back" not_back
lab_check "promote again: policies replaced, not duplicated" test "$(policy_count gw2)" = 5
lab_check "promote again: routes replaced, not duplicated" test "$(our_routes gw2 | wc -l)" = 2

# ---------------------------------------------------------------- demote

in_ns gw2 ip route add 10.7.0.0/24 via "$REMOTE_OUT" proto static	# not ours: must stay
DEM=$TD/demote.json
in_ns gw2 "$PROBE" demote --vip "$VIP_OUT" --rri --metric $ROUTE_METRIC --proto $ROUTE_PROTO \
	>"$DEM" 2>"$DEM.err"
cat "$DEM.err"
lab_check "demote: 5 SAs, 5 policies and 2 routes removed, nothing failed" \
	test "$(res "$DEM" demote sas_removed)/$(res "$DEM" demote policies_removed)/$(res "$DEM" demote routes_removed)/$(res "$DEM" demote sas_failed)" = 5/5/2/0
lab_check "demote: gw2's kernel holds no SA" test "$(sa_count gw2)" = 0
lab_check "demote: gw2's kernel holds no policy" test "$(policy_count gw2)" = 0
lab_check "demote: none of our routes left, the static one kept" \
	sh -c "[ -z \"\$(ip netns exec gw2 ip route show proto $ROUTE_PROTO)\" ] && ip netns exec gw2 ip route show proto static | grep -q 10.7.0.0/24"
in_ns gw2 "$PROBE" demote --vip "$VIP_OUT" --rri --proto $ROUTE_PROTO >"$TD/demote-again.json" 2>&1
lab_check "demote again: nothing left, nothing failed" \
	test "$(res "$TD/demote-again.json" demote rc)/$(res "$TD/demote-again.json" demote sas_removed)" = 0/0

# rri_remove with no list: every route of ours in the table, nothing else.
in_ns gw2 ip route add 10.8.0.0/24 via "$REMOTE_OUT" proto $ROUTE_PROTO
in_ns gw2 ip route add 10.9.9.0/24 via "$REMOTE_OUT" proto $ROUTE_PROTO metric 7
in_ns gw2 "$PROBE" rri-flush --proto $ROUTE_PROTO >"$TD/flush.json" 2>&1
flushed() { [ -z "$(our_routes gw2)" ] && in_ns gw2 ip route show proto static | grep -q 10.7.0.0/24; }
lab_check "rri flush: both routes of protocol $ROUTE_PROTO gone, the static one kept" flushed

gap_ms=$(jq '.gap_ms' <<<"$traffic")
lost=$(jq '.lost' <<<"$traffic")
prom_ms=$(( (t_prom - t_cut) / 1000000 ))
lab_result takeover "{\"kernel\":\"$(uname -r)\",\"replay_out\":$R_OUT,\"replay_in\":$R_IN,
	\"promote\":$(pj "$PROM" 'map(select(.ev == "promote")) | last'),
	\"promote_again\":$(pj "$AGAIN" 'map(select(.ev == "promote")) | last'),
	\"demote\":$(pj "$DEM" 'map(select(.ev == "demote")) | last'),
	\"cut_to_promoted_ms\":$prom_ms,\"traffic_gap_ms\":$gap_ms,\"traffic_lost\":$lost,
	\"remote_seq_errors\":$seq_err}"
echo "figure: promotion of 5 SAs, 5 policies, 2 routes: $(res "$PROM" promote total_us) us (SAs $(res "$PROM" promote sas_us) us)"
echo "figure: traffic gap across the takeover (cut, promote, neighbour flush): $gap_ms ms, $lost packets lost"
true
