// IPv4 headers (RFC 791 §3.1): options skipped, fragments recognised, header checksum checked and set.
import { type WireError, wireError, getU16, putU16, type Ipv4Addr } from './common.js';
import { sum16, verify, checksum } from './checksum.js';

/** IP protocol numbers (IANA "Assigned Internet Protocol Numbers"), shared by IPv4 and IPv6. */
export const IpProtocol = {
  HopByHop: 0,
  Icmp: 1,
  Tcp: 6,
  Udp: 17,
  Ipv6Route: 43,
  Ipv6Frag: 44,
  Ah: 51,
  Icmpv6: 58,
  Ipv6NoNext: 59,
  Ipv6Opts: 60,
} as const;

/** Named offsets of the fixed IPv4 header. */
export const Ipv4Field = {
  VER_IHL: 0,
  TOS: 1,
  LENGTH: 2,
  IDENT: 4,
  FLG_OFF: 6,
  TTL: 8,
  PROTOCOL: 9,
  CHECKSUM: 10,
  SRC: 12,
  DST: 16,
} as const;
/** Length of an IPv4 header without options. */
export const IPV4_HEADER_LEN = 20;

/** A zero-copy view of an IPv4 packet. */
export class Ipv4View {
  private constructor(readonly buf: Uint8Array) {}

  /**
   * Checks version, header length and total length against the buffer. Bytes past the total
   * length (e.g. Ethernet padding) are ignored by payload().
   */
  static checked(buf: Uint8Array): Ipv4View | WireError {
    if (buf.length < IPV4_HEADER_LEN) return wireError('truncated');
    if (buf[0]! >>> 4 !== 4) return wireError('malformed');
    const ihl = (buf[0]! & 0x0f) * 4;
    if (ihl < IPV4_HEADER_LEN) return wireError('malformed');
    const total = getU16(buf, 2);
    if (total < ihl) return wireError('malformed');
    if (buf.length < total) return wireError('truncated');
    return new Ipv4View(buf);
  }
  static unchecked(buf: Uint8Array): Ipv4View {
    return new Ipv4View(buf);
  }
  get headerLen(): number {
    return (this.buf[0]! & 0x0f) * 4;
  }
  get tos(): number {
    return this.buf[1]!;
  }
  get totalLen(): number {
    return getU16(this.buf, 2);
  }
  get ident(): number {
    return getU16(this.buf, 4);
  }
  get dontFragment(): boolean {
    return (this.buf[6]! & 0x40) !== 0;
  }
  get moreFragments(): boolean {
    return (this.buf[6]! & 0x20) !== 0;
  }
  /** Fragment offset in bytes. */
  get fragOffset(): number {
    return (getU16(this.buf, 6) & 0x1fff) * 8;
  }
  get ttl(): number {
    return this.buf[8]!;
  }
  get protocol(): number {
    return this.buf[9]!;
  }
  get checksum(): number {
    return getU16(this.buf, 10);
  }
  set checksum(v: number) {
    putU16(this.buf, 10, v);
  }
  get src(): Ipv4Addr {
    return this.buf.subarray(12, 16);
  }
  get dst(): Ipv4Addr {
    return this.buf.subarray(16, 20);
  }
  /** Option bytes between the fixed header and the payload. */
  options(): Uint8Array {
    return this.buf.subarray(IPV4_HEADER_LEN, this.headerLen);
  }
  /** True when the header checksum verifies. */
  checksumOk(): boolean {
    return verify(sum16(this.buf.subarray(0, this.headerLen)));
  }
  /** True for a fragment (offset > 0 or MF set). */
  get isFragment(): boolean {
    return this.moreFragments || this.fragOffset !== 0;
  }
  /** The payload (exactly totalLen − headerLen bytes), zero copy. */
  payload(): Uint8Array {
    return this.buf.subarray(this.headerLen, this.totalLen);
  }
}

/** A parsed IPv4 header. */
export interface Ipv4Repr {
  readonly src: Ipv4Addr;
  readonly dst: Ipv4Addr;
  readonly protocol: number;
  readonly payloadLen: number;
  readonly ttl: number;
  /** DSCP and ECN byte. */
  readonly tos: number;
  readonly ident: number;
  readonly dontFragment: boolean;
  /** Present on fragments: offset in bytes and the MF flag. */
  readonly fragment?: { readonly offset: number; readonly moreFragments: boolean };
  /** Raw option bytes (a multiple of 4), empty when none. */
  readonly options: Uint8Array;
}

/** Parses a checked view; a wrong header checksum is 'bad-checksum'. */
export function parseIpv4(view: Ipv4View): Ipv4Repr | WireError {
  if (!view.checksumOk()) return wireError('bad-checksum');
  const base = {
    src: view.src.slice(),
    dst: view.dst.slice(),
    protocol: view.protocol,
    payloadLen: view.totalLen - view.headerLen,
    ttl: view.ttl,
    tos: view.tos,
    ident: view.ident,
    dontFragment: view.dontFragment,
    options: view.options().slice(),
  };
  return view.isFragment
    ? { ...base, fragment: { offset: view.fragOffset, moreFragments: view.moreFragments } }
    : base;
}

/** Header length of `repr` (20 plus options). */
export function ipv4HeaderLen(repr: Ipv4Repr): number {
  return IPV4_HEADER_LEN + repr.options.length;
}

/** Writes the header of `repr` (checksum included) at the start of `buf`. */
export function emitIpv4(repr: Ipv4Repr, buf: Uint8Array): void {
  const hl = ipv4HeaderLen(repr);
  buf[0] = 0x40 | (hl >>> 2);
  buf[1] = repr.tos;
  putU16(buf, 2, hl + repr.payloadLen);
  putU16(buf, 4, repr.ident);
  const off = repr.fragment ? repr.fragment.offset >>> 3 : 0;
  const flags = (repr.dontFragment ? 0x4000 : 0) | (repr.fragment?.moreFragments ? 0x2000 : 0);
  putU16(buf, 6, flags | (off & 0x1fff));
  buf[8] = repr.ttl;
  buf[9] = repr.protocol;
  putU16(buf, 10, 0);
  buf.set(repr.src, 12);
  buf.set(repr.dst, 16);
  buf.set(repr.options, IPV4_HEADER_LEN);
  putU16(buf, 10, checksum(buf.subarray(0, hl)));
}
