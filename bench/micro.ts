// Micro-benchmarks of the wire layer: checksum throughput and TCP/IPv4 header parse+emit rate.
import { checksum, sum16, finish } from '../src/wire/checksum.js';

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
