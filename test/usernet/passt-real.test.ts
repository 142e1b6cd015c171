// `bindery passt --tap` with real peers (dnsmasq, iperf3 -u, ping to a veth peer) and 100,000 fuzzed frames thrown at it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { Lab, labSkipReason, uniqueIfName } from '../lab/lab.js';
import type { Netns } from '../lab/lab.js';
import { buildArpFrame, buildIpv4Frame, buildIpv6Frame } from '../../src/wire/build.js';
import { ArpOp } from '../../src/wire/arp.js';
import { emitUdp } from '../../src/wire/udp.js';
import { emitIcmpv4, icmpv4BufferLen } from '../../src/wire/icmpv4.js';
import type { Icmpv4Repr } from '../../src/wire/icmpv4.js';
import { emitIcmpv6, icmpv6BufferLen } from '../../src/wire/icmpv6.js';
import type { Icmpv6Repr } from '../../src/wire/icmpv6.js';
import { dhcpBufferLen, emitDhcp } from '../../src/wire/dhcp.js';
import type { DhcpRepr } from '../../src/wire/dhcp.js';
import { parseIpv4, parseIpv6, parseMac } from '../../src/wire/common.js';

const skip = labSkipReason();
const BIN = fileURLToPath(new URL('../../bin/bindery.js', import.meta.url));
const PASST = [process.execPath, BIN, 'passt'];
const FUZZ_FRAMES = 100_000;

const GUEST_MAC = parseMac('52:54:00:12:34:56')!;
const GW_MAC = parseMac('9a:55:9a:55:9a:55')!;
const BCAST = parseMac('ff:ff:ff:ff:ff:ff')!;
const GUEST4 = parseIpv4('10.92.0.15')!;
const GW4 = parseIpv4('10.92.0.1')!;
const GUEST6 = parseIpv6('fe80::5054:ff:fe12:3456')!;
const GW6 = parseIpv6('fe80::1')!;
const ALL_ROUTERS6 = parseIpv6('ff02::2')!;

function udpFrame(
  src: Uint8Array,
  dst: Uint8Array,
  sport: number,
  dport: number,
  payload: Uint8Array,
  ethDst = GW_MAC,
): Uint8Array {
  return buildIpv4Frame(GUEST_MAC, ethDst, { src, dst, protocol: 17 }, 8 + payload.length, (l4) => {
    l4.set(payload, 8);
    emitUdp({ srcPort: sport, dstPort: dport, payloadLen: payload.length }, l4, src, dst);
  });
}

function dhcpDiscover(xid: number): Uint8Array {
  const repr: DhcpRepr = {
    op: 1,
    htype: 1,
    hlen: 6,
    hops: 0,
    xid,
    secs: 0,
    broadcast: false,
    ciaddr: new Uint8Array(4),
    yiaddr: new Uint8Array(4),
    siaddr: new Uint8Array(4),
    giaddr: new Uint8Array(4),
    chaddr: Uint8Array.of(...GUEST_MAC, ...new Uint8Array(10)),
    sname: new Uint8Array(64),
    file: new Uint8Array(128),
    messageType: 1,
    options: [],
  };
  const payload = new Uint8Array(dhcpBufferLen(repr));
  emitDhcp(repr, payload);
  return udpFrame(new Uint8Array(4), parseIpv4('255.255.255.255')!, 68, 67, payload, BCAST);
}

function icmp4Frame(repr: Icmpv4Repr): Uint8Array {
  return buildIpv4Frame(
    GUEST_MAC,
    GW_MAC,
    { src: GUEST4, dst: GW4, protocol: 1 },
    icmpv4BufferLen(repr),
    (l4) => emitIcmpv4(repr, l4),
  );
}

function icmp6Frame(dst: Uint8Array, repr: Icmpv6Repr): Uint8Array {
  return buildIpv6Frame(
    GUEST_MAC,
    GW_MAC,
    { src: GUEST6, dst, nextHeader: 58, hopLimit: 255 },
    icmpv6BufferLen(repr),
    (l4) => emitIcmpv6(repr, l4, GUEST6, dst),
  );
}

const bytes = (max: number): fc.Arbitrary<Uint8Array> => fc.uint8Array({ maxLength: max });

/** Valid frames from the codecs; destinations are the gateway, 10.92.0.0/24 or link-scope. */
const validFrame: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.tuple(fc.boolean(), fc.integer({ min: 1, max: 254 })).map(([req, last]) =>
    buildArpFrame(GUEST_MAC, req ? BCAST : GW_MAC, {
      operation: req ? ArpOp.Request : ArpOp.Reply,
      senderMac: GUEST_MAC,
      senderIp: GUEST4,
      targetMac: req ? new Uint8Array(6) : GW_MAC,
      targetIp: Uint8Array.of(10, 92, 0, last),
    }),
  ),
  fc
    .tuple(fc.integer({ min: 1024, max: 65535 }), fc.integer({ min: 1, max: 65535 }), bytes(300))
    .map(([sp, dp, data]) => udpFrame(GUEST4, GW4, sp, dp, data)),
  fc
    .tuple(fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 65535 }), bytes(200))
    .map(([ident, seqNo, data]) => icmp4Frame({ type: 8, ident, seqNo, data })),
  fc
    .tuple(fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 65535 }), bytes(200))
    .map(([ident, seqNo, data]) => icmp6Frame(GW6, { type: 128, ident, seqNo, data })),
  fc.constant(null).map(() => icmp6Frame(ALL_ROUTERS6, { type: 133, options: [] })),
  fc.constant(null).map(() => icmp6Frame(GW6, { type: 135, target: GW6, options: [] })),
  fc.integer({ min: 0, max: 0xffffffff }).map((xid) => dhcpDiscover(xid)),
);

/** Valid frames with a few bytes changed and/or truncated. */
const mutatedFrame: fc.Arbitrary<Uint8Array> = fc
  .tuple(
    validFrame,
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
    fc.option(fc.nat(), { freq: 2 }),
  )
  .map(([frame, edits, cut]) => {
    const f = frame.slice();
    for (const [i, v] of edits) f[i % f.length] = v;
    // AF_PACKET refuses frames shorter than the Ethernet header: truncate to 14 bytes or more.
    return cut === null ? f : f.subarray(0, 14 + (cut % (f.length - 13)));
  });

const randomFrame: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ minLength: 14, maxLength: 100 }),
  // random bytes behind a plausible Ethernet header
  fc
    .tuple(fc.constantFrom(0x0800, 0x0806, 0x86dd, 0x1234), bytes(400))
    .map(([et, body]) => Uint8Array.of(...GW_MAC, ...GUEST_MAC, et >> 8, et & 0xff, ...body)),
);

const anyFrame = fc.oneof(
  { arbitrary: mutatedFrame, weight: 6 },
  { arbitrary: randomFrame, weight: 3 },
  { arbitrary: validFrame, weight: 1 },
);

/** Writes the frames as <u16 length><bytes> records. */
function frameFile(frames: readonly Uint8Array[]): Buffer {
  const parts: Buffer[] = [];
  for (const f of frames) {
    const h = Buffer.alloc(2);
    h.writeUInt16BE(f.length);
    parts.push(h, Buffer.from(f));
  }
  return Buffer.concat(parts);
}

// Sends every record of a frame file on an interface through AF_PACKET, paced (1 ms per 20
// frames) so that the tap's queue toward the daemon stays short; prints "sent N failed M".
const SENDER = `
import socket, struct, sys, time
data = open(sys.argv[2], 'rb').read()
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((sys.argv[1], 0))
off = sent = failed = 0
while off < len(data):
    (n,) = struct.unpack_from('>H', data, off)
    off += 2
    try:
        s.send(data[off:off + n]); sent += 1
    except OSError:
        failed += 1
    off += n
    if (sent + failed) % 20 == 0:
        time.sleep(0.001)
print('sent', sent, 'failed', failed)
`;

interface IperfResult {
  mbps: number;
  packets: number;
  lost: number;
  lostPercent: number;
}

/** The receiver-side UDP summary of `iperf3 --json`. */
function iperfSummary(json: string): IperfResult {
  const j = JSON.parse(json) as {
    end?: {
      sum?: {
        bits_per_second: number;
        packets: number;
        lost_packets: number;
        lost_percent: number;
      };
    };
    error?: string;
  };
  assert.equal(j.error, undefined, j.error);
  const sum = j.end?.sum;
  assert.ok(sum, json.slice(0, 2000));
  return {
    mbps: sum.bits_per_second / 1e6,
    packets: sum.packets,
    lost: sum.lost_packets,
    lostPercent: sum.lost_percent,
  };
}

/**
 * Where a datagram on this path can be lost, each counted by the kernel: a UDP socket's full
 * receive buffer (`RcvbufErrors` of /proc/net/snmp, per namespace: iperf3's and the daemon's
 * sockets live in the pod and the guest), the tap's queue toward the daemon (`tx_dropped`), and
 * a CPU's full input backlog (loopback delivery; /proc/net/softnet_stat, machine-wide, so it
 * can only over-count).
 */
interface DropCounters {
  rcvbufPod: number;
  rcvbufGuest: number;
  tapTxDropped: number;
  backlog: number;
}

async function udpRcvbufErrors(lab: Lab, ns: Netns): Promise<number> {
  const lines = (await lab.run(ns, ['cat', '/proc/net/snmp']))
    .split('\n')
    .filter((l) => l.startsWith('Udp:'));
  const keys = lines[0]!.split(/\s+/);
  return Number(lines[1]!.split(/\s+/)[keys.indexOf('RcvbufErrors')]);
}

async function dropCounters(
  lab: Lab,
  pod: Netns,
  guest: Netns,
  tap: string,
): Promise<DropCounters> {
  const softnet = await readFile('/proc/net/softnet_stat', 'utf8');
  return {
    rcvbufPod: await udpRcvbufErrors(lab, pod),
    rcvbufGuest: await udpRcvbufErrors(lab, guest),
    tapTxDropped: Number(
      await lab.run(guest, ['cat', `/sys/class/net/${tap}/statistics/tx_dropped`]),
    ),
    backlog: softnet
      .trim()
      .split('\n')
      .reduce((n, l) => n + parseInt(l.trim().split(/\s+/)[1]!, 16), 0),
  };
}

function dropsBetween(a: DropCounters, b: DropCounters): number {
  return (
    b.rcvbufPod -
    a.rcvbufPod +
    (b.rcvbufGuest - a.rcvbufGuest) +
    (b.tapTxDropped - a.tapTxDropped) +
    (b.backlog - a.backlog)
  );
}

test('bindery passt --tap with real peers, then fuzzed', { skip, timeout: 150_000 }, async (t) => {
  const lab = await Lab.create(t);
  const pod = await lab.namespace('pod');
  const guest = await lab.namespace('guest');
  const peer = await lab.namespace('peer');
  const dir = await lab.tmpDir();
  await lab.veth(pod, peer, { addrsA: ['10.93.0.1/24'], addrsB: ['10.93.0.2/24'] });
  await lab.sysctl(pod, 'net.ipv4.ping_group_range', '0 2147483647');
  // Network safety: whatever the translator forwards stays inside the pod (no route out).
  assert.equal((await lab.ip(pod, ['route', 'show', 'default'])).trim(), '');
  assert.equal((await lab.ip(pod, ['-6', 'route', 'show', 'default'])).trim(), '');

  const dns = lab.spawn(pod, [
    'dnsmasq',
    '--no-daemon',
    '--conf-file=/dev/null',
    '--listen-address=127.0.0.1',
    '--bind-interfaces',
    '--no-resolv',
    '--address=/bindery.test/192.0.2.77',
    '--port=53',
  ]);
  await dns.waitForOutput(/started/, 10_000);

  const tap = uniqueIfName('pr');
  const logFile = join(dir, 'passt.log');
  const daemon = lab.spawn(pod, [
    ...PASST,
    '-f',
    '--tap',
    tap,
    '--netns',
    guest,
    '-a',
    '10.92.0.15/24',
    '-g',
    '10.92.0.1',
    '-D',
    '10.92.0.1',
    '--log-file',
    logFile,
  ]);
  await daemon.waitForOutput(/serving tap/, 20_000);
  // The tap's queue toward the daemon holds every frame this test sends at once (the fuzz
  // campaign is the largest burst), so it never overflows: the path guest → daemon is lossless
  // by construction, whatever the scheduler does to the daemon meanwhile.
  await lab.ip(guest, ['link', 'set', tap, 'txqueuelen', String(FUZZ_FRAMES + 1000)]);
  await lab.ip(guest, ['addr', 'add', '10.92.0.15/24', 'dev', tap]);
  await lab.ip(guest, ['route', 'add', 'default', 'via', '10.92.0.1']);
  const alive = (): void => assert.equal(daemon.exitStatus, undefined, daemon.output);

  const dig = async (ns: Netns): Promise<string> => {
    const r = await lab.exec(
      ns,
      ['dig', '+short', '+time=2', '+tries=3', '@10.92.0.1', 'bindery.test'],
      { timeoutMs: 20_000 },
    );
    assert.equal(r.code, 0, r.stdout + r.stderr);
    return r.stdout.trim();
  };

  await t.test('DNS to the gateway reaches dnsmasq on the pod loopback', async () => {
    assert.equal(await dig(guest), '192.0.2.77');
  });

  await t.test('iperf3 -u both ways through the gateway mapping', async () => {
    // Both iperf3's TCP control connection and its UDP data go through the translator to the
    // pod's loopback.
    const results: Record<string, IperfResult> = {};
    for (const reverse of [false, true]) {
      const port = String(5201 + (reverse ? 1 : 0));
      const srv = lab.spawn(pod, ['iperf3', '-s', '-1', '--forceflush', '-p', port]);
      await srv.waitForOutput(/Server listening/, 10_000);
      const before = await dropCounters(lab, pod, guest, tap);
      const r = await lab.exec(
        guest,
        [
          'iperf3',
          '-u',
          '-c',
          '10.92.0.1',
          '-p',
          port,
          '-b',
          '50M',
          '-t',
          '3',
          '-l',
          '1400',
          '--json',
          ...(reverse ? ['-R'] : []),
        ],
        { timeoutMs: 30_000 },
      );
      assert.equal(r.code, 0, r.stdout + r.stderr + daemon.output);
      const res = iperfSummary(r.stdout);
      await srv.exited;
      const after = await dropCounters(lab, pod, guest, tap);
      const dropped = dropsBetween(before, after);
      results[reverse ? 'server→guest' : 'guest→server'] = res;
      t.diagnostic(
        `kernel drop counters before ${JSON.stringify(before)}, after ${JSON.stringify(after)}`,
      );
      // 50 Mbit/s of 1400-byte datagrams for 3 s: about 13,400 offered.
      assert.ok(res.packets > 10_000, r.stdout.slice(0, 2000));
      // veth, loopback and tap lose nothing by themselves, and the daemon may not lose
      // datagrams either: a datagram is lost only where a queue overflowed and the kernel
      // counted it (a reader stalled longer than its buffer covers: ~90 datagrams of 1400 bytes,
      // 20 ms at this rate, in the default 208 KiB receive buffer). So every lost datagram is
      // one of those counted drops; on a quiet machine both are 0.
      assert.ok(
        res.lost <= dropped,
        `${res.lost} datagrams lost, ${dropped} counted by the kernel: ${JSON.stringify(res)}`,
      );
    }
    t.diagnostic(`iperf3 ${JSON.stringify(results)}`);
  });

  await t.test('ping from the guest reaches a peer namespace through ping sockets', async () => {
    const r = await lab.exec(guest, ['ping', '-c', '3', '-i', '0.2', '-W', '2', '10.93.0.2'], {
      timeoutMs: 20_000,
    });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /3 received/);
  });

  await t.test(`${FUZZ_FRAMES} fuzzed frames: no crash, drops counted, still serving`, async () => {
    const frames = fc.sample(anyFrame, { numRuns: FUZZ_FRAMES, seed: 0x5eed });
    const file = join(dir, 'frames.bin');
    await writeFile(file, frameFile(frames));
    const script = join(dir, 'send.py');
    await writeFile(script, SENDER);
    const txStats = async (): Promise<number[]> => {
      const out = await lab.run(guest, [
        'cat',
        `/sys/class/net/${tap}/statistics/tx_packets`,
        `/sys/class/net/${tap}/statistics/tx_dropped`,
      ]);
      return out.trim().split('\n').map(Number);
    };
    const [txBefore, dropBefore] = await txStats();
    const r = await lab.exec(guest, ['python3', script, tap, file], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const m = /sent (\d+) failed (\d+)/.exec(r.stdout);
    assert.ok(m, r.stdout);
    const sent = Number(m[1]);
    // Every frame is 14..414 bytes: AF_PACKET refuses none (shorter than the Ethernet header
    // or longer than the MTU would be refused).
    assert.equal(sent, FUZZ_FRAMES, r.stdout);
    // What the tap handed to the daemon (and dropped, which its queue length rules out): the
    // kernel counts a frame when it passes the tap's qdisc, so wait until all sent are counted.
    const counted = async (): Promise<{ delivered: number; queueDrops: number }> => {
      const [tx, dropped] = await txStats();
      return { delivered: tx! - txBefore!, queueDrops: dropped! - dropBefore! };
    };
    const deadline = Date.now() + 20_000;
    let c = await counted();
    while (c.delivered + c.queueDrops < sent) {
      assert.ok(Date.now() < deadline, `the tap counted ${c.delivered} of ${sent} frames`);
      await new Promise((res) => setTimeout(res, 50));
      c = await counted();
    }
    alive();
    const { delivered, queueDrops } = c;

    // Real traffic still flows: ping the gateway, DNS, DHCP.
    const ping = await lab.exec(guest, ['ping', '-c', '1', '-W', '3', '10.92.0.1'], {
      timeoutMs: 20_000,
    });
    assert.equal(ping.code, 0, ping.stdout + ping.stderr + daemon.output);
    assert.equal(await dig(guest), '192.0.2.77');
    const dhcp = await lab.exec(
      guest,
      ['busybox', 'udhcpc', '-i', tap, '-n', '-q', '-f', '-t', '5', '-s', '/bin/true'],
      { timeoutMs: 30_000 },
    );
    assert.equal(dhcp.code, 0, dhcp.stdout + dhcp.stderr);
    alive();

    const st = await daemon.kill('SIGTERM', 5000);
    assert.equal(st.code, 0, daemon.output);
    const log = await readFile(logFile, 'utf8');
    const cm = /stopped; counters (\{.*\})/.exec(log);
    assert.ok(cm, log);
    const counters = JSON.parse(cm[1]!) as {
      rxFrames: number;
      malformed: Record<string, number>;
      exceptions: number;
    };
    const msg = `sent ${sent} (${m[2]} refused by the kernel), ${delivered} to the daemon, ${queueDrops} dropped in the tap queue; counters ${cm[1]}`;
    t.diagnostic(msg);
    // The queue holds the whole campaign: every frame reached the daemon (the guest kernel's
    // own frames, e.g. a neighbour solicitation, may come on top).
    assert.equal(queueDrops, 0, msg);
    assert.ok(delivered >= sent, msg);
    assert.ok(counters.rxFrames >= delivered, msg);
    // Each kind of drop is counted as its own kind: the campaign has cut frames, mangled
    // headers, flipped checksum bytes and unsupported protocols behind valid headers.
    for (const kind of ['truncated', 'malformed', 'bad-checksum', 'unsupported']) {
      assert.ok(counters.malformed[kind]! > 0, `no ${kind} drop counted; ${msg}`);
    }
    assert.equal(counters.exceptions, 0, `no frame made the translator throw; ${msg}`);
  });
});
