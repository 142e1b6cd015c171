// Address arithmetic for masquerade subnets: the gateway and guest addresses from a CIDR.
import { formatIpv4, formatIpv6, parseIpv4, parseIpv6 } from '../wire/common.js';
import type { MasqueradeFamily } from './types.js';

/** KubeVirt's default masquerade IPv4 subnet (`DefaultVMCIDR`). */
export const KUBEVIRT_DEFAULT_CIDR4 = '10.0.2.0/24';
/** KubeVirt's default masquerade IPv6 subnet (`DefaultVMIpv6CIDR`). */
export const KUBEVIRT_DEFAULT_CIDR6 = 'fd10:0:2::/120';
/** Virtink's default masquerade subnet. */
export const VIRTINK_DEFAULT_CIDR = '10.0.2.0/30';

/** A parsed CIDR: family, network address as a bigint, prefix length. */
export interface Cidr {
  readonly family: 4 | 6;
  readonly network: bigint;
  readonly prefixLength: number;
}

/**
 * Parses `ADDR/PREFIX` (IPv4 or IPv6). Host bits are cleared, as Go's `net.ParseCIDR` does.
 * @param text - e.g. `10.0.2.0/24`, `fd10:0:2::/120`
 * @returns the CIDR, or an error message
 */
export function parseCidr(text: string): Cidr | { error: string } {
  const slash = text.indexOf('/');
  if (slash < 0) return { error: `invalid CIDR address: ${text}` };
  const addrText = text.slice(0, slash);
  const pfxText = text.slice(slash + 1);
  const v4 = parseIpv4(addrText);
  const bytes = v4 ?? parseIpv6(addrText);
  if (!bytes || !/^\d{1,3}$/.test(pfxText)) return { error: `invalid CIDR address: ${text}` };
  const bits = bytes.length * 8;
  const prefixLength = Number(pfxText);
  if (prefixLength > bits) return { error: `invalid CIDR address: ${text}` };
  let value = 0n;
  for (const b of bytes) value = (value << 8n) | BigInt(b);
  const hostMask = (1n << BigInt(bits - prefixLength)) - 1n;
  return { family: v4 ? 4 : 6, network: value & ~hostMask, prefixLength };
}

/**
 * Formats a bigint address of `family`.
 * @param family - 4 or 6
 * @param value - the address
 * @returns dotted quad or RFC 5952 text
 */
export function formatAddress(family: 4 | 6, value: bigint): string {
  const len = family === 4 ? 4 : 16;
  const out = new Uint8Array(len);
  let v = value;
  for (let i = len - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return family === 4 ? formatIpv4(out) : formatIpv6(out);
}

/**
 * The masquerade gateway (network + 1) and guest (network + 2) of a subnet. The subnet must
 * hold at least `minAddresses` addresses (KubeVirt: 4 for IPv4, i.e. /30, as the network and
 * broadcast addresses are not usable; Virtink: 4).
 * @param cidr - the subnet as written
 * @param family - the family the subnet must have
 * @param minAddresses - the smallest acceptable subnet size
 * @returns the addresses, or an error message
 */
export function masqueradeFamily(
  cidr: string,
  family: 4 | 6,
  minAddresses = 4,
): MasqueradeFamily | { error: string } {
  const c = parseCidr(cidr);
  if ('error' in c) return c;
  if (c.family !== family) return { error: `${cidr} is not an IPv${family} subnet` };
  const bits = family === 4 ? 32 : 128;
  const size = 1n << BigInt(bits - c.prefixLength);
  if (size < BigInt(minAddresses))
    return {
      error: `VM CIDR subnet ${cidr} is too small, it must contain at least ${minAddresses} addresses`,
    };
  return {
    cidr,
    prefixLength: c.prefixLength,
    gateway: formatAddress(family, c.network + 1n),
    guest: formatAddress(family, c.network + 2n),
  };
}
