#!/usr/bin/env bash
# Recreates test/fixtures/wire/part2-*.pcap: ICMPv6 (echo, errors, NDP), UDP and TCP from real tools.
#
# Two network namespaces, A (client) and B (router and server), joined by a veth pair created
# inside them (nothing touches the host's own network). B forwards IPv6, routes 2001:db8:99::/64
# into a veth pair of its own with MTU 1280 (so "packet too big" and "time exceeded" can be
# provoked), routes 2001:db8:77::/64 back out of the link via a link-local next hop (so it sends a
# redirect), and runs dnsmasq (DNS, and router advertisements with RDNSS, DNSSL and MTU options) and
# `python3 -m http.server`. tcpdump records on A's a0. Addresses are the documentation ranges
# (192.0.2.0/24, 2001:db8::/32). Runs as root; cleans up on any exit.
#
#   part2-icmpv6-echo.pcap    ping -6: echo request/reply (one with 56 bytes of data, one with none)
#   part2-icmpv6-errors.pcap  time exceeded (hop limit 1), packet too big (1348 bytes over the 1280
#                             hop), destination unreachable (no route; closed UDP port), parameter
#                             problem (unknown next header 253 through a raw socket)
#   part2-ndp.pcap            NS/NA (address resolution), RS (a0 coming up), RA from dnsmasq
#                             (SLLA, MTU, prefix information, RDNSS, DNSSL), redirect (TLLA,
#                             redirected header)
#   part2-udp.pcap            dig over IPv4 and IPv6 against dnsmasq; IPv4 UDP with no checksum
#                             (SO_NO_CHECK); IPv4 and IPv6 UDP whose checksum computes to 0 (sent
#                             as 0xffff); an empty datagram
#   part2-tcp.pcap            curl over IPv4 and IPv6 to python's http.server (SYN options MSS, WS,
#                             SACK-permitted, timestamps; data; FIN), and an RST from a closed port
#   part2-tcp-sack.pcap       ACKs from A carrying 1-3 SACK blocks (timestamps leave room for no
#                             more), from a 1 MB transfer with 10% of A's incoming segments dropped
set -euo pipefail

OUT="$(cd "$(dirname "$0")/../.." && pwd)/test/fixtures/wire"
A=bdy-fix2-a
B=bdy-fix2-b
TMP="$(mktemp -d /tmp/bdy-fix2.XXXXXX)"
PIDS=()

cleanup() {
  set +e
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  ip netns del "$A" 2>/dev/null
  ip netns del "$B" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

# veth offloads checksums to a "device" that never computes them: captured frames would carry
# partial checksums. Turn TX checksumming off (ETHTOOL_STXCSUM through SIOCETHTOOL; no ethtool
# here). This also turns TSO off, so no segment is larger than the MTU.
no_tx_csum() {
  ip netns exec "$1" python3 -c '
import ctypes, fcntl, socket, struct, sys
val = ctypes.create_string_buffer(struct.pack("II", 0x17, 0), 8)
ifr = struct.pack("16sP", sys.argv[1].encode(), ctypes.addressof(val)).ljust(40, b"\0")
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
fcntl.ioctl(sock.fileno(), 0x8946, ifr)
' "$2"
}

mkdir -p "$OUT"
for ns in "$A" "$B"; do
  ip netns add "$ns"
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
  ip -n "$ns" link set lo up
done
# A solicits routers quickly when a0 comes up; B answers errors without rate limiting.
ip netns exec "$A" sysctl -qw net.ipv6.conf.default.router_solicitation_delay=0 \
  net.ipv6.conf.default.router_solicitation_interval=1 net.ipv6.conf.default.router_solicitations=1
ip netns exec "$B" sysctl -qw net.ipv6.conf.all.forwarding=1 net.ipv6.icmp.ratelimit=0

ip -n "$A" link add a0 type veth peer name b0 netns "$B"
no_tx_csum "$A" a0
no_tx_csum "$B" b0
ip -n "$A" link set a0 address 02:00:00:00:02:01
ip -n "$B" link set b0 address 02:00:00:00:02:02
ip -n "$A" addr add 192.0.2.1/24 dev a0
ip -n "$A" addr add 2001:db8:1::1/64 dev a0 nodad
ip -n "$B" addr add 192.0.2.2/24 dev b0
ip -n "$B" addr add 2001:db8:1::2/64 dev b0 nodad
ip -n "$A" link set a0 up
ip -n "$B" link set b0 up
ip -n "$A" -6 route add default via 2001:db8:1::2
ip -n "$B" link add q0 type veth peer name q1
ip -n "$B" link set q1 up
ip -n "$B" link set q0 mtu 1280 up
ip -n "$B" -6 route add 2001:db8:99::/64 dev q0
ip -n "$B" -6 neigh add fe80::c lladdr 02:00:00:00:02:0c dev b0 nud permanent
ip -n "$B" -6 route add 2001:db8:77::/64 via fe80::c dev b0

ip netns exec "$B" dnsmasq --no-daemon --conf-file=/dev/null --user=root --group=root \
  --interface=b0 --bind-interfaces --no-resolv --no-hosts \
  --dhcp-leasefile="$TMP/leases" --pid-file="$TMP/dnsmasq.pid" \
  --host-record=host.example.test,192.0.2.99,2001:db8:1::99 \
  --enable-ra --dhcp-range=2001:db8:1::,ra-only --ra-param=b0,mtu:1400,10 \
  --dhcp-option=option6:dns-server,[2001:db8:1::53],[2001:db8:1::54] \
  --dhcp-option=option6:domain-search,example.test,lab.example.test \
  --domain=example.test \
  >"$TMP/dnsmasq.log" 2>&1 &
PIDS+=($!)
mkdir -p "$TMP/www"
python3 -c 'import sys; sys.stdout.write("".join("bindery line %04d\n" % i for i in range(100)))' \
  >"$TMP/www/small.txt"
head -c 1048576 /dev/zero >"$TMP/www/big.bin"
(cd "$TMP/www" && exec ip netns exec "$B" python3 -m http.server --bind :: 8000 \
  >"$TMP/http.log" 2>&1) &
PIDS+=($!)
sleep 2

# Starts tcpdump on A's a0 writing $1 with filter $2 (more tcpdump options after it); its pid
# lands in TCPDUMP.
start_capture() {
  ip netns exec "$A" tcpdump -i a0 -U --immediate-mode -s 0 -w "$1" "${@:3}" "$2" 2>"$TMP/tcpdump.log" &
  TCPDUMP=$!
  PIDS+=("$TCPDUMP")
  sleep 1
}
stop_capture() {
  sleep 0.5
  kill -INT "$TCPDUMP" 2>/dev/null || true
  wait "$TCPDUMP" || true
}
# Runs a command in namespace $1 quietly.
in_ns() {
  local ns=$1
  shift
  ip netns exec "$ns" "$@" >/dev/null 2>&1
}

# 1. Echo: 56 bytes of data, then none.
start_capture "$TMP/part2-icmpv6-echo.pcap" 'icmp6 and (ip6[40] == 128 or ip6[40] == 129)'
in_ns "$A" ping -6 -c 1 2001:db8:1::2
in_ns "$A" ping -6 -c 1 -s 0 2001:db8:1::2
stop_capture

# 2. Errors from B. (A's MTU is 1400 by now, from the RA's MTU option, hence 1300 bytes of data.)
start_capture "$TMP/part2-icmpv6-errors.pcap" 'icmp6 and ip6[40] < 128'
in_ns "$A" ping -6 -c 1 -W 1 -t 1 2001:db8:99::5 || true
in_ns "$A" ping -6 -c 1 -W 1 -M do -s 1300 2001:db8:99::5 || true
in_ns "$A" ping -6 -c 1 -W 1 2001:db8:98::5 || true
ip netns exec "$A" python3 -c '
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.sendto(b"bindery port unreachable", ("2001:db8:1::2", 9))
r = socket.socket(socket.AF_INET6, socket.SOCK_RAW, 253)
r.sendto(b"bindery unknown next header", ("2001:db8:1::2", 0))
'
stop_capture

# 3. UDP: DNS both ways, no checksum, checksum computing to 0, empty datagram.
start_capture "$TMP/part2-udp.pcap" 'udp'
in_ns "$A" dig +tries=1 +time=2 @192.0.2.2 host.example.test A
in_ns "$A" dig +tries=1 +time=2 @2001:db8:1::2 host.example.test AAAA
ip netns exec "$A" python3 -c '
import socket, struct

def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s > 0xFFFF:
        s = (s & 0xFFFF) + (s >> 16)
    return s

def zero_sum_payload(pseudo, sport, dport, text):
    # Pick the last two bytes so that the checksum computes to 0 (the sum is 0xffff); `text`
    # has an even length, so they form one 16-bit word.
    n = 8 + len(text) + 2
    s = csum(pseudo + struct.pack("!HHHH", sport, dport, n, 0) + text + b"\0\0")
    return text + struct.pack("!H", (0xFFFF - s) % 0xFFFF)

s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, 11, 1)  # SO_NO_CHECK: IPv4 UDP without checksum
s.sendto(b"bindery no checksum", ("192.0.2.2", 9))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("192.0.2.1", 40001))
a, b = socket.inet_aton("192.0.2.1"), socket.inet_aton("192.0.2.2")
text = b"bindery zero-sum v4!"
s.sendto(zero_sum_payload(a + b + struct.pack("!BBH", 0, 17, 8 + len(text) + 2), 40001, 9, text), ("192.0.2.2", 9))
s.sendto(b"", ("192.0.2.2", 9))
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind(("2001:db8:1::1", 40002))
a, b = socket.inet_pton(socket.AF_INET6, "2001:db8:1::1"), socket.inet_pton(socket.AF_INET6, "2001:db8:1::2")
text = b"bindery zero-sum v6!"
s.sendto(zero_sum_payload(a + b + struct.pack("!IxxxB", 8 + len(text) + 2, 17), 40002, 9, text), ("2001:db8:1::2", 9))
'
stop_capture

# 4. TCP: HTTP over IPv4 and IPv6, and an RST from a closed port.
start_capture "$TMP/part2-tcp.pcap" 'tcp'
in_ns "$A" curl -s -o /dev/null http://192.0.2.2:8000/small.txt
in_ns "$A" curl -s -o /dev/null 'http://[2001:db8:1::2]:8000/small.txt'
in_ns "$A" curl -s -o /dev/null http://192.0.2.2:8001/ || true
stop_capture

# 5. SACK blocks: A drops 10% of the HTTP segments it receives (nftables in A's input hook, after
# tcpdump has seen them; this kernel has no netem), so its ACKs carry SACK blocks. Of A's ACKs with
# more than 32 bytes of header, the first three of each header length are kept.
ip netns exec "$A" nft -f - <<'NFT'
table inet bdy_fix2_loss {
  chain in {
    type filter hook input priority filter; policy accept;
    tcp sport 8000 numgen random mod 10 == 0 drop
  }
}
NFT
start_capture "$TMP/part2-tcp-sack-all.pcap" \
  'tcp and src host 192.0.2.1 and (tcp[12] & 0xf0) > 0x80 and (tcp[13] & 0x02) == 0' -c 400
in_ns "$A" curl -s -m 20 -o /dev/null http://192.0.2.2:8000/big.bin || true
stop_capture
ip netns exec "$A" nft delete table inet bdy_fix2_loss
python3 - "$TMP/part2-tcp-sack-all.pcap" "$TMP/part2-tcp-sack.pcap" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
out, off, count = [data[:24]], 24, {}
while off + 16 <= len(data):
    sec, frac, incl, orig = struct.unpack_from("<IIII", data, off)
    f = data[off + 16 : off + 16 + incl]
    off += 16 + incl
    doff = f[14 + (f[14] & 15) * 4 + 12] >> 4
    count[doff] = count.get(doff, 0) + 1
    if count[doff] <= 3:
        out.append(struct.pack("<IIII", sec, frac, incl, orig) + f)
open(sys.argv[2], "wb").write(b"".join(out))
PY

# 6. NDP, recorded on B's side so that a0 can go down and up: NS/NA (resolution after a flush),
# RS (a0 coming up), RA (dnsmasq's answer), redirect (B forwards back out of b0).
ip -n "$A" -6 neigh flush all
ip -n "$B" -6 neigh flush dev b0 nud reachable
ip netns exec "$B" tcpdump -i b0 -U --immediate-mode -s 0 -w "$TMP/part2-ndp-all.pcap" \
  'icmp6 and ip6[40] >= 133 and ip6[40] <= 137' 2>"$TMP/tcpdump.log" &
TCPDUMP=$!
PIDS+=("$TCPDUMP")
sleep 1
in_ns "$A" ping -6 -c 1 2001:db8:1::2
in_ns "$A" ping -6 -c 1 -W 1 2001:db8:77::1 || true
ip -n "$A" link set a0 down
sleep 0.5
ip -n "$A" link set a0 up
sleep 4
stop_capture
# Keep the first frame of each (type, has options) kind, in capture order: the capture has a
# few dozen frames (unsolicited RAs, repeated NS) and the fixture needs one of each.
python3 - "$TMP/part2-ndp-all.pcap" "$TMP/part2-ndp.pcap" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
out, off, seen = [data[:24]], 24, set()
while off + 16 <= len(data):
    sec, frac, incl, orig = struct.unpack_from("<IIII", data, off)
    f = data[off + 16 : off + 16 + incl]
    off += 16 + incl
    fixed = {133: 8, 134: 16, 135: 24, 136: 24, 137: 40}.get(f[54], 8)
    key = (f[54], len(f) > 54 + fixed, f[22:38] == b"\0" * 16)
    if key in seen:
        continue
    seen.add(key)
    out.append(struct.pack("<IIII", sec, frac, incl, orig) + f)
open(sys.argv[2], "wb").write(b"".join(out))
PY

for f in part2-icmpv6-echo part2-icmpv6-errors part2-ndp part2-udp part2-tcp part2-tcp-sack; do
  cp "$TMP/$f.pcap" "$OUT/$f.pcap"
  echo "$f.pcap: $(tcpdump -nn -r "$OUT/$f.pcap" 2>/dev/null | wc -l) frames, $(stat -c %s "$OUT/$f.pcap") bytes"
done
