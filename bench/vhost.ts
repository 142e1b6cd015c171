// The vhost-user bench (issue 15): one TCG guest on QEMU 10, iperf3 each way through bindery stream, bindery vhost-user, newest passt stream and newest passt vhost-user.
//
// Run as root: `node --import tsx bench/vhost.ts` (after `npm run build`). Per setup one boot of
// the test guest (test/qemu/passt-tcp-rig.ts: the pod namespace, the guest's command loop, with
// iperf3 copied in), all on the same QEMU 10 binary, one after the other; per direction
// BINDERY_VHOST_BENCH_REPS (default 2) iperf3 runs of BINDERY_VHOST_BENCH_SECS (default 5) s,
// IPv4, guest to pod's loopback through the gateway. Recorded per setup: the median Mbit/s each
// way, and the translator's CPU (utime + stime from /proc/PID/stat) per GB moved. TCP RR and
// connections/s are not measured here (no such tool in the busybox guest yet). The JSON goes to
// bench/results/vhost-<time>.json (BINDERY_BENCH_RESULTS_DIR overrides).
//
// Multiqueue rows (BINDERY_VHOST_BENCH_SETS: `base`, `mq` or both, the default): a 2-vCPU guest
// on queues=1 and queues=2 (bindery) and queues=1 (newest passt: no MQ), four TCP streams each
// way. iperf3 3.12 (Debian 12) runs all its streams on one thread, which would keep one vCPU —
// and so one TX ring — busy, so the four streams are two `-P 2` clients pinned one per vCPU
// (taskset), each to its own server; the row's rate is their sum.
// BINDERY_VHOST_BENCH_SET=tso runs the TSO rows instead: at MTU 1500 and 65520 (`-m`, the guest
// takes it by DHCP) bindery vhost-user with TSO, without it (BINDERY_VHOST_NO_TSO=1 in the
// daemon's environment: HOST_TSO4/6 and GUEST_TSO4/6 not offered), and passt vhost-user.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Lab } from '../test/lab/lab.js';
import type { LabProcess } from '../test/lab/lab.js';
import { QEMU10_BINARY } from '../test/lab/qemu.js';
import { programWithLibraries } from '../test/lab/initramfs.js';
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

interface Row {
  setup: string;
  toPodMbps: number[];
  toGuestMbps: number[];
  cpuSecPerGB: number[];
  failed?: string;
}

async function runSetup(lab: Lab, s: Setup): Promise<Row> {
  const row: Row = { setup: s.name, toPodMbps: [], toGuestMbps: [], cpuSecPerGB: [] };
  const pod = await makePod(lab);
  const sock = join(pod.dir, 'bench.sock');
  const daemon: LabProcess = lab.spawn(pod.ns, s.argv(sock), {
    label: s.name,
    ...(s.env ? { env: s.env } : {}),
  });
  const { existsSync } = await import('node:fs');
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
    extraFiles: IPERF3 ? programWithLibraries(IPERF3) : [],
  });
  const sh = new GuestShell(guest, () => guest.console.slice(-2000));
  const clients = s.clients ?? 1;
  for (let c = 0; c < clients; c++) {
    const srv = lab.spawn(pod.ns, ['iperf3', '-s', '--forceflush', '-p', String(PORT + c)], {
      label: 'iperf3 -s',
    });
    await srv.waitForOutput(/Server listening/, 10_000);
  }
  if (s.queues !== undefined && s.queues > 1) {
    const q = await sh.run('ls /sys/class/net/eth0/queues/ | tr "\\n" " "');
    console.error(`  guest queues: ${q.out.trim()}`);
  }
  for (let rep = 0; rep < REPS; rep++) {
    for (const [flag, list] of [
      ['', row.toPodMbps],
      ['-R', row.toGuestMbps],
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
      const g = await sh.run(cmd, (SECS + 60) * 1000);
      const cpu = cpuSecs(daemon.pid) - cpu0;
      // iperf3 says GBytes past 1024 MBytes (passt at MTU 65520 moved 1.16 GBytes in 5 s).
      const ms = [...g.out.matchAll(/([\d.]+) ([MG])Bytes\s+([\d.]+) Mbits\/sec\s+receiver/g)];
      if (ms.length !== clients) {
        row.failed = g.out.trim().slice(-300);
        continue;
      }
      list.push(ms.reduce((a, m) => a + Number(m[3]), 0));
      const gb = ms.reduce((a, m) => a + Number(m[1]) / (m[2] === 'G' ? 1 : 1024), 0);
      if (gb > 0) row.cpuSecPerGB.push(cpu / gb);
    }
  }
  await guest.kill();
  await daemon.kill('SIGTERM', 5_000);
  return row;
}

async function main(): Promise<void> {
  const up = ensureUpstreamPasta();
  const passt = 'path' in up ? join(upstreamPasstDir(), 'passt') : undefined;
  if (passt === undefined)
    console.error(`  no upstream passt: ${(up as { failed: string }).failed}`);
  const lab = await Lab.create();
  const rows: Row[] = [];
  try {
    for (const s of SET === 'tso' ? tsoSetups(passt) : setups(passt)) {
      console.error(`bench: ${s.name}`);
      try {
        rows.push(await runSetup(lab, s));
      } catch (e) {
        rows.push({
          setup: s.name,
          toPodMbps: [],
          toGuestMbps: [],
          cpuSecPerGB: [],
          failed: String(e).slice(0, 500),
        });
      }
    }
  } finally {
    await lab.teardown();
  }
  const med = (xs: number[]): number | null => (xs.length ? median(xs) : null);
  const table = rows.map((r) => ({
    setup: r.setup,
    guestToPodMbps: med(r.toPodMbps),
    podToGuestMbps: med(r.toGuestMbps),
    translatorCpuSecPerGB: med(r.cpuSecPerGB),
    ...(r.failed !== undefined ? { failed: r.failed } : {}),
  }));
  console.table(table);
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
          note: 'one run on the shared 2-core machine while other helpers were working',
        },
        table,
        samples: rows,
      },
      null,
      2,
    ) + '\n',
  );
  console.error(`wrote ${file}`);
}

await main();
