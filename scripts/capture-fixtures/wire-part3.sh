#!/usr/bin/env bash
# Recreates test/fixtures/wire/part3-*.pcap: DHCPv4/DHCPv6 exchanges between dnsmasq and real clients.
#
# Two network namespaces joined by a veth pair; dnsmasq serves on one side, dhclient and busybox
# udhcpc ask on the other, and tcpdump records the client side. Nothing touches the host's own
# network: the veth is created inside the server namespace. Runs as root; cleans up on any exit.
#
#   part3-dhclient4.pcap  dhclient: DISCOVER, OFFER, REQUEST, ACK (host-name, FQDN, 119/121/26 requested)
#   part3-udhcpc.pcap     busybox udhcpc: DISCOVER, OFFER, REQUEST, ACK (FQDN 81; 119/121/26 requested)
#   part3-rapid.pcap      busybox udhcpc: DISCOVER with Rapid Commit (80), dnsmasq's ACK with 80
#   part3-dhclient6.pcap  dhclient -6: SOLICIT, ADVERTISE, REQUEST, REPLY (IA_NA, 23, 24, 39)
set -euo pipefail

OUT="$(cd "$(dirname "$0")/../.." && pwd)/test/fixtures/wire"
SRV=bdy-fix3-srv
CLI=bdy-fix3-cli
TMP="$(mktemp -d /tmp/bdy-fix3.XXXXXX)"
PIDS=()

cleanup() {
  set +e
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  ip netns del "$CLI" 2>/dev/null
  ip netns del "$SRV" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT
trap "exit 130" INT TERM

mkdir -p "$OUT"
ip netns add "$SRV"
ip netns add "$CLI"
for ns in "$SRV" "$CLI"; do
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
  ip -n "$ns" link set lo up
done
ip -n "$SRV" link add s0 type veth peer name c0 netns "$CLI"
# veth offloads the UDP checksum to a "device" that never computes it: captured frames would carry
# partial checksums. Turn TX checksumming off (ETHTOOL_STXCSUM through SIOCETHTOOL; no ethtool).
no_tx_csum() {
  ip netns exec "$1" python3 -c '
import ctypes, fcntl, socket, struct, sys
val = ctypes.create_string_buffer(struct.pack("II", 0x17, 0), 8)
ifr = struct.pack("16sP", sys.argv[1].encode(), ctypes.addressof(val)).ljust(40, b"\0")
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
fcntl.ioctl(sock.fileno(), 0x8946, ifr)
' "$2"
}
no_tx_csum "$SRV" s0
no_tx_csum "$CLI" c0
ip -n "$SRV" link set s0 address 02:00:00:00:77:01
ip -n "$SRV" addr add 192.168.77.1/24 dev s0
ip -n "$SRV" addr add 2001:db8::1/64 dev s0 nodad
ip -n "$SRV" link set s0 up
ip -n "$CLI" link set c0 up

ip netns exec "$SRV" dnsmasq --no-daemon --conf-file=/dev/null --port=0 --user=root --group=root \
  --interface=s0 --bind-interfaces --dhcp-authoritative --dhcp-rapid-commit --no-ping \
  --dhcp-leasefile="$TMP/leases" --pid-file="$TMP/dnsmasq.pid" \
  --dhcp-range=192.168.77.50,192.168.77.60,255.255.255.0,1h \
  --dhcp-range=2001:db8::10,2001:db8::20,64,1h --enable-ra \
  --dhcp-option=26,1400 \
  --dhcp-option=119,example.com,lab.example.com \
  --dhcp-option=121,10.10.0.0/16,192.168.77.1,0.0.0.0/0,192.168.77.1 \
  --dhcp-option=option6:dns-server,[2001:db8::1] \
  --dhcp-option=option6:domain-search,example.com \
  >"$TMP/dnsmasq.log" 2>&1 &
PIDS+=($!)
sleep 1

# Gives the client MAC $1. Taking the link down drops the old link-local address, so the new one
# is derived from the new MAC, and the server forgets the old neighbour entry.
set_client_mac() {
  ip -n "$CLI" link set c0 down
  ip -n "$CLI" link set c0 address "$1"
  ip -n "$CLI" link set c0 up
  ip -n "$SRV" neigh flush dev s0
  for _ in $(seq 1 50); do
    ip -n "$CLI" -6 addr show dev c0 scope link | grep -q inet6 && return 0
    sleep 0.1
  done
}
# Starts tcpdump on the client side writing $1; its pid lands in TCPDUMP. --immediate-mode: without
# it, frames still in an unfinished TPACKET_V3 block are lost when tcpdump is stopped.
start_capture() {
  ip netns exec "$CLI" tcpdump -i c0 --immediate-mode -U -s 0 -w "$1" udp 2>"$TMP/tcpdump.log" &
  TCPDUMP=$!
  PIDS+=("$TCPDUMP")
  sleep 1
}
stop_capture() {
  sleep 0.5
  kill -INT "$TCPDUMP"
  wait "$TCPDUMP" || true
}
# Waits up to $2 seconds for file $1 to mention "lease".
wait_lease() {
  for _ in $(seq 1 $(($2 * 10))); do
    grep -q lease "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "no lease in $1" >&2
  return 1
}
# Prints the logs and stops.
fail() {
  cat "$@" "$TMP/dnsmasq.log" >&2
  exit 1
}

# 1. dhclient (DHCPv4).
set_client_mac 02:00:00:00:77:10
cat >"$TMP/dhclient4.conf" <<'EOF'
option rfc3442-classless-static-routes code 121 = array of unsigned integer 8;
send host-name "dhc-guest";
send fqdn.fqdn "dhc-guest.example.com.";
send fqdn.server-update on;
request subnet-mask, broadcast-address, routers, domain-name-servers, domain-name,
  domain-search, host-name, interface-mtu, rfc3442-classless-static-routes;
EOF
start_capture "$TMP/part3-dhclient4.pcap"
ip netns exec "$CLI" dhclient -4 -d -1 -v -cf "$TMP/dhclient4.conf" -sf /bin/true \
  -pf "$TMP/dhclient4.pid" -lf "$TMP/dhclient4.leases" c0 >"$TMP/dhclient4.log" 2>&1 &
DHC=$!
PIDS+=("$DHC")
wait_lease "$TMP/dhclient4.leases" 20 || fail "$TMP/dhclient4.log"
kill "$DHC"
wait "$DHC" || true
stop_capture

# 2. busybox udhcpc: the full exchange, asking for search list, static routes and MTU, with an FQDN.
set_client_mac 02:00:00:00:77:20
start_capture "$TMP/part3-udhcpc.pcap"
ip netns exec "$CLI" busybox udhcpc -i c0 -n -q -t 5 -T 2 -s /bin/true \
  -O search -O staticroutes -O mtu -F bb-guest >"$TMP/udhcpc.log" 2>&1 || fail "$TMP/udhcpc.log"
stop_capture

# 3. Rapid Commit (RFC 4039): udhcpc sends option 80 when told to, dnsmasq answers the DISCOVER
# with an ACK. busybox 1.35 then ignores that ACK (it waits for an OFFER), so it fails by design.
# `-x` cannot send an empty value, so option 80 goes out with one zero octet (RFC 4039: length 0).
set_client_mac 02:00:00:00:77:21
start_capture "$TMP/part3-rapid.pcap"
ip netns exec "$CLI" busybox udhcpc -i c0 -n -q -t 1 -T 1 -s /bin/true \
  -x 0x50:00 >"$TMP/rapid.log" 2>&1 || true
grep -q "DHCPACK(s0) [0-9.]* 02:00:00:00:77:21" "$TMP/dnsmasq.log" || fail "$TMP/rapid.log"
stop_capture

# 4. dhclient -6 (DHCPv6 IA_NA).
set_client_mac 02:00:00:00:77:30
cat >"$TMP/dhclient6.conf" <<'EOF'
send fqdn.fqdn "dhc6-guest.example.com.";
also request dhcp6.name-servers, dhcp6.domain-search, dhcp6.fqdn;
EOF
start_capture "$TMP/part3-dhclient6.pcap"
ip netns exec "$CLI" dhclient -6 -d -1 -v -cf "$TMP/dhclient6.conf" -sf /bin/true \
  -pf "$TMP/dhclient6.pid" -lf "$TMP/dhclient6.leases" c0 >"$TMP/dhclient6.log" 2>&1 &
DHC=$!
PIDS+=("$DHC")
wait_lease "$TMP/dhclient6.leases" 20 || fail "$TMP/dhclient6.log"
kill "$DHC"
wait "$DHC" || true
stop_capture

for f in part3-dhclient4.pcap part3-udhcpc.pcap part3-rapid.pcap part3-dhclient6.pcap; do
  cp "$TMP/$f" "$OUT/$f"
  echo "$f: $(tcpdump -nn -r "$OUT/$f" 2>/dev/null | wc -l) frames"
done
