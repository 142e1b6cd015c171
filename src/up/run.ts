// `bindery up` for one VM and `down` (the I/O edge): node and pod namespaces, the service stand-ins, each interface's binding, QEMU with the bundled guest, the lease; and undoing all of it.
//
// Theory of operation. Everything a run creates is recorded in its state file *before* it is
// created (names, the temp dir) or right after (pids), so `down` can undo any prefix of `up`:
// kill the processes it started (checking /proc/PID/cmdline, so a reused pid is left alone),
// `pod-net down`, delete both namespaces (their veth, taps, bridges and nft tables go with them),
// remove the temp dir and the state. A migration (migrate.ts) adds a second pod to the same
// node: recorded in `otherPods` before it is made, and undone by `down` like the run's own pod.
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
import type { PodNetwork } from './names.js';
import { podNetDown, podNetUp } from '../podnet/index.js';
import { fwdRulesDown, fwdRulesUpArgs } from '../runner/fwd-rules.js';
import { guestImage } from '../guest/image.js';
import { guestQemuArgs, type GuestNic } from '../guest/qemu-args.js';
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
import {
  listRuns,
  loadRunState,
  podDirOf,
  removeRunState,
  saveRunState,
  type PodSide,
  type RunState,
  type SavedPlan,
} from './state.js';
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
  const index = allocateIndex(await usedIndexes(ctx.stateRoot));
  const net = podNetwork(index);
  const names = runNames(vm, randomBytes(3).toString('hex'));
  const tmpDir = await mkdtemp(join(tmpdir(), `bindery-up-${vm}-`));
  const accel = pickAccel(ctx.accel);
  const state: RunState = {
    version: 1,
    vm,
    namespace: lp.plan.namespace,
    platform: lp.plan.platform,
    startedAt: new Date().toISOString(),
    loaded: savePlan(lp),
    accel,
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
    await buildNode(state);
    await buildPod(state, net);
    stop();
    await startServices(state, save);
    await startRepairHelper(state, save);
    stop();
    p.done('pod', `${names.node} / ${names.pod}`);

    p.start(
      'bindings',
      picked.interfaces.map((x) => `${x.iface.name}:${bindingName(x.iface)}`).join(' '),
    );
    const nics = await setUpBindings(
      lp,
      state,
      net,
      picked.interfaces,
      save,
      undefined,
      state.repairSocket,
    );
    p.done('bindings');
    stop();

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

/** A loaded plan as the run state keeps it (its maps as entry lists), so `migrate` can bind the same interfaces. */
export function savePlan(lp: LoadedPlan): SavedPlan {
  return {
    file: lp.file,
    plan: lp.plan,
    paths: [...lp.paths],
    interfaceIndex: [...lp.interfaceIndex],
  };
}

/** A saved plan as `up` had it loaded. */
export function loadedPlanOf(sp: SavedPlan): LoadedPlan {
  return {
    file: sp.file,
    plan: sp.plan,
    paths: new Map(sp.paths),
    interfaceIndex: new Map(sp.interfaceIndex),
  };
}

/** The pod network indexes the runs in `root` hold (a migration's other pods too). */
export async function usedIndexes(root: string): Promise<number[]> {
  const used: number[] = [];
  for (const other of await listRuns(root)) {
    const s = await loadRunState(root, other).catch(() => undefined);
    if (s) used.push(s.index, ...(s.otherPods ?? []).map((o) => o.index));
  }
  return used;
}

/** The node namespace: lo with the service addresses. */
async function buildNode(s: RunState): Promise<void> {
  await run(['ip', 'netns', 'add', s.node]);
  const n = (argv: string[]): Promise<string> => run(['ip', '-n', s.node, ...argv]);
  await n(['link', 'set', 'lo', 'up']);
  for (const a of [SERVICES.dns4, SERVICES.http4]) await n(['addr', 'add', `${a}/32`, 'dev', 'lo']);
}

/**
 * A pod namespace of `side` on the node: its veth, the pod address of `net`, the default
 * routes, the sysctls a pod runtime allows, its resolv.conf.
 * @param opts - `sticky`: the pod takes an address another pod has (a sticky IP): the node end
 *   gets the node's addresses without their prefix routes, and no route leads to this pod until
 *   {@link routePodHere}.
 */
export async function buildPod(
  side: PodSide,
  net: PodNetwork,
  opts: { sticky?: boolean } = {},
): Promise<void> {
  await run(['ip', 'netns', 'add', side.pod]);
  const n = (argv: string[]): Promise<string> => run(['ip', '-n', side.node, ...argv]);
  const pd = (argv: string[]): Promise<string> => run(['ip', '-n', side.pod, ...argv]);
  const noRoute = opts.sticky === true ? ['noprefixroute'] : [];
  await pd(['link', 'set', 'lo', 'up']);
  await n([
    'link',
    'add',
    side.nodeVeth,
    'type',
    'veth',
    'peer',
    'name',
    'eth0',
    'netns',
    side.pod,
  ]);
  await pd(['link', 'set', 'eth0', 'address', net.podMac]);
  await n(['addr', 'add', `${net.node4}/${net.prefix4}`, 'dev', side.nodeVeth, ...noRoute]);
  await n([
    'addr',
    'add',
    `${net.node6}/${net.prefix6}`,
    'dev',
    side.nodeVeth,
    'nodad',
    ...noRoute,
  ]);
  await n(['link', 'set', side.nodeVeth, 'up']);
  await pd(['link', 'set', 'eth0', 'up']);
  await pd(['addr', 'add', `${net.pod4}/${net.prefix4}`, 'dev', 'eth0']);
  await pd(['addr', 'add', `${net.pod6}/${net.prefix6}`, 'dev', 'eth0', 'nodad']);
  await pd(['route', 'add', 'default', 'via', net.node4]);
  await pd(['-6', 'route', 'add', 'default', 'via', net.node6]);
  // What a pod runtime allows: unprivileged ICMP echo sockets (passt's ping) and low ports.
  await run(['sysctl', '-q', '-w', 'net.ipv4.ping_group_range=0 2147483647'], { netns: side.pod });
  await run(['sysctl', '-q', '-w', 'net.ipv4.ip_unprivileged_port_start=0'], { netns: side.pod });
  await writeFile(join(podDirOf(side), 'resolv.conf'), podResolvConf());
}

/**
 * The node's routes to the pod address of `net` lead to `side`'s veth (host routes, which win
 * over the prefix route of the pod that had the address before): a sticky IP moving pods.
 */
export async function routePodHere(side: PodSide, net: PodNetwork): Promise<void> {
  const n = (argv: string[]): Promise<string> => run(['ip', '-n', side.node, ...argv]);
  await n(['route', 'replace', `${net.pod4}/32`, 'dev', side.nodeVeth]);
  await n(['-6', 'route', 'replace', `${net.pod6}/128`, 'dev', side.nodeVeth]);
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

/**
 * The run's repair helper (`bindery repair-helper`, CAP_NET_ADMIN: TCP_REPAIR for the
 * translators' flow hand-over when `migrate --keep-ip` moves the VM), in the node namespace.
 * Its socket is recorded before it starts, its pid right after; `down` stops it.
 */
async function startRepairHelper(s: RunState, save: () => Promise<void>): Promise<void> {
  const sock = join(s.tmpDir, 'repair.sock');
  const log = join(s.tmpDir, 'repair.log');
  s.repairSocket = sock;
  await save();
  const pid = spawnDetached(
    [process.execPath, BIN, 'repair-helper', '--socket', sock],
    log,
    s.node,
  );
  s.processes.push({ role: 'repair', pid, match: sock });
  await save();
  if (!(await waitUntil(() => existsSync(sock) || !isAlive(pid), 20_000, 50)) || !isAlive(pid))
    throw fail(`the repair helper did not start: ${tail(log)}`);
}

/** The last `lines` lines of a log file, on one line. */
export function tail(file: string, lines = 5): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-lines).join(' / ');
  } catch {
    return '(no log)';
  }
}

/** A guest NIC as QEMU gets it. */
export type Nic = GuestNic;

/**
 * Sets up every picked interface's binding in `side`'s pod (passt through `bindery passt` with
 * a control socket, the rest through pod-net), recording processes and interfaces in `side`
 * (and saving) as they come.
 * @param macs - guest MACs by interface name that must be kept (a migration target's NICs)
 * @param repairPath - the run's repair helper socket, given to each translator (--repair-path)
 * @returns QEMU's NICs in interface order
 */
export async function setUpBindings(
  lp: LoadedPlan,
  s: PodSide,
  net: PodNetwork,
  picked: ReadonlyArray<{
    iface: LoadedPlan['plan']['interfaces'][number];
    method: 'passt' | 'podnet';
  }>,
  save: () => Promise<void>,
  macs?: ReadonlyMap<string, string>,
  repairPath?: string,
): Promise<Nic[]> {
  const dir = podDirOf(s);
  const podUrl = `http://${net.pod4}/`;
  const reachPod = `ip netns exec ${s.node} curl ${podUrl}`;
  let podnet: Awaited<ReturnType<typeof podNetUp>> | undefined;
  if (picked.some((x) => x.method === 'podnet')) {
    s.podnetStateDir = join(dir, 'podnet');
    await save();
    try {
      podnet = await podNetUp({
        plan: lp.plan,
        paths: lp.paths,
        interfaceIndex: lp.interfaceIndex,
        netns: s.pod,
        stateDir: s.podnetStateDir,
        resolvConf: join(dir, 'resolv.conf'),
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
      const sock = join(dir, `passt-${n}.sock`);
      const pidFile = join(dir, `passt-${n}.pid`);
      const control = join(dir, `passt-${n}.ctl`);
      const mac = macs?.get(name) ?? iface.mac ?? guestMac(s.suffix, n);
      const argv = [
        process.execPath,
        BIN,
        'passt',
        '-s',
        sock,
        '-P',
        pidFile,
        '-c',
        control,
        '--log-file',
        join(dir, `passt-${n}.log`),
        '-D',
        SERVICES.dns4,
        '-S',
        SERVICES.search,
        ...(repairPath !== undefined ? ['--repair-path', repairPath] : []),
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
        control,
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
      const mac = macs?.get(name) ?? r.guestMac ?? iface.mac ?? net.podMac;
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

/**
 * Starts QEMU with the bundled guest in `side`'s pod (sockets and console log in its pod dir),
 * recorded in `side` as soon as it runs.
 * @param extra - arguments after the usual ones (`-incoming defer -S` for a migration target)
 * @returns its pid and log file
 */
export async function startQemu(
  side: PodSide,
  vm: string,
  nics: Nic[],
  accel: 'tcg' | 'kvm',
  save: () => Promise<void>,
  extra: readonly string[] = [],
): Promise<{ pid: number; log: string }> {
  const img = await guestImage();
  const dir = podDirOf(side);
  side.agentSocket = join(dir, 'agent.sock');
  side.qmpSocket = join(dir, 'qmp.sock');
  side.serialLog = join(dir, 'serial.log');
  await writeFile(side.serialLog, '');
  const args = guestQemuArgs({
    kernel: img.kernel,
    initrd: img.initrd,
    memMb: 256,
    hostname: vm,
    agentSocket: side.agentSocket,
    qmpSocket: side.qmpSocket,
    serialLog: side.serialLog,
    nics,
    accel,
  });
  const log = join(dir, 'qemu.log');
  const pid = spawnDetached(['qemu-system-x86_64', ...args, ...extra], log, side.pod);
  side.processes.push({ role: 'qemu', pid, match: dir });
  await save();
  return { pid, log };
}

async function boot(
  s: RunState,
  nics: Nic[],
  save: () => Promise<void>,
  timeoutMs: number,
  accel: 'tcg' | 'kvm',
  signal?: AbortSignal,
): Promise<GuestAgent> {
  const { pid, log: qemuLog } = await startQemu(s, s.vm, nics, accel, save);
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
    return await GuestAgent.connect(s.agentSocket!, { timeoutMs: 30_000 });
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
  // QEMUs first (a migration's two at once would otherwise still talk), then each pod.
  for (const side of [s, ...(s.otherPods ?? [])])
    for (const pr of side.processes.filter((x) => x.role === 'qemu'))
      await stopProcess(pr.pid, pr.match);
  for (const side of [...(s.otherPods ?? []), s]) warnings.push(...(await downPod(side)));
  for (const role of ['dnsmasq', 'http', 'repair'] as const)
    for (const pr of s.processes.filter((x) => x.role === role))
      await stopProcess(pr.pid, pr.match);
  if (existsSync(`/run/netns/${s.node}`)) {
    const r = await tryRun(['ip', 'netns', 'del', s.node]);
    if (r.code !== 0) warnings.push(`ip netns del ${s.node}: ${r.stderr.trim()}`);
  }
  if (s.tmpDir.startsWith(join(tmpdir(), 'bindery-up-')))
    await rm(s.tmpDir, { recursive: true, force: true });
  await removeRunState(root, vm);
  return { wasUp: true, warnings };
}

/**
 * Undoes one pod of a run, whatever part of it exists: its QEMU and translators, pod-net, its
 * namespace (the veth, taps, bridges and nft tables go with it), its pod dir when it has its
 * own. Idempotent; node-wide processes (dnsmasq, http) are left alone.
 * @returns warnings
 */
export async function downPod(side: PodSide): Promise<string[]> {
  const warnings: string[] = [];
  for (const role of ['qemu', 'passt'] as const)
    for (const pr of side.processes.filter((x) => x.role === role))
      await stopProcess(pr.pid, pr.match);
  if (side.podnetStateDir !== undefined && existsSync(`/run/netns/${side.pod}`)) {
    const r = await podNetDown({ netns: side.pod, stateDir: side.podnetStateDir }).catch(
      (e: unknown) => ({
        wasUp: true,
        warnings: [`pod-net down: ${e instanceof Error ? e.message : String(e)}`],
      }),
    );
    warnings.push(...r.warnings);
  }
  // The all-ports marker is named after the namespace's inode, which a later one may reuse.
  if (existsSync(`/run/netns/${side.pod}`)) await fwdRulesDown(side.pod).catch(() => {});
  if (existsSync(`/run/netns/${side.pod}`)) {
    const r = await tryRun(['ip', 'netns', 'del', side.pod]);
    if (r.code !== 0) warnings.push(`ip netns del ${side.pod}: ${r.stderr.trim()}`);
  }
  if (side.podDir !== undefined && side.podDir.startsWith(join(side.tmpDir, 'pod-')))
    await rm(side.podDir, { recursive: true, force: true });
  return warnings;
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
