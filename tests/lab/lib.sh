# lib.sh: the lab's shell library, sourced in the guest before every scenario:
# topology, daemons per host, traffic, failure injection, checks and results.
#
# Hosts are network namespaces:
#   gw1, gw2  the HA pair: outside (192.0.2.0/24, VIP .1), inside
#             (10.1.0.0/24, VIP .1), two direct sync links (10.9.0.0/30,
#             10.9.1.0/30: gw1 .1, gw2 .2)
#   remote    the remote IKEv2 peer on the outside segment (192.0.2.100),
#             protecting 10.2.0.0/24 (its address there 10.2.0.1)
#   rhost     a host behind remote (10.2.0.10)
#   inside    a host behind the gateways (10.1.0.10)

LAB_SRC=/lab/src
LAB_OUT=/lab/out
LAB_RUN=/run/lab
LAB_BIN=$LAB_SRC/build

VIP_OUT=192.0.2.1
VIP_IN=10.1.0.1
GW1_OUT=192.0.2.2
GW2_OUT=192.0.2.3
REMOTE_OUT=192.0.2.100
REMOTE_IN=10.2.0.1
RHOST=10.2.0.10
INSIDE=10.1.0.10
LAB_PSK="lab-only pre-shared key, not a secret"

# Liveness a careful operator would set; Libreswan 5 has no IKEv2
# dpdtimeout: a peer is dead when retransmit-timeout runs out.
# LAB_REMOTE_DPDDELAY and LAB_REMOTE_RETRANSMIT_TIMEOUT set the remote's
# apart (unset: the same).
LAB_DPDDELAY=${LAB_DPDDELAY:-10s}
LAB_RETRANSMIT_TIMEOUT=${LAB_RETRANSMIT_TIMEOUT:-30s}
LAB_ADVERT_INT=${LAB_ADVERT_INT:-0.1}

# ---------------------------------------------------------------- checks

lab_pass() { printf 'PASS: %s\n' "$*"; echo x >>"$LAB_RUN/.passed"; }
lab_fail() { printf 'FAIL: %s\n' "$*"; echo x >>"$LAB_RUN/.failed"; }
lab_log() { printf '[%6.1f] %s\n' "$(cut -d' ' -f1 /proc/uptime)" "$*"; }

# lab_check DESCRIPTION COMMAND...: one PASS/FAIL line from the command's status.
lab_check() {
	local what=$1
	shift
	if "$@" >>"$LAB_RUN/check.log" 2>&1; then
		lab_pass "$what"
	else
		lab_fail "$what"
	fi
}

# lab_wait SECONDS COMMAND...: retries every 0.1 s until the command succeeds.
lab_wait() {
	local deadline
	deadline=$(awk -v u="$(cut -d' ' -f1 /proc/uptime)" -v t="$1" 'BEGIN {print u + t}')
	shift
	until "$@" >/dev/null 2>&1; do
		awk -v u="$(cut -d' ' -f1 /proc/uptime)" -v d="$deadline" 'BEGIN {exit !(u > d)}' && return 1
		sleep 0.1
	done
}

lab_summary() {
	local passed failed
	passed=$(cat "$LAB_RUN/.passed" 2>/dev/null | wc -l)
	failed=$(cat "$LAB_RUN/.failed" 2>/dev/null | wc -l)
	if [ "$passed" -eq 0 ] && [ "$failed" -eq 0 ]; then
		echo "FAIL: the scenario made no check"
		failed=1
	fi
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
}

# lab_result NAME JSON: a scenario's figures, copied to tests/lab/results/.
lab_result() {
	mkdir -p "$LAB_OUT/results"
	printf '%s\n' "$2" | jq . >"$LAB_OUT/results/$1.json"
}

lab_collect_logs() {
	mkdir -p "$LAB_OUT/logs"
	cp -r "$LAB_RUN"/. "$LAB_OUT/logs/" 2>/dev/null || true
}

# ---------------------------------------------------------------- boot

lab_boot() {
	# devtmpfs has no /dev/fd (udev makes it): bash's <(...) needs it.
	[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd
	mkdir -p "$LAB_RUN"
	: >"$LAB_RUN/.passed"
	: >"$LAB_RUN/.failed"
	modprobe -a veth bridge dummy xfrm_user esp4 esp6 sctp af_key 2>/dev/null
	modprobe -a gcm ghash-generic ctr aes_generic seqiv echainiv authenc \
		sha256_generic sha512_generic hmac cbc 2>/dev/null
	ip link set lo up
	hostname lab
}

in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# lab_use_patched_pluto: pluto, whack and addconn from `make pluto` replace
# the archive's (the three are version-locked: always all of them). Once per
# guest: a second call finds them mounted.
lab_use_patched_pluto() {
	local p
	mountpoint -q /run/pluto-build && return 0
	if [ -z "${hasync_pluto:-}" ]; then
		lab_fail "no patched Libreswan: run make pluto on the host first"
		return 1
	fi
	mkdir -p /run/pluto-build
	mount -t hostfs -o hostfs="$hasync_pluto" hostfs /run/pluto-build || return 1
	for p in pluto whack addconn; do
		mount --bind "/run/pluto-build/$p" "/usr/libexec/ipsec/$p" || return 1
	done
}

# ---------------------------------------------------------------- topology

lab_ns() {
	ip netns add "$1"
	in_ns "$1" ip link set lo up
	in_ns "$1" sysctl -qw net.ipv4.ip_forward=1
	mkdir -p "$LAB_RUN/$1"
}

# lab_link NS IFNAME BRIDGE ADDR/LEN: a veth from a namespace to a bridge.
lab_link() {
	local ns=$1 ifname=$2 br=$3 addr=$4
	local peer="v-$ns-$ifname"
	peer=${peer:0:15}
	ip link add "$ifname" netns "$ns" type veth peer name "$peer"
	ip link set "$peer" master "$br" up
	in_ns "$ns" ip addr add "$addr" dev "$ifname"
	in_ns "$ns" ip link set "$ifname" up
}

lab_topology() {
	local ns
	for ns in gw1 gw2 remote rhost inside; do lab_ns "$ns"; done
	for br in br-out br-in br-far; do
		ip link add "$br" type bridge
		ip link set "$br" type bridge forward_delay 0 stp_state 0
		ip link set "$br" up
	done
	lab_link gw1 eth-out br-out "$GW1_OUT/24"
	lab_link gw2 eth-out br-out "$GW2_OUT/24"
	lab_link remote eth-out br-out "$REMOTE_OUT/24"
	lab_link gw1 eth-in br-in 10.1.0.2/24
	lab_link gw2 eth-in br-in 10.1.0.3/24
	lab_link inside eth0 br-in "$INSIDE/24"
	lab_link remote eth-in br-far "$REMOTE_IN/24"
	lab_link rhost eth0 br-far "$RHOST/24"
	in_ns inside ip route add default via "$VIP_IN"
	in_ns rhost ip route add default via "$REMOTE_IN"
	# Two direct links between the gateways, for the sync channel.
	local i
	for i in 0 1; do
		ip link add "sync$i" netns gw1 type veth peer name "sync$i" netns gw2
		in_ns gw1 ip addr add "10.9.$i.1/30" dev "sync$i"
		in_ns gw2 ip addr add "10.9.$i.2/30" dev "sync$i"
		in_ns gw1 ip link set "sync$i" up
		in_ns gw2 ip link set "sync$i" up
	done
}

# ---------------------------------------------------------------- pluto

pluto_ctl() { echo "/run/pluto-$1/pluto.ctl"; }
# Where a gateway's pluto opens its HA socket (LAB_PLUTO_HA=1) and its agent connects.
pluto_ha_socket() { echo "/run/pluto-$1/ha.ctl"; }

# lab_pluto_conf HOST [TUNNELS]: identical connections on gw1 and gw2, the
# mirror image on remote. Tunnel N protects 10.1.0.0/24 <-> 10.2.N-1.0/24
# (N=1: the rhost segment). LAB_PLUTO_HA=1: the gateways' pluto (the
# patched one, which alone knows the keyword) opens its HA socket for the
# agent.
lab_pluto_conf() {
	local host=$1 tunnels=${2:-1} dir=$LAB_RUN/$1 n auto ha=
	local dpd=$LAB_DPDDELAY rt=$LAB_RETRANSMIT_TIMEOUT
	if [ "$host" = remote ]; then
		dpd=${LAB_REMOTE_DPDDELAY:-$dpd}
		rt=${LAB_REMOTE_RETRANSMIT_TIMEOUT:-$rt}
	fi
	mkdir -p "$dir/ipsec.d" "$dir/nss"
	if [ "${LAB_PLUTO_HA:-0}" = 1 ]; then
		lab_use_patched_pluto || return 1
		[ "$host" = remote ] || ha="	ha-socket=$(pluto_ha_socket "$host")"
	fi
	cat >"$dir/ipsec.conf" <<EOF
config setup
	plutodebug=${LAB_PLUTODEBUG:-none}
$ha

conn %default
	keyexchange=ikev2
	authby=secret
	dpddelay=$dpd
	retransmit-timeout=$rt
EOF
	for n in $(seq 1 "$tunnels"); do
		if [ "$host" = remote ]; then
			auto=start
			cat >>"$dir/ipsec.conf" <<EOF

conn tun$n
	left=$REMOTE_OUT
	leftid=@remote
	leftsubnet=10.2.$((n - 1)).0/24
	leftsourceip=10.2.$((n - 1)).1
	right=$VIP_OUT
	rightid=@gateway
	rightsubnet=10.1.0.0/24
	reqid=$((1000 + n))
	auto=$auto
EOF
		else
			cat >>"$dir/ipsec.conf" <<EOF

conn tun$n
	left=$VIP_OUT
	leftid=@gateway
	leftsubnet=10.1.0.0/24
	leftsourceip=$VIP_IN
	right=$REMOTE_OUT
	rightid=@remote
	rightsubnet=10.2.$((n - 1)).0/24
	reqid=$((1000 + n))
	auto=add
EOF
		fi
	done
	printf '@gateway @remote : PSK "%s"\n' "$LAB_PSK" >"$dir/ipsec.secrets"
	chmod 0600 "$dir/ipsec.secrets"
	[ -f "$dir/nss/cert9.db" ] || ipsec initnss --nssdir "$dir/nss" >/dev/null
}

lab_pluto_start() {
	local host=$1 dir=$LAB_RUN/$1
	mkdir -p "/run/pluto-$host"
	in_ns "$host" ipsec pluto --config "$dir/ipsec.conf" --rundir "/run/pluto-$host" \
		--nssdir "$dir/nss" --secretsfile "$dir/ipsec.secrets" \
		--ipsecdir "$dir/ipsec.d" --logfile "$dir/pluto.log" 2>>"$dir/pluto.stderr"
	# LAB_PLUTO_START_WAIT: seconds; a pluto with thousands of addresses
	# and connections takes longer than the default.
	lab_wait "${LAB_PLUTO_START_WAIT:-10}" test -S "$(pluto_ctl "$host")" ||
		{ lab_fail "pluto on $host did not start"; return 1; }
	in_ns "$host" ipsec addconn --ctlsocket "$(pluto_ctl "$host")" \
		--config "$dir/ipsec.conf" --autoall >>"$dir/addconn.log" 2>&1
}

lab_pluto_stop() {
	local host=$1 pid
	pid=$(cat "/run/pluto-$host/pluto.pid" 2>/dev/null) || return 0
	kill "$pid" 2>/dev/null
	lab_wait 10 sh -c "! kill -0 $pid" || kill -9 "$pid" 2>/dev/null
	rm -f "/run/pluto-$host/pluto.pid" "$(pluto_ctl "$host")"
}

pluto_whack() { local host=$1; shift; in_ns "$host" ipsec whack --ctlsocket "$(pluto_ctl "$host")" "$@"; }

# The number of IKE SAs HOST's pluto has established since it started.
pluto_ike_established() { grep -c 'established IKE SA;' "$LAB_RUN/$1/pluto.log" 2>/dev/null || true; }

# lab_tunnel_up HOST CONN: an established Child SA for the connection.
lab_tunnel_up() {
	pluto_whack "$1" --trafficstatus 2>/dev/null | grep -q "\"$2\""
}

# pluto_rekey HOST ike|child CONN: HOST starts a rekey of CONN's IKE or
# Child SA and waits for it (whack returns when the exchange is over, but
# no more than 15 s: an unanswered exchange would keep it until the
# retransmit timeout); true if it succeeded. whack's answer goes to HOST's
# whack.log.
pluto_rekey() {
	local host=$1 kind=$2 conn=$3 out rc
	out=$(timeout 15 ip netns exec "$host" ipsec whack --ctlsocket "$(pluto_ctl "$host")" \
		"--rekey-$kind" --name "$conn" 2>&1)
	rc=$?
	printf '%s rekey-%s %s: exit %s\n%s\n' "$(lab_now)" "$kind" "$conn" "$rc" "$out" >>"$LAB_RUN/$host/whack.log"
	[ "$rc" -eq 0 ] && printf '%s' "$out" | grep -q "rekeyed $( [ "$kind" = ike ] && echo IKE || echo Child) SA"
}

# pluto_ike_serial HOST CONN / pluto_child_serial HOST CONN: the serial of
# the connection's current (newest) established IKE / Child SA, empty if
# none. A serial is never reused by a pluto: the same serial is the same SA.
# Dormant SAs (imported, not activated) are not established ones.
pluto_sa_serial() {
	pluto_whack "$1" --showstates 2>/dev/null |
		awk -v c="\"$2\"" -v s="$3" '$2 ~ "^" c && $3 == s && !/dormant/ {
			n = substr($1, 2) + 0; if ($0 ~ /newest/) { best = n; found = 1 }
			else if (!found && n > best) best = n }
			END { if (best) print best }'
}
pluto_ike_serial() { pluto_sa_serial "$1" "$2" ESTABLISHED_IKE_SA; }
pluto_child_serial() { pluto_sa_serial "$1" "$2" ESTABLISHED_CHILD_SA; }
# pluto_ike_count HOST CONN: established IKE SAs of the connection.
pluto_ike_count() {
	pluto_whack "$1" --showstates 2>/dev/null |
		awk -v c="\"$2\"" '$2 ~ "^" c && $3 == "ESTABLISHED_IKE_SA" && !/dormant/ {n++} END {print n + 0}'
}
# pluto_child_spis HOST CONN: "OUT IN" ESP SPIs of the connection's current Child SA.
pluto_child_spis() {
	local serial
	serial=$(pluto_child_serial "$1" "$2")
	[ -n "$serial" ] || return 1
	pluto_whack "$1" --showstates 2>/dev/null |
		awk -v k="#$serial:" '$1 == k && $3 ~ /^esp\./ {
			split($3, o, /[.@]/); split($4, i, /[.@]/); print o[2], i[2]; exit }'
}

# pluto_log_mark HOST: the current end of HOST's pluto log;
# pluto_log_since HOST MARK: what it logged after that mark.
pluto_log_mark() { stat -c %s "$LAB_RUN/$1/pluto.log" 2>/dev/null || echo 0; }
pluto_log_since() { tail -c +"$(($2 + 1))" "$LAB_RUN/$1/pluto.log" 2>/dev/null; }

# Lines of a pluto log showing that the peer was given up on or an IKE SA
# was started from scratch: an exchange timed out (liveness probes included:
# Libreswan 5 has no dpdtimeout, retransmit-timeout decides), a liveness
# problem, a message for an IKE SA it does not know, a new IKE SA initiated.
# A retransmission alone is not: a request sent while the VIP moves is
# retransmitted to the new master.
PLUTO_PEER_TROUBLE='timeout exceeded|max number of retransmissions|No response|liveness|dead|no corresponding IKE SA|initiating IKEv2 connection|IKE_SA_INIT'

# ---------------------------------------------------------------- capture

lab_now() { date +%s.%N; }

# lab_capture_start NAME [NS IFACE [DIRECTION [FILTER]]]: tcpdump writes
# what it sees to $LAB_RUN/capture-NAME.pcap until lab_capture_stop NAME.
# Default: the whole outside segment (br-out, promiscuous: a bridge then
# sees every frame it forwards). DIRECTION is in, out or inout.
lab_capture_start() {
	local name=$1 ns=${2:-} ifname=${3:-br-out} dir=${4:-inout} filter=${5:-}
	local pcap=$LAB_RUN/capture-$name.pcap
	rm -f "$pcap" "$LAB_RUN/capture-$name".{pid,log}
	# -U and --immediate-mode: every packet is in the file when it is read;
	# -Z root: tcpdump would drop to a user who cannot write $LAB_RUN.
	if [ -n "$ns" ]; then
		ip netns exec "$ns" tcpdump -i "$ifname" -Q "$dir" -n -s 256 -U --immediate-mode -Z root \
			-w "$pcap" ${filter:+"$filter"} >>"$LAB_RUN/capture-$name.log" 2>&1 &
	else
		tcpdump -i "$ifname" -Q "$dir" -n -s 256 -U --immediate-mode -Z root \
			-w "$pcap" ${filter:+"$filter"} >>"$LAB_RUN/capture-$name.log" 2>&1 &
	fi
	echo $! >"$LAB_RUN/capture-$name.pid"
	# tcpdump says "listening on" once the socket is open.
	lab_wait 5 grep -q 'listening on' "$LAB_RUN/capture-$name.log" ||
		{ lab_fail "capture $name did not start"; return 1; }
}

lab_capture_stop() {
	local pid
	pid=$(cat "$LAB_RUN/capture-$1.pid" 2>/dev/null) || return 0
	kill -INT "$pid" 2>/dev/null
	lab_wait 5 sh -c "! kill -0 $pid" || kill -9 "$pid" 2>/dev/null
	rm -f "$LAB_RUN/capture-$1.pid"
}

# lab_capture_read NAME [FILTER [FROM [TO]]]: one line per packet of the
# capture that matches FILTER (tcpdump's syntax), with its time as seconds
# since the epoch (compare with lab_now), only from FROM to TO when given.
lab_capture_read() {
	local pcap=$LAB_RUN/capture-$1.pcap filter=${2:-} from=${3:-0} to=${4:-9e18}
	[ -s "$pcap" ] || return 0
	tcpdump -n -tt -r "$pcap" ${filter:+"$filter"} 2>/dev/null |
		awk -v f="$from" -v t="$to" '$1 + 0 >= f + 0 && $1 + 0 <= t + 0'
}

# ike_exchange_filter TYPE request|response: a tcpdump filter for IKEv2
# messages of exchange TYPE (34 IKE_SA_INIT, 35 IKE_AUTH, 36 CREATE_CHILD_SA,
# 37 INFORMATIONAL): the exchange type is octet 18 of the IKE header, the
# Response flag 0x20 of octet 19. On UDP 500 the header starts after the
# 8-byte UDP header; on 4500 after the 4-byte non-ESP marker (zero: an ESP
# packet has a non-zero SPI there).
ike_exchange_filter() {
	local t=$1 r='= 0'
	[ "$2" = response ] && r='!= 0'
	printf '((udp port 500 and udp[26] = %s and udp[27] & 0x20 %s) or ' "$t" "$r"
	printf '(udp port 4500 and udp[8:4] = 0 and udp[30] = %s and udp[31] & 0x20 %s))\n' "$t" "$r"
}
IKE_SA_INIT_REQUESTS=$(ike_exchange_filter 34 request)

# lab_ike_messages NAME [FROM [TO]]: one line per IKEv2 message in the
# capture (UDP 500, and 4500 after the non-ESP marker), from FROM to TO:
#   TIME SRC DST SPI_I SPI_R EXCHANGE request|response MSGID
# EXCHANGE and MSGID in decimal. Read from the packet's bytes: tcpdump's
# own decoding does not print the SPIs, and a message is only known by
# its IKE SA and message ID.
lab_ike_messages() {
	local pcap=$LAB_RUN/capture-$1.pcap
	[ -s "$pcap" ] || return 0
	tcpdump -n -tt -x -r "$pcap" 'udp port 500 or (udp port 4500 and udp[8:4] = 0)' 2>/dev/null |
		awk -v f="${2:-0}" -v t="${3:-9e18}" '
		function byte(i) { return substr(hex, 2 * i + 1, 2) }
		function val(h,  n, i) {
			n = 0
			for (i = 1; i <= length(h); i++)
				n = n * 16 + index("0123456789abcdef", substr(h, i, 1)) - 1
			return n
		}
		function flush(  o, i, spi_i, spi_r) {
			if (hex == "" || ts + 0 < f + 0 || ts + 0 > t + 0) return
			o = (val(byte(0)) % 16) * 4
			if (val(byte(o) byte(o + 1)) == 4500 || val(byte(o + 2) byte(o + 3)) == 4500) o += 4
			o += 8
			spi_i = spi_r = ""
			for (i = 0; i < 8; i++) { spi_i = spi_i byte(o + i); spi_r = spi_r byte(o + 8 + i) }
			print ts, src, dst, spi_i, spi_r, val(byte(o + 18)),
				(int(val(byte(o + 19)) / 32) % 2 ? "response" : "request"),
				val(byte(o + 20) byte(o + 21) byte(o + 22) byte(o + 23))
		}
		/^[0-9]/ {
			flush(); hex = ""; ts = $1; src = $3; dst = $5
			sub(/\.[0-9]+$/, "", src); sub(/\.[0-9]+:$/, "", dst)
			next
		}
		/^[ \t]+0x/ { for (i = 2; i <= NF; i++) hex = hex $i }
		END { flush() }'
}

# lab_ike_unanswered NAME FROM_ADDR TO_ADDR EXCHANGE [FROM [TO]]: the
# requests of that exchange FROM_ADDR sent to TO_ADDR from FROM to TO,
# retransmissions folded, that got no response anywhere in the capture:
# SPI_I SPI_R MSGID each. Leave a response time between TO and the end of
# the capture.
lab_ike_unanswered() {
	lab_ike_messages "$1" |
		awk -v a="$2" -v b="$3" -v x="$4" -v f="${5:-0}" -v t="${6:-9e18}" '$6 == x {
			k = $4 " " $5 " " $8
			if ($2 == a && $3 == b && $7 == "request" && $1 + 0 >= f + 0 && $1 + 0 <= t + 0 &&
			    !(k in req)) { req[k] = 1; order[n++] = k }
			if ($2 == b && $3 == a && $7 == "response") resp[k] = 1
		} END { for (i = 0; i < n; i++) if (!(order[i] in resp)) print order[i] }'
}

# What a node that stepped down may still send on the outside segment: VRRP
# and ARP (keepalived's and the kernel's), and IPv6 link housekeeping from a
# link-local or unspecified source (router solicitations, which the kernel
# repeats with backoff for ever, MLD, DAD). Anything else is a packet of a
# node that should be silent.
NOT_LINK_HOUSEKEEPING='not arp and not vrrp and not (ip6 and (src net fe80::/10 or src host ::))'

# lab_ike_sa_init_count NAME [FROM [TO]]: IKE_SA_INIT requests in the capture.
lab_ike_sa_init_count() {
	lab_capture_read "$1" "$IKE_SA_INIT_REQUESTS" "${2:-0}" "${3:-9e18}" | wc -l
}

# ESP packets HOST's SAs have carried, in and out.
esp_packets() {
	in_ns "$1" ip -s xfrm state |
		awk '/lifetime current:/ {getline; sub(/.*, /, ""); n += $1 + 0} END {print n + 0}'
}

xfrm_stat() { in_ns "$1" awk -v k="$2" '$1 == k {print $2}' /proc/net/xfrm_stat; }

# ---------------------------------------------------------------- keepalived

# The last VRRP state HOST's notify script saw.
lab_vrrp_state() { tail -n 1 "$LAB_RUN/$1/notify.states" 2>/dev/null | awk '{print $4}'; }

# lab_keepalived_conf HOST PRIORITY: VRRPv3, both VIPs in one sync group,
# the notify script per host. nopreempt (a returning node stays backup)
# unless LAB_PREEMPT=1. LAB_AGENT=1: the notify script tells hasyncd first
# (as keepalived-scripts/hasync-notify does in a real deployment), and with
# LAB_TRACK_CHECK=1 `hasyncctl check` lowers the priority of a node that is
# not in sync, so it never preempts with stale state.
lab_keepalived_conf() {
	local host=$1 prio=$2 dir=$LAB_RUN/$1 preempt=nopreempt track= script=
	[ "${LAB_PREEMPT:-0}" = 1 ] && preempt="preempt_delay 0"
	if [ "${LAB_TRACK_CHECK:-0}" = 1 ]; then
		script="vrrp_script chk_hasync {
	script \"$LAB_BIN/hasyncctl --socket $dir/ctl.sock check\"
	interval 1
	timeout 1
	fall 1
	rise 1
	init_fail
	weight -100
}"
		track="track_script {
		chk_hasync
	}"
	fi
	cat >"$dir/notify.sh" <<EOF
#!/bin/sh
# keepalived notify for $host: TYPE NAME STATE PRIORITY
echo "\$(cut -d' ' -f1 /proc/uptime) \$1 \$2 \$3" | tee -a $dir/notify.states >>$dir/notify.log
if [ "${LAB_AGENT:-0}" = 1 ]; then
	$LAB_BIN/hasyncctl --socket $dir/ctl.sock notify "\$@" >>$dir/notify.log 2>&1
fi
if [ "\$3" = MASTER ]; then
	ipsec whack --ctlsocket $(pluto_ctl "$host") --listen >>$dir/notify.log 2>&1
fi
${LAB_NOTIFY_HOOK:-true} "$host" "\$@"
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
$script
vrrp_sync_group G_HA {
	group {
		VI_OUT
		VI_IN
	}
	notify $dir/notify.sh
	$([ "${LAB_TRACK_CHECK:-0}" = 1 ] && echo sync_group_tracking_weight)
}
vrrp_instance VI_OUT {
	state BACKUP
	$preempt
	interface eth-out
	virtual_router_id 51
	priority $prio
	advert_int $LAB_ADVERT_INT
	virtual_ipaddress {
		$VIP_OUT/24 dev eth-out
	}
	$track
}
vrrp_instance VI_IN {
	state BACKUP
	$preempt
	interface eth-in
	virtual_router_id 52
	priority $prio
	advert_int $LAB_ADVERT_INT
	virtual_ipaddress {
		$VIP_IN/24 dev eth-in
	}
	$track
}
EOF
}

lab_keepalived_start() {
	local host=$1 dir=$LAB_RUN/$1
	in_ns "$host" keepalived -P -n -l -G -D -f "$dir/keepalived.conf" \
		-p "$dir/keepalived.pid" -r "$dir/vrrp.pid" -c "$dir/checkers.pid" \
		-b "$dir/bfd.pid" >>"$dir/keepalived.log" 2>&1 &
	# $! would be the subshell running the function: keepalived's own pid
	# file names the process to signal.
	lab_wait 5 test -s "$dir/keepalived.pid"
}

# Graceful stop: keepalived leaves with priority 0 and the backup takes over.
lab_keepalived_stop() {
	local host=$1 dir=$LAB_RUN/$1 pid
	pid=$(cat "$dir/keepalived.pid" 2>/dev/null) || return 0
	kill "$pid" 2>/dev/null
	lab_wait 10 sh -c "! kill -0 $pid"
}

lab_has_vip() { in_ns "$1" ip -o addr show | grep -q " $VIP_OUT/"; }
lab_master() {
	local h
	for h in gw1 gw2; do lab_has_vip "$h" && { echo "$h"; return 0; }; done
	return 1
}

# ---------------------------------------------------------------- failures

# A crash: every process of the host frozen, its links cut, then killed, so
# nothing leaves gracefully (killing keepalived's parent alone would make its
# VRRP child step down with priority 0, which is a graceful failover).
lab_crash() {
	local host=$1 pids ifname
	pids=$(ip netns pids "$host")
	[ -z "$pids" ] || kill -STOP $pids
	for ifname in $(in_ns "$host" ls /sys/class/net); do
		[ "$ifname" = lo ] || in_ns "$host" ip link set "$ifname" down
	done
	[ -z "$pids" ] || kill -KILL $pids
	sleep 0.2
}

# The host comes back, cleaned as after a reboot: no XFRM state, no routes
# but the connected ones, links up.
lab_revive() {
	local host=$1 ifname
	in_ns "$host" ip xfrm state flush
	in_ns "$host" ip xfrm policy flush
	in_ns "$host" ip route flush proto 201 2>/dev/null
	for ifname in $(in_ns "$host" ls /sys/class/net); do
		in_ns "$host" ip link set "$ifname" up
	done
	rm -f "/run/pluto-$host/pluto.pid" "$(pluto_ctl "$host")"
	rm -f "$LAB_RUN/$host"/*.pid
}

# ---------------------------------------------------------------- traffic

# lab_traffic_start TAG [FAR_NS FAR_ADDR PORT]: sequenced UDP both ways
# between inside and a host behind the remote (rhost unless named), on
# ports PORT and PORT+1 (6001 unless given).
lab_traffic_start() {
	local tag=$1 far=${2:-rhost} far_addr=${3:-$RHOST} port=${4:-6001}
	local rate=${LAB_TRAFFIC_RATE:-1000}
	rm -f "$LAB_RUN/traffic-$tag".*
	in_ns inside "$LAB_BIN/hatraffic" --bind "$INSIDE:$port" --peer "$far_addr:$((port + 1))" \
		--rate "$rate" --stop-file "$LAB_RUN/traffic-$tag.stop" \
		--report "$LAB_RUN/traffic-$tag.inside.json" --quiet &
	in_ns "$far" "$LAB_BIN/hatraffic" --bind "$far_addr:$((port + 1))" --peer "$INSIDE:$port" \
		--rate "$rate" --stop-file "$LAB_RUN/traffic-$tag.stop" \
		--report "$LAB_RUN/traffic-$tag.rhost.json" --quiet &
}

# lab_traffic_stop TAG: prints {"gap_ms":N,"lost":N,...} over both directions
# (each instance reports what it received).
lab_traffic_stop() {
	local tag=$1 f
	touch "$LAB_RUN/traffic-$tag.stop"
	for f in inside rhost; do
		lab_wait 5 test -s "$LAB_RUN/traffic-$tag.$f.json" ||
			{ lab_fail "traffic report from $f missing"; echo '{}'; return 1; }
	done
	jq -s -c '{gap_ms: (map(.max_gap_ms) | max), lost: (map(.lost) | add),
		sent: (map(.sent) | add), received: (map(.received) | add),
		to_inside: .[0], to_rhost: .[1]}' \
		"$LAB_RUN/traffic-$tag.inside.json" "$LAB_RUN/traffic-$tag.rhost.json"
}

# lab_ping_through: one packet from inside reaches rhost through the tunnel.
lab_ping_through() { in_ns inside ping -c 1 -W 1 -q "$RHOST" >/dev/null 2>&1; }

# ---------------------------------------------------------------- hasyncd

# The pid of the process named NAME in namespace NS (daemons started from a
# shell function have a subshell as $!).
lab_pid_of() {
	local pid
	for pid in $(ip netns pids "$1"); do
		[ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ] && { echo "$pid"; return 0; }
	done
	return 1
}

# lab_hasyncd_conf HOST [TRANSPORT]: the agent's configuration on gw1/gw2,
# the sync channel over both direct links, the outside VIP synced; with
# LAB_PLUTO_HA=1 the agent talks to its pluto's HA socket.
lab_hasyncd_conf() {
	local host=$1 transport=${2:-sctp} dir=$LAB_RUN/$1 me peer
	case $host in
	gw1) me=1; peer=2 ;;
	*) me=2; peer=1 ;;
	esac
	if [ ! -f "$LAB_RUN/sync.key" ]; then
		head -c 32 /dev/urandom >"$LAB_RUN/sync.key"
		chmod 0600 "$LAB_RUN/sync.key"
	fi
	cat >"$dir/hasyncd.conf" <<EOF
config setup
	node-id=$host
	control-socket=$dir/ctl.sock
	log-level=${LAB_HASYNCD_LOG_LEVEL:-info}
$([ "${LAB_PLUTO_HA:-0}" = 1 ] && printf '\tpluto-ha-socket=%s' "$(pluto_ha_socket "$host")")

sync
	transport=$transport
	local=10.9.0.$me,10.9.1.$me
	remote=10.9.0.$peer,10.9.1.$peer
	port=7788
	key-file=$LAB_RUN/sync.key
	replay-interval-inbound=${LAB_REPLAY_IN:-1000}
	replay-interval-outbound=${LAB_REPLAY_OUT:-100000}
	counter-timer=${LAB_COUNTER_TIMER:-1s}
	heartbeat=500ms
	dead-time=2s
	reconnect-min=100ms
	reconnect-max=1s

vip outside
	address=$VIP_OUT
	instance=${LAB_VIP_INSTANCE:-G_HA}
	rri=yes
	route-table=main
	route-metric=50
EOF
}

lab_hasyncd_start() {
	local host=$1 dir=$LAB_RUN/$1
	in_ns "$host" "$LAB_BIN/hasyncd" -f -c "$dir/hasyncd.conf" >>"$dir/hasyncd.log" 2>&1 &
	lab_wait 5 test -S "$dir/ctl.sock" || { lab_fail "hasyncd on $host did not start"; return 1; }
}

lab_hasyncd_stop() {
	local pid
	pid=$(lab_pid_of "$1" hasyncd) || return 0
	kill "$pid"
	lab_wait 5 sh -c "! kill -0 $pid" || kill -9 "$pid"
}

hactl() { local host=$1; shift; in_ns "$host" "$LAB_BIN/hasyncctl" --socket "$LAB_RUN/$host/ctl.sock" "$@"; }

# kernel_sas HOST: one line per ESP SA of the outside VIP in HOST's kernel,
#   spi key_sha256_8 seq oseq
# with 64-bit counters under ESN and the key hash as hasyncctl shows it.
kernel_sas() {
	# One perl for every SA: a fork per SA costs seconds at 100 tunnels in the guest.
	in_ns "$1" ip -s xfrm state | VIP="$VIP_OUT" perl -MDigest::SHA=sha256_hex -ne '
		sub flush {
			printf "%s %s %d %d\n", $spi, substr(sha256_hex(pack("H*", $aead . $enc . $auth)), 0, 8),
				($seqhi << 32) + $seq, ($oseqhi << 32) + $oseq
				if $spi ne "" && ($src eq $ENV{VIP} || $dst eq $ENV{VIP});
			$spi = $aead = $enc = $auth = ""; $seq = $oseq = $seqhi = $oseqhi = 0;
		}
		if (/^src (\S+) dst (\S+)/) { flush(); ($src, $dst) = ($1, $2) }
		$spi = $1 if /proto esp spi 0x([0-9a-f]{8})/;
		$aead = $1 if /^\taead \S+ 0x([0-9a-f]+)/;
		$enc = $1 if /^\tenc \S+ 0x([0-9a-f]+)/;
		$auth = $1 if /^\tauth(?:-trunc)? \S+ 0x([0-9a-f]+)/;
		($seqhi, $seq, $oseqhi, $oseq) = map { hex } ($1, $2, $3, $4)
			if /seq-hi (0x[0-9a-f]+), seq (0x[0-9a-f]+), oseq-hi (0x[0-9a-f]+), oseq (0x[0-9a-f]+)/;
		($seq, $oseq) = map { hex } ($1, $2) if /anti-replay context: seq (0x[0-9a-f]+), oseq (0x[0-9a-f]+)/;
		END { flush() }' | sort
}

# held_sas HOST: the same lines from the agent's standby cache.
held_sas() {
	hactl "$1" --json sas 2>/dev/null |
		jq -r '.sas[] | "\(.spi) \(.key_sha256_8) \(.seq) \(.oseq)"' | sort
}

# ---------------------------------------------------------------- an HA pair

# lab_ha_pair TUNNELS: the whole stack with hasyncd: topology, TUNNELS
# tunnels (remote protects 10.2.0.0/24 .. 10.2.TUNNELS-1.0/24), pluto on
# every host, both agents, keepalived on gw1 (master) then gw2, and the
# remote initiating. LAB_PREEMPT and LAB_TRACK_CHECK apply.
lab_ha_pair() {
	local tunnels=$1 n h
	LAB_AGENT=1
	lab_topology
	for n in $(seq 1 $((tunnels - 1))); do
		in_ns remote ip addr add "10.2.$n.1/24" dev eth-in
	done
	for h in gw1 gw2 remote; do lab_pluto_conf "$h" "$tunnels"; done
	lab_keepalived_conf gw1 150
	lab_keepalived_conf gw2 100
	for h in gw1 gw2 remote; do lab_pluto_start "$h"; done
	for h in gw1 gw2; do lab_hasyncd_conf "$h"; lab_hasyncd_start "$h"; done
	lab_keepalived_start gw1
	lab_wait 10 lab_has_vip gw1
	lab_keepalived_start gw2
	pluto_whack remote --listen >/dev/null
}

# lab_tunnels_up N: the remote has an established Child SA for tun1..tunN.
lab_tunnels_up() {
	local n
	for n in $(seq 1 "$1"); do lab_tunnel_up remote "tun$n" || return 1; done
}

# lab_holds_master MASTER STANDBY: the standby's cache holds exactly the
# SAs (SPI and key hash) of the master's kernel.
lab_holds_master() { [ "$(kernel_sas "$1" | cut -d' ' -f1,2)" = "$(held_sas "$2" | cut -d' ' -f1,2)" ]; }
# lab_rejoin_as_standby OLD NEW MODE LABEL: after a failover OLD -> NEW, the
# old master comes back as the standby: keepalived restarted after a graceful
# stop; after a crash, a clean node (pluto, agent, keepalived). Checks that it
# is in sync and holds every SA of NEW's kernel.
lab_rejoin_as_standby() {
	local old=$1 new=$2 mode=$3 label=$4
	if [ "$mode" = crash ]; then
		lab_revive "$old"
		lab_pluto_start "$old"
		lab_hasyncd_start "$old"
	fi
	lab_keepalived_start "$old"
	lab_check "$label: $old back as standby, in sync" lab_wait 15 lab_in_sync "$old"
	lab_check "$label: $old holds every SA of $new's kernel" lab_wait 10 lab_holds_master "$new" "$old"
}
lab_in_sync() { hactl "$1" check >/dev/null 2>&1; }
lab_other() { [ "$1" = gw1 ] && echo gw2 || echo gw1; }
