// The state file of one `bindery up` run (/run/bindery/up/<vm>/state.json): written as things are created, so `down` can undo a crashed run.
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BinderyError, ErrorCode } from '../errors.js';
import type { VmNetworkPlan } from '../plan/types.js';

/** Where run states live unless told otherwise. */
export const DEFAULT_UP_STATE_DIR = '/run/bindery/up';

/** A process the run started; `match` is a string its command line holds (pid reuse guard). */
export interface RunProcess {
  readonly role: 'qemu' | 'passt' | 'dnsmasq' | 'http' | 'repair';
  readonly pid: number;
  readonly match: string;
  /** The interface (passt). */
  readonly iface?: string;
}

/** One interface as `up` brought it up. */
export interface RunInterface {
  readonly name: string;
  readonly binding: string;
  readonly mac: string;
  readonly nic: 'stream' | 'tap';
  /** The tap or passt socket. */
  readonly endpoint: string;
  readonly ports: string;
  readonly pid: string;
  readonly reach: string;
  readonly expect4?: string;
  readonly gateway4?: string;
  readonly ipv6?: { readonly expect: string; readonly gateway: string };
  readonly inboundUrl?: string;
  /** The translator's control socket (passt). */
  readonly control?: string;
  readonly guestIf?: string;
  readonly ipv4?: string;
  readonly ipv6Addr?: string;
}

/**
 * One pod of a run: the pod namespace with its veth to the node, its bindings and its QEMU.
 * The run's current pod is the run state itself; a migration's other pod is a `PodSide` in
 * `otherPods`.
 */
export interface PodSide {
  readonly suffix: string;
  readonly index: number;
  readonly node: string;
  readonly pod: string;
  readonly nodeVeth: string;
  /** The run's temp dir (removed by `down`). */
  readonly tmpDir: string;
  /** Where this pod's sockets and logs are: a subdirectory of tmpDir; tmpDir when absent. */
  readonly podDir?: string;
  /** pod-net's state root, once pod-net is about to run. */
  podnetStateDir?: string;
  processes: RunProcess[];
  agentSocket?: string;
  qmpSocket?: string;
  serialLog?: string;
  interfaces: RunInterface[];
}

/** A plan as `up` loaded it, kept so `migrate` can bind the same interfaces in a new pod. */
export interface SavedPlan {
  readonly file: string;
  readonly plan: VmNetworkPlan;
  readonly paths: ReadonlyArray<readonly [string, string]>;
  readonly interfaceIndex: ReadonlyArray<readonly [string, number]>;
}

/** The run. */
export interface RunState extends PodSide {
  readonly version: 1;
  readonly vm: string;
  readonly namespace: string;
  readonly platform: string;
  readonly startedAt: string;
  /** The plan the run was brought up from (runs of older binderys lack it). */
  readonly loaded?: SavedPlan;
  /**
   * The run's repair helper socket (`bindery repair-helper`, the translators' --repair-path):
   * recorded before the helper starts; runs of older binderys lack it (no TCP hand-over).
   */
  repairSocket?: string;
  /** QEMU's accelerator (a migration target must use the same). */
  readonly accel?: 'tcg' | 'kvm';
  /**
   * Pods of a migration in flight: the target before the switch-over, the source after it.
   * Recorded before they are created; `down` removes them with the run.
   */
  otherPods?: PodSide[];
  ready: boolean;
}

/** Where `side` keeps its sockets and logs. */
export function podDirOf(side: PodSide): string {
  return side.podDir ?? side.tmpDir;
}

/** The state directory of `vm`. */
export function vmDir(root: string, vm: string): string {
  return join(root, vm);
}

/** Writes the state atomically. */
export async function saveRunState(root: string, s: RunState): Promise<void> {
  const dir = vmDir(root, s.vm);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `state.json.${process.pid}`);
  await writeFile(tmp, JSON.stringify(s, null, 2) + '\n');
  await rename(tmp, join(dir, 'state.json'));
}

/** Reads `vm`'s state; undefined when there is none. */
export async function loadRunState(root: string, vm: string): Promise<RunState | undefined> {
  let text: string;
  try {
    text = await readFile(join(vmDir(root, vm), 'state.json'), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new BinderyError(ErrorCode.Up, `${vm}: cannot read its state`, { cause: e });
  }
  try {
    const s = JSON.parse(text) as RunState;
    if (s.version !== 1) throw new Error('unknown version');
    return s;
  } catch (e) {
    throw new BinderyError(
      ErrorCode.Up,
      `${vm}: ${join(vmDir(root, vm), 'state.json')} is not an up state`,
      {
        cause: e,
      },
    );
  }
}

/** The VMs with a state directory. */
export async function listRuns(root: string): Promise<string[]> {
  try {
    return (await readdir(root, { withFileTypes: true }))
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

/** Removes `vm`'s state directory. */
export async function removeRunState(root: string, vm: string): Promise<void> {
  await rm(vmDir(root, vm), { recursive: true, force: true });
}
