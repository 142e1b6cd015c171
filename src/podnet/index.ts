// pod-net as a library: podNetUp plumbs a VM's planned interfaces into a pod network namespace, podNetDown takes them out again.
//
// Used by `bindery pod-net up|down`, and meant for `bindery up` and the CNI plugin. The order:
// look at the namespace (links, addresses, routes, nft tables) without changing it, plan the
// steps (steps.ts, pure), apply them recording every undo (apply.ts), and start the address
// servers last. Per namespace, state lives in `<stateDir>/<name or path hash>/`.
import { createHash, randomBytes } from 'node:crypto';
import { access, readFile, rm } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { BinderyError, ErrorCode, UsageError } from '../errors.js';
import type { VmNetworkPlan } from '../plan/types.js';
import * as addressServer from './address-server-process.js';
import {
  applySteps,
  saveState,
  undoAll,
  type ApplyContext,
  type PodNetDeps,
  type PodNetState,
} from './apply.js';
import * as devices from './devices.js';
import { nsenterExec, type NetnsExec } from './exec.js';
import { discoverLink, listLinks, listNftTables, type DiscoveredLink } from './iproute.js';
import { parseResolvConf } from './resolv.js';
import { planPodNetSteps, type InterfaceSummary } from './steps.js';

export type { PodNetDeps, PodNetState } from './apply.js';
export type { InterfaceSummary } from './steps.js';

/** Where pod-net keeps its per-namespace state unless told otherwise. */
export const DEFAULT_STATE_DIR = '/run/bindery/pod-net';

/** What identifies the namespace and where its state is. */
export interface PodNetTarget {
  /** A netns name (`/run/netns/NAME`) or an absolute path. */
  readonly netns: string;
  /** Default {@link DEFAULT_STATE_DIR}. */
  readonly stateDir?: string;
  /** Replacements for the real address server, device code and liveness check. */
  readonly deps?: Partial<PodNetDeps>;
  readonly sysfsRoot?: string;
  readonly devRoot?: string;
}

/** Options of {@link podNetUp}. */
export interface PodNetUpOptions extends PodNetTarget {
  readonly plan: VmNetworkPlan;
  /** Field path of each interface by name (messages start with it). */
  readonly paths: ReadonlyMap<string, string>;
  /** Index of each interface in the spec's interface list, by name. */
  readonly interfaceIndex: ReadonlyMap<string, number>;
  /** The pod's resolv.conf; default `/etc/netns/NAME/resolv.conf` when it exists, else `/etc/resolv.conf`. */
  readonly resolvConf?: string;
  /** Random bytes (MACs); default crypto.randomBytes. */
  readonly random?: (n: number) => Uint8Array;
}

/** An interface as `up` left it. */
export interface InterfaceResult extends InterfaceSummary {
  readonly addressServerPid?: number;
}

/** What {@link podNetUp} did. */
export interface PodNetUpResult {
  readonly netns: string;
  /** This namespace's state directory. */
  readonly stateDir: string;
  /** True when a complete, live setup was already there and nothing was done. */
  readonly alreadyUp: boolean;
  readonly interfaces: readonly InterfaceResult[];
  /** Undos of a stale state that failed before the fresh up. */
  readonly warnings: readonly string[];
}

/** What {@link podNetDown} did. */
export interface PodNetDownResult {
  /** False when there was no state (nothing to do). */
  readonly wasUp: boolean;
  /** Undos that failed (the state is removed anyway). */
  readonly warnings: readonly string[];
}

/** The namespace's path: names live in /run/netns. */
export function netnsPath(netns: string): string {
  if (isAbsolute(netns)) return netns;
  if (!/^[A-Za-z0-9_.-]+$/.test(netns) || netns === '.' || netns === '..')
    throw new UsageError(`--netns: "${netns}" is neither a name nor a path`);
  return `/run/netns/${netns}`;
}

/** The namespace's state subdirectory: its name, or `path-` and a short hash of its path. */
export function stateSubdir(stateDir: string, netns: string): string {
  const key = isAbsolute(netns)
    ? `path-${createHash('sha256').update(netns).digest('hex').slice(0, 12)}`
    : netns;
  return join(stateDir, key);
}

function allDeps(deps: Partial<PodNetDeps> = {}): PodNetDeps {
  return {
    startAddressServer: deps.startAddressServer ?? addressServer.startAddressServer,
    stopAddressServer: deps.stopAddressServer ?? addressServer.stopAddressServer,
    prepareDevice: deps.prepareDevice ?? devices.prepareDevice,
    releaseDevice: deps.releaseDevice ?? devices.releaseDevice,
    isAlive:
      deps.isAlive ??
      ((pid) => {
        try {
          process.kill(pid, 0);
          return true;
        } catch (e) {
          return (e as NodeJS.ErrnoException).code === 'EPERM';
        }
      }),
  };
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

async function loadState(dir: string): Promise<PodNetState | undefined> {
  let text: string;
  try {
    text = await readFile(join(dir, 'state.json'), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new BinderyError(ErrorCode.PodNet, `${dir}/state.json: cannot read`, { cause: e });
  }
  try {
    const s = JSON.parse(text) as PodNetState;
    if (s.version !== 1 || !Array.isArray(s.done)) throw new Error('unknown version');
    return s;
  } catch (e) {
    throw new BinderyError(ErrorCode.PodNet, `${dir}/state.json: not a pod-net state file`, {
      cause: e,
    });
  }
}

function context(target: PodNetTarget, ex: NetnsExec, dir: string): ApplyContext {
  return {
    ex,
    deps: allDeps(target.deps),
    dir,
    roots: {
      ...(target.sysfsRoot !== undefined ? { sysfsRoot: target.sysfsRoot } : {}),
      ...(target.devRoot !== undefined ? { devRoot: target.devRoot } : {}),
    },
  };
}

async function readResolv(opts: PodNetUpOptions): Promise<string> {
  const candidates =
    opts.resolvConf !== undefined
      ? [opts.resolvConf]
      : [
          ...(isAbsolute(opts.netns) ? [] : [`/etc/netns/${opts.netns}/resolv.conf`]),
          '/etc/resolv.conf',
        ];
  for (const f of candidates) {
    try {
      return await readFile(f, 'utf8');
    } catch (e) {
      if (opts.resolvConf !== undefined)
        throw new BinderyError(ErrorCode.PodNet, `${f}: cannot read resolv.conf`, { cause: e });
    }
  }
  return '';
}

/**
 * Plumbs the plan's interfaces into the pod namespace and starts their address servers.
 * A complete live setup already there: nothing is done. A stale or partial one: undone first.
 * @param opts - the plan, the namespace, where state goes
 * @returns what each interface got
 * @throws BinderyError (PodNet) starting with the failing interface's field path; whatever
 *   was done is rolled back first
 */
export async function podNetUp(opts: PodNetUpOptions): Promise<PodNetUpResult> {
  const path = netnsPath(opts.netns);
  const dir = stateSubdir(opts.stateDir ?? DEFAULT_STATE_DIR, opts.netns);
  const ex = nsenterExec(path);
  const ctx = context(opts, ex, dir);
  const warnings: string[] = [];

  const old = await loadState(dir);
  if (old) {
    const live =
      old.complete &&
      (await exists(path)) &&
      old.addressServers.every((s) => ctx.deps.isAlive(s.pid));
    if (live)
      return { netns: path, stateDir: dir, alreadyUp: true, interfaces: results(old), warnings };
    warnings.push(...(await undoAll(ctx, old, !(await exists(path)))));
    await rm(dir, { recursive: true, force: true });
  }

  // Look before touching anything.
  const plumbed = opts.plan.interfaces.filter((i) => i.state === 'up' && i.attachment === 'tap');
  const firstPath = opts.plan.interfaces
    .map((i) => opts.paths.get(i.name))
    .find((p) => p !== undefined);
  if (!(await exists(path)))
    throw new BinderyError(
      ErrorCode.PodNet,
      `${plumbed[0] ? (opts.paths.get(plumbed[0].name) ?? firstPath) : (firstPath ?? 'pod-net')}: the pod network namespace ${path} does not exist`,
    );
  const links = new Map<string, DiscoveredLink>();
  const existingLinks = plumbed.length > 0 ? await listLinks(ex) : [];
  for (const i of plumbed) {
    const l = await discoverLink(ex, i.podInterfaceName);
    if (l) links.set(l.name, l);
  }
  const hasMasq = plumbed.some(
    (i) => i.binding.kind === 'core' && i.binding.method === 'masquerade',
  );
  const existingTables = hasMasq ? await listNftTables(ex) : [];
  const resolv = parseResolvConf(await readResolv(opts));
  const planned = planPodNetSteps({
    plan: opts.plan,
    netns: path,
    paths: opts.paths,
    interfaceIndex: opts.interfaceIndex,
    links,
    existingLinks,
    existingTables,
    resolv,
    random: opts.random ?? ((n) => randomBytes(n)),
  });

  const state: PodNetState = {
    version: 1,
    netns: path,
    vm: `${opts.plan.namespace}/${opts.plan.vmName}`,
    complete: false,
    done: [],
    addressServers: [],
    interfaces: [...planned.interfaces],
  };
  await saveState(dir, state);
  try {
    await applySteps(ctx, state, planned.steps, () => exists(path));
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
  state.complete = true;
  await saveState(dir, state);
  return { netns: path, stateDir: dir, alreadyUp: false, interfaces: results(state), warnings };
}

function results(state: PodNetState): InterfaceResult[] {
  return state.interfaces.map((i) => {
    const pid = state.addressServers.find((s) => s.device === i.addressServer)?.pid;
    return pid !== undefined ? { ...i, addressServerPid: pid } : i;
  });
}

/**
 * Undoes what `up` recorded for the namespace, in reverse, and removes its state (leases too).
 * No state: nothing to do. The namespace gone: its state is cleaned, servers stopped.
 * @param target - the namespace and where state is
 * @returns whether anything was up, and undos that failed
 */
export async function podNetDown(target: PodNetTarget): Promise<PodNetDownResult> {
  const path = netnsPath(target.netns);
  const dir = stateSubdir(target.stateDir ?? DEFAULT_STATE_DIR, target.netns);
  const state = await loadState(dir);
  if (!state) return { wasUp: false, warnings: [] };
  const ctx = context(target, nsenterExec(state.netns || path), dir);
  const warnings = await undoAll(ctx, state, !(await exists(path)));
  await rm(dir, { recursive: true, force: true });
  return { wasUp: true, warnings };
}
