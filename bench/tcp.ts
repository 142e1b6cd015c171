// Side-by-side TCP benchmark: bindery passt (tap) vs Debian's pasta vs slirp4netns vs a plain veth pair, in one run.
//
// Each setup gets the same two namespaces: a "pod" (the host side; the servers listen on its
// loopback) and a "guest" (10.0.2.15/24 on a tap, gateway 10.0.2.2, MTU 65520; slirp4netns
// insists on 10.0.2.100). The translators map the gateway address to the pod's loopback, so the
// guest always talks to 10.0.2.2. The veth setup is the kernel's own path (the upper bound): a
// veth pair guest ↔ pod with 10.0.2.2 on the pod's end, where its servers listen instead. As in
// bench/udp.ts the pod also holds a veth pair (both ends inside it) with a default route so
// pasta finds a template interface; nothing leaves the lab. Needs root; opt-in from bench/run.ts
// (BINDERY_BENCH_NET=1 or --net, or BINDERY_BENCH_TCP_ONLY=1), or run this file directly.
//
// Workloads (median of BINDERY_BENCH_NET_REPS repetitions, default 3):
// - bulk: iperf3 -J, 1 and 4 streams, guest→host (-c in the guest) and host→guest (-R), for
//   BINDERY_BENCH_NET_SECONDS (default 5); plus guest→host paced at 10 Gbit/s (-b 10G), because
//   pasta of 2023 stalls unpaced in that direction (docs/anchors-measured.md).
// - TCP RR: one connection, 2000 1-byte round trips, median and p99 (bench/tcpload.py rr).
// - connections/s: 8 processes loop connect / 1-byte request / 1-byte reply / close for
//   BINDERY_BENCH_TCP_CRR_SECONDS (default 3) (bench/tcpload.py crr).
// - translator CPU (user and system time of all its threads, /proc/<pid>/stat) per RR round
//   trip and per short connection: where the latency and the rate go (10 ms ticks; the RR run
//   is ~0.3 s, so take these to about 5 %).
// - translator RSS (VmRSS) and open fds: idle, while 500 guest→host connections are open, and
//   2 s after they closed (bench/tcpload.py hold). veth has no process: n/a.
// The same tools drive every setup, so the ratios compare the network paths, not the tools.
// Order: each repetition runs workload by workload, the setups in turn (a different one first
// each time), so a burst of other work on this 2-core machine does not land on one setup only;
// the memory workload comes first, so "idle" is before that repetition's traffic.
//
// Robustness: a setup or workload that fails prints "failed: reason" in its cell and the run
// goes on; a workload that failed once is not repeated for that setup (it would only cost its
// time-out again); a translator that exits is started afresh (new namespaces) at the next
// repetition. Everything is removed at the end by the Lab, also on failure or Ctrl-C.
//
// BINDERY_BENCH_PROFILE=1 adds a profiling phase: a fresh bindery under `node --cpu-prof` for
// one single-stream bulk run each way, and prints the 15 functions with the most self time
// within that run (V8 writes one file per thread; the busiest is the main thread; a bindery
// still running 20 s after SIGTERM writes none, and the notes then say what it was doing).
// BINDERY_BENCH_TCP_SETUPS=bindery,pasta picks setups (default all four);
// BINDERY_BENCH_TCP_WORKLOADS=rrMed,crr picks workloads by a row key (default all).
// BINDERY_BENCH_IMPAIR passes a BINDERY_IMPAIR spec to bindery (otherwise it is unset for it).
// bindery runs as deployed, the compiled CLI (bin/bindery.js; `npm run build` first);
// BINDERY_BENCH_BINDERY=src runs src/ through tsx instead (its loader thread adds to the RSS).
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Lab, type LabProcess, type Netns } from '../test/lab/lab.js';
import { pastaArgv } from '../test/lab/tcp-tools.js';
import { median, quantile } from './stats.js';

const BIN = fileURLToPath(new URL('../bin/bindery.js', import.meta.url));
/** The CLI from source (BINDERY_BENCH_BINDERY=src): the same entry, run through tsx. */
const SRC_BIN = fileURLToPath(new URL('../src/cli/bin.ts', import.meta.url));
/** Run the compiled CLI (`npm run build` first), as deployed, unless BINDERY_BENCH_BINDERY=src. */
const FROM_DIST = process.env.BINDERY_BENCH_BINDERY !== 'src';
const LOAD = ['python3', fileURLToPath(new URL('./tcpload.py', import.meta.url))];
const RESULTS_DIR = fileURLToPath(new URL('./results/', import.meta.url));
const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url));
const GUEST_ADDR = '10.0.2.15';
const GW = '10.0.2.2';
const MTU = 65520;
/** The pod's own address on its inner veth: what the guest pings to know the link is up. */
const POD_ADDR = '192.168.77.1';
const SECONDS = Number(process.env.BINDERY_BENCH_NET_SECONDS ?? 5);
const CRR_SECONDS = Number(process.env.BINDERY_BENCH_TCP_CRR_SECONDS ?? 3);
const CRR_CONCURRENCY = 8;
const RR_COUNT = 2000;
/** Unmeasured round trips bench/tcpload.py rr makes first (they count for the CPU per round trip). */
const RR_WARMUP = 100;
const HOLD_CONNS = 500;

/** The four setups, in table order. */
export type Kind = 'bindery' | 'pasta' | 'slirp4netns' | 'veth';
export const KINDS: readonly Kind[] = ['bindery', 'pasta', 'slirp4netns', 'veth'];

/** One measurement: a number, 'n/a' (does not apply), or { failed: reason }. */
export type Value = number | 'n/a' | { readonly failed: string };

type TargetKind = 'bulk' | 'rr' | 'crr';

/** A table row. */
export interface RowSpec {
  readonly key: string;
  readonly name: string;
  readonly unit: string;
  readonly lowerIsBetter: boolean;
  readonly target?: TargetKind;
  /** Printed in the second table (iperf3's sender retransmits), not the main one. */
  readonly secondary?: boolean;
}

/** A row with every setup's samples and the value shown (median of the numeric samples). */
export interface RowResult extends RowSpec {
  readonly samples: Record<Kind, Value[]>;
  readonly value: Record<Kind, Value>;
}

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
export interface TcpBenchResult {
  readonly meta: Record<string, unknown>;
  readonly kinds: readonly Kind[];
  readonly rows: RowResult[];
  readonly notes: string[];
  readonly profiles: ProfileTop[];
}

const BULK_ROWS: readonly RowSpec[] = [
  {
    key: 'g2h1',
    name: 'bulk guest→host, 1 stream',
    unit: 'Gbit/s',
    lowerIsBetter: false,
    target: 'bulk',
  },
  {
    key: 'g2h1p',
    name: 'bulk guest→host, 1 stream, -b 10G',
    unit: 'Gbit/s',
    lowerIsBetter: false,
    target: 'bulk',
  },
  {
    key: 'h2g1',
    name: 'bulk host→guest, 1 stream',
    unit: 'Gbit/s',
    lowerIsBetter: false,
    target: 'bulk',
  },
  {
    key: 'g2h4',
    name: 'bulk guest→host, -P 4',
    unit: 'Gbit/s',
    lowerIsBetter: false,
    target: 'bulk',
  },
  {
    key: 'h2g4',
    name: 'bulk host→guest, -P 4',
    unit: 'Gbit/s',
    lowerIsBetter: false,
    target: 'bulk',
  },
];

const ROWS: readonly RowSpec[] = [
  ...BULK_ROWS,
  ...BULK_ROWS.map((r): RowSpec => ({
    key: `${r.key}Rtx`,
    name: r.name,
    unit: 'retransmits',
    lowerIsBetter: true,
    secondary: true,
  })),
  { key: 'rrMed', name: 'TCP RR 1 B median', unit: 'µs', lowerIsBetter: true, target: 'rr' },
  { key: 'rrP99', name: 'TCP RR 1 B p99', unit: 'µs', lowerIsBetter: true },
  {
    key: 'crr',
    name: `connections/s, ${CRR_CONCURRENCY} concurrent`,
    unit: 'conn/s',
    lowerIsBetter: false,
    target: 'crr',
  },
  { key: 'rrUser', name: 'translator user CPU per round trip', unit: 'µs', lowerIsBetter: true },
  { key: 'rrSys', name: 'translator system CPU per round trip', unit: 'µs', lowerIsBetter: true },
  { key: 'crrUser', name: 'translator user CPU per connection', unit: 'µs', lowerIsBetter: true },
  { key: 'crrSys', name: 'translator system CPU per connection', unit: 'µs', lowerIsBetter: true },
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

interface Setup {
  readonly kind: Kind;
  readonly pod: Netns;
  readonly guest: Netns;
  /** The translator (none for veth). */
  readonly proc: LabProcess | undefined;
  /** Where the servers in the pod listen: loopback, or the pod's veth address. */
  readonly bind: string;
}

/** A workload: fills some rows; a throw fails all its rows. */
interface Workload {
  readonly name: string;
  readonly rows: readonly string[];
  run(lab: Lab, s: Setup, note: (msg: string) => void): Promise<Record<string, Value>>;
}

/** Ephemeral ports (both namespaces): wide, but below the servers' ports. */
const EPHEMERAL = '1024 60999';
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

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function errText(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).trim();
}

/** The last non-empty line of a process's output (where tools print why they failed). */
function lastLine(text: string): string {
  return (
    text
      .trim()
      .split('\n')
      .filter((l) => l.trim() !== '')
      .pop() ?? ''
  );
}

/** Builds one setup in fresh namespaces; ready once the guest pings the pod's address. */
async function makeSetup(lab: Lab, kind: Kind, profDir?: string): Promise<Setup> {
  const tag = kind === 'slirp4netns' ? 's' : kind[0]!;
  const pod = await lab.namespace(`${tag}pod`);
  const guest = await lab.namespace(`${tag}guest`);
  await lab.veth(pod, pod, { addrsA: [`${POD_ADDR}/24`] });
  // ICMP echo sockets for uid 0 (translators answer the readiness ping through them).
  await lab.sysctl(pod, 'net.ipv4.ping_group_range', '0 2147483647');
  await lab.ip(pod, ['route', 'add', 'default', 'via', '192.168.77.2']);
  // Short connections by the ten thousand: wide ephemeral range, reuse of TIME_WAIT ports.
  for (const ns of [pod, guest]) {
    await lab.sysctl(ns, 'net.ipv4.ip_local_port_range', EPHEMERAL);
    await lab.sysctl(ns, 'net.ipv4.tcp_tw_reuse', '1');
  }
  let proc: LabProcess | undefined;
  let bind = '127.0.0.1';
  if (kind === 'bindery') {
    const impair = process.env.BINDERY_BENCH_IMPAIR ?? '';
    proc = lab.spawn(
      pod,
      [
        process.execPath,
        ...(profDir !== undefined ? ['--cpu-prof', '--cpu-prof-dir', profDir] : []),
        ...(FROM_DIST ? [BIN, 'passt'] : ['--import', 'tsx', SRC_BIN, 'passt']),
        '-f',
        '--tap',
        'tap0',
        '--netns',
        guest,
        '-a',
        `${GUEST_ADDR}/24`,
        '-g',
        GW,
      ],
      { env: { BINDERY_IMPAIR: impair } },
    );
    try {
      await proc.waitForOutput(/serving tap/, 30_000);
    } catch (e) {
      await proc.kill('SIGKILL', 500);
      const why = lastLine(proc.output).replace(/^bindery: /, '') || firstLine(e);
      throw new Error(`did not start: ${why}`, { cause: e });
    }
    await lab.ip(guest, ['link', 'set', 'tap0', 'mtu', String(MTU)]);
    await lab.ip(guest, ['addr', 'add', `${GUEST_ADDR}/24`, 'dev', 'tap0']);
    await lab.ip(guest, ['route', 'add', 'default', 'via', GW]);
  } else if (kind === 'pasta') {
    proc = lab.spawn(pod, pastaArgv(guest, { addrs: [[GUEST_ADDR, GW, 24]] }));
  } else if (kind === 'slirp4netns') {
    // Configures tap0 as 10.0.2.100/24, gateway 10.0.2.2 = the pod's loopback (host loopback
    // stays reachable because --disable-host-loopback is not given).
    proc = lab.spawn(pod, [
      'slirp4netns',
      '--configure',
      `--mtu=${MTU}`,
      '--disable-dns',
      '--netns-type=path',
      `/run/netns/${guest}`,
      'tap0',
    ]);
  } else {
    await lab.veth(guest, pod, { addrsA: [`${GUEST_ADDR}/24`], addrsB: [`${GW}/24`], mtu: MTU });
    await lab.ip(guest, ['route', 'add', 'default', 'via', GW]);
    bind = GW;
  }
  const end = Date.now() + 30_000;
  for (;;) {
    const r = await lab.exec(guest, ['ping', '-c', '1', '-W', '1', POD_ADDR], { timeoutMs: 5000 });
    if (r.code === 0) break;
    if (proc?.exitStatus !== undefined || Date.now() > end) {
      throw new Error(
        `guest cannot reach ${POD_ADDR}: ${lastLine(r.stdout + r.stderr)}; ${lastLine(proc?.output ?? '')}`,
      );
    }
    await sleep(200);
  }
  return { kind, pod, guest, proc, bind };
}

/** makeSetup, tried twice (a translator may fail to start while its sources are being edited). */
async function makeSetupRetry(lab: Lab, kind: Kind, profDir?: string): Promise<Setup> {
  try {
    return await makeSetup(lab, kind, profDir);
  } catch (e) {
    console.error(`  tcp bench: ${kind} setup failed, trying once more: ${firstLine(e)}`);
    await sleep(2000);
    return makeSetup(lab, kind, profDir);
  }
}

/** The first line of an error, without the output a Lab error quotes after it. */
function firstLine(e: unknown): string {
  return errText(e)
    .split('\n')[0]!
    .replace(/; output:$/, '');
}

/** The pid whose memory and fds count: the translator itself (`ip netns exec` execs it). */
function translatorPid(proc: LabProcess): number {
  const comm = readFileSync(`/proc/${proc.pid}/comm`, 'utf8').trim();
  if (comm !== 'ip') return proc.pid;
  const kids = readFileSync(`/proc/${proc.pid}/task/${proc.pid}/children`, 'utf8').trim();
  const first = Number(kids.split(/\s+/)[0]);
  if (!Number.isInteger(first) || first <= 0)
    throw new Error(`no translator under pid ${proc.pid}`);
  return first;
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

/** Starts the tcpload echo server in the pod on a fresh port. */
async function startServer(lab: Lab, s: Setup): Promise<[LabProcess, number]> {
  const p = port();
  const srv = lab.spawn(s.pod, [...LOAD, 'serve', s.bind, String(p)]);
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

function bulk(key: string, streams: number, reverse: boolean, paced: boolean): Workload {
  return {
    name: ROWS.find((r) => r.key === key)!.name,
    rows: [key, `${key}Rtx`],
    async run(lab, s) {
      const r = await iperf(lab, s, streams, reverse, paced);
      return { [key]: r.gbps, [`${key}Rtx`]: r.retransmits ?? 'n/a' };
    },
  };
}

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

const CRR: Workload = {
  name: 'connections/s',
  rows: ['crr', 'crrUser', 'crrSys'],
  async run(lab, s, note) {
    const [srv, p] = await startServer(lab, s);
    try {
      let m: RegExpExecArray | null = null;
      const [user, sys] = await cpuPerOp(s, async () => {
        const r = await lab.exec(
          s.guest,
          [...LOAD, 'crr', GW, String(p), String(CRR_SECONDS), String(CRR_CONCURRENCY)],
          { timeoutMs: (CRR_SECONDS + 30) * 1000 },
        );
        m = /conns (\d+) secs ([\d.]+) rate ([\d.]+) errors (\d+) ?(.*)/.exec(r.stdout);
        if (r.code !== 0 || m === null) throw new Error(lastLine(r.stderr) || `exit ${r.code}`);
        return Number(m[1]);
      });
      const [conns, errors] = [Number(m![1]), Number(m![4])];
      if (conns === 0) throw new Error(`no connection completed: ${m![5]}`);
      if (errors > 0) note(`${conns} connections, ${errors} failed (first: ${m![5]})`);
      return { crr: Number(m![3]), crrUser: user, crrSys: sys };
    } finally {
      await srv.kill('SIGKILL', 500);
    }
  },
};

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
const WORKLOADS: readonly Workload[] = [
  HOLD,
  bulk('g2h1', 1, false, false),
  bulk('g2h1p', 1, false, true),
  bulk('h2g1', 1, true, false),
  bulk('g2h4', 4, false, false),
  bulk('h2g4', 4, true, false),
  RR,
  CRR,
];

/** The workloads to run: those with a row key in BINDERY_BENCH_TCP_WORKLOADS, or all. */
function selectedWorkloads(): readonly Workload[] {
  const env = process.env.BINDERY_BENCH_TCP_WORKLOADS;
  if (env === undefined || env === '') return WORKLOADS;
  const keys = new Set(env.split(',').map((k) => k.trim()));
  return WORKLOADS.filter((w) => w.rows.some((r) => keys.has(r)));
}

function exitReason(s: Setup): string | undefined {
  const st = s.proc?.exitStatus;
  if (st === undefined) return undefined;
  const how = st.signal !== null ? `signal ${st.signal}` : `code ${st.code}`;
  return `${s.kind} exited (${how}): ${lastLine(s.proc!.output)}`;
}

/** The kinds to run: BINDERY_BENCH_TCP_SETUPS (comma-separated) or all four. */
export function selectedKinds(): Kind[] {
  const env = process.env.BINDERY_BENCH_TCP_SETUPS;
  if (env === undefined || env.trim() === '') return [...KINDS];
  const want = env.split(',').map((x) => x.trim());
  const bad = want.filter((x) => !(KINDS as readonly string[]).includes(x));
  if (bad.length > 0) throw new Error(`BINDERY_BENCH_TCP_SETUPS: unknown ${bad.join(', ')}`);
  return KINDS.filter((k) => want.includes(k));
}

function toolVersion(argv: string[]): string {
  try {
    return lastLine(
      execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', stdio: 'pipe' }).split('\n')[0]!,
    );
  } catch (e) {
    return `unknown (${errText(e).split('\n')[0]})`;
  }
}

/** A command's output lines (empty on failure). */
function toolLines(argv: string[]): string[] {
  try {
    const out = execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', stdio: 'pipe' });
    return out.split('\n').filter((l) => l.trim() !== '');
  } catch {
    return [];
  }
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
  kinds: readonly Kind[] = selectedKinds(),
): Promise<TcpBenchResult> {
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
  const lab = await Lab.create();
  const onSignal = (): void => {
    void lab.teardown().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  const samples = new Map<string, Record<Kind, Value[]>>(
    ROWS.map((r) => [r.key, Object.fromEntries(kinds.map((k) => [k, []])) as never]),
  );
  const notes: string[] = [];
  const profiles: ProfileTop[] = [];
  try {
    const setups = new Map<Kind, Setup>();
    /** Workloads that failed once, per setup: not repeated. */
    const gaveUp = new Map<string, string>();
    const exitNoted = new Set<Setup>();
    for (let rep = 0; rep < reps; rep++) {
      const setupFailure = new Map<Kind, string>();
      for (const kind of kinds) {
        const s = setups.get(kind);
        if (s !== undefined && exitReason(s) === undefined) continue;
        if (s !== undefined && !exitNoted.has(s)) {
          exitNoted.add(s);
          notes.push(`${kind}, end of repetition ${rep}: ${exitReason(s)}; started afresh`);
        }
        console.error(`  tcp bench: starting ${kind}`);
        try {
          setups.set(kind, await makeSetupRetry(lab, kind));
        } catch (e) {
          setupFailure.set(kind, firstLine(e));
          notes.push(`${kind}, repetition ${rep + 1}, setup: ${errText(e)}`);
          setups.delete(kind);
        }
      }
      // Workload by workload, the setups in turn (starting with a different one each
      // repetition), so a burst of other work on the machine does not hit one setup only.
      const order = kinds.map((_, i) => kinds[(i + rep) % kinds.length]!);
      for (const w of selectedWorkloads()) {
        console.error(`  tcp bench: repetition ${rep + 1}/${reps}, ${w.name}`);
        for (const kind of order) {
          const s = setups.get(kind);
          const put = (key: string, v: Value): void => {
            samples.get(key)![kind].push(v);
          };
          const failAll = (reason: string): void => {
            for (const k of w.rows) put(k, { failed: reason });
          };
          const dead = s === undefined ? setupFailure.get(kind) : exitReason(s);
          if (dead !== undefined || s === undefined) {
            if (s !== undefined && !exitNoted.has(s)) {
              exitNoted.add(s);
              notes.push(
                `${kind}, repetition ${rep + 1}: ${dead}; the rest of this repetition is skipped, the next one starts it afresh`,
              );
            }
            failAll(dead ?? 'no setup');
            continue;
          }
          const skipped = gaveUp.get(`${kind}/${w.name}`);
          if (skipped !== undefined) {
            failAll(skipped);
            continue;
          }
          const note = (msg: string): void => {
            notes.push(`${kind}, ${w.name}, repetition ${rep + 1}: ${msg}`);
          };
          try {
            const out = await w.run(lab, s, note);
            for (const k of w.rows) put(k, out[k] ?? { failed: 'not measured' });
          } catch (e) {
            const reason = exitReason(s) ?? firstLine(e);
            failAll(reason);
            note(`failed: ${errText(e)}`);
            if (exitReason(s) === undefined) gaveUp.set(`${kind}/${w.name}`, reason);
          }
        }
      }
    }
    if (process.env.BINDERY_BENCH_PROFILE === '1') {
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
          'crr',
          CRR.name,
          async (s) => `${fmtValue((await CRR.run(lab, s, () => {})).crr ?? 'n/a')} conn/s`,
        ],
      ];
      for (const [key, name, measure] of runs) {
        if (chosen.has(key)) profiles.push(await profileRun(lab, name, notes, measure));
      }
    }
  } finally {
    process.removeListener('SIGINT', onSignal);
    await lab.teardown();
  }
  const rows: RowResult[] = ROWS.map((spec) => {
    const perKind = samples.get(spec.key)!;
    const value = Object.fromEntries(kinds.map((k) => [k, summarize(perKind[k])])) as Record<
      Kind,
      Value
    >;
    return { ...spec, samples: perKind, value };
  });
  const meta = {
    started: started.toISOString(),
    finished: new Date().toISOString(),
    reps,
    seconds: SECONDS,
    crrSeconds: CRR_SECONDS,
    crrConcurrency: CRR_CONCURRENCY,
    rrCount: RR_COUNT,
    holdConnections: HOLD_CONNS,
    kernel: release(),
    // Other work on the machine skews everything (2 cores): the 1/5/15-minute load averages.
    loadavgStart: loadStart,
    loadavgEnd: loadavg(),
    cpus: cpus().length,
    node: process.version,
    // At the start: the sources bindery ran from (tsx reads them when it starts).
    commit,
    uncommitted,
    pasta: toolVersion(['dpkg-query', '-W', '-f', '${Package} ${Version}', 'passt']),
    slirp4netns: toolVersion(['slirp4netns', '--version']),
    iperf3: toolVersion(['iperf3', '--version']),
    binderyImpair: process.env.BINDERY_BENCH_IMPAIR ?? '',
    binderyFrom: FROM_DIST ? 'dist (bin/bindery.js passt)' : 'src via tsx',
  };
  return { meta, kinds, rows, notes, profiles };
}

/** The value shown: median of the numeric samples; else n/a or the first failure. */
function summarize(vs: readonly Value[]): Value {
  const nums = vs.filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  if (nums.length > 0) return median(nums);
  if (vs.length > 0 && vs.every((v) => v === 'n/a')) return 'n/a';
  return vs.find((v): v is { failed: string } => typeof v === 'object') ?? { failed: 'no samples' };
}

/**
 * One workload under `node --cpu-prof` in a fresh bindery; top self-time functions in its
 * window. `measure` runs it and says what it reached (shown beside the profile).
 */
async function profileRun(
  lab: Lab,
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
    const s = await makeSetupRetry(lab, 'bindery', dir);
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

function fmtNum(v: number): string {
  if (!Number.isFinite(v)) return 'n/a';
  if (Number.isInteger(v)) return String(v);
  return v >= 100 ? v.toFixed(0) : v.toFixed(2);
}

function fmtValue(v: Value): string {
  if (typeof v === 'number') return fmtNum(v);
  if (v === 'n/a') return 'n/a';
  const r = `failed: ${v.failed}`;
  return r.length > 40 ? `${r.slice(0, 39)}…` : r;
}

function ratio(a: Value, b: Value): number | undefined {
  return typeof a === 'number' && typeof b === 'number' && b !== 0 ? a / b : undefined;
}

/** "met" / "MISSED" per target (bulk ≥1.0× pasta and ≥0.5× veth, RR ≤1.2× pasta, conn/s ≥1.0× pasta). */
function targetText(row: RowResult): string {
  if (row.target === undefined) return '';
  const vp = ratio(row.value.bindery, row.value.pasta);
  const vv = ratio(row.value.bindery, row.value.veth);
  const mark = (ok: boolean | undefined, what: string): string =>
    `${what} ${ok === undefined ? '?' : ok ? 'met' : 'MISSED'}`;
  if (row.target === 'bulk') {
    return `${mark(vp === undefined ? undefined : vp >= 1.0, '≥1.0×pasta')}, ${mark(vv === undefined ? undefined : vv >= 0.5, '≥0.5×veth')}`;
  }
  if (row.target === 'rr') return mark(vp === undefined ? undefined : vp <= 1.2, '≤1.2×pasta');
  return mark(vp === undefined ? undefined : vp >= 1.0, '≥1.0×pasta');
}

/**
 * Prints the comparison table (one column per setup, ratios bindery/pasta and bindery/veth,
 * whether each target is met), then the notes (failures in full, retransmits, errors) and
 * the CPU profile tops.
 *
 * @param title - Table heading.
 * @param res - What `benchTcpCompare` returned.
 */
export function printTcpTable(title: string, res: TcpBenchResult): void {
  const header = [
    'workload',
    ...res.kinds,
    ...(res.kinds.includes('bindery') && res.kinds.includes('pasta') ? ['b/pasta'] : []),
    ...(res.kinds.includes('bindery') && res.kinds.includes('veth') ? ['b/veth'] : []),
    'target',
  ];
  const measured = (r: RowResult): boolean =>
    res.kinds.some((k) => Object.values(r.samples[k] ?? []).length > 0);
  const lines = res.rows
    .filter((r) => r.secondary !== true && measured(r))
    .map((r) => {
      const cells = [`${r.name} (${r.unit})`, ...res.kinds.map((k) => fmtValue(r.value[k]))];
      const fr = (x: number | undefined): string => (x === undefined ? '—' : x.toFixed(2));
      if (header.includes('b/pasta')) cells.push(fr(ratio(r.value.bindery, r.value.pasta)));
      if (header.includes('b/veth')) cells.push(fr(ratio(r.value.bindery, r.value.veth)));
      cells.push(targetText(r));
      return cells;
    });
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const row = (cells: string[]): string =>
    cells
      .map((c, i) =>
        i === 0 || i === cells.length - 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!),
      )
      .join('  ')
      .trimEnd();
  console.log(`\n${title}`);
  console.log(
    '(b/… = bindery ratio; Gbit/s and conn/s: higher is better; µs, kB, fds: lower is better)',
  );
  console.log(row(header));
  for (const l of lines) console.log(row(l));
  const la = (x: unknown): string =>
    Array.isArray(x) ? x.map((v) => Number(v).toFixed(2)).join(' ') : '?';
  console.log(
    `(load average at start ${la(res.meta.loadavgStart)}, at end ${la(res.meta.loadavgEnd)}; ` +
      `${String(res.meta.cpus)} CPUs: other work on the machine skews every column)`,
  );
  const rtx = res.rows.filter((r) => r.secondary === true);
  const rtxLines = rtx.map((r) => [r.name, ...res.kinds.map((k) => fmtValue(r.value[k]))]);
  const rtxHeader = ['iperf3 sender retransmits per run (median)', ...res.kinds];
  const rw = rtxHeader.map((h, i) => Math.max(h.length, ...rtxLines.map((l) => l[i]!.length)));
  console.log(
    `\n${rtxHeader.map((h, i) => (i === 0 ? h.padEnd(rw[i]!) : h.padStart(rw[i]!))).join('  ')}`,
  );
  for (const l of rtxLines) {
    console.log(l.map((c, i) => (i === 0 ? c.padEnd(rw[i]!) : c.padStart(rw[i]!))).join('  '));
  }
  if (res.notes.length > 0) {
    console.log('\nnotes:');
    for (const n of res.notes) console.log(`  - ${n.split('\n').slice(0, 4).join('\n    ')}`);
  }
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
 * Writes the results as JSON to bench/results/tcp-<ISO date>.json.
 *
 * @param res - What `benchTcpCompare` returned.
 * @returns The file's path.
 */
export function writeTcpJson(res: TcpBenchResult): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const stamp = String(res.meta.started)
    .replace(/:/g, '-')
    .replace(/\.\d+Z$/, 'Z');
  const path = join(RESULTS_DIR, `tcp-${stamp}.json`);
  writeFileSync(path, `${JSON.stringify(res, null, 2)}\n`);
  return path;
}

/** `node --import tsx bench/tcp.ts`: this bench alone. */
async function main(): Promise<void> {
  const reps = Number(process.env.BINDERY_BENCH_NET_REPS ?? 3);
  const res = await benchTcpCompare(reps);
  printTcpTable(`TCP: bindery passt (tap) vs pasta vs slirp4netns vs veth, median of ${reps}`, res);
  console.log(`\nresults: ${writeTcpJson(res)}`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}
