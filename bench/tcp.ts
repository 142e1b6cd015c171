// Side-by-side TCP benchmark: bindery passt (tap, with and without --no-tap-offload) vs Debian's
// pasta vs the newest upstream pasta vs slirp4netns vs a plain veth pair, in one run.
//
// The setups and their namespaces are bench/setups.ts's (columns: bench/README.md); the loop,
// the failed-sample accounting and the table are bench/matrix.ts's. Needs root; opt-in from
// bench/run.ts (BINDERY_BENCH_NET=1 or --net, or BINDERY_BENCH_TCP_ONLY=1), or run this file
// directly.
//
// Workloads (median of BINDERY_BENCH_NET_REPS repetitions, default 3):
// - bulk: iperf3 -J, 1 and 4 streams, guest→host (-c in the guest) and host→guest (-R), for
//   BINDERY_BENCH_NET_SECONDS (default 5); plus guest→host paced at 10 Gbit/s (-b 10G), because
//   pasta of 2023 stalls unpaced in that direction (docs/anchors-measured.md).
// - TCP RR: one connection, 2000 1-byte round trips, median and p99 (bench/tcpload.py rr).
// - connections/s: 8 or 64 processes loop connect / 1-byte request / 1-byte reply / close for
//   BINDERY_BENCH_TCP_CRR_SECONDS (default 3), the guest closing first (bench/tcpload.py crr;
//   rows crr8g, crr64g) or the host (`serve … close` and crrh: rows crr8h, crr64h). Only crr8g
//   runs on every column; the others on bindery and both pastas (and crr64* on the threads
//   column too), to keep a full run within ~25 minutes.
// - bulk host→guest at MTU 1500 (row h2g1m1500): bindery, no-offload and both pastas, each in a
//   setup started afresh at MTU 1500 for that run (the others run at BINDERY_BENCH_MTU).
// - the threads column (bindery --threads BINDERY_BENCH_THREADS, default 2) runs g2h4, h2g4,
//   crr8g, crr64g and crr64h only; t/b is its ratio to one thread.
// - translator CPU (user and system time of all its threads, /proc/<pid>/stat) per RR round
//   trip and per short connection: where the latency and the rate go (10 ms ticks; the RR run
//   is ~0.3 s, so take these to about 5 %).
// - translator RSS (VmRSS) and open fds: idle, while 500 guest→host connections are open, and
//   2 s after they closed (bench/tcpload.py hold). veth has no process: n/a.
// The same tools drive every setup, so the ratios compare the network paths, not the tools.
// Issue 17's targets (TARGETS) are checked against the newest (upstream) pasta and printed as
// met / MISSED with the numbers; the b/deb column keeps Debian's pasta beside it.
// The memory workload comes first in each repetition, so "idle" is before that repetition's
// traffic. Everything is removed at the end by the Lab, also on failure or Ctrl-C.
//
// BINDERY_BENCH_PROFILE=1 adds a profiling phase: a fresh bindery under `node --cpu-prof` for
// one single-stream bulk run each way, and prints the 15 functions with the most self time
// within that run (V8 writes one file per thread; the busiest is the main thread; a bindery
// still running 20 s after SIGTERM writes none, and the notes then say what it was doing).
// BINDERY_BENCH_TCP_SETUPS=bindery,pasta-upstream picks setups (default all, see peers.ts);
// BINDERY_BENCH_TCP_WORKLOADS=rrMed,crr8g picks workloads by a row key (default all; `crr`
// is an alias of crr8g, the row once called crr).
// BINDERY_BENCH_IMPAIR passes a BINDERY_IMPAIR spec to bindery (otherwise it is unset for it).
// bindery runs as deployed, the compiled CLI (bin/bindery.js; `npm run build` first), in every
// column; BINDERY_BENCH_BINDERY=src runs src/ through tsx instead (its loader thread adds to the RSS).
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Lab, type LabProcess } from '../test/lab/lab.js';
import {
  fmtNum,
  fmtValue,
  machineMeta,
  peerRecord,
  printLegend,
  printMatrix,
  printNotes,
  checkTargets,
  printTargets,
  runMatrix,
  targetCell,
  type TargetSpec,
  usedKinds,
  type MatrixResult,
  type RowResult,
  type RowSpec,
  type Value,
  type Workload,
  writeJson,
} from './matrix.js';
import {
  BENCH_THREADS,
  resolvePeers,
  selectKinds,
  toolVersion,
  type Kind,
  type Peer,
} from './peers.js';
import {
  firstLine,
  GW,
  lastLine,
  makeSetupRetry,
  MTU,
  type Setup,
  sleep,
  translatorPid,
} from './setups.js';
import { median, quantile } from './stats.js';

/** The CLI from source, for BINDERY_BENCH_BINDERY=src (run through tsx). */
const ENTRY = fileURLToPath(new URL('../src/cli/bin.ts', import.meta.url));
const LOAD = ['python3', fileURLToPath(new URL('./tcpload.py', import.meta.url))];
const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url));
const SECONDS = Number(process.env.BINDERY_BENCH_NET_SECONDS ?? 5);
const CRR_SECONDS = Number(process.env.BINDERY_BENCH_TCP_CRR_SECONDS ?? 3);
/** Concurrent clients of the connections/s rows. */
const CRR_CONCURRENCY = [8, 64] as const;
/** The MTU of the h2g1m1500 row (issue 17: where pasta's tap queue overflows). */
const SMALL_MTU = 1500;
/** Columns of the rows that run on fewer than all: what their targets compare. */
const CORE_KINDS: readonly Kind[] = ['bindery', 'pasta', 'pasta-upstream'];
const RR_COUNT = 2000;
/** Unmeasured round trips bench/tcpload.py rr makes first (they count for the CPU per round trip). */
const RR_WARMUP = 100;
const HOLD_CONNS = 500;

export type { Kind, RowResult, RowSpec, Value };

/** Self time of one function in a CPU profile. */
export interface ProfileEntry {
  readonly fn: string;
  readonly where: string;
  readonly samples: number;
  readonly percent: number;
  readonly ms: number;
}

/** The top of one profiled run. */
export interface ProfileTop {
  readonly workload: string;
  /** Samples in the run's window (or the whole profile, see `scope`). */
  readonly totalSamples: number;
  readonly idlePercent: number;
  readonly scope: 'run window' | 'whole process';
  /** What the profiled run reached (e.g. "4.2 Gbit/s"), slowed by the profiler. */
  readonly reached: string | undefined;
  readonly top: ProfileEntry[];
  readonly error?: string;
}

/** Everything one run produced (also what the JSON file holds). */
export interface TcpBenchResult extends MatrixResult {
  readonly profiles: ProfileTop[];
}

const BULK_ROWS: readonly RowSpec[] = [
  {
    key: 'g2h1',
    name: 'bulk guest→host, 1 stream',
    unit: 'Gbit/s',
    lowerIsBetter: false,
  },
  {
    key: 'g2h1p',
    name: 'bulk guest→host, 1 stream, -b 10G',
    unit: 'Gbit/s',
    lowerIsBetter: false,
  },
  {
    key: 'h2g1',
    name: 'bulk host→guest, 1 stream',
    unit: 'Gbit/s',
    lowerIsBetter: false,
  },
  {
    key: 'g2h4',
    name: 'bulk guest→host, -P 4',
    unit: 'Gbit/s',
    lowerIsBetter: false,
  },
  {
    key: 'h2g4',
    name: 'bulk host→guest, -P 4',
    unit: 'Gbit/s',
    lowerIsBetter: false,
  },
  {
    key: 'h2g1m1500',
    name: `bulk host→guest, 1 stream, MTU ${SMALL_MTU}`,
    unit: 'Gbit/s',
    lowerIsBetter: false,
  },
];

/** Row key of a connections/s row: crr<clients><g|h> (who closes first). */
const crrKey = (conc: number, hostCloses: boolean): string => `crr${conc}${hostCloses ? 'h' : 'g'}`;
const CRR_ROWS: readonly RowSpec[] = CRR_CONCURRENCY.flatMap((conc) =>
  [false, true].map((hostCloses) => ({
    key: crrKey(conc, hostCloses),
    name: `connections/s, ${conc} concurrent, ${hostCloses ? 'host' : 'guest'} closes first`,
    unit: 'conn/s',
    lowerIsBetter: false,
  })),
);

const ROWS: readonly RowSpec[] = [
  ...BULK_ROWS,
  ...BULK_ROWS.map((r): RowSpec => ({
    key: `${r.key}Rtx`,
    name: r.name,
    unit: 'retransmits',
    lowerIsBetter: true,
    secondary: true,
  })),
  { key: 'rrMed', name: 'TCP RR 1 B median', unit: 'µs', lowerIsBetter: true },
  { key: 'rrP99', name: 'TCP RR 1 B p99', unit: 'µs', lowerIsBetter: true },
  ...CRR_ROWS,
  { key: 'rrUser', name: 'translator user CPU per round trip', unit: 'µs', lowerIsBetter: true },
  { key: 'rrSys', name: 'translator system CPU per round trip', unit: 'µs', lowerIsBetter: true },
  {
    key: 'crrUser',
    name: 'translator user CPU per connection (crr8g)',
    unit: 'µs',
    lowerIsBetter: true,
  },
  {
    key: 'crrSys',
    name: 'translator system CPU per connection (crr8g)',
    unit: 'µs',
    lowerIsBetter: true,
  },
  { key: 'rssIdle', name: 'translator RSS idle', unit: 'kB', lowerIsBetter: true },
  {
    key: 'rssHold',
    name: `translator RSS, ${HOLD_CONNS} conns open`,
    unit: 'kB',
    lowerIsBetter: true,
  },
  { key: 'rssAfter', name: 'translator RSS, 2 s after closing', unit: 'kB', lowerIsBetter: true },
  { key: 'fdIdle', name: 'translator fds idle', unit: 'fds', lowerIsBetter: true },
  {
    key: 'fdHold',
    name: `translator fds, ${HOLD_CONNS} conns open`,
    unit: 'fds',
    lowerIsBetter: true,
  },
  { key: 'fdAfter', name: 'translator fds, 2 s after closing', unit: 'fds', lowerIsBetter: true },
];

let nextPort = 61000;
/**
 * A fresh server port for every run (so TIME_WAIT of an earlier run never gets in the way),
 * above the ephemeral range so no client or translator socket already holds it.
 */
function port(): number {
  const p = nextPort;
  nextPort = nextPort >= 65535 ? 61000 : nextPort + 1;
  return p;
}

function procStats(pid: number): { rssKb: number; fds: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+) kB/m.exec(status);
  if (m === null) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return { rssKb: Number(m[1]), fds: readdirSync(`/proc/${pid}/fd`).length };
}

/** Clock ticks per second of /proc/<pid>/stat's utime and stime. */
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** CPU time the translator (all its threads) has used so far, µs of user and of system time. */
function cpuUs(pid: number): [number, number] {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return [(Number(f[11]) * 1e6) / CLK_TCK, (Number(f[12]) * 1e6) / CLK_TCK];
}

/**
 * Runs `work` and returns the translator's CPU time per operation ([user, sys] µs), or 'n/a'
 * for veth (no translator). `work` returns how many operations it did.
 */
async function cpuPerOp(s: Setup, work: () => Promise<number>): Promise<[Value, Value]> {
  const pid = s.proc !== undefined ? translatorPid(s.proc) : undefined;
  const before = pid !== undefined ? cpuUs(pid) : undefined;
  const ops = await work();
  if (pid === undefined || before === undefined || ops === 0) return ['n/a', 'n/a'];
  const after = cpuUs(pid);
  return [(after[0] - before[0]) / ops, (after[1] - before[1]) / ops];
}

/** Starts the tcpload echo server in the pod on a fresh port (closing first if `close`). */
async function startServer(lab: Lab, s: Setup, close = false): Promise<[LabProcess, number]> {
  const p = port();
  const srv = lab.spawn(s.pod, [...LOAD, 'serve', s.bind, String(p), ...(close ? ['close'] : [])]);
  await srv.waitForOutput(/ready/, 10_000);
  return [srv, p];
}

interface IperfResult {
  readonly gbps: number;
  readonly retransmits: number | undefined;
}

/** One iperf3 run from the guest to the gateway; Gbit/s as the receiver counted it. */
async function iperf(
  lab: Lab,
  s: Setup,
  streams: number,
  reverse: boolean,
  paced: boolean,
): Promise<IperfResult> {
  const p = String(port());
  const srv = lab.spawn(s.pod, ['iperf3', '-s', '-1', '--forceflush', '-B', s.bind, '-p', p]);
  try {
    await srv.waitForOutput(/Server listening/, 10_000);
    const r = await lab.exec(
      s.guest,
      [
        'iperf3',
        '-c',
        GW,
        '-p',
        p,
        '-t',
        String(SECONDS),
        '-J',
        '--connect-timeout',
        '3000',
        ...(streams > 1 ? ['-P', String(streams)] : []),
        ...(reverse ? ['-R'] : []),
        ...(paced ? ['-b', '10G'] : []),
      ],
      { timeoutMs: (SECONDS + 25) * 1000 },
    );
    let j: {
      error?: string;
      end?: {
        sum_received?: { bits_per_second?: number };
        sum_sent?: { retransmits?: number };
      };
    };
    try {
      j = JSON.parse(r.stdout) as typeof j;
    } catch {
      throw new Error(`iperf3 exit ${r.code}: ${lastLine(r.stderr + r.stdout)}`);
    }
    if (j.error !== undefined) throw new Error(`iperf3: ${j.error}`);
    const bps = j.end?.sum_received?.bits_per_second;
    if (typeof bps !== 'number') throw new Error('iperf3: no end.sum_received in its JSON');
    return { gbps: bps / 1e9, retransmits: j.end?.sum_sent?.retransmits };
  } finally {
    await srv.kill('SIGKILL', 500);
  }
}

function bulk(
  key: string,
  streams: number,
  reverse: boolean,
  paced: boolean,
  kinds?: readonly Kind[],
): Workload {
  return {
    name: ROWS.find((r) => r.key === key)!.name,
    rows: [key, `${key}Rtx`],
    ...(kinds !== undefined ? { kinds } : {}),
    async run(lab, s) {
      const r = await iperf(lab, s, streams, reverse, paced);
      return { [key]: r.gbps, [`${key}Rtx`]: r.retransmits ?? 'n/a' };
    },
  };
}

/**
 * Host→guest bulk, 1 stream, at MTU 1500: a setup of the same column started afresh at that
 * MTU for this run and stopped after it (its namespaces stay until the Lab's teardown), so
 * one `--net` run covers issue 17's MTU 1500 target while the other rows keep their MTU.
 */
const BULK_SMALL_MTU: Workload = {
  name: ROWS.find((r) => r.key === 'h2g1m1500')!.name,
  rows: ['h2g1m1500', 'h2g1m1500Rtx'],
  kinds: ['bindery', 'bindery-no-offload', 'pasta', 'pasta-upstream'],
  async run(lab, s) {
    const m = await makeSetupRetry(lab, s.peer, undefined, 'tcp bench', SMALL_MTU);
    try {
      const r = await iperf(lab, m, 1, true, false);
      return { h2g1m1500: r.gbps, h2g1m1500Rtx: r.retransmits ?? 'n/a' };
    } finally {
      await m.proc?.kill('SIGTERM', 2000);
    }
  },
};

const RR: Workload = {
  name: 'TCP RR',
  rows: ['rrMed', 'rrP99', 'rrUser', 'rrSys'],
  async run(lab, s) {
    const [srv, p] = await startServer(lab, s);
    try {
      let us: number[] = [];
      const [user, sys] = await cpuPerOp(s, async () => {
        const r = await lab.exec(s.guest, [...LOAD, 'rr', GW, String(p), String(RR_COUNT)], {
          timeoutMs: 60_000,
        });
        if (r.code !== 0) throw new Error(lastLine(r.stderr) || `exit ${r.code}`);
        us = r.stdout
          .trim()
          .split(/\s+/)
          .map((x) => Number(x) / 1000);
        return RR_COUNT + RR_WARMUP;
      });
      if (us.length !== RR_COUNT || us.some((x) => !Number.isFinite(x))) {
        throw new Error(`rr printed ${us.length} samples, want ${RR_COUNT}`);
      }
      return { rrMed: median(us), rrP99: quantile(us, 0.99), rrUser: user, rrSys: sys };
    } finally {
      await srv.kill('SIGKILL', 500);
    }
  },
};

/**
 * connections/s with `conc` clients in the guest; the guest closes first (the server closes on
 * reading the end of stream), or the host (the server closes after its reply, the client
 * waits for that FIN). crr8g also gives the translator's CPU per connection.
 */
function crr(conc: number, hostCloses: boolean, kinds?: readonly Kind[]): Workload {
  const key = crrKey(conc, hostCloses);
  const cpu = key === 'crr8g';
  return {
    name: CRR_ROWS.find((r) => r.key === key)!.name,
    rows: cpu ? [key, 'crrUser', 'crrSys'] : [key],
    ...(kinds !== undefined ? { kinds } : {}),
    async run(lab, s, note) {
      const [srv, p] = await startServer(lab, s, hostCloses);
      try {
        let m: RegExpExecArray | null = null;
        const mode = hostCloses ? 'crrh' : 'crr';
        const [user, sys] = await cpuPerOp(s, async () => {
          const r = await lab.exec(
            s.guest,
            [...LOAD, mode, GW, String(p), String(CRR_SECONDS), String(conc)],
            { timeoutMs: (CRR_SECONDS + 30) * 1000 },
          );
          m = /conns (\d+) secs ([\d.]+) rate ([\d.]+) errors (\d+) ?(.*)/.exec(r.stdout);
          if (r.code !== 0 || m === null) throw new Error(lastLine(r.stderr) || `exit ${r.code}`);
          return Number(m[1]);
        });
        const [conns, errors] = [Number(m![1]), Number(m![4])];
        if (conns === 0) throw new Error(`no connection completed: ${m![5]}`);
        if (errors > 0) note(`${conns} connections, ${errors} failed (first: ${m![5]})`);
        return { [key]: Number(m![3]), ...(cpu ? { crrUser: user, crrSys: sys } : {}) };
      } finally {
        await srv.kill('SIGKILL', 500);
      }
    },
  };
}

const HOLD: Workload = {
  name: `translator memory, ${HOLD_CONNS} connections`,
  rows: ['rssIdle', 'rssHold', 'rssAfter', 'fdIdle', 'fdHold', 'fdAfter'],
  async run(lab, s) {
    if (s.proc === undefined) {
      return Object.fromEntries(this.rows.map((k) => [k, 'n/a' as const]));
    }
    const pid = translatorPid(s.proc);
    const [srv, p] = await startServer(lab, s);
    try {
      const idle = procStats(pid);
      const client = lab.spawn(s.guest, [...LOAD, 'hold', GW, String(p), String(HOLD_CONNS)]);
      try {
        await client.waitForOutput(/held \d+/, 120_000);
      } catch {
        await client.kill('SIGKILL', 500);
        throw new Error(lastLine(client.stderr) || 'hold client did not get its connections');
      }
      await sleep(1000);
      const held = procStats(pid);
      await client.kill('SIGTERM', 2000);
      await sleep(2000);
      const after = procStats(pid);
      return {
        rssIdle: idle.rssKb,
        rssHold: held.rssKb,
        rssAfter: after.rssKb,
        fdIdle: idle.fds,
        fdHold: held.fds,
        fdAfter: after.fds,
      };
    } finally {
      await srv.kill('SIGKILL', 500);
    }
  },
};

/** In run order: memory first (idle means before this repetition's traffic). */
const BASE_KINDS: readonly Kind[] = [
  'bindery',
  'bindery-no-offload',
  'pasta',
  'pasta-upstream',
  'slirp4netns',
  'veth',
];
const WITH_THREADS: readonly Kind[] = [...BASE_KINDS, 'bindery-threads'];
// connections/s at 8 clients also with threads: the issue asks for the scaling at 8 and 64.
const CRR8G = crr(8, false, WITH_THREADS);
const WORKLOADS: readonly Workload[] = [
  HOLD,
  bulk('g2h1', 1, false, false),
  bulk('g2h1p', 1, false, true),
  bulk('h2g1', 1, true, false),
  bulk('g2h4', 4, false, false, WITH_THREADS),
  bulk('h2g4', 4, true, false, WITH_THREADS),
  BULK_SMALL_MTU,
  RR,
  CRR8G,
  crr(8, true, CORE_KINDS),
  crr(64, false, [...CORE_KINDS, 'bindery-threads']),
  crr(64, true, [...CORE_KINDS, 'bindery-threads']),
];

/**
 * The workloads to run: those with a row key in BINDERY_BENCH_TCP_WORKLOADS, or all (`crr`
 * stands for crr8g, the row's name before the 64-client and host-closes rows).
 */
function selectedWorkloads(): readonly Workload[] {
  const env = process.env.BINDERY_BENCH_TCP_WORKLOADS;
  if (env === undefined || env === '') return WORKLOADS;
  const keys = new Set(env.split(',').map((k) => (k.trim() === 'crr' ? 'crr8g' : k.trim())));
  return WORKLOADS.filter((w) => w.rows.some((r) => keys.has(r)));
}

const UP: Kind = 'pasta-upstream';
/** Issue 17's TCP targets, against the newest pasta (and the threads one against 1 thread). */
export const TCP_TARGETS: readonly TargetSpec[] = [
  {
    row: 'rrMed',
    text: 'TCP RR median ≤ 1.0× newest pasta',
    short: '≤1.0× up',
    kind: 'bindery',
    of: UP,
    op: '<=',
    bound: 1.0,
  },
  {
    row: 'rrP99',
    text: 'TCP RR p99 ≤ 1.2× newest pasta',
    short: '≤1.2× up',
    kind: 'bindery',
    of: UP,
    op: '<=',
    bound: 1.2,
  },
  ...CRR_ROWS.map((r): TargetSpec => ({
    row: r.key,
    text: `${r.name} ≥ 1.2× newest pasta`,
    short: '≥1.2× up',
    kind: 'bindery',
    of: UP,
    op: '>=',
    bound: 1.2,
  })),
  {
    row: 'h2g1',
    text: 'TCP bulk host→guest without tap offload ≥ 1.0× newest pasta',
    short: 'no-offload ≥1.0× up',
    kind: 'bindery-no-offload',
    of: UP,
    op: '>=',
    bound: 1.0,
  },
  // The issue's sentence ("Without tap offload, …; at MTU 1500 … ≥ 4× pasta") reads either
  // way: both bindery as deployed and without offload are held to it.
  {
    row: 'h2g1m1500',
    text: `TCP bulk host→guest at MTU ${SMALL_MTU} ≥ 4× newest pasta`,
    short: '≥4× up',
    kind: 'bindery',
    of: UP,
    op: '>=',
    bound: 4,
  },
  {
    row: 'h2g1m1500',
    text: `TCP bulk host→guest at MTU ${SMALL_MTU} without tap offload ≥ 4× newest pasta`,
    short: 'no-offload ≥4× up',
    kind: 'bindery-no-offload',
    of: UP,
    op: '>=',
    bound: 4,
  },
  ...(['g2h4', 'h2g4'] as const).map((row): TargetSpec => ({
    row,
    text: `${ROWS.find((r) => r.key === row)!.name}: ${BENCH_THREADS} threads ≥ 1.5× one thread`,
    short: `≥1.5× 1 thread`,
    kind: 'bindery-threads',
    of: 'bindery',
    op: '>=',
    bound: 1.5,
  })),
  {
    row: 'rssIdle',
    text: 'RSS idle ≤ 48 MiB (49152 kB)',
    short: '≤48 MiB',
    kind: 'bindery',
    op: '<=',
    bound: 48 * 1024,
  },
  {
    row: 'crrUser',
    text: 'user CPU per connection ≤ 1.5× newest pasta',
    short: '≤1.5× up',
    kind: 'bindery',
    of: UP,
    op: '<=',
    bound: 1.5,
  },
];

/** A command's output lines (empty on failure). */
function toolLines(argv: string[]): string[] {
  try {
    const out = execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', stdio: 'pipe' });
    return out.split('\n').filter((l) => l.trim() !== '');
  } catch {
    return [];
  }
}

/** The kinds to run: BINDERY_BENCH_TCP_SETUPS (comma-separated) or all. */
export function selectedKinds(): Kind[] {
  return selectKinds(process.env.BINDERY_BENCH_TCP_SETUPS, 'BINDERY_BENCH_TCP_SETUPS');
}

/**
 * Runs every workload `reps` times against each setup and returns per-row samples and
 * medians (plus, with BINDERY_BENCH_PROFILE=1, bindery's CPU profile tops). Everything made
 * is removed at the end, also on failure.
 *
 * @param reps - Repetitions per workload and setup.
 * @param kinds - Setups to run, in table order.
 * @returns The results, ready for `printTcpTable` and `writeTcpJson`.
 */
export async function benchTcpCompare(
  reps = 3,
  chosen: readonly Kind[] = selectedKinds(),
): Promise<TcpBenchResult> {
  let kinds = chosen;
  const started = new Date();
  const loadStart = loadavg();
  const commit = toolVersion(['git', '-C', REPO_ROOT, 'log', '-1', '--format=%h %s']);
  const uncommitted = toolLines([
    'git',
    '-C',
    REPO_ROOT,
    'status',
    '--porcelain',
    '--',
    'src',
    'native',
  ]);
  kinds = usedKinds(kinds, selectedWorkloads());
  const peers = resolvePeers(kinds, ENTRY);
  const lab = await Lab.create();
  const onSignal = (): void => {
    void lab.teardown().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  const profiles: ProfileTop[] = [];
  let run: Awaited<ReturnType<typeof runMatrix>>;
  try {
    run = await runMatrix(lab, {
      log: 'tcp bench',
      reps,
      kinds,
      peers,
      rows: ROWS,
      workloads: selectedWorkloads(),
    });
    const bindery = peers.get('bindery');
    if (process.env.BINDERY_BENCH_PROFILE === '1' && bindery !== undefined) {
      const chosen = new Set(selectedWorkloads().flatMap((w) => w.rows));
      const runs: [string, string, (s: Setup) => Promise<string>][] = [
        ...([false, true] as const).map(
          (reverse): [string, string, (s: Setup) => Promise<string>] => [
            reverse ? 'h2g1' : 'g2h1',
            `bulk ${reverse ? 'host→guest' : 'guest→host'}, 1 stream`,
            async (s) => `${fmtNum((await iperf(lab, s, 1, reverse, false)).gbps)} Gbit/s`,
          ],
        ),
        [
          'rrMed',
          RR.name,
          async (s) => `median ${fmtValue((await RR.run(lab, s, () => {})).rrMed ?? 'n/a')} µs`,
        ],
        [
          'crr8g',
          CRR8G.name,
          async (s) => `${fmtValue((await CRR8G.run(lab, s, () => {})).crr8g ?? 'n/a')} conn/s`,
        ],
      ];
      for (const [key, name, measure] of runs) {
        if (chosen.has(key)) {
          profiles.push(await profileRun(lab, bindery, name, run.notes, measure));
        }
      }
    }
  } finally {
    process.removeListener('SIGINT', onSignal);
    await lab.teardown();
  }
  const meta = {
    ...machineMeta(started, loadStart),
    reps,
    mtu: MTU,
    seconds: SECONDS,
    crrSeconds: CRR_SECONDS,
    crrConcurrency: CRR_CONCURRENCY,
    smallMtu: SMALL_MTU,
    threads: BENCH_THREADS,
    rrCount: RR_COUNT,
    holdConnections: HOLD_CONNS,
    // At the start: the checkout bindery was built from.
    commit,
    uncommitted,
    // Every setup's program and version (also in `peers`).
    versions: Object.fromEntries([...peers].map(([k, p]) => [k, p.version])),
    iperf3: toolVersion(['iperf3', '--version']),
    binderyImpair: process.env.BINDERY_BENCH_IMPAIR ?? '',
    binderyFrom:
      process.env.BINDERY_BENCH_BINDERY === 'src' ? 'src via tsx' : 'dist (bin/bindery.js passt)',
  };
  const rec = { meta, kinds, peers: peerRecord(peers), rows: run.rows, notes: run.notes };
  return { ...rec, targets: checkTargets(rec, TCP_TARGETS), profiles };
}

/**
 * One workload under `node --cpu-prof` in a fresh bindery; top self-time functions in its
 * window. `measure` runs it and says what it reached (shown beside the profile).
 */
async function profileRun(
  lab: Lab,
  bindery: Peer,
  workload: string,
  notes: string[],
  measure: (s: Setup) => Promise<string>,
): Promise<ProfileTop> {
  console.error(`  tcp bench: profiling bindery, ${workload}`);
  const dir = await lab.tmpDir();
  let reached: string | undefined;
  let error: string | undefined;
  let window: [number, number] | undefined;
  try {
    const s = await makeSetupRetry(lab, bindery, dir, 'tcp bench');
    const t0 = Number(process.hrtime.bigint() / 1000n);
    try {
      reached = await measure(s);
    } catch (e) {
      error = firstLine(e);
    }
    window = [t0, Number(process.hrtime.bigint() / 1000n)];
    // --cpu-prof writes the profile when the process exits normally (it stops on SIGTERM).
    const proc = s.proc!;
    process.kill(proc.pid, 'SIGTERM');
    const stopped = await Promise.race([proc.exited, sleep(20_000).then(() => undefined)]);
    if (stopped === undefined) {
      // Still there: the main thread will write no profile (only threads that ended did).
      // Say what it is doing, for whoever debugs the shutdown, then kill it.
      const pid = translatorPid(proc);
      const threads = readdirSync(`/proc/${pid}/task`).map((tid) => {
        const st = /^State:\s+(\S+)/m.exec(readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8'));
        const wchan = readFileSync(`/proc/${pid}/task/${tid}/wchan`, 'utf8').trim() || '-';
        return `${tid}:${st?.[1] ?? '?'}/${wchan}`;
      });
      const socks = await lab.exec(s.pod, ['ss', '-tanp'], { timeoutMs: 5000 });
      const mine = socks.stdout.split('\n').filter((l) => l.includes(`pid=${pid},`));
      error = `bindery did not exit within 20 s of SIGTERM, so no profile of its main thread`;
      notes.push(
        `profiling, ${workload}: ${error}; threads (tid:state/wchan) ${threads.join(' ')}; ` +
          `its TCP sockets: ${mine.length === 0 ? 'none' : mine.map((l) => l.trim().split(/\s+/).slice(0, 5).join(' ')).join('; ')}; ` +
          `last output: ${lastLine(proc.output)}`,
      );
      await proc.kill('SIGKILL', 1000);
    }
  } catch (e) {
    error ??= `setup: ${firstLine(e)}`;
  }
  // One file per thread (tsx's loader runs in a worker thread, idle all along): the busiest
  // one in the run's window is the main thread.
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  if (window === undefined || files.length === 0) {
    // No run (or no profile of it): a profile of start-up alone would only mislead.
    return {
      workload,
      totalSamples: 0,
      idlePercent: NaN,
      scope: 'whole process',
      reached,
      top: [],
      error: error ?? 'no .cpuprofile written (did bindery exit on SIGTERM?)',
    };
  }
  const busy = (t: Omit<ProfileTop, 'workload' | 'reached'>): number =>
    t.totalSamples * (1 - (t.idlePercent || 0) / 100);
  if (error !== undefined && /no profile of its main thread/.test(error)) {
    return {
      workload,
      totalSamples: 0,
      idlePercent: NaN,
      scope: 'whole process',
      reached,
      top: [],
      error,
    };
  }
  const best = files
    .map((f) => topSelf(join(dir, f), window))
    .reduce((a, b) => (busy(b) > busy(a) ? b : a));
  return { ...best, workload, reached, ...(error ? { error } : {}) };
}

const sourceCache = new Map<string, string[] | undefined>();

/**
 * The 1-based line of `fn` in a profile's `url`. tsx hands V8 transformed code, so the
 * profile's own line is only used for plain JavaScript; in a .ts source the function's
 * definition is looked up by name (first match), or '?' when not found.
 */
function sourceLine(url: string, fn: string, line0: number): string {
  if (!url.startsWith('file://') || !/\.[cm]?ts$/.test(url)) return String(line0 + 1);
  let lines = sourceCache.get(url);
  if (!sourceCache.has(url)) {
    try {
      lines = readFileSync(fileURLToPath(url), 'utf8').split('\n');
    } catch {
      lines = undefined;
    }
    sourceCache.set(url, lines);
  }
  if (lines === undefined || !/^[\w$]+$/.test(fn)) return '?';
  const def = new RegExp(
    `^\\s*(?:export\\s+)?(?:(?:public|private|protected|static|readonly|async|get|set)\\s+)*(?:function\\s*\\*?\\s*)?${fn.replace(/\$/g, '\\$')}\\s*(?:[(<]|=\\s*(?:async\\s*)?\\()`,
  );
  // A definition, not an interface member or overload signature (those end with ';').
  let i = lines.findIndex((l) => def.test(l) && !l.trimEnd().endsWith(';'));
  if (i < 0) i = lines.findIndex((l) => def.test(l));
  return i < 0 ? '?' : String(i + 1);
}

interface CpuProfile {
  nodes: Array<{
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
    hitCount?: number;
  }>;
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

/** Sums self samples per function (name + location), within `window` (µs, monotonic) if given. */
function topSelf(
  path: string,
  window: [number, number] | undefined,
): Omit<ProfileTop, 'workload' | 'reached'> {
  const prof = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const counts = new Map<number, number>();
  let scope: ProfileTop['scope'] = 'whole process';
  if (window !== undefined && prof.samples !== undefined && prof.timeDeltas !== undefined) {
    // V8's profile clock and process.hrtime are both CLOCK_MONOTONIC (µs here).
    let t = prof.startTime;
    for (let i = 0; i < prof.samples.length; i++) {
      t += prof.timeDeltas[i] ?? 0;
      if (t < window[0] || t > window[1]) continue;
      const id = prof.samples[i]!;
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    if (counts.size > 0) scope = 'run window';
  }
  if (counts.size === 0) {
    for (const n of prof.nodes) if (n.hitCount) counts.set(n.id, n.hitCount);
  }
  const perFn = new Map<string, { fn: string; where: string; samples: number }>();
  let total = 0;
  let idle = 0;
  for (const [id, c] of counts) {
    const cf = byId.get(id)!.callFrame;
    total += c;
    if (cf.functionName === '(idle)') {
      idle += c;
      continue;
    }
    const fn = cf.functionName || '(anonymous)';
    const url = cf.url.replace(pathToFileURL(REPO_ROOT).href, '');
    const where = url === '' ? '' : `${url}:${sourceLine(cf.url, fn, cf.lineNumber)}`;
    const k = `${fn} ${where}`;
    const e = perFn.get(k) ?? { fn, where, samples: 0 };
    e.samples += c;
    perFn.set(k, e);
  }
  const msPerSample =
    prof.samples && prof.samples.length > 0
      ? (prof.endTime - prof.startTime) / 1000 / prof.samples.length
      : 0;
  const top = [...perFn.values()]
    .sort((a, b) => b.samples - a.samples)
    .slice(0, 15)
    .map((e) => ({ ...e, percent: (100 * e.samples) / total, ms: e.samples * msPerSample }));
  return { totalSamples: total, idlePercent: (100 * idle) / total, scope, top };
}

/**
 * Prints the comparison table (one column per setup, headed with pasta's versions; bindery's
 * ratios to each pasta and veth; whether each target is met), what each column ran, the
 * retransmits, the notes (failures in full) and the CPU profile tops.
 *
 * @param title - Table heading.
 * @param res - What `benchTcpCompare` returned.
 */
export function printTcpTable(title: string, res: TcpBenchResult): void {
  const measured = (r: RowResult): boolean =>
    res.kinds.some((k) => (r.samples[k] ?? []).length > 0);
  const targets = res.targets ?? [];
  printMatrix(title, res, {
    rows: res.rows.filter((r) => r.secondary !== true && measured(r)),
    last: { head: 'issue 17 target (vs newest pasta)', cell: targetCell(targets) },
  });
  console.log('(Gbit/s and conn/s: higher is better; µs, kB, fds: lower is better)');
  printLegend(res);
  printTargets('TCP targets (issue 17; ratios to the newest pasta in this run)', targets);
  const rtx = res.rows.filter((r) => r.secondary === true && measured(r));
  if (rtx.length > 0) {
    printMatrix('iperf3 sender retransmits per run (median)', res, { rows: rtx, ratios: false });
  }
  printNotes(res.notes);
  for (const p of res.profiles) {
    console.log(
      `\nbindery CPU profile, ${p.workload}${p.reached !== undefined ? ` (${p.reached} under --cpu-prof)` : ''}: ` +
        `${p.totalSamples} samples (${p.scope}), idle ${fmtNum(p.idlePercent)}%` +
        `${p.error !== undefined ? `; run failed: ${p.error}` : ''}`,
    );
    if (p.top.length === 0) continue;
    console.log('  self%   self ms  function  location');
    for (const e of p.top) {
      console.log(
        `  ${e.percent.toFixed(1).padStart(5)}  ${e.ms.toFixed(0).padStart(8)}  ${e.fn}  ${e.where}`,
      );
    }
  }
}

/**
 * Writes the results as JSON to bench/results/tcp-<ISO date>.json (or
 * BINDERY_BENCH_RESULTS_DIR).
 *
 * @param res - What `benchTcpCompare` returned.
 * @returns The file's path.
 */
export function writeTcpJson(res: TcpBenchResult): string {
  return writeJson('tcp', res);
}

/** The table's title for a run of `reps` repetitions. */
export function tcpTitle(reps: number): string {
  return `TCP: bindery passt (tap; --no-tap-offload; --threads ${BENCH_THREADS}) vs pasta (Debian, upstream) vs slirp4netns vs veth, MTU ${MTU} (h2g1m1500: ${SMALL_MTU}), median of ${reps}`;
}

/** `node --import tsx bench/tcp.ts`: this bench alone. */
async function main(): Promise<void> {
  const reps = Number(process.env.BINDERY_BENCH_NET_REPS ?? 3);
  const res = await benchTcpCompare(reps);
  printTcpTable(tcpTitle(reps), res);
  console.log(`\nresults: ${writeTcpJson(res)}`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}
