// What the translator learns from the pod: routes, addresses and resolvers, parsed from /proc and /etc text.
//
// The parsers are pure (text in, data out); `readHostInfo()` is the one I/O edge that reads the
// files and os.networkInterfaces(). passt reads the same facts through netlink (conf.c); the
// /proc tables carry what it needs: the interface of the default route and its gateway.
import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';

/** A default route: the interface it leaves through and its gateway (undefined for on-link). */
export interface DefaultRoute {
  readonly iface: string;
  readonly gateway: string | undefined;
  readonly metric: number;
}

/** One address of an interface. */
export interface IfAddr {
  readonly family: 4 | 6;
  readonly address: string;
  readonly prefixLen: number;
  /** Link-local (169.254/16, fe80::/10) addresses are never handed to the guest. */
  readonly linkLocal: boolean;
}

/** Everything the translator needs from the host side. */
export interface HostInfo {
  readonly routes4: readonly DefaultRoute[];
  readonly routes6: readonly DefaultRoute[];
  readonly addrs: ReadonlyMap<string, readonly IfAddr[]>;
  readonly mtus: ReadonlyMap<string, number>;
  readonly nameservers: readonly string[];
  readonly search: readonly string[];
}

/** Default routes from /proc/net/route (IPv4; fields are little-endian hex), lowest metric first. */
export function parseProcRoute(text: string): DefaultRoute[] {
  const out: DefaultRoute[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    const [iface, dest, gw, flags, , , metric, mask] = f;
    if (dest !== '00000000' || mask !== '00000000') continue;
    const fl = parseInt(flags!, 16);
    if (!(fl & 0x1)) continue; // RTF_UP
    const g = parseInt(gw!, 16) >>> 0;
    const gateway =
      fl & 0x2 && g !== 0
        ? `${g & 0xff}.${(g >>> 8) & 0xff}.${(g >>> 16) & 0xff}.${g >>> 24}`
        : undefined;
    out.push({ iface: iface!, gateway, metric: Number(metric) });
  }
  return out.sort((a, b) => a.metric - b.metric);
}

/** Default routes from /proc/net/ipv6_route (::/0 entries that are not unreachable), lowest metric first. */
export function parseProcIpv6Route(text: string): DefaultRoute[] {
  const out: DefaultRoute[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    const [dest, destLen, , , nextHop, metric, , , flags, iface] = f;
    if (dest !== '0'.repeat(32) || destLen !== '00') continue;
    const fl = parseInt(flags!, 16);
    if (!(fl & 0x1) || fl & 0x200 || iface === 'lo') continue; // RTF_UP, not RTF_REJECT
    const gateway = nextHop === '0'.repeat(32) ? undefined : hex32ToIpv6(nextHop!);
    out.push({ iface: iface!, gateway, metric: parseInt(metric!, 16) });
  }
  return out.sort((a, b) => a.metric - b.metric);
}

function hex32ToIpv6(h: string): string {
  const words: string[] = [];
  for (let i = 0; i < 32; i += 4) words.push(parseInt(h.slice(i, i + 4), 16).toString(16));
  // compress the longest run of zero words (RFC 5952)
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && words[j] === '0') j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j === i ? i + 1 : j;
  }
  if (best < 0) return words.join(':');
  return `${words.slice(0, best).join(':')}::${words.slice(best + bestLen).join(':')}`;
}

/** Nameservers and search domains from resolv.conf text (resolv.conf(5)); the last `search`/`domain` wins. */
export function parseResolvConf(text: string): { nameservers: string[]; search: string[] } {
  const nameservers: string[] = [];
  let search: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    const [key, ...vals] = line.split(/\s+/);
    if (key === 'nameserver' && vals[0]) nameservers.push(vals[0].replace(/%.*$/, ''));
    else if ((key === 'search' || key === 'domain') && vals.length > 0) search = vals;
  }
  return { nameservers, search };
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** Reads the host facts of the current network namespace. */
export function readHostInfo(resolvConfPath = '/etc/resolv.conf'): HostInfo {
  const addrs = new Map<string, IfAddr[]>();
  const mtus = new Map<string, number>();
  for (const [name, list] of Object.entries(networkInterfaces())) {
    const out: IfAddr[] = [];
    for (const a of list ?? []) {
      const family = a.family === 'IPv4' ? 4 : 6;
      const prefixLen = Number((a.cidr ?? '/0').split('/')[1]);
      const linkLocal =
        family === 4 ? a.address.startsWith('169.254.') : /^fe[89ab]/i.test(a.address);
      out.push({ family, address: a.address.replace(/%.*$/, ''), prefixLen, linkLocal });
    }
    addrs.set(name, out);
    const mtu = Number(readText(`/sys/class/net/${name}/mtu`).trim());
    if (mtu > 0) mtus.set(name, mtu);
  }
  const { nameservers, search } = parseResolvConf(readText(resolvConfPath));
  return {
    routes4: parseProcRoute(readText('/proc/net/route')),
    routes6: parseProcIpv6Route(readText('/proc/net/ipv6_route')),
    addrs,
    mtus,
    nameservers,
    search,
  };
}
