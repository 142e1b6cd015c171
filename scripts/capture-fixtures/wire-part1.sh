#!/usr/bin/env bash
# Recreates test/fixtures/wire/part1-*.pcap: Ethernet, ARP, IPv4, IPv6 and ICMPv4 traffic from real tools.
#
# Three network namespaces in a line, A -- R -- B, joined by veth pairs that are created inside
# the namespaces (nothing touches the host's own network). R routes; its link to B has MTU 1280 so
# "fragmentation needed" can be provoked. tcpdump records on A's interface. Addresses are the
# documentation ranges (192.0.2.0/24, 198.51.100.0/24, 2001:db8::/32). Runs as root; cleans up on
# any exit.
#
#   part1-arp-icmp.pcap      ping -c 2: ARP request/reply, ICMP echo request/reply
#   part1-ipv4-options.pcap  ping -R (Record Route) and ping -T tsonly: IPv4 headers with options
#   part1-ipv4-frag.pcap     ping -s 3000: IPv4 fragments both ways
#   part1-icmp4-errors.pcap  frag needed (ping -M do over the 1280 hop), time exceeded (ping -t 1),
#                            net unreachable (no route at R), port unreachable (UDP to a closed port)
#   part1-vlan.pcap          the frames of part1-arp-icmp with 802.1Q / 802.1ad tags inserted (see 5.)
#   part1-ipv6-ping.pcap     ping -6 -c 2: neighbour discovery, ICMPv6 echo
#   part1-ipv6-frag.pcap     ping -6 -s 3000: IPv6 Fragment headers both ways
#   part1-ipv6-ext.pcap      UDP with Hop-by-Hop + Destination Options, then with Hop-by-Hop +
#                            Routing (segment routing) + Destination Options; MLD reports (Hop-by-Hop)
set -euo pipefail

OUT="$(cd "$(dirname "$0")/../.." && pwd)/test/fixtures/wire"
A=bdy-fix1-a
R=bdy-fix1-r
B=bdy-fix1-b
for ns in "$A" "$R" "$B"; do
  if ip netns list | grep -qw "^$ns"; then
    echo "namespace $ns exists (another run?); not touching it" >&2
    exit 1
  fi
done
TMP="$(mktemp -d /tmp/bdy-fix1.XXXXXX)"
PIDS=()

cleanup() {
  set +e
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  ip netns del "$A" 2>/dev/null
  ip netns del "$R" 2>/dev/null
  ip netns del "$B" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

mkdir -p "$OUT"
for ns in "$A" "$R" "$B"; do
  ip netns add "$ns"
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.default.router_solicitations=0
  ip -n "$ns" link set lo up
done
ip netns exec "$R" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
ip netns exec "$R" sysctl -qw net.ipv6.conf.all.seg6_enabled=1 net.ipv6.conf.default.seg6_enabled=1

ip -n "$A" link add a0 type veth peer name ra netns "$R"
ip -n "$R" link add rb type veth peer name b0 netns "$B"
ip -n "$A" link set a0 address 02:00:00:00:01:01
ip -n "$R" link set ra address 02:00:00:00:01:02
ip -n "$R" link set rb address 02:00:00:00:02:02 mtu 1280
ip -n "$B" link set b0 address 02:00:00:00:02:01 mtu 1280

ip -n "$A" addr add 192.0.2.1/24 dev a0
ip -n "$A" addr add 2001:db8:1::1/64 dev a0 nodad
ip -n "$R" addr add 192.0.2.2/24 dev ra
ip -n "$R" addr add 2001:db8:1::2/64 dev ra nodad
ip -n "$R" addr add 198.51.100.2/24 dev rb
ip -n "$R" addr add 2001:db8:2::2/64 dev rb nodad
ip -n "$B" addr add 198.51.100.1/24 dev b0
ip -n "$B" addr add 2001:db8:2::1/64 dev b0 nodad
for dev in "$A:a0" "$R:ra" "$R:rb" "$B:b0"; do ip -n "${dev%%:*}" link set "${dev#*:}" up; done
ip -n "$A" route add default via 192.0.2.2
ip -n "$A" -6 route add default via 2001:db8:1::2
ip -n "$B" route add default via 198.51.100.2
ip -n "$B" -6 route add default via 2001:db8:2::2

sleep 1

# Starts tcpdump on A's a0 writing $1 with filter $2; its pid lands in TCPDUMP.
start_capture() {
  ip netns exec "$A" tcpdump -Z root --immediate-mode -i a0 -U -s 0 -w "$1" "$2" 2>"$TMP/tcpdump.log" &
  TCPDUMP=$!
  PIDS+=("$TCPDUMP")
  for _ in $(seq 1 50); do
    grep -q listening "$TMP/tcpdump.log" 2>/dev/null && break
    sleep 0.1
  done
  sleep 0.2
}
stop_capture() {
  sleep 0.5
  kill -INT "$TCPDUMP"
  wait "$TCPDUMP" || true
}
# Runs a command in namespace $1 quietly (ping's output is not needed).
in_ns() {
  local ns=$1
  shift
  ip netns exec "$ns" "$@" >/dev/null
}
flush_neigh() {
  ip -n "$A" neigh flush all
  ip -n "$R" neigh flush all
}

# 1. ARP + ICMP echo.
flush_neigh
start_capture "$TMP/part1-arp-icmp.pcap" 'arp or icmp'
in_ns "$A" ping -c 2 -i 0.2 192.0.2.2
stop_capture

# 2. IPv4 options: Record Route and Timestamp.
start_capture "$TMP/part1-ipv4-options.pcap" 'icmp'
in_ns "$A" ping -c 1 -R 192.0.2.2
in_ns "$A" ping -c 1 -T tsonly 192.0.2.2
stop_capture

# 3. IPv4 fragments.
start_capture "$TMP/part1-ipv4-frag.pcap" 'ip and not ip6'
in_ns "$A" ping -c 1 -s 3000 192.0.2.2
stop_capture

# 4. ICMPv4 errors from R.
start_capture "$TMP/part1-icmp4-errors.pcap" 'icmp or udp'
in_ns "$A" ping -c 1 -W 1 -M do -s 1400 198.51.100.1 || true
in_ns "$A" ping -c 1 -W 1 -t 1 198.51.100.1 || true
in_ns "$A" ping -c 1 -W 1 203.0.113.1 || true
ip netns exec "$A" python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(b"bindery port unreachable", ("192.0.2.2", 9))
'
stop_capture

# 5. VLAN tags. This kernel has neither 8021q, act_vlan nor bridge VLAN filtering, so no tool
# here can make the kernel send a tagged frame: the tags are inserted into the real ARP/ICMP
# frames of capture 1 instead, 802.1Q (TPID 0x8100, PCP 3, id 10) on the first half and 802.1ad
# (TPID 0x88a8, PCP 0, DEI 1, id 20) on the second.
python3 - "$TMP/part1-arp-icmp.pcap" "$TMP/part1-vlan.pcap" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
out, off, recs = [data[:24]], 24, []
while off + 16 <= len(data):
    sec, frac, incl, orig = struct.unpack_from("<IIII", data, off)
    recs.append((sec, frac, data[off + 16 : off + 16 + incl]))
    off += 16 + incl
for i, (sec, frac, f) in enumerate(recs):
    tag = struct.pack(">HH", 0x8100, (3 << 13) | 10) if i < len(recs) // 2 else struct.pack(">HH", 0x88A8, (1 << 12) | 20)
    g = f[:12] + tag + f[12:]
    out.append(struct.pack("<IIII", sec, frac, len(g), len(g)) + g)
open(sys.argv[2], "wb").write(b"".join(out))
PY

# 6. IPv6 ping with neighbour discovery.
ip -n "$A" -6 neigh flush all
ip -n "$R" -6 neigh flush all
start_capture "$TMP/part1-ipv6-ping.pcap" 'icmp6 and not ip6[40] == 143 and not ip6[40] == 133'
in_ns "$A" ping -6 -c 2 -i 0.2 2001:db8:1::2
stop_capture

# 7. IPv6 fragments.
start_capture "$TMP/part1-ipv6-frag.pcap" 'ip6 and ip6[6] == 44'
in_ns "$A" ping -6 -c 1 -s 3000 2001:db8:1::2
stop_capture

# 8. IPv6 extension headers: an MLD report (Hop-by-Hop Router Alert), UDP with Hop-by-Hop,
# Destination Options and a segment routing header set through socket options. (No AH: this
# kernel lacks CONFIG_INET6_AH, so AH is covered by hand-built tests.)
# The UDP datagrams go first: MLD's repeated report comes at a random time (RFC 3810 §6.1), so the
# report(s) of the new address close the capture.
start_capture "$TMP/part1-ipv6-ext.pcap" 'ip6 and (ip6[6] == 0 or ip6[6] == 60 or ip6[6] == 43)'
ip netns exec "$A" python3 -c '
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
# Hop-by-Hop: PadN of 4 (8 bytes); Destination Options: PadN of 4 then a PadN of 6 (16 bytes).
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_HOPOPTS, bytes([0, 0, 1, 4, 0, 0, 0, 0]))
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_DSTOPTS,
             bytes([0, 1, 1, 4, 0, 0, 0, 0, 1, 6, 0, 0, 0, 0, 0, 0]))
s.sendto(b"bindery hbh+dst", ("2001:db8:1::2", 9))
# Segment routing header (RFC 8754, routing type 4) with one segment: R itself, segments left 0.
srh = bytes([0, 2, 4, 0, 0, 0, 0, 0]) + socket.inet_pton(socket.AF_INET6, "2001:db8:1::2")
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RTHDR, srh)
s.sendto(b"bindery srh", ("2001:db8:1::2", 9))
'
ip -n "$A" -6 addr add 2001:db8:1::99/64 dev a0 nodad
sleep 1.5
stop_capture

for f in part1-arp-icmp part1-ipv4-options part1-ipv4-frag part1-icmp4-errors part1-vlan \
  part1-ipv6-ping part1-ipv6-frag part1-ipv6-ext; do
  cp "$TMP/$f.pcap" "$OUT/$f.pcap"
  echo "$f.pcap: $(tcpdump -nn -r "$OUT/$f.pcap" 2>/dev/null | wc -l) frames"
done
