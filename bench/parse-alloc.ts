// Micro-benchmark of the guest→host parse/dispatch hot path: ns and heap bytes per frame through PasstDaemon.onFrames with stub L4 hooks.
//
// Run: `node --expose-gc --import tsx bench/parse-alloc.ts [out.json]` (BINDERY_BENCH_FRAMES
// sets the timed frame count, 10^6 by default; BINDERY_BENCH_SITES=1 lists allocation sites).
// Per path (TCP data with the timestamps option and a bare ACK, UDP 1400 bytes, IPv4 and IPv6;
// ICMP echo) it feeds one prebuilt frame in batches of 32 (a tap link's batch) to a daemon
// whose hooks read their arguments and keep nothing, and reports:
//   - ns/frame: wall time of the timed run over its frame count;
//   - objects/frame and B/frame: every allocation of 6400 frames, from V8's sampling heap
//     profiler with a 1-byte interval (every allocation is a sample; collected ones included),
//     with the allocating function of each;
//   - GCs: garbage collections (all kinds) during the timed run.
// The times are noisy on a shared machine: compare runs made back to back. The allocation
// counts are exact and do not depend on load.
import { writeFileSync } from 'node:fs';
import { PerformanceObserver } from 'node:perf_hooks';
import { Session } from 'node:inspector/promises';
import { PasstDaemon, type Clock, type L4Hooks } from '../src/usernet/passt.js';
import type { GuestLink } from '../src/usernet/link/types.js';
import { buildIpv4Frame, buildIpv6Frame } from '../src/wire/build.js';
import { IpProtocol } from '../src/wire/ipv4.js';
import { emitUdp, UDP_HEADER_LEN } from '../src/wire/udp.js';
import { emitTcp, tcpHeaderLen, TcpFlag, TCP_NO_OPTIONS, type TcpRepr } from '../src/wire/tcp.js';
import { emitIcmpv4, icmpv4BufferLen } from '../src/wire/icmpv4.js';
import { parseIpv4, parseIpv6 } from '../src/wire/common.js';
import { DAEMON_CONFIG, DAEMON_GUEST_MAC, DAEMON_OUR_MAC } from '../test/lab/daemon-config.js';

const OUR = DAEMON_OUR_MAC;
const GUEST = DAEMON_GUEST_MAC;
const G4 = parseIpv4('10.88.0.15')!;
const H4 = parseIpv4('192.0.2.7')!;
const G6 = parseIpv6('fd00:88::15')!;
const H6 = parseIpv6('2001:db8::7')!;

const cfg = DAEMON_CONFIG;

class NullLink implements GuestLink {
  readonly kind = 'stream' as const;
  private listener: ((f: Uint8Array[]) => void) | undefined;
  send(): boolean {
    return true;
  }
  onFrames(l: (f: Uint8Array[]) => void): void {
    this.listener = l;
  }
  onDrain(): void {}
  close(): Promise<void> {
    return Promise.resolve();
  }
}

const clock: Clock = {
  now: () => 0,
  random: () => 0.5,
  setTimer: () => undefined,
  clearTimer: () => undefined,
};

/** What the stub hooks read, so nothing is optimised away. */
let sink = 0;

const hooks: L4Hooks = {
  udp(_f, src, dst, sp, dp, payload) {
    sink = (sink + src[3]! + dst[3]! + sp + dp + payload.length) | 0;
  },
  tcp(_f, src, dst, seg, payload) {
    const ts = seg.options.timestamps;
    sink = (sink + src[3]! + dst[3]! + seg.seq + (ts ? ts.value : 0) + payload.length) | 0;
  },
  ping(_f, src, dst, ident, seqNo, data) {
    sink = (sink + src[3]! + dst[3]! + ident + seqNo + data.length) | 0;
  },
};

function udpFrame(v6: boolean, len: number): Uint8Array {
  const src = v6 ? G6 : G4;
  const dst = v6 ? H6 : H4;
  const fill = (b: Uint8Array): void => {
    for (let i = UDP_HEADER_LEN; i < b.length; i++) b[i] = i & 0xff;
    emitUdp({ srcPort: 40000, dstPort: 5201, payloadLen: len }, b, src, dst);
  };
  const l4 = UDP_HEADER_LEN + len;
  return v6
    ? buildIpv6Frame(GUEST, OUR, { src, dst, nextHeader: IpProtocol.Udp }, l4, fill)
    : buildIpv4Frame(GUEST, OUR, { src, dst, protocol: IpProtocol.Udp }, l4, fill);
}

function tcpFrame(v6: boolean, len: number, ts = true): Uint8Array {
  const src = v6 ? G6 : G4;
  const dst = v6 ? H6 : H4;
  const seg: TcpRepr = {
    srcPort: 40000,
    dstPort: 5201,
    seq: 1000,
    ack: 2000,
    flags: TcpFlag.ACK | TcpFlag.PSH,
    window: 502,
    urgent: 0,
    // Linux data segments carry timestamps (NOP NOP TS): 12 option bytes.
    options: ts ? { timestamps: { value: 123456, echo: 654321 } } : TCP_NO_OPTIONS,
    payloadLen: len,
  };
  const hl = tcpHeaderLen(seg);
  const fill = (b: Uint8Array): void => {
    for (let i = hl; i < b.length; i++) b[i] = i & 0xff;
    emitTcp(seg, b, src, dst);
  };
  return v6
    ? buildIpv6Frame(GUEST, OUR, { src, dst, nextHeader: IpProtocol.Tcp }, hl + len, fill)
    : buildIpv4Frame(GUEST, OUR, { src, dst, protocol: IpProtocol.Tcp }, hl + len, fill);
}

function pingFrame(): Uint8Array {
  const m = { type: 8 as const, ident: 77, seqNo: 1, data: new Uint8Array(56).fill(0xa5) };
  const n = icmpv4BufferLen(m);
  return buildIpv4Frame(GUEST, OUR, { src: G4, dst: H4, protocol: IpProtocol.Icmp }, n, (b) =>
    emitIcmpv4(m, b),
  );
}

/** One path's results. */
export interface ParseAllocRow {
  readonly path: string;
  readonly nsPerFrame: number;
  readonly objectsPerFrame: number;
  readonly bytesPerFrame: number;
  /** Allocation sites: objects per frame. */
  readonly sites: Record<string, number>;
  readonly gcs: number;
  readonly frames: number;
}

const BATCH = 32;

function daemon(): PasstDaemon {
  const d = new PasstDaemon(cfg, new NullLink(), { clock, l4: () => hooks });
  d.start();
  return d;
}

function feed(d: PasstDaemon, batch: Uint8Array[], frames: number): void {
  for (let n = 0; n < frames; n += BATCH) d.onFrames(batch);
}

let gcCount = 0;
const obs = new PerformanceObserver((list) => {
  gcCount += list.getEntries().length;
});
obs.observe({ entryTypes: ['gc'] });

const session = new Session();
session.connect();
await session.post('HeapProfiler.enable');

const gc = (globalThis as { gc?: () => void }).gc;

/** Waits for the GC observer's entries (they arrive on a later tick). */
function tick(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

interface Node {
  readonly id: number;
  readonly callFrame: {
    readonly functionName: string;
    readonly url: string;
    readonly lineNumber: number;
  };
  readonly children: readonly Node[];
}

/**
 * Objects and bytes allocated per frame, from V8's sampling heap profiler with a 1-byte
 * interval (every allocation is a sample) over `frames` frames, and the top allocation sites.
 */
async function allocations(
  d: PasstDaemon,
  batch: Uint8Array[],
  frames: number,
): Promise<{ objects: number; bytes: number; sites: Record<string, number> }> {
  await session.post('HeapProfiler.startSampling', {
    samplingInterval: 1,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
  feed(d, batch, frames);
  const { profile } = (await session.post('HeapProfiler.stopSampling')) as unknown as {
    profile: { head: Node; samples: { size: number; nodeId: number }[] };
  };
  const where = new Map<number, string>();
  const walk = (n: Node): void => {
    const f = n.callFrame;
    const file = f.url.replace(/^.*\/(src|bench|node_modules)\//, '$1/');
    where.set(n.id, `${f.functionName || '(anonymous)'} ${file}:${f.lineNumber + 1}`);
    n.children.forEach(walk);
  };
  walk(profile.head);
  let bytes = 0;
  const sites: Record<string, number> = {};
  for (const s of profile.samples) {
    bytes += s.size;
    const w = where.get(s.nodeId) ?? '?';
    sites[w] = (sites[w] ?? 0) + 1 / frames;
  }
  const top = Object.entries(sites)
    .filter(([, n]) => n >= 0.01)
    .sort((a, b) => b[1] - a[1]);
  return {
    objects: profile.samples.length / frames,
    bytes: bytes / frames,
    sites: Object.fromEntries(top.map(([k, n]) => [k, Math.round(n * 100) / 100])),
  };
}

async function run(path: string, frame: Uint8Array, frames: number): Promise<ParseAllocRow> {
  const d = daemon();
  const batch = Array.from({ length: BATCH }, () => frame);
  feed(d, batch, 200_000); // warm up: the JIT has compiled the path before it is measured
  const a = await allocations(d, batch, 6400);
  gc?.();
  await tick();
  const g0 = gcCount;
  const t0 = process.hrtime.bigint();
  feed(d, batch, frames);
  const ns = Number(process.hrtime.bigint() - t0) / frames;
  await tick();
  const c = d.counters;
  if (c.exceptions !== 0 || c.unhandled !== 0 || c.tcp + c.udp + c.ping === 0) {
    throw new Error(`${path}: frames did not reach the hooks (${JSON.stringify(c)})`);
  }
  return {
    path,
    nsPerFrame: ns,
    objectsPerFrame: a.objects,
    bytesPerFrame: a.bytes,
    gcs: gcCount - g0,
    frames,
    sites: a.sites,
  };
}

const frames = Number(process.env.BINDERY_BENCH_FRAMES ?? 1_000_000);
const rows: ParseAllocRow[] = [];
for (const [path, f] of [
  ['tcp4 data 1400 (TS option)', tcpFrame(false, 1400)],
  ['tcp6 data 1400 (TS option)', tcpFrame(true, 1400)],
  ['tcp4 ack (no options)', tcpFrame(false, 0, false)],
  ['udp4 1400', udpFrame(false, 1400)],
  ['udp6 1400', udpFrame(true, 1400)],
  ['icmp4 echo 56', pingFrame()],
] as const) {
  rows.push(await run(path, f, frames));
}
obs.disconnect();
console.log('path                          ns/frame  objects/frame  B/frame   GCs');
for (const r of rows) {
  console.log(
    `${r.path.padEnd(28)} ${r.nsPerFrame.toFixed(0).padStart(9)} ${r.objectsPerFrame
      .toFixed(1)
      .padStart(14)} ${r.bytesPerFrame.toFixed(0).padStart(8)} ${String(r.gcs).padStart(5)}`,
  );
  if (process.env.BINDERY_BENCH_SITES === '1') {
    for (const [w, n] of Object.entries(r.sites)) console.log(`    ${n.toFixed(2)}  ${w}`);
  }
}
const out = process.argv[2];
if (out) {
  writeFileSync(out, JSON.stringify({ frames, batch: BATCH, sink, rows }, null, 2) + '\n');
  console.log(`results: ${out}`);
}
