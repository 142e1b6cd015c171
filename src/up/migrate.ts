// `bindery migrate VM` (the I/O edge): live-migrates a VM `bindery up` left running into a new pod on the same node namespace, as KubeVirt moves a VMI to a new virt-launcher pod.
//
// Theory of operation.
//   1. gate: KubeVirt's `VerifyVMIMigratable` / Virtink's `Migratable` condition, as the plan
//      recorded them; a refused VM is left untouched.
//   2. pod: the target pod is recorded in the state (`otherPods`) before it exists, then built
//      as `up` builds one: its own veth to the node, a new pod network (or, with --keep-ip,
//      the source pod's address with no route to it yet, as a CNI with sticky IPs gives).
//   3. bindings: set up as `up` does (passt with a control socket, pod-net), the guest MACs kept.
//   4. target: QEMU with the source's arguments plus `-incoming defer -S` (paused once loaded).
//   5. migrate: QMP `migrate-incoming` on the target, `migrate` on the source over a unix
//      socket, `query-migrate` polled until completed (a deadline; on failure the source is
//      resumed, the target torn down).
//   6. switch: the source is paused now. With --keep-ip the translators hand over their TCP
//      flows and the node's route to the pod IP moves to the target veth; then `cont` on the
//      target and the run state names the target pod as the run's pod (the source becomes the
//      other pod, still undoable by `down`).
//   7. network: the binding's migration method — link-refresh is QMP `set_link` down, the
//      guest seeing the carrier drop, `set_link` up, the guest's DHCP renewal from the target
//      pod; masquerade keeps 10.0.2.2 and needs nothing.
//   8. cleanup: the source pod (QEMU, translators, pod-net, namespace) goes.
// A probe in the node namespace (probe.ts) GETs the guest's HTTP port through the pod
// addresses every 10 ms from before step 5 to after step 7; the gap around the switch-over is
// the network downtime.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { BinderyError, ErrorCode } from '../errors.js';
import { GuestAgent } from '../guest/agent.js';
import { Qmp } from '../guest/qmp.js';
import { handOverTcp, type HandoverReport } from '../runner/handover.js';
import { upInterfaces } from './bindings.js';
import { linkByMac, parseIpAddr } from './guest-addrs.js';
import {
  MIGRATE_STEPS,
  migrateFinished,
  migrationGate,
  networkDowntime,
  parseQueryMigrate,
  switchActions,
  type InterfaceAction,
  type MigrateStatus,
  type MigrateStep,
} from './migrate-plan.js';
import { allocateIndex, podNetwork, runNames } from './names.js';
import { Probe } from './probe.js';
import type { Progress } from './progress.js';
import {
  buildPod,
  downPod,
  loadedPlanOf,
  routePodHere,
  setUpBindings,
  startQemu,
  tail,
  usedIndexes,
} from './run.js';
import {
  loadRunState,
  saveRunState,
  type PodSide,
  type RunInterface,
  type RunState,
} from './state.js';
import { isOurs, run, tryRun, waitUntil } from './sys.js';

export { MIGRATE_STEPS };

/** What one `migrate` needs. */
export interface MigrateContext {
  readonly stateRoot: string;
  readonly progress: Progress<MigrateStep>;
  /** The target pod gets the source pod's IP (a sticky IP); default a new pod IP. */
  readonly keepIp?: boolean;
  /** Deadlines in ms. */
  readonly migrateTimeoutMs?: number;
  readonly addressTimeoutMs?: number;
  /** Aborted on Ctrl-C: before the switch-over the migration is undone, after it finished. */
  readonly signal?: AbortSignal;
}

/** One interface before and after. */
export interface MigratedInterface extends InterfaceAction {
  readonly ipv4Before?: string;
  readonly ipv4After?: string;
}

/** What `migrate` reports. */
export interface MigrateReport {
  readonly vm: string;
  readonly keepIp: boolean;
  readonly source: { readonly pod: string; readonly podIPv4: string };
  readonly target: { readonly pod: string; readonly podIPv4: string };
  /** QMP `total-time`: from `migrate` to completed. */
  readonly migrationMs?: number;
  /** QMP `downtime`: how long the VM was stopped. */
  readonly stopMs?: number;
  readonly transferredBytes?: number;
  /** The probe's longest gap around the switch-over (undefined when nothing could be probed). */
  readonly networkDowntimeMs?: number;
  /** From the target's `cont` to the probe's first answer after it. */
  readonly contToAnswerMs?: number;
  readonly probe?: { readonly urls: readonly string[]; readonly answers: number };
  /** From the target's `cont` to the guest's DHCP lease of the target pod address (link-refresh). */
  readonly addressMs?: number;
  readonly interfaces: readonly MigratedInterface[];
  readonly handover?: readonly HandoverReport[];
  /** Epoch ms: the migration seen completed, the target's `cont` answered (to match captures). */
  readonly at: { readonly completed: number; readonly cont: number };
  readonly warnings: readonly string[];
}

const fail = (msg: string, cause?: unknown): BinderyError =>
  new BinderyError(ErrorCode.Migrate, msg, cause !== undefined ? { cause } : undefined);

const errText = (e: unknown): string => (e instanceof Error ? e.message : String(e));
const ip = (cidr: string | undefined): string | undefined => cidr?.split('/')[0];

/**
 * Live-migrates `vm` into a new pod; the run's state then names the target.
 * @throws BinderyError (Migrate) when the VM may not migrate (nothing touched) or a step failed
 *   (the source runs on, the target is gone)
 */
export async function migrateVm(vm: string, ctx: MigrateContext): Promise<MigrateReport> {
  const p = ctx.progress;
  const keepIp = ctx.keepIp === true;
  const warnings: string[] = [];
  p.start('gate', vm);
  const s0 = await loadRunState(ctx.stateRoot, vm);
  const gateFail = (msg: string): never => {
    p.fail('gate');
    throw fail(msg);
  };
  if (!s0) return gateFail(`${vm} is not up (bindery status lists what is)`);
  const qemu0 = s0.processes.find((x) => x.role === 'qemu');
  if (!s0.ready || !qemu0 || !isOurs(qemu0.pid, qemu0.match))
    return gateFail(`${vm} is not running (bindery down ${vm} cleans up)`);
  if ((s0.otherPods ?? []).length > 0)
    return gateFail(`${vm}: an earlier migration did not finish; bindery down ${vm} cleans up`);
  if (!s0.loaded || !s0.qmpSocket)
    return gateFail(`${vm} was brought up by an older bindery; bring it up again`);
  const lp = loadedPlanOf(s0.loaded);
  const gate = migrationGate(lp.plan, keepIp);
  if (!gate.ok) return gateFail(`cannot migrate ${vm}: ${gate.reason}`);
  const picked = upInterfaces(lp.plan, lp.paths);
  if (!picked.ok) return gateFail(`${vm}: ${picked.errors.join('; ')}`);
  p.done(
    'gate',
    gate.actions
      .map((a) => `${a.name}: ${a.action === 'none' ? 'no action' : a.action}`)
      .join(', '),
  );

  let s: RunState = s0;
  const save = (): Promise<void> => saveRunState(ctx.stateRoot, s);
  const srcNet = podNetwork(s.index);
  const suffix = randomBytes(3).toString('hex');
  const names = runNames(vm, suffix);
  const index = keepIp ? s.index : allocateIndex(await usedIndexes(ctx.stateRoot));
  const net = podNetwork(index);
  const target: PodSide = {
    suffix,
    index,
    node: s.node,
    pod: names.pod,
    nodeVeth: names.nodeVeth,
    tmpDir: s.tmpDir,
    podDir: join(s.tmpDir, `pod-${suffix}`),
    processes: [],
    interfaces: [],
  };
  s.otherPods = [target];
  await save();
  const source: PodSide = s;
  const macs = new Map(s.interfaces.map((i) => [i.name, i.mac]));
  const stop = (): void => {
    if (ctx.signal?.aborted === true) throw fail('interrupted');
  };

  let src: Qmp | undefined;
  let tgt: Qmp | undefined;
  let probe: Probe | undefined;
  let routed = false;
  let completedAt!: number;
  let status: MigrateStatus | undefined;
  const handovers: HandoverReport[] = [];
  try {
    p.start('pod', `${target.pod}, ${net.pod4}/${net.prefix4}${keepIp ? ' (kept)' : ''}`);
    await mkdir(target.podDir!, { mode: 0o700 });
    await buildPod(target, net, { sticky: keepIp });
    p.done('pod');
    stop();

    p.start('bindings');
    const nics = await setUpBindings(
      lp,
      target,
      net,
      picked.interfaces,
      save,
      macs,
      s.repairSocket,
    );
    p.done('bindings');
    stop();

    p.start('target', 'QEMU -incoming defer -S');
    const started = await startQemu(target, vm, nics, s.accel ?? 'tcg', save, [
      '-incoming',
      'defer',
      '-S',
    ]);
    try {
      tgt = await Qmp.connect(target.qmpSocket!, { timeoutMs: 30_000 });
    } catch (e) {
      throw fail(`target QEMU: ${errText(e)}; ${tail(started.log)}`, e);
    }
    src = await Qmp.connect(source.qmpSocket!, { timeoutMs: 10_000 });
    p.done('target');
    stop();

    const urls = [
      ...new Set(
        [...source.interfaces, ...target.interfaces]
          .map((i) => i.inboundUrl)
          .filter((u): u is string => u !== undefined),
      ),
    ];
    if (urls.length > 0) {
      probe = Probe.start(s.node, urls);
      // A baseline: the guest answers through the source before anything moves.
      if (!(await waitUntil(() => probe!.all().length > 0, 10_000, 20))) {
        warnings.push(`the probe got no answer from ${urls.join(', ')} before migrating`);
        await probe.stop();
        probe = undefined;
      }
    } else warnings.push('no forwarded HTTP port to probe: network downtime not measured');

    p.start('migrate');
    const uri = `unix:${join(target.podDir!, 'migrate.sock')}`;
    await tgt.execute('migrate-incoming', { uri });
    await src.execute('migrate-set-parameters', {
      'max-bandwidth': 4 * 1024 * 1024 * 1024,
      'downtime-limit': 300,
    });
    await src.execute('migrate', { uri });
    const deadline = Date.now() + (ctx.migrateTimeoutMs ?? 180_000);
    for (;;) {
      status = parseQueryMigrate(await src.execute('query-migrate'));
      if (migrateFinished(status)) break;
      if (Date.now() > deadline) {
        await src.execute('migrate_cancel').catch(() => {});
        throw fail(
          `migration did not complete within ${(ctx.migrateTimeoutMs ?? 180_000) / 1000} s (${status.status})`,
        );
      }
      if (ctx.signal?.aborted === true) {
        await src.execute('migrate_cancel').catch(() => {});
        throw fail('interrupted');
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    completedAt = Date.now();
    if (status.status !== 'completed')
      throw fail(`migration ${status.status}${status.error ? `: ${status.error}` : ''}`);
    p.done(
      'migrate',
      `${status.totalMs ?? '?'} ms, VM stopped ${status.downtimeMs ?? '?'} ms, ${Math.round((status.transferred ?? 0) / 1048576)} MiB`,
    );

    // The source is paused now; until the target runs, the source can be resumed.
    p.start('switch');
    const passtIfaces = source.interfaces.filter((i) => i.control !== undefined);
    for (const a of switchActions(keepIp, passtIfaces.length)) {
      if (a === 'withdraw') {
        // Nothing may reach the source's sockets once they are in repair mode.
        routed = true;
        await withdrawPodRoutes(s.node, net);
      } else if (a === 'handover')
        for (const i of passtIfaces) {
          const t = target.interfaces.find((x) => x.name === i.name);
          if (t?.control === undefined) continue;
          try {
            handovers.push(
              await handOverTcp({ sourceControl: i.control!, targetControl: t.control }),
            );
          } catch (e) {
            warnings.push(`${i.name}: TCP hand-over: ${errText(e)} (connections break)`);
          }
        }
      else if (a === 'route') {
        routed = true;
        await routePodHere(target, net);
      } else await tgt.execute('cont');
    }
  } catch (e) {
    const step = p.running();
    if (step) p.fail(step, errText(e).split('\n')[0]);
    await probe?.stop();
    await rollBack(s, target, src, routed, net).catch((r: unknown) =>
      warnings.push(`roll back: ${errText(r)}`),
    );
    src?.close();
    tgt?.close();
    s.otherPods = [];
    await save();
    throw e;
  }
  const contAt = Date.now();
  src.close();

  // The target runs: it is the run's pod from here on; the source is the other pod until gone.
  const carried = target.interfaces.map((t): RunInterface => {
    const was = source.interfaces.find((i) => i.name === t.name);
    return { ...t, ...(was?.guestIf !== undefined ? { guestIf: was.guestIf } : {}) };
  });
  const oldSource: PodSide = {
    suffix: source.suffix,
    index: source.index,
    node: source.node,
    pod: source.pod,
    nodeVeth: source.nodeVeth,
    tmpDir: source.tmpDir,
    ...(source.podDir !== undefined ? { podDir: source.podDir } : {}),
    ...(source.podnetStateDir !== undefined ? { podnetStateDir: source.podnetStateDir } : {}),
    processes: source.processes.filter((x) => x.role === 'qemu' || x.role === 'passt'),
    interfaces: source.interfaces,
  };
  const { podnetStateDir: _drop, ...rest } = s;
  void _drop;
  s = {
    ...rest,
    suffix: target.suffix,
    index: target.index,
    pod: target.pod,
    nodeVeth: target.nodeVeth,
    podDir: target.podDir!,
    ...(target.podnetStateDir !== undefined ? { podnetStateDir: target.podnetStateDir } : {}),
    processes: [
      ...s.processes.filter((x) => x.role !== 'qemu' && x.role !== 'passt'),
      ...target.processes,
    ],
    agentSocket: target.agentSocket!,
    qmpSocket: target.qmpSocket!,
    serialLog: target.serialLog!,
    interfaces: carried,
    otherPods: [oldSource],
  };
  await save();
  p.done('switch', keepIp ? `route to ${net.pod4} moved, target running` : 'target running');

  // The binding's migration method.
  p.start('network');
  let addressMs: number | undefined;
  try {
    const refresh = gate.actions.filter((a) => a.action === 'link-refresh');
    const serial = (): string => {
      try {
        return readFileSync(s.serialLog!, 'utf8');
      } catch {
        return '';
      }
    };
    for (const a of refresh) {
      const n = s.interfaces.findIndex((i) => i.name === a.name);
      const guestIf = s.interfaces[n]?.guestIf ?? 'eth';
      await tgt.execute('set_link', { name: `n${n}`, up: false });
      // The bundled guest's carrier watcher polls every 0.5 s; KubeVirt waits 100 ms.
      if (!(await waitUntil(() => serial().includes(`BINDERY-LINK-DOWN ${guestIf}`), 5000, 20)))
        warnings.push(`${a.name}: the guest did not report its link down`);
      await tgt.execute('set_link', { name: `n${n}`, up: true });
    }
    const want = refresh.map((a) => {
      const i = s.interfaces.find((x) => x.name === a.name)!;
      return `BINDERY-DHCP4 ${i.guestIf ?? 'eth'} ${ip(i.expect4) ?? ''}/`;
    });
    if (want.length > 0) {
      const ok = await waitUntil(
        () => want.every((w) => serial().includes(w)),
        ctx.addressTimeoutMs ?? 60_000,
        20,
      );
      if (ok) addressMs = Date.now() - contAt;
      else warnings.push('the guest did not take the target pod address in time');
    }
    s.interfaces = await guestAddresses(s);
  } catch (e) {
    warnings.push(`network: ${errText(e)}`);
  } finally {
    tgt.close();
  }
  p.done('network', s.interfaces.map((i) => `${i.name} ${i.ipv4 ?? '?'}`).join(', '));

  let networkDowntimeMs: number | undefined;
  let contToAnswerMs: number | undefined;
  let answers = 0;
  if (probe) {
    const pr = probe;
    if (!(await waitUntil(() => pr.all().some((t) => t > contAt), 30_000, 20)))
      warnings.push('the guest did not answer the probe after the migration');
    await pr.stop();
    answers = pr.all().length;
    const gap = networkDowntime(pr.all(), completedAt);
    networkDowntimeMs = gap?.gapMs;
    if (gap && gap.to >= contAt) contToAnswerMs = gap.to - contAt;
  }

  p.start('cleanup', oldSource.pod);
  warnings.push(...(await downPod(oldSource)));
  s.otherPods = [];
  await save();
  p.done('cleanup');

  return {
    vm,
    keepIp,
    source: { pod: oldSource.pod, podIPv4: srcNet.pod4 },
    target: { pod: s.pod, podIPv4: net.pod4 },
    ...(status.totalMs !== undefined ? { migrationMs: status.totalMs } : {}),
    ...(status.downtimeMs !== undefined ? { stopMs: status.downtimeMs } : {}),
    ...(status.transferred !== undefined ? { transferredBytes: status.transferred } : {}),
    ...(networkDowntimeMs !== undefined ? { networkDowntimeMs } : {}),
    ...(contToAnswerMs !== undefined ? { contToAnswerMs } : {}),
    ...(probe ? { probe: { urls: probe.urls, answers } } : {}),
    ...(addressMs !== undefined ? { addressMs } : {}),
    interfaces: gate.actions.map((a) => {
      const before = oldSource.interfaces.find((i) => i.name === a.name)?.ipv4;
      const after = s.interfaces.find((i) => i.name === a.name)?.ipv4;
      return {
        ...a,
        ...(before !== undefined ? { ipv4Before: before } : {}),
        ...(after !== undefined ? { ipv4After: after } : {}),
      };
    }),
    ...(handovers.length > 0 ? { handover: handovers } : {}),
    at: { completed: completedAt, cont: contAt },
    warnings,
  };
}

/** The node's routes to the pod IP blackholed: no pod receives it (while the flows move). */
async function withdrawPodRoutes(node: string, net: ReturnType<typeof podNetwork>): Promise<void> {
  await run(['ip', '-n', node, 'route', 'replace', 'blackhole', `${net.pod4}/32`]);
  await run(['ip', '-n', node, '-6', 'route', 'replace', 'blackhole', `${net.pod6}/128`]);
}

/** The guest's addresses per interface, read through the target's agent. */
async function guestAddresses(s: RunState): Promise<RunInterface[]> {
  const agent = await GuestAgent.connect(s.agentSocket!, { timeoutMs: 30_000 });
  try {
    const links = parseIpAddr((await agent.exec('ip addr', { timeoutMs: 10_000 })).output);
    return s.interfaces.map((i) => {
      const l = linkByMac(links, i.mac);
      const v6 = l?.inet6.find((a) => ip(a) === i.ipv6?.expect) ?? l?.inet6[0];
      const { ipv4: _4, ipv6Addr: _6, ...rest } = i;
      void _4;
      void _6;
      return {
        ...rest,
        ...(l ? { guestIf: l.name } : {}),
        ...(l?.inet[0] !== undefined ? { ipv4: l.inet[0] } : {}),
        ...(v6 !== undefined ? { ipv6Addr: v6 } : {}),
      };
    });
  } finally {
    agent.close();
  }
}

/**
 * Undoes a migration that did not reach the switch-over: the node's route back, the source
 * resumed if it was paused, the target pod gone.
 */
async function rollBack(
  s: RunState,
  target: PodSide,
  src: Qmp | undefined,
  routed: boolean,
  net: ReturnType<typeof podNetwork>,
): Promise<void> {
  if (routed) {
    await tryRun(['ip', '-n', s.node, 'route', 'del', `${net.pod4}/32`]);
    await tryRun(['ip', '-n', s.node, '-6', 'route', 'del', `${net.pod6}/128`]);
  }
  if (src) {
    const st = (await src.execute('query-status').catch(() => undefined)) as
      { status?: string } | undefined;
    if (st?.status !== undefined && st.status !== 'running')
      await src.execute('cont').catch(() => {});
  }
  await downPod(target);
  if (target.podDir !== undefined && existsSync(target.podDir))
    throw fail(`${target.podDir} could not be removed`);
}
