// bindery-cni's operations (ADD, DEL, CHECK, STATUS, GC) over an injected host: what each does to the pod namespace and to bindery's state.
//
// Theory of operation. ADD prepares the pod namespace for the binding (the two sysctls
// KubeVirt's passt-binding plugin sets; for the tap binding also the tap virt-handler would
// make) and records what it did in a state file per attachment (`<containerID>-<ifname>.json`
// under the state dir): the sysctls' previous values, the tap it created, the port mappings. A
// failing ADD puts back what it changed before it reports the error. DEL and GC act only on
// what a state file says bindery made: a tap is deleted only when it is still a tun/tap link,
// a sysctl is put back only when it still has the value bindery set; DEL of an attachment
// without state, or in a namespace that is gone, succeeds (CNI spec 1.1.0, "DEL").
import type { NetnsExec } from '../podnet/exec.js';
import {
  CniError,
  CniErrorCode,
  addResult,
  bindingSysctls,
  passtPortOptions,
  stateFileName,
  tapToCreate,
} from './spec.js';
import type { BinderyNetConf, CniEnv, CniResult, PortMapping } from './spec.js';

/** What bindery made for one attachment (the state file). */
export interface AttachmentState {
  readonly owner: 'bindery-cni';
  readonly network: string;
  readonly containerId: string;
  readonly ifname: string;
  readonly netns: string;
  readonly binding: string;
  /** Each sysctl bindery set: the value it found and the one it wrote. */
  readonly sysctls: Readonly<Record<string, { readonly was: string; readonly set: string }>>;
  /** The tap bindery created in the pod namespace. */
  readonly tap?: string;
  readonly portMappings: readonly PortMapping[];
  /** The translator's -t/-u options for the port mappings (passt binding). */
  readonly passtOptions?: readonly string[];
}

/** The effects bindery-cni needs; the real one is in host.ts. */
export interface CniHost {
  netnsExists(path: string): Promise<boolean>;
  inNetns(path: string): NetnsExec;
  /** The state in `file` under `dir`, undefined when there is none (or it is not bindery's). */
  readState(dir: string, file: string): Promise<AttachmentState | undefined>;
  writeState(dir: string, file: string, state: AttachmentState): Promise<void>;
  removeState(dir: string, file: string): Promise<void>;
  /** The state file names under `dir` (none when it does not exist). */
  listState(dir: string): Promise<string[]>;
  /** True when the program is on PATH. */
  hasTool(name: string): Promise<boolean>;
  log(event: Record<string, unknown>): void;
}

/** The tools bindery-cni runs; STATUS fails (50) without them. */
export const REQUIRED_TOOLS = ['nsenter', 'ip', 'sysctl'] as const;

const norm = (s: string): string => s.trim().split(/\s+/).join(' ');

async function readSysctl(ns: NetnsExec, key: string): Promise<string> {
  return norm(await ns.run(['sysctl', '-n', key]));
}

async function writeSysctl(ns: NetnsExec, key: string, value: string): Promise<void> {
  await ns.run(['sysctl', '-q', '-w', `${key}=${value}`]);
}

interface LinkInfo {
  readonly kind?: string;
  readonly mac?: string;
}

/** The link `name` in the namespace (kind from `ip -d`), undefined when there is none. */
async function linkInfo(ns: NetnsExec, name: string): Promise<LinkInfo | undefined> {
  const r = await ns.tryRun(['ip', '-j', '-d', 'link', 'show', 'dev', name]);
  if (r.code !== 0) return undefined;
  const links = JSON.parse(r.stdout) as Array<{
    address?: string;
    linkinfo?: { info_kind?: string };
  }>;
  const l = links[0];
  if (l === undefined) return undefined;
  return {
    ...(l.linkinfo?.info_kind !== undefined ? { kind: l.linkinfo.info_kind } : {}),
    ...(l.address !== undefined ? { mac: l.address } : {}),
  };
}

function setupFailed(what: string, e: unknown): CniError {
  return new CniError(CniErrorCode.SetupFailed, `bindery-cni: ${what}: ${(e as Error).message}`);
}

/**
 * ADD: prepares the pod namespace for the binding and returns prevResult (plus the tap).
 * @param env - the request (containerId, ifname, netns set)
 * @param conf - the configuration
 * @param host - the effects
 * @returns the result to print
 */
export async function cmdAdd(env: CniEnv, conf: BinderyNetConf, host: CniHost): Promise<CniResult> {
  const netns = env.netns!;
  const file = stateFileName(env.containerId!, env.ifname!);
  if (!(await host.netnsExists(netns)))
    throw new CniError(CniErrorCode.UnknownContainer, `network namespace ${netns} does not exist`);
  const ns = host.inNetns(netns);
  const earlier = await host.readState(conf.stateDir, file);

  // Sysctls: remember what was there (from an earlier ADD's state, if this is a repeat).
  const sysctls: Record<string, { was: string; set: string }> = {};
  const undoSysctls = async (): Promise<void> => {
    for (const [key, s] of Object.entries(sysctls).reverse())
      await ns.tryRun(['sysctl', '-q', '-w', `${key}=${s.was}`]);
  };
  try {
    for (const [key, value] of bindingSysctls(conf)) {
      const was = earlier?.sysctls[key]?.was ?? (await readSysctl(ns, key));
      sysctls[key] = { was, set: value };
      await writeSysctl(ns, key, value);
    }
  } catch (e) {
    await undoSysctls();
    throw setupFailed('setting the pod namespace sysctls', e);
  }

  const tapName = tapToCreate(conf, env.ifname!);
  const passtOptions = conf.binding === 'passt' ? passtPortOptions(conf.portMappings) : undefined;
  const state: AttachmentState = {
    owner: 'bindery-cni',
    network: conf.name,
    containerId: env.containerId!,
    ifname: env.ifname!,
    netns,
    binding: conf.binding,
    sysctls,
    ...(tapName !== undefined ? { tap: tapName } : {}),
    portMappings: conf.portMappings,
    ...(passtOptions !== undefined ? { passtOptions } : {}),
  };
  let created = false;
  try {
    let tap: { name: string; mac: string; sandbox: string; mtu?: number } | undefined;
    if (tapName !== undefined) {
      const existing = await linkInfo(ns, tapName);
      if (existing !== undefined && earlier?.tap !== tapName)
        throw new Error(
          `a link named ${tapName} already exists in ${netns} and bindery did not make it`,
        );
      // The state first, so a crash between here and the end leaves a record GC can act on.
      await host.writeState(conf.stateDir, file, state);
      if (existing === undefined) {
        await ns.run([
          'ip',
          'tuntap',
          'add',
          'dev',
          tapName,
          'mode',
          'tap',
          'user',
          String(conf.owner),
          ...(conf.multiQueue ? ['multi_queue'] : []),
        ]);
        created = true;
      }
      if (conf.mtu !== undefined)
        await ns.run(['ip', 'link', 'set', 'dev', tapName, 'mtu', String(conf.mtu)]);
      await ns.run(['ip', 'link', 'set', 'dev', tapName, 'up']);
      const info = await linkInfo(ns, tapName);
      tap = {
        name: tapName,
        mac: info?.mac ?? '',
        sandbox: netns,
        ...(conf.mtu !== undefined ? { mtu: conf.mtu } : {}),
      };
    }
    await host.writeState(conf.stateDir, file, state);
    const result = addResult(conf, tap);
    host.log({
      msg: 'ADD done',
      result,
      binding: conf.binding,
      netns,
      sysctls,
      ...(tapName !== undefined ? { tap: tapName } : {}),
      ...(passtOptions !== undefined ? { passtOptions } : {}),
      portMappings: conf.portMappings,
    });
    return result;
  } catch (e) {
    if (created) await ns.tryRun(['ip', 'link', 'del', 'dev', tapName!]);
    await undoSysctls();
    if (earlier === undefined) await host.removeState(conf.stateDir, file).catch(() => undefined);
    throw e instanceof CniError
      ? e
      : setupFailed(tapName !== undefined ? `making tap ${tapName}` : 'ADD', e);
  }
}

/**
 * Removes what one state file says bindery made, where it is still as bindery left it.
 * @param state - the state
 * @param netns - the namespace to act in (the request's, else the state's)
 * @param host - the effects
 * @returns what was undone, for the log
 */
async function release(state: AttachmentState, netns: string, host: CniHost): Promise<string[]> {
  const done: string[] = [];
  if (!(await host.netnsExists(netns))) return done;
  const ns = host.inNetns(netns);
  if (state.tap !== undefined) {
    const info = await linkInfo(ns, state.tap);
    if (info?.kind === 'tun') {
      await ns.run(['ip', 'link', 'del', 'dev', state.tap]);
      done.push(`deleted tap ${state.tap}`);
    }
  }
  for (const [key, s] of Object.entries(state.sysctls)) {
    const r = await ns.tryRun(['sysctl', '-n', key]);
    if (r.code === 0 && norm(r.stdout) === s.set && s.was !== s.set) {
      await writeSysctl(ns, key, s.was);
      done.push(`${key}=${s.was}`);
    }
  }
  return done;
}

/**
 * DEL: removes what ADD made for the attachment; succeeds when there is nothing (left) to do.
 * @param env - the request
 * @param conf - the configuration (stateDir)
 * @param host - the effects
 */
export async function cmdDel(env: CniEnv, conf: BinderyNetConf, host: CniHost): Promise<void> {
  const file = stateFileName(env.containerId!, env.ifname!);
  const state = await host.readState(conf.stateDir, file);
  if (state === undefined) {
    host.log({ msg: 'DEL: nothing recorded', containerId: env.containerId, ifname: env.ifname });
    return;
  }
  try {
    const done = await release(state, env.netns ?? state.netns, host);
    await host.removeState(conf.stateDir, file);
    host.log({ msg: 'DEL done', netns: env.netns ?? state.netns, undone: done });
  } catch (e) {
    throw new CniError(CniErrorCode.TeardownFailed, `bindery-cni: DEL: ${(e as Error).message}`);
  }
}

/**
 * CHECK: the pod namespace is as ADD left it (sysctls, tap, state, the tap in prevResult).
 * @param env - the request
 * @param conf - the configuration with prevResult
 * @param host - the effects
 */
export async function cmdCheck(env: CniEnv, conf: BinderyNetConf, host: CniHost): Promise<void> {
  const netns = env.netns!;
  if (!(await host.netnsExists(netns)))
    throw new CniError(CniErrorCode.UnknownContainer, `network namespace ${netns} does not exist`);
  const fail = (msg: string): CniError =>
    new CniError(CniErrorCode.CheckFailed, `bindery-cni: CHECK: ${msg}`);
  const state = await host.readState(conf.stateDir, stateFileName(env.containerId!, env.ifname!));
  if (state === undefined) throw fail(`no ADD recorded for ${env.containerId}/${env.ifname}`);
  const ns = host.inNetns(netns);
  for (const [key, value] of bindingSysctls(conf)) {
    const r = await ns.tryRun(['sysctl', '-n', key]);
    if (r.code !== 0) throw fail(`cannot read ${key}: ${r.stderr.trim()}`);
    if (norm(r.stdout) !== value) throw fail(`${key} is "${norm(r.stdout)}", not "${value}"`);
  }
  const tapName = tapToCreate(conf, env.ifname!);
  if (tapName !== undefined) {
    const info = await linkInfo(ns, tapName);
    if (info?.kind !== 'tun') throw fail(`tap ${tapName} is missing from ${netns}`);
    const listed = conf.prevResult?.interfaces?.some(
      (i) => i.name === tapName && i.sandbox === netns,
    );
    if (!listed) throw fail(`prevResult does not list tap ${tapName} in ${netns}`);
  }
  host.log({ msg: 'CHECK ok', netns, binding: conf.binding });
}

/**
 * GC: removes bindery's state (and what it records) for this network's attachments that are not
 * in `cni.dev/valid-attachments`; keeps going past failures and reports them together.
 * @param conf - the configuration with validAttachments
 * @param host - the effects
 */
export async function cmdGc(conf: BinderyNetConf, host: CniHost): Promise<void> {
  const valid = new Set(
    (conf.validAttachments ?? []).map((a) => stateFileName(a.containerID, a.ifname)),
  );
  const errors: string[] = [];
  const removed: string[] = [];
  for (const file of await host.listState(conf.stateDir)) {
    if (valid.has(file)) continue;
    try {
      const state = await host.readState(conf.stateDir, file);
      if (state === undefined || state.network !== conf.name) continue;
      await release(state, state.netns, host);
      await host.removeState(conf.stateDir, file);
      removed.push(file);
    } catch (e) {
      errors.push(`${file}: ${(e as Error).message}`);
    }
  }
  host.log({ msg: 'GC done', removed, errors });
  if (errors.length > 0)
    throw new CniError(
      CniErrorCode.TeardownFailed,
      `bindery-cni: GC left ${errors.length} attachment(s)`,
      errors.join('\n'),
    );
}

/**
 * STATUS: ready when the tools bindery-cni runs are on PATH.
 * @param host - the effects
 */
export async function cmdStatus(host: CniHost): Promise<void> {
  const missing: string[] = [];
  for (const t of REQUIRED_TOOLS) if (!(await host.hasTool(t))) missing.push(t);
  if (missing.length > 0)
    throw new CniError(
      CniErrorCode.PluginNotAvailable,
      `bindery-cni cannot run: ${missing.join(', ')} not on PATH`,
    );
}
