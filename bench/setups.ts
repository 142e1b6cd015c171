// Builds one compared setup (bench/peers.ts) in fresh namespaces for the TCP and UDP benches,
// and holds the one place bindery is spawned, so every bindery column runs the same build.
//
// Each setup gets the same two namespaces: a "pod" (the host side; the servers listen on its
// loopback) and a "guest" (10.0.2.15/24 on a tap, gateway 10.0.2.2, MTU 65520 or
// BINDERY_BENCH_MTU, the same in every setup; slirp4netns insists on 10.0.2.100). The translators map the gateway address to the pod's loopback, so the
// guest always talks to 10.0.2.2. The veth setup is the kernel's own path (the upper bound): a
// veth pair guest ↔ pod with 10.0.2.2 on the pod's end, where its servers listen instead. The
// pod also holds a veth pair (both ends inside it, 192.168.77.1) with a default route so pasta
// finds a template interface; nothing leaves the lab. A setup is ready once the guest pings the
// pod's address through it.
import { readFileSync } from 'node:fs';
import type { Lab, LabProcess, Netns } from '../test/lab/lab.js';
import { pastaArgv } from '../test/lab/tcp-tools.js';
import { BENCH_THREADS, type Kind, type Peer } from './peers.js';

export const GUEST_ADDR = '10.0.2.15';
export const GW = '10.0.2.2';
/** The guest link's MTU in every setup: BINDERY_BENCH_MTU (68–65520), default 65520. */
export const MTU = benchMtu(process.env.BINDERY_BENCH_MTU);

/** Parses BINDERY_BENCH_MTU (pasta takes at most 65520, IPv4 needs at least 68). */
export function benchMtu(text: string | undefined): number {
  if (text === undefined || text === '') return 65520;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 68 || n > 65520)
    throw new Error(`BINDERY_BENCH_MTU=${text}: want an MTU from 68 to 65520`);
  return n;
}
/** The pod's own address on its inner veth: what the guest pings to know the link is up. */
export const POD_ADDR = '192.168.77.1';
/** Ephemeral ports (both namespaces): wide, but below the servers' ports. */
const EPHEMERAL = '1024 60999';

/** Namespace name tags per setup (bdy-<run>-<tag>pod<n>). */
const TAG: Record<Kind, string> = {
  bindery: 'b',
  'bindery-no-offload': 'o',
  'bindery-threads': 't',
  pasta: 'p',
  'pasta-upstream': 'u',
  slirp4netns: 's',
  veth: 'v',
};

export interface Setup {
  readonly kind: Kind;
  /** What runs (so a workload can start another setup of the same kind, e.g. at MTU 1500). */
  readonly peer: Peer;
  /** The guest link's MTU. */
  readonly mtu: number;
  readonly pod: Netns;
  readonly guest: Netns;
  /** The translator (none for veth). */
  readonly proc: LabProcess | undefined;
  /** Where the servers in the pod listen: loopback, or the pod's veth address. */
  readonly bind: string;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function errText(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).trim();
}

/** The first line of an error, without the output a Lab error quotes after it. */
export function firstLine(e: unknown): string {
  return errText(e)
    .split('\n')[0]!
    .replace(/; output:$/, '');
}

/** The last non-empty line of a process's output (where tools print why they failed). */
export function lastLine(text: string): string {
  return (
    text
      .trim()
      .split('\n')
      .filter((l) => l.trim() !== '')
      .pop() ?? ''
  );
}

/**
 * The argv that starts bindery for a setup: every bindery column goes through here, so all run
 * the same build (`peer.path`: bin/bindery.js, or a .ts entry through tsx when
 * BINDERY_BENCH_BINDERY=src); the no-offload column adds `--no-tap-offload`, the threads
 * column `--threads BINDERY_BENCH_THREADS`.
 */
export function binderyArgv(peer: Peer, guest: Netns, profDir?: string, mtu = MTU): string[] {
  const entry = peer.path!;
  return [
    process.execPath,
    ...(profDir !== undefined ? ['--cpu-prof', '--cpu-prof-dir', profDir] : []),
    ...(entry.endsWith('.ts') ? ['--import', 'tsx', entry, 'passt'] : [entry, 'passt']),
    '-f',
    '--tap',
    'tap0',
    '--netns',
    guest,
    '-a',
    `${GUEST_ADDR}/24`,
    '-g',
    GW,
    '--mtu',
    String(mtu),
    ...(peer.kind === 'bindery-no-offload' ? ['--no-tap-offload'] : []),
    ...(peer.kind === 'bindery-threads' ? ['--threads', String(BENCH_THREADS)] : []),
  ];
}

/**
 * Builds one setup in fresh namespaces. BINDERY_BENCH_IMPAIR passes a BINDERY_IMPAIR spec to
 * bindery (otherwise it is unset for it).
 *
 * @param lab - Owns everything made.
 * @param peer - What runs (its `unavailable` reason is thrown).
 * @param profDir - Run bindery under `node --cpu-prof`, profiles into this directory.
 * @param mtu - The guest link's MTU (default BINDERY_BENCH_MTU).
 */
export async function makeSetup(lab: Lab, peer: Peer, profDir?: string, mtu = MTU): Promise<Setup> {
  const kind = peer.kind;
  if (peer.unavailable !== undefined) throw new Error(peer.unavailable);
  const pod = await lab.namespace(`${TAG[kind]}pod`);
  const guest = await lab.namespace(`${TAG[kind]}guest`);
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
  if (kind.startsWith('bindery')) {
    const impair = process.env.BINDERY_BENCH_IMPAIR ?? '';
    proc = lab.spawn(pod, binderyArgv(peer, guest, profDir, mtu), {
      env: { BINDERY_IMPAIR: impair },
    });
    try {
      await proc.waitForOutput(/serving tap/, 30_000);
    } catch (e) {
      await proc.kill('SIGKILL', 500);
      const why = lastLine(proc.output).replace(/^bindery: /, '') || firstLine(e);
      throw new Error(`did not start: ${why}`, { cause: e });
    }
    if (kind === 'bindery-threads') await checkQueues(lab, guest, proc);
    await lab.ip(guest, ['link', 'set', 'tap0', 'mtu', String(mtu)]);
    await lab.ip(guest, ['addr', 'add', `${GUEST_ADDR}/24`, 'dev', 'tap0']);
    await lab.ip(guest, ['route', 'add', 'default', 'via', GW]);
  } else if (kind === 'pasta' || kind === 'pasta-upstream') {
    const argv = pastaArgv(guest, { addrs: [[GUEST_ADDR, GW, 24]], mtu });
    proc = lab.spawn(pod, [peer.path!, ...argv.slice(1)]);
  } else if (kind === 'slirp4netns') {
    // Configures tap0 as 10.0.2.100/24, gateway 10.0.2.2 = the pod's loopback (host loopback
    // stays reachable because --disable-host-loopback is not given).
    proc = lab.spawn(pod, [
      'slirp4netns',
      '--configure',
      `--mtu=${mtu}`,
      '--disable-dns',
      '--netns-type=path',
      `/run/netns/${guest}`,
      'tap0',
    ]);
  } else {
    await lab.veth(guest, pod, { addrsA: [`${GUEST_ADDR}/24`], addrsB: [`${GW}/24`], mtu });
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
  return { kind, peer, mtu, pod, guest, proc, bind };
}

/**
 * The threads column measures sharding only if bindery attached one tap queue per thread:
 * the guest's tap0 then has that many rx queues in sysfs (the kernel's real count, not the
 * 256 a multiqueue tap may take). A build that parses `--threads` but does not shard yet
 * fails the column here, saying so, rather than measuring one thread under the wrong name.
 */
async function checkQueues(lab: Lab, guest: Netns, proc: LabProcess): Promise<void> {
  const r = await lab.exec(guest, ['ls', '/sys/class/net/tap0/queues'], { timeoutMs: 5000 });
  const rx = r.stdout.split(/\s+/).filter((q) => q.startsWith('rx-')).length;
  if (rx >= BENCH_THREADS) return;
  await proc.kill('SIGKILL', 500);
  throw new Error(
    `--threads ${BENCH_THREADS} but tap0 has ${rx} queue(s): this build does not shard yet`,
  );
}

/** makeSetup, tried twice (a translator may fail to start while the machine is busy). */
export async function makeSetupRetry(
  lab: Lab,
  peer: Peer,
  profDir?: string,
  log = 'bench',
  mtu = MTU,
): Promise<Setup> {
  if (peer.unavailable !== undefined) throw new Error(peer.unavailable);
  try {
    return await makeSetup(lab, peer, profDir, mtu);
  } catch (e) {
    // Not for a build without sharding: that will not change in 2 s.
    if (/does not shard/.test(errText(e))) throw e;
    console.error(`  ${log}: ${peer.kind} setup failed, trying once more: ${firstLine(e)}`);
    await sleep(2000);
    return makeSetup(lab, peer, profDir, mtu);
  }
}

/** Why a setup's translator is gone, or undefined while it runs. */
export function exitReason(s: Setup): string | undefined {
  const st = s.proc?.exitStatus;
  if (st === undefined) return undefined;
  const how = st.signal !== null ? `signal ${st.signal}` : `code ${st.code}`;
  return `${s.kind} exited (${how}): ${lastLine(s.proc!.output)}`;
}

/** The pid whose memory and fds count: the translator itself (`ip netns exec` execs it). */
export function translatorPid(proc: LabProcess): number {
  const comm = readFileSync(`/proc/${proc.pid}/comm`, 'utf8').trim();
  if (comm !== 'ip') return proc.pid;
  const kids = readFileSync(`/proc/${proc.pid}/task/${proc.pid}/children`, 'utf8').trim();
  const first = Number(kids.split(/\s+/)[0]);
  if (!Number.isInteger(first) || first <= 0)
    throw new Error(`no translator under pid ${proc.pid}`);
  return first;
}
