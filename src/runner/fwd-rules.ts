// `bindery fwd-rules up|down`: installs (privileged) the all-ports table in a pod namespace and the marker the translator reads.
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { nsenterExec, type NetnsExec } from '../podnet/exec.js';
import {
  FWD_DEFAULT_TCP_PORT,
  FWD_DEFAULT_UDP_PORT,
  FWD_V6_NET,
  renderFwdRules,
  renderFwdRulesDown,
} from '../render/fwd-rules.js';
import {
  DEFAULT_EPHEMERAL,
  parseEphemeralRange,
  parsePortSpec,
  resolvePortMap,
  type PortSpec,
} from '../usernet/fwd/portspec.js';
import {
  FWD_DIR_ENV,
  FWD_MARKER_DIR,
  markerName,
  type FwdMarker,
} from '../usernet/fwd/redirect.js';

/** Forwarded ports of one protocol above which `bindery up` installs the all-ports rule. */
export const ALL_PORTS_THRESHOLD = 256;

/** What `fwd-rules up` installs. */
export interface FwdRulesUp {
  /** The namespace: a path, or a name under /run/netns. */
  readonly netns: string;
  readonly tcp: ReadonlyArray<{ text: string; spec: PortSpec }>;
  readonly udp: ReadonlyArray<{ text: string; spec: PortSpec }>;
  readonly tcpPort?: number;
  readonly udpPort?: number;
  /** Marker directory (default FWD_MARKER_DIR). */
  readonly dir?: string;
}

/** The namespace path for a name or a path. */
export function netnsPath(netns: string): string {
  return netns.includes('/') ? netns : `/run/netns/${netns}`;
}

async function markerPath(netns: string, dir: string | undefined): Promise<string> {
  const st = await stat(netnsPath(netns), { bigint: true });
  return join(dir ?? FWD_MARKER_DIR, markerName(st.ino));
}

/**
 * Installs the table (replacing an older one), the IPv6 local route and route_localnet it needs,
 * then writes the marker.
 *
 * @returns the marker path
 * @throws BinderyError (PodNet) when a command fails
 */
export async function fwdRulesUp(up: FwdRulesUp, ex?: NetnsExec): Promise<string> {
  const x = ex ?? nsenterExec(netnsPath(up.netns));
  const ephemeral = parseEphemeralRange(
    (await x.tryRun(['cat', '/proc/sys/net/ipv4/ip_local_port_range'])).stdout,
  );
  const tcpPort = up.tcp.length > 0 ? (up.tcpPort ?? FWD_DEFAULT_TCP_PORT) : 0;
  const udpPort = up.udp.length > 0 ? (up.udpPort ?? FWD_DEFAULT_UDP_PORT) : 0;
  // Always on: it lets UDP be DNATed to 127.1/16 (the guard chain keeps 127/8 from outside
  // out), and it is how the translator tells its marker from a stale one (readOwnMarker).
  await x.run(['sysctl', '-q', '-w', 'net.ipv4.conf.all.route_localnet=1']);
  if (up.udp.length > 0) {
    // No IPv6 in the namespace: the IPv4 half still works.
    await x.tryRun([
      'ip',
      '-6',
      'route',
      'replace',
      'local',
      `${FWD_V6_NET}/112`,
      'dev',
      'lo',
      'table',
      'local',
    ]);
  }
  const script = renderFwdRules({
    tcp: up.tcp.map((t) => t.spec),
    udp: up.udp.map((t) => t.spec),
    ephemeral,
    tcpPort,
    udpPort,
  });
  await x.run(['nft', '-f', '-'], script);
  const marker: FwdMarker = {
    version: 1,
    tcpPort,
    udpPort,
    tcp: up.tcp.map((t) => t.text),
    udp: up.udp.map((t) => t.text),
    ephemeral,
  };
  // The marker travels with the namespace as lo's alias when it fits (IFALIASZ): a translator
  // in another mount namespace (a container) finds it there; the file is for longer ones.
  const text = JSON.stringify(marker);
  await x.run(['ip', 'link', 'set', 'dev', 'lo', 'alias', text.length <= MAX_ALIAS ? text : '']);
  const path = await markerPath(up.netns, up.dir);
  await mkdir(join(path, '..'), { recursive: true });
  await writeFile(`${path}.tmp`, JSON.stringify(marker) + '\n');
  await rename(`${path}.tmp`, path);
  return path;
}

/** Removes the table, the IPv6 route and the marker (what is already gone is fine). */
export async function fwdRulesDown(netns: string, dir?: string, ex?: NetnsExec): Promise<void> {
  const x = ex ?? nsenterExec(netnsPath(netns));
  const path = await markerPath(netns, dir).catch(() => undefined);
  await x.run(['nft', '-f', '-'], renderFwdRulesDown());
  await x.tryRun(['ip', 'link', 'set', 'dev', 'lo', 'alias', '']);
  await x.tryRun([
    'ip',
    '-6',
    'route',
    'del',
    'local',
    `${FWD_V6_NET}/112`,
    'dev',
    'lo',
    'table',
    'local',
  ]);
  if (path !== undefined) await rm(path, { force: true });
}

/**
 * `fwd-rules up` from passt-style arguments (`-t SPEC -u SPEC …`).
 *
 * Only when a protocol forwards more than ALL_PORTS_THRESHOLD ports (`all`, wide ranges); specs
 * that do not parse are left out (the translator reports them when it starts).
 *
 * @returns the marker path, or undefined when no rule was needed
 */
export async function fwdRulesUpArgs(
  netns: string,
  args: readonly string[],
): Promise<string | undefined> {
  const tcp: Array<{ text: string; spec: PortSpec }> = [];
  const udp: Array<{ text: string; spec: PortSpec }> = [];
  for (let i = 0; i + 1 < args.length; i += 2) {
    const r = parsePortSpec(args[i + 1]!);
    if (!r.ok || r.spec.mode === 'none') continue;
    if (args[i] === '-t') tcp.push({ text: args[i + 1]!, spec: r.spec });
    if (args[i] === '-u') udp.push({ text: args[i + 1]!, spec: r.spec });
  }
  // A few ports are as well served by their own sockets; the rule is for the many.
  const many = (xs: typeof tcp) =>
    resolvePortMap(
      xs.map((x) => x.spec),
      DEFAULT_EPHEMERAL,
    ).reduce((n, v) => n + (v !== 0 ? 1 : 0), 0) > ALL_PORTS_THRESHOLD;
  if (!many(tcp) && !many(udp)) return undefined;
  return fwdRulesUp({ netns, tcp, udp });
}

/** Longest alias of a link (IFALIASZ − 1). */
const MAX_ALIAS = 255;

/**
 * The marker text of the namespace this process runs in, if an installer left one there: lo's
 * alias (read through this namespace's sysfs), else the file named after /proc/self/ns/net's
 * inode, trusted only while route_localnet is on in this namespace (the installer turns it on;
 * a new namespace that reuses a dead one's inode has it off), so a marker that outlived its
 * namespace is not taken for a rule.
 */
export async function readOwnMarker(
  env: Readonly<Record<string, string | undefined>>,
): Promise<string | undefined> {
  const alias = await readFile('/sys/class/net/lo/ifalias', 'utf8').catch(() => '');
  if (alias.trim().startsWith('{')) return alias.trim();
  try {
    const on = await readFile('/proc/sys/net/ipv4/conf/all/route_localnet', 'utf8');
    if (on.trim() !== '1') return undefined;
    const st = await stat('/proc/self/ns/net', { bigint: true });
    return await readFile(join(env[FWD_DIR_ENV] ?? FWD_MARKER_DIR, markerName(st.ino)), 'utf8');
  } catch {
    return undefined;
  }
}
