// All-ports bench (`node --import tsx bench/allports.ts`, root; not a test): fds and RSS of `-t all -u all`, bindery vs upstream passt, and inbound connections/s through the all-ports path vs the per-port path.
//
// Each setup gets fresh namespaces as in test/usernet/all-ports.test.ts: a client namespace —
// veth — the pod namespace, where the translator runs, and (bindery) a guest namespace holding
// its tap with the pod's address 10.77.0.1 and an echo server (bench/tcpload.py serve) on
// port 8080. Setups:
// - `bindery all-ports`: `bindery fwd-rules up -t all -u all` in the pod, then `bindery passt -t
//   all -u all` (one socket per family and protocol);
// - `bindery per-port all`: the same without the rule (one socket per port: it needs more fds
//   than this machine's hard limit allows, and says so);
// - `bindery one port`: `-t 8080 -u 8080`, the translator's own baseline;
// - `bindery per-port 9000`: `-t 1-9000 -u 1-9000` without the rule, the per-port path at a
//   size that fits (and the one the connections/s comparison uses);
// - `passt all`, `passt 9000`: the newest upstream passt (../shared/peers/build-passt.sh, as
//   bench/peers.ts builds it) with the same specs, fds and RSS only (its guest would be a QEMU VM).
// fds = entries of /proc/PID/fd, RSS = VmRSS, read 1 s after the translator is ready.
// Connections/s: bench/tcpload.py crr (connect, 1-byte echo, close; 8 clients) from the client
// namespace to 10.77.0.1:8080 for BINDERY_BENCH_NET_SECONDS (5), median of
// BINDERY_BENCH_NET_REPS (3) repetitions, the two bindery setups alternating.
// Targets (issue 18): < 100 fds, < 64 MiB RSS; all-ports conn/s ≥ 1.0× per-port.
import { readdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Lab, uniqueIfName, type LabProcess, type Netns } from '../test/lab/lab.js';
import { machineMeta, writeJson } from './matrix.js';
import { ensureUpstreamPasta, toolVersion } from './peers.js';
import { median } from './stats.js';

const BIN = fileURLToPath(new URL('../bin/bindery.js', import.meta.url));
const LOAD = fileURLToPath(new URL('./tcpload.py', import.meta.url));
const REPS = Number(process.env.BINDERY_BENCH_NET_REPS ?? 3);
const SECS = Number(process.env.BINDERY_BENCH_NET_SECONDS ?? 5);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Pod {
  pod: Netns;
  client: Netns;
  guest: Netns;
  dir: string;
}

async function pod(lab: Lab): Promise<Pod> {
  const p = await lab.namespace('pod');
  const client = await lab.namespace('cli');
  const guest = await lab.namespace('gst');
  await lab.veth(p, client, {
    addrsA: ['10.77.0.1/24', 'fd77::1/64'],
    addrsB: ['10.77.0.2/24', 'fd77::2/64'],
  });
  await lab.ip(p, ['route', 'add', 'default', 'via', '10.77.0.2']);
  await lab.ip(p, ['-6', 'route', 'add', 'default', 'via', 'fd77::2']);
  // As KubeVirt's pods: the unprivileged translator (passt runs as nobody) may bind any port.
  await lab.sysctl(p, 'net.ipv4.ip_unprivileged_port_start', 0);
  // Thousands of short connections per repetition: without reuse the client's ports sit in
  // TIME_WAIT and later repetitions measure the wait for a free port, not the translator.
  await lab.sysctl(client, 'net.ipv4.tcp_tw_reuse', 1);
  await lab.sysctl(client, 'net.ipv4.ip_local_port_range', '1024 65000');
  return { pod: p, client, guest, dir: await lab.tmpDir() };
}

function usage(pid: number): { fds: number; rssMiB: number } {
  const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return { fds: readdirSync(`/proc/${pid}/fd`).length, rssMiB: Number(rss) / 1024 };
}

/** Starts a translator; resolves when it is ready (or rejects with what it said). */
async function start(
  lab: Lab,
  ns: Netns,
  argv: string[],
  ready: RegExp,
  env = {},
): Promise<LabProcess> {
  const proc = lab.spawn(ns, argv, { env });
  try {
    await proc.waitForOutput(ready, 180_000);
  } catch {
    throw new Error((proc.output.trim().split('\n').pop() ?? 'exited').slice(0, 300));
  }
  await sleep(1000);
  return proc;
}

async function binderySetup(lab: Lab, specs: string[], rule: boolean, conntrack = false) {
  const p = await pod(lab);
  if (conntrack) {
    // The kernel's share: conntrack on, as the all-ports rule turns it on, but no NAT.
    await lab.run(p.pod, ['nft', '-f', '-'], {
      input:
        'table inet bdyct { chain pre { type filter hook prerouting priority 0; ct state new counter; }; }\n',
    });
  }
  const env = { BINDERY_FWD_DIR: p.dir };
  if (rule) {
    await lab.run(
      'host',
      [process.execPath, BIN, 'fwd-rules', 'up', '--netns', p.pod, '--marker-dir', p.dir, ...specs],
      { env, timeoutMs: 60_000 },
    );
  }
  const tap = uniqueIfName('bp');
  const proc = await start(
    lab,
    p.pod,
    [process.execPath, BIN, 'passt', '-f', '--tap', tap, '--netns', p.guest, ...specs],
    /serving tap/,
    env,
  );
  const u = usage(proc.pid);
  await lab.ip(p.guest, ['addr', 'add', '10.77.0.1/24', 'dev', tap]);
  await lab.run(p.guest, ['ping', '-c', '1', '-W', '2', '10.77.0.2']);
  const srv = lab.spawn(p.guest, ['python3', LOAD, 'serve', '0.0.0.0', '8080']);
  await srv.waitForOutput(/ready/, 10_000);
  return { p, proc, usage: u };
}

async function crr(lab: Lab, client: Netns): Promise<number> {
  const out = await lab.run(
    client,
    ['python3', LOAD, 'crr', '10.77.0.1', '8080', String(SECS), '8'],
    { timeoutMs: (SECS + 30) * 1000 },
  );
  const rate = /rate ([\d.]+)/.exec(out)?.[1];
  if (rate === undefined) throw new Error(`crr said: ${out.trim()}`);
  return Number(rate);
}

type Row = {
  setup: string;
  specs: string;
  fds?: number;
  rssMiB?: number;
  connPerSec?: number[];
  failed?: string;
};

async function main(): Promise<void> {
  const started = new Date();
  const loadStart = loadavg();
  const rows: Row[] = [];
  const lab = await Lab.create();
  const all = ['-t', 'all', '-u', 'all'];
  const nine = ['-t', '1-9000', '-u', '1-9000'];
  let passtVersion = '';
  try {
    const a = await binderySetup(lab, all, true);
    rows.push({ setup: 'bindery all-ports', specs: all.join(' '), ...a.usage, connPerSec: [] });
    try {
      await binderySetup(lab, all, false);
      rows.push({
        setup: 'bindery per-port all',
        specs: all.join(' '),
        failed: 'started (unexpected here)',
      });
    } catch (e) {
      rows.push({
        setup: 'bindery per-port all',
        specs: all.join(' '),
        failed: (e as Error).message,
      });
    }
    const base = await binderySetup(lab, ['-t', '8080', '-u', '8080'], false);
    rows.push({ setup: 'bindery one port', specs: '-t 8080 -u 8080', ...base.usage });
    const b = await binderySetup(lab, nine, false);
    rows.push({
      setup: 'bindery per-port 9000',
      specs: nine.join(' '),
      ...b.usage,
      connPerSec: [],
    });
    const c = await binderySetup(lab, nine, false, true);
    rows.push({
      setup: 'bindery per-port 9000 + conntrack',
      specs: nine.join(' '),
      ...c.usage,
      connPerSec: [],
    });
    const timed = [
      [rows[0]!, a],
      [rows[3]!, b],
      [rows[4]!, c],
    ] as const;
    for (let rep = 0; rep < REPS; rep++) {
      for (let i = 0; i < timed.length; i++) {
        const [row, s] = timed[(i + rep) % timed.length]!;
        console.error(`  allports bench: ${row.setup}, repetition ${rep + 1}/${REPS}`);
        row.connPerSec!.push(await crr(lab, s.p.client));
      }
    }
    const up = ensureUpstreamPasta();
    if ('failed' in up) {
      rows.push({ setup: 'passt', specs: '', failed: up.failed });
    } else {
      const passt = join(up.path, '..', 'passt');
      passtVersion = toolVersion([passt, '--version']);
      for (const [name, specs] of [
        ['passt all', all],
        ['passt 9000', nine],
      ] as const) {
        const p = await pod(lab);
        try {
          const proc = await start(
            lab,
            p.pod,
            [passt, '-f', '-s', join(p.dir, 'passt.sock'), ...specs],
            /bound at|You can now start/,
          );
          if (proc.exitStatus !== undefined)
            throw new Error(proc.output.trim().split('\n').pop() ?? 'exited');
          rows.push({ setup: name, specs: specs.join(' '), ...usage(proc.pid) });
          await proc.kill();
        } catch (e) {
          rows.push({ setup: name, specs: specs.join(' '), failed: (e as Error).message });
        }
      }
    }
  } finally {
    await lab.teardown();
  }
  const limit = readFileSync('/proc/self/limits', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max open files'))
    ?.replace(/\s+/g, ' ');
  const res = {
    meta: {
      ...machineMeta(started, loadStart),
      reps: REPS,
      seconds: SECS,
      nofile: limit,
      passt: passtVersion,
    },
    rows: rows.map((r) => ({
      ...r,
      ...(r.connPerSec ? { connPerSecMedian: median(r.connPerSec) } : {}),
    })),
  };
  for (const r of res.rows)
    console.log(
      `${r.setup.padEnd(24)} ${r.failed !== undefined ? `failed: ${r.failed}` : `fds ${r.fds}  RSS ${r.rssMiB?.toFixed(1)} MiB${'connPerSecMedian' in r ? `  conn/s ${(r.connPerSecMedian as number).toFixed(0)}` : ''}`}`,
    );
  console.log(`wrote ${writeJson('allports', res)}`);
}

await main();
