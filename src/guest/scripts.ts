// The bundled guest's scripts (busybox sh): /init, the inittab, the network set-up, the DHCP client hooks and the agent.
//
// Theory of operation. The kernel runs /init as pid 1: it mounts /proc, /sys and devtmpfs, loads
// the virtio modules in dependency order and execs busybox init, which reaps orphans and runs:
//   - sysinit `/etc/bindery/rc`: host name from `bindery.hostname=` on /proc/cmdline, lo and every
//     ethN up, busybox udhcpc per ethN (DHCPv4, RFC 2131; MTU option 26 is requested and applied,
//     RFC 2132 §5.1), IPv6 left to the kernel (SLAAC from router advertisements, RFC 4862; the
//     default accept_ra=1 with forwarding off) plus ISC `dhclient -6 -1` per ethN once its
//     link-local address is usable (DHCPv6 IA_NA, RFC 8415), a carrier watcher that makes udhcpc
//     start over after the link went down and up (so QMP `set_link` off/on renews the lease, as
//     KubeVirt's link-refresh migration expects; IPv6 starts over too: addresses dropped,
//     SLAAC and DHCPv6 anew), busybox httpd on port 80 serving /www/index.html
//     with the host name; then it prints BINDERY-GUEST-READY.
//   - respawn `/etc/bindery/agent`: the command channel on the virtio-serial port named
//     org.bindery.agent (see agent.ts for the protocol). The port reads EOF while no host side is
//     connected, so the agent reopens it in a loop and a later host connection (another
//     `bindery exec`) finds it answering again.
// Console lines (`BINDERY-DHCP4 …`, `BINDERY-DHCP6 …`, `BINDERY-LINK-UP …`) go to /dev/console,
// which is the serial log the orchestrator reads.

/** Printed on the console when the guest's network set-up is done and the agent starts. */
export const GUEST_READY = 'BINDERY-GUEST-READY';
/** `BINDERY-DHCP4 <if> <ip>/<prefix> router=<r> dns=<d1,d2> mtu=<m>` after a DHCPv4 lease. */
export const GUEST_DHCP4 = 'BINDERY-DHCP4';
/** `BINDERY-DHCP6 <if> <addr>` after a DHCPv6 lease. */
export const GUEST_DHCP6 = 'BINDERY-DHCP6';
/** `BINDERY-LINK6-RESTART <if>` when the carrier came back and IPv6 starts over. */
export const GUEST_LINK6 = 'BINDERY-LINK6-RESTART';
/** `BINDERY-INSMOD-FAILED <module>` when a module does not load. */
export const GUEST_INSMOD_FAILED = 'BINDERY-INSMOD-FAILED';
/** The virtio-serial port name the agent listens on. */
export const AGENT_PORT_NAME = 'org.bindery.agent';
/** The kernel command line parameter carrying the guest's host name. */
export const HOSTNAME_PARAM = 'bindery.hostname';
/** Where the guest's ISC dhclient is taken from (Debian's isc-dhcp-client). */
export const DHCLIENT_PATH = '/sbin/dhclient';
/** Seconds a command runs in the guest when the host gives no timeout. */
export const DEFAULT_COMMAND_TIMEOUT_S = 600;

/** One generated file of the guest. */
export interface GuestScript {
  readonly path: string;
  readonly text: string;
  readonly mode: number;
}

const PATH_LINE = 'export PATH=/bin:/sbin:/usr/bin:/usr/sbin';

/**
 * The guest's /init.
 *
 * @param modules - Module file names under /lib/modules in the guest, in load order.
 */
export function initScript(modules: readonly string[]): string {
  return `#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /tmp /run /var/run /sbin /usr/bin /usr/sbin /etc /www
/bin/busybox --install -s
${PATH_LINE}
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
for m in ${modules.join(' ')}; do
  insmod /lib/modules/$m || echo "${GUEST_INSMOD_FAILED} $m"
done
exec /bin/busybox init
`;
}

const INITTAB = `::sysinit:/bin/sh /etc/bindery/rc
::respawn:/bin/sh /etc/bindery/agent
::ctrlaltdel:/bin/poweroff -f
`;

const RC = `#!/bin/sh
# Network set-up of the bindery guest (run once by init).
${PATH_LINE}
name=$(sed -n 's/.*${HOSTNAME_PARAM.replace('.', '\\.')}=\\([^ ]*\\).*/\\1/p' /proc/cmdline)
[ -n "$name" ] || name=bindery-guest
hostname "$name"
echo "$name" > /etc/hostname
printf '127.0.0.1 localhost\\n127.0.1.1 %s\\n::1 localhost\\n' "$name" > /etc/hosts
: > /etc/resolv.conf
mkdir -p /etc/dhcp /run/bindery
: > /etc/dhcp/dhclient.conf
ip link set lo up
i=0
while ! ls /sys/class/net | grep -q '^eth' && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
pids=
for d in /sys/class/net/eth*; do
  [ -e "$d" ] || continue
  n=\${d##*/}
  ip link set "$n" up
  # -b: returns once bound (or backgrounds after the tries); the parents are waited for below.
  udhcpc -i "$n" -s /etc/bindery/udhcpc -p /run/udhcpc.$n.pid -b -t 4 -T 2 -O mtu \\
    -x hostname:"$name" >/dev/null 2>&1 &
  pids="$pids $!"
  /bin/sh /etc/bindery/dhcp6 "$n" >/dev/null 2>&1 &
  /bin/sh /etc/bindery/linkwatch "$n" >/dev/null 2>&1 &
done
[ -z "$pids" ] || wait $pids
printf '<html><body><h1>%s</h1></body></html>\\n' "$name" > /www/index.html
httpd -p 80 -h /www
echo "${GUEST_READY}"
`;

const RESOLV = `#!/bin/sh
# Rebuilds /etc/resolv.conf from what the DHCP clients learnt per interface.
cat /run/bindery/resolv.* 2>/dev/null | awk '!seen[$0]++' > /etc/resolv.conf
`;

const UDHCPC = `#!/bin/sh
# busybox udhcpc hook: $1 is the event; interface, ip, mask (prefix length), router, dns, domain, mtu come from the lease.
${PATH_LINE}
case "$1" in
  deconfig)
    ip -4 addr flush dev "$interface"
    ip link set "$interface" up
    rm -f /run/bindery/resolv.$interface.4
    sh /etc/bindery/resolv
    ;;
  bound|renew)
    [ -n "$mtu" ] && ip link set "$interface" mtu "$mtu"
    if ! ip -4 addr show dev "$interface" | grep -q "inet $ip/$mask "; then
      ip -4 addr flush dev "$interface"
      ip addr add "$ip/$mask" dev "$interface"
    fi
    metric=$((100 + \${interface#eth}))
    while ip -4 route del default dev "$interface" 2>/dev/null; do :; done
    r=\${router%% *}
    if [ -n "$r" ]; then
      # A router outside the leased subnet still needs a route to it.
      ip route add "$r" dev "$interface" metric $metric 2>/dev/null
      ip route add default via "$r" dev "$interface" metric $metric
    fi
    {
      [ -n "$domain" ] && echo "search $domain"
      for s in $dns; do echo "nameserver $s"; done
    } > /run/bindery/resolv.$interface.4
    sh /etc/bindery/resolv
    echo "${GUEST_DHCP4} $interface $ip/$mask router=$r dns=$(echo $dns | tr ' ' ,) mtu=$mtu" > /dev/console
    ;;
  leasefail)
    echo "${GUEST_DHCP4}-NONE $interface" > /dev/console
    ;;
esac
exit 0
`;

const DHCP6 = `#!/bin/sh
# Starts ISC dhclient -6 on $1 once its link-local address has left DAD (dhclient needs it to bind).
${PATH_LINE}
n=$1
i=0
while [ $i -lt 150 ]; do
  a=$(ip -6 addr show dev "$n")
  if echo "$a" | grep -q 'inet6 fe80' && ! echo "$a" | grep -q tentative; then break; fi
  sleep 0.2
  i=$((i+1))
done
# -1: one attempt; without a DHCPv6 server it exits (SLAAC still gives addresses). Its log stays
# in /run for \`bindery exec\`.
${DHCLIENT_PATH} -6 -1 -v -sf /etc/bindery/dhclient6 -cf /etc/dhcp/dhclient.conf \\
  -lf /run/dhclient6.$n.leases -pf /run/dhclient6.$n.pid "$n" > /run/dhclient6.$n.log 2>&1 ||
  echo "${GUEST_DHCP6}-NONE $n" > /dev/console
`;

const DHCLIENT6 = `#!/bin/sh
# ISC dhclient -6 hook: reason, interface, new_/old_ip6_address, *_ip6_prefixlen, new_dhcp6_name_servers.
${PATH_LINE}
case "$reason" in
  BOUND6|RENEW6|REBIND6|REBOOT6)
    if [ -n "$old_ip6_address" ] && [ "$old_ip6_address" != "$new_ip6_address" ]; then
      ip -6 addr del "$old_ip6_address/\${old_ip6_prefixlen:-128}" dev "$interface" 2>/dev/null
    fi
    if [ -n "$new_ip6_address" ]; then
      ip -6 addr add "$new_ip6_address/\${new_ip6_prefixlen:-128}" dev "$interface" 2>/dev/null
      {
        [ -n "$new_dhcp6_domain_search" ] && echo "search $new_dhcp6_domain_search"
        for s in $new_dhcp6_name_servers; do echo "nameserver $s"; done
      } > /run/bindery/resolv.$interface.6
      sh /etc/bindery/resolv
      echo "${GUEST_DHCP6} $interface $new_ip6_address" > /dev/console
    fi
    ;;
  EXPIRE6|RELEASE6|STOP6)
    [ -n "$old_ip6_address" ] && ip -6 addr del "$old_ip6_address/\${old_ip6_prefixlen:-128}" dev "$interface" 2>/dev/null
    rm -f /run/bindery/resolv.$interface.6
    sh /etc/bindery/resolv
    ;;
esac
exit 0
`;

const LINKWATCH = `#!/bin/sh
# Watches $1's carrier; after down→up (link-refresh) the guest takes its addresses anew:
# udhcpc releases and discovers; for IPv6 (kubevirt#17841: the kernel keeps SLAAC addresses and
# dhclient its lease across a carrier flap, so the guest kept the old pod's prefix) dhclient -6
# stops and forgets its lease, disable_ipv6 1→0 drops every IPv6 address and restarts
# autoconfiguration (link-local DAD, router solicitation, SLAAC: RFC 4862 §5.3–5.5), and
# dhclient -6 starts again once the link-local address is usable.
${PATH_LINE}
n=$1
read -r prev < /sys/class/net/$n/carrier
while :; do
  sleep 0.5
  read -r cur < /sys/class/net/$n/carrier || cur=$prev
  if [ "$prev" = 1 ] && [ "$cur" = 0 ]; then echo "BINDERY-LINK-DOWN $n" > /dev/console; fi
  if [ "$prev" = 0 ] && [ "$cur" = 1 ]; then
    echo "BINDERY-LINK-UP $n" > /dev/console
    read -r pid < /run/udhcpc.$n.pid && kill -USR2 "$pid" && kill -USR1 "$pid"
    read -r pid6 < /run/dhclient6.$n.pid 2>/dev/null && kill "$pid6" 2>/dev/null
    rm -f /run/dhclient6.$n.pid /run/dhclient6.$n.leases /run/bindery/resolv.$n.6
    sh /etc/bindery/resolv
    echo 1 > /proc/sys/net/ipv6/conf/$n/disable_ipv6
    echo 0 > /proc/sys/net/ipv6/conf/$n/disable_ipv6
    echo "${GUEST_LINK6} $n" > /dev/console
    /bin/sh /etc/bindery/dhcp6 "$n" >/dev/null 2>&1 &
  fi
  prev=$cur
done
`;

const AGENT = `#!/bin/sh
# The bindery agent: RUN <id> <base64 command> [<timeout s>] → OUT <id> <base64 output>, EXIT <id> <code>; PING <id> → PONG <id>.
${PATH_LINE}
port=
i=0
while :; do
  for f in /sys/class/virtio-ports/*/name; do
    [ -e "$f" ] || continue
    read -r pn < "$f"
    if [ "$pn" = "${AGENT_PORT_NAME}" ]; then d=\${f%/name}; port=/dev/\${d##*/}; fi
  done
  [ -n "$port" ] && [ -e "$port" ] && break
  i=$((i+1))
  if [ $i -ge 100 ]; then
    echo "BINDERY-AGENT-NONE" > /dev/console
    exec sleep 2147483647
  fi
  sleep 0.1
done
echo "BINDERY-AGENT $port" > /dev/console
while :; do
  if ! exec 3<>"$port"; then sleep 1; continue; fi
  while read -r verb id arg t rest <&3; do
    case "$verb" in
      PING) echo "PONG $id" >&3 ;;
      RUN)
        cmd=$(echo "$arg" | base64 -d 2>/dev/null)
        case "$t" in ''|*[!0-9]*) t=${DEFAULT_COMMAND_TIMEOUT_S} ;; esac
        timeout -s KILL "$t" sh -c "$cmd" </dev/null >/tmp/agent.out 2>&1 3>&-
        code=$?
        { printf 'OUT %s ' "$id"; base64 -w 0 /tmp/agent.out; printf '\\nEXIT %s %s\\n' "$id" "$code"; } >&3
        rm -f /tmp/agent.out
        ;;
    esac
  done
  # EOF: no host connected (or it left); reopen and wait for the next one.
  exec 3<&-
  sleep 0.2
done
`;

/**
 * Every generated file of the guest (paths without a leading '/').
 *
 * @param modules - Module file names under /lib/modules in the guest, in load order.
 */
export function guestScripts(modules: readonly string[]): GuestScript[] {
  const x = 0o755;
  return [
    { path: 'init', text: initScript(modules), mode: x },
    { path: 'etc/inittab', text: INITTAB, mode: 0o644 },
    { path: 'etc/bindery/rc', text: RC, mode: x },
    { path: 'etc/bindery/resolv', text: RESOLV, mode: x },
    { path: 'etc/bindery/udhcpc', text: UDHCPC, mode: x },
    { path: 'etc/bindery/dhcp6', text: DHCP6, mode: x },
    { path: 'etc/bindery/dhclient6', text: DHCLIENT6, mode: x },
    { path: 'etc/bindery/linkwatch', text: LINKWATCH, mode: x },
    { path: 'etc/bindery/agent', text: AGENT, mode: x },
  ];
}
