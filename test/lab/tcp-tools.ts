// TCP test tools for the lab: a guest/pod pair joined by a translator (bindery passt or Debian's pasta) on a tap, and a python3 peer that moves and checks data.
//
// The pair. A "pod" namespace is the translator's host side; it holds a veth (both ends inside
// it, no peer anywhere else) with 192.168.77.1/24 and fd00:77::1/64 and default routes through
// it, so pasta finds a template interface; nothing leaves the lab. A "guest" namespace holds
// the tap: 10.0.2.15/24 via 10.0.2.2 and fd00:bd::15/64 via fd00:bd::2, MTU 65520, configured
// statically (no RA, no DAD). Both translators map the gateway addresses to the pod's loopback
// and forward the pod's TCP ports FWD_HOST_BASE.. to the guest's FWD_GUEST_BASE...
//
// The peer (TCP_TOOL, python3, one file written to the lab's temp dir). Every byte stream it
// sends is a seeded pseudo-random stream; both ends hash what they send and receive (SHA-256)
// and print one JSON report, so a test compares the sender's and the receiver's digests.
//   talk listen|connect ADDR PORT NSEND PLAN [SEED] [TIMEOUT_S] [KEEPALIVE_S]
//     PLAN send-then-read: send NSEND bytes while reading, shutdown(SHUT_WR), read to EOF.
//     PLAN read-then-send: read to EOF, then send NSEND bytes, then close.
//     PLAN hold:           send NSEND bytes, print "holding", then wait forever (to be killed).
//     A listener prints "ready" once listening and serves one connection.
//     KEEPALIVE_S > 0: TCP keepalive probes every KEEPALIVE_S seconds of silence, so an idle
//     end still sends segments (and learns of a reset it missed: the RST is never resent).
//   echo ADDR PORT                    echo server (reads to EOF, writes it back), any number of peers.
//   many ADDR PORT N [TIMEOUT_S]      N connections open at once, each echoes a unique payload.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { uniqueIfName } from './lab.js';
import type { Lab, LabProcess, Netns } from './lab.js';

/** The guest's side of each family, and the pod's own addresses. */
export const GUEST4 = '10.0.2.15';
export const GW4 = '10.0.2.2';
export const GUEST6 = 'fd00:bd::15';
export const GW6 = 'fd00:bd::2';
export const POD4 = '192.168.77.1';
export const POD6 = 'fd00:77::1';
/** Tap MTU (the translators' default). */
export const TAP_MTU = 65520;
/** Inbound forwards: pod port FWD_HOST_BASE + i reaches guest port FWD_GUEST_BASE + i. */
export const FWD_HOST_BASE = 18080;
export const FWD_GUEST_BASE = 8080;
export const FWD_COUNT = 40;

/** One address family as the tests see it. */
export interface Family {
  readonly name: 'IPv4' | 'IPv6';
  /** The guest's address. */
  readonly guest: string;
  /** The gateway as the guest sees it (mapped to the pod's loopback). */
  readonly gateway: string;
  /** The pod's loopback address. */
  readonly loopback: string;
  /** The guest's wildcard address for listeners. */
  readonly any: string;
  /** `host:port` text for URLs. */
  readonly url: (addr: string, port: number) => string;
}

export const FAMILIES: readonly Family[] = [
  {
    name: 'IPv4',
    guest: GUEST4,
    gateway: GW4,
    loopback: '127.0.0.1',
    any: '0.0.0.0',
    url: (a, p) => `http://${a}:${p}`,
  },
  {
    name: 'IPv6',
    guest: GUEST6,
    gateway: GW6,
    loopback: '::1',
    any: '::',
    url: (a, p) => `http://[${a}]:${p}`,
  },
];

/** Which translator serves the tap. */
export type TranslatorKind = 'bindery' | 'pasta';

/** A running pod/guest pair. */
export interface TcpLink {
  readonly kind: TranslatorKind;
  readonly pod: Netns;
  readonly guest: Netns;
  /** The tap's name in the guest. */
  readonly tap: string;
  /** The translator process. */
  readonly proc: LabProcess;
  /** A temp dir of the lab (the peer script lives there). */
  readonly dir: string;
  /** argv prefix of the peer: `python3 -u <dir>/tcptool.py`. */
  readonly tool: readonly string[];
  /** bindery's --log-file (undefined for pasta). */
  readonly logFile: string | undefined;
}

/** Options of `startTcpLink`. */
export interface TcpLinkOptions {
  readonly kind: TranslatorKind;
  /** BINDERY_IMPAIR for bindery (ignored by pasta, which has no such thing). */
  readonly impair?: string;
  /** More `bindery passt` arguments (e.g. --no-tap-offload); ignored for pasta. */
  readonly binderyArgs?: readonly string[];
  /** The tap's MTU (bindery only: `--mtu` and the guest's tap; default TAP_MTU). */
  readonly mtu?: number;
}

const BIN = fileURLToPath(new URL('../../bin/bindery.js', import.meta.url));

/**
 * Creates the pod and guest namespaces, starts the translator on a tap in the guest and waits
 * until the guest reaches the pod over both families.
 *
 * @param lab - The lab (everything goes away with it).
 * @param opts - Which translator, impairment.
 * @returns The pair.
 */
export async function startTcpLink(lab: Lab, opts: TcpLinkOptions): Promise<TcpLink> {
  const pod = await lab.namespace('pod');
  const guest = await lab.namespace('guest');
  const dir = await lab.tmpDir();
  const toolPath = join(dir, 'tcptool.py');
  await writeFile(toolPath, TCP_TOOL);
  await lab.veth(pod, pod, { addrsA: [`${POD4}/24`, `${POD6}/64`] });
  await lab.ip(pod, ['route', 'add', 'default', 'via', '192.168.77.2']);
  await lab.ip(pod, ['-6', 'route', 'add', 'default', 'via', 'fd00:77::2']);
  // ICMP echo sockets for uid 0, for the readiness ping (off by default in a new namespace).
  await lab.sysctl(pod, 'net.ipv4.ping_group_range', '0 2147483647');
  // Static guest: no SLAAC addresses from router advertisements, no DAD delay.
  for (const k of ['all', 'default']) {
    await lab.sysctl(guest, `net.ipv6.conf.${k}.accept_ra`, 0);
    await lab.sysctl(guest, `net.ipv6.conf.${k}.accept_dad`, 0);
  }
  const tap = uniqueIfName('tt');
  const fwd = `${FWD_HOST_BASE}-${FWD_HOST_BASE + FWD_COUNT - 1}:${FWD_GUEST_BASE}-${FWD_GUEST_BASE + FWD_COUNT - 1}`;
  let proc: LabProcess;
  let logFile: string | undefined;
  if (opts.kind === 'bindery') {
    logFile = join(dir, 'passt.log');
    proc = lab.spawn(
      pod,
      [
        process.execPath,
        BIN,
        'passt',
        '-f',
        '--tap',
        tap,
        '--netns',
        guest,
        '-a',
        `${GUEST4}/24`,
        '-g',
        GW4,
        '-a',
        GUEST6,
        '-g',
        GW6,
        '-t',
        fwd,
        '--log-file',
        logFile,
        ...(opts.mtu !== undefined ? ['--mtu', String(opts.mtu)] : []),
        ...(opts.binderyArgs ?? []),
      ],
      { env: opts.impair !== undefined ? { BINDERY_IMPAIR: opts.impair } : {} },
    );
    await proc.waitForOutput(/serving tap/, 30_000);
    await lab.ip(guest, ['link', 'set', tap, 'mtu', String(opts.mtu ?? TAP_MTU), 'up']);
    await lab.ip(guest, ['addr', 'add', `${GUEST4}/24`, 'dev', tap]);
    await lab.ip(guest, ['addr', 'add', `${GUEST6}/64`, 'dev', tap, 'nodad']);
    await lab.ip(guest, ['route', 'add', 'default', 'via', GW4, 'dev', tap]);
    await lab.ip(guest, ['-6', 'route', 'add', 'default', 'via', GW6, 'dev', tap]);
  } else {
    proc = lab.spawn(
      pod,
      pastaArgv(guest, {
        addrs: [
          [GUEST4, GW4, 24],
          [GUEST6, GW6],
        ],
        tap,
        tcpPorts: fwd,
      }),
    );
  }
  // Ready when the guest reaches the pod's own addresses through the translator (ICMP).
  for (const target of [POD4, POD6]) {
    const end = Date.now() + 30_000;
    for (;;) {
      const r = await lab.exec(guest, ['ping', '-c', '1', '-W', '1', target], {
        timeoutMs: 5000,
      });
      if (r.code === 0) break;
      if (proc.exitStatus !== undefined || Date.now() > end) {
        throw new Error(
          `${opts.kind}: the guest cannot reach ${target}: ${r.stdout}${r.stderr}\n${proc.output}`,
        );
      }
      await new Promise((res) => setTimeout(res, 200));
    }
  }
  return {
    kind: opts.kind,
    pod,
    guest,
    tap,
    proc,
    dir,
    tool: ['python3', '-u', toolPath],
    logFile,
  };
}

/**
 * Debian's pasta as the suites and benchmarks run it (docs/anchors-measured.md): as root
 * (`--runas 0`, or it cannot switch namespaces), in the foreground, quiet (or it floods the log),
 * configuring the guest namespace itself, with no ports forwarded unless `tcpPorts` says so.
 *
 * @param guestNs - The guest namespace (a name under /run/netns).
 * @param o.addrs - [address, gateway, prefix length] per family; one IPv4 entry alone adds -4.
 * @param o.tap - The tap's name in the guest (default pasta's own).
 * @param o.tcpPorts - The -t spec (default none).
 * @param o.mtu - The tap's MTU (`-m`; default pasta's, 65520).
 * @returns The argv.
 */
export function pastaArgv(
  guestNs: string,
  o: {
    addrs: readonly (readonly [string, string, number?])[];
    tap?: string;
    tcpPorts?: string;
    mtu?: number;
  },
): string[] {
  const argv = ['pasta', '--runas', '0', '--netns', `/run/netns/${guestNs}`, '--config-net'];
  argv.push('-f', '-q');
  if (o.addrs.length === 1 && !o.addrs[0]![0].includes(':')) argv.push('-4');
  if (o.tap !== undefined) argv.push('-I', o.tap);
  if (o.mtu !== undefined) argv.push('-m', String(o.mtu));
  for (const [addr, gw, prefix] of o.addrs) {
    argv.push('-a', addr, ...(prefix !== undefined ? ['-n', String(prefix)] : []), '-g', gw);
  }
  argv.push('-t', o.tcpPorts ?? 'none', '-u', 'none', '-T', 'none', '-U', 'none');
  return argv;
}

/**
 * How the pod reaches the guest through a -t forward, and the source address the guest sees.
 * bindery: the pod's loopback, seen as the gateway. pasta splices loopback connections into the
 * guest's own loopback without touching the tap, so there the pod connects to its own address,
 * which the guest sees unchanged.
 *
 * @param link - The pair.
 * @param fam - The family.
 * @returns Where the pod connects, and the guest-side peer address.
 */
export function inboundPath(link: TcpLink, fam: Family): { connect: string; seenAs: string } {
  if (link.kind === 'pasta') {
    const own = fam.name === 'IPv4' ? POD4 : POD6;
    return { connect: own, seenAs: own };
  }
  return { connect: fam.loopback, seenAs: fam.gateway };
}

/** A stream's length and SHA-256. */
export interface Digest {
  readonly bytes: number;
  readonly sha256: string;
}

/** The JSON report of `talk`. */
export interface TalkReport {
  /** The peer's address as this end saw it. */
  readonly peer?: string;
  readonly sent: Digest;
  readonly got: Digest;
  /** errno name (ECONNREFUSED, ECONNRESET, …) or TIMEOUT, when the conversation failed. */
  readonly error?: string;
  /** Where it failed: connect, accept, send, recv. */
  readonly phase?: string;
  /** Seconds from connected to done (diagnostics only). */
  readonly seconds: number;
}

/** The JSON report of `many`. */
export interface ManyReport {
  readonly connected: number;
  readonly verified: number;
  readonly errors: readonly string[];
  readonly seconds: number;
}

/**
 * The last line of a tool's stdout, parsed as JSON.
 *
 * @param stdout - The tool's output.
 * @returns The report.
 */
export function lastJson<T>(stdout: string): T {
  const lines = stdout.trim().split('\n');
  const last = lines[lines.length - 1] ?? '';
  try {
    return JSON.parse(last) as T;
  } catch {
    throw new Error(`no JSON report in the tool's output: ${stdout.slice(-2000)}`);
  }
}

/**
 * Parses a size like 1G, 64M, 4096 (binary units).
 *
 * @param text - Size text.
 * @returns Bytes.
 */
export function parseSize(text: string): number {
  const m = /^(\d+)([KMG]?)i?B?$/i.exec(text.trim());
  if (!m) throw new Error(`bad size '${text}' (want e.g. 1G, 64M, 4096)`);
  const unit = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[m[2]!.toUpperCase()]!;
  return Number(m[1]) * unit;
}

/** The peer program (see the top of this file). */
export const TCP_TOOL = String.raw`
import asyncio, errno, hashlib, json, random, socket, sys, threading, time

PAT_LEN = (1 << 20) + 7
CHUNK = 1 << 20


def pattern(seed):
    b = random.Random(seed).randbytes(PAT_LEN)
    return memoryview(b + b)


def err_name(e):
    if isinstance(e, (socket.timeout, TimeoutError)):
        return 'TIMEOUT'
    if isinstance(e, OSError) and e.errno is not None:
        return errno.errorcode.get(e.errno, str(e.errno))
    return type(e).__name__


def digest(n, h):
    return {'bytes': n, 'sha256': h.hexdigest()}


class End:
    def __init__(self):
        self.sent_n = 0
        self.sent_h = hashlib.sha256()
        self.got_n = 0
        self.got_h = hashlib.sha256()
        self.error = None
        self.phase = None

    def fail(self, phase, e):
        if self.error is None:
            self.error = err_name(e)
            self.phase = phase

    def send(self, s, n, seed):
        dbl = pattern(seed)
        off = 0
        try:
            while n > 0:
                k = min(n, CHUNK)
                chunk = dbl[off:off + k]
                s.sendall(chunk)
                self.sent_h.update(chunk)
                self.sent_n += k
                off = (off + k) % PAT_LEN
                n -= k
        except Exception as e:
            self.fail('send', e)
            return False
        return True

    def read(self, s):
        buf = bytearray(CHUNK)
        mv = memoryview(buf)
        try:
            while True:
                k = s.recv_into(buf)
                if k == 0:
                    return True
                self.got_h.update(mv[:k])
                self.got_n += k
        except Exception as e:
            self.fail('recv', e)
            return False


def family(addr):
    return socket.AF_INET6 if ':' in addr else socket.AF_INET


def talk(role, addr, port, nsend, plan, seed, timeout, keepalive):
    end = End()
    report = {}
    t0 = time.monotonic()
    phase = 'setup'
    try:
        if role == 'listen':
            ls = socket.socket(family(addr), socket.SOCK_STREAM)
            ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            ls.bind((addr, port))
            ls.listen(16)
            print('ready', flush=True)
            ls.settimeout(timeout)
            phase = 'accept'
            s, peer = ls.accept()
            ls.close()
        else:
            s = socket.socket(family(addr), socket.SOCK_STREAM)
            s.settimeout(min(timeout, 5.0))
            phase = 'connect'
            s.connect((addr, port))
            peer = s.getpeername()
        if keepalive > 0:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, keepalive)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, keepalive)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 100)
        report['peer'] = peer[0]
        print('connected', flush=True)
        t0 = time.monotonic()
        s.settimeout(timeout)
        if plan == 'send-then-read':
            reader = threading.Thread(target=end.read, args=(s,))
            reader.start()
            if end.send(s, nsend, seed):
                try:
                    s.shutdown(socket.SHUT_WR)
                except OSError as e:
                    # ENOTCONN: the peer reset the connection already; the reader reports it.
                    if e.errno != errno.ENOTCONN:
                        end.fail('shutdown', e)
            reader.join()
        elif plan == 'read-then-send':
            if end.read(s):
                end.send(s, nsend, seed)
        elif plan == 'hold':
            end.send(s, nsend, seed)
            print('holding', flush=True)
            time.sleep(3600)
        else:
            raise SystemExit('unknown plan ' + plan)
        s.close()
    except Exception as e:
        end.fail(phase, e)
    report.update(sent=digest(end.sent_n, end.sent_h), got=digest(end.got_n, end.got_h),
                  seconds=round(time.monotonic() - t0, 3))
    if end.error is not None:
        report.update(error=end.error, phase=end.phase)
    print(json.dumps(report), flush=True)


async def echo(addr, port):
    async def serve(r, w):
        try:
            data = await r.read()
            w.write(data)
            await w.drain()
            w.close()
            await w.wait_closed()
        except Exception:
            w.close()
    srv = await asyncio.start_server(serve, addr, port, backlog=2048, reuse_address=True)
    print('ready', flush=True)
    async with srv:
        await srv.serve_forever()


async def many(addr, port, n, timeout):
    t0 = time.monotonic()
    errors = []
    async def connect(i):
        return await asyncio.wait_for(asyncio.open_connection(addr, port), timeout)
    conns = await asyncio.gather(*[connect(i) for i in range(n)], return_exceptions=True)
    ok = [(i, c) for i, c in enumerate(conns) if not isinstance(c, BaseException)]
    for i, c in enumerate(conns):
        if isinstance(c, BaseException):
            errors.append('connect %d: %s' % (i, err_name(c)))
    # Every connection is open at this point; only now does any of them carry data.
    async def one(i, rw):
        r, w = rw
        payload = ('conn-%d:' % i).encode() + random.Random(i).randbytes(200 + (i * 37) % 3000)
        try:
            w.write(payload)
            await w.drain()
            w.write_eof()
            got = await asyncio.wait_for(r.read(), timeout)
            w.close()
            if got != payload:
                errors.append('conn %d: %d bytes back, %d sent, %s' % (
                    i, len(got), len(payload), 'prefix ok' if payload.startswith(got) else 'differs'))
                return False
            return True
        except Exception as e:
            errors.append('conn %d: %s' % (i, err_name(e)))
            w.close()
            return False
    res = await asyncio.gather(*[one(i, c) for i, c in ok])
    print(json.dumps({'connected': len(ok), 'verified': sum(1 for x in res if x),
                      'errors': errors[:20], 'seconds': round(time.monotonic() - t0, 3)}), flush=True)


def main(argv):
    cmd = argv[0]
    if cmd == 'talk':
        role, addr, port, nsend, plan = argv[1], argv[2], int(argv[3]), int(argv[4]), argv[5]
        seed = int(argv[6]) if len(argv) > 6 else 1
        timeout = float(argv[7]) if len(argv) > 7 else 60.0
        keepalive = int(argv[8]) if len(argv) > 8 else 0
        talk(role, addr, port, nsend, plan, seed, timeout, keepalive)
    elif cmd == 'echo':
        asyncio.run(echo(argv[1], int(argv[2])))
    elif cmd == 'many':
        timeout = float(argv[4]) if len(argv) > 4 else 60.0
        asyncio.run(many(argv[1], int(argv[2]), int(argv[3]), timeout))
    else:
        raise SystemExit('usage: talk|echo|many ...')


main(sys.argv[1:])
`;
