// Translator memory bench: RSS idle, after bulk traffic, and through 10^5 short connections (churn), bindery vs pasta.
//
// One setup per column (bench/setups.ts, the TCP bench's namespaces and guest addresses), then in
// order: idle (2 s after start), bulk (iperf3 guest→host then host→guest), 5 s later, churn
// (tcpload.py crr: BINDERY_BENCH_MEM_CONNS connections, 8 concurrent, each connect, 1-byte
// echo, close; RSS sampled every 250 ms for the peak), 5 s and 30 s after the churn. Each RSS is split
// into file-backed pages (the program's text, shared with every process running it) and
// anonymous ones (heap, stacks, buffers: this process's own), from /proc/PID/smaps_rollup.
// One run per column (a memory curve, not a rate: no medians). Not a test: numbers only.
import { readFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { loadavg } from 'node:os';
import { Lab } from '../test/lab/lab.js';
import { writeJson } from './matrix.js';
import { resolvePeers, selectKinds, toolVersion, type Kind } from './peers.js';
import {
  GW,
  firstLine,
  lastLine,
  makeSetupRetry,
  sleep,
  translatorPid,
  type Setup,
} from './setups.js';

const LOAD = ['python3', fileURLToPath(new URL('./tcpload.py', import.meta.url))];
const ENTRY = fileURLToPath(new URL('../src/cli/bin.ts', import.meta.url));
const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const CONNS = Number(process.env.BINDERY_BENCH_MEM_CONNS ?? 100_000);
const BULK_SECONDS = Number(process.env.BINDERY_BENCH_NET_SECONDS ?? 3);

/** RSS of a process, kB: all, file-backed, anonymous. */
interface Rss {
  readonly rss: number;
  readonly file: number;
  readonly anon: number;
}

function rssOf(pid: number): Rss {
  const t = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(t)?.[1]);
  const rss = kb('Rss');
  const anon = kb('Anonymous');
  return { rss, anon, file: rss - anon };
}

/** One column's curve. */
interface Curve {
  idle?: Rss;
  afterBulk?: Rss;
  churnPeak?: Rss;
  churnAfter?: Rss;
  churnLater?: Rss;
  churnConns?: number;
  churnSeconds?: number;
  error?: string;
}

let nextPort = 60500;

async function iperf(lab: Lab, s: Setup, reverse: boolean): Promise<void> {
  const p = String(nextPort++);
  const srv = lab.spawn(s.pod, ['iperf3', '-s', '-1', '--forceflush', '-B', s.bind, '-p', p]);
  try {
    await srv.waitForOutput(/Server listening/, 10_000);
    const argv = ['iperf3', '-c', GW, '-p', p, '-t', String(BULK_SECONDS), '--connect-timeout'];
    const r = await lab.exec(s.guest, [...argv, '3000', ...(reverse ? ['-R'] : [])], {
      timeoutMs: (BULK_SECONDS + 25) * 1000,
    });
    if (r.code !== 0) throw new Error(`iperf3: ${lastLine(r.stderr + r.stdout)}`);
  } finally {
    await srv.kill('SIGKILL', 500);
  }
}

async function curve(lab: Lab, s: Setup, c: Curve): Promise<void> {
  const pid = translatorPid(s.proc!);
  await sleep(2000);
  c.idle = rssOf(pid);
  await iperf(lab, s, false);
  await iperf(lab, s, true);
  await sleep(5000);
  c.afterBulk = rssOf(pid);
  const p = String(nextPort++);
  const srv = lab.spawn(s.pod, [...LOAD, 'serve', s.bind, p]);
  try {
    await srv.waitForOutput(/ready/, 10_000);
    const load = lab.spawn(s.guest, [...LOAD, 'crr', GW, p, '600', '8', String(CONNS)]);
    let peak = rssOf(pid);
    while (load.exitStatus === undefined) {
      const r = rssOf(pid);
      if (r.rss > peak.rss) peak = r;
      await Promise.race([load.exited, sleep(250)]);
    }
    const m = /conns (\d+) secs ([\d.]+) rate [\d.]+ errors (\d+) ?(.*)/.exec(load.stdout);
    if (m === null) throw new Error(`crr: ${lastLine(load.stderr) || 'no result'}`);
    c.churnConns = Number(m[1]);
    c.churnSeconds = Number(m[2]);
    c.churnPeak = peak;
    if (Number(m[3]) > 0) c.error = `churn: ${m[3]} connections failed (first: ${m[4]})`;
  } finally {
    await srv.kill('SIGKILL', 500);
  }
  await sleep(5000);
  c.churnAfter = rssOf(pid);
  await sleep(25_000);
  c.churnLater = rssOf(pid);
}

async function main(): Promise<void> {
  const started = new Date();
  const loadStart = loadavg();
  const kinds: Kind[] = selectKinds(
    process.env.BINDERY_BENCH_MEM_SETUPS ?? 'bindery,pasta-upstream',
    'BINDERY_BENCH_MEM_SETUPS',
  ).filter((k) => k !== 'veth');
  const peers = resolvePeers(kinds, ENTRY);
  const lab = await Lab.create();
  const curves: Partial<Record<Kind, Curve>> = {};
  try {
    for (const kind of kinds) {
      const c: Curve = {};
      curves[kind] = c;
      console.error(`  memory bench: ${kind}`);
      try {
        const s = await makeSetupRetry(lab, peers.get(kind)!, undefined, 'memory bench');
        try {
          await curve(lab, s, c);
        } finally {
          await s.proc?.kill('SIGTERM', 2000);
        }
      } catch (e) {
        c.error = firstLine(e);
      }
    }
  } finally {
    await lab.teardown();
  }
  const rows: [string, keyof Curve][] = [
    ['RSS idle', 'idle'],
    [`RSS 5 s after bulk (iperf3 ${BULK_SECONDS} s each way)`, 'afterBulk'],
    [`RSS peak during ${CONNS} connections`, 'churnPeak'],
    ['RSS 5 s after the connections', 'churnAfter'],
    ['RSS 30 s after the connections', 'churnLater'],
  ];
  const cell = (r: Rss | undefined): string =>
    r === undefined ? 'failed' : `${r.rss} (${r.anon} anon)`;
  console.log(`translator memory, kB (anonymous in brackets; one run each)`);
  console.log(['row'.padEnd(44), ...kinds.map((k) => peers.get(k)!.label.padEnd(22))].join(''));
  for (const [name, key] of rows) {
    const cells = kinds.map((k) => cell(curves[k]?.[key] as Rss | undefined).padEnd(22));
    console.log([name.padEnd(44), ...cells].join(''));
  }
  const secs = kinds.map((k) => `${k}: ${curves[k]?.churnConns} in ${curves[k]?.churnSeconds} s`);
  console.log(`connections: ${secs.join(', ')}`);
  for (const k of kinds) if (curves[k]?.error) console.log(`note: ${k}: ${curves[k]!.error}`);
  const loadEnd = loadavg();
  console.log(`(load average at start ${loadStart.join(' ')}, at end ${loadEnd.join(' ')})`);
  const meta = {
    started: started.toISOString(),
    commit: toolVersion(['git', '-C', REPO_ROOT, 'log', '-1', '--format=%h %s']),
    conns: CONNS,
    bulkSeconds: BULK_SECONDS,
    loadavg: { start: loadStart, end: loadEnd },
    versions: Object.fromEntries(kinds.map((k) => [k, peers.get(k)!.version])),
  };
  const res = { meta, curves };
  console.log(`\nresults: ${writeJson('memory', res)}`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}
