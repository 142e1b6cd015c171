// Benchmark entry point (`npm run bench`): runs every bench and prints tables.
// The network comparison with pasta (bench/udp.ts) needs root and takes minutes: opt in with
// BINDERY_BENCH_NET=1 or `npm run bench -- --net`.
import { benchChecksum, benchTcpHeaders, printTable } from './micro.js';

const ms = Number(process.env.BINDERY_BENCH_MS ?? 1000);
printTable('wire micro-benchmarks', [...benchChecksum(ms), ...benchTcpHeaders(ms)]);

if (process.env.BINDERY_BENCH_NET === '1' || process.argv.includes('--net')) {
  const { benchUdpCompare, printCompareTable } = await import('./udp.js');
  const reps = Number(process.env.BINDERY_BENCH_NET_REPS ?? 3);
  printCompareTable(
    `UDP/ICMP: bindery passt (tap) vs pasta, median of ${reps}`,
    await benchUdpCompare(reps),
  );
}
