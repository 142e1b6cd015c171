// `bindery up` for one VM and `down` (the I/O edge): node and pod namespaces, the service stand-ins, each interface's binding, QEMU with the bundled guest, the lease; and undoing all of it.
//
// Theory of operation. Everything a run creates is recorded in its state file *before* it is
// created (names, the temp dir) or right after (pids), so `down` can undo any prefix of `up`:
// kill the processes it started (checking /proc/PID/cmdline, so a reused pid is left alone),
// `pod-net down`, delete both namespaces (their veth, taps, bridges and nft tables go with them),
// remove the temp dir and the state.
//
//   node ns  lo: 10.96.0.10 (dnsmasq)  10.96.0.20 (HTTP)       pod ns  eth0 10.244.N.2/24 ::2/64
//            bdyXXXXXX 10.244.N.1/24 ::1/64  ─── veth ───────          default via .1 / ::1
//                                                                      bindery passt | pod-net taps
//                                                                      QEMU (guest NICs)
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BinderyError, ErrorCode } from '../errors.js';
import type { LoadedPlan } from '../cli/plan-input.js';
import { podNetDown, podNetUp } from '../podnet/index.js';
import { fwdRulesDown, fwdRulesUpArgs } from '../runner/fwd-rules.js';
import { guestImage } from '../guest/image.js';
import { guestQemuArgs } from '../guest/qemu-args.js';
import { GuestAgent } from '../guest/agent.js';
import { bindingName, forwardsHttp, passtPortArgs, upInterfaces } from './bindings.js';
import { HTTP_MARKER } from './checks.js';
import { linkByMac, parseIpAddr } from './guest-addrs.js';
import {
  SERVICES,
  allocateIndex,
  guestMac,
  podNetwork,
  podResolvConf,
  runNames,
  slug,
} from './names.js';
import type { Progress } from './progress.js';
import { listRuns, loadRunState, removeRunState, saveRunState, type RunState } from './state.js';
import { portsText } from './table.js';
import { isAlive, isOurs, run, spawnDetached, stopProcess, tryRun, waitUntil } from './sys.js';

/** The bindery CLI (bin/bindery.js), for `bindery passt`. */
const BIN = fileURLToPath(new URL('../../bin/bindery.js', import.meta.url));
/** The serial console line the guest prints once booted. */
export const READY_MARKER = 'BINDERY-GUEST-READY';

/** What one `up` needs besides the plan. */
export interface UpContext {
  readonly stateRoot: string;
  readonly progress: Progress;
  /** Called with the state as soon as it exists (the caller tears it down on Ctrl-C). */
  readonly onState?: (s: RunState) => void;
  /** Deadlines in ms. */
  readonly bootTimeoutMs?: number;
  readonly leaseTimeoutMs?: number;
  /**
   * QEMU's accelerator: `tcg` (the default: on this project's nested-virtualisation hosts
   * /dev/kvm opens but a KVM guest stalls in early boot), `kvm`, or `auto` (kvm when /dev/kvm
   * opens).
   */
  readonly accel?: 'tcg' | 'kvm' | 'auto';
  /** Aborted on Ctrl-C: `up` stops at its next step or wait and tears down what it made. */
  readonly signal?: AbortSignal;
}

/** The accelerator `accel` stands for on this host. */
export function pickAccel(accel: 'tcg' | 'kvm' | 'auto' = 'tcg'): 'tcg' | 'kvm' {
  return accel === 'auto' ? (kvmUsable() ? 'kvm' : 'tcg') : accel;
}

/** Whether /dev/kvm opens. */
export function kvmUsable(): boolean {
  try {
    closeSync(openSync('/dev/kvm', 'r+'));
    return true;
  } catch {
    return false;
  }
}

const fail = (msg: string, cause?: unknown): BinderyError =>
  new BinderyError(ErrorCode.Up, msg, cause !== undefined ? { cause } : undefined);

/** The VM key of a plan: its name (state lives under it). */
export function vmKey(lp: LoadedPlan): string {
  return slug(lp.plan.vmName);
}

/**
 * Brings one VM up and leaves it running; on any failure what was made is torn down first.
 * @returns the run's state (ready)
 * @throws BinderyError (Up) naming the failed step
 */
export async function upVm(lp: LoadedPlan, ctx: UpContext): Promise<RunState> {
  const vm = vmKey(lp);
  const p = ctx.progress;
  const picked = upInterfaces(lp.plan, lp.paths);
  if (!picked.ok) throw fail(`${lp.plan.namespace}/${lp.plan.vmName}: ${picked.errors.join('; ')}`);

  const old = await loadRunState(ctx.stateRoot, vm);
  if (old) {
    const qemu = old.processes.find((x) => x.role === 'qemu');
    if (old.ready && qemu && isOurs(qemu.pid, qemu.match))
      throw fail(`${vm} is already up (bindery down ${vm} first)`);
    await downVm(ctx.stateRoot, vm);
  }
  const used: number[] = [];
  for (const other of await listRuns(ctx.stateRoot)) {
    const s = await loadRunState(ctx.stateRoot, other).catch(() => undefined);
    if (s) used.push(s.index);
  }
  const index = allocateIndex(used);
  const net = podNetwork(index);
  const names = runNames(vm, randomBytes(3).toString('hex'));
  const tmpDir = await mkdtemp(join(tmpdir(), `bindery-up-${vm}-`));
  const state: RunState = {
    version: 1,
    vm,
    namespace: lp.plan.namespace,
    platform: lp.plan.platform,
    startedAt: new Date().toISOString(),
    suffix: names.suffix,
    index,
    node: names.node,
    pod: names.pod,
    nodeVeth: names.nodeVeth,
    tmpDir,
    processes: [],
    interfaces: [],
    ready: false,
  };
  const save = (): Promise<void> => saveRunState(ctx.stateRoot, state);
  try {
    await save();
  } catch (e) {
    await rm(tmpDir, { recursive: true, force: true });
    throw e;
  }
  ctx.onState?.(state);
  const stop = (): void => {
    if (ctx.signal?.aborted) throw fail('interrupted');
  };
  try {
    stop();
    p.start('pod', `${names.pod}, ${net.pod4}/${net.prefix4}`);
    await buildNamespaces(state, net);
    stop();
    await startServices(state, save);
    stop();
    p.done('pod', `${names.node} / ${names.pod}`);

    p.start(
      'bindings',
      picked.interfaces.map((x) => `${x.iface.name}:${bindingName(x.iface)}`).join(' '),
    );
    const nics = await setUpBindings(lp, state, net, picked.interfaces, save);
    p.done('bindings');
    stop();

    const accel = pickAccel(ctx.accel);
    p.start('boot', accel.toUpperCase());
    const agent = await boot(state, nics, save, ctx.bootTimeoutMs ?? 240_000, accel, ctx.signal);
    stop();
    p.done('boot');

    p.start('dhcp');
    try {
      await waitLeases(state, agent, ctx.leaseTimeoutMs ?? 120_000, ctx.signal);
    } finally {
      agent.close();
    }
    p.done('dhcp', state.interfaces.map((i) => `${i.name} ${i.ipv4 ?? '?'}`).join(', '));

    stop();
    p.start('ready');
    state.ready = true;
    await save();
    p.done('ready');
    return state;
  } catch (e) {
    const step = p.running();
    if (step) p.fail(step, e instanceof Error ? e.message.split('\n')[0] : String(e));
    await downVm(ctx.stateRoot, vm, state).catch(() => {});
    throw e;
  }
}

async function buildNamespaces(s: RunState, net: ReturnType<typeof podNetwork>): Promise<void> {
  await run(['ip', 'netns', 'add', s.node]);
  await run(['ip', 'netns', 'add', s.pod]);
  const n = (argv: string[]): Promise<string> => run(['ip', '-n', s.node, ...argv]);
  const pd = (argv: string[]): Promise<string> => run(['ip', '-n', s.pod, ...argv]);
  await n(['link', 'set', 'lo', 'up']);
  await pd(['link', 'set', 'lo', 'up']);
  await n(['link', 'add', s.nodeVeth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', s.pod]);
  await pd(['link', 'set', 'eth0', 'address', net.podMac]);
  await n(['addr', 'add', `${net.node4}/${net.prefix4}`, 'dev', s.nodeVeth]);
  await n(['addr', 'add', `${net.node6}/${net.prefix6}`, 'dev', s.nodeVeth, 'nodad']);
  for (const a of [SERVICES.dns4, SERVICES.http4]) await n(['addr', 'add', `${a}/32`, 'dev', 'lo']);
  await n(['link', 'set', s.nodeVeth, 'up']);
  await pd(['link', 'set', 'eth0', 'up']);
  await pd(['addr', 'add', `${net.pod4}/${net.prefix4}`, 'dev', 'eth0']);
  await pd(['addr', 'add', `${net.pod6}/${net.prefix6}`, 'dev', 'eth0', 'nodad']);
  await pd(['route', 'add', 'default', 'via', net.node4]);
  await pd(['-6', 'route', 'add', 'default', 'via', net.node6]);
  // What a pod runtime allows: unprivileged ICMP echo sockets (passt's ping) and low ports.
  await run(['sysctl', '-q', '-w', 'net.ipv4.ping_group_range=0 2147483647'], { netns: s.pod });
  await run(['sysctl', '-q', '-w', 'net.ipv4.ip_unprivileged_port_start=0'], { netns: s.pod });
  await writeFile(join(s.tmpDir, 'resolv.conf'), podResolvConf());
}

async function startServices(s: RunState, save: () => Promise<void>): Promise<void> {
  const www = join(s.tmpDir, 'www');
  await mkdir(www);
  await writeFile(join(www, 'index.html'), `${HTTP_MARKER} ${s.vm}\n`);
  const httpPid = spawnDetached(
    ['python3', '-m', 'http.server', '80', '--bind', SERVICES.http4, '--directory', www],
    join(s.tmpDir, 'http.log'),
    s.node,
  );
  s.processes.push({ role: 'http', pid: httpPid, match: www });
  await save();
  const dnsPid = spawnDetached(
    [
      'dnsmasq',
      '--keep-in-foreground',
      '--conf-file=/dev/null',
      '--no-resolv',
      '--no-hosts',
      '--bind-interfaces',
      `--listen-address=${SERVICES.dns4}`,
      `--address=/${SERVICES.httpName}/${SERVICES.http4}`,
      `--pid-file=${join(s.tmpDir, 'dnsmasq.pid')}`,
      '--log-facility=-',
      '--log-queries',
    ],
    join(s.tmpDir, 'dnsmasq.log'),
    s.node,
  );
  s.processes.push({ role: 'dnsmasq', pid: dnsPid, match: s.tmpDir });
  await save();
  const httpUp = await waitUntil(
    async () =>
      (
        await tryRun(
          ['curl', '-s', '-f', '-m', '2', '-o', '/dev/null', `http://${SERVICES.http4}/`],
          {
            netns: s.node,
          },
        )
      ).code === 0,
    20_000,
    200,
  );
  if (!httpUp)
    throw fail(`the node's HTTP server did not come up: ${tail(join(s.tmpDir, 'http.log'))}`);
  const dnsUp = await waitUntil(
    async () =>
      (await tryRun(['getent', 'hosts', SERVICES.httpName], { netns: s.node })).stdout.includes(
        SERVICES.http4,
      ) || existsSync(join(s.tmpDir, 'dnsmasq.pid')),
    20_000,
    200,
  );
  if (!dnsUp || !isOurs(dnsPid, s.tmpDir))
    throw fail(`dnsmasq did not come up: ${tail(join(s.tmpDir, 'dnsmasq.log'))}`);
}

function tail(file: string, lines = 5): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-lines).join(' / ');
  } catch {
    return '(no log)';
  }
}

type Nic =
  | { kind: 'tap'; ifname: string; mac: string; mtu?: number }
  | { kind: 'stream'; socketPath: string; mac: string; mtu?: number };

async function setUpBindings(
  lp: LoadedPlan,
  s: RunState,
  net: ReturnType<typeof podNetwork>,
  picked: ReadonlyArray<{
    iface: LoadedPlan['plan']['interfaces'][number];
    method: 'passt' | 'podnet';
  }>,
  save: () => Promise<void>,
): Promise<Nic[]> {
  const podUrl = `http://${net.pod4}/`;
  const reachPod = `ip netns exec ${s.node} curl ${podUrl}`;
  let podnet: Awaited<ReturnType<typeof podNetUp>> | undefined;
  if (picked.some((x) => x.method === 'podnet')) {
    s.podnetStateDir = join(s.tmpDir, 'podnet');
    await save();
    try {
      podnet = await podNetUp({
        plan: lp.plan,
        paths: lp.paths,
        interfaceIndex: lp.interfaceIndex,
        netns: s.pod,
        stateDir: s.podnetStateDir,
        resolvConf: join(s.tmpDir, 'resolv.conf'),
      });
    } catch (e) {
      throw fail(`pod-net: ${e instanceof Error ? e.message : String(e)}`, e);
    }
  }
  const nics: Nic[] = [];
  let n = 0;
  for (const { iface, method } of picked) {
    const name = iface.name;
    if (method === 'passt') {
      const sock = join(s.tmpDir, `passt-${n}.sock`);
      const pidFile = join(s.tmpDir, `passt-${n}.pid`);
      const mac = iface.mac ?? guestMac(s.suffix, n);
      const argv = [
        process.execPath,
        BIN,
        'passt',
        '-s',
        sock,
        '-P',
        pidFile,
        '--log-file',
        join(s.tmpDir, `passt-${n}.log`),
        '-D',
        SERVICES.dns4,
        '-S',
        SERVICES.search,
        ...passtPortArgs(iface.ports),
      ];
      // The pod's first passt interface forwards every port in O(1) sockets (docs/all-ports.md).
      if (n === 0) await fwdRulesUpArgs(s.pod, passtPortArgs(iface.ports));
      await run(argv, { netns: s.pod, timeoutMs: 30_000 });
      const pid = Number(readFileSync(pidFile, 'utf8').trim());
      s.processes.push({ role: 'passt', pid, match: sock, iface: name });
      const forwards = forwardsHttp(iface);
      s.interfaces.push({
        name,
        binding: bindingName(iface),
        mac,
        nic: 'stream',
        endpoint: sock,
        ports: portsText(iface.ports, true),
        pid: `passt ${pid}`,
        reach: forwards ? reachPod : `ip netns exec ${s.pod} …`,
        expect4: `${net.pod4}/${net.prefix4}`,
        gateway4: net.node4,
        ipv6: { expect: net.pod6, gateway: net.node6 },
        ...(forwards ? { inboundUrl: podUrl } : {}),
      });
      await save();
      nics.push({
        kind: 'stream',
        socketPath: sock,
        mac,
        ...(iface.mtu !== undefined ? { mtu: iface.mtu } : {}),
      });
    } else {
      const r = podnet?.interfaces.find((x) => x.name === name);
      if (!r?.tap) throw fail(`${name}: pod-net gave no tap${r?.skipped ? ` (${r.skipped})` : ''}`);
      const mac = r.guestMac ?? iface.mac ?? net.podMac;
      const method = bindingName(iface);
      const masq = iface.masquerade;
      const bridged = !masq;
      const forwards = forwardsHttp(iface);
      const v6 =
        masq?.ipv6 && r.guestAddress6 !== undefined
          ? { expect: masq.ipv6.guest, gateway: masq.ipv6.gateway }
          : undefined;
      s.interfaces.push({
        name,
        binding: method,
        mac,
        nic: 'tap',
        endpoint: r.tap,
        ports: masq ? portsText(iface.ports, true) : 'all (bridged)',
        pid: r.addressServerPid !== undefined ? `dhcp ${r.addressServerPid}` : '-',
        reach: bridged
          ? `${reachPod} (the guest owns the pod IP)`
          : forwards
            ? reachPod
            : `ip netns exec ${s.pod} …`,
        expect4:
          r.guestAddress ??
          (masq ? `${masq.ipv4.guest}/${masq.ipv4.prefixLength}` : `${net.pod4}/${net.prefix4}`),
        gateway4: masq ? masq.ipv4.gateway : net.node4,
        ...(v6 ? { ipv6: v6 } : {}),
        ...(forwards ? { inboundUrl: podUrl } : {}),
      });
      await save();
      nics.push({
        kind: 'tap',
        ifname: r.tap,
        mac,
        ...(iface.mtu !== undefined ? { mtu: iface.mtu } : {}),
      });
    }
    n++;
  }
  return nics;
}

async function boot(
  s: RunState,
  nics: Nic[],
  save: () => Promise<void>,
  timeoutMs: number,
  accel: 'tcg' | 'kvm',
  signal?: AbortSignal,
): Promise<GuestAgent> {
  const img = await guestImage();
  s.agentSocket = join(s.tmpDir, 'agent.sock');
  s.qmpSocket = join(s.tmpDir, 'qmp.sock');
  s.serialLog = join(s.tmpDir, 'serial.log');
  await writeFile(s.serialLog, '');
  const args = guestQemuArgs({
    kernel: img.kernel,
    initrd: img.initrd,
    memMb: 256,
    hostname: s.vm,
    agentSocket: s.agentSocket,
    qmpSocket: s.qmpSocket,
    serialLog: s.serialLog,
    nics,
    accel,
  });
  const qemuLog = join(s.tmpDir, 'qemu.log');
  const pid = spawnDetached(['qemu-system-x86_64', ...args], qemuLog, s.pod);
  s.processes.push({ role: 'qemu', pid, match: s.tmpDir });
  await save();
  const serial = (): string => {
    try {
      return readFileSync(s.serialLog!, 'utf8');
    } catch {
      return '';
    }
  };
  let died = false;
  const ready = await waitUntil(
    () => {
      if (signal?.aborted === true || serial().includes(READY_MARKER)) return true;
      // Not isOurs: while `ip netns exec` execs QEMU its cmdline is briefly empty.
      if (!isAlive(pid)) died = true;
      return died;
    },
    timeoutMs,
    250,
  );
  if (died || !ready) {
    const why = died
      ? `QEMU exited: ${tail(qemuLog)}`
      : `no ${READY_MARKER} within ${timeoutMs / 1000} s`;
    throw fail(`boot: ${why}; console: ${serial().trim().split('\n').slice(-5).join(' / ')}`);
  }
  try {
    return await GuestAgent.connect(s.agentSocket, { timeoutMs: 30_000 });
  } catch (e) {
    throw fail(`guest agent: ${e instanceof Error ? e.message : String(e)}`, e);
  }
}

/** Polls the guest's `ip addr` until each NIC has its IPv4 lease (and IPv6 where expected, briefly). */
async function waitLeases(
  s: RunState,
  agent: GuestAgent,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<void> {
  let last = '';
  const read = async (): Promise<ReturnType<typeof parseIpAddr>> => {
    const r = await agent.exec('ip addr', { timeoutMs: 10_000 });
    last = r.output;
    return parseIpAddr(r.output);
  };
  const have4 = (links: ReturnType<typeof parseIpAddr>): boolean =>
    s.interfaces.every((i) => (linkByMac(links, i.mac)?.inet.length ?? 0) > 0);
  const have6 = (links: ReturnType<typeof parseIpAddr>): boolean =>
    s.interfaces.every(
      (i) =>
        i.ipv6 === undefined ||
        (linkByMac(links, i.mac)?.inet6.some((a) => a.split('/')[0] === i.ipv6!.expect) ?? false),
    );
  let links = await read();
  const ok = await waitUntil(
    async () => signal?.aborted === true || have4((links = await read())),
    timeoutMs,
    1000,
  );
  if (signal?.aborted === true) throw fail('interrupted');
  if (!ok)
    throw fail(
      `dhcp: no IPv4 lease on every NIC within ${timeoutMs / 1000} s; guest: ${last.replace(/\n/g, ' / ')}`,
    );
  // DHCPv6/SLAAC may come a little later; the table shows what is there after a short wait.
  await waitUntil(async () => have6((links = await read())), 20_000, 1000);
  s.interfaces = s.interfaces.map((i) => {
    const l = linkByMac(links, i.mac);
    const v6 = i.ipv6
      ? (l?.inet6.find((a) => a.split('/')[0] === i.ipv6!.expect) ?? l?.inet6[0])
      : l?.inet6[0];
    return {
      ...i,
      ...(l ? { guestIf: l.name } : {}),
      ...(l?.inet[0] !== undefined ? { ipv4: l.inet[0] } : {}),
      ...(v6 !== undefined ? { ipv6Addr: v6 } : {}),
    };
  });
}

/**
 * Undoes `vm`'s run, whatever part of it exists: processes, pod-net, namespaces, temp dir,
 * state. Idempotent.
 * @returns whether there was a state
 */
export async function downVm(
  root: string,
  vm: string,
  given?: RunState,
): Promise<{ wasUp: boolean; warnings: string[] }> {
  // The caller's copy (Ctrl-C during up) may be newer than the file.
  const s = given ?? (await loadRunState(root, vm));
  if (!s) return { wasUp: false, warnings: [] };
  const warnings: string[] = [];
  const order = ['qemu', 'passt', 'dnsmasq', 'http'] as const;
  for (const role of order)
    for (const pr of s.processes.filter((x) => x.role === role))
      await stopProcess(pr.pid, pr.match);
  if (s.podnetStateDir !== undefined && existsSync(`/run/netns/${s.pod}`)) {
    const r = await podNetDown({ netns: s.pod, stateDir: s.podnetStateDir }).catch(
      (e: unknown) => ({
        wasUp: true,
        warnings: [`pod-net down: ${e instanceof Error ? e.message : String(e)}`],
      }),
    );
    warnings.push(...r.warnings);
  }
  // The all-ports marker is named after the namespace's inode, which a later one may reuse.
  if (existsSync(`/run/netns/${s.pod}`)) await fwdRulesDown(s.pod).catch(() => {});
  for (const ns of [s.pod, s.node]) {
    if (!existsSync(`/run/netns/${ns}`)) continue;
    const r = await tryRun(['ip', 'netns', 'del', ns]);
    if (r.code !== 0) warnings.push(`ip netns del ${ns}: ${r.stderr.trim()}`);
  }
  if (s.tmpDir.startsWith(join(tmpdir(), 'bindery-up-')))
    await rm(s.tmpDir, { recursive: true, force: true });
  await removeRunState(root, vm);
  return { wasUp: true, warnings };
}

/**
 * Every run in `root` taken down. A run records its namespaces and temp dir before it creates
 * them, so a crashed run is found through its state like a live one.
 */
export async function downAll(root: string): Promise<{ vms: string[]; warnings: string[] }> {
  const vms: string[] = [];
  const warnings: string[] = [];
  for (const vm of await listRuns(root)) {
    const r = await downVm(root, vm).catch((e: unknown) => ({
      wasUp: true,
      warnings: [`${vm}: ${e instanceof Error ? e.message : String(e)}`],
    }));
    vms.push(vm);
    warnings.push(...r.warnings);
  }
  return { vms, warnings };
}
