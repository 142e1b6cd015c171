// IPv6 headers (RFC 8200 §3) with the extension-header chain (§4) walked to the upper layer.
import {
  type WireError,
  wireError,
  getU16,
  getU32,
  putU16,
  putU32,
  type Ipv6Addr,
} from './common.js';
import { IpProtocol } from './ipv4.js';

/** Length of the fixed IPv6 header. */
export const IPV6_HEADER_LEN = 40;
/** At most this many extension headers are walked; longer chains are 'unsupported'. */
export const IPV6_MAX_EXT_HEADERS = 8;

/** A zero-copy view of an IPv6 packet. */
export class Ipv6View {
  private constructor(readonly buf: Uint8Array) {}
  /** Checks version and payload length against the buffer. */
  static checked(buf: Uint8Array): Ipv6View | WireError {
    if (buf.length < IPV6_HEADER_LEN) return wireError('truncated');
    if (buf[0]! >>> 4 !== 6) return wireError('malformed');
    if (buf.length < IPV6_HEADER_LEN + getU16(buf, 4)) return wireError('truncated');
    return new Ipv6View(buf);
  }
  static unchecked(buf: Uint8Array): Ipv6View {
    return new Ipv6View(buf);
  }
  get trafficClass(): number {
    return ((this.buf[0]! & 0x0f) << 4) | (this.buf[1]! >>> 4);
  }
  get flowLabel(): number {
    return getU32(this.buf, 0) & 0xfffff;
  }
  get payloadLen(): number {
    return getU16(this.buf, 4);
  }
  /** The Next Header field of the fixed header (maybe an extension header). */
  get nextHeader(): number {
    return this.buf[6]!;
  }
  get hopLimit(): number {
    return this.buf[7]!;
  }
  get src(): Ipv6Addr {
    return this.buf.subarray(8, 24);
  }
  get dst(): Ipv6Addr {
    return this.buf.subarray(24, 40);
  }
  /** Everything after the fixed header, exactly payloadLen bytes. */
  payload(): Uint8Array {
    return this.buf.subarray(IPV6_HEADER_LEN, IPV6_HEADER_LEN + this.payloadLen);
  }
}

/** Where the upper layer starts after the extension headers, and fragment info if any. */
export interface Ipv6Upper {
  /** Upper-layer protocol (e.g. 6, 17, 58) or 59 (No Next Header). */
  readonly protocol: number;
  /** Offset of the upper-layer header from the start of the IPv6 packet. */
  readonly offset: number;
  /** Upper-layer length (payload length minus extension headers). */
  readonly length: number;
  /** Extension header types walked, in order. */
  readonly extHeaders: readonly number[];
  readonly fragment?: {
    readonly offset: number;
    readonly moreFragments: boolean;
    readonly ident: number;
  };
}

/**
 * Walks Hop-by-Hop, Routing, Fragment, Destination Options and AH headers (RFC 8200 §4.2–4.6,
 * RFC 4302 §2.2 for AH's length in 4-octet units) up to the upper layer. Never reads past the
 * payload; an over-long chain is 'unsupported'.
 */
export function walkIpv6(view: Ipv6View): Ipv6Upper | WireError {
  const end = IPV6_HEADER_LEN + view.payloadLen;
  const buf = view.buf;
  let nh = view.nextHeader;
  let off = IPV6_HEADER_LEN;
  const ext: number[] = [];
  let fragment: Ipv6Upper['fragment'];
  for (;;) {
    if (
      nh !== IpProtocol.HopByHop &&
      nh !== IpProtocol.Ipv6Route &&
      nh !== IpProtocol.Ipv6Frag &&
      nh !== IpProtocol.Ipv6Opts &&
      nh !== IpProtocol.Ah
    )
      break;
    if (ext.length >= IPV6_MAX_EXT_HEADERS) return wireError('unsupported');
    // RFC 8200 §4.3: Hop-by-Hop must come first
    if (nh === IpProtocol.HopByHop && ext.length > 0) return wireError('malformed');
    if (off + 8 > end) return wireError('truncated');
    let len: number;
    if (nh === IpProtocol.Ipv6Frag) {
      len = 8;
      const fo = getU16(buf, off + 2);
      fragment = {
        offset: fo & 0xfff8,
        moreFragments: (fo & 1) === 1,
        ident: getU32(buf, off + 4),
      };
    } else if (nh === IpProtocol.Ah) {
      len = (buf[off + 1]! + 2) * 4;
    } else {
      len = (buf[off + 1]! + 1) * 8;
    }
    if (off + len > end) return wireError('truncated');
    ext.push(nh);
    nh = buf[off]!;
    off += len;
  }
  const base = { protocol: nh, offset: off, length: end - off, extHeaders: ext };
  return fragment ? { ...base, fragment } : base;
}

/** A parsed IPv6 header (fixed part). */
export interface Ipv6Repr {
  readonly src: Ipv6Addr;
  readonly dst: Ipv6Addr;
  /** Next Header of the fixed header. */
  readonly nextHeader: number;
  readonly payloadLen: number;
  readonly hopLimit: number;
  readonly trafficClass: number;
  readonly flowLabel: number;
}

/** Parses the fixed header of a checked view. */
export function parseIpv6(view: Ipv6View): Ipv6Repr {
  return {
    src: view.src.slice(),
    dst: view.dst.slice(),
    nextHeader: view.nextHeader,
    payloadLen: view.payloadLen,
    hopLimit: view.hopLimit,
    trafficClass: view.trafficClass,
    flowLabel: view.flowLabel,
  };
}

/** Writes the 40-byte fixed header of `repr` at the start of `buf`. */
export function emitIpv6(repr: Ipv6Repr, buf: Uint8Array): void {
  putU32(
    buf,
    0,
    ((6 << 28) | ((repr.trafficClass & 0xff) << 20) | (repr.flowLabel & 0xfffff)) >>> 0,
  );
  putU16(buf, 4, repr.payloadLen);
  buf[6] = repr.nextHeader;
  buf[7] = repr.hopLimit;
  buf.set(repr.src, 8);
  buf.set(repr.dst, 24);
}

/** True for fe80::/10. */
export function isLinkLocal6(a: Uint8Array): boolean {
  return a[0] === 0xfe && (a[1]! & 0xc0) === 0x80;
}

/** The solicited-node multicast address ff02::1:ffXX:XXXX of `a` (RFC 4291 §2.7.1). */
export function solicitedNode(a: Uint8Array): Ipv6Addr {
  const m = new Uint8Array(16);
  m.set([0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff], 0);
  m.set(a.subarray(13, 16), 13);
  return m;
}

/** The Ethernet multicast MAC 33:33:xx:xx:xx:xx of an IPv6 multicast address (RFC 2464 §7). */
export function multicastMac6(a: Uint8Array): Uint8Array {
  return Uint8Array.of(0x33, 0x33, a[12]!, a[13]!, a[14]!, a[15]!);
}
