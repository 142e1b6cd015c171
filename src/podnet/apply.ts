// Runs pod-net steps in a namespace, recording each done step's undo in the state file, and runs undos (rollback, `down`).
//
// The state file is rewritten (write + rename) after every step, so a crash leaves exactly the
// undos of what was done; `up` on such a partial state undoes it first.
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BinderyError, ErrorCode } from '../errors.js';
import type { AddressServerConfig } from './address-config.js';
import type { DeviceRoots, PreparedDevice } from './devices.js';
import { commandError, type NetnsExec } from './exec.js';
import type { Action, InterfaceSummary, Step } from './steps.js';
import type { BindingPlan } from '../plan/types.js';

/** The I/O pod-net delegates; injectable (tests pass a fake address server). */
export interface PodNetDeps {
  startAddressServer(configFile: string): Promise<number>;
  stopAddressServer(pid: number): Promise<void>;
  prepareDevice(iface: BindingPlan, roots: DeviceRoots): Promise<PreparedDevice>;
  releaseDevice(prepared: PreparedDevice, roots: DeviceRoots): Promise<void>;
  /** Whether a pid names a running process. */
  isAlive(pid: number): boolean;
}

/** One done step: where it came from and how to undo it. */
export interface DoneStep {
  readonly path: string;
  readonly what: string;
  readonly undo: readonly Action[];
}

/** A running address server. */
export interface RunningServer {
  readonly device: string;
  readonly pid: number;
  readonly configFile: string;
}

/** The state file of one namespace (`<stateDir>/<ns>/state.json`). */
export interface PodNetState {
  readonly version: 1;
  /** The namespace path. */
  readonly netns: string;
  /** `namespace/name` of the VM. */
  readonly vm: string;
  /** True once every step is done. */
  complete: boolean;
  readonly done: DoneStep[];
  readonly addressServers: RunningServer[];
  interfaces: InterfaceSummary[];
}

/** Where the applier works. */
export interface ApplyContext {
  readonly ex: NetnsExec;
  readonly deps: PodNetDeps;
  /** This namespace's state directory. */
  readonly dir: string;
  readonly roots: DeviceRoots;
}

/** Writes the state atomically. */
export async function saveState(dir: string, state: PodNetState): Promise<void> {
  await mkdir(dir, { recursive: true });
  const file = join(dir, 'state.json');
  await writeFile(`${file}.tmp`, JSON.stringify(state, null, 2) + '\n');
  await rename(`${file}.tmp`, file);
}

/** A one-line description of an action, for messages and the state file. */
export function describe(a: Action): string {
  switch (a.kind) {
    case 'cmd':
      return a.argv.join(' ');
    case 'sysctl':
      return `sysctl ${a.key}=${a.value}`;
    case 'nft':
      return `nft -j -f (tables ${a.tables.map((t) => `${t.family} ${t.name}`).join(', ')})`;
    case 'nft-delete':
      return `nft delete ${a.tables.map((t) => `table ${t.family} ${t.name}`).join(', ')}`;
    case 'address-server':
      return `address server on ${a.config.device}`;
    case 'stop-address-server':
      return `stop address server ${a.pid} (${a.device})`;
    case 'prepare-device':
      return `prepare device of ${a.iface.name}`;
    case 'release-device': {
      const p = a.prepared as PreparedDevice;
      return `release device of ${p.interfaceName}${p.pciAddress !== undefined ? ` (VF ${p.pciAddress})` : ''}`;
    }
  }
}

async function doAction(ctx: ApplyContext, state: PodNetState, a: Action): Promise<Action[]> {
  const { ex, deps } = ctx;
  switch (a.kind) {
    case 'cmd':
      if (a.fallback === undefined) await ex.run(a.argv);
      else if ((await ex.tryRun(a.argv)).code !== 0) await ex.run(a.fallback);
      return [];
    case 'sysctl': {
      const old = (await ex.run(['sysctl', '-n', a.key])).trim();
      await ex.run(['sysctl', '-q', '-w', `${a.key}=${a.value}`]);
      return old === a.value ? [] : [{ kind: 'sysctl', key: a.key, value: old }];
    }
    case 'nft': {
      // A file rather than `-f -`: nft opens /dev/stdin, which fails on a socket stdin.
      const file = join(ctx.dir, 'nftables.json');
      await writeFile(file, JSON.stringify(a.json) + '\n');
      await ex.run(['nft', '-j', '-f', file]);
      return [{ kind: 'nft-delete', tables: a.tables }];
    }
    case 'nft-delete':
      for (const t of a.tables) {
        const r = await ex.tryRun(['nft', 'delete', 'table', t.family, t.name]);
        if (r.code !== 0 && !/No such file or directory/.test(r.stderr))
          throw commandError(['nft', 'delete', 'table', t.family, t.name], r);
      }
      return [];
    case 'address-server': {
      const base = join(ctx.dir, `address-${a.config.device}`);
      const config: AddressServerConfig = {
        ...a.config,
        leaseFile: `${base}.leases.json`,
        pidFile: `${base}.pid`,
        logFile: `${base}.log`,
      };
      const configFile = `${base}.json`;
      await writeFile(configFile, JSON.stringify(config, null, 2) + '\n');
      const pid = await deps.startAddressServer(configFile);
      state.addressServers.push({ device: a.config.device, pid, configFile });
      return [{ kind: 'stop-address-server', pid, device: a.config.device }];
    }
    case 'stop-address-server':
      await deps.stopAddressServer(a.pid);
      return [];
    case 'prepare-device': {
      const prepared = await deps.prepareDevice(a.iface, ctx.roots);
      return [{ kind: 'release-device', prepared, roots: ctx.roots }];
    }
    case 'release-device':
      // Where it was prepared: `down` is not told the roots again.
      await deps.releaseDevice(a.prepared as PreparedDevice, a.roots ?? ctx.roots);
      return [];
  }
}

/**
 * Runs `steps` in order, saving each done step's undo; on a failure undoes what it did (in
 * reverse) and throws a BinderyError (PodNet) that starts with the failing interface's path.
 * @param ctx - namespace, dependencies, state directory
 * @param state - the state to fill (saved after every step)
 * @param steps - from planPodNetSteps
 * @param netnsExists - whether the namespace is still there (to say so when it vanished)
 */
export async function applySteps(
  ctx: ApplyContext,
  state: PodNetState,
  steps: readonly Step[],
  netnsExists: () => Promise<boolean>,
): Promise<void> {
  for (const step of steps) {
    try {
      const derived = await doAction(ctx, state, step.action);
      state.done.push({
        path: step.path,
        what: describe(step.action),
        undo: [...step.undo, ...derived],
      });
      await saveState(ctx.dir, state);
    } catch (e) {
      // The step may have half happened: its own planned undo runs too (undos are idempotent).
      if (step.undo.length > 0)
        state.done.push({ path: step.path, what: describe(step.action), undo: step.undo });
      const gone = !(await netnsExists());
      const left = await undoAll(ctx, state, gone);
      const why = gone
        ? `the pod network namespace ${ctx.ex.netns} disappeared`
        : e instanceof Error
          ? e.message
          : String(e);
      throw new BinderyError(
        ErrorCode.PodNet,
        `${step.path}: ${describe(step.action)}: ${why}; rolled back${left.length > 0 ? ` (undos that failed: ${left.join('; ')})` : ''}`,
        { cause: e },
      );
    }
  }
}

/**
 * Runs every recorded undo in reverse order, best effort (one failing undo does not stop the
 * rest), emptying `state.done`.
 * @param ctx - namespace, dependencies
 * @param state - the state whose undos run
 * @param netnsGone - skip what needs the namespace (its links and tables went with it)
 * @returns what failed, one line each
 */
export async function undoAll(
  ctx: ApplyContext,
  state: PodNetState,
  netnsGone: boolean,
): Promise<string[]> {
  const failures: string[] = [];
  while (state.done.length > 0) {
    const step = state.done.pop()!;
    for (const a of step.undo) {
      const needsNs = a.kind === 'cmd' || a.kind === 'sysctl' || a.kind === 'nft-delete';
      if (netnsGone && needsNs) continue;
      try {
        await doAction(ctx, state, a);
      } catch (e) {
        failures.push(`${step.path}: undo ${describe(a)}: ${(e as Error).message}`);
      }
    }
  }
  state.addressServers.length = 0;
  return failures;
}
