# xfrm-capture: the XFRM capture (agent/xfrm.c, run by build/labtools/xfrm_probe) against the guest's kernel:
# dump, keys, aevent counters, deletes, expiry, flush, ENOBUFS re-dump, and the cost of 10,000 SAs.
#
# gw1 holds VIP_OUT; manually keyed tunnel-mode ESP between the VIP and
# remote: tunnel A (rfc4106(gcm(aes)), inside <-> rhost, forwarded) and
# tunnel B (cbc(aes) + hmac(sha256), ESN, replay-window 128, gw1's inner
# address <-> remote's), plus an SA of gw1's own address that must be
# filtered out.

PROBE=$LAB_BIN/labtools/xfrm_probe
XD=$LAB_RUN/xfrm
mkdir -p "$XD"

KA1=0x1111111111111111111111111111111111111111	# AEAD keys: 128-bit AES + 32-bit salt
KA2=0x2222222222222222222222222222222222222222
KB1E=0x33333333333333333333333333333333
KB1A=0x4444444444444444444444444444444444444444444444444444444444444444
KB2E=0x55555555555555555555555555555555
KB2A=0x6666666666666666666666666666666666666666666666666666666666666666
KX=0x7777777777777777777777777777777777777777
REPLAY_THR=10

# ---------------------------------------------------------------- helpers

# keyhash 0xHEX: the SHA-256 of the key bytes, as the probe prints it.
keyhash() { perl -e 'print pack("H*", substr($ARGV[0], 2))' "$1" | sha256sum | cut -d' ' -f1; }

# pj FILE JQ-FILTER: runs the filter on the array of the probe's JSON lines.
pj() { jq -Rn -c "[inputs | fromjson? ] | $2" "$1"; }

# The probe in gw1, in the background; its pid in PROBE_PID (ip netns
# exec execs it: not in_ns, a function, which would leave a subshell's pid).
probe_start() {
	local out=$1
	shift
	ip netns exec gw1 "$PROBE" "$@" "$VIP_OUT" >"$out" 2>"$out.err" &
	PROBE_PID=$!
}
probe_stop() {
	kill -TERM "$PROBE_PID" 2>/dev/null
	wait "$PROBE_PID" 2>/dev/null
}
probe_dumped() { [ "$(pj "$1" 'map(select(.ev == "dump_end")) | length')" -ge "${2:-1}" ]; }

# kernel_ctr SPI FIELD: seq or oseq of gw1's SA, from ip -s xfrm state.
kernel_ctr() {
	local hex
	hex=$(in_ns gw1 ip -s xfrm state | tr -d ',' | awk -v spi="$1" -v f="$2" '
		/proto esp spi/ { cur = ""; for (i = 1; i <= NF; i++) if ($i == "spi") cur = substr($(i + 1), 1, 10) }
		cur == spi && /anti-replay context|seq-hi/ {
			for (i = 1; i < NF; i++) if ($i == f) { print $(i + 1); exit }
		}')
	echo $((hex))
}

# probe_ctr FILE SPI FIELD: the capture's last value of a counter.
probe_ctr() { pj "$1" "map(select(.ev == \"sa\" and .spi == \"$2\")) | last | .$3 // -1"; }

sa_line() { pj "$1" "map(select(.ev == \"sa\" and .spi == \"$2\" and .counters_only == false)) | first"; }

# check_sa FILE SPI DIR REQID: the dump saw it, with its direction and reqid.
check_sa() {
	local l
	l=$(sa_line "$1" "$2")
	[ "$(jq -r '.dir' <<<"$l")" = "$3" ] && [ "$(jq -r '.reqid' <<<"$l")" = "$4" ]
}

# check_key FILE SPI FIELD KEY: the captured key hashes to the configured key's hash.
check_key() {
	[ "$(sa_line "$1" "$2" | jq -r ".$3")" = "$(keyhash "$4")" ]
}

check_policy() {	# FILE DIR SRC DST REQID
	[ "$(pj "$1" "map(select(.ev == \"policy\" and .dir == \"$2\" and .src == \"$3\" and
		.dst == \"$4\" and .tmpl[0].reqid == $5)) | length")" -ge 1 ]
}

# within THRESHOLD A B
within() { local d=$(($2 - $3)); [ "${d#-}" -le "$1" ]; }

# ---------------------------------------------------------------- setup

lab_topology
in_ns gw1 ip addr add "$VIP_OUT/24" dev eth-out
in_ns gw1 ip addr add "$VIP_IN/24" dev eth-in
in_ns gw1 ip route add 10.2.0.0/24 via "$REMOTE_OUT"
in_ns remote ip route add 10.1.0.0/24 via "$VIP_OUT"

for ns in gw1 remote; do
	in_ns "$ns" ip xfrm state add src "$VIP_OUT" dst "$REMOTE_OUT" proto esp spi 0xa001 reqid 101 \
		mode tunnel replay-window 32 aead 'rfc4106(gcm(aes))' "$KA1" 128
	in_ns "$ns" ip xfrm state add src "$REMOTE_OUT" dst "$VIP_OUT" proto esp spi 0xa002 reqid 101 \
		mode tunnel replay-window 32 aead 'rfc4106(gcm(aes))' "$KA2" 128
	in_ns "$ns" ip xfrm state add src "$VIP_OUT" dst "$REMOTE_OUT" proto esp spi 0xb001 reqid 102 \
		mode tunnel flag esn replay-window 128 enc 'cbc(aes)' "$KB1E" auth-trunc 'hmac(sha256)' "$KB1A" 128
	in_ns "$ns" ip xfrm state add src "$REMOTE_OUT" dst "$VIP_OUT" proto esp spi 0xb002 reqid 102 \
		mode tunnel flag esn replay-window 128 enc 'cbc(aes)' "$KB2E" auth-trunc 'hmac(sha256)' "$KB2A" 128
done
tmpl() { echo "tmpl src $1 dst $2 proto esp reqid $3 mode tunnel"; }
# shellcheck disable=SC2046
{
	in_ns gw1 ip xfrm policy add src 10.1.0.10/32 dst 10.2.0.10/32 dir out $(tmpl "$VIP_OUT" "$REMOTE_OUT" 101)
	in_ns gw1 ip xfrm policy add src 10.2.0.10/32 dst 10.1.0.10/32 dir fwd $(tmpl "$REMOTE_OUT" "$VIP_OUT" 101)
	in_ns gw1 ip xfrm policy add src 10.2.0.10/32 dst 10.1.0.10/32 dir in $(tmpl "$REMOTE_OUT" "$VIP_OUT" 101)
	in_ns gw1 ip xfrm policy add src 10.1.0.1/32 dst 10.2.0.1/32 dir out $(tmpl "$VIP_OUT" "$REMOTE_OUT" 102)
	in_ns gw1 ip xfrm policy add src 10.2.0.1/32 dst 10.1.0.1/32 dir in $(tmpl "$REMOTE_OUT" "$VIP_OUT" 102)
	in_ns remote ip xfrm policy add src 10.2.0.10/32 dst 10.1.0.10/32 dir out $(tmpl "$REMOTE_OUT" "$VIP_OUT" 101)
	in_ns remote ip xfrm policy add src 10.1.0.10/32 dst 10.2.0.10/32 dir fwd $(tmpl "$VIP_OUT" "$REMOTE_OUT" 101)
	in_ns remote ip xfrm policy add src 10.1.0.10/32 dst 10.2.0.10/32 dir in $(tmpl "$VIP_OUT" "$REMOTE_OUT" 101)
	in_ns remote ip xfrm policy add src 10.2.0.1/32 dst 10.1.0.1/32 dir out $(tmpl "$REMOTE_OUT" "$VIP_OUT" 102)
	in_ns remote ip xfrm policy add src 10.1.0.1/32 dst 10.2.0.1/32 dir in $(tmpl "$VIP_OUT" "$REMOTE_OUT" 102)
	# Not ours: gw1's own address, not the VIP.
	in_ns gw1 ip xfrm state add src "$GW1_OUT" dst "$REMOTE_OUT" proto esp spi 0xc001 reqid 103 \
		mode tunnel aead 'rfc4106(gcm(aes))' "$KX" 128
	in_ns gw1 ip xfrm policy add src 10.1.0.0/24 dst 10.3.0.0/24 dir out $(tmpl "$GW1_OUT" "$REMOTE_OUT" 103)
}

# ---------------------------------------------------------------- dump

P=$XD/capture.json
probe_start "$P" --replay-in $REPLAY_THR --replay-out $REPLAY_THR --etimer-ms 1000
lab_check "the capture's first dump completes" lab_wait 5 probe_dumped "$P"

esn_window_ok() { [ "$(sa_line "$P" 0x0000b002 | jq -c '[.esn, .replay_window, .bmp_len]')" = '[true,128,4]' ]; }
keys_aead_ok() { check_key "$P" 0x0000a001 aead_key_sha256 $KA1 && check_key "$P" 0x0000a002 aead_key_sha256 $KA2; }
keys_cbc_ok() { check_key "$P" 0x0000b001 enc_key_sha256 $KB1E && check_key "$P" 0x0000b002 enc_key_sha256 $KB2E; }
keys_hmac_ok() {
	check_key "$P" 0x0000b001 auth_key_sha256 $KB1A && check_key "$P" 0x0000b002 auth_key_sha256 $KB2A &&
		[ "$(sa_line "$P" 0x0000b002 | jq -r .auth_trunc_bits)" = 128 ]
}
no_key_bytes() {
	local k
	for k in $KA1 $KA2 $KB1E $KB1A $KB2E $KB2A; do
		! grep -qi "${k#0x}" "$P" "$P.err" || return 1
	done
}
policies_ok() {
	check_policy "$P" out 10.1.0.10/32 10.2.0.10/32 101 && check_policy "$P" fwd 10.2.0.10/32 10.1.0.10/32 101 &&
		check_policy "$P" in 10.2.0.10/32 10.1.0.10/32 101 && check_policy "$P" out 10.1.0.1/32 10.2.0.1/32 102 &&
		check_policy "$P" in 10.2.0.1/32 10.1.0.1/32 102
}
filtered_ok() {
	[ "$(pj "$P" 'map(select(.spi == "0x0000c001" or .tmpl[0].reqid? == 103)) | length')" = 0 ] &&
		[ "$(pj "$P" 'map(select(.ev == "dump_end"))[0].filtered_out')" -ge 2 ]
}
thresholds_ok() { [ "$(pj "$P" "map(select(.ev == \"sa\" and .replay_thresh != $REPLAY_THR)) | length")" = 0 ]; }

lab_check "dump: outbound AEAD SA 0xa001 reqid 101" check_sa "$P" 0x0000a001 out 101
lab_check "dump: inbound AEAD SA 0xa002 reqid 101" check_sa "$P" 0x0000a002 in 101
lab_check "dump: outbound ESN SA 0xb001 reqid 102" check_sa "$P" 0x0000b001 out 102
lab_check "dump: inbound ESN SA 0xb002 reqid 102" check_sa "$P" 0x0000b002 in 102
lab_check "dump: the ESN SA has its 128-packet window and 4-word bitmap" esn_window_ok
lab_check "keys: rfc4106(gcm(aes)) keys hash as configured" keys_aead_ok
lab_check "keys: cbc(aes) keys hash as configured" keys_cbc_ok
lab_check "keys: hmac(sha256) keys hash as configured, truncated to 128 bits" keys_hmac_ok
lab_check "keys: no key bytes in the probe's output or log" no_key_bytes
lab_check "dump: the 5 VIP policies with their selectors and reqids" policies_ok
lab_check "filter: the SA and policy of gw1's own address are left out, and counted" filtered_ok
lab_check "thresholds: every captured SA got replay threshold $REPLAY_THR" thresholds_ok
lab_check "thresholds: the capture measured the guest's HZ (100)" grep -q "kernel HZ is 100" "$P.err"
etimer_told() {	# the receiver was told 1 s = 100 jiffies for every SA
	local spi
	for spi in 0x0000a001 0x0000a002 0x0000b001 0x0000b002; do
		[ "$(pj "$P" "map(select(.ev == \"sa\" and .spi == \"$spi\" and .counters_only == false)) |
			last | .etimer_thresh")" = 100 ] || return 1
	done
}
lab_check "thresholds: every SA's last full update carries the 1 s timer in jiffies" lab_wait 2 etimer_told

# ---------------------------------------------------------------- counters

in_ns inside ping -c 40 -i 0.05 -q "$RHOST" >"$XD/ping-a.txt" 2>&1
in_ns gw1 ping -c 40 -i 0.05 -q -I "$VIP_IN" "$REMOTE_IN" >"$XD/ping-b.txt" 2>&1
pings_ok() { grep -q ' 0% packet loss' "$XD/ping-a.txt" && grep -q ' 0% packet loss' "$XD/ping-b.txt"; }
lab_check "traffic went through both tunnels" pings_ok

# Within the threshold while traffic flows; equal once the 1 s timer has run.
compare_ctrs() {
	local mode=$1 spi f k p ok=0
	for spi in 0x0000a001:oseq 0x0000a002:seq 0x0000b001:oseq 0x0000b002:seq; do
		f=${spi#*:}
		spi=${spi%:*}
		k=$(kernel_ctr "$spi" "$f")
		p=$(probe_ctr "$P" "$spi" "$f")
		echo "$spi $f kernel $k capture $p"
		if [ "$mode" = exact ]; then [ "$k" = "$p" ] || ok=1; else within $REPLAY_THR "$k" "$p" || ok=1; fi
	done
	return $ok
}
lab_check "aevents: counters within $REPLAY_THR of ip -s xfrm state right after the traffic" compare_ctrs within
sleep 1.5
in_ns gw1 ip -s xfrm state >"$XD/state-after-traffic.txt"
lab_check "aevents: counters equal to ip -s xfrm state after the 1 s timer" compare_ctrs exact
rose_ok() { [ "$(probe_ctr "$P" 0x0000a002 seq)" -ge 40 ] && [ "$(probe_ctr "$P" 0x0000b002 seq)" -ge 40 ]; }
monotonic_ok() {
	local spi
	for spi in 0x0000a002:seq 0x0000b002:seq 0x0000a001:oseq 0x0000b001:oseq; do
		[ "$(pj "$P" "[.[] | select(.ev == \"sa\" and .spi == \"${spi%:*}\") | .${spi#*:}] |
			. as \$s | [range(1; length) | select(\$s[.] < \$s[. - 1])] | length")" = 0 ] || return 1
	done
}
lab_check "aevents: inbound counters rose with the traffic (40 packets each)" rose_ok
lab_check "aevents: counters never went back" monotonic_ok
aev_a=$(pj "$P" 'map(select(.ev == "sa" and .spi == "0x0000a002" and .counters_only)) | length')
aev_b=$(pj "$P" 'map(select(.ev == "sa" and .spi == "0x0000b002" and .counters_only)) | length')
lab_check "aevents: the ESN SA reported too ($aev_b updates for 40 packets)" test "$aev_b" -ge 3
lab_log "aevents for 40 packets, threshold $REPLAY_THR: 0xa002 $aev_a, 0xb002 $aev_b"

# ---------------------------------------------------------------- changes

in_ns gw1 ip xfrm state add src "$VIP_OUT" dst "$REMOTE_OUT" proto esp spi 0xd001 reqid 104 \
	mode tunnel replay-window 32 aead 'rfc4106(gcm(aes))' "$KA1" 128
new_sa_seen() { [ "$(pj "$P" 'map(select(.spi == "0x0000d001" and .counters_only == false)) | length')" -ge 1 ]; }
lab_check "event: a new SA is captured" lab_wait 3 new_sa_seen
in_ns gw1 ip xfrm state delete src "$REMOTE_OUT" dst "$VIP_OUT" proto esp spi 0xa002
lab_check "event: a deleted SA is seen" lab_wait 3 grep -q '"ev":"sa_delete".*"spi":"0x0000a002"' "$P"
in_ns gw1 ip xfrm policy delete src 10.2.0.10/32 dst 10.1.0.10/32 dir fwd
lab_check "event: a deleted policy is seen" lab_wait 3 grep -q '"ev":"policy_delete","dir":"fwd"' "$P"
in_ns gw1 ip xfrm state add src "$REMOTE_OUT" dst "$VIP_OUT" proto esp spi 0xe001 reqid 105 \
	mode tunnel replay-window 32 aead 'rfc4106(gcm(aes))' "$KA2" 128 limit time-soft 1 limit time-hard 2
lab_check "event: a hard-expired SA is deleted" lab_wait 6 grep -q '"ev":"sa_delete".*"spi":"0x0000e001"' "$P"
in_ns gw1 ip xfrm state flush
in_ns gw1 ip xfrm policy flush
flushed() {
	[ "$(pj "$P" 'map(select(.ev == "sa_delete")) | length')" -ge 6 ] &&
		[ "$(pj "$P" 'map(select(.ev == "policy_delete")) | length')" -ge 5 ]
}
lab_check "event: a flush deletes every SA and policy held" lab_wait 3 flushed
probe_stop
stats_clean() { [ "$(pj "$P" 'map(select(.ev == "stats"))[0] | .errors == 0 and .sas == 0 and .policies == 0')" = true ]; }
lab_check "capture: no error, nothing held after the flush" stats_clean

# ---------------------------------------------------------------- etimer unit

# XFRMA_ETIMER_THRESH set over netlink is in jiffies: with replay
# thresholds out of reach, a steady 20 packets/s shows the timer's period.
P=$XD/etimer.json
in_ns gw1 ip xfrm state add src "$VIP_OUT" dst "$REMOTE_OUT" proto esp spi 0xa001 reqid 101 \
	mode tunnel replay-window 32 aead 'rfc4106(gcm(aes))' "$KA1" 128
in_ns gw1 ip xfrm state add src "$REMOTE_OUT" dst "$VIP_OUT" proto esp spi 0xa002 reqid 101 \
	mode tunnel replay-window 32 aead 'rfc4106(gcm(aes))' "$KA2" 128
in_ns gw1 ip xfrm policy add src 10.1.0.10/32 dst 10.2.0.10/32 dir out $(tmpl "$VIP_OUT" "$REMOTE_OUT" 101)
in_ns gw1 ip xfrm policy add src 10.2.0.10/32 dst 10.1.0.10/32 dir fwd $(tmpl "$REMOTE_OUT" "$VIP_OUT" 101)
probe_start "$P" --replay-in 1000000 --replay-out 1000000 --etimer-ms 500
lab_wait 5 probe_dumped "$P"
in_ns inside ping -c 60 -i 0.05 -q "$RHOST" >/dev/null 2>&1
probe_stop
etimer_ms=$(pj "$P" '[.[] | select(.ev == "sa" and .spi == "0x0000a002" and .counters_only) | .t_ms] |
	[range(1; length) as $i | .[$i] - .[$i - 1]] | sort | if length > 0 then .[length / 2 | floor] else -1 end')
lab_log "etimer 500 ms: median interval between timer aevents $etimer_ms ms"
etimer_ok() { [ "$etimer_ms" -ge 400 ] && [ "$etimer_ms" -le 800 ]; }
lab_check "etimer: 500 ms gives aevents every ~500 ms ($etimer_ms ms)" etimer_ok
in_ns gw1 ip xfrm state flush
in_ns gw1 ip xfrm policy flush

# ---------------------------------------------------------------- ENOBUFS

# gen N FIRST_SPI: ip -batch lines adding N SAs, alternately out of and into the VIP.
gen() {
	awk -v n="$1" -v s="$2" -v vip="$VIP_OUT" -v r="$REMOTE_OUT" -v k="$KA1" 'BEGIN {
		for (i = 0; i < n; i++) {
			if (i % 2 == 0) { a = vip; b = r } else { a = r; b = vip }
			printf "xfrm state add src %s dst %s proto esp spi %d reqid %d mode tunnel " \
				"replay-window 32 aead rfc4106(gcm(aes)) %s 128\n", a, b, s + i, 5000 + i, k
		}
	}'
}
gen 20 $((0x200000)) >"$XD/batch-20"
gen 2000 $((0x300000)) >"$XD/batch-2k"
in_ns gw1 ip -batch "$XD/batch-20"
P=$XD/enobufs.json
probe_start "$P" --quiet --rcvbuf 4096
lab_wait 5 probe_dumped "$P"
in_ns gw1 ip -batch "$XD/batch-2k"
last_dump_sas() { pj "$P" 'map(select(.ev == "dump_end")) | last | .sas'; }
all_2020() { [ "$(last_dump_sas)" = 2020 ]; }
lab_check "ENOBUFS: the capture ends with all 2,020 SAs after its re-dumps" lab_wait 20 all_2020
probe_stop
overrun_ok() {
	[ "$(pj "$P" 'map(select(.ev == "stats"))[0] | .enobufs >= 1 and .dumps >= 2 and .sas == 2020')" = true ] &&
		grep -q ENOBUFS "$P.err"
}
lab_check "ENOBUFS: the overrun was counted and logged, and led to a re-dump" overrun_ok
enobufs=$(pj "$P" 'map(select(.ev == "stats"))[0].enobufs')
dumps=$(pj "$P" 'map(select(.ev == "stats"))[0].dumps')
lab_log "ENOBUFS: $enobufs overruns, $dumps dumps, $(last_dump_sas) SAs at the last dump"
in_ns gw1 ip xfrm state flush

# ---------------------------------------------------------------- 10,000 SAs

gen 10000 $((0x400000)) >"$XD/batch-10k"
t0=$(date +%s%N)
in_ns gw1 ip -batch "$XD/batch-10k"
t1=$(date +%s%N)
insert_ms=$(((t1 - t0) / 1000000))
count_10k() { in_ns gw1 ip xfrm state count | grep -q 'count 10000'; }
lab_check "10,000 SAs in the kernel" count_10k

measure() {	# FILE PROBE-OPTIONS...
	local f=$1
	shift
	probe_start "$f" --quiet "$@"
	lab_wait 20 probe_dumped "$f"
	probe_stop
}
measure "$XD/dump10k.json" --no-thresholds
measure "$XD/dump10k-thr.json"
d=$XD/dump10k.json
dump_ms=$(pj "$d" 'map(select(.ev == "dump_end"))[0].dump_ms')
sas=$(pj "$d" 'map(select(.ev == "dump_end"))[0].sas')
rss_per_sa=$(pj "$d" 'map(select(.ev == "dump_end"))[0] | ((.rss_kb - .rss0_kb) * 1024 / .sas) | floor')
dump_thr_ms=$(pj "$XD/dump10k-thr.json" 'map(select(.ev == "dump_end"))[0].dump_ms')
thr_enobufs=$(pj "$XD/dump10k-thr.json" 'map(select(.ev == "stats"))[0].enobufs')
lab_check "10,000 SAs: one dump captures them all" test "$sas" = 10000
lab_check "10,000 SAs with thresholds: no overrun of the 4 MiB event buffer" test "$thr_enobufs" = 0
echo "figure: kernel insert of 10,000 SAs (ip -batch): $insert_ms ms"
echo "figure: dump of 10,000 SAs: $dump_ms ms; with a threshold request per SA: $dump_thr_ms ms"
echo "figure: probe RSS per SA: $rss_per_sa bytes"
echo "figure: aevents for 40 packets at threshold $REPLAY_THR: $aev_a (AEAD), $aev_b (ESN); etimer 500 ms: every $etimer_ms ms"
lab_result xfrm-capture "{\"kernel\":\"$(uname -r)\",\"insert_10k_ms\":$insert_ms,\"dump_10k_ms\":$dump_ms,
	\"dump_10k_with_thresholds_ms\":$dump_thr_ms,\"rss_per_sa_bytes\":$rss_per_sa,
	\"aevents_40_packets_thr_10\":{\"aead\":$aev_a,\"esn\":$aev_b},\"etimer_500ms_interval_ms\":$etimer_ms,
	\"enobufs_burst_2000\":{\"overruns\":$enobufs,\"dumps\":$dumps}}"
in_ns gw1 ip xfrm state flush
true
