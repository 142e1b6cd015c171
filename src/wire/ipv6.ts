// IPv6 headers (RFC 8200 §3) with the extension-header chain (RFC 8200 §4) walked to the upper layer.
//
// checked() enforces version 6 and that the buffer holds the 40-byte header plus Payload Length
// bytes; anything after that (Ethernet padding) is ignored. walkIpv6/parseIpv6 follow Next Header
// through Hop-by-Hop (0), Routing (43), Fragment (44), Destination Options (60) and AH (51) up to
// the upper-layer protocol, reading only inside the payload and at most IPV6_MAX_EXT_HEADERS
// headers. Jumbograms (RFC 2675, Payload Length 0) are not supported. emitIpv6 writes the fixed
// header only; extension headers are the caller's (emitIpv6FragmentHeader helps with one).
import {
  type WireError,
  wireError,
  isWireError,
  getU16,
  getU32,
  putU16,
  putU32,
  type Ipv6Addr,
} from './common.js';
import { IpProtocol } from './ipv4.js';

/** Named offsets of the fixed IPv6 header. */
export const Ipv6Field = {
  VER_TC_FLOW: 0,
  PAYLOAD_LEN: 4,
  NEXT_HEADER: 6,
  HOP_LIMIT: 7,
  SRC: 8,
  DST: 24,
} as const;
/** Length of the fixed IPv6 header. */
export const IPV6_HEADER_LEN = 40;
/** Length of a Fragment header (RFC 8200 §4.5). */
export const IPV6_FRAGMENT_HEADER_LEN = 8;
/** At most this many extension headers are walked; longer chains are 'unsupported'. */
export const IPV6_MAX_EXT_HEADERS = 8;

/**
 * The checks of {@link Ipv6View.checked} on the packet at `off` in `buf` (running to the end of
 * `buf`), without a view: for parsers that read a frame in place.
 * @returns undefined when a view would be safe, else 'truncated' / 'malformed'.
 */
export function checkIpv6At(buf: Uint8Array, off: number): WireError | undefined {
  const len = buf.length - off;
  if (len < IPV6_HEADER_LEN) return wireError('truncated');
  if (buf[off]! >>> 4 !== 6) return wireError('malformed');
  if (len < IPV6_HEADER_LEN + getU16(buf, off + Ipv6Field.PAYLOAD_LEN))
    return wireError('truncated');
  return undefined;
}

/** A zero-copy view of an IPv6 packet. After `checked`, no accessor reads out of bounds. */
export class Ipv6View {
  private constructor(readonly buf: Uint8Array) {}

  /**
   * Checks the version and the Payload Length against the buffer (RFC 8200 §3: "Length of the
   * IPv6 payload, i.e., the rest of the packet following this IPv6 header, in octets").
   * @param buf - The Ethernet payload.
   * @returns The view, or 'truncated' / 'malformed'.
   */
  static checked(buf: Uint8Array): Ipv6View | WireError {
    return checkIpv6At(buf, 0) ?? new Ipv6View(buf);
  }
  /** A view for emitting into `buf`. No checks. */
  static unchecked(buf: Uint8Array): Ipv6View {
    return new Ipv6View(buf);
  }

  /** Version field (6 after `checked`). */
  get version(): number {
    return this.buf[0]! >>> 4;
  }
  /** Traffic Class: DSCP (top 6 bits) and ECN (low 2 bits). */
  get trafficClass(): number {
    return ((this.buf[0]! & 0x0f) << 4) | (this.buf[1]! >>> 4);
  }
  /** Flow Label (20 bits). */
  get flowLabel(): number {
    return getU32(this.buf, Ipv6Field.VER_TC_FLOW) & 0xfffff;
  }
  /** Payload Length: extension headers plus upper layer. */
  get payloadLen(): number {
    return getU16(this.buf, Ipv6Field.PAYLOAD_LEN);
  }
  /** The Next Header field of the fixed header (maybe an extension header). */
  get nextHeader(): number {
    return this.buf[Ipv6Field.NEXT_HEADER]!;
  }
  /** Hop Limit. */
  get hopLimit(): number {
    return this.buf[Ipv6Field.HOP_LIMIT]!;
  }
  set hopLimit(v: number) {
    this.buf[Ipv6Field.HOP_LIMIT] = v;
  }
  /** Source address, zero copy. */
  get src(): Ipv6Addr {
    return this.buf.subarray(Ipv6Field.SRC, Ipv6Field.SRC + 16);
  }
  /** Destination address, zero copy. */
  get dst(): Ipv6Addr {
    return this.buf.subarray(Ipv6Field.DST, Ipv6Field.DST + 16);
  }
  /** Everything after the fixed header, exactly payloadLen bytes, zero copy. */
  payload(): Uint8Array {
    return this.buf.subarray(IPV6_HEADER_LEN, IPV6_HEADER_LEN + this.payloadLen);
  }
}

/** Fragment header contents (RFC 8200 §4.5). */
export interface Ipv6Fragment {
  /** Identification (32 bits). */
  readonly id: number;
  /** Fragment Offset in bytes (a multiple of 8). */
  readonly offset: number;
  /** M flag: more fragments follow. */
  readonly moreFragments: boolean;
}

/** Where the upper layer starts after the extension headers. */
export interface Ipv6Upper {
  /** Upper-layer protocol (e.g. 6, 17, 58), or 59 (No Next Header). */
  readonly protocol: number;
  /** Offset of the upper-layer header from the start of the IPv6 packet. */
  readonly offset: number;
  /** Upper-layer length (payload length minus extension headers). */
  readonly length: number;
  /** Extension header types walked, in order. */
  readonly extHeaders: readonly number[];
  /** Set when a Fragment header was walked. */
  readonly fragment?: Ipv6Fragment | undefined;
}

function isExtHeader(nh: number): boolean {
  return (
    nh === IpProtocol.HopByHop ||
    nh === IpProtocol.Ipv6Route ||
    nh === IpProtocol.Ipv6Frag ||
    nh === IpProtocol.Ipv6Opts ||
    nh === IpProtocol.Ah
  );
}

/**
 * Walks the extension headers (RFC 8200 §4) up to the upper layer. Lengths: Hop-by-Hop, Routing
 * and Destination Options count 8-octet units not including the first 8 (§4.3, §4.4, §4.6); the
 * Fragment header is 8 bytes (§4.5); AH counts 4-octet units minus 2 (RFC 4302 §2.2). Rules:
 * - Hop-by-Hop anywhere but first is 'malformed' (§4.3 "The Hop-by-Hop Options header … must
 *   immediately follow the IPv6 header");
 * - a second Fragment header is 'malformed' (§4.1: "Each extension header should occur at most
 *   once");
 * - after a Fragment header with a non-zero offset the walk stops: what follows is fragment data,
 *   and `protocol` is the Fragment header's Next Header;
 * - No Next Header (59) ends the walk (§4.7); ESP (50) and unknown values are upper layers;
 * - a header running past Payload Length is 'truncated'; more than IPV6_MAX_EXT_HEADERS headers
 *   is 'unsupported'.
 * @param view - A checked view.
 * @returns Where the upper layer is, or a WireError.
 */
export function walkIpv6(view: Ipv6View): Ipv6Upper | WireError {
  const end = IPV6_HEADER_LEN + view.payloadLen;
  const buf = view.buf;
  let nh = view.nextHeader;
  let off = IPV6_HEADER_LEN;
  const ext: number[] = [];
  let fragment: Ipv6Fragment | undefined;
  while (isExtHeader(nh)) {
    if (ext.length >= IPV6_MAX_EXT_HEADERS) return wireError('unsupported');
    if (nh === IpProtocol.HopByHop && ext.length > 0) return wireError('malformed');
    if (off + 8 > end) return wireError('truncated');
    let len: number;
    if (nh === IpProtocol.Ipv6Frag) {
      if (fragment) return wireError('malformed');
      len = IPV6_FRAGMENT_HEADER_LEN;
      const fo = getU16(buf, off + 2);
      fragment = { id: getU32(buf, off + 4), offset: fo & 0xfff8, moreFragments: (fo & 1) === 1 };
    } else if (nh === IpProtocol.Ah) {
      len = (buf[off + 1]! + 2) * 4;
    } else {
      len = (buf[off + 1]! + 1) * 8;
    }
    if (off + len > end) return wireError('truncated');
    ext.push(nh);
    nh = buf[off]!;
    off += len;
    if (fragment && fragment.offset !== 0) break;
  }
  return { protocol: nh, offset: off, length: end - off, extHeaders: ext, fragment };
}

/** The fields of an IPv6 header that emitIpv6 writes. */
export interface Ipv6Repr {
  readonly src: Ipv6Addr;
  readonly dst: Ipv6Addr;
  /**
   * The upper-layer protocol. With no extension headers this is the fixed header's Next Header;
   * otherwise it is the last header's, and the fixed header carries `extHeaders[0]`.
   */
  readonly nextHeader: number;
  /** Payload Length: extension headers plus upper layer. */
  readonly payloadLen: number;
  readonly hopLimit: number;
  /** DSCP and ECN byte. */
  readonly trafficClass: number;
  /** 20 bits. */
  readonly flowLabel: number;
  /** Extension header types in order; absent or empty when none. */
  readonly extHeaders?: readonly number[];
}

/** A parsed IPv6 packet: its header fields and where its upper layer is. */
export interface Ipv6Parsed extends Ipv6Repr {
  readonly extHeaders: readonly number[];
  /** Offset of the upper-layer header (or fragment data) from the start of the IPv6 header. */
  readonly upperOffset: number;
  /** Length of the upper layer (payloadLen minus extension headers). */
  readonly upperLen: number;
  /** Set when a Fragment header is present. */
  readonly fragment: Ipv6Fragment | undefined;
}

/**
 * Parses a checked view: the fixed header plus the extension chain (see {@link walkIpv6}).
 * @param view - A checked view.
 * @returns The parsed packet (addresses copied), or a WireError from the walk.
 */
export function parseIpv6(view: Ipv6View): Ipv6Parsed | WireError {
  const up = walkIpv6(view);
  if (isWireError(up)) return up;
  return {
    src: view.src.slice(),
    dst: view.dst.slice(),
    nextHeader: up.protocol,
    payloadLen: view.payloadLen,
    hopLimit: view.hopLimit,
    trafficClass: view.trafficClass,
    flowLabel: view.flowLabel,
    extHeaders: up.extHeaders,
    upperOffset: up.offset,
    upperLen: up.length,
    fragment: up.fragment,
  };
}

/**
 * The upper-layer bytes of a parsed packet, zero copy.
 * @param view - The view `parsed` came from.
 * @param parsed - Its parse result.
 */
export function ipv6Upper(view: Ipv6View, parsed: Ipv6Parsed): Uint8Array {
  return view.buf.subarray(parsed.upperOffset, parsed.upperOffset + parsed.upperLen);
}

/**
 * Header length emitIpv6 writes.
 * @returns Always IPV6_HEADER_LEN (40): extension headers are the caller's.
 */
export function ipv6HeaderLen(_repr?: Ipv6Repr): number {
  return IPV6_HEADER_LEN;
}

/**
 * Writes the 40-byte fixed header of `repr` into the first 40 bytes of `buf`; Next Header is
 * `extHeaders[0]` when there are extension headers, else `nextHeader`.
 * @param repr - The header.
 * @param buf - At least 40 bytes.
 */
export function emitIpv6(repr: Ipv6Repr, buf: Uint8Array): void {
  const first = repr.extHeaders?.[0] ?? repr.nextHeader;
  putU32(
    buf,
    Ipv6Field.VER_TC_FLOW,
    ((6 << 28) | ((repr.trafficClass & 0xff) << 20) | (repr.flowLabel & 0xfffff)) >>> 0,
  );
  putU16(buf, Ipv6Field.PAYLOAD_LEN, repr.payloadLen);
  buf[Ipv6Field.NEXT_HEADER] = first;
  buf[Ipv6Field.HOP_LIMIT] = repr.hopLimit;
  buf.set(repr.src.subarray(0, 16), Ipv6Field.SRC);
  buf.set(repr.dst.subarray(0, 16), Ipv6Field.DST);
}

/**
 * Writes an 8-byte Fragment header (RFC 8200 §4.5) into the first 8 bytes of `buf`, reserved
 * fields zero.
 * @param nextHeader - Next Header of the fragmented part.
 * @param fragment - Identification, offset in bytes (rounded down to 8) and M flag.
 * @param buf - At least 8 bytes.
 */
export function emitIpv6FragmentHeader(
  nextHeader: number,
  fragment: Ipv6Fragment,
  buf: Uint8Array,
): void {
  buf[0] = nextHeader;
  buf[1] = 0;
  putU16(buf, 2, (fragment.offset & 0xfff8) | (fragment.moreFragments ? 1 : 0));
  putU32(buf, 4, fragment.id);
}

/**
 * True for link-local unicast fe80::/10 (RFC 4291 §2.5.6).
 * @param a - An IPv6 address.
 */
export function isLinkLocal6(a: Uint8Array): boolean {
  return a[0] === 0xfe && (a[1]! & 0xc0) === 0x80;
}

/**
 * The solicited-node multicast address ff02::1:ffXX:XXXX of `a` (RFC 4291 §2.7.1).
 * @param a - A unicast IPv6 address.
 */
export function solicitedNode(a: Uint8Array): Ipv6Addr {
  const m = new Uint8Array(16);
  m.set([0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff], 0);
  m.set(a.subarray(13, 16), 13);
  return m;
}

/**
 * The Ethernet multicast MAC 33:33:xx:xx:xx:xx of an IPv6 multicast address (RFC 2464 §7).
 * @param a - An IPv6 multicast address.
 */
export function multicastMac6(a: Uint8Array): Uint8Array {
  return Uint8Array.of(0x33, 0x33, a[12]!, a[13]!, a[14]!, a[15]!);
}
