// The real-peer rig of the pod-net QEMU suites: a node namespace and a pod namespace joined by a veth, servers on the node, a guest script that checks the network from inside a QEMU guest.
//
// Layout (one rig per test; every name is the lab's, so concurrent tests do not meet):
//
//   node ns: n0 10.77.0.1/24 fd77::1/64 ── veth ── pod ns: eth0 10.77.0.2/24 fd77::2/64, MTU 1400,
//            servers (NODE_SERVERS)                         MAC 0a:58:0a:4d:00:02, default routes
//                                                           via the node; `bindery pod-net up`
//                                                           builds the binding here, QEMU opens
//                                                           its tap here
//
// The guest script (guestScript) prints one marker line per check (LEASE, PING4-RC, UP, DOWN,
// UDP, INBOUND, …); the suites match them against what the plan promises and what the node's
// servers saw. Where the guest must wait for the test (inbound connections from the node, a
// restarted address server) it prints a *-WAIT marker and reads a line from its console.
import { createHash, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';
import { Lab } from '../lab/lab.js';
import type { LabProcess, Netns } from '../lab/lab.js';
import { programWithLibraries } from '../lab/initramfs.js';
import type { CpioEntry } from '../lab/initramfs.js';

/** The bindery CLI, run as `node bin/bindery.js` (the build in dist/). */
export const BIN = fileURLToPath(new URL('../../bin/bindery.js', import.meta.url));
/** The pod-net fixtures (test/fixtures/manifests/podnet-*.yaml). */
export const FIXTURES = fileURLToPath(new URL('../fixtures/manifests/', import.meta.url));

/** Addresses of the rig (the same in every rig: each lives in its own namespaces). */
export const NODE4 = '10.77.0.1';
export const POD4 = '10.77.0.2';
export const NODE6 = 'fd77::1';
export const POD6 = 'fd77::2';
export const POD_MAC = '0a:58:0a:4d:00:02';
export const POD_MTU = 1400;
/** The pod's resolv.conf: IPv4 and IPv6 nameservers and a search list. */
export const DNS4 = '10.77.0.53';
export const DNS6 = 'fd77::53';
export const SEARCH = ['default.svc.cluster.local', 'svc.cluster.local'];

/** Ports of the node's servers. */
export const SINK_PORT = 9001;
export const SOURCE_PORT = 9002;
export const ECHO_PORT = 9069;
/** Bytes each way of the TCP transfers (IPv4); the IPv6 ones move a sixteenth. */
export const TCP_BYTES = 64 * 1024 * 1024;

// The node's servers, dual-stack on '::' (IPv4 peers appear as ::ffff:a.b.c.d, printed bare):
//   SINK_PORT   reads to EOF, answers and prints "SINK sha=<sha256> len=<n> peer=<ip>"
//   SOURCE_PORT sends N random bytes (N from the first line the client sends, default TCP_BYTES)
//               then closes; prints "SOURCE sha=<sha256> len=<n> peer=<ip>"
//   ECHO_PORT   UDP: a TFTP read request for NAME gets one DATA block "echo:NAME@<peer ip>"
//               (busybox has no UDP netcat; its tftp is the guest's UDP client); prints
//               "UDP name=<NAME> peer=<ip>"
const NODE_SERVERS = `
import asyncio, hashlib, os, socket

def peer_ip(w):
    ip = w.get_extra_info('peername')[0]
    return ip[7:] if ip.startswith('::ffff:') else ip

async def sink(r, w):
    h = hashlib.sha256(); n = 0
    while True:
        b = await r.read(1 << 20)
        if not b: break
        h.update(b); n += len(b)
    line = 'SINK sha=%s len=%d peer=%s' % (h.hexdigest(), n, peer_ip(w))
    print(line, flush=True)
    w.write((line + '\\n').encode()); await w.drain(); w.close()

async def source(r, w):
    first = await r.readline()
    n = int(first) if first.strip() else ${TCP_BYTES}
    h = hashlib.sha256(); left = n
    while left > 0:
        b = os.urandom(min(left, 1 << 20)); h.update(b); w.write(b); left -= len(b)
        await w.drain()
    w.close()
    print('SOURCE sha=%s len=%d peer=%s' % (h.hexdigest(), n, peer_ip(w)), flush=True)

class Echo(asyncio.DatagramProtocol):
    def connection_made(self, t): self.t = t
    def datagram_received(self, data, peer):
        ip = peer[0][7:] if peer[0].startswith('::ffff:') else peer[0]
        if data[:2] == b'\\x00\\x01':
            name = data[2:].split(b'\\x00')[0].decode()
            print('UDP name=%s peer=%s' % (name, ip), flush=True)
            self.t.sendto(b'\\x00\\x03\\x00\\x01' + ('echo:%s@%s' % (name, ip)).encode(), peer)

def dual(kind):
    s = socket.socket(socket.AF_INET6, kind)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    return s

async def main():
    servers = []
    for port, fn in ((${SINK_PORT}, sink), (${SOURCE_PORT}, source)):
        s = dual(socket.SOCK_STREAM); s.bind(('::', port))
        servers.append(await asyncio.start_server(fn, sock=s))
    u = dual(socket.SOCK_DGRAM); u.bind(('::', ${ECHO_PORT}))
    await asyncio.get_running_loop().create_datagram_endpoint(Echo, sock=u)
    print('servers ready', flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
`;

/** A node and a pod namespace joined by a veth, with the node's servers running. */
export interface Rig {
  readonly lab: Lab;
  readonly node: Netns;
  readonly pod: Netns;
  /** A temp dir: pod-net state, resolv.conf, logs. */
  readonly dir: string;
  readonly resolvConf: string;
  readonly stateDir: string;
  readonly servers: LabProcess;
}

/**
 * Builds the rig: namespaces, veth (pod side `eth0`, MTU POD_MTU, MAC POD_MAC), addresses and
 * default routes, the pod's resolv.conf, the node's servers.
 *
 * @param t - The test (the lab tears down with it).
 * @returns The rig.
 */
export async function makeRig(t: TestContext): Promise<Rig> {
  const lab = await Lab.create(t);
  const node = await lab.namespace('node');
  const pod = await lab.namespace('pod');
  await lab.veth(node, pod, {
    nameA: 'n0',
    nameB: 'eth0',
    mtu: POD_MTU,
    addrsA: [`${NODE4}/24`, `${NODE6}/64`],
  });
  // A fixed MAC (the guest MAC of bindings without a spec MAC is the pod's), set with the link
  // down so its link-local address comes from it, as a CNI leaves a pod.
  await lab.ip(pod, ['link', 'set', 'eth0', 'down']);
  await lab.ip(pod, ['link', 'set', 'eth0', 'address', POD_MAC]);
  await lab.ip(pod, ['link', 'set', 'eth0', 'up']);
  await lab.ip(pod, ['addr', 'add', `${POD4}/24`, 'dev', 'eth0']);
  await lab.ip(pod, ['addr', 'add', `${POD6}/64`, 'dev', 'eth0', 'nodad']);
  for (const ns of [node, pod]) await dadDone(lab, ns);
  await lab.ip(pod, ['route', 'add', 'default', 'via', NODE4]);
  await lab.ip(pod, ['-6', 'route', 'add', 'default', 'via', NODE6]);
  const dir = await lab.tmpDir();
  const resolvConf = join(dir, 'resolv.conf');
  await writeFile(
    resolvConf,
    `nameserver ${DNS4}\nnameserver ${DNS6}\nsearch ${SEARCH.join(' ')}\noptions ndots:5\n`,
  );
  const servers = lab.spawn(node, ['python3', '-u', '-c', NODE_SERVERS], { label: 'node servers' });
  await servers.waitForOutput(/servers ready/, 30_000);
  return { lab, node, pod, dir, resolvConf, stateDir: join(dir, 'state'), servers };
}

/** The block the guest sends over and over (random, made once per process). */
export const BLK_BYTES = 1024 * 1024;
const blk = randomBytes(BLK_BYTES);

/** The sha256 of `bytes` of the guest's upload stream (/blk repeated). */
export function uploadSha(bytes: number): string {
  const h = createHash('sha256');
  for (let n = 0; n < bytes; n += BLK_BYTES) h.update(blk);
  return h.digest('hex');
}

/** The initramfs files every rig guest needs: /blk, and dhclient for the IPv6 checks. */
export function guestFiles(ipv6: boolean): CpioEntry[] {
  return [
    { type: 'file', path: 'blk', data: blk },
    ...(ipv6 ? programWithLibraries('/usr/sbin/dhclient') : []),
  ];
}

/** What the guest script does beyond DHCPv4, ping, TCP both ways and UDP over IPv4. */
export interface GuestChecks {
  /** Listen on these TCP ports, print INBOUND-WAIT, read a console line, print what came in. */
  readonly inbound?: readonly number[];
  /** IPv6: wait for the RA's default route, run dhclient -6, ping6 and TCP to the node. */
  readonly ipv6?: boolean;
  /** Print RENEW-WAIT, read a console line, then ask for a lease again (LEASE2). */
  readonly renew?: boolean;
}

/**
 * The guest's script (busybox sh). Every nc gets </dev/null or a file as stdin: the script's own
 * stdin is the console, kept for the *-WAIT handshakes.
 */
export function guestScript(checks: GuestChecks = {}): string {
  const ipv6 = checks.ipv6 === true;
  const parts: string[] = [
    String.raw`
stamp() { echo "STAMP $1 $(cut -d' ' -f1 /proc/uptime)"; }
cat > /tmp/udhcpc.sh <<'EOF'
#!/bin/sh
case "$1" in
  deconfig) ip -4 addr flush dev "$interface"; ip link set "$interface" up ;;
  bound|renew)
    [ -n "$mtu" ] && ip link set "$interface" mtu "$mtu"
    ip addr add "$ip/$mask" dev "$interface"
    if [ -n "$staticroutes" ]; then
      # RFC 3442: with option 121 the client ignores option 3.
      set -- $staticroutes
      while [ $# -ge 2 ]; do
        if [ "$2" = 0.0.0.0 ]; then ip route add "$1" dev "$interface"
        else ip route add "$1" via "$2" dev "$interface"; fi
        shift 2
      done
    elif [ -n "$router" ]; then
      ip route add default via "$router" dev "$interface"
    fi
    echo "$TAG ip=$ip mask=$mask router=$router dns=$dns mtu=$mtu routes=$staticroutes search=$search serverid=$serverid"
    ;;
esac
exit 0
EOF
chmod 755 /tmp/udhcpc.sh
TAG=LEASE udhcpc -i eth0 -n -q -t 10 -T 2 -O mtu -O staticroutes -O search -s /tmp/udhcpc.sh </dev/null
echo "UDHCPC-RC=$?"
echo "ADDR4 $(ip -4 -o addr show dev eth0 | tr -s ' ')"
ip -4 route | sed 's/^/ROUTE4 /'
echo "LINKMTU $(cat /sys/class/net/eth0/mtu)"
ping -c 3 -W 5 ${NODE4} </dev/null
echo "PING4-RC=$?"
# Guest to node: /blk (random, from the test) N times; the test knows the stream's sha256, so
# the guest's CPU only copies (under TCG, urandom and sha256 in the guest would dominate).
up() {
  i=0; while [ $i -lt $3 ]; do cat /blk; i=$((i+1)); done | timeout 120 nc "$1" ${SINK_PORT} > /tmp/up.reply
  echo "$2 rc=$? reply=[$(cat /tmp/up.reply)]"
}
# Node to guest: the node's source sends N bytes and prints their sha256.
down() {
  s=$(echo "$3" | timeout 120 nc "$1" ${SOURCE_PORT} | sha256sum | cut -d' ' -f1)
  echo "$2 sha=$s"
}
stamp tcp
up ${NODE4} UP ${TCP_BYTES / BLK_BYTES}
stamp tcp-up-done
down ${NODE4} DOWN ${TCP_BYTES}
rm -f /tmp/echo
tftp -g -r from-guest -l /tmp/echo ${NODE4} ${ECHO_PORT} </dev/null
echo "TFTP-RC=$?"
echo "UDP=[$(cat /tmp/echo)]"
stamp v4-done
`,
  ];
  if (ipv6) {
    parts.push(String.raw`
# The kernel takes the RA (default route); DHCPv6 (IA_NA) comes from ISC dhclient.
i=0
while ! ip -6 route show default | grep -q via && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
ip -6 route | sed 's/^/ROUTE6 /'
i=0
while ip -6 addr show dev eth0 | grep -q tentative && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
cat > /tmp/dh6.sh <<'EOF'
#!/bin/sh
echo "DH6-REASON $reason"
case "$reason" in
  BOUND6|RENEW6|REBIND6|REBOOT6)
    ip -6 addr add "$new_ip6_address/128" dev "$interface"
    echo "DHCP6 addr=$new_ip6_address dns=$new_dhcp6_name_servers search=$new_dhcp6_domain_search"
    ;;
esac
exit 0
EOF
chmod 755 /tmp/dh6.sh
mkdir -p /var/lib/dhcp /var/run /etc
: > /tmp/dh6.conf
timeout 60 dhclient -6 -1 -v -cf /tmp/dh6.conf -sf /tmp/dh6.sh -lf /tmp/dh6.leases -pf /tmp/dh6.pid eth0 </dev/null >/tmp/dh6.log 2>&1
echo "DHCLIENT6-RC=$?"
i=0
while ip -6 addr show dev eth0 | grep -q tentative && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
sed 's/^/DH6LOG /' /tmp/dh6.log
echo "ADDR6 $(ip -6 -o addr show dev eth0 scope global | tr -s ' ')"
ping6 -c 3 -W 5 ${NODE6} </dev/null
echo "PING6-RC=$?"
up ${NODE6} UP6 ${TCP_BYTES / 16 / BLK_BYTES}
down ${NODE6} DOWN6 $((${TCP_BYTES} / 16))
`);
  }
  const inbound = checks.inbound ?? [];
  if (inbound.length > 0) {
    parts.push(`
# Inbound: one listener per port; the test connects from the node to the pod's address.
for p in ${inbound.join(' ')}; do
  echo "guest-$p" > /tmp/reply$p
  timeout 120 nc -l -p $p < /tmp/reply$p > /tmp/in$p &
done
sleep 0.2
echo INBOUND-WAIT
read -r go
for p in ${inbound.join(' ')}; do echo "INBOUND port=$p got=[$(cat /tmp/in$p)]"; done
kill $(jobs -p) 2>/dev/null
`);
  }
  if (checks.renew === true) {
    parts.push(`
# The address server restarts; a client asking again (for its address, -r) keeps it.
echo RENEW-WAIT
read -r go
ip=$(ip -4 -o addr show dev eth0 | sed -n 's/.* inet \\([0-9.]*\\)\\/.*/\\1/p' | head -n1)
TAG=LEASE2 udhcpc -i eth0 -n -q -t 10 -T 2 -r "$ip" -O mtu -O staticroutes -O search -s /tmp/udhcpc.sh </dev/null
echo "UDHCPC2-RC=$?"
`);
  }
  parts.push('exit 0\n');
  return parts.join('');
}

/** The first console line matching `re` (with a capture group 1), or undefined. */
export function marker(consoleText: string, re: RegExp): string | undefined {
  return re.exec(consoleText)?.[1];
}

/** Runs `bindery …` to completion in the test's process namespace; a non-zero exit throws. */
export async function bindery(
  rig: Rig,
  args: readonly string[],
  timeoutMs = 60_000,
): Promise<string> {
  return rig.lab.run('host', [process.execPath, BIN, ...args], { timeoutMs });
}

/** Reads a JSON file. */
export async function readJson(path: string): Promise<unknown> {
  return JSON.parse(await readFile(path, 'utf8')) as unknown;
}

/**
 * Waits until no IPv6 address in `ns` is tentative: a link-local address gets its local route
 * only once DAD is done, and a link pod-net took down and up again restarts DAD.
 */
export async function dadDone(lab: Lab, ns: Netns): Promise<void> {
  const end = Date.now() + 10_000;
  for (;;) {
    const out = (await lab.ip(ns, ['-6', 'addr', 'show', 'tentative'])).trim();
    if (out === '') return;
    if (Date.now() > end) throw new Error(`DAD in ${ns} did not finish:\n${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The fields of `ip -j` and `nft -j` output that do not change by themselves, as one JSON text. */
export async function snapshot(rig: Rig): Promise<Record<string, unknown>> {
  await dadDone(rig.lab, rig.pod);
  const j = async (args: string[]): Promise<unknown[]> =>
    JSON.parse((await rig.lab.ip(rig.pod, ['-j', ...args])) || '[]') as unknown[];
  const pick = (o: unknown, keys: readonly string[]): Record<string, unknown> => {
    const r: Record<string, unknown> = {};
    for (const k of keys) {
      const v = (o as Record<string, unknown>)[k];
      if (v !== undefined) r[k] = v;
    }
    return r;
  };
  const links = (await j(['link', 'show'])).map((l) =>
    pick(l, ['ifindex', 'ifname', 'link_type', 'address', 'mtu', 'master', 'flags']),
  );
  const addrs = (await j(['addr', 'show'])).map((l) => ({
    ifname: (l as { ifname: string }).ifname,
    addrs: ((l as { addr_info?: unknown[] }).addr_info ?? []).map((a) =>
      pick(a, ['family', 'local', 'prefixlen', 'scope']),
    ),
  }));
  const routeKeys = ['type', 'dst', 'gateway', 'dev', 'protocol', 'scope', 'prefsrc', 'metric'];
  // Sorted: the order of a route dump is not part of the state.
  const routes = async (family: string): Promise<string[]> =>
    (await j([family, 'route', 'show', 'table', 'all']))
      .map((r) => JSON.stringify(pick(r, routeKeys)))
      .sort();
  const routes4 = await routes('-4');
  const routes6 = await routes('-6');
  const nft = JSON.parse(
    await rig.lab.run(rig.pod, ['nft', '-j', 'list', 'ruleset'], { timeoutMs: 10_000 }),
  ) as { nftables: Array<Record<string, unknown>> };
  const ruleset = nft.nftables.filter((e) => !('metainfo' in e));
  const sysctls: Record<string, string> = {};
  for (const k of ['net.ipv4.ip_forward', 'net.ipv6.conf.all.forwarding']) {
    sysctls[k] = (await rig.lab.run(rig.pod, ['sysctl', '-n', k], { timeoutMs: 10_000 })).trim();
  }
  return { links, addrs, routes4, routes6, ruleset, sysctls };
}
