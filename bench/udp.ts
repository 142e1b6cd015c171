// Side-by-side UDP and ICMP benchmark, bindery passt (tap mode) vs Debian's pasta, in one run.
//
// Each translator gets a "pod" namespace (its host side: the UDP sink/source and the echo server
// listen on the pod's loopback) and a "guest" namespace with the tap (10.0.2.15/24, gateway 10.0.2.2,
// MTU 65520). Both map the gateway address to the pod's loopback. The pod also holds a veth
// pair (both ends inside it) with a default route so pasta finds a template interface; nothing leaves the lab.
// Needs root; opt-in from bench/run.ts (BINDERY_BENCH_NET=1 or --net).
//
// Throughput uses bench/udpblast.mjs (node:dgram), not iperf3: iperf3's control channel is TCP,
// which bindery passt does not translate yet. It sends back-to-back datagrams for
// BINDERY_BENCH_NET_SECONDS (default 5) and reports what the receiver got (first to last). The
// same tool drives both translators, so the ratio compares the translators, not the tool.
import { fileURLToPath } from 'node:url';
import { Lab, type LabProcess, type Netns } from '../test/lab/lab.js';
import { pastaArgv } from '../test/lab/tcp-tools.js';
import { median, quantile } from './stats.js';

const BIN = fileURLToPath(new URL('../bin/bindery.js', import.meta.url));
const GUEST_ADDR = '10.0.2.15';
const GW = '10.0.2.2';
const MTU = 65520;
/** The pod's own address: the ICMP target (pasta 2023 maps only TCP/UDP to the gateway). */
const POD_ADDR = '192.168.77.1';
const ECHO_PORT = 7777;
const BLAST_PORT = 5301;
const SECONDS = Number(process.env.BINDERY_BENCH_NET_SECONDS ?? 5);
const RR_COUNT = 2000;

/** One workload measured for both translators (median over repetitions). */
export interface CompareRow {
  readonly name: string;
  readonly unit: string;
  readonly lowerIsBetter: boolean;
  readonly bindery: number;
  readonly pasta: number;
}

type Kind = 'bindery' | 'pasta';

interface Setup {
  readonly kind: Kind;
  readonly pod: Netns;
  readonly guest: Netns;
  readonly proc: LabProcess;
}

const ECHO_SERVER = [
  'import socket',
  's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
  `s.bind(("127.0.0.1", ${ECHO_PORT}))`,
  'print("listening", flush=True)',
  'while True:',
  '    d, a = s.recvfrom(2048)',
  '    s.sendto(d, a)',
].join('\n');

const RR_CLIENT = [
  'import socket, sys, time',
  'n = int(sys.argv[1])',
  's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
  's.settimeout(2)',
  `s.connect(("${GW}", ${ECHO_PORT}))`,
  'for _ in range(50):',
  '    s.send(b"x"); s.recv(16)',
  'out = []',
  'pc = time.perf_counter_ns',
  'for _ in range(n):',
  '    t = pc(); s.send(b"x"); s.recv(16); out.append(pc() - t)',
  'print(" ".join(str(x) for x in out))',
].join('\n');

async function makePair(lab: Lab, kind: Kind): Promise<Setup> {
  const pod = await lab.namespace(kind === 'bindery' ? 'bpod' : 'ppod');
  const guest = await lab.namespace(kind === 'bindery' ? 'bguest' : 'pguest');
  await lab.veth(pod, pod, { addrsA: [`${POD_ADDR}/24`] });
  // ICMP echo sockets for uid 0 (off by default in a new namespace).
  await lab.sysctl(pod, 'net.ipv4.ping_group_range', '0 2147483647');
  await lab.ip(pod, ['route', 'add', 'default', 'via', '192.168.77.2']);
  let proc: LabProcess;
  if (kind === 'bindery') {
    const prof = process.env.BINDERY_BENCH_CPU_PROF;
    proc = lab.spawn(pod, [
      process.execPath,
      ...(prof ? ['--cpu-prof', '--cpu-prof-dir', prof] : []),
      BIN,
      'passt',
      '-f',
      '--tap',
      'tap0',
      '--netns',
      guest,
      '-a',
      `${GUEST_ADDR}/24`,
      '-g',
      GW,
    ]);
    await proc.waitForOutput(/serving tap/, 30_000);
    await lab.ip(guest, ['link', 'set', 'tap0', 'mtu', String(MTU)]);
    await lab.ip(guest, ['addr', 'add', `${GUEST_ADDR}/24`, 'dev', 'tap0']);
    await lab.ip(guest, ['route', 'add', 'default', 'via', GW]);
  } else {
    proc = lab.spawn(pod, pastaArgv(guest, { addrs: [[GUEST_ADDR, GW, 24]] }));
  }
  // Ready when the guest reaches the pod's address.
  const end = Date.now() + 30_000;
  for (;;) {
    const r = await lab.exec(guest, ['ping', '-c', '1', '-W', '1', POD_ADDR], {
      timeoutMs: 5000,
    });
    if (r.code === 0) break;
    if (proc.exitStatus !== undefined || Date.now() > end) {
      throw new Error(
        `${kind}: guest cannot reach ${POD_ADDR}: ${r.stdout}${r.stderr}\n${proc.output}`,
      );
    }
    await new Promise((res) => setTimeout(res, 200));
  }
  const echo = lab.spawn(pod, ['python3', '-u', '-c', ECHO_SERVER]);
  await echo.waitForOutput(/listening/, 10_000);
  return { kind, pod, guest, proc };
}

/** The load tool, run with this Node in each namespace. */
const BLASTER = [process.execPath, fileURLToPath(new URL('./udpblast.mjs', import.meta.url))];

/** UDP goodput (Gbit/s received): guest→host (sink in the pod) or host→guest (reply flow). */
async function udpThroughput(lab: Lab, s: Setup, len: number, reverse: boolean): Promise<number> {
  const secs = String(SECONDS);
  const opts = { timeoutMs: (SECONDS + 30) * 1000 };
  let recvOut: string;
  if (!reverse) {
    const sink = lab.spawn(s.pod, [...BLASTER, 'recv', String(BLAST_PORT)]);
    await sink.waitForOutput(/ready/, 10_000);
    await lab.run(s.guest, [...BLASTER, 'send', GW, String(BLAST_PORT), String(len), secs], opts);
    await Promise.race([sink.exited, new Promise((r) => setTimeout(r, 35_000))]);
    recvOut = sink.stdout;
    await sink.kill('SIGKILL', 1000);
  } else {
    const src = lab.spawn(s.pod, [...BLASTER, 'rserve', String(BLAST_PORT), String(len), secs]);
    await src.waitForOutput(/ready/, 10_000);
    recvOut = await lab.run(s.guest, [...BLASTER, 'rrecv', GW, String(BLAST_PORT)], opts);
    await Promise.race([src.exited, new Promise((r) => setTimeout(r, 5000))]);
    await src.kill('SIGKILL', 1000);
  }
  const m = /([\d.]+) Gbit\/s/.exec(recvOut);
  if (m === null) {
    console.error(`  ${s.kind} UDP -l ${len}${reverse ? ' host→guest' : ''}: ${recvOut.trim()}`);
    return NaN;
  }
  return Number(m[1]);
}

/** UDP 1-byte request/response round trips from the guest: [median, p99] µs. */
async function udpRr(lab: Lab, s: Setup): Promise<[number, number]> {
  const r = await lab.exec(s.guest, ['python3', '-c', RR_CLIENT, String(RR_COUNT)], {
    timeoutMs: 60_000,
  });
  if (r.code !== 0) {
    console.error(`  ${s.kind} UDP RR failed: ${r.stderr.trim().split('\n').pop() ?? ''}`);
    return [NaN, NaN];
  }
  const us = r.stdout
    .trim()
    .split(/\s+/)
    .map((x) => Number(x) / 1000);
  return [median(us), quantile(us, 0.99)];
}

/** ICMP echo to the pod's address, 200 pings 5 ms apart: per-packet [median, p99] µs. */
async function icmp(lab: Lab, s: Setup): Promise<[number, number]> {
  const r = await lab.exec(s.guest, ['ping', '-c', '200', '-i', '0.005', '-W', '1', POD_ADDR], {
    timeoutMs: 60_000,
  });
  const us = [...r.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]) * 1000);
  if (us.length < 150) {
    console.error(`  ${s.kind} ping: only ${us.length}/200 replies`);
    if (us.length === 0) return [NaN, NaN];
  }
  return [median(us), quantile(us, 0.99)];
}

interface Workload {
  readonly name: string;
  readonly unit: string;
  readonly lowerIsBetter: boolean;
}

const WORKLOADS: readonly Workload[] = [
  { name: 'UDP guest→host, -l 1400', unit: 'Gbit/s', lowerIsBetter: false },
  { name: 'UDP host→guest, -l 1400', unit: 'Gbit/s', lowerIsBetter: false },
  { name: 'UDP guest→host, -l 65000', unit: 'Gbit/s', lowerIsBetter: false },
  { name: 'UDP host→guest, -l 65000', unit: 'Gbit/s', lowerIsBetter: false },
  { name: 'UDP RR 1 B median', unit: 'µs', lowerIsBetter: true },
  { name: 'UDP RR 1 B p99', unit: 'µs', lowerIsBetter: true },
  { name: 'ICMP echo to pod addr median', unit: 'µs', lowerIsBetter: true },
  { name: 'ICMP echo to pod addr p99', unit: 'µs', lowerIsBetter: true },
];

async function measureOnce(lab: Lab, s: Setup): Promise<number[]> {
  const out: number[] = [];
  for (const len of [1400, 65000]) {
    out.push(await udpThroughput(lab, s, len, false));
    out.push(await udpThroughput(lab, s, len, true));
  }
  out.push(...(await udpRr(lab, s)));
  out.push(...(await icmp(lab, s)));
  return out;
}

/**
 * Runs every workload `reps` times against both translators (alternating) and returns the
 * medians. Everything made is removed at the end, also on failure.
 */
export async function benchUdpCompare(reps = 3): Promise<CompareRow[]> {
  const lab = await Lab.create();
  const onSignal = (): void => {
    void lab.teardown().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  try {
    const setups = [await makePair(lab, 'bindery'), await makePair(lab, 'pasta')];
    const samples: Record<Kind, number[][]> = { bindery: [], pasta: [] };
    for (let rep = 0; rep < reps; rep++) {
      for (const s of setups) {
        console.error(`  net bench: ${s.kind} repetition ${rep + 1}/${reps}`);
        samples[s.kind].push(await measureOnce(lab, s));
        if (s.proc.exitStatus !== undefined) {
          throw new Error(`${s.kind} exited during the bench:\n${s.proc.output}`);
        }
      }
    }
    const med = (k: Kind, i: number): number =>
      median(samples[k].map((r) => r[i]!).filter((x) => !Number.isNaN(x)));
    return WORKLOADS.map((w, i) => ({ ...w, bindery: med('bindery', i), pasta: med('pasta', i) }));
  } finally {
    process.removeListener('SIGINT', onSignal);
    await lab.teardown();
  }
}

/** Prints the comparison table: workload, bindery, pasta, ratio bindery/pasta. */
export function printCompareTable(title: string, rows: readonly CompareRow[]): void {
  const w = Math.max(...rows.map((r) => r.name.length + r.unit.length + 3), 10);
  const fmt = (v: number): string =>
    Number.isNaN(v) ? 'n/a' : v >= 100 ? v.toFixed(0) : v.toFixed(2);
  console.log(`\n${title}`);
  console.log(
    '(ratio = bindery/pasta; throughput: higher is better; latency (µs): lower is better)',
  );
  console.log(
    `${'workload'.padEnd(w)}  ${'bindery'.padStart(9)}  ${'pasta'.padStart(9)}  ${'ratio'.padStart(6)}`,
  );
  for (const r of rows) {
    const ratio = r.bindery / r.pasta;
    console.log(
      `${`${r.name} (${r.unit})`.padEnd(w)}  ${fmt(r.bindery).padStart(9)}  ${fmt(r.pasta).padStart(9)}  ${(Number.isFinite(ratio) ? ratio.toFixed(2) : 'n/a').padStart(6)}`,
    );
  }
}
