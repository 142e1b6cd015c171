// passt's port-forwarding spec grammar (-t/-u): parsing into rules and resolving to a port map.
//
// Grammar (passt(1), the classic form libvirt and KubeVirt emit):
//   SPEC   := "none" | "all" | [ADDR][%IFACE]/ "all" | [ADDR][%IFACE/] PORTS
//   PORTS  := ITEM ("," ITEM)*
//   ITEM   := FIRST["-"LAST][":"TOFIRST["-"TOLAST]] | "~"FIRST["-"LAST]
// Rules from passt: excludes win over includes; a spec made only of excludes means "all
// non-ephemeral ports minus those"; "all" means every non-ephemeral port; a mapped range must
// have the same length as its source range. The ephemeral range is an input (it comes from
// /proc/sys/net/ipv4/ip_local_port_range on the host; passt falls back to 49152-65535).

/** One forwarded source range and where it lands in the guest. */
export interface PortRange {
  readonly first: number;
  readonly last: number;
  /** Guest port for `first`; the rest of the range follows in order. */
  readonly toFirst: number;
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
  if (text === 'all') return { ok: true, spec: { mode: 'all', ranges: [], excludes: [] } };
  let rest = text;
  let addr: string | undefined;
  let iface: string | undefined;
  const slash = rest.lastIndexOf('/');
  if (slash >= 0) {
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
    if (rest === 'all') {
      return {
        ok: true,
        spec: {
          mode: 'all',
          ranges: [],
          excludes: [],
          ...(addr !== undefined && { addr }),
          ...(iface !== undefined && { iface }),
        },
      };
    }
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
    if (colon >= 0) {
      const dst = parseRange(item.slice(colon + 1));
      if (!dst) return fail(`bad target range '${item}'`);
      const wantLen = src.last - src.first;
      const dash = item.slice(colon + 1).includes('-');
      if (dash && dst.last - dst.first !== wantLen)
        return fail(`ranges of different length in '${item}'`);
      if (dst.first + wantLen > 65535) return fail(`target range past 65535 in '${item}'`);
      toFirst = dst.first;
    }
    ranges.push({ first: src.first, last: src.last, toFirst });
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
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(s)) return s.split('.').every((p) => Number(p) <= 255);
  return /^[0-9a-fA-F:.]+$/.test(s) && s.includes(':');
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
    const excluded = (p: number) => spec.excludes.some((e) => p >= e.first && p <= e.last);
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

/** Reads "first last" as in /proc/sys/net/ipv4/ip_local_port_range; the default when malformed. */
export function parseEphemeralRange(text: string): EphemeralRange {
  const m = /^\s*(\d+)\s+(\d+)\s*$/.exec(text);
  if (!m) return DEFAULT_EPHEMERAL;
  const first = Number(m[1]);
  const last = Number(m[2]);
  if (first < 1 || last > 65535 || last < first) return DEFAULT_EPHEMERAL;
  return { first, last };
}
