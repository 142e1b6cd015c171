// The all-ports marker: what `bindery fwd-rules up` installed in a pod namespace, as the translator reads it at start (pure).
//
// The installer (privileged) writes one JSON file per network namespace, named after the
// namespace's inode (`netns-INO.json` in FWD_MARKER_DIR, or $BINDERY_FWD_DIR); the translator
// (unprivileged) stats /proc/self/ns/net, reads its file and, for each protocol the rule steers,
// opens one socket per family instead of one per port. Ports the rule does not cover (a -t/-u the
// rule was not made for, or a forward added at run time) still get per-port sockets.
import { parsePortSpec, resolvePortMap, type EphemeralRange, type PortSpec } from './portspec.js';

/** The IPv6 /112 whose last 16 bits encode a forwarded UDP port. */
export const FWD_V6_NET = 'fd62:696e:6465:7279::';
/** The address a forwarded UDP port is DNATed to. */
export function udpTargetAddr(family: 4 | 6, port: number): string {
  if (family === 4) return `127.1.${port >> 8}.${port & 0xff}`;
  return `${FWD_V6_NET}${port.toString(16)}`;
}

/** The forwarded port an all-ports UDP datagram was sent to, from its (post-DNAT) address. */
export function portOfUdpTarget(family: 4 | 6, addr: string): number | undefined {
  if (family === 4) {
    const m = /^127\.1\.(\d{1,3})\.(\d{1,3})$/.exec(addr);
    if (!m) return undefined;
    const p = (Number(m[1]) << 8) | Number(m[2]);
    return Number(m[1]) <= 255 && Number(m[2]) <= 255 && p > 0 ? p : undefined;
  }
  if (!addr.toLowerCase().startsWith(FWD_V6_NET)) return undefined;
  const tail = addr.slice(FWD_V6_NET.length);
  if (!/^[0-9a-f]{1,4}$/i.test(tail)) return undefined;
  const p = parseInt(tail, 16);
  return p > 0 ? p : undefined;
}

/** Where markers live unless $BINDERY_FWD_DIR says otherwise. */
export const FWD_MARKER_DIR = '/run/bindery/fwd';
/** The environment variable that moves the marker directory (tests). */
export const FWD_DIR_ENV = 'BINDERY_FWD_DIR';

/** What the installer records. */
export interface FwdMarker {
  readonly version: 1;
  /** The all-ports listener ports (0: that protocol is not steered). */
  readonly tcpPort: number;
  readonly udpPort: number;
  /** The -t and -u specs the rule was rendered from, as text. */
  readonly tcp: readonly string[];
  readonly udp: readonly string[];
  readonly ephemeral: EphemeralRange;
}

/** The marker's file name for a namespace inode. */
export function markerName(netnsIno: number | bigint): string {
  return `netns-${netnsIno}.json`;
}

/** Parses a marker file; a one-line reason when it is not one. */
export function parseMarker(text: string): FwdMarker | string {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    return `not JSON: ${(e as Error).message}`;
  }
  const o = v as Partial<Record<keyof FwdMarker, unknown>>;
  const port = (x: unknown) => typeof x === 'number' && Number.isInteger(x) && x >= 0 && x < 65536;
  const strs = (x: unknown) => Array.isArray(x) && x.every((s) => typeof s === 'string');
  const eph = o.ephemeral as Partial<EphemeralRange> | undefined;
  if (typeof o !== 'object' || o === null || o.version !== 1) return 'unknown marker version';
  if (!port(o.tcpPort) || !port(o.udpPort)) return 'bad listener port';
  if (!strs(o.tcp) || !strs(o.udp)) return 'bad spec list';
  if (!eph || !port(eph.first) || !port(eph.last)) return 'bad ephemeral range';
  for (const t of [...(o.tcp as string[]), ...(o.udp as string[])])
    if (!parsePortSpec(t).ok) return `bad spec '${t}'`;
  return o as FwdMarker;
}

/** Parses spec texts already validated by parseMarker. */
export function markerSpecs(texts: readonly string[]): PortSpec[] {
  return texts.flatMap((t) => {
    const r = parsePortSpec(t);
    return r.ok ? [r.spec] : [];
  });
}

/** The ports a marker's rule steers for one protocol (entry ≠ 0: steered), or undefined if none. */
export function markerCoverage(m: FwdMarker, proto: 'tcp' | 'udp'): Uint16Array | undefined {
  const port = proto === 'tcp' ? m.tcpPort : m.udpPort;
  const specs = markerSpecs(proto === 'tcp' ? m.tcp : m.udp);
  if (port === 0 || specs.length === 0) return undefined;
  return resolvePortMap(specs, m.ephemeral);
}
