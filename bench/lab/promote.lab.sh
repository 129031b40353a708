# promote.lab.sh: the guest half of bench/promote.sh: promotion of N held SAs into an empty namespace's kernel against `ip -batch` adding the same SAs, and demotion against `ip xfrm state flush`.
#
# Run by tests/lab/run --script (lib.sh sourced, as root in a fresh guest).
# Figures, never pass/fail on time: the checks only say whether every SA
# went in and came out. Results go to results/promote.json.
# bench/promote.sh may leave build/bench/promote.env to set PROMOTE_SIZES
# and PROMOTE_REPEAT.

PROMOTE_SIZES="1000 10000"
PROMOTE_REPEAT=3
ENV_FILE=$LAB_SRC/build/bench/promote.env
# shellcheck disable=SC1090
[ -f "$ENV_FILE" ] && . "$ENV_FILE"

PROBE=$LAB_BIN/labtools/takeover_probe
BD=$LAB_RUN/promote
mkdir -p "$BD"
R_OUT=100000
MARGIN=1000000

now_us() { NOW_US=${EPOCHREALTIME/./}; }
count() { ip -n "$1" xfrm state count | awk '{print $NF}'; }
policies() { ip -n "$1" xfrm policy list | grep -c '^src'; }
routes() { ip -n "$1" route show proto 201 | wc -l; }
# The synthetic peers (100.64.0.0/10) on-link, so RRI can route via them.
peers_on_link() {
	ip -n "$1" link add d0 type dummy
	ip -n "$1" addr add 100.127.255.254/10 dev d0
	ip -n "$1" link set d0 up
}
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
field() { jq -r ".$2" <<<"$1"; }
csv() { local IFS=,; echo "$*"; }

# A fresh namespace: its own, empty XFRM database.
fresh_ns() {
	ip netns del "$1" 2>/dev/null
	ip netns add "$1"
	ip -n "$1" link set lo up
}

runs=
sep=
full=
fsep=
for n in $PROMOTE_SIZES; do
	F=$BD/held-$n.bin
	B=$BD/batch-$n
	# Half out of the VIP, half into it, AES-GCM, ESN, counters set.
	"$PROBE" synth --vip "$VIP_OUT" --file "$F" --batch "$B" --count "$n" >"$BD/synth-$n.json"
	ipb= flush= prom= sas= load= dem= wall=
	ok=true
	for r in $(seq 1 "$PROMOTE_REPEAT"); do
		# The floor: the kernel's own insert rate through iproute2, same SAs.
		fresh_ns pbip
		now_us; t0=$NOW_US
		ip -n pbip -batch "$B"
		now_us; ipb="$ipb $(( (NOW_US - t0) / 1000 ))"
		[ "$(count pbip)" = "$n" ] || ok=false
		now_us; t0=$NOW_US
		ip -n pbip xfrm state flush
		now_us; flush="$flush $(( (NOW_US - t0) / 1000 ))"
		ip netns del pbip

		fresh_ns pbpr
		out=$(ip netns exec pbpr "$PROBE" promote --vip "$VIP_OUT" --file "$F" --replay-out $R_OUT \
			--margin $MARGIN 2>>"$BD/promote-$n.err" | grep '"ev":"promote"')
		echo "$out" >>"$BD/promote-$n.json"
		[ "$(count pbpr)" = "$n" ] && [ "$(field "$out" sas_installed)" = "$n" ] || ok=false
		prom="$prom $(( $(field "$out" total_us) / 1000 ))"
		sas="$sas $(field "$out" sas_us)"
		load="$load $(( $(field "$out" load_us) / 1000 ))"
		wall="$wall $(( $(field "$out" wall_us) / 1000 ))"
		out=$(ip netns exec pbpr "$PROBE" demote --vip "$VIP_OUT" 2>>"$BD/promote-$n.err" |
			grep '"ev":"demote"')
		echo "$out" >>"$BD/demote-$n.json"
		[ "$(count pbpr)" = 0 ] && [ "$(field "$out" sas_removed)" = "$n" ] || ok=false
		dem="$dem $(( $(field "$out" total_us) / 1000 ))"
		ip netns del pbpr
	done
	bc=$("$PROBE" buildcost --vip "$VIP_OUT" --file "$F" | grep '"ev":"buildcost"')
	build_ms=$(( $(field "$bc" build_us) / 1000 ))
	lab_check "$n SAs: ip -batch, promotion and demotion each moved all of them, every run" $ok
	ipb_ms=$(median <<<"$ipb")
	flush_ms=$(median <<<"$flush")
	prom_ms=$(median <<<"$prom")
	sas_us=$(median <<<"$sas")
	dem_ms=$(median <<<"$dem")
	per_sa=$(( sas_us / n ))
	echo "figure: $n SAs: ip -batch $ipb_ms ms (runs:$ipb), promotion $prom_ms ms (runs:$prom; SAs alone $((sas_us / 1000)) ms, $per_sa us/SA, of which building the requests $build_ms ms), demotion $dem_ms ms (runs:$dem), ip xfrm state flush $flush_ms ms"
	runs="$runs$sep{\"n\":$n,\"repeat\":$PROMOTE_REPEAT,\"ip_batch_ms\":$ipb_ms,
		\"promote_ms\":$prom_ms,\"promote_sas_ms\":$((sas_us / 1000)),\"promote_us_per_sa\":$per_sa,
		\"build_requests_ms\":$build_ms,
		\"promote_vs_ip_batch\":$(awk -v a="$prom_ms" -v b="$ipb_ms" 'BEGIN {printf "%.2f", b ? a / b : 0}'),
		\"load_file_to_cache_ms\":$(median <<<"$load"),\"probe_wall_ms\":$(median <<<"$wall"),
		\"demote_ms\":$dem_ms,\"ip_flush_ms\":$flush_ms,\"complete\":$ok,
		\"runs_ms\":{\"ip_batch\":[$(csv $ipb)],\"promote\":[$(csv $prom)],\"demote\":[$(csv $dem)]}}"
	sep=,
	rm -f "$F"

	# The whole tunnel: SAs, three policies each, a route each (RRI),
	# the peers on-link through a dummy interface.
	F=$BD/full-$n.bin
	B=$BD/batch-full-$n
	"$PROBE" synth --policies --vip "$VIP_OUT" --file "$F" --batch "$B" --count "$n" >/dev/null
	np=$((n / 2 * 3))
	nr=$((n / 2))
	ipb= prom= sas= pol= rts= dem=
	ok=true
	for r in $(seq 1 "$PROMOTE_REPEAT"); do
		fresh_ns pbip
		peers_on_link pbip
		now_us; t0=$NOW_US
		ip -n pbip -batch "$B"
		now_us; ipb="$ipb $(( (NOW_US - t0) / 1000 ))"
		[ "$(count pbip)" = "$n" ] && [ "$(policies pbip)" = "$np" ] && [ "$(routes pbip)" = "$nr" ] || ok=false
		ip netns del pbip

		fresh_ns pbpr
		peers_on_link pbpr
		out=$(ip netns exec pbpr "$PROBE" promote --rri --vip "$VIP_OUT" --file "$F" \
			--replay-out $R_OUT --margin $MARGIN 2>>"$BD/full-$n.err" | grep '"ev":"promote"')
		echo "$out" >>"$BD/full-promote-$n.json"
		[ "$(count pbpr)" = "$n" ] && [ "$(policies pbpr)" = "$np" ] && [ "$(routes pbpr)" = "$nr" ] &&
			[ "$(field "$out" rc)" = 0 ] || ok=false
		prom="$prom $(( $(field "$out" total_us) / 1000 ))"
		sas="$sas $(( $(field "$out" sas_us) / 1000 ))"
		pol="$pol $(( $(field "$out" policies_us) / 1000 ))"
		rts="$rts $(( $(field "$out" routes_us) / 1000 ))"
		out=$(ip netns exec pbpr "$PROBE" demote --rri --vip "$VIP_OUT" 2>>"$BD/full-$n.err" |
			grep '"ev":"demote"')
		echo "$out" >>"$BD/full-demote-$n.json"
		[ "$(count pbpr)" = 0 ] && [ "$(policies pbpr)" = 0 ] && [ "$(routes pbpr)" = 0 ] || ok=false
		dem="$dem $(( $(field "$out" total_us) / 1000 ))"
		ip netns del pbpr
	done
	lab_check "$n SAs, $np policies, $nr routes: ip -batch, promotion and demotion each moved all of them" $ok
	echo "figure: $n SAs + $np policies + $nr routes: ip -batch $(median <<<"$ipb") ms (runs:$ipb), promotion $(median <<<"$prom") ms (runs:$prom; SAs $(median <<<"$sas"), policies $(median <<<"$pol"), routes $(median <<<"$rts") ms), demotion $(median <<<"$dem") ms (runs:$dem)"
	full="$full$fsep{\"n\":$n,\"policies\":$np,\"routes\":$nr,\"ip_batch_ms\":$(median <<<"$ipb"),
		\"promote_ms\":$(median <<<"$prom"),\"promote_sas_ms\":$(median <<<"$sas"),
		\"promote_policies_ms\":$(median <<<"$pol"),\"promote_routes_ms\":$(median <<<"$rts"),
		\"demote_ms\":$(median <<<"$dem"),\"complete\":$ok,
		\"runs_ms\":{\"ip_batch\":[$(csv $ipb)],\"promote\":[$(csv $prom)],\"demote\":[$(csv $dem)]}}"
	fsep=,
	rm -f "$F"
done
lab_result promote "{\"benchmark\":\"promote\",\"kernel\":\"$(uname -r)\",
	\"sa_profile\":\"IPv4 tunnel, rfc4106(gcm(aes)) 160-bit key, ESN window 128, half out half in, counters set\",
	\"replay_out\":$R_OUT,\"runs\":[$runs],
	\"full_profile\":\"the same SAs, per tunnel (SA pair) an out, in and fwd policy and a route (RRI, peers on-link)\",
	\"full\":[$full]}"
true
