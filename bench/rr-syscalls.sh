#!/bin/bash
# Counts a translator's syscalls per request/response round trip (strace -c) or its CPU per round trip, on the bench's tap topology (docs/perf-rr.md).
#
# usage (root): bench/rr-syscalls.sh TRANSLATOR [N] [tcp|udp|ping] [strace|cpu]
#   TRANSLATOR  a bindery CLI (bin/bindery.js, or another build's) or a pasta binary (*pasta)
#   N           round trips (default 2000); tcp adds tcpload.py's 100 warm-up round trips
#   strace      `strace -f -c` of the translator over the round trips (default)
#   cpu         the translator's user and system CPU per round trip from /proc
#   wakeups     the loop's epoll_pwait calls per round trip that returned events (= callbacks
#               into JS) and those that returned none (libuv's idle-time poll, docs/perf-rr.md)
# Namespaces bdy-rr<pid>-{pod,guest} as in bench/setups.ts: the guest's tap0 (10.0.2.15/24,
# gateway 10.0.2.2 = the pod's loopback), MTU 65520; removed on exit. Traffic stays inside them.
set -u
BIN=$1
N=${2:-2000}
MODE=${3:-tcp}
HOW=${4:-strace}
HERE=$(cd "$(dirname "$0")" && pwd)
ID=bdy-rr$$
POD=$ID-pod
G=$ID-guest
TMP=$(mktemp -d)
UDP_ECHO='import socket,sys,time
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)
if sys.argv[1]=="serve":
    s.bind(("127.0.0.1",5301))
    while True:
        d,a=s.recvfrom(2048); s.sendto(d,a)
s.settimeout(2); s.connect(("10.0.2.2",5301)); out=[]
for i in range(int(sys.argv[2])):
    t=time.perf_counter_ns(); s.send(b"x"); s.recv(16); out.append(time.perf_counter_ns()-t)
print(" ".join(map(str,out)))'
QUANTILES='import sys; v=sorted(float(x)/1000 for x in open(sys.argv[1]).read().split()); print("p50 %.1f p99 %.1f us" % (v[len(v)//2], v[int(len(v)*0.99)]))'

cleanup() {
  [ -n "${SRV:-}" ] && kill "$SRV" 2>/dev/null
  [ -n "${TP:-}" ] && kill "$TP" 2>/dev/null
  wait 2>/dev/null
  ip netns del "$POD" 2>/dev/null
  ip netns del "$G" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT

ip netns add "$POD"
ip netns add "$G"
ip -n "$POD" link set lo up
ip -n "$POD" link add "${ID}a" type veth peer name "${ID}b"
ip -n "$POD" addr add 192.168.77.1/24 dev "${ID}a"
ip -n "$POD" link set "${ID}a" up
ip -n "$POD" link set "${ID}b" up
ip -n "$POD" route add default via 192.168.77.2
ip netns exec "$POD" sysctl -qw net.ipv4.ping_group_range="0 2147483647"
if [[ $BIN == *pasta ]]; then
  ip netns exec "$POD" "$BIN" --runas 0 --netns "/run/netns/$G" --config-net -f -q -4 -I tap0 \
    -m 65520 -a 10.0.2.15 -n 24 -g 10.0.2.2 -t none -u none -T none -U none >"$TMP/log" 2>&1 &
  TP=$!
else
  ip netns exec "$POD" node "$BIN" passt -f --tap tap0 --netns "$G" -a 10.0.2.15/24 -g 10.0.2.2 \
    --mtu 65520 >"$TMP/log" 2>&1 &
  TP=$!
  for _ in $(seq 150); do grep -q "serving tap" "$TMP/log" && break; sleep 0.2; done
  ip -n "$G" link set tap0 mtu 65520
  ip -n "$G" addr add 10.0.2.15/24 dev tap0
  ip -n "$G" route add default via 10.0.2.2
fi
for _ in $(seq 50); do ip netns exec "$G" ping -c1 -W1 192.168.77.1 >/dev/null 2>&1 && break; done
# `ip netns exec` execs the translator: its pid is TP's, or its child's.
PID=$(pgrep -P "$TP" -x node || pgrep -P "$TP" -x pasta || echo "$TP")

case $MODE in
tcp)
  ip netns exec "$POD" python3 "$HERE/tcpload.py" serve 127.0.0.1 5201 >/dev/null &
  SRV=$!
  sleep 0.5
  ip netns exec "$G" python3 "$HERE/tcpload.py" rr 10.0.2.2 5201 200 >/dev/null
  LOAD=(ip netns exec "$G" python3 "$HERE/tcpload.py" rr 10.0.2.2 5201 "$N")
  TRIPS=$((N + 100))
  ;;
udp)
  ip netns exec "$POD" python3 -c "$UDP_ECHO" serve &
  SRV=$!
  sleep 0.5
  ip netns exec "$G" python3 -c "$UDP_ECHO" rr 200 >/dev/null
  LOAD=(ip netns exec "$G" python3 -c "$UDP_ECHO" rr "$N")
  TRIPS=$N
  ;;
ping)
  LOAD=(ip netns exec "$G" ping -q -i 0.002 -c "$N" 192.168.77.1)
  TRIPS=$N
  ;;
esac

if [ "$HOW" = cpu ]; then
  read -r u0 s0 < <(awk '{print $14, $15}' "/proc/$PID/stat")
  "${LOAD[@]}" >"$TMP/rr"
  read -r u1 s1 < <(awk '{print $14, $15}' "/proc/$PID/stat")
  hz=$(getconf CLK_TCK)
  python3 -c "print('cpu per round trip: user %.1f sys %.1f us' % (($u1-$u0)*1e6/$hz/$TRIPS, ($s1-$s0)*1e6/$hz/$TRIPS))"
elif [ "$HOW" = wakeups ]; then
  strace -f -e trace=epoll_pwait -o "$TMP/strace" -p "$PID" &
  ST=$!
  sleep 1
  "${LOAD[@]}" >"$TMP/rr"
  kill -INT $ST
  wait $ST
  awk -v n="$TRIPS" '/epoll_pwait\(.*\) = [0-9]+$/ { if ($NF > 0) w++; else z++ }
    END { printf "per round trip: %.2f wake-ups with events, %.2f empty polls\n", w / n, z / n }' "$TMP/strace"
else
  strace -f -c -o "$TMP/strace" -p "$PID" &
  ST=$!
  sleep 1
  "${LOAD[@]}" >"$TMP/rr"
  kill -INT $ST
  wait $ST
  echo "round trips traced: $TRIPS"
  awk -v n="$TRIPS" '$NF ~ /^[a-z_0-9]+$/ && $NF != "total" && $4 ~ /^[0-9]+$/ && $4 >= n / 4 {
    printf "  %-14s %6.2f per round trip\n", $NF, $4 / n; t += $4 } END { printf "  %-14s %6.2f\n", "total", t / n }' "$TMP/strace"
fi
[ "$MODE" = ping ] && tail -1 "$TMP/rr" || python3 -c "$QUANTILES" "$TMP/rr"
