// The CNI protocol as bindery-cni speaks it: versions, error objects, the CNI_* environment, the plugin config, prevResult and replies (pure).
//
// Theory of operation. A CNI runtime runs the plugin once per operation with the request in the
// environment (CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, CNI_ARGS, CNI_PATH) and the
// plugin's network configuration on stdin; the plugin answers on stdout, with a result (ADD), a
// version reply (VERSION), nothing (DEL, CHECK, STATUS, GC), or an error object and a non-zero
// exit status (CNI spec 1.0.0/1.1.0, "Section 2: Execution Protocol", "Section 5: Result Types").
// This module turns the raw environment and stdin into typed requests, rejecting bad input with
// the spec's well-known error codes before anything is changed, and builds the replies.
//
// Decisions where the spec leaves room (docs/cni.md repeats them):
// - ADD without prevResult is allowed: bindery-cni is then the only plugin of its list (as
//   KubeVirt's own passt-binding NAD uses its plugin) and answers an empty result plus its tap.
//   CHECK without prevResult is an error (7): the spec makes the runtime pass it.
// - DEL validates only what it needs (JSON, version, identifiers): it is driven by bindery's
//   state, so a config ADD refused (an unknown binding) can still be deleted, which a runtime
//   does right after a failed ADD.
// - GC without `cni.dev/valid-attachments` is an error (7) rather than "everything is stale".
import { kubevirtTapName } from '../plan/names.js';

/** Every CNI spec version bindery-cni implements, oldest first. */
export const SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;
export type CniVersion = (typeof SUPPORTED_VERSIONS)[number];
/** The newest version: what VERSION reports and errors use when the request's is unknown. */
export const LATEST_VERSION: CniVersion = '1.1.0';

/** The spec's well-known error codes (0–99) and bindery-cni's own (100+). */
export const CniErrorCode = {
  /** Incompatible CNI version. */
  IncompatibleVersion: 1,
  /** Unsupported field in network configuration. */
  UnsupportedField: 2,
  /** Container unknown or does not exist (bindery: the netns path does not exist). */
  UnknownContainer: 3,
  /** Invalid necessary environment variables (CNI_COMMAND, CNI_CONTAINERID, …). */
  InvalidEnv: 4,
  /** I/O failure (reading stdin, the state dir). */
  IoFailure: 5,
  /** Failed to decode content (stdin is not JSON). */
  DecodingFailure: 6,
  /** Invalid network config (a field of the wrong type, an unknown binding, no prevResult). */
  InvalidConfig: 7,
  /** Try again later (a transient condition). */
  TryAgainLater: 11,
  /** STATUS: the plugin cannot serve ADD (a prerequisite tool is missing). */
  PluginNotAvailable: 50,
  /** bindery: preparing the pod namespace (sysctl, tap) failed; it was put back as it was. */
  SetupFailed: 100,
  /** bindery: CHECK found the pod namespace not as ADD left it. */
  CheckFailed: 101,
  /** bindery: DEL or GC could not remove something bindery made. */
  TeardownFailed: 102,
} as const;
export type CniErrorCode = (typeof CniErrorCode)[keyof typeof CniErrorCode];

/** A failure reported to the runtime as a CNI error object. */
export class CniError extends Error {
  constructor(
    readonly code: CniErrorCode,
    message: string,
    readonly details?: string,
  ) {
    super(message);
    this.name = 'CniError';
  }
}

/** The error object of the spec (printed on stdout with a non-zero exit). */
export interface CniErrorReply {
  readonly cniVersion: string;
  readonly code: number;
  readonly msg: string;
  readonly details?: string;
}

/**
 * The error object for `e` in the version of the request (the latest when it is unknown).
 * @param e - the error
 * @param cniVersion - the request's version, if it was read and is supported
 * @returns the object to print
 */
export function errorReply(e: CniError, cniVersion?: string): CniErrorReply {
  const v =
    cniVersion !== undefined && isSupportedVersion(cniVersion) ? cniVersion : LATEST_VERSION;
  return {
    cniVersion: v,
    code: e.code,
    msg: e.message,
    ...(e.details !== undefined ? { details: e.details } : {}),
  };
}

/** True when bindery-cni implements `v`. */
export function isSupportedVersion(v: string): v is CniVersion {
  return (SUPPORTED_VERSIONS as readonly string[]).includes(v);
}

function versionAtLeast(v: CniVersion, min: CniVersion): boolean {
  return SUPPORTED_VERSIONS.indexOf(v) >= SUPPORTED_VERSIONS.indexOf(min);
}

/** The VERSION reply: every version supported. */
export function versionReply(): { cniVersion: CniVersion; supportedVersions: CniVersion[] } {
  return { cniVersion: LATEST_VERSION, supportedVersions: [...SUPPORTED_VERSIONS] };
}

// ---------------------------------------------------------------------------------------------
// Environment

export const COMMANDS = ['ADD', 'DEL', 'CHECK', 'VERSION', 'STATUS', 'GC'] as const;
export type CniCommand = (typeof COMMANDS)[number];

/** The request's CNI_* variables, validated for the command. */
export interface CniEnv {
  readonly command: CniCommand;
  /** CNI_CONTAINERID (ADD, DEL, CHECK). */
  readonly containerId?: string;
  /** CNI_NETNS (ADD, CHECK; optional for DEL). */
  readonly netns?: string;
  /** CNI_IFNAME (ADD, DEL, CHECK). */
  readonly ifname?: string;
  /** CNI_ARGS as key/value pairs, in order. */
  readonly args: ReadonlyArray<readonly [string, string]>;
  /** CNI_PATH split on ':'. */
  readonly path: readonly string[];
}

/** Spec: a container ID is alphanumeric, then alphanumerics, `_`, `.` or `-`. */
const CONTAINER_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/**
 * True for a name the kernel accepts for a link: 1–15 bytes, not `.`/`..`, no `/`, `:` or
 * white space (the spec requires CNI_IFNAME to be one).
 */
export function isValidIfName(name: string): boolean {
  return (
    name.length > 0 &&
    Buffer.byteLength(name) <= 15 &&
    name !== '.' &&
    name !== '..' &&
    !/[/:\s]/.test(name)
  );
}

function parseCniArgs(raw: string): Array<[string, string]> {
  if (raw === '') return [];
  const out: Array<[string, string]> = [];
  for (const pair of raw.split(';')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    if (eq <= 0)
      throw new CniError(CniErrorCode.InvalidEnv, `CNI_ARGS: "${pair}" is not KEY=VALUE`);
    out.push([pair.slice(0, eq), pair.slice(eq + 1)]);
  }
  return out;
}

/**
 * Reads the CNI_* variables and checks those the command needs.
 * @param env - the process environment
 * @returns the request's environment
 * @throws CniError (4) when a needed variable is missing or malformed
 */
export function parseEnv(env: Readonly<Record<string, string | undefined>>): CniEnv {
  const command = env.CNI_COMMAND;
  if (command === undefined || command === '')
    throw new CniError(CniErrorCode.InvalidEnv, 'CNI_COMMAND is not set');
  if (!(COMMANDS as readonly string[]).includes(command))
    throw new CniError(CniErrorCode.InvalidEnv, `CNI_COMMAND "${command}" is not a CNI command`);
  const cmd = command as CniCommand;
  const attach = cmd === 'ADD' || cmd === 'DEL' || cmd === 'CHECK';
  const containerId = env.CNI_CONTAINERID || undefined;
  const ifname = env.CNI_IFNAME || undefined;
  const netns = env.CNI_NETNS || undefined;
  if (attach) {
    if (containerId === undefined)
      throw new CniError(CniErrorCode.InvalidEnv, 'CNI_CONTAINERID is not set');
    if (!CONTAINER_ID.test(containerId))
      throw new CniError(
        CniErrorCode.InvalidEnv,
        `CNI_CONTAINERID "${containerId}" is not a valid container ID`,
      );
    if (ifname === undefined) throw new CniError(CniErrorCode.InvalidEnv, 'CNI_IFNAME is not set');
    if (!isValidIfName(ifname))
      throw new CniError(
        CniErrorCode.InvalidEnv,
        `CNI_IFNAME "${ifname}" is not an interface name`,
      );
    if (cmd !== 'DEL' && netns === undefined)
      throw new CniError(CniErrorCode.InvalidEnv, 'CNI_NETNS is not set');
    if (netns !== undefined && !netns.startsWith('/'))
      throw new CniError(CniErrorCode.InvalidEnv, `CNI_NETNS "${netns}" is not an absolute path`);
  }
  return {
    command: cmd,
    ...(attach ? { containerId, ifname } : {}),
    ...(attach && netns !== undefined ? { netns } : {}),
    args: parseCniArgs(env.CNI_ARGS ?? ''),
    path: (env.CNI_PATH ?? '').split(':').filter((p) => p !== ''),
  };
}

// ---------------------------------------------------------------------------------------------
// Configuration

/** The bindings bindery-cni prepares a pod for. */
export const BINDINGS = ['passt', 'tap', 'managedTap'] as const;
export type BindingName = (typeof BINDINGS)[number];

/** One port mapping of `runtimeConfig.portMappings`, whichever spelling it came in. */
export interface PortMapping {
  readonly hostPort: number;
  readonly containerPort: number;
  readonly protocol: 'tcp' | 'udp' | 'sctp';
  readonly hostIP?: string;
}

/** One attachment of GC's `cni.dev/valid-attachments`. */
export interface Attachment {
  readonly containerID: string;
  readonly ifname: string;
}

/** A CNI result as bindery reads and passes it on (fields it does not know are kept). */
export type CniResult = Record<string, unknown> & {
  interfaces?: Array<Record<string, unknown>>;
  ips?: Array<Record<string, unknown>>;
};

/** The defaults a binding's pod namespace gets, as KubeVirt's plugin and virt-handler set them. */
export const DEFAULT_PING_GROUP_RANGE = '107 107';
/** virt-launcher's uid (qemu), owner of the taps virt-handler makes. */
export const DEFAULT_TAP_OWNER = 107;
export const DEFAULT_STATE_DIR = '/var/lib/cni/bindery';

/** bindery-cni's validated network configuration. */
export interface BinderyNetConf {
  readonly cniVersion: CniVersion;
  readonly name: string;
  readonly type: string;
  readonly binding: BindingName;
  /** `net.ipv4.ping_group_range`, normalised to "LOW HIGH". */
  readonly pingGroupRange: string;
  /** The tap (tap binding): `tapName`, default KubeVirt's name for CNI_IFNAME (`tap0` for eth0). */
  readonly tapName?: string;
  readonly mtu?: number;
  readonly owner: number;
  readonly multiQueue: boolean;
  readonly stateDir: string;
  /** Where bindery-cni appends its JSON log lines (requests and what it did). */
  readonly logFile?: string;
  readonly portMappings: readonly PortMapping[];
  readonly prevResult?: CniResult;
  readonly validAttachments?: readonly Attachment[];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function bad(msg: string): CniError {
  return new CniError(CniErrorCode.InvalidConfig, msg);
}

/**
 * Decodes stdin as JSON and reads its `cniVersion`.
 * @param text - stdin
 * @returns the object and its version string (not yet checked)
 * @throws CniError (6) for text that is not a JSON object
 */
export function decodeStdin(text: string): { conf: Record<string, unknown>; cniVersion?: string } {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new CniError(
      CniErrorCode.DecodingFailure,
      'the network configuration on stdin is not JSON',
      (e as Error).message,
    );
  }
  if (!isObject(v))
    throw new CniError(CniErrorCode.DecodingFailure, 'the network configuration is not an object');
  return { conf: v, ...(typeof v.cniVersion === 'string' ? { cniVersion: v.cniVersion } : {}) };
}

function int(v: unknown, field: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    throw bad(`${field} must be an integer in ${min}..${max}`);
  return v;
}

function pingGroupRange(v: unknown): string {
  if (v === undefined) return DEFAULT_PING_GROUP_RANGE;
  const m = typeof v === 'string' ? /^\s*(\d+)\s+(\d+)\s*$/.exec(v) : null;
  if (!m) throw bad('pingGroupRange must be "LOW HIGH" (two group ids)');
  const lo = Number(m[1]);
  const hi = Number(m[2]);
  if (lo > 2147483647 || hi > 2147483647) throw bad('pingGroupRange: a group id is out of range');
  return `${lo} ${hi}`;
}

/**
 * Reads `runtimeConfig.portMappings`, accepting containerd's `HostPort/ContainerPort/Protocol/
 * HostIP` and the spec's (podman's) `hostPort/containerPort/protocol/hostIP`.
 * @param v - the portMappings value (undefined when absent)
 * @returns the mappings, protocol in lower case (default tcp)
 */
export function parsePortMappings(v: unknown): PortMapping[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw bad('runtimeConfig.portMappings must be a list');
  return v.map((m, i) => {
    const at = `runtimeConfig.portMappings[${i}]`;
    if (!isObject(m)) throw bad(`${at} must be an object`);
    const pick = (lower: string): unknown =>
      m[lower] !== undefined ? m[lower] : m[lower[0]!.toUpperCase() + lower.slice(1)];
    const proto = pick('protocol') ?? 'tcp';
    if (typeof proto !== 'string' || !['tcp', 'udp', 'sctp'].includes(proto.toLowerCase()))
      throw bad(`${at}.protocol must be tcp, udp or sctp`);
    const hostIP = pick('hostIP') ?? pick('hostIp');
    if (hostIP !== undefined && typeof hostIP !== 'string')
      throw bad(`${at}.hostIP must be a string`);
    return {
      hostPort: int(pick('hostPort') ?? 0, `${at}.hostPort`, 0, 65535),
      containerPort: int(pick('containerPort'), `${at}.containerPort`, 1, 65535),
      protocol: proto.toLowerCase() as PortMapping['protocol'],
      ...(hostIP ? { hostIP } : {}),
    };
  });
}

/**
 * The translator's forwarding options for the mappings (passt's `-t`/`-u` port lists), what
 * libvirt would make of the domain's portForward ranges: the container ports by protocol.
 * @param mappings - the pod's port mappings
 * @returns argv fragment, empty without mappings
 */
export function passtPortOptions(mappings: readonly PortMapping[]): string[] {
  const out: string[] = [];
  for (const [flag, proto] of [
    ['-t', 'tcp'],
    ['-u', 'udp'],
  ] as const) {
    const ports = [
      ...new Set(mappings.filter((m) => m.protocol === proto).map((m) => m.containerPort)),
    ].sort((a, b) => a - b);
    if (ports.length > 0) out.push(flag, ports.join(','));
  }
  return out;
}

function parsePrevResult(v: unknown): CniResult {
  if (!isObject(v)) throw bad('prevResult must be an object');
  for (const key of ['interfaces', 'ips', 'routes'] as const) {
    const list = v[key];
    if (list === undefined) continue;
    if (!Array.isArray(list) || !list.every(isObject))
      throw bad(`prevResult.${key} must be a list of objects`);
  }
  for (const [i, ifc] of ((v.interfaces as unknown[] | undefined) ?? []).entries())
    if (typeof (ifc as Record<string, unknown>).name !== 'string')
      throw bad(`prevResult.interfaces[${i}].name must be a string`);
  return v as CniResult;
}

function parseAttachments(v: unknown): Attachment[] {
  if (!Array.isArray(v)) throw bad('cni.dev/valid-attachments must be a list');
  return v.map((a, i) => {
    if (!isObject(a) || typeof a.containerID !== 'string' || typeof a.ifname !== 'string')
      throw bad(`cni.dev/valid-attachments[${i}] must have string containerID and ifname`);
    return { containerID: a.containerID, ifname: a.ifname };
  });
}

/**
 * Validates bindery-cni's configuration for a command.
 * @param conf - the decoded stdin
 * @param command - the operation (decides which fields are required)
 * @returns the configuration
 * @throws CniError 1 (version), 7 (a field)
 */
export function parseNetConf(conf: Record<string, unknown>, command: CniCommand): BinderyNetConf {
  const v = conf.cniVersion;
  if (typeof v !== 'string' || v === '')
    throw new CniError(CniErrorCode.IncompatibleVersion, 'cniVersion is missing');
  if (!isSupportedVersion(v))
    throw new CniError(
      CniErrorCode.IncompatibleVersion,
      `incompatible CNI version "${v}"; bindery-cni supports ${SUPPORTED_VERSIONS.join(', ')}`,
    );
  if (command === 'CHECK' && !versionAtLeast(v, '0.4.0'))
    throw new CniError(
      CniErrorCode.IncompatibleVersion,
      `CHECK needs cniVersion 0.4.0 or later, not ${v}`,
    );
  if ((command === 'STATUS' || command === 'GC') && !versionAtLeast(v, '1.1.0'))
    throw new CniError(
      CniErrorCode.IncompatibleVersion,
      `${command} needs cniVersion 1.1.0, not ${v}`,
    );
  const str = (key: string, required: boolean): string | undefined => {
    const x = conf[key];
    if (x === undefined && !required) return undefined;
    if (typeof x !== 'string' || x === '') throw bad(`${key} must be a non-empty string`);
    return x;
  };
  const name = str('name', true)!;
  const type = str('type', false) ?? 'bindery-cni';
  // DEL is driven by bindery's state: it reads only what locates that state.
  const lenient = command === 'DEL';
  let binding: BindingName = 'passt';
  const b = conf.binding;
  if (!lenient || b !== undefined) {
    if (typeof b !== 'string')
      throw bad(
        `binding must be one of ${BINDINGS.join(', ')} (it is ${b === undefined ? 'missing' : typeof b})`,
      );
    if (!(BINDINGS as readonly string[]).includes(b)) {
      if (!lenient) throw bad(`unknown binding "${b}"; bindery-cni knows ${BINDINGS.join(', ')}`);
    } else binding = b as BindingName;
  }
  const stateDir = str('stateDir', false) ?? DEFAULT_STATE_DIR;
  if (!stateDir.startsWith('/')) throw bad('stateDir must be an absolute path');
  const logFile = str('logFile', false);
  if (logFile !== undefined && !logFile.startsWith('/'))
    throw bad('logFile must be an absolute path');
  if (lenient)
    return {
      cniVersion: v,
      name,
      type,
      binding,
      pingGroupRange: DEFAULT_PING_GROUP_RANGE,
      owner: DEFAULT_TAP_OWNER,
      multiQueue: false,
      stateDir,
      ...(logFile !== undefined ? { logFile } : {}),
      portMappings: [],
      ...(isObject(conf.prevResult) ? { prevResult: conf.prevResult as CniResult } : {}),
    };

  const tapName = str('tapName', false);
  if (tapName !== undefined && !isValidIfName(tapName))
    throw bad(`tapName "${tapName}" is not an interface name`);
  const mtu = conf.mtu === undefined ? undefined : int(conf.mtu, 'mtu', 68, 65535);
  const owner =
    conf.owner === undefined ? DEFAULT_TAP_OWNER : int(conf.owner, 'owner', 0, 4294967294);
  if (conf.multiQueue !== undefined && typeof conf.multiQueue !== 'boolean')
    throw bad('multiQueue must be true or false');
  const rc = conf.runtimeConfig;
  if (rc !== undefined && !isObject(rc)) throw bad('runtimeConfig must be an object');
  const portMappings = parsePortMappings(rc?.portMappings);
  let prevResult: CniResult | undefined;
  if (conf.prevResult !== undefined) prevResult = parsePrevResult(conf.prevResult);
  else if (command === 'CHECK') throw bad('CHECK needs prevResult (the result of the ADD)');
  let validAttachments: Attachment[] | undefined;
  if (command === 'GC') {
    const va = conf['cni.dev/valid-attachments'];
    if (va === undefined) throw bad('GC needs cni.dev/valid-attachments');
    validAttachments = parseAttachments(va);
  }
  return {
    cniVersion: v,
    name,
    type,
    binding,
    pingGroupRange: pingGroupRange(conf.pingGroupRange),
    ...(tapName !== undefined ? { tapName } : {}),
    ...(mtu !== undefined ? { mtu } : {}),
    owner,
    multiQueue: conf.multiQueue === true,
    stateDir,
    ...(logFile !== undefined ? { logFile } : {}),
    portMappings,
    ...(prevResult !== undefined ? { prevResult } : {}),
    ...(validAttachments !== undefined ? { validAttachments } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// What a binding does to the pod namespace, and the result

/** The sysctls every binding sets in the pod namespace (KubeVirt's passt-binding plugin). */
export function bindingSysctls(conf: BinderyNetConf): Array<[string, string]> {
  return [
    ['net.ipv4.ip_unprivileged_port_start', '0'],
    ['net.ipv4.ping_group_range', conf.pingGroupRange],
  ];
}

/** The tap bindery-cni creates for the request, if the binding makes one. */
export function tapToCreate(conf: BinderyNetConf, ifname: string): string | undefined {
  if (conf.binding !== 'tap') return undefined;
  return conf.tapName ?? kubevirtTapName(ifname);
}

/**
 * The ADD result: prevResult (or an empty result) in the request's version, plus the tap.
 * @param conf - the configuration (its cniVersion and prevResult)
 * @param tap - the tap made in the pod namespace, if any
 * @returns the result to print
 */
export function addResult(
  conf: BinderyNetConf,
  tap?: { name: string; mac: string; sandbox: string; mtu?: number },
): CniResult {
  const prev = conf.prevResult ?? {};
  const out: CniResult = { ...prev, cniVersion: conf.cniVersion };
  if (tap !== undefined) {
    const ifc: Record<string, unknown> = { name: tap.name, mac: tap.mac, sandbox: tap.sandbox };
    if (tap.mtu !== undefined && conf.cniVersion === '1.1.0') ifc.mtu = tap.mtu;
    out.interfaces = [...(prev.interfaces ?? []), ifc];
  }
  return out;
}

/** The file name of the state of one attachment under the state dir. */
export function stateFileName(containerId: string, ifname: string): string {
  return `${containerId}-${ifname}.json`;
}
