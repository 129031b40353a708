# smoke: the lab itself works: topology, an IKEv2 tunnel from the outside VIP
# to remote carrying traffic, VRRP moving both VIPs together, and an SCTP
# association between gw1 and gw2 over both sync links.

lab_topology
lab_check "remote reaches gw1 and gw2 on the outside segment" \
	sh -c "in_ns() { ip netns exec \"\$@\"; }; ip netns exec remote ping -c1 -W1 $GW1_OUT && ip netns exec remote ping -c1 -W1 $GW2_OUT"

for h in gw1 gw2 remote; do lab_pluto_conf "$h"; done
lab_keepalived_conf gw1 150
lab_keepalived_conf gw2 100
for h in gw1 gw2 remote; do lab_pluto_start "$h"; done

lab_keepalived_start gw1
lab_wait 10 lab_has_vip gw1
lab_keepalived_start gw2
sleep 1
lab_check "gw1 is VRRP master with both VIPs" \
	sh -c "ip netns exec gw1 ip -o addr | grep -q ' $VIP_OUT/' && ip netns exec gw1 ip -o addr | grep -q ' $VIP_IN/'"
lab_check "gw2 is backup without VIPs" sh -c "! ip netns exec gw2 ip -o addr | grep -q ' $VIP_OUT/'"

pluto_whack remote --listen >/dev/null
lab_check "IKEv2 tunnel tun1 established between remote and the VIP" lab_wait 30 lab_tunnel_up remote tun1
lab_check "inside reaches rhost through the tunnel" lab_wait 10 lab_ping_through
in_ns remote ip -s xfrm state >"$LAB_RUN/remote-xfrm.txt"
lab_check "remote's ESP SAs counted the packets" test "$(esp_packets remote)" -gt 0

lab_keepalived_stop gw1
lab_check "VRRP moved both VIPs to gw2" lab_wait 5 sh -c \
	"ip netns exec gw2 ip -o addr | grep -q ' $VIP_OUT/' && ip netns exec gw2 ip -o addr | grep -q ' $VIP_IN/'"
lab_check "gw1 released both VIPs" sh -c "! ip netns exec gw1 ip -o addr | grep -qE ' ($VIP_OUT|$VIP_IN)/'"
lab_check "gw2's notify script saw MASTER" lab_wait 3 grep -q MASTER "$LAB_RUN/gw2/notify.states"

# SCTP, multi-homed: gw1's association to gw2 must know both of gw2's sync addresses.
in_ns gw2 socat -u SCTP-LISTEN:7788,reuseaddr "OPEN:$LAB_RUN/sctp.rx,creat" &
listener=$!
sleep 0.3
(echo "hello over sctp"; sleep 2) | in_ns gw1 socat -u STDIN SCTP-CONNECT:10.9.0.2:7788,shut-none &
sender=$!
sleep 1
in_ns gw1 cat /proc/net/sctp/assocs >"$LAB_RUN/sctp-assocs.txt"
lab_check "SCTP association gw1 -> gw2 has both sync paths" \
	sh -c "grep -q 10.9.0.2 $LAB_RUN/sctp-assocs.txt && grep -q 10.9.1.2 $LAB_RUN/sctp-assocs.txt"
lab_check "a message crossed the SCTP association" lab_wait 5 grep -q "hello over sctp" "$LAB_RUN/sctp.rx"
wait "$sender" "$listener" 2>/dev/null || true
