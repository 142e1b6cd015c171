// Benchmark entry point (`npm run bench`): runs every bench and prints tables.
// The network comparisons (bench/udp.ts: UDP/ICMP vs pasta; bench/tcp.ts: TCP vs pasta,
// slirp4netns and veth) need root and take minutes: opt in with BINDERY_BENCH_NET=1 or
// `npm run bench -- --net`. BINDERY_BENCH_TCP_ONLY=1 runs only the TCP comparison.
import { benchChecksum, benchTcpHeaders, printTable } from './micro.js';

const tcpOnly = process.env.BINDERY_BENCH_TCP_ONLY === '1';
const net = tcpOnly || process.env.BINDERY_BENCH_NET === '1' || process.argv.includes('--net');
const reps = Number(process.env.BINDERY_BENCH_NET_REPS ?? 3);

if (!tcpOnly) {
  const ms = Number(process.env.BINDERY_BENCH_MS ?? 1000);
  printTable('wire micro-benchmarks', [...benchChecksum(ms), ...benchTcpHeaders(ms)]);
}

if (net && !tcpOnly) {
  const { benchUdpCompare, printCompareTable } = await import('./udp.js');
  printCompareTable(
    `UDP/ICMP: bindery passt (tap) vs pasta, median of ${reps}`,
    await benchUdpCompare(reps),
  );
}

if (net) {
  const { benchTcpCompare, printTcpTable, writeTcpJson } = await import('./tcp.js');
  const res = await benchTcpCompare(reps);
  printTcpTable(`TCP: bindery passt (tap) vs pasta vs slirp4netns vs veth, median of ${reps}`, res);
  console.log(`\nresults: ${writeTcpJson(res)}`);
}
