# sync-forged: what reaches gw2's sync port from anyone but a genuine gw1
# (garbage, a HELLO under a wrong key, a recorded association played back,
# a replayed frame, a tampered frame, a stranger address) is rejected,
# counted exactly once in the right counter, and changes nothing in the
# standby cache; gw1 then comes back and gw2 is in sync again.

INJECT=$LAB_BIN/labtools/sync_inject
# sctp, as in the field; a script setting SYNC_TRANSPORT=tcp and sourcing this
# file runs the same attacks over the TCP fallback (results: sync-forged-tcp).
SYNC_TRANSPORT=${SYNC_TRANSPORT:-sctp}
PEER=10.9.0.2:7788
SPI_REPLAY=5e1f0001
SPI_TAMPER=5e1f0002
SPI_STRANGER=5e1f0003

lab_topology

# Manually keyed SAs of the outside VIP on gw1: AEAD, CBC+HMAC, one with ESN.
hexkey() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }
add_sa() {
	local src=$1 dst=$2 spi=$3 reqid=$4
	shift 4
	in_ns gw1 ip xfrm state add src "$src" dst "$dst" proto esp spi "0x$spi" reqid "$reqid" \
		mode tunnel "$@" sel src 10.1.0.0/24 dst 10.2.0.0/24
}
aead() { echo aead 'rfc4106(gcm(aes))' "0x$(hexkey 36)" 128; }
cbc() { echo enc 'cbc(aes)' "0x$(hexkey 32)" auth-trunc 'hmac(sha256)' "0x$(hexkey 32)" 128; }
# shellcheck disable=SC2046 # the algorithm words are meant to split
{
	add_sa "$VIP_OUT" "$REMOTE_OUT" c1000001 1001 $(aead) replay-window 32
	add_sa "$REMOTE_OUT" "$VIP_OUT" c1000002 1001 $(aead) replay-window 32
	add_sa "$VIP_OUT" "$REMOTE_OUT" c1000003 1002 $(cbc) replay-window 32
	add_sa "$REMOTE_OUT" "$VIP_OUT" c1000004 1002 $(cbc) replay-window 32
	add_sa "$VIP_OUT" "$REMOTE_OUT" c1000005 1003 $(aead) flag esn replay-window 128
	add_sa "$REMOTE_OUT" "$VIP_OUT" c1000006 1003 $(aead) flag esn replay-window 128
} >>"$LAB_RUN/check.log" 2>&1
NSAS=$(kernel_sas gw1 | wc -l)
lab_check "gw1's kernel holds the 6 manually keyed SAs of the VIP" test "$NSAS" -eq 6

for h in gw1 gw2; do lab_hasyncd_conf "$h" "$SYNC_TRANSPORT"; lab_hasyncd_start "$h"; done
peer_up() { hactl "$1" --json status | jq -e '.peer.state == "up"' >/dev/null; }
peer_not_up() { ! peer_up "$1"; }
in_sync() { hactl "$1" check >/dev/null; }
same_sas() { [ "$(kernel_sas gw1 | cut -d' ' -f1,2)" = "$(held_sas gw2 | cut -d' ' -f1,2)" ]; }
lab_check "agents authenticated each other over $SYNC_TRANSPORT" lab_wait 10 peer_up gw2
lab_check "gw2 in sync (hasyncctl check)" lab_wait 10 in_sync gw2
lab_check "gw2's cache holds gw1's $NSAS SAs, same SPIs and key hashes" lab_wait 5 same_sas
GW2_PID=$(lab_pid_of gw2 hasyncd)

# Everything that follows is compared with this.
snap() {
	hactl gw2 --json status >"$LAB_RUN/status-$1.json"
	held_sas gw2 >"$LAB_RUN/held-$1.txt"
}
snap start
lab_hasyncd_stop gw1
lab_check "gw1's agent stopped: gw2 sees its peer go" lab_wait 5 peer_not_up gw2
snap before
BASE=before

# log_count PATTERN: lines of gw2's log matching it so far.
log_count() { grep -c -- "$1" "$LAB_RUN/gw2/hasyncd.log" || true; }
# delta TAG JQ_EXPR: the expression on gw2's status after TAG minus before it.
delta() {
	jq -n --slurpfile a "$LAB_RUN/status-$BASE.json" --slurpfile b "$LAB_RUN/status-$1.json" \
		"(\$b[0] | $2) - (\$a[0] | $2)"
}
DECODE='([.errors.decode[]] | add)'

# inject TAG ARGS...: the injector from gw1's namespace; its JSON line and exit status kept.
inject() {
	local tag=$1
	shift
	in_ns gw1 "$INJECT" --peer "$PEER" --key "$LAB_RUN/sync.key" \
		$([ "$SYNC_TRANSPORT" = tcp ] && echo --tcp) "$@" \
		>"$LAB_RUN/inject-$tag.json" 2>>"$LAB_RUN/inject-$tag.stderr"
	echo $? >"$LAB_RUN/inject-$tag.rc"
	snap "$tag"
}
ij() { jq -e "$2" "$LAB_RUN/inject-$1.json" >/dev/null; }
rc_is() { [ "$(cat "$LAB_RUN/inject-$1.rc")" -eq "$2" ]; }
delta_is() { [ "$(delta "$1" "$2")" = "$3" ]; }
cache_same() { cmp -s "$LAB_RUN/held-$BASE.txt" "$LAB_RUN/held-$1.txt"; }
not_held() { ! cut -d' ' -f1 "$LAB_RUN/held-$1.txt" | grep -qx "$2"; }
alive() { [ "$(lab_pid_of gw2 hasyncd)" = "$GW2_PID" ]; }
# The records gw2 counts as received: exactly those the injector sealed genuinely.
received_ok() { [ "$(delta "$1" .records.received)" = "$(jq .valid_records "$LAB_RUN/inject-$1.json")" ]; }

done_and_dropped() { rc_is "$1" 0 && ij "$1" '.done and .peer_closed'; }

# expect TAG AUTH REPLAYS DECODE REASON: the checks every attack shares.
expect() {
	local tag=$1 auth=$2 replays=$3 decode=$4 reason=$5
	lab_check "$tag: injector did it and gw2 dropped the association" \
		done_and_dropped "$tag"
	lab_check "$tag: auth_failures +$auth" delta_is "$tag" .errors.auth_failures "$auth"
	lab_check "$tag: replays +$replays" delta_is "$tag" .errors.replays "$replays"
	lab_check "$tag: decode errors +$decode" delta_is "$tag" "$DECODE" "$decode"
	lab_check "$tag: records received only those genuinely sealed" received_ok "$tag"
	lab_check "$tag: gw2 logged why: $reason" \
		test "$(log_count "dropping the association: $reason")" -eq \
		"$(($(cat "$LAB_RUN/reason-$tag.before") + 1))"
	lab_check "$tag: gw2's agent still running (same pid)" alive
	BASE=$tag
}
reason_before() { log_count "dropping the association: $2" >"$LAB_RUN/reason-$1.before"; }

# Garbage. On SCTP it is one message where the HELLO should be, which does
# not decode: a decode error. On TCP the transport's framing rejects it
# first: counted in the transport's garbage counter.
if [ "$SYNC_TRANSPORT" = tcp ]; then
	garbage_before=$(log_count 'tcp: association lost: malformed frame header')
	inject garbage --bind 10.9.0.1 --mode garbage
	lab_check "garbage: injector did it and gw2 dropped the connection" done_and_dropped garbage
	lab_check "garbage: gw2 logged a malformed frame header" \
		test "$(log_count 'tcp: association lost: malformed frame header')" -eq $((garbage_before + 1))
	for f in .errors.auth_failures .errors.replays "$DECODE" .records.received; do
		lab_check "garbage: $f +0 (the transport turned it away first)" \
			delta_is garbage "$f" 0
	done
	lab_check "garbage: the transport's garbage counter +1" delta_is garbage .agent.transport_garbage 1
	lab_check "garbage: gw2's agent still running (same pid)" alive
	BASE=garbage
else
	reason_before garbage ''
	inject garbage --bind 10.9.0.1 --mode garbage
	expect garbage 0 0 1 ''
fi
lab_check "garbage: cache unchanged" cache_same garbage

reason_before bad-hello 'HELLO authentication failed'
inject bad-hello --bind 10.9.0.1 --mode bad-hello
expect bad-hello 1 0 0 'HELLO authentication failed'
lab_check "bad-hello: gw2 never answered with a HELLO" ij bad-hello '.associations[0].peer_hello == "none"'
lab_check "bad-hello: cache unchanged" cache_same bad-hello

# A recorded association played back: gw2 answers the genuine old HELLO (step
# 2 of the handshake), then the old frame cannot open under the new keys.
reason_before stale-hello 'frame authentication failed'
inject stale-hello --bind 10.9.0.1 --mode stale-hello
expect stale-hello 1 0 0 'frame authentication failed'
lab_check "stale-hello: the recorded association was genuine (gw2 sent its snapshot)" \
	ij stale-hello '.associations[0].peer_frames >= 1 and .associations[0].end == "closed-by-us"'
lab_check "stale-hello: the old frame was sent after gw2 answered the replayed HELLO" \
	ij stale-hello '.associations[1].peer_hello == "verified" and .associations[1].peer_frames == 0'
lab_check "stale-hello: cache unchanged" cache_same stale-hello

reason_before tamper 'frame authentication failed'
inject tamper --bind 10.9.0.1 --mode tamper --spi "$SPI_TAMPER"
expect tamper 1 0 0 'frame authentication failed'
lab_check "tamper: the association was established before the forged frame" \
	ij tamper '.associations[0].peer_frames >= 1'
lab_check "tamper: SA $SPI_TAMPER not in gw2's cache" not_held tamper "$SPI_TAMPER"
lab_check "tamper: cache unchanged" cache_same tamper

# A stranger: the right key, the wrong address. Turned away by the transport
# before any byte reaches the protocol (the transport's refused counter is
# not in hasyncctl status: its log line is the evidence).
refused_before=$(log_count 'refused an association from 192.0.2.2')
inject stranger --bind 192.0.2.2 --mode replay --spi "$SPI_STRANGER"
lab_check "stranger 192.0.2.2: the injector could not complete a handshake" \
	eval 'rc_is stranger 2 && ij stranger ".done == false and .associations[0].peer_hello == \"none\""'
lab_check "stranger 192.0.2.2: gw2 logged the refusal" \
	test "$(log_count 'refused an association from 192.0.2.2')" -eq $((refused_before + 1))
for f in .errors.auth_failures .errors.replays "$DECODE" .records.received; do
	lab_check "stranger 192.0.2.2: $f +0" delta_is stranger "$f" 0
done
lab_check "stranger 192.0.2.2: the transport's refused counter +1" \
	delta_is stranger .agent.transport_refused 1
lab_check "stranger 192.0.2.2: SA $SPI_STRANGER not in gw2's cache" not_held stranger "$SPI_STRANGER"
lab_check "stranger 192.0.2.2: cache unchanged" cache_same stranger
lab_check "stranger 192.0.2.2: gw2's agent still running (same pid)" alive
BASE=stranger

# A replayed frame: the first copy is fresh and sealed with the key (an
# insider with the PSK: it applies); the second, byte for byte the same,
# must not be.
reason_before replay 'replayed frame'
inject replay --bind 10.9.0.1 --mode replay --spi "$SPI_REPLAY"
expect replay 0 1 0 'replayed frame'
lab_check "replay: gw2 acknowledged the fresh copy before the replayed one went" \
	ij replay '.associations[0].peer_acked == 1'
gained_only() {
	[ "$(comm -13 "$LAB_RUN/held-$1.txt" "$LAB_RUN/held-$2.txt" | cut -d' ' -f1)" = "$3" ] &&
		[ -z "$(comm -23 "$LAB_RUN/held-$1.txt" "$LAB_RUN/held-$2.txt")" ]
}
lab_check "replay: the cache gained exactly SA $SPI_REPLAY, nothing else changed" \
	gained_only stranger replay "$SPI_REPLAY"
{
	for t in start before garbage bad-hello stale-hello tamper stranger replay; do
		echo "== gw2 cache after $t"; cat "$LAB_RUN/held-$t.txt"
		echo "== injector $t: $(cat "$LAB_RUN/inject-$t.json" 2>/dev/null)"
	done
} >>"$LAB_RUN/check.log"

# gw1 comes back: a new snapshot replaces what the insider added.
snap end-injections
lab_hasyncd_start gw1
lab_check "gw1's agent back: gw2's peer up" lab_wait 10 peer_up gw2
lab_check "gw1's agent back: gw2 in sync" lab_wait 10 in_sync gw2
lab_check "gw1's agent back: gw2's cache equals gw1's kernel" lab_wait 5 same_sas
snap end
lab_check "gw1's agent back: SA $SPI_REPLAY gone from gw2's cache" not_held end "$SPI_REPLAY"
BASE=end-injections
for f in .errors.auth_failures .errors.replays "$DECODE"; do
	lab_check "gw1's agent back: $f +0 (the genuine peer is not counted)" delta_is end "$f" 0
done
lab_check "gw2's agent ran throughout (same pid)" alive

# With the genuine association alive, a keyless newcomer from the peer's own
# addresses must not replace it (which would force a resync each time).
for src in 10.9.0.1 10.9.1.1; do
	snap "hijack-before-$src"
	BASE="hijack-before-$src"
	applied=$(log_count 'applied')
	in_ns gw1 "$INJECT" --peer "$PEER" --bind "$src" --mode bad-hello \
		$([ "$SYNC_TRANSPORT" = tcp ] && echo --tcp) >"$LAB_RUN/hijack-$src.json" 2>&1
	sleep 0.5
	snap "hijack-$src"
	lab_check "hijack from $src: refused by the transport" delta_is "hijack-$src" .agent.transport_refused 1
	lab_check "hijack from $src: the live association stayed (no new snapshot)" \
		test "$(log_count 'applied')" -eq "$applied"
	lab_check "hijack from $src: no resync" delta_is "hijack-$src" .agent.resyncs 0
	lab_check "hijack from $src: gw2 still in sync" in_sync gw2
done

# Figures: per attack, what gw2 counted and how fast it dropped the association.
BASE=before
fig() {
	local tag=$1 prev=$2
	BASE=$prev
	jq -c -n --slurpfile i "$LAB_RUN/inject-$tag.json" \
		--argjson auth "$(delta "$tag" .errors.auth_failures)" \
		--argjson replays "$(delta "$tag" .errors.replays)" \
		--argjson decode "$(delta "$tag" "$DECODE")" \
		--argjson received "$(delta "$tag" .records.received)" \
		--argjson cache_changed "$(cmp -s "$LAB_RUN/held-$prev.txt" "$LAB_RUN/held-$tag.txt" && echo false || echo true)" \
		'{auth_failures: $auth, replays: $replays, decode_errors: $decode,
		  records_received: $received, valid_records_sent: $i[0].valid_records,
		  cache_changed: $cache_changed, done: $i[0].done, peer_closed: $i[0].peer_closed,
		  end: $i[0].associations[-1].end, dropped_after_ms: $i[0].associations[-1].end_after_ms}'
}
RESULT=sync-forged
[ "$SYNC_TRANSPORT" = sctp ] || RESULT=sync-forged-$SYNC_TRANSPORT
lab_result "$RESULT" "$(jq -n -c --arg transport "$SYNC_TRANSPORT" --argjson sas "$NSAS" \
	--argjson garbage "$(fig garbage before)" \
	--argjson bad_hello "$(fig bad-hello garbage)" \
	--argjson stale_hello "$(fig stale-hello bad-hello)" \
	--argjson tamper "$(fig tamper stale-hello)" \
	--argjson stranger "$(fig stranger tamper)" \
	--argjson replay "$(fig replay stranger)" \
	'{transport: $transport, gw1_sas: $sas,
	  attacks: {garbage: $garbage, "bad-hello": $bad_hello, "stale-hello": $stale_hello,
		    tamper: $tamper, stranger: $stranger, replay: $replay},
	  notes: "deltas of gw2 hasyncctl status counters across each injection; dropped_after_ms: injector last send -> association ended by gw2"}')"
