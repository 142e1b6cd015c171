// The TCP-through-a-QEMU-guest rig and checks (passt-tcp.test.ts, and over vhost-user test/vhost/): wget, forwards, big transfers, many connections, half-close, refused, a killed peer.
//
// Two boots: one clean, one with BINDERY_IMPAIR. In each, the guest's script gets a DHCP lease
// and its SLAAC address, then reads commands from its serial console (`GuestShell`), so the host
// can act between and during guest commands (serve a forwarded port, kill a peer). The pod side
// is a python asyncio server (`HOST_PEERS`) on the pod's 127.0.0.1 and ::1, reached by the guest
// through the gateway addresses, which bindery maps to the pod's loopback. Content is checked by
// sha256 each time; rates are reported as diagnostics, never judged.
//
// Knobs: BINDERY_QEMU_TCP_BIG (bytes of the transfers kept in guest files, suffix K/M allowed;
// default DEFAULT_BIG), BINDERY_QEMU_TCP_STREAM (bytes streamed each way and family, hashed on
// the fly, never stored; default 1 GiB), BINDERY_QEMU_TCP_BIG_IMPAIRED (the impaired boot's; default 1M),
// BINDERY_QEMU_TCP_CONNS (concurrent connections; default 500), BINDERY_QEMU_TCP_SEED (the
// impairment's seed; default 7). BINDERY_QEMU_TCP_DAEMON=passt runs the same workload through
// Debian's passt instead, to check the harness against the reference (passt has no
// BINDERY_IMPAIR, so its impaired boot is a plain second boot; passt 2023-03 fails the refused
// and guest half-close checks: it sends no RST for a refused loopback connect and no FIN after
// the guest's FIN).
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BinderyError, ErrorCode } from '../../src/errors.js';
import { Lab } from '../lab/lab.js';
import type { LabProcess, Netns } from '../lab/lab.js';
import { QEMU10_BINARY, bootGuest } from '../lab/qemu.js';
import type { Guest } from '../lab/qemu.js';
import type { CpioEntry } from '../lab/initramfs.js';

const BIN = fileURLToPath(new URL('../../bin/bindery.js', import.meta.url));
const PASST = [process.execPath, BIN, 'passt'];
export const USE_PASST = process.env.BINDERY_QEMU_TCP_DAEMON === 'passt';
export const DAEMON = USE_PASST ? 'passt' : 'bindery passt';

/** Default size of the big transfers: about ten seconds each way under TCG. */
const DEFAULT_BIG = 32 * 1024 * 1024;
export const BIG = roundSize(parseSize('BINDERY_QEMU_TCP_BIG') ?? DEFAULT_BIG);
export const CONNS = Number(process.env.BINDERY_QEMU_TCP_CONNS ?? 500);
/**
 * What the guest streams to the pod, over and over: random, and 1 MiB less 3 bytes long, so its
 * repeats never line up with segment boundaries (a lost or doubled segment changes the hash).
 */
export const STREAM_BLOCK = randomBytes(1024 * 1024 - 3);
/** The streamed transfers of the clean boot, each way and each family (never held in guest RAM). */
export const STREAMED = roundSize(parseSize('BINDERY_QEMU_TCP_STREAM') ?? 1024 * 1024 * 1024);
const SMALL = 100_000;
/** The impaired boot's link: 1 % loss and 1 % reordering each way, 20 ms delay (seed from BINDERY_QEMU_TCP_SEED). */
export const IMPAIR = `loss=1,reorder=1,delay=20,seed=${Number(process.env.BINDERY_QEMU_TCP_SEED ?? 7)}`;
/** Size of the impaired boot's big transfers: 1 MiB takes a few seconds each way at 1 % loss. */
export const BIG_IMPAIRED = roundSize(parseSize('BINDERY_QEMU_TCP_BIG_IMPAIRED') ?? 1024 * 1024);

export const GUEST_MAC = '52:54:00:12:34:56';
export const GUEST4 = '10.91.0.15';
export const GW4 = '10.91.0.1';
/** The guest's SLAAC address (prefix of -a, EUI-64 of GUEST_MAC): the same address bindery is told. */
export const GUEST6 = 'fd91::5054:ff:fe12:3456';
export const GW6 = 'fd91::1';

export const HTTP_PORT = 8081;
export const SINK_PORT = 8082;
const HCLOSE_PORT = 8083;
const KILL_PORT = 8084;
const CLOSED_PORT = 8089;
export const GUEST_HTTP_PORT = 8080;
export const FWD_PORT = 18080;
const IPERF_PORT = 5201;
const IPERF_SECONDS = 3;
/** Debian's iperf3, copied into the guest with its libraries when installed. */
export const IPERF3 = existsSync('/usr/bin/iperf3') ? '/usr/bin/iperf3' : undefined;

/** A size from the environment variable `name` ("123", "64K", "16M"), or undefined. */
export function parseSize(name: string): number | undefined {
  const s = process.env[name];
  if (s === undefined || s === '') return undefined;
  const m = /^(\d+)([kKmMgG]?)$/.exec(s.trim());
  if (m === null) throw new BinderyError(ErrorCode.Lab, `${name}: bad size ${s}`);
  const unit = m[2]?.toLowerCase();
  return Number(m[1]) * (unit === 'k' ? 1024 : unit === 'm' ? 1 << 20 : unit === 'g' ? 1 << 30 : 1);
}

/** Whole 64 KiB blocks (the guest makes files with dd bs=65536), at least one. */
export function roundSize(n: number): number {
  return Math.max(65536, Math.floor(n / 65536) * 65536);
}

export const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

// The pod's peers, one asyncio process on 127.0.0.1 and ::1. argv: the file behind /big.
//   HTTP_PORT   GET /head/N (the first N bytes of the file), /c/N ("conn N", 100 lines),
//               /stream/TAG/N (N fresh random bytes; prints "STREAMED TAG N <sha256>"),
//               POST /upload (answers "UPLOAD <sha256> <len>")
//   SINK_PORT   reads to EOF (the guest's half-close), answers "<sha256> <len>", closes
//   HCLOSE_PORT after 64 KiB of a POST body: answers and shuts its write side, reads the rest,
//               prints "HCLOSE <sha256> <len> shut-at <n>"
// Every line it prints starts with a word the test waits on; times are for the report only.
const HOST_PEERS = `
import asyncio, hashlib, os, sys, time
BIG = open(sys.argv[1], 'rb').read()
def log(*a): print(*a, flush=True)
async def head(r):
    h = await r.readuntil(b'\\r\\n\\r\\n')
    lines = h.decode('latin1').split('\\r\\n')
    method, path = lines[0].split(' ')[:2]
    clen = 0
    for l in lines[1:]:
        if l.lower().startswith('content-length:'): clen = int(l.split(':')[1])
    return method, path, clen
async def http(r, w):
    path = '?'
    try:
        method, path, clen = await head(r)
        body = await r.readexactly(clen) if clen else b''
        if path.startswith('/stream/'):
            tag, n = path.split('/')[2], int(path.split('/')[3])
            w.write(b'HTTP/1.0 200 OK\\r\\nContent-Length: %d\\r\\nConnection: close\\r\\n\\r\\n' % n)
            h = hashlib.sha256(); left = n; t0 = time.monotonic()
            while left > 0:
                b = os.urandom(min(left, 1 << 20)); h.update(b); w.write(b); left -= len(b)
                await w.drain()
            log('STREAMED', tag, n, h.hexdigest(), '%.3f' % (time.monotonic() - t0))
            return
        if path.startswith('/head/'): data = BIG[:int(path[6:])]
        elif path == '/upload': data = ('UPLOAD %s %d\\n' % (hashlib.sha256(body).hexdigest(), len(body))).encode()
        elif path.startswith('/c/'): data = ('conn %s\\n' % path[3:]).encode() * 100
        else: data = None
        if data is None:
            w.write(b'HTTP/1.0 404 Not Found\\r\\nContent-Length: 0\\r\\n\\r\\n')
        else:
            t0 = time.monotonic()
            w.write(b'HTTP/1.0 200 OK\\r\\nContent-Length: %d\\r\\nConnection: close\\r\\n\\r\\n' % len(data))
            w.write(data)
            await w.drain()
            if len(data) > 1000000: log('SERVED', path, len(data), '%.3f' % (time.monotonic() - t0))
    except Exception as e:
        log('HTTP-ERROR', path, repr(e))
    finally:
        w.close()
async def sink(r, w):
    h = hashlib.sha256(); n = 0; t0 = None
    try:
        while True:
            b = await r.read(262144)
            if not b: break
            if t0 is None: t0 = time.monotonic()
            h.update(b); n += len(b)
        w.write(('%s %d\\n' % (h.hexdigest(), n)).encode())
        await w.drain()
        log('SINK', h.hexdigest(), n, '%.3f' % (time.monotonic() - (t0 or time.monotonic())))
    except Exception as e:
        log('SINK-ERROR', n, repr(e))
    finally:
        w.close()
async def hclose(r, w):
    n = 0
    try:
        method, path, clen = await head(r)
        first = await r.readexactly(min(65536, clen))
        w.write(b'HTTP/1.0 200 OK\\r\\nContent-Length: 6\\r\\n\\r\\nearly\\n')
        await w.drain()
        w.write_eof()
        h = hashlib.sha256(first); n = len(first)
        while True:
            b = await r.read(262144)
            if not b: break
            h.update(b); n += len(b)
        log('HCLOSE', h.hexdigest(), n, 'shut-at', len(first))
    except Exception as e:
        log('HCLOSE-ERROR', n, repr(e))
    finally:
        w.close()
async def main():
    for port, fn in ((${HTTP_PORT}, http), (${SINK_PORT}, sink), (${HCLOSE_PORT}, hclose)):
        await asyncio.start_server(fn, ['127.0.0.1', '::1'], port, backlog=4096, reuse_address=True)
    log('peers ready')
    await asyncio.Event().wait()
asyncio.run(main())
`;

// A peer that never reads the request and streams an endless body, printing "SENT <bytes>" per
// MiB; the test SIGKILLs it mid-transfer. Plain blocking sockets, so the request really stays
// unread in the kernel (asyncio would read it): the kernel then answers the kill with an RST.
const KILL_PEER = `
import socket
s = socket.create_server(('127.0.0.1', ${KILL_PORT}))
print('kill peer ready', flush=True)
c, _ = s.accept()
# The guest's request is left unread (peeked only), so the kill aborts the connection with an
# RST rather than an orderly FIN: a TCG guest is slow enough that without this wait the server
# can fill the translator's socket buffer and be killed before the request has even arrived.
c.recv(1, socket.MSG_PEEK)
print('request unread', flush=True)
c.sendall(b'HTTP/1.0 200 OK\\r\\nContent-Length: 1073741824\\r\\n\\r\\n')
chunk = b'k' * 65536; n = 0
while True:
    c.sendall(chunk); n += len(chunk)
    if n % 1048576 == 0: print('SENT', n, flush=True)
`;

// The guest: lease, SLAAC, then a command loop on the serial console. Each line is "<id> <cmd>";
// the output is framed by @@BEGIN/@@END markers. Helpers are shell functions.
const GUEST_SCRIPT = `
cat > /tmp/udhcpc.sh <<'EOF'
#!/bin/sh
case "$1" in
  deconfig) ip -4 addr flush dev "$interface" ;;
  bound|renew)
    [ -n "$mtu" ] && [ -z "$KEEP_MTU" ] && ip link set dev "$interface" mtu "$mtu"
    ip addr add "$ip/$mask" dev "$interface"
    ip route add default via "$router"
    echo "LEASE ip=$ip router=$router mtu=$mtu"
    ;;
esac
exit 0
EOF
chmod 755 /tmp/udhcpc.sh
# SLAAC first: Router Solicitations every second until an RA
# comes (the default gives up after three), the link bounced so the kernel solicits again with
# these settings, and bounced once more if no address is usable after 10 s.
sysctl -q -w net.ipv6.conf.eth0.router_solicitations=-1 net.ipv6.conf.eth0.router_solicitation_interval=1 net.ipv6.conf.eth0.router_solicitation_max_interval=1
for try in 1 2 3; do
  ip link set eth0 down; ip link set eth0 up
  i=0
  while [ $i -lt 100 ]; do
    ip -6 addr show dev eth0 scope global | grep inet6 | grep -qv tentative && break 2
    sleep 0.1; i=$((i+1))
  done
  echo "SLAAC: no address after try $try"
done
udhcpc -i eth0 -n -q -t 5 -s /tmp/udhcpc.sh
echo "UDHCPC-RC=$?"
ip -6 addr show dev eth0 scope global

# get URL: sha256 of the body, then wget's status
get() { timeout \${GT:-60} wget -q -O - "$1" > /tmp/get.out; r=$?; echo "GET sha=$(sha256sum < /tmp/get.out | cut -d' ' -f1) len=$(wc -c < /tmp/get.out) rc=$r"; rm -f /tmp/get.out; }
# getsum URL: the body's sha256 as it streams past (nothing kept in the guest's RAM), wget's status
getsum() { s=$( { timeout \${GT:-60} wget -q -O - "$1"; echo $? > /tmp/get.rc; } | sha256sum | cut -d' ' -f1); echo "GETSUM sha=$s rc=$(cat /tmp/get.rc)"; rm -f /tmp/get.rc; }
# sendblk HOST PORT N: /blk (random, from the test) N times through nc (stdin EOF half-closes),
# then the peer's answer; the test knows the stream's sha256, so the guest's CPU only copies
sendblk() { i=0; while [ $i -lt $3 ]; do cat /blk; i=$((i+1)); done | timeout \${GT:-60} nc "$1" "$2" > /tmp/send.out; r=$?; echo "SENTBLK reply=$(cat /tmp/send.out) rc=$r"; rm -f /tmp/send.out; }
# mkfile PATH BYTES: random content; prints its sha256
mkfile() { dd if=/dev/urandom of="$1" bs=65536 count=$(($2 / 65536)) 2>/dev/null; echo "FILE sha=$(sha256sum < "$1" | cut -d' ' -f1) len=$(wc -c < "$1")"; }
# send HOST PORT FILE: the file through nc (stdin EOF half-closes), then the peer's answer
send() { timeout \${GT:-60} nc "$1" "$2" < "$3" > /tmp/send.out; r=$?; echo "SENT-REPLY $(cat /tmp/send.out) rc=$r"; rm -f /tmp/send.out; }
# many HOST PORT N: N concurrent wgets of /c/I, each body checked
many() {
  i=1
  while [ $i -le $3 ]; do timeout \${GT:-60} wget -q -O /tmp/m.$i "http://$1:$2/c/$i" 2>/tmp/e.$i & i=$((i+1)); done
  wait
  ok=0; i=1; bad=""
  while [ $i -le $3 ]; do
    if [ "$(grep -cx "conn $i" /tmp/m.$i 2>/dev/null)" = 100 ] && [ "$(wc -l < /tmp/m.$i)" = 100 ]; then ok=$((ok+1)); else bad="$bad $i:$(cat /tmp/e.$i)"; fi
    i=$((i+1))
  done
  rm -f /tmp/m.* /tmp/e.*
  echo "MANY ok=$ok of $3"
  [ -n "$bad" ] && echo "MANY-BAD $bad" | head -c 2000
  echo
}

stty -echo
echo "@@SHELL"
while IFS= read -r line; do
  id=\${line%% *}; cmd=\${line#* }
  echo "@@BEGIN $id"
  eval "$cmd" < /dev/null 2>&1
  echo "@@END $id rc=$?"
done
`;

/** A command's result in the guest. */
export interface GuestRun {
  readonly rc: number;
  readonly out: string;
  readonly ms: number;
}

/** Runs commands in the guest's console loop, one at a time. */
export class GuestShell {
  private n = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private stuck: string | undefined;

  constructor(
    private readonly guest: Guest,
    private readonly context: () => string = () => '',
  ) {}

  /** Runs `cmd` (one line of busybox sh, stdin /dev/null) and returns its output and status. */
  run(cmd: string, timeoutMs = 90_000): Promise<GuestRun> {
    const p = this.queue.then(() => this.runNow(cmd, timeoutMs));
    this.queue = p.catch(() => undefined);
    return p;
  }

  private async runNow(cmd: string, timeoutMs: number): Promise<GuestRun> {
    // The console loop runs one command at a time: after a hang, nothing more gets through.
    if (this.stuck !== undefined)
      throw new BinderyError(ErrorCode.Lab, `guest shell stuck since: ${this.stuck}`);
    const id = `c${++this.n}`;
    const started = Date.now();
    this.guest.write(`${id} ${cmd}\n`);
    const m = await this.guest
      .waitForConsole(new RegExp(`@@END ${id} rc=(\\d+)`), timeoutMs)
      .catch((e: Error) => {
        this.stuck = cmd;
        throw new BinderyError(ErrorCode.Timeout, `guest: ${cmd}\n${e.message}\n${this.context()}`);
      });
    const all = this.guest.console.replace(/\r/g, '');
    const begin = all.indexOf(`@@BEGIN ${id}\n`);
    const end = all.indexOf(`@@END ${id} rc=`);
    const out = begin < 0 ? '' : all.slice(begin + `@@BEGIN ${id}\n`.length, end);
    return { rc: Number(m[1]), out, ms: Date.now() - started };
  }
}

export const mbps = (bytes: number, ms: number): string => ((bytes * 8) / (ms * 1000)).toFixed(1);

/** The pod: a namespace with a veth to a lab peer (both families' default routes) and the peers. */
export interface Pod {
  readonly lab: Lab;
  readonly ns: Netns;
  readonly dir: string;
  readonly peers: LabProcess;
  readonly big: Buffer;
}

export async function makePod(lab: Lab): Promise<Pod> {
  const ns = await lab.namespace('pod');
  const up = await lab.namespace('up');
  // A template interface with default routes, as passt expects in a pod; nothing leaves the lab.
  await lab.veth(ns, up, {
    addrsA: ['10.90.0.2/24', 'fd90::2/64'],
    addrsB: ['10.90.0.1/24', 'fd90::1/64'],
  });
  await lab.ip(ns, ['route', 'add', 'default', 'via', '10.90.0.1']);
  await lab.ip(ns, ['-6', 'route', 'add', 'default', 'via', 'fd90::1']);
  const dir = await lab.tmpDir();
  const big = randomBytes(BIG);
  await writeFile(join(dir, 'big'), big);
  const peers = lab.spawn(ns, ['python3', '-u', '-c', HOST_PEERS, join(dir, 'big')], {
    label: 'pod peers',
  });
  await peers.waitForOutput(/peers ready/, 20_000);
  return { lab, ns, dir, peers, big };
}

export async function startDaemon(
  pod: Pod,
  sock: string,
  env: Readonly<Record<string, string>>,
  link: {
    readonly vhostUser?: boolean;
    readonly oneOff?: boolean;
    readonly args?: readonly string[];
  } = {},
): Promise<LabProcess> {
  const common = [
    '-f',
    ...(link.oneOff === false ? [] : ['-1']),
    ...(link.vhostUser === true ? ['--vhost-user'] : []),
    '-s',
    sock,
    '-a',
    GUEST4,
    '-n',
    '24',
    '-g',
    GW4,
    '-a',
    GUEST6,
    '-g',
    GW6,
    '-t',
    `${FWD_PORT}:${GUEST_HTTP_PORT}`,
    '-u',
    'none',
    ...(link.args ?? []),
  ];
  // passt would switch to nobody, who cannot bind in the lab's 0700 temp dir.
  const argv = USE_PASST
    ? ['passt', '--runas', '0', ...common]
    : [...PASST, '--log-file', join(pod.dir, 'daemon.log'), ...common];
  const daemon = pod.lab.spawn(pod.ns, argv, { label: DAEMON, env });
  const end = Date.now() + 30_000;
  while (!existsSync(sock)) {
    if (daemon.exitStatus !== undefined || Date.now() > end)
      throw new BinderyError(ErrorCode.Lab, `${DAEMON} did not bind ${sock}:\n${daemon.output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return daemon;
}

/** Boots the guest on `sock` and waits for its command loop. */
export async function bootShell(
  t: TestContext,
  lab: Lab,
  sock: string,
  opts: RigOptions,
): Promise<Guest> {
  const guest = await bootGuest(lab, {
    ...(opts.vhostUser === true
      ? { vhostUser: sock, qemu: opts.qemu ?? QEMU10_BINARY, queues: opts.queues ?? 1 }
      : { socketPath: sock, ...(opts.qemu !== undefined ? { qemu: opts.qemu } : {}) }),
    smp: opts.smp ?? 1,
    script: `export KEEP_MTU=${opts.keepMtu === true ? 1 : ''}\n${GUEST_SCRIPT}`,
    mac: GUEST_MAC,
    ...(opts.deviceProps !== undefined ? { deviceProps: opts.deviceProps } : {}),
    memMb: 256 + Math.ceil((3 * BIG) / (1024 * 1024)),
    consoleInput: true,
    extraFiles: opts.extraFiles ?? [],
    timeoutMs: opts.lifetimeMs ?? 300_000,
  });
  await guest.waitReady(60_000);
  await guest.waitForConsole(/@@SHELL/, 60_000);
  t.diagnostic(`guest shell up ${Date.now() - guest.startedAt} ms after QEMU started`);
  return guest;
}

/** Hosts to reach the pod's loopback from the guest, per family. */
export const FAMILIES = [
  { name: 'IPv4', gw: GW4, url: GW4, loop: '127.0.0.1' },
  { name: 'IPv6', gw: GW6, url: `[${GW6}]`, loop: '[::1]' },
] as const;

/** curl in the pod: the body's sha256 and length. */
export async function curlPod(
  pod: Pod,
  url: string,
): Promise<{ code: number; sha: string; len: number }> {
  const out = join(pod.dir, `curl-${Date.now()}`);
  const r = await pod.lab.exec(pod.ns, ['curl', '-sS', '-g', '--max-time', '60', '-o', out, url], {
    timeoutMs: 90_000,
  });
  if (r.code !== 0) return { code: r.code ?? -1, sha: r.stderr.trim(), len: 0 };
  const body = await readFile(out);
  return { code: 0, sha: sha256(body), len: body.length };
}

/** One booted guest on one daemon, and what the checks need. */
export interface Rig {
  readonly lab: Lab;
  /** The daemon's socket (stream or vhost-user). */
  readonly sock: string;
  readonly pod: Pod;
  readonly daemon: LabProcess;
  readonly guest: Guest;
  readonly sh: GuestShell;
  readonly context: () => string;
}

/** How to set a rig up. */
export interface RigOptions {
  /** `--vhost-user` on QEMU 10 instead of the stream socket on Debian's QEMU. */
  readonly vhostUser?: boolean;
  /** The QEMU binary (default: QEMU 10 for vhost-user, Debian's otherwise). */
  readonly qemu?: string;
  /** Run the daemon with `-1` (default true). */
  readonly oneOff?: boolean;
  /** Environment of the daemon (BINDERY_IMPAIR). */
  readonly env?: Readonly<Record<string, string>>;
  /** More files for the guest (iperf3). */
  readonly extraFiles?: readonly CpioEntry[];
  /** The guest keeps MTU 1500 instead of the DHCP MTU (65520): many more frames to lose. */
  readonly keepMtu?: boolean;
  /** How long QEMU may run before it is killed (default 300 s). */
  readonly lifetimeMs?: number;
  /** The guest's vCPUs (default 1). */
  readonly smp?: number;
  /** vhost-user queue pairs (default 1; more turns on the device's `mq`). */
  readonly queues?: number;
  /** More daemon arguments, given the pod's directory (e.g. `-m 1500 -c DIR/ctl.sock`). */
  readonly daemonArgs?: (podDir: string) => readonly string[];
  /** More virtio-net-pci properties of the guest's NIC (e.g. `guest_tso4=off`). */
  readonly deviceProps?: string;
}

export async function rig(t: TestContext, opts: RigOptions): Promise<Rig> {
  const lab = await Lab.create(t);
  const pod = await makePod(lab);
  const sock = join(pod.dir, 'passt.sock');
  const daemon = await startDaemon(pod, sock, opts.env ?? {}, {
    ...opts,
    ...(opts.daemonArgs ? { args: opts.daemonArgs(pod.dir) } : {}),
  });
  const guest = await bootShell(t, lab, sock, opts);
  const context = (): string =>
    `console:\n${guest.console.slice(-3000)}\n${DAEMON}:\n${daemon.output.slice(-2000)}\npeers:\n${pod.peers.output.slice(-1500)}`;
  return { lab, sock, pod, daemon, guest, sh: new GuestShell(guest, context), context };
}

export const fileOf = (out: string, context: () => string): { sha: string; len: number } => {
  const m = /FILE sha=([0-9a-f]{64}) len=(\d+)/.exec(out);
  assert.ok(m, `no FILE line in:\n${out}\n${context()}`);
  return { sha: m[1]!, len: Number(m[2]) };
};

/** 1: wget to the pod's loopback, a guest httpd reached through the forward; both families. */
export async function checkReach(t: TestContext, r: Rig): Promise<void> {
  const { sh, pod, context } = r;
  await t.test('the guest has its lease and its SLAAC address', async () => {
    assert.match(
      r.guest.console,
      /LEASE ip=10\.91\.0\.15 router=10\.91\.0\.1 mtu=65520/,
      context(),
    );
    const v6 = await sh.run(
      "ip -6 addr show dev eth0; ip -6 route; grep -E 'Icmp6(In|Out)(RouterSolicits|RouterAdvertisements|NeighborSolicits)' /proc/net/snmp6",
    );
    assert.match(v6.out, new RegExp(`inet6 ${GUEST6}/64 scope global`), v6.out);
  });
  const want = sha256(pod.big.subarray(0, SMALL));
  for (const f of FAMILIES) {
    await t.test(`${f.name}: wget from the guest to the pod's loopback via ${f.gw}`, async () => {
      const g = await sh.run(`get http://${f.url}:${HTTP_PORT}/head/${SMALL}`);
      assert.match(g.out, new RegExp(`GET sha=${want} len=${SMALL} rc=0`), context());
    });
  }
  let page = { sha: '', len: 0 };
  await t.test(`the guest serves a page with busybox httpd on :${GUEST_HTTP_PORT}`, async () => {
    const g = await sh.run(
      `mkdir -p /www && mkfile /www/page 131072 && httpd -p ${GUEST_HTTP_PORT} -h /www && echo HTTPD-UP`,
    );
    assert.match(g.out, /HTTPD-UP/, context());
    page = fileOf(g.out, context);
  });
  for (const f of FAMILIES) {
    await t.test(
      `${f.name}: the pod reaches it at ${f.loop}:${FWD_PORT} (-t ${FWD_PORT}:${GUEST_HTTP_PORT})`,
      async () => {
        const got = await curlPod(pod, `http://${f.loop}:${FWD_PORT}/page`);
        assert.deepEqual(got, { code: 0, ...page }, context());
      },
    );
  }
}

/** 2: `size` bytes each way, sha256 checked; rates reported. */
export async function checkBig(t: TestContext, r: Rig, size: number): Promise<void> {
  const { sh, pod, context } = r;
  await t.test(`pod → guest: ${size} bytes by wget, sha256 in the guest`, async () => {
    const want = sha256(pod.big.subarray(0, size));
    const g = await sh.run(`GT=150 get http://${GW4}:${HTTP_PORT}/head/${size}`, 180_000);
    t.diagnostic(
      `pod → guest wget: ${size} B in ${g.ms} ms = ${mbps(size, g.ms)} Mbit/s (guest hashing too)`,
    );
    assert.match(g.out, new RegExp(`GET sha=${want} len=${size} rc=0`), context());
  });
  await t.test(`guest → pod: ${size} bytes by wget --post-file, sha256 in the pod`, async () => {
    // busybox wget posts a file as a C string: base64 text, so there is no NUL in it.
    const made = await sh.run(
      `dd if=/dev/urandom bs=65536 count=${Math.ceil(size / 65536)} 2>/dev/null | base64 | head -c ${size} > /tmp/up && echo "FILE sha=$(sha256sum < /tmp/up | cut -d' ' -f1) len=$(wc -c < /tmp/up)"`,
      120_000,
    );
    const file = fileOf(made.out, context);
    const g = await sh.run(
      `timeout 150 wget -q -O - --post-file /tmp/up http://${GW4}:${HTTP_PORT}/upload; echo WGET-RC=$?; rm -f /tmp/up`,
      180_000,
    );
    t.diagnostic(
      `guest → pod wget --post-file: ${size} B in ${g.ms} ms = ${mbps(size, g.ms)} Mbit/s`,
    );
    assert.match(g.out, new RegExp(`UPLOAD ${file.sha} ${file.len}\\nWGET-RC=0`), context());
  });
  await t.test(
    `guest → pod through the forward: ${size} bytes by curl from the guest's httpd`,
    async () => {
      const made = await sh.run(`mkfile /www/big ${size}`, 120_000);
      const file = fileOf(made.out, context);
      const started = Date.now();
      const got = await curlPod(pod, `http://127.0.0.1:${FWD_PORT}/big`);
      const ms = Date.now() - started;
      t.diagnostic(`guest httpd → pod curl: ${size} B in ${ms} ms = ${mbps(size, ms)} Mbit/s`);
      assert.deepEqual(got, { code: 0, ...file }, context());
      await sh.run('rm -f /www/big');
    },
  );
}

/** Time allowed for one streamed transfer: TCG moves some tens of Mbit/s while the guest hashes too. */
export function streamSecs(size: number): number {
  return Math.max(120, Math.ceil(size / (1024 * 1024)));
}

/** How long the clean boot may take: 5 min for everything but the streamed transfers, plus theirs. */
export const CLEAN_BOOT_MS = 300_000 + 4 * (streamSecs(STREAMED) + 30) * 1000;

/**
 * 2b: `size` bytes streamed each way in each family, hashed on the fly at both ends.
 *
 * @param sizeOf - Another size for some family (e.g. the full 1 GiB over IPv4 only).
 */
export async function checkStreamed(
  t: TestContext,
  r: Rig,
  streamed: number,
  sizeOf: (family: (typeof FAMILIES)[number]['name']) => number = () => streamed,
): Promise<void> {
  for (const f of FAMILIES) {
    const size = sizeOf(f.name);
    const secs = streamSecs(size);
    await t.test(
      `${f.name}: pod → guest: ${size} bytes streamed by wget, sha256 both ends`,
      async () => {
        const tag = `${f.name}-${Date.now()}`;
        const g = await r.sh.run(
          `GT=${secs} getsum http://${f.url}:${HTTP_PORT}/stream/${tag}/${size}`,
          (secs + 30) * 1000,
        );
        const served = await r.pod.peers.waitForOutput(
          new RegExp(`STREAMED ${tag} ${size} ([0-9a-f]{64})`),
          10_000,
        );
        t.diagnostic(`pod → guest ${f.name}: ${size} B in ${g.ms} ms = ${mbps(size, g.ms)} Mbit/s`);
        assert.match(g.out, new RegExp(`GETSUM sha=${served[1]} rc=0`), r.context());
      },
    );
    const count = Math.ceil(size / STREAM_BLOCK.length);
    const total = count * STREAM_BLOCK.length;
    await t.test(
      `${f.name}: guest → pod: ${total} bytes streamed by nc, sha256 in the pod`,
      async () => {
        const h = createHash('sha256');
        for (let k = 0; k < count; k++) h.update(STREAM_BLOCK);
        const want = h.digest('hex');
        const g = await r.sh.run(
          `GT=${secs} sendblk ${f.gw} ${SINK_PORT} ${count}`,
          (secs + 30) * 1000,
        );
        t.diagnostic(
          `guest → pod ${f.name}: ${total} B in ${g.ms} ms = ${mbps(total, g.ms)} Mbit/s`,
        );
        assert.match(g.out, new RegExp(`SENTBLK reply=${want} ${total} rc=0`), r.context());
      },
    );
  }
}

/** 5: a connect to a port nothing listens on fails with "Connection refused", both families. */
export async function checkRefused(t: TestContext, r: Rig): Promise<void> {
  for (const f of FAMILIES) {
    await t.test(`${f.name}: a connect to a closed port is refused, not timed out`, async () => {
      const host = f.url.replace(/[[\]]/g, '');
      const g = await r.sh.run(
        `timeout 20 nc ${host} ${CLOSED_PORT}; echo NC-RC=$?; timeout 20 wget -q -O - http://${f.url}:${CLOSED_PORT}/; echo WGET-RC=$?`,
      );
      // busybox: "can't connect to remote host (…): Connection refused"; a timeout says "timed out"
      // (or `timeout` ends it: rc 143).
      assert.match(g.out, /Connection refused\nNC-RC=1\n/, r.context());
      assert.match(g.out, /Connection refused\nWGET-RC=1\n/, r.context());
    });
  }
}

/** 3: many concurrent connections from the guest. */
export async function checkMany(t: TestContext, r: Rig, n: number): Promise<void> {
  await t.test(`${n} concurrent connections from the guest, each body checked`, async () => {
    const g = await r.sh.run(`GT=150 many ${GW4} ${HTTP_PORT} ${n}`, 180_000);
    t.diagnostic(`${n} concurrent wgets done in ${g.ms} ms`);
    assert.match(g.out, new RegExp(`MANY ok=${n} of ${n}`), r.context());
  });
}

/** 4: half-close from either side, both families. */
export async function checkHalfClose(t: TestContext, r: Rig): Promise<void> {
  for (const f of FAMILIES) {
    const host = f.url.replace(/[[\]]/g, '');
    await t.test(
      `${f.name}: the pod shuts its write side while the guest still sends`,
      async () => {
        const g = await r.sh.run(
          `dd if=/dev/urandom bs=65536 count=48 2>/dev/null | base64 > /tmp/hc && echo "FILE sha=$(sha256sum < /tmp/hc | cut -d' ' -f1) len=$(wc -c < /tmp/hc)" && timeout 60 wget -q -O - --post-file /tmp/hc http://${f.url}:${HCLOSE_PORT}/; echo WGET-RC=$?`,
        );
        const file = fileOf(g.out, r.context);
        assert.match(g.out, /early\nWGET-RC=0/, r.context());
        await r.pod.peers.waitForOutput(
          new RegExp(`HCLOSE ${file.sha} ${file.len} shut-at 65536`),
          30_000,
        );
      },
    );
    await t.test(
      `${f.name}: the guest shuts its write side (nc, stdin EOF) and still receives`,
      async () => {
        const g = await r.sh.run(
          `mkfile /tmp/hc 1048576 && GT=30 send ${host} ${SINK_PORT} /tmp/hc`,
        );
        const file = fileOf(g.out, r.context);
        assert.match(g.out, new RegExp(`SENT-REPLY ${file.sha} ${file.len} rc=0`), r.context());
      },
    );
  }
}

/**
 * bindery's TCP counters as the daemon logs them on SIGUSR1 (`counters now: tcp {…}`): sends
 * the signal and waits, with a deadline, for one more such line in its --log-file.
 */
async function tcpCountersNow(r: Rig): Promise<Record<string, number>> {
  const logPath = join(r.pod.dir, 'daemon.log');
  const lines = async () => [
    ...(await readFile(logPath, 'utf8').catch(() => '')).matchAll(/counters now: tcp (\{.*\})/g),
  ];
  const before = (await lines()).length;
  process.kill(r.daemon.pid, 'SIGUSR1');
  const end = Date.now() + 10_000;
  for (;;) {
    const got = await lines();
    if (got.length > before) return JSON.parse(got[got.length - 1]![1]!) as Record<string, number>;
    if (Date.now() > end)
      throw new BinderyError(ErrorCode.Lab, `no counters after SIGUSR1 in ${logPath}`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

/** 6: the pod's peer dies by SIGKILL mid-transfer. */
export async function checkKilledPeer(t: TestContext, r: Rig): Promise<void> {
  await t.test(
    'a pod peer SIGKILLed mid-transfer: the guest gets a reset, not EOF or a hang',
    async () => {
      const peer = r.lab.spawn(r.pod.ns, ['python3', '-u', '-c', KILL_PEER], {
        label: 'kill peer',
      });
      await peer.waitForOutput(/kill peer ready/, 20_000);
      const run = r.sh.run(
        `timeout 90 wget -q -O /dev/null http://${GW4}:${KILL_PORT}/; echo WGET-RC=$?`,
        120_000,
      );
      await peer.waitForOutput(/request unread/, 60_000);
      await peer.waitForOutput(/SENT 2097152/, 60_000);
      const before = USE_PASST ? undefined : await tcpCountersNow(r);
      await peer.kill('SIGKILL', 0);
      const g = await run;
      t.diagnostic(`guest saw: ${g.out.trim().split('\n').slice(-2).join(' | ')}`);
      // The transfer fails at once (not busybox timeout ending a hung wget: 143). Which message
      // wget prints does not tell RST from FIN: when the RST lands while data is still queued,
      // busybox wget's fread() returns the data and swallows the ECONNRESET, and the next read
      // sees the end of the stream ("closed prematurely"). So the reset is checked where it is
      // made: the peer's kernel aborts (the request sits unread in its socket), and bindery must
      // pass that on to the guest as exactly one RST, never as a FIN.
      assert.match(g.out, /(reset by peer|closed prematurely)\nWGET-RC=1\n/, r.context());
      if (before !== undefined) {
        const after = await tcpCountersNow(r);
        assert.equal(after.resetsToGuest! - before.resetsToGuest!, 1, r.context());
      }
    },
  );
}

/** Throughput by iperf3 (in the initramfs with its libraries), each way and family; reported, not judged. */
export async function checkIperf(t: TestContext, r: Rig): Promise<void> {
  await t.test('iperf3 from the guest to the pod, each way, IPv4 and IPv6', async () => {
    // No -B: the server takes both families (inside the pod's namespace only).
    const srv = r.lab.spawn(r.pod.ns, ['iperf3', '-s', '--forceflush', '-p', String(IPERF_PORT)], {
      label: 'iperf3 -s',
    });
    await srv.waitForOutput(/Server listening/, 10_000);
    for (const f of FAMILIES) {
      for (const [dir, flag] of [
        ['guest → pod', ''],
        ['pod → guest', '-R'],
      ] as const) {
        const g = await r.sh.run(
          `timeout 40 iperf3 -c ${f.gw} -p ${IPERF_PORT} -t ${IPERF_SECONDS} -f m ${flag} 2>&1 | grep -E 'receiver|error'; echo IPERF-RC=$?`,
          60_000,
        );
        const m = /([\d.]+) Mbits\/sec\s+receiver/.exec(g.out);
        assert.ok(m, `${g.out}\n${r.context()}\niperf3 -s:\n${srv.output.slice(-1500)}`);
        t.diagnostic(`iperf3 ${f.name} ${dir}: ${m[1]} Mbit/s over ${IPERF_SECONDS} s`);
      }
    }
  });
}

/** The guest powers off; a one-off daemon then exits 0. */
export async function checkLeave(
  t: TestContext,
  r: Rig,
): Promise<Record<string, number> | undefined> {
  await t.test('the guest leaves; the one-off daemon exits 0', async () => {
    r.guest.write('bye exit 0\n');
    assert.equal(await r.guest.waitForExit(30_000), 0);
    let timer: NodeJS.Timeout | undefined;
    const st = await Promise.race([
      r.daemon.exited,
      new Promise<undefined>((res) => (timer = setTimeout(() => res(undefined), 30_000))),
    ]).finally(() => clearTimeout(timer));
    assert.ok(
      st !== undefined,
      `${DAEMON} still running 30 s after the guest left\n${r.context()}`,
    );
    assert.equal(st.code, 0, r.context());
  });
  // bindery passt logs its TCP counters to its --log-file when it stops.
  const log = await readFile(join(r.pod.dir, 'daemon.log'), 'utf8').catch(() => '');
  const m = /tcp counters (\{.*\})/.exec(log);
  if (m === null) return undefined;
  t.diagnostic(`${DAEMON} tcp counters: ${m[1]}`);
  return JSON.parse(m[1]!) as Record<string, number>;
}
