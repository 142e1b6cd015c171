// Benchmark entry point (`npm run bench`): runs every bench and prints tables.
// The network comparisons (bench/udp.ts: UDP/ICMP; bench/tcp.ts: TCP; both against Debian's
// and upstream pasta, slirp4netns and veth, bindery with and without tap offloads; see
// bench/README.md) need root and take minutes: opt in with BINDERY_BENCH_NET=1 or
// `npm run bench -- --net`. BINDERY_BENCH_TCP_ONLY=1 runs only the TCP comparison,
// BINDERY_BENCH_UDP_ONLY=1 only the UDP one. `npm run bench -- --podnet` (root) runs only the
// pod-side bindings comparison (bench/podnet.ts: bridge and masquerade plumbing vs a veth).
import { benchChecksum, benchTcpHeaders, printTable } from './micro.js';

const podnet = process.argv.includes('--podnet');
if (podnet) {
  const { benchPodnet, printPodnetTable, writePodnetJson } = await import('./podnet.js');
  const res = await benchPodnet(Number(process.env.BINDERY_BENCH_NET_REPS ?? 3));
  printPodnetTable(res);
  console.log(`\nresults: ${writePodnetJson(res)}`);
  process.exit(0);
}

const tcpOnly = process.env.BINDERY_BENCH_TCP_ONLY === '1';
const udpOnly = process.env.BINDERY_BENCH_UDP_ONLY === '1';
const net =
  tcpOnly || udpOnly || process.env.BINDERY_BENCH_NET === '1' || process.argv.includes('--net');
const reps = Number(process.env.BINDERY_BENCH_NET_REPS ?? 3);

if (!tcpOnly && !udpOnly) {
  const ms = Number(process.env.BINDERY_BENCH_MS ?? 1000);
  printTable('wire micro-benchmarks', [...benchChecksum(ms), ...benchTcpHeaders(ms)]);
}

if (net && !tcpOnly) {
  const { benchUdpCompare, printUdpTable, udpTitle, writeUdpJson } = await import('./udp.js');
  const res = await benchUdpCompare(reps);
  printUdpTable(udpTitle(reps), res);
  console.log(`\nresults: ${writeUdpJson(res)}`);
}

if (net && !udpOnly) {
  const { benchTcpCompare, printTcpTable, tcpTitle, writeTcpJson } = await import('./tcp.js');
  const res = await benchTcpCompare(reps);
  printTcpTable(tcpTitle(reps), res);
  console.log(`\nresults: ${writeTcpJson(res)}`);
}
