// NDP options (RFC 4861 §4.6, RFC 8106 §5): their types, parse, wire length and emit.
//
// Link-layer addresses, prefixes and DNS server addresses are copies; a redirected header and
// the data of an option of unknown type are subarrays of the parsed buffer (zero copy). Lengths
// on the wire are in units of 8 bytes and emitted padding is zero.
import {
  type WireError,
  wireError,
  isWireError,
  getU32,
  putU32,
  type Mac,
  type Ipv6Addr,
} from './common.js';
import { decodeNameList, encodeNameList } from './dnsname.js';

/** NDP option types (RFC 4861 §4.6, RFC 8106 §5). */
export const NdpOptionType = {
  SourceLinkAddr: 1,
  TargetLinkAddr: 2,
  PrefixInfo: 3,
  RedirectedHeader: 4,
  Mtu: 5,
  Rdnss: 25,
  Dnssl: 31,
} as const;

/** Source (1) or Target (2) Link-Layer Address (RFC 4861 §4.6.1), Ethernet: 6 bytes. */
export interface NdpLinkAddrOption {
  readonly type: 1 | 2;
  readonly mac: Mac;
}

/** Prefix Information (RFC 4861 §4.6.2). */
export interface NdpPrefixInfoOption {
  readonly type: 3;
  /** 0..128. */
  readonly prefixLen: number;
  /** L flag. */
  readonly onLink: boolean;
  /** A flag (stateless address autoconfiguration). */
  readonly autonomous: boolean;
  /** Seconds; 0xffffffff is infinity. */
  readonly validLifetime: number;
  /** Seconds; 0xffffffff is infinity. */
  readonly preferredLifetime: number;
  readonly prefix: Ipv6Addr;
}

/** Redirected Header (RFC 4861 §4.6.3), kept raw. */
export interface NdpRedirectedHeaderOption {
  readonly type: 4;
  /** The bytes after the 6 reserved bytes: the start of the redirected packet, zero padded. */
  readonly packet: Uint8Array;
}

/** MTU (RFC 4861 §4.6.4). */
export interface NdpMtuOption {
  readonly type: 5;
  readonly mtu: number;
}

/** Recursive DNS Server (RFC 8106 §5.1). */
export interface NdpRdnssOption {
  readonly type: 25;
  /** Seconds; 0xffffffff is infinity, 0 withdraws the servers. */
  readonly lifetime: number;
  /** At least one. */
  readonly addresses: readonly Ipv6Addr[];
}

/** DNS Search List (RFC 8106 §5.2). */
export interface NdpDnsslOption {
  readonly type: 31;
  /** Seconds; 0xffffffff is infinity, 0 withdraws the domains. */
  readonly lifetime: number;
  /** Dotted names without the trailing dot; the root cannot be carried (it reads as padding). */
  readonly domains: readonly string[];
}

/** An option of a type this module does not interpret, kept so it can be logged and re-emitted. */
export interface NdpUnknownOption {
  readonly type: number;
  /** The bytes after type and length (length × 8 − 2 of them). */
  readonly data: Uint8Array;
}

/**
 * One NDP option. Because {@link NdpUnknownOption} has `type: number`, narrow by a field
 * (`'mac' in o`, `'prefix' in o`, `'data' in o`…) rather than by `type` alone.
 */
export type NdpOption =
  | NdpLinkAddrOption
  | NdpPrefixInfoOption
  | NdpRedirectedHeaderOption
  | NdpMtuOption
  | NdpRdnssOption
  | NdpDnsslOption
  | NdpUnknownOption;

/**
 * Parses NDP options (RFC 4861 §4.6). Lengths are in units of 8 bytes; a known type must have
 * its defined length (link-layer address 1 for Ethernet, prefix information 4, MTU 1,
 * RDNSS 3 + 2n with n ≥ 1 per RFC 8106 §5.1, DNSSL at least 2 per RFC 8106 §5.2) or the
 * message is 'malformed'.
 *
 * @param b - the option bytes after the fixed part of the message
 * @returns the options, 'malformed' for a zero length (RFC 4861 §4.6: "Nodes MUST silently
 *   discard an ND packet that contains an option with length zero") or a wrong one, 'truncated'
 *   when an option runs past the end; DNSSL name errors come from {@link decodeNameList}
 */
export function parseNdpOptions(b: Uint8Array): NdpOption[] | WireError {
  const out: NdpOption[] = [];
  let off = 0;
  while (off < b.length) {
    if (off + 2 > b.length) return wireError('truncated');
    const type = b[off]!;
    const len = b[off + 1]! * 8;
    if (len === 0) return wireError('malformed');
    if (off + len > b.length) return wireError('truncated');
    const o = b.subarray(off, off + len);
    switch (type) {
      case NdpOptionType.SourceLinkAddr:
      case NdpOptionType.TargetLinkAddr:
        if (len !== 8) return wireError('malformed');
        out.push({ type, mac: o.slice(2, 8) });
        break;
      case NdpOptionType.PrefixInfo:
        if (len !== 32 || o[2]! > 128) return wireError('malformed');
        out.push({
          type,
          prefixLen: o[2]!,
          onLink: (o[3]! & 0x80) !== 0,
          autonomous: (o[3]! & 0x40) !== 0,
          validLifetime: getU32(o, 4),
          preferredLifetime: getU32(o, 8),
          prefix: o.slice(16, 32),
        });
        break;
      case NdpOptionType.RedirectedHeader:
        out.push({ type, packet: o.subarray(8) });
        break;
      case NdpOptionType.Mtu:
        if (len !== 8) return wireError('malformed');
        out.push({ type, mtu: getU32(o, 4) });
        break;
      case NdpOptionType.Rdnss: {
        // RFC 8106 §5.1: "The minimum value is 3 if one IPv6 address is contained in the option.
        // Every additional RDNSS address increases the length by 2."
        if (len < 24 || (len - 8) % 16 !== 0) return wireError('malformed');
        const addresses: Ipv6Addr[] = [];
        for (let i = 8; i < len; i += 16) addresses.push(o.slice(i, i + 16));
        out.push({ type, lifetime: getU32(o, 4), addresses });
        break;
      }
      case NdpOptionType.Dnssl: {
        // RFC 8106 §5.2: "The minimum value is 2 if at least one domain name is contained in the
        // option"; names are RFC 1035 §3.1 labels, the last one followed by zero padding.
        if (len < 16) return wireError('malformed');
        const domains = decodeNameList(o.subarray(8), true);
        if (isWireError(domains)) return domains;
        out.push({ type, lifetime: getU32(o, 4), domains });
        break;
      }
      default:
        out.push({ type, data: o.subarray(2) });
    }
    off += len;
  }
  return out;
}

/** Bytes `o` takes on the wire (a multiple of 8). */
function ndpOptionLen(o: NdpOption): number {
  if ('mac' in o) return 8;
  if ('prefix' in o) return 32;
  if ('packet' in o) return 8 + ((o.packet.length + 7) & ~7);
  if ('mtu' in o) return 8;
  if ('addresses' in o) return 8 + 16 * o.addresses.length;
  if ('domains' in o) return 8 + ((encodeNameList(o.domains, false).length + 7) & ~7);
  return (2 + o.data.length + 7) & ~7;
}

/**
 * Bytes `options` take on the wire.
 *
 * @param options - NDP options
 * @returns the sum of each option's length, a multiple of 8
 */
export function ndpOptionsLen(options: readonly NdpOption[]): number {
  let n = 0;
  for (const o of options) n += ndpOptionLen(o);
  return n;
}

/** Writes `o` at the start of `b` (which has room for it), padding and reserved bytes zeroed. */
export function emitNdpOption(o: NdpOption, b: Uint8Array): number {
  const len = ndpOptionLen(o);
  b.fill(0, 0, len);
  b[0] = o.type;
  b[1] = len >>> 3;
  if ('mac' in o) b.set(o.mac.subarray(0, 6), 2);
  else if ('prefix' in o) {
    b[2] = o.prefixLen;
    b[3] = (o.onLink ? 0x80 : 0) | (o.autonomous ? 0x40 : 0);
    putU32(b, 4, o.validLifetime);
    putU32(b, 8, o.preferredLifetime);
    b.set(o.prefix.subarray(0, 16), 16);
  } else if ('packet' in o) b.set(o.packet, 8);
  else if ('mtu' in o) putU32(b, 4, o.mtu);
  else if ('addresses' in o) {
    putU32(b, 4, o.lifetime);
    o.addresses.forEach((a, i) => b.set(a.subarray(0, 16), 8 + 16 * i));
  } else if ('domains' in o) {
    putU32(b, 4, o.lifetime);
    // RFC 8106 §5.2: "the domain names MUST NOT be encoded in a compressed form"
    b.set(encodeNameList(o.domains, false), 8);
  } else b.set(o.data, 2);
  return len;
}
