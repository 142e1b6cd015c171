// The vhost-user bench (issue 15): one TCG guest on QEMU 10, iperf3 each way, TCP RR and connections/s through bindery stream, bindery vhost-user, newest passt stream and newest passt vhost-user.
//
// Run as root: `node --import tsx bench/vhost.ts` (after `npm run build`). Per setup one boot of
// the test guest (test/qemu/passt-tcp-rig.ts: the pod namespace, the guest's command loop, with
// iperf3 copied in), all on the same QEMU 10 binary, one after the other; per direction
// BINDERY_VHOST_BENCH_REPS (default 2) iperf3 runs of BINDERY_VHOST_BENCH_SECS (default 5) s,
// IPv4, guest to pod's loopback through the gateway. Recorded per setup: the median Mbit/s each
// way, the translator's CPU (utime + stime from /proc/PID/stat) per GB moved, and the guest's
// CPU saturation during iperf3 (busy share of its vCPUs from the guest's /proc/stat "cpu" line
// read before and after, through the guest shell). The JSON goes to
// bench/results/vhost-<time>.json (BINDERY_BENCH_RESULTS_DIR overrides).
//
// TCP RR: Debian's sockperf (`sockperf server --tcp` in the pod namespace; in the guest
// `sockperf ping-pong --tcp --full-rtt` for BINDERY_VHOST_BENCH_SECS s per rep, to the gateway,
// which the translator maps to the pod's loopback): the round trip's median and p99 in µs, from
// its "percentile 50.000 / 99.000" lines. Connections/s: Debian's ab (apache2-utils) in the
// guest, `-c 8` without keep-alive for BINDERY_VHOST_BENCH_SECS s per rep, against a Node http
// server in the pod namespace answering a 3-byte body (the same for every setup); its
// "Requests per second" is new TCP connections per second. Both are copied into the guest's
// initramfs with their libraries like iperf3; the base set's rows have them (not mq/tso).
// Printed at the end: the ratios issue 15 sets targets for (bindery vhost-user ÷ newest passt
// vhost-user, and ÷ bindery stream on throughput), met or missed.
// BINDERY_VHOST_BENCH_ONLY=<substring> runs only the setups whose name contains it.
//
// Multiqueue rows (BINDERY_VHOST_BENCH_SETS: `base`, `mq` or both, the default): a 2-vCPU guest
// on queues=1 and queues=2 (bindery) and queues=1 (newest passt: no MQ), four TCP streams each
// way. iperf3 3.12 (Debian 12) runs all its streams on one thread, which would keep one vCPU —
// and so one TX ring — busy, so the four streams are two `-P 2` clients pinned one per vCPU
// (taskset), each to its own server; the row's rate is their sum.
// BINDERY_VHOST_BENCH_SET=tso runs the TSO rows instead: at MTU 1500 and 65520 (`-m`, the guest
// takes it by DHCP) bindery vhost-user with TSO, without it (BINDERY_VHOST_NO_TSO=1 in the
// daemon's environment: HOST_TSO4/6 and GUEST_TSO4/6 not offered), and passt vhost-user.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Lab } from '../test/lab/lab.js';
import type { LabProcess } from '../test/lab/lab.js';
import { QEMU10_BINARY } from '../test/lab/qemu.js';
import { programWithLibraries } from '../test/lab/initramfs.js';
import type { CpioEntry } from '../test/lab/initramfs.js';
import { waitFor } from '../test/lab/wait.js';
import {
  GW4,
  GUEST4,
  GUEST6,
  GW6,
  GuestShell,
  IPERF3,
  bootShell,
  makePod,
} from '../test/qemu/passt-tcp-rig.js';
import { BINDERY_BIN, ensureUpstreamPasta, upstreamPasstDir } from './peers.js';
import { median } from './stats.js';

const SECS = Number(process.env.BINDERY_VHOST_BENCH_SECS ?? 5);
const REPS = Number(process.env.BINDERY_VHOST_BENCH_REPS ?? 2);
const PORT = 5201;
const RR_PORT = 11111;
const HTTP_PORT = 8080;
const SOCKPERF = existsSync('/usr/bin/sockperf') ? '/usr/bin/sockperf' : undefined;
const AB = existsSync('/usr/bin/ab') ? '/usr/bin/ab' : undefined;
/** The pod's HTTP server for ab: a tiny body, and the connection closed after each answer. */
const HTTP_SERVER = `require('node:http').createServer((q, r) => r.end('ok\\n')).listen(${HTTP_PORT}, '0.0.0.0', () => console.log('listening'))`;
const CLK_TCK = 100;

interface Setup {
  readonly name: string;
  readonly vhostUser: boolean;
  /** Guest vCPUs, vhost-user queue pairs, and iperf3 clients (one per vCPU, `-P 2` each). */
  readonly smp?: number;
  readonly queues?: number;
  readonly clients?: number;
  argv(sock: string): string[];
  readonly env?: Readonly<Record<string, string>>;
  /** TCP RR and connections/s too (the base set's rows). */
  readonly latency?: boolean;
}

const SET = process.env.BINDERY_VHOST_BENCH_SET ?? 'stream';
const TSO_MTUS = [1500, 65520] as const;

/** The TSO rows: per MTU, bindery vhost-user with and without TSO, and passt vhost-user. */
function tsoSetups(passt: string | undefined): Setup[] {
  const out: Setup[] = [];
  for (const mtu of TSO_MTUS) {
    const m = ['-m', String(mtu)];
    for (const tso of [true, false])
      out.push({
        name: `bindery vhost-user ${tso ? 'TSO' : 'no TSO'} MTU ${mtu}`,
        vhostUser: true,
        ...(tso ? {} : { env: { BINDERY_VHOST_NO_TSO: '1' } }),
        argv: (sock) => [
          process.execPath,
          BINDERY_BIN,
          'passt',
          '-q',
          '--vhost-user',
          ...m,
          ...common(sock),
        ],
      });
    if (passt !== undefined)
      out.push({
        name: `passt 2026_07_24 vhost-user MTU ${mtu}`,
        vhostUser: true,
        argv: (sock) => [passt, '--runas', '0', '-q', '--vhost-user', ...m, ...common(sock)],
      });
  }
  return out;
}

const common = (sock: string): string[] => [
  '-f',
  '-s',
  sock,
  '-a',
  GUEST4,
  '-n',
  '24',
  '-g',
  GW4,
  '-a',
  GUEST6,
  '-g',
  GW6,
];

function setups(passt: string | undefined): Setup[] {
  const bindery = (vhostUser: boolean): Setup => ({
    name: `bindery ${vhostUser ? 'vhost-user' : 'stream'}`,
    vhostUser,
    latency: true,
    argv: (sock) => [
      process.execPath,
      BINDERY_BIN,
      'passt',
      '-q',
      ...(vhostUser ? ['--vhost-user'] : []),
      ...common(sock),
    ],
  });
  const upstream = (vhostUser: boolean): Setup => ({
    name: `passt 2026_07_24 ${vhostUser ? 'vhost-user' : 'stream'}`,
    vhostUser,
    latency: true,
    argv: (sock) => [
      passt!,
      '--runas',
      '0',
      '-q',
      ...(vhostUser ? ['--vhost-user'] : []),
      ...common(sock),
    ],
  });
  const sets = (process.env.BINDERY_VHOST_BENCH_SETS ?? 'base,mq').split(',');
  const mq = (s: Setup, queues: number): Setup => ({
    ...s,
    name: `${s.name} smp2 queues=${queues} 4 streams`,
    smp: 2,
    queues,
    clients: 2,
    latency: false,
  });
  return [
    ...(sets.includes('base')
      ? [
          bindery(false),
          bindery(true),
          ...(passt !== undefined ? [upstream(false), upstream(true)] : []),
        ]
      : []),
    ...(sets.includes('mq')
      ? [
          mq(bindery(true), 1),
          mq(bindery(true), 2),
          ...(passt !== undefined ? [mq(upstream(true), 1)] : []),
        ]
      : []),
  ];
}

/** CPU seconds a process has used. */
function cpuSecs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / CLK_TCK;
}

/** Guest commands whose output tells a dead RX path (counters still, ARP incomplete). */
const GUEST_LINK_STATE =
  'cat /sys/class/net/eth0/statistics/rx_packets /sys/class/net/eth0/statistics/tx_packets | tr "\\n" " "; ' +
  `ping -c 2 -W 1 ${GW4} 2>&1 | tail -1; cat /proc/net/arp | tail -n +2; ` +
  'cat /sys/class/net/eth0/statistics/rx_packets /sys/class/net/eth0/statistics/tx_packets | tr "\\n" " "';

/** The guest's aggregate "cpu" line of /proc/stat: busy and total jiffies. */
function guestCpu(line: string): { busy: number; total: number } {
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: total - (v[3] ?? 0) - (v[4] ?? 0), total };
}

/** Files for the guest's initramfs: each program with its libraries, each path once. */
function programs(paths: readonly (string | undefined)[]): CpioEntry[] {
  const seen = new Set<string>();
  const out: CpioEntry[] = [];
  for (const p of paths) {
    if (p === undefined) continue;
    for (const e of programWithLibraries(p)) {
      if (seen.has(e.path)) continue;
      seen.add(e.path);
      out.push(e);
    }
  }
  // Directories before the files in them, as programWithLibraries orders one program's.
  return [...out.filter((e) => e.type === 'dir'), ...out.filter((e) => e.type !== 'dir')];
}

interface Row {
  setup: string;
  toPodMbps: number[];
  toGuestMbps: number[];
  cpuSecPerGB: number[];
  /** Busy share of the guest's vCPUs during each iperf3 run, to pod and to guest (0..1). */
  guestBusyToPod: number[];
  guestBusyToGuest: number[];
  rrP50Us: number[];
  rrP99Us: number[];
  connPerSec: number[];
  failed?: string;
}

async function runSetup(lab: Lab, s: Setup): Promise<Row> {
  const row = emptyRow(s.name);
  const pod = await makePod(lab);
  const sock = join(pod.dir, 'bench.sock');
  const daemon: LabProcess = lab.spawn(pod.ns, s.argv(sock), {
    label: s.name,
    ...(s.env ? { env: s.env } : {}),
  });
  await waitFor(
    () => existsSync(sock) || daemon.exitStatus !== undefined,
    30_000,
    `${s.name} socket`,
    50,
  );
  if (!existsSync(sock)) throw new Error(`${s.name} did not start:\n${daemon.output}`);
  const t = { diagnostic: (m: string) => console.error(`  ${m}`) } as unknown as TestContext;
  const guest = await bootShell(t, lab, sock, {
    vhostUser: s.vhostUser,
    smp: s.smp ?? 1,
    queues: s.queues ?? 1,
    qemu: QEMU10_BINARY,
    lifetimeMs: 600_000,
    extraFiles: programs([IPERF3, ...(s.latency === true ? [SOCKPERF, AB] : [])]),
  });
  const sh = new GuestShell(guest, () => guest.console.slice(-2000));
  const clients = s.clients ?? 1;
  for (let c = 0; c < clients; c++) {
    const srv = lab.spawn(pod.ns, ['iperf3', '-s', '--forceflush', '-p', String(PORT + c)], {
      label: 'iperf3 -s',
    });
    await srv.waitForOutput(/Server listening/, 10_000);
  }
  if (s.latency === true) {
    if (SOCKPERF !== undefined) {
      const rr = lab.spawn(
        pod.ns,
        [SOCKPERF, 'server', '--tcp', '-i', '0.0.0.0', '-p', `${RR_PORT}`],
        {
          label: 'sockperf server',
        },
      );
      await rr.waitForOutput(/listen on|Warmup stage/, 10_000);
    }
    const http = lab.spawn(pod.ns, [process.execPath, '-e', HTTP_SERVER], { label: 'http server' });
    await http.waitForOutput(/listening/, 10_000);
  }
  if (s.queues !== undefined && s.queues > 1) {
    const q = await sh.run('ls /sys/class/net/eth0/queues/ | tr "\\n" " "');
    console.error(`  guest queues: ${q.out.trim()}`);
  }
  for (let rep = 0; rep < REPS; rep++) {
    for (const [flag, list, busy] of [
      ['', row.toPodMbps, row.guestBusyToPod],
      ['-R', row.toGuestMbps, row.guestBusyToGuest],
    ] as const) {
      const cpu0 = cpuSecs(daemon.pid);
      const cmd =
        clients === 1
          ? `timeout ${SECS + 30} iperf3 -c ${GW4} -p ${PORT} -t ${SECS} -f m ${flag} 2>&1 | grep -E 'receiver|error'`
          : Array.from(
              { length: clients },
              (_, c) =>
                `( timeout ${SECS + 30} taskset -c ${c} iperf3 -c ${GW4} -p ${PORT + c} -t ${SECS} -f m -P 2 ${flag} 2>&1 | grep -E 'SUM.*receiver|error' ) &`,
            ).join(' ') + ' wait';
      const g = await sh.run(
        `head -n 1 /proc/stat; ${cmd}; head -n 1 /proc/stat`,
        (SECS + 60) * 1000,
      );
      const cpu = cpuSecs(daemon.pid) - cpu0;
      // iperf3 says GBytes past 1024 MBytes (passt at MTU 65520 moved 1.16 GBytes in 5 s).
      const ms = [...g.out.matchAll(/([\d.]+) ([MG])Bytes\s+([\d.]+) Mbits\/sec\s+receiver/g)];
      if (ms.length !== clients) {
        // The first failure per setup also records the guest's side of the link, for a wedge.
        const link =
          row.failed === undefined
            ? (await sh.run(GUEST_LINK_STATE, 30_000).catch((e: Error) => ({ out: e.message }))).out
            : '';
        // Kept, not overwritten: the first failure is where a wedge shows.
        row.failed = `${row.failed ?? ''}${g.out.trim().slice(-300)}${link ? `\nguest link: ${link.trim()}` : ''}\n`;
        continue;
      }
      list.push(ms.reduce((a, m) => a + Number(m[3]), 0));
      // Only runs that moved data: a failed run's near-idle guest would pull the median down.
      const stat = [...g.out.matchAll(/^cpu .*$/gm)].map((m) => guestCpu(m[0]));
      if (stat.length === 2 && stat[1]!.total > stat[0]!.total)
        busy.push((stat[1]!.busy - stat[0]!.busy) / (stat[1]!.total - stat[0]!.total));
      const gb = ms.reduce((a, m) => a + Number(m[1]) / (m[2] === 'G' ? 1 : 1024), 0);
      if (gb > 0) row.cpuSecPerGB.push(cpu / gb);
    }
    if (s.latency === true) await latencyRep(sh, row);
  }
  await guest.kill();
  await daemon.kill('SIGTERM', 5_000);
  return row;
}

function emptyRow(setup: string): Row {
  return {
    setup,
    toPodMbps: [],
    toGuestMbps: [],
    cpuSecPerGB: [],
    guestBusyToPod: [],
    guestBusyToGuest: [],
    rrP50Us: [],
    rrP99Us: [],
    connPerSec: [],
  };
}

/** One rep of TCP RR (sockperf) and connections/s (ab) from the guest. */
async function latencyRep(sh: GuestShell, row: Row): Promise<void> {
  const fail = (what: string, out: string): void => {
    row.failed = `${row.failed ?? ''}${what}: ${out.trim().slice(-300)}\n`;
  };
  if (SOCKPERF !== undefined) {
    const g = await sh.run(
      `timeout ${SECS + 30} sockperf ping-pong --tcp --full-rtt -i ${GW4} -p ${RR_PORT} -t ${SECS} 2>&1 | grep -iE 'percentile (50|99)\\.000|error'`,
      (SECS + 60) * 1000,
    );
    const p50 = /percentile 50\.000 =\s*([\d.]+)/.exec(g.out);
    const p99 = /percentile 99\.000 =\s*([\d.]+)/.exec(g.out);
    if (p50 && p99) {
      row.rrP50Us.push(Number(p50[1]));
      row.rrP99Us.push(Number(p99[1]));
    } else fail('sockperf', g.out);
  }
  if (AB !== undefined) {
    // No -k: every request is a new TCP connection. -t caps the requests at 50000, past reach.
    const g = await sh.run(
      `timeout ${SECS + 30} ab -q -c 8 -t ${SECS} http://${GW4}:${HTTP_PORT}/ 2>&1 | grep -E 'Requests per second|Failed requests|Complete requests|apr_|ab:'`,
      (SECS + 60) * 1000,
    );
    const m = /Requests per second:\s*([\d.]+)/.exec(g.out);
    if (m) row.connPerSec.push(Number(m[1]));
    else fail('ab', g.out);
  }
}

interface TableRow {
  setup: string;
  guestToPodMbps: number | null;
  podToGuestMbps: number | null;
  translatorCpuSecPerGB: number | null;
  guestBusyToPod: number | null;
  guestBusyToGuest: number | null;
  rrP50Us: number | null;
  rrP99Us: number | null;
  connPerSec: number | null;
  failed?: string;
}

/** Issue 15's targets: bindery vhost-user against newest passt vhost-user and bindery stream. */
function ratios(
  table: readonly TableRow[],
): Record<string, { ratio: number; target: string; met: boolean }> {
  const find = (n: string): TableRow | undefined => table.find((r) => r.setup === n);
  const bv = find('bindery vhost-user');
  const bs = find('bindery stream');
  const pv = find('passt 2026_07_24 vhost-user');
  const out: Record<string, { ratio: number; target: string; met: boolean }> = {};
  const add = (
    name: string,
    a: number | null | undefined,
    b: number | null | undefined,
    target: number,
    atMost: boolean,
  ): void => {
    if (a === null || a === undefined || b === null || b === undefined || b === 0) return;
    const ratio = Math.round((a / b) * 100) / 100;
    out[name] = {
      ratio,
      target: `${atMost ? '≤' : '≥'} ${target}`,
      met: atMost ? a / b <= target : a / b >= target,
    };
  };
  add(
    'vhost-user ÷ passt vhost-user, guest → pod',
    bv?.guestToPodMbps,
    pv?.guestToPodMbps,
    1,
    false,
  );
  add(
    'vhost-user ÷ passt vhost-user, pod → guest',
    bv?.podToGuestMbps,
    pv?.podToGuestMbps,
    1,
    false,
  );
  add('vhost-user ÷ passt vhost-user, connections/s', bv?.connPerSec, pv?.connPerSec, 1, false);
  add('vhost-user ÷ passt vhost-user, RR median', bv?.rrP50Us, pv?.rrP50Us, 1, true);
  add('vhost-user ÷ passt vhost-user, RR p99', bv?.rrP99Us, pv?.rrP99Us, 1, true);
  add(
    'vhost-user ÷ bindery stream, guest → pod',
    bv?.guestToPodMbps,
    bs?.guestToPodMbps,
    1.5,
    false,
  );
  add(
    'vhost-user ÷ bindery stream, pod → guest',
    bv?.podToGuestMbps,
    bs?.podToGuestMbps,
    1.5,
    false,
  );
  return out;
}

async function main(): Promise<void> {
  const up = ensureUpstreamPasta();
  const passt = 'path' in up ? join(upstreamPasstDir(), 'passt') : undefined;
  if (passt === undefined)
    console.error(`  no upstream passt: ${(up as { failed: string }).failed}`);
  const lab = await Lab.create();
  const rows: Row[] = [];
  try {
    const only = process.env.BINDERY_VHOST_BENCH_ONLY;
    const all = SET === 'tso' ? tsoSetups(passt) : setups(passt);
    for (const s of all.filter((x) => only === undefined || x.name.includes(only))) {
      console.error(`bench: ${s.name}`);
      try {
        rows.push(await runSetup(lab, s));
      } catch (e) {
        rows.push({ ...emptyRow(s.name), failed: String(e).slice(0, 500) });
      }
    }
  } finally {
    await lab.teardown();
  }
  const med = (xs: number[]): number | null => (xs.length ? median(xs) : null);
  const table: TableRow[] = rows.map((r) => ({
    setup: r.setup,
    guestToPodMbps: med(r.toPodMbps),
    podToGuestMbps: med(r.toGuestMbps),
    translatorCpuSecPerGB: med(r.cpuSecPerGB),
    guestBusyToPod: med(r.guestBusyToPod),
    guestBusyToGuest: med(r.guestBusyToGuest),
    rrP50Us: med(r.rrP50Us),
    rrP99Us: med(r.rrP99Us),
    connPerSec: med(r.connPerSec),
    ...(r.failed !== undefined ? { failed: r.failed } : {}),
  }));
  console.table(table.map(({ failed: _f, ...r }) => r));
  for (const r of table)
    if (r.failed !== undefined) console.error(`${r.setup} failed: ${r.failed}`);
  const targets = ratios(table);
  for (const [k, v] of Object.entries(targets))
    console.error(`${k}: ${v.ratio} (target ${v.target}: ${v.met ? 'met' : 'missed'})`);
  const dir =
    process.env.BINDERY_BENCH_RESULTS_DIR ?? fileURLToPath(new URL('./results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  const stamp = new Date()
    .toISOString()
    .replace(/[:.]/g, '-')
    .replace(/-\d+Z$/, 'Z');
  const file = join(dir, `vhost-${SET === 'tso' ? 'tso-' : ''}${stamp}.json`);
  writeFileSync(
    file,
    JSON.stringify(
      {
        meta: {
          qemu: QEMU10_BINARY,
          accel: 'tcg',
          secs: SECS,
          reps: REPS,
          smp: 'per setup (1 unless the name says smp2)',
          loadavg: readFileSync('/proc/loadavg', 'utf8').trim(),
          set: SET,
          note:
            process.env.BINDERY_BENCH_NOTE ??
            'one run on the shared 2-core machine while other helpers were working',
        },
        table,
        targets,
        samples: rows,
      },
      null,
      2,
    ) + '\n',
  );
  console.error(`wrote ${file}`);
}

await main();
