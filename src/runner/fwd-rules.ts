// `bindery fwd-rules up|down`: installs (privileged) the all-ports table in a pod namespace and the marker the translator reads.
import { mkdir, rm, stat, writeFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { nsenterExec, type NetnsExec } from '../podnet/exec.js';
import {
  FWD_DEFAULT_TCP_PORT,
  FWD_DEFAULT_UDP_PORT,
  FWD_V6_NET,
  renderFwdRules,
  renderFwdRulesDown,
} from '../render/fwd-rules.js';
import { parseEphemeralRange, type PortSpec } from '../usernet/fwd/portspec.js';
import { FWD_MARKER_DIR, markerName, type FwdMarker } from '../usernet/fwd/redirect.js';

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
  if (up.udp.length > 0) {
    await x.run(['sysctl', '-q', '-w', 'net.ipv4.conf.all.route_localnet=1']);
    // No IPv6 in the namespace: the IPv4 half still works.
    await x.tryRun(['ip', '-6', 'route', 'replace', 'local', `${FWD_V6_NET}/112`, 'dev', 'lo', 'table', 'local']);
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
  const path = await markerPath(up.netns, up.dir);
  await mkdir(join(path, '..'), { recursive: true });
  await writeFile(`${path}.tmp`, JSON.stringify(marker) + '\n');
  const { rename } = await import('node:fs/promises');
  await rename(`${path}.tmp`, path);
  return path;
}

/** Removes the table, the IPv6 route and the marker (what is already gone is fine). */
export async function fwdRulesDown(netns: string, dir?: string, ex?: NetnsExec): Promise<void> {
  const x = ex ?? nsenterExec(netnsPath(netns));
  const path = await markerPath(netns, dir).catch(() => undefined);
  await x.run(['nft', '-f', '-'], renderFwdRulesDown());
  await x.tryRun(['ip', '-6', 'route', 'del', 'local', `${FWD_V6_NET}/112`, 'dev', 'lo', 'table', 'local']);
  if (path !== undefined) await rm(path, { force: true });
}

/** The marker text of the namespace this process runs in, if an installer left one. */
export async function readOwnMarker(
  env: Readonly<Record<string, string | undefined>>,
): Promise<string | undefined> {
  try {
    const st = await stat('/proc/self/ns/net', { bigint: true });
    return await readFile(join(env['BINDERY_FWD_DIR'] ?? FWD_MARKER_DIR, markerName(st.ino)), 'utf8');
  } catch {
    return undefined;
  }
}
