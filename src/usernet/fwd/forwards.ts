// A protocol's forwarding state as the translator applies it: per-port sockets to hold, and the lookup for steered (all-ports) traffic (pure).
//
// planForwards turns the -t or -u specs (grouped by bind address as passt binds them) into
//   - perPort: the sockets to keep open, one per (bind address, port), leaving out the ports
//     the pod's all-ports rule already steers to the translator's shared sockets (`covered`);
//   - lookup(addr, port): where a steered connection or datagram goes, by the destination the
//     client used (its address picks a bind group, falling back to the wildcard group).
// The translator reconciles its open sockets against perPort whenever the specs change
// (start, or `forwards.add/delete/clear` on the control socket), so the same code serves both.
import { isIP } from 'node:net';
import {
  resolvePortMap,
  resolveTargetAddrs,
  type EphemeralRange,
  type PortSpec,
} from './portspec.js';

/** One forwarded (bind address, port) and where it goes in the guest. */
export interface Forward {
  /** The bind address as written (undefined: every address, both families). */
  readonly addr: string | undefined;
  readonly port: number;
  readonly guestPort: number;
  /** Guest-side address from a target-address rule. */
  readonly toAddr?: string;
}

/** The result of planForwards. */
export interface ForwardPlan {
  /** Per-port sockets to hold, by forwardKey. */
  readonly perPort: ReadonlyMap<string, Forward>;
  /** Where steered traffic to (addr, port) goes, or undefined when that port is not forwarded. */
  lookup(addr: string, port: number): Forward | undefined;
  /** How many ports are forwarded in all (steered or not). */
  readonly ports: number;
}

/** The key of a per-port socket. */
export function forwardKey(f: Pick<Forward, 'addr' | 'port'>): string {
  return `${f.addr ?? '*'}|${f.port}`;
}

const isWildcard = (a: string | undefined) => a === undefined || a === '0.0.0.0' || a === '::';

/**
 * Plans a protocol's forwards.
 *
 * @param specs - the -t or -u specs in order (later ones win per port within a bind address)
 * @param ephemeral - the ephemeral range ("all" leaves it out)
 * @param covered - ports the all-ports rule steers (entry ≠ 0), if it is installed
 */
export function planForwards(
  specs: readonly PortSpec[],
  ephemeral: EphemeralRange,
  covered?: Uint16Array,
): ForwardPlan {
  const groups = new Map<string | undefined, PortSpec[]>();
  for (const s of specs) {
    if (s.mode === 'none') continue;
    groups.set(s.addr, [...(groups.get(s.addr) ?? []), s]);
  }
  const resolved = new Map<
    string | undefined,
    { map: Uint16Array; to: Map<number, string>; addr: string | undefined }
  >();
  const perPort = new Map<string, Forward>();
  let ports = 0;
  for (const [addr, g] of groups) {
    const map = resolvePortMap(g, ephemeral);
    const to = resolveTargetAddrs(g, ephemeral);
    resolved.set(addr, { map, to, addr });
    for (let p = 1; p < 65536; p++) {
      const gp = map[p]!;
      if (gp === 0) continue;
      ports++;
      if (covered !== undefined && covered[p] !== 0) continue;
      const t = to.get(p);
      const f: Forward = { addr, port: p, guestPort: gp, ...(t !== undefined && { toAddr: t }) };
      perPort.set(forwardKey(f), f);
    }
  }
  const wild = [...resolved.values()].filter((r) => isWildcard(r.addr));
  const lookup = (addr: string, port: number): Forward | undefined => {
    const fam = isIP(addr);
    const exact = resolved.get(addr);
    const cands = [
      ...(exact ? [exact] : []),
      ...wild.filter((w) => w.addr === undefined || (w.addr === '0.0.0.0' ? fam === 4 : fam === 6)),
    ];
    for (const r of cands) {
      const gp = r.map[port] ?? 0;
      if (gp === 0) continue;
      const t = r.to.get(port);
      return { addr: r.addr, port, guestPort: gp, ...(t !== undefined && { toAddr: t }) };
    }
    return undefined;
  };
  return { perPort, lookup, ports };
}

/**
 * Marks the guest-side ports that the forwards target (shard/route.ts's InboundPorts):
 * `into[guestPort]` = 1 for -t, `into[65536 + guestPort]` = 1 for -u, every other byte 0.
 */
export function markInboundPorts(
  tcp: readonly PortSpec[],
  udp: readonly PortSpec[],
  ephemeral: EphemeralRange,
  into: Uint8Array,
): void {
  const mark = new Uint8Array(65536);
  for (const [specs, offset] of [
    [tcp, 0],
    [udp, 65536],
  ] as const) {
    mark.fill(0);
    const groups = new Map<string | undefined, PortSpec[]>();
    for (const s of specs) {
      if (s.mode === 'none') continue;
      groups.set(s.addr, [...(groups.get(s.addr) ?? []), s]);
    }
    for (const g of groups.values()) {
      const map = resolvePortMap(g, ephemeral);
      for (let p = 1; p < 65536; p++) if (map[p]! !== 0) mark[map[p]!] = 1;
    }
    into.set(mark, offset);
  }
}
