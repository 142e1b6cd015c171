// Side-by-side UDP and ICMP benchmark: bindery passt (tap, with and without --no-tap-offload) vs
// Debian's pasta vs the newest upstream pasta vs slirp4netns vs a plain veth pair, in one run.
//
// The setups and their namespaces are bench/setups.ts's (columns: bench/README.md); the loop,
// the failed-sample accounting and the table are bench/matrix.ts's. The UDP sink/source and
// the echo server listen on the pod's loopback (on 10.0.2.2 for veth); ICMP goes to the pod's
// own address (pasta 2023 maps only TCP/UDP to the gateway). Needs root; opt-in from
// bench/run.ts (BINDERY_BENCH_NET=1 or --net), or run this file directly.
//
// Throughput uses bench/udpblast.mjs (node:dgram): it sends back-to-back datagrams for
// BINDERY_BENCH_NET_SECONDS (default 5) and reports what the receiver got (first to last). The
// same tool drives every setup, so the ratios compare the network paths, not the tool.
// BINDERY_BENCH_UDP_SETUPS picks setups (as BINDERY_BENCH_TCP_SETUPS), BINDERY_BENCH_UDP_WORKLOADS
// workloads by a row key (e.g. rrMed,icmpMed); BINDERY_BENCH_CPU_PROF=DIR runs bindery under
// `node --cpu-prof` with the profiles in DIR. Issue 17's UDP and ICMP targets (UDP_TARGETS) are
// checked against the newest (upstream) pasta and printed as met / MISSED with the numbers;
// the b/deb column keeps Debian's pasta beside it. The threads column does not run here.
import { loadavg } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Lab } from '../test/lab/lab.js';
import {
  checkTargets,
  machineMeta,
  peerRecord,
  printLegend,
  printMatrix,
  printNotes,
  printTargets,
  runMatrix,
  targetCell,
  type TargetSpec,
  usedKinds,
  type MatrixResult,
  type RowSpec,
  type Value,
  type Workload,
  writeJson,
} from './matrix.js';
import { resolvePeers, selectKinds, type Kind } from './peers.js';
import { GW, lastLine, MTU, POD_ADDR, type Setup, sleep } from './setups.js';
import { median, quantile } from './stats.js';
/** The CLI from source, for BINDERY_BENCH_BINDERY=src (run through tsx). */
const ENTRY = fileURLToPath(new URL('../src/cli/bin.ts', import.meta.url));
const ECHO_PORT = 7777;
const BLAST_PORT = 5301;
const SECONDS = Number(process.env.BINDERY_BENCH_NET_SECONDS ?? 5);
const RR_COUNT = 2000;
const PINGS = 200;

const ROWS: readonly RowSpec[] = [
  ...[1400, 65000].flatMap((len) =>
    (['g2h', 'h2g'] as const).map((dir): RowSpec => ({
      key: `${dir}${len}`,
      name: `UDP ${dir === 'g2h' ? 'guest→host' : 'host→guest'}, -l ${len}`,
      unit: 'Gbit/s',
      lowerIsBetter: false,
    })),
  ),
  { key: 'rrMed', name: 'UDP RR 1 B median', unit: 'µs', lowerIsBetter: true },
  { key: 'rrP99', name: 'UDP RR 1 B p99', unit: 'µs', lowerIsBetter: true },
  { key: 'icmpMed', name: 'ICMP echo to pod addr median', unit: 'µs', lowerIsBetter: true },
  { key: 'icmpP99', name: 'ICMP echo to pod addr p99', unit: 'µs', lowerIsBetter: true },
];

const echoServer = (bind: string): string =>
  [
    'import socket',
    's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
    `s.bind(("${bind}", ${ECHO_PORT}))`,
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

/** The load tool, run with this Node in each namespace. */
const BLASTER = [process.execPath, fileURLToPath(new URL('./udpblast.mjs', import.meta.url))];

/** UDP goodput (Gbit/s received): guest→host (sink in the pod) or host→guest (reply flow). */
async function udpThroughput(lab: Lab, s: Setup, len: number, reverse: boolean): Promise<number> {
  const secs = String(SECONDS);
  const opts = { timeoutMs: (SECONDS + 30) * 1000 };
  let recvOut: string;
  if (!reverse) {
    const sink = lab.spawn(s.pod, [...BLASTER, 'recv', String(BLAST_PORT), s.bind]);
    try {
      await sink.waitForOutput(/ready/, 10_000);
      await lab.run(s.guest, [...BLASTER, 'send', GW, String(BLAST_PORT), String(len), secs], opts);
      await Promise.race([sink.exited, sleep(35_000)]);
      recvOut = sink.stdout;
    } finally {
      await sink.kill('SIGKILL', 1000);
    }
  } else {
    const src = lab.spawn(s.pod, [
      ...BLASTER,
      'rserve',
      String(BLAST_PORT),
      String(len),
      secs,
      s.bind,
    ]);
    try {
      await src.waitForOutput(/ready/, 10_000);
      recvOut = await lab.run(s.guest, [...BLASTER, 'rrecv', GW, String(BLAST_PORT)], opts);
      await Promise.race([src.exited, sleep(5000)]);
    } finally {
      await src.kill('SIGKILL', 1000);
    }
  }
  const m = /([\d.]+) Gbit\/s/.exec(recvOut);
  if (m === null) throw new Error(`receiver: ${lastLine(recvOut) || 'no output'}`);
  return Number(m[1]);
}

function throughput(len: number, reverse: boolean): Workload {
  const key = `${reverse ? 'h2g' : 'g2h'}${len}`;
  return {
    name: ROWS.find((r) => r.key === key)!.name,
    rows: [key],
    async run(lab, s) {
      return { [key]: await udpThroughput(lab, s, len, reverse) };
    },
  };
}

/** UDP 1-byte request/response round trips from the guest: median and p99 µs. */
const RR: Workload = {
  name: 'UDP RR',
  rows: ['rrMed', 'rrP99'],
  async run(lab, s) {
    const echo = lab.spawn(s.pod, ['python3', '-u', '-c', echoServer(s.bind)]);
    try {
      await echo.waitForOutput(/listening/, 10_000);
      const r = await lab.exec(s.guest, ['python3', '-c', RR_CLIENT, String(RR_COUNT)], {
        timeoutMs: 60_000,
      });
      if (r.code !== 0) throw new Error(lastLine(r.stderr) || `exit ${r.code}`);
      const us = r.stdout
        .trim()
        .split(/\s+/)
        .map((x) => Number(x) / 1000);
      if (us.length !== RR_COUNT || us.some((x) => !Number.isFinite(x))) {
        throw new Error(`rr printed ${us.length} samples, want ${RR_COUNT}`);
      }
      return { rrMed: median(us), rrP99: quantile(us, 0.99) };
    } finally {
      await echo.kill('SIGKILL', 1000);
    }
  },
};

/** ICMP echo to the pod's address, 200 pings 5 ms apart: per-packet median and p99 µs. */
const ICMP: Workload = {
  name: 'ICMP echo',
  rows: ['icmpMed', 'icmpP99'],
  async run(lab, s, note) {
    const r = await lab.exec(
      s.guest,
      ['ping', '-c', String(PINGS), '-i', '0.005', '-W', '1', POD_ADDR],
      { timeoutMs: 60_000 },
    );
    const us = [...r.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]) * 1000);
    if (us.length === 0) throw new Error(`no reply: ${lastLine(r.stdout + r.stderr)}`);
    if (us.length < PINGS) note(`only ${us.length}/${PINGS} replies`);
    return { icmpMed: median(us), icmpP99: quantile(us, 0.99) };
  },
};

const WORKLOADS: readonly Workload[] = [
  throughput(1400, false),
  throughput(1400, true),
  throughput(65000, false),
  throughput(65000, true),
  RR,
  ICMP,
];

const UP: Kind = 'pasta-upstream';
/** Issue 17's UDP and ICMP targets, against the newest pasta. */
export const UDP_TARGETS: readonly TargetSpec[] = [
  ...ROWS.filter((r) => r.unit === 'Gbit/s').map((r): TargetSpec => ({
    row: r.key,
    text: `${r.name} ≥ 1.0× newest pasta`,
    short: '≥1.0× up',
    kind: 'bindery',
    of: UP,
    op: '>=',
    bound: 1.0,
  })),
  {
    row: 'rrMed',
    text: 'UDP RR median ≤ 1.0× newest pasta',
    short: '≤1.0× up',
    kind: 'bindery',
    of: UP,
    op: '<=',
    bound: 1.0,
  },
  {
    row: 'icmpMed',
    text: 'ICMP echo median ≤ 1.0× newest pasta',
    short: '≤1.0× up',
    kind: 'bindery',
    of: UP,
    op: '<=',
    bound: 1.0,
  },
];

/** The workloads to run: those with a row key in BINDERY_BENCH_UDP_WORKLOADS, or all. */
function selectedWorkloads(): readonly Workload[] {
  const env = process.env.BINDERY_BENCH_UDP_WORKLOADS;
  if (env === undefined || env === '') return WORKLOADS;
  const keys = new Set(env.split(',').map((k) => k.trim()));
  return WORKLOADS.filter((w) => w.rows.some((r) => keys.has(r)));
}

/** The kinds to run: BINDERY_BENCH_UDP_SETUPS (comma-separated) or all. */
export function selectedUdpKinds(): Kind[] {
  return selectKinds(process.env.BINDERY_BENCH_UDP_SETUPS, 'BINDERY_BENCH_UDP_SETUPS');
}

export type UdpBenchResult = MatrixResult;
export type { Value };

/**
 * Runs every workload `reps` times against each setup (workload by workload, the setups in
 * turn) and returns every sample and the medians. Everything made is removed at the end, also
 * on failure.
 *
 * @param reps - Repetitions per workload and setup.
 * @param kinds - Setups to run, in table order.
 */
export async function benchUdpCompare(
  reps = 3,
  chosen: readonly Kind[] = selectedUdpKinds(),
): Promise<UdpBenchResult> {
  const started = new Date();
  const loadStart = loadavg();
  const kinds = usedKinds(chosen, selectedWorkloads());
  const peers = resolvePeers(kinds, ENTRY);
  const lab = await Lab.create();
  const onSignal = (): void => {
    void lab.teardown().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  let run: Awaited<ReturnType<typeof runMatrix>>;
  try {
    const prof = process.env.BINDERY_BENCH_CPU_PROF;
    run = await runMatrix(lab, {
      log: 'udp bench',
      reps,
      kinds,
      peers,
      rows: ROWS,
      workloads: selectedWorkloads(),
      ...(prof ? { profDir: prof } : {}),
    });
  } finally {
    process.removeListener('SIGINT', onSignal);
    await lab.teardown();
  }
  const meta = {
    ...machineMeta(started, loadStart),
    reps,
    mtu: MTU,
    seconds: SECONDS,
    rrCount: RR_COUNT,
    pings: PINGS,
    versions: Object.fromEntries([...peers].map(([k, p]) => [k, p.version])),
  };
  const rec = { meta, kinds, peers: peerRecord(peers), rows: run.rows, notes: run.notes };
  return { ...rec, targets: checkTargets(rec, UDP_TARGETS) };
}

/** The table's title for a run of `reps` repetitions. */
export function udpTitle(reps: number): string {
  return `UDP/ICMP: bindery passt (tap; and --no-tap-offload) vs pasta (Debian, upstream) vs slirp4netns vs veth, MTU ${MTU}, median of ${reps}`;
}

/**
 * Prints the comparison table (a column per setup, bindery's ratios), what each column ran and
 * the notes.
 *
 * @param title - Heading.
 * @param res - What `benchUdpCompare` returned.
 */
export function printUdpTable(title: string, res: UdpBenchResult): void {
  const targets = res.targets ?? [];
  printMatrix(title, res, {
    rows: res.rows.filter((r) => res.kinds.some((k) => (r.samples[k] ?? []).length > 0)),
    last: { head: 'issue 17 target (vs newest pasta)', cell: targetCell(targets) },
  });
  console.log('(Gbit/s: higher is better; µs: lower is better)');
  printLegend(res);
  printTargets('UDP/ICMP targets (issue 17; ratios to the newest pasta in this run)', targets);
  printNotes(res.notes);
}

/**
 * Writes the results as JSON to bench/results/udp-<ISO date>.json (or
 * BINDERY_BENCH_RESULTS_DIR).
 *
 * @returns The file's path.
 */
export function writeUdpJson(res: UdpBenchResult): string {
  return writeJson('udp', res);
}

/** `node --import tsx bench/udp.ts`: this bench alone. */
async function main(): Promise<void> {
  const reps = Number(process.env.BINDERY_BENCH_NET_REPS ?? 3);
  const res = await benchUdpCompare(reps);
  printUdpTable(udpTitle(reps), res);
  console.log(`\nresults: ${writeUdpJson(res)}`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}
