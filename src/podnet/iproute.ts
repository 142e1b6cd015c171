// What pod-net reads from a namespace before touching it: a link's MAC, MTU, addresses and routes (iproute2 JSON), and the nft tables.
import { BinderyError, ErrorCode } from '../errors.js';
import type { NetnsExec } from './exec.js';

/** One address of a link as `ip -j addr` reports it. */
export interface LinkAddress {
  readonly family: 4 | 6;
  readonly local: string;
  readonly prefixLength: number;
  readonly scope: string;
}

/** One route through a link as `ip -j route` reports it (the fields pod-net replays). */
export interface LinkRoute {
  readonly family: 4 | 6;
  /** CIDR, or `default`. */
  readonly dst: string;
  readonly gateway?: string;
  readonly protocol?: string;
  readonly scope?: string;
  readonly metric?: number;
  readonly prefsrc?: string;
  readonly onlink: boolean;
}

/** A pod link before pod-net changed anything. */
export interface DiscoveredLink {
  readonly name: string;
  readonly mac: string;
  readonly mtu: number;
  readonly up: boolean;
  /** Global-scope addresses, IPv4 first, in the kernel's order. */
  readonly addresses: readonly LinkAddress[];
  /** Every route of the main table through the link, v4 then v6. */
  readonly routes: readonly LinkRoute[];
}

interface IpLinkJson {
  ifname?: string;
  address?: string;
  mtu?: number;
  flags?: string[];
  addr_info?: Array<{ family?: string; local?: string; prefixlen?: number; scope?: string }>;
}

interface IpRouteJson {
  dst?: string;
  gateway?: string;
  protocol?: string;
  scope?: string;
  metric?: number;
  prefsrc?: string;
  flags?: string[];
}

function parseJson<T>(text: string, what: string): T {
  try {
    return JSON.parse(text.trim() === '' ? '[]' : text) as T;
  } catch (e) {
    throw new BinderyError(ErrorCode.PodNet, `${what}: not iproute2 JSON`, { cause: e });
  }
}

/**
 * Parses `ip -j addr show dev X` into the link's facts (routes left empty).
 * @param text - the JSON
 * @returns the link, or undefined when the output names no link
 */
export function parseIpAddr(text: string): Omit<DiscoveredLink, 'routes'> | undefined {
  const links = parseJson<IpLinkJson[]>(text, 'ip -j addr');
  const l = links[0];
  if (!l?.ifname) return undefined;
  const addresses: LinkAddress[] = [];
  for (const a of l.addr_info ?? []) {
    if (a.scope !== 'global' || a.local === undefined || a.prefixlen === undefined) continue;
    if (a.family !== 'inet' && a.family !== 'inet6') continue;
    addresses.push({
      family: a.family === 'inet' ? 4 : 6,
      local: a.local,
      prefixLength: a.prefixlen,
      scope: a.scope,
    });
  }
  addresses.sort((a, b) => a.family - b.family);
  return {
    name: l.ifname,
    mac: l.address ?? '00:00:00:00:00:00',
    mtu: l.mtu ?? 1500,
    up: (l.flags ?? []).includes('UP'),
    addresses,
  };
}

/**
 * Parses `ip -j -4|-6 route show dev X`.
 * @param text - the JSON
 * @param family - which `-4`/`-6` produced it
 * @returns the routes
 */
export function parseIpRoutes(text: string, family: 4 | 6): LinkRoute[] {
  return parseJson<IpRouteJson[]>(text, 'ip -j route').flatMap((r) =>
    r.dst === undefined
      ? []
      : [
          {
            family,
            dst: r.dst,
            ...(r.gateway !== undefined ? { gateway: r.gateway } : {}),
            ...(r.protocol !== undefined ? { protocol: r.protocol } : {}),
            ...(r.scope !== undefined ? { scope: r.scope } : {}),
            ...(r.metric !== undefined ? { metric: r.metric } : {}),
            ...(r.prefsrc !== undefined ? { prefsrc: r.prefsrc } : {}),
            onlink: (r.flags ?? []).includes('onlink'),
          },
        ],
  );
}

/** The `ip route replace …` arguments that put `r` back on `dev` (kernel routes come back by themselves). */
export function routeArgs(r: LinkRoute, dev: string): string[] {
  return [
    `-${r.family}`,
    'route',
    'replace',
    r.dst,
    ...(r.gateway !== undefined ? ['via', r.gateway] : []),
    'dev',
    dev,
    ...(r.protocol !== undefined ? ['proto', r.protocol] : []),
    ...(r.scope !== undefined ? ['scope', r.scope] : []),
    ...(r.metric !== undefined ? ['metric', String(r.metric)] : []),
    ...(r.prefsrc !== undefined ? ['src', r.prefsrc] : []),
    ...(r.onlink ? ['onlink'] : []),
  ];
}

/** Every link name in the namespace. */
export async function listLinks(ex: NetnsExec): Promise<string[]> {
  const links = parseJson<IpLinkJson[]>(await ex.run(['ip', '-j', 'link', 'show']), 'ip -j link');
  return links.flatMap((l) => (l.ifname ? [l.ifname] : []));
}

/**
 * Reads a link's MAC, MTU, global addresses and routes; undefined when there is no such link.
 * @param ex - the namespace
 * @param name - the link
 * @returns the link, or undefined
 */
export async function discoverLink(
  ex: NetnsExec,
  name: string,
): Promise<DiscoveredLink | undefined> {
  const r = await ex.tryRun(['ip', '-j', 'addr', 'show', 'dev', name]);
  if (r.code !== 0) {
    if (/does not exist|Cannot find device/i.test(r.stderr)) return undefined;
    throw new BinderyError(ErrorCode.PodNet, `ip -j addr show dev ${name}: ${r.stderr.trim()}`);
  }
  const link = parseIpAddr(r.stdout);
  if (!link) return undefined;
  const v4 = parseIpRoutes(await ex.run(['ip', '-j', '-4', 'route', 'show', 'dev', name]), 4);
  const v6 = parseIpRoutes(await ex.run(['ip', '-j', '-6', 'route', 'show', 'dev', name]), 6);
  return { ...link, routes: [...v4, ...v6] };
}

/** The nft tables present, as `family name`. */
export async function listNftTables(ex: NetnsExec): Promise<string[]> {
  const out = parseJson<{ nftables?: Array<{ table?: { family?: string; name?: string } }> }>(
    await ex.run(['nft', '-j', 'list', 'tables']),
    'nft -j list tables',
  );
  return (out.nftables ?? []).flatMap((e) =>
    e.table ? [`${e.table.family ?? ''} ${e.table.name ?? ''}`] : [],
  );
}
