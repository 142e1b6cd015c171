// Micro-benchmarks of the wire layer: checksum throughput and TCP/IPv4 header parse+emit rate.
import { checksum, sum16, finish } from '../src/wire/checksum.js';
import { Ipv4View, parseIpv4, IpProtocol } from '../src/wire/ipv4.js';
import {
  TcpView,
  parseTcp,
  emitTcp,
  tcpHeaderLen,
  TcpFlag,
  type TcpRepr,
} from '../src/wire/tcp.js';
import { buildIpv4Frame } from '../src/wire/build.js';
import { isWireError } from '../src/wire/common.js';

/** One benchmark result row. */
export interface BenchRow {
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  readonly note?: string;
}

/** Runs `fn` repeatedly for about `ms` milliseconds and returns operations per second. */
export function opsPerSecond(fn: () => void, ms = 1000): number {
  // warm up so the JIT has compiled the hot path before we time it
  for (let i = 0; i < 2000; i++) fn();
  let iterations = 0;
  let batch = 64;
  const start = process.hrtime.bigint();
  const budget = BigInt(ms) * 1_000_000n;
  for (;;) {
    for (let i = 0; i < batch; i++) fn();
    iterations += batch;
    const elapsed = process.hrtime.bigint() - start;
    if (elapsed >= budget) return (iterations * 1e9) / Number(elapsed);
    if (batch < 65536) batch *= 2;
  }
}

/** Checksum over a 64 KiB buffer: GB/s and µs per buffer. */
export function benchChecksum(ms: number): BenchRow[] {
  const buf = new Uint8Array(65536);
  for (let i = 0; i < buf.length; i++) buf[i] = (i * 7919) & 0xff;
  let sink = 0;
  const ops = opsPerSecond(() => {
    sink ^= checksum(buf);
  }, ms);
  const half = buf.subarray(0, 32768);
  const ops2 = opsPerSecond(() => {
    sink ^= finish(sum16(buf.subarray(32768), sum16(half)));
  }, ms);
  if (sink === -1) console.log('');
  return [
    {
      name: 'checksum 64 KiB',
      value: (ops * 65536) / 1e9,
      unit: 'GB/s',
      note: `${(1e6 / ops).toFixed(1)} µs/buffer`,
    },
    { name: 'checksum 2×32 KiB chained', value: (ops2 * 65536) / 1e9, unit: 'GB/s' },
  ];
}

/**
 * TCP/IPv4 header parse + emit per second: a full-size data segment (1460 bytes of payload)
 * is parsed from a frame (IPv4 view, checksum-verified parse, TCP view and parse), and an ACK
 * header is emitted with its checksum — the per-segment work of the translator's hot path.
 */
export function benchTcpHeaders(ms: number): BenchRow[] {
  const mac = new Uint8Array(6);
  const src = Uint8Array.of(10, 0, 2, 15);
  const dst = Uint8Array.of(10, 0, 2, 2);
  const data: TcpRepr = {
    srcPort: 40000,
    dstPort: 80,
    seq: 1,
    ack: 1,
    flags: TcpFlag.ACK | TcpFlag.PSH,
    window: 65535,
    urgent: 0,
    options: { timestamps: { value: 1, echo: 2 } },
    payloadLen: 1460,
  };
  const frame = buildIpv4Frame(
    mac,
    mac,
    { src, dst, protocol: IpProtocol.Tcp },
    tcpHeaderLen(data) + 1460,
    (b) => emitTcp(data, b, src, dst),
  );
  const ack: TcpRepr = { ...data, flags: TcpFlag.ACK, options: {}, payloadLen: 0 };
  const out = new Uint8Array(tcpHeaderLen(ack));
  let sink = 0;
  const parseOps = opsPerSecond(() => {
    const ip = Ipv4View.checked(frame.subarray(14));
    if (isWireError(ip)) throw new Error('bench frame');
    const ipr = parseIpv4(ip);
    if (isWireError(ipr)) throw new Error('bench frame');
    const tv = TcpView.checked(ip.payload());
    if (isWireError(tv)) throw new Error('bench frame');
    const r = parseTcp(tv, ipr.src, ipr.dst);
    if (isWireError(r)) throw new Error('bench frame');
    sink ^= r.seq;
  }, ms);
  const viewOps = opsPerSecond(() => {
    const ip = Ipv4View.checked(frame.subarray(14));
    if (isWireError(ip)) throw new Error('bench frame');
    const tv = TcpView.checked(ip.payload());
    if (isWireError(tv)) throw new Error('bench frame');
    sink ^= tv.seq ^ tv.ack ^ tv.flags ^ tv.window;
  }, ms);
  const emitOps = opsPerSecond(() => {
    emitTcp(ack, out, src, dst);
    sink ^= out[16]!;
  }, ms);
  if (sink === -1) console.log('');
  return [
    {
      name: 'TCP/IPv4 parse (full, 1460 B, checksums)',
      value: parseOps,
      unit: 'segments/s',
      note: `${((parseOps * 1514 * 8) / 1e9).toFixed(1)} Gbit/s of frames`,
    },
    { name: 'TCP/IPv4 view fields (no checksum)', value: viewOps, unit: 'segments/s' },
    { name: 'TCP ACK header emit (with checksum)', value: emitOps, unit: 'headers/s' },
  ];
}

/** Prints rows as an aligned table. */
export function printTable(title: string, rows: readonly BenchRow[]): void {
  const w = Math.max(...rows.map((r) => r.name.length), 10);
  console.log(`\n${title}`);
  console.log(`${'workload'.padEnd(w)}  ${'value'.padStart(12)}  unit`);
  for (const r of rows) {
    const v = r.value >= 100 ? r.value.toFixed(0) : r.value.toFixed(2);
    console.log(
      `${r.name.padEnd(w)}  ${v.padStart(12)}  ${r.unit}${r.note ? `  (${r.note})` : ''}`,
    );
  }
}
