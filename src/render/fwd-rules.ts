// The pod-namespace nftables table that steers every forwarded port to one translator socket per family and protocol (nft -f text, pure).
//
// Theory of operation (issue 18 part 1; measured on Linux 6.18, see docs/all-ports.md):
// - TCP: `redirect to :LISTEN` for the forwarded ports (an interval set). The translator's one
//   listener per family accepts every such connection and reads the port the client asked for
//   with SO_ORIGINAL_DST / IP6T_SO_ORIGINAL_DST (no capability needed).
// - UDP: REDIRECT would lose the port (IP_RECVORIGDSTADDR reports the post-NAT address), so each
//   forwarded port P is DNATed to an address that encodes it, port LISTEN: 127.1.(P>>8).(P&255)
//   for IPv4 (127/8 is routed `local` already; DNAT to it from another interface needs
//   route_localnet, and the `guard` chain drops whatever arrives from outside for 127/8 before
//   NAT, as kube-proxy does), FWD_V6_NET::P in a /112 the installer routes `local` on lo for
//   IPv6. The translator's one socket per family reads that address (IP_PKTINFO /
//   IPV6_RECVPKTINFO) and answers from it, so conntrack matches the reply and restores the
//   address and port the client used. Every flow's reply tuple differs (the address encodes
//   the port), so one client port may talk to many forwarded ports at once.
// - Only new connections to local addresses (`fib daddr type local`) are steered: replies to
//   the translator's own outbound flows belong to existing conntrack entries and never reach
//   the NAT chain. Connections from inside the pod (output hook) are not steered.
import type { EphemeralRange, PortSpec } from '../usernet/fwd/portspec.js';
import { resolvePortMap } from '../usernet/fwd/portspec.js';
import { FWD_V6_NET, udpTargetAddr } from '../usernet/fwd/redirect.js';

export { FWD_V6_NET, udpTargetAddr, portOfUdpTarget } from '../usernet/fwd/redirect.js';

/** The table's name (family inet). */
export const FWD_TABLE = 'bindery_fwd';
/** Default listener ports of the all-ports sockets (outside the usual forwarded ranges). */
export const FWD_DEFAULT_TCP_PORT = 47998;
export const FWD_DEFAULT_UDP_PORT = 47998;

/** What the table forwards and where. */
export interface FwdRulesInput {
  readonly tcp: readonly PortSpec[];
  readonly udp: readonly PortSpec[];
  readonly ephemeral: EphemeralRange;
  /** The translator's all-ports TCP listener port (both families). */
  readonly tcpPort: number;
  /** The translator's all-ports UDP socket port (both families). */
  readonly udpPort: number;
}

/** Inclusive port ranges with a non-zero entry in `map`, merged. */
export function portRanges(map: Uint16Array): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let p = 1; p < 65536; p++) {
    if (map[p] === 0) continue;
    const last = out[out.length - 1];
    if (last && last[1] === p - 1) last[1] = p;
    else out.push([p, p]);
  }
  return out;
}

/** One bind group: specs sharing a bind address and interface. */
interface Group {
  readonly addr: string | undefined;
  readonly iface: string | undefined;
  readonly specs: PortSpec[];
}

function groups(specs: readonly PortSpec[]): Group[] {
  const out: Group[] = [];
  for (const s of specs) {
    if (s.mode === 'none') continue;
    const addr = s.addr === '0.0.0.0' || s.addr === '::' ? undefined : s.addr;
    let g = out.find((x) => x.addr === addr && x.iface === s.iface);
    if (!g) out.push((g = { addr, iface: s.iface, specs: [] }));
    g.specs.push(s);
  }
  return out;
}

const familyOf = (addr: string): 4 | 6 => (addr.includes(':') ? 6 : 4);

/** The families a group applies to: both, or its bind address's (wildcards 0.0.0.0/:: pick one). */
function families(g: Group, spec: PortSpec): Array<4 | 6> {
  if (g.addr !== undefined) return [familyOf(g.addr)];
  if (spec.addr === '0.0.0.0') return [4];
  return [4, 6];
}

function match(g: Group, family: 4 | 6): string {
  const parts = ['fib daddr type local'];
  if (g.iface !== undefined) parts.unshift(`iifname ${JSON.stringify(g.iface)}`);
  parts.push(family === 4 ? 'meta nfproto ipv4' : 'meta nfproto ipv6');
  if (g.addr !== undefined) parts.push(`${family === 4 ? 'ip' : 'ip6'} daddr ${g.addr}`);
  return parts.join(' ');
}

function rangeText(r: [number, number]): string {
  return r[0] === r[1] ? `${r[0]}` : `${r[0]}-${r[1]}`;
}

/**
 * The table as an `nft -f` script that replaces any previous one (add, delete, define).
 *
 * @param input - the -t/-u specs, the ephemeral range and the translator's listener ports
 * @returns the script text
 */
export function renderFwdRules(input: FwdRulesInput): string {
  const sets: string[] = [];
  const rules: string[] = [];
  groups(input.tcp).forEach((g, i) => {
    const ranges = portRanges(resolvePortMap(g.specs, input.ephemeral));
    if (ranges.length === 0) return;
    const fams = new Set(g.specs.flatMap((s) => families(g, s)));
    sets.push(
      `  set tcp_${i} { type inet_service; flags interval; elements = { ${ranges.map(rangeText).join(', ')} } }`,
    );
    for (const f of fams)
      rules.push(`    ${match(g, f)} tcp dport @tcp_${i} redirect to :${input.tcpPort}`);
  });
  groups(input.udp).forEach((g, i) => {
    const map = resolvePortMap(g.specs, input.ephemeral);
    const fams = new Set(g.specs.flatMap((s) => families(g, s)));
    for (const f of fams) {
      const elems: string[] = [];
      for (let p = 1; p < 65536; p++)
        if (map[p] !== 0) elems.push(`${p} : ${udpTargetAddr(f, p)} . ${input.udpPort}`);
      if (elems.length === 0) continue;
      const name = `udp${f}_${i}`;
      sets.push(
        `  map ${name} { type inet_service : ${f === 4 ? 'ipv4_addr' : 'ipv6_addr'} . inet_service; elements = { ${elems.join(', ')} } }`,
      );
      rules.push(
        `    ${match(g, f)} dnat ${f === 4 ? 'ip' : 'ip6'} addr . port to udp dport map @${name}`,
      );
    }
  });
  return [
    `# bindery fwd-rules: every forwarded port to one translator socket per family and protocol`,
    `add table inet ${FWD_TABLE}`,
    `delete table inet ${FWD_TABLE}`,
    `table inet ${FWD_TABLE} {`,
    ...sets,
    `  chain guard {`,
    `    type filter hook prerouting priority raw; policy accept;`,
    `    iifname != "lo" ip daddr 127.0.0.0/8 drop`,
    `    iifname != "lo" ip6 daddr ${FWD_V6_NET}/112 drop`,
    `  }`,
    `  chain steer {`,
    `    type nat hook prerouting priority dstnat; policy accept;`,
    ...rules,
    `  }`,
    `}`,
    '',
  ].join('\n');
}

/** The script that removes the table. */
export function renderFwdRulesDown(): string {
  return `add table inet ${FWD_TABLE}\ndelete table inet ${FWD_TABLE}\n`;
}
