// Address translation between what the guest sees and host sockets, as passt does it (pure).
//
// Rules (facts-passt §4): the `--map-host-loopback` address (the gateway by default) stands for
// the host's loopback, so guest traffic to it leaves from host sockets to 127.0.0.1 / ::1 with the
// same port. A loopback host resolver (e.g. 127.0.0.53) is advertised to the guest as that same
// address, so port-53 traffic to it goes to the host resolver instead. Everything else is passed
// unchanged ("no NAT by default"). Multicast, broadcast, unspecified, loopback and (other) IPv6
// link-local destinations from the guest are not forwardable: the guest reaches host loopback
// only through the mapping, and a link-local address means nothing on the host's links.
import type { PasstConfig, FamilyConfig } from '../conf.js';
import { parseIpv4, parseIpv6, formatIpv4, formatIpv6 } from '../../wire/common.js';

/** A host socket address. */
export interface HostAddr {
  readonly addr: string;
  readonly port: number;
}

/** Canonical text of an address of `family`, or undefined when it does not parse as one. */
export function canonicalAddr(family: 4 | 6, s: string): string | undefined {
  if (family === 4) {
    const b = parseIpv4(s);
    return b ? formatIpv4(b) : undefined;
  }
  const b = parseIpv6(s);
  return b ? formatIpv6(b) : undefined;
}

/** Whether `addr` (any family) is a loopback address: 127.0.0.0/8 or ::1. */
export function isLoopback(addr: string): boolean {
  const v4 = parseIpv4(addr);
  if (v4) return v4[0] === 127;
  const v6 = parseIpv6(addr);
  return v6 !== undefined && v6.slice(0, 15).every((b) => b === 0) && v6[15] === 1;
}

function familyCfg(cfg: PasstConfig, family: 4 | 6): FamilyConfig | undefined {
  return family === 4 ? cfg.v4 : cfg.v6;
}

/** Whether `b` (4 bytes) is the directed broadcast of the guest's subnet. */
function isSubnetBroadcast4(b: Uint8Array, fc: FamilyConfig | undefined): boolean {
  if (!fc || fc.prefixLen >= 31) return false;
  const g = parseIpv4(fc.guestAddr);
  if (!g) return false;
  for (let i = 0; i < 4; i++) {
    const bits = Math.max(0, Math.min(8, fc.prefixLen - i * 8));
    const hostMask = 0xff >> bits;
    if ((b[i]! & ~hostMask & 0xff) !== (g[i]! & ~hostMask & 0xff)) return false;
    if ((b[i]! & hostMask) !== hostMask) return false;
  }
  return true;
}

/** Whether a guest destination can be forwarded at all (unicast, not loopback or unspecified). */
function forwardable(family: 4 | 6, dst: string, fc: FamilyConfig | undefined): boolean {
  if (family === 4) {
    const b = parseIpv4(dst);
    if (!b) return false;
    if (b[0]! >= 224) return false; // multicast, reserved, limited broadcast
    if (b[0] === 0 || b[0] === 127) return false;
    return !isSubnetBroadcast4(b, fc);
  }
  const b = parseIpv6(dst);
  if (!b) return false;
  if (b[0] === 0xff) return false; // multicast
  if (b[0] === 0xfe && (b[1]! & 0xc0) === 0x80) return false; // link-local: no scope on the host
  if (b.every((x) => x === 0)) return false;
  return !isLoopback(dst);
}

/**
 * Where a guest datagram to `dst`:`dstPort` goes on the host.
 *
 * - To the host-loopback address with port 53, when that address is an advertised resolver that
 *   stands for a loopback host resolver: to the first such host resolver (e.g. 127.0.0.53:53).
 * - To the host-loopback address otherwise: 127.0.0.1 / ::1, same port.
 * - Anything else forwardable: unchanged.
 *
 * @param cfg - translator configuration (mapHostLoopback, nameservers)
 * @param hostResolvers - the host's own resolvers (from resolv.conf)
 * @param family - 4 or 6
 * @param dst - destination address as the guest used it
 * @param dstPort - destination port
 * @returns the host socket address, or undefined when not forwardable (multicast, broadcast,
 *   loopback, unspecified, IPv6 link-local other than the mapped address, not of `family`)
 */
export function guestToHost(
  cfg: PasstConfig,
  hostResolvers: readonly string[],
  family: 4 | 6,
  dst: string,
  dstPort: number,
): HostAddr | undefined {
  const fc = familyCfg(cfg, family);
  const d = canonicalAddr(family, dst);
  if (d === undefined) return undefined;
  const map = fc?.mapHostLoopback !== undefined ? canonicalAddr(family, fc.mapHostLoopback) : '';
  if (map === undefined || d !== map)
    return forwardable(family, d, fc) ? { addr: d, port: dstPort } : undefined;
  if (dstPort === 53 && cfg.nameservers.some((n) => canonicalAddr(family, n) === map)) {
    for (const r of hostResolvers) {
      const rc = canonicalAddr(family, r);
      if (rc !== undefined && isLoopback(rc)) return { addr: rc, port: 53 };
    }
  }
  return { addr: family === 4 ? '127.0.0.1' : '::1', port: dstPort };
}

/**
 * The source address the guest sees for a host-side peer: loopback (any 127/8, ::1) becomes the
 * host-loopback address (the gateway when the mapping is off); anything else is unchanged.
 *
 * @param cfg - translator configuration
 * @param family - 4 or 6
 * @param hostSrc - the peer's address on the host
 * @returns the address to put as source in frames to the guest
 */
export function hostToGuestSource(cfg: PasstConfig, family: 4 | 6, hostSrc: string): string {
  const s = hostSrc.startsWith('::ffff:') && family === 4 ? hostSrc.slice(7) : hostSrc;
  const c = canonicalAddr(family, s) ?? s;
  if (!isLoopback(c)) return c;
  const fc = familyCfg(cfg, family);
  const to = fc?.mapHostLoopback ?? fc?.gateway;
  return to !== undefined ? (canonicalAddr(family, to) ?? to) : c;
}
