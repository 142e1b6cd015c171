// passt's port-forwarding spec grammar (-t/-u): parsing into rules and resolving to a port map.
//
// Grammar (passt(1), the classic form libvirt and KubeVirt emit):
//   SPEC   := "none" | "all"[":"TOADDR] | [ADDR][%IFACE]/ "all"[":"TOADDR] | [ADDR][%IFACE/] PORTS
//   PORTS  := ITEM ("," ITEM)*
//   ITEM   := FIRST["-"LAST][":"[TOADDR"/"]TOFIRST["-"TOLAST]] | "~"FIRST["-"LAST]
// The target address (TOADDR, upstream passt since 2026-07: `-t 0.0.0.0/5000:192.0.2.5/6000`,
// `-t 127.0.0.6/all:192.0.2.6`) names the guest-side address inbound flows go to instead of the
// address the guest is seen using.
// Rules from passt: excludes win over includes; a spec made only of excludes means "all
// non-ephemeral ports minus those"; "all" means every non-ephemeral port; a mapped range must
// have the same length as its source range. The ephemeral range is an input (it comes from
// /proc/sys/net/ipv4/ip_local_port_range on the host; passt falls back to 49152-65535).

import { isIP } from 'node:net';

/** One forwarded source range and where it lands in the guest. */
export interface PortRange {
  readonly first: number;
  readonly last: number;
  /** Guest port for `first`; the rest of the range follows in order. */
  readonly toFirst: number;
  /** Guest-side address to forward to (target-address rule), if any. */
  readonly toAddr?: string;
}

/** One parsed -t/-u argument. */
export interface PortSpec {
  /** 'none' forwards nothing; 'ports' forwards `ranges` minus `excludes`; 'all' every non-ephemeral port minus `excludes`. */
  readonly mode: 'none' | 'all' | 'ports';
  /** Host address to bind, as written (IPv4 or IPv6 text), if any. */
  readonly addr?: string;
  /** Host interface to bind to (SO_BINDTODEVICE), if any. */
  readonly iface?: string;
  readonly ranges: readonly PortRange[];
  readonly excludes: ReadonlyArray<{ readonly first: number; readonly last: number }>;
  /** 'all' with a target address (`all:TOADDR`): where every port of the spec goes. */
  readonly toAddr?: string;
}

/** The ephemeral port range excluded from "all". */
export interface EphemeralRange {
  readonly first: number;
  readonly last: number;
}

/** passt's fallback when /proc cannot be read (fwd_rule.c: 2^15 + 2^14). */
export const DEFAULT_EPHEMERAL: EphemeralRange = { first: 49152, last: 65535 };

/** A parse result: the spec, or a one-line reason. */
export type PortSpecResult = { ok: true; spec: PortSpec } | { ok: false; error: string };

function parsePort(s: string): number | undefined {
  if (!/^\d{1,5}$/.test(s)) return undefined;
  const n = Number(s);
  return n >= 1 && n <= 65535 ? n : undefined;
}

function parseRange(s: string): { first: number; last: number } | undefined {
  const dash = s.indexOf('-');
  const first = parsePort(dash < 0 ? s : s.slice(0, dash));
  const last = dash < 0 ? first : parsePort(s.slice(dash + 1));
  if (first === undefined || last === undefined || last < first) return undefined;
  return { first, last };
}

/**
 * Parses one -t/-u argument. Never throws; malformed specs give a one-line reason naming the
 * offending part, in the spirit of passt's "Invalid port specifier" errors.
 */
export function parsePortSpec(text: string): PortSpecResult {
  const fail = (why: string): PortSpecResult => ({
    ok: false,
    error: `invalid port specifier '${text}': ${why}`,
  });
  if (text === 'none') return { ok: true, spec: { mode: 'none', ranges: [], excludes: [] } };
  let rest = text;
  let addr: string | undefined;
  let iface: string | undefined;
  // The bind part ends at the first '/' when what precedes it is empty, an address and/or
  // %iface; otherwise the '/' belongs to a target address. "5000:2001:db8::1/6000" reads as a
  // bind address (the classic grammar): an IPv6 target after bare ports needs "/" in front.
  const slash = rest.indexOf('/');
  const head = slash >= 0 ? rest.slice(0, slash) : '';
  if (slash >= 0 && (head === '' || head.includes('%') || isIpText(head))) {
    const bind = rest.slice(0, slash);
    rest = rest.slice(slash + 1);
    const pct = bind.indexOf('%');
    const a = pct >= 0 ? bind.slice(0, pct) : bind;
    const i = pct >= 0 ? bind.slice(pct + 1) : undefined;
    if (a !== '') {
      if (!isIpText(a)) return fail(`'${a}' is not an IP address`);
      addr = a;
    }
    if (i !== undefined) {
      if (!/^[^\s/%]{1,15}$/.test(i)) return fail(`'${i}' is not an interface name`);
      iface = i;
    }
  }
  if (rest === 'all' || rest.startsWith('all:')) {
    const to = rest === 'all' ? undefined : rest.slice(4);
    if (to !== undefined && !isIpText(to)) return fail(`'${to}' is not a target address`);
    return {
      ok: true,
      spec: {
        mode: 'all',
        ranges: [],
        excludes: [],
        ...(addr !== undefined && { addr }),
        ...(iface !== undefined && { iface }),
        ...(to !== undefined && { toAddr: to }),
      },
    };
  }
  if (rest === '') return fail('no ports');
  const ranges: PortRange[] = [];
  const excludes: Array<{ first: number; last: number }> = [];
  for (const item of rest.split(',')) {
    if (item.startsWith('~')) {
      const r = parseRange(item.slice(1));
      if (!r) return fail(`bad excluded range '${item}'`);
      excludes.push(r);
      continue;
    }
    const colon = item.indexOf(':');
    const src = parseRange(colon < 0 ? item : item.slice(0, colon));
    if (!src) return fail(`bad range '${item}'`);
    let toFirst = src.first;
    let toAddr: string | undefined;
    if (colon >= 0) {
      let target = item.slice(colon + 1);
      const tslash = target.lastIndexOf('/');
      if (tslash >= 0) {
        toAddr = target.slice(0, tslash);
        if (!isIpText(toAddr)) return fail(`'${toAddr}' is not a target address`);
        target = target.slice(tslash + 1);
      }
      const dst = parseRange(target);
      if (!dst) return fail(`bad target range '${item}'`);
      const wantLen = src.last - src.first;
      const dash = target.includes('-');
      if (dash && dst.last - dst.first !== wantLen)
        return fail(`ranges of different length in '${item}'`);
      if (dst.first + wantLen > 65535) return fail(`target range past 65535 in '${item}'`);
      toFirst = dst.first;
    }
    ranges.push({
      first: src.first,
      last: src.last,
      toFirst,
      ...(toAddr !== undefined && { toAddr }),
    });
  }
  const mode = ranges.length === 0 ? 'all' : 'ports';
  return {
    ok: true,
    spec: {
      mode,
      ranges,
      excludes,
      ...(addr !== undefined && { addr }),
      ...(iface !== undefined && { iface }),
    },
  };
}

function isIpText(s: string): boolean {
  return isIP(s) !== 0;
}

/** A test of a spec's excludes, from a mask built once (no allocation per port). */
function exclusionTest(spec: PortSpec): (p: number) => boolean {
  if (spec.excludes.length === 0) return () => false;
  const mask = new Uint8Array(65536);
  for (const e of spec.excludes) mask.fill(1, e.first, e.last + 1);
  return (p) => mask[p] === 1;
}

/**
 * Resolves specs into a table: entry `p` is the guest port for host port `p`, or 0 when `p`
 * is not forwarded. Later specs override earlier ones for the same port; excludes of a spec
 * apply to that spec's own includes ("all" included).
 */
export function resolvePortMap(
  specs: readonly PortSpec[],
  ephemeral: EphemeralRange = DEFAULT_EPHEMERAL,
): Uint16Array {
  const map = new Uint16Array(65536);
  for (const spec of specs) {
    if (spec.mode === 'none') continue;
    const excluded = exclusionTest(spec);
    if (spec.mode === 'all') {
      for (let p = 1; p <= 65535; p++) {
        if (p >= ephemeral.first && p <= ephemeral.last) continue;
        if (!excluded(p)) map[p] = p;
      }
      continue;
    }
    for (const r of spec.ranges) {
      for (let p = r.first; p <= r.last; p++) if (!excluded(p)) map[p] = r.toFirst + (p - r.first);
    }
  }
  return map;
}

/**
 * Resolves the target-address rules of specs: host port → guest-side address, for the ports
 * whose forward names one (same precedence as resolvePortMap: later specs win, excludes apply).
 */
export function resolveTargetAddrs(
  specs: readonly PortSpec[],
  ephemeral: EphemeralRange = DEFAULT_EPHEMERAL,
): Map<number, string> {
  const out = new Map<number, string>();
  const map = resolvePortMap(specs, ephemeral);
  for (const spec of specs) {
    if (spec.mode === 'none') continue;
    const excluded = exclusionTest(spec);
    const set = (p: number, to: string | undefined) => {
      if (excluded(p) || map[p] === 0) return;
      if (to !== undefined) out.set(p, to);
      else out.delete(p);
    };
    if (spec.mode === 'all') {
      for (let p = 1; p <= 65535; p++)
        if (p < ephemeral.first || p > ephemeral.last) set(p, spec.toAddr);
      continue;
    }
    for (const r of spec.ranges) for (let p = r.first; p <= r.last; p++) set(p, r.toAddr);
  }
  return out;
}

/** Reads "first last" as in /proc/sys/net/ipv4/ip_local_port_range; the default when malformed. */
export function parseEphemeralRange(text: string): EphemeralRange {
  const m = /^\s*(\d+)\s+(\d+)\s*$/.exec(text);
  if (!m) return DEFAULT_EPHEMERAL;
  const first = Number(m[1]);
  const last = Number(m[2]);
  if (first < 1 || last > 65535 || last < first) return DEFAULT_EPHEMERAL;
  return { first, last };
}

/** The text of a spec in passt's grammar (parsePortSpec reads it back to the same spec). */
export function formatPortSpec(spec: PortSpec): string {
  if (spec.mode === 'none') return 'none';
  const bind =
    spec.addr !== undefined || spec.iface !== undefined
      ? `${spec.addr ?? ''}${spec.iface !== undefined ? `%${spec.iface}` : ''}/`
      : spec.ranges.some((r) => r.toAddr !== undefined)
        ? '/' // an empty bind part, so a target address's '/' is not read as one
        : '';
  const range = (a: number, b: number) => (a === b ? `${a}` : `${a}-${b}`);
  const items = spec.ranges.map((r) => {
    const src = range(r.first, r.last);
    if (r.toFirst === r.first && r.toAddr === undefined) return src;
    const to = range(r.toFirst, r.toFirst + (r.last - r.first));
    return `${src}:${r.toAddr !== undefined ? `${r.toAddr}/` : ''}${to}`;
  });
  const ex = spec.excludes.map((e) => `~${range(e.first, e.last)}`);
  if (spec.mode === 'all') {
    if (ex.length > 0 && spec.toAddr === undefined) return `${bind}${ex.join(',')}`;
    return `${bind}all${spec.toAddr !== undefined ? `:${spec.toAddr}` : ''}`;
  }
  return `${bind}${[...items, ...ex].join(',')}`;
}
