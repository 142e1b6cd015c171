// IPv4 headers (RFC 791 §3.1): options skipped, fragments recognised, header checksum checked and set.
//
// checked() enforces what makes the accessors safe: version 4, IHL ≥ 5, IHL ≤ total length ≤
// buffer length. Bytes past the total length (Ethernet pads frames to 60 bytes) are ignored:
// payload() is exactly totalLength − IHL·4 bytes. parseIpv4 verifies the header checksum. Options
// are kept as raw bytes and never interpreted; reassembly is not done here.
import { type WireError, wireError, getU16, putU16, type Ipv4Addr } from './common.js';
import { sum16Range, verify, checksum } from './checksum.js';

/**
 * IP protocol numbers (IANA "Assigned Internet Protocol Numbers"), shared by IPv4's Protocol
 * and IPv6's Next Header. An open set: any other u8 is kept as a plain number.
 */
export const IpProtocol = {
  /** IPv6 Hop-by-Hop Options (RFC 8200 §4.3). */
  HopByHop: 0,
  Icmp: 1,
  Igmp: 2,
  Tcp: 6,
  Udp: 17,
  /** IPv6 Routing header (RFC 8200 §4.4). */
  Ipv6Route: 43,
  /** IPv6 Fragment header (RFC 8200 §4.5). */
  Ipv6Frag: 44,
  Esp: 50,
  /** Authentication Header (RFC 4302). */
  Ah: 51,
  Icmpv6: 58,
  /** IPv6 No Next Header (RFC 8200 §4.7). */
  Ipv6NoNext: 59,
  /** IPv6 Destination Options (RFC 8200 §4.6). */
  Ipv6Opts: 60,
} as const;

/** Named offsets of the IPv4 header. */
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
  OPTIONS: 20,
} as const;
/** Length of an IPv4 header without options. */
export const IPV4_HEADER_LEN = 20;
/** Longest IPv4 header: IHL 15. */
export const IPV4_MAX_HEADER_LEN = 60;
/** Largest datagram (and so largest fragment offset + fragment length), RFC 791 §3.1. */
export const IPV4_MAX_DATAGRAM = 65535;

const FLAG_DF = 0x4000;
const FLAG_MF = 0x2000;
const FRAG_OFFSET_MASK = 0x1fff;

/**
 * The checks of {@link Ipv4View.checked} on the packet at `off` in `buf` (running to the end of
 * `buf`), without a view: for parsers that read a frame in place.
 * @returns undefined when a view would be safe, else 'truncated' / 'malformed'.
 */
export function checkIpv4At(buf: Uint8Array, off: number): WireError | undefined {
  const len = buf.length - off;
  if (len < IPV4_HEADER_LEN) return wireError('truncated');
  const vihl = buf[off]!;
  if (vihl >>> 4 !== 4) return wireError('malformed');
  const ihl = (vihl & 0x0f) * 4;
  if (ihl < IPV4_HEADER_LEN) return wireError('malformed');
  const total = getU16(buf, off + Ipv4Field.LENGTH);
  if (total < ihl) return wireError('malformed');
  if (len < total) return wireError('truncated');
  return undefined;
}

/**
 * True when the header checksum of the checked packet at `off` verifies (RFC 791 §3.1
 * "Header Checksum"), summed in place.
 */
export function ipv4ChecksumOkAt(buf: Uint8Array, off: number): boolean {
  return verify(sum16Range(buf, off, off + (buf[off]! & 0x0f) * 4));
}

/** A zero-copy view of an IPv4 packet. After `checked`, no accessor reads out of bounds. */
export class Ipv4View {
  private constructor(readonly buf: Uint8Array) {}

  /**
   * Checks version, header length and total length against the buffer (RFC 791 §3.1: "Internet
   * Header Length … the minimum value for a correct header is 5"; "Total Length … including
   * internet header and data"). Trailing bytes past the total length are ignored.
   * @param buf - The Ethernet payload.
   * @returns The view, or 'truncated' / 'malformed'.
   */
  static checked(buf: Uint8Array): Ipv4View | WireError {
    return checkIpv4At(buf, 0) ?? new Ipv4View(buf);
  }
  /** A view for emitting into `buf`. No checks. */
  static unchecked(buf: Uint8Array): Ipv4View {
    return new Ipv4View(buf);
  }

  /** Version field (4 after `checked`). */
  get version(): number {
    return this.buf[0]! >>> 4;
  }
  /** Header length in bytes (IHL × 4). */
  get headerLen(): number {
    return (this.buf[0]! & 0x0f) * 4;
  }
  /** The DSCP and ECN byte (RFC 2474, RFC 3168; RFC 791's Type of Service). */
  get tos(): number {
    return this.buf[Ipv4Field.TOS]!;
  }
  /** Differentiated Services Code Point: the top 6 bits of the TOS byte. */
  get dscp(): number {
    return this.buf[Ipv4Field.TOS]! >>> 2;
  }
  /** Explicit Congestion Notification: the low 2 bits of the TOS byte. */
  get ecn(): number {
    return this.buf[Ipv4Field.TOS]! & 3;
  }
  /** Total length of header and data. */
  get totalLen(): number {
    return getU16(this.buf, Ipv4Field.LENGTH);
  }
  /** Identification. */
  get ident(): number {
    return getU16(this.buf, Ipv4Field.IDENT);
  }
  /** The reserved flag bit (RFC 791: "must be zero"). */
  get reservedFlag(): boolean {
    return (this.buf[Ipv4Field.FLG_OFF]! & 0x80) !== 0;
  }
  /** DF: don't fragment. */
  get dontFragment(): boolean {
    return (getU16(this.buf, Ipv4Field.FLG_OFF) & FLAG_DF) !== 0;
  }
  /** MF: more fragments. */
  get moreFragments(): boolean {
    return (getU16(this.buf, Ipv4Field.FLG_OFF) & FLAG_MF) !== 0;
  }
  /** Fragment offset in bytes (the field counts 8-byte units). */
  get fragOffset(): number {
    return (getU16(this.buf, Ipv4Field.FLG_OFF) & FRAG_OFFSET_MASK) * 8;
  }
  /** True for a fragment: offset > 0 or MF set (RFC 791 §3.2 "Fragmentation and Reassembly"). */
  get isFragment(): boolean {
    return (getU16(this.buf, Ipv4Field.FLG_OFF) & (FLAG_MF | FRAG_OFFSET_MASK)) !== 0;
  }
  /** Time to live. */
  get ttl(): number {
    return this.buf[Ipv4Field.TTL]!;
  }
  /** Sets the TTL; the caller updates the checksum (see updateChecksum16). */
  set ttl(v: number) {
    this.buf[Ipv4Field.TTL] = v;
  }
  /** Protocol of the payload ({@link IpProtocol}). */
  get protocol(): number {
    return this.buf[Ipv4Field.PROTOCOL]!;
  }
  /** Header checksum field. */
  get checksum(): number {
    return getU16(this.buf, Ipv4Field.CHECKSUM);
  }
  set checksum(v: number) {
    putU16(this.buf, Ipv4Field.CHECKSUM, v);
  }
  /** Source address, zero copy. */
  get src(): Ipv4Addr {
    return this.buf.subarray(Ipv4Field.SRC, Ipv4Field.SRC + 4);
  }
  /** Destination address, zero copy. */
  get dst(): Ipv4Addr {
    return this.buf.subarray(Ipv4Field.DST, Ipv4Field.DST + 4);
  }
  /** Option bytes between the fixed header and the payload (empty when IHL is 5), zero copy. */
  options(): Uint8Array {
    return this.buf.subarray(IPV4_HEADER_LEN, this.headerLen);
  }
  /** True when the header checksum verifies (RFC 791 §3.1 "Header Checksum"). */
  checksumOk(): boolean {
    return ipv4ChecksumOkAt(this.buf, 0);
  }
  /** Recomputes the header checksum in place. */
  fillChecksum(): void {
    putU16(this.buf, Ipv4Field.CHECKSUM, 0);
    putU16(this.buf, Ipv4Field.CHECKSUM, checksum(this.buf.subarray(0, this.headerLen)));
  }
  /** The payload, exactly totalLen − headerLen bytes (padding excluded), zero copy. */
  payload(): Uint8Array {
    return this.buf.subarray(this.headerLen, this.totalLen);
  }
}

/** Where a fragment sits in its datagram. */
export interface Ipv4Fragment {
  /** Identification of the datagram (the same as the repr's `ident`). */
  readonly id: number;
  /** Offset of this fragment's data in the datagram, in bytes (a multiple of 8). */
  readonly offset: number;
  /** MF: more fragments follow. */
  readonly moreFragments: boolean;
}

/** A parsed IPv4 header. */
export interface Ipv4Repr {
  readonly src: Ipv4Addr;
  readonly dst: Ipv4Addr;
  /** Protocol of the payload ({@link IpProtocol}). */
  readonly protocol: number;
  /** Payload bytes after the header (total length − header length). */
  readonly payloadLen: number;
  readonly ttl: number;
  /** DSCP (top 6 bits) and ECN (low 2 bits) byte. */
  readonly tos: number;
  /** Identification. */
  readonly ident: number;
  readonly dontFragment: boolean;
  /**
   * Set on fragments (offset > 0 or MF), undefined otherwise. `fragment.id` repeats `ident` so
   * a reassembly key needs only src, dst, protocol and the fragment; emit writes `ident`.
   */
  readonly fragment?: Ipv4Fragment | undefined;
  /** Raw option bytes (RFC 791 §3.1 "Options"); parse always sets it, empty when none. */
  readonly options?: Uint8Array;
}

/**
 * Parses a checked view. A header whose checksum does not verify is 'bad-checksum'; a fragment
 * reaching past 65535 bytes of datagram ("ping of death") is 'malformed'. The reserved flag is
 * ignored.
 * @param view - A checked view.
 * @returns The repr (addresses and options copied), or a WireError.
 */
export function parseIpv4(view: Ipv4View): Ipv4Repr | WireError {
  if (!view.checksumOk()) return wireError('bad-checksum');
  const payloadLen = view.totalLen - view.headerLen;
  let fragment: Ipv4Fragment | undefined;
  if (view.isFragment) {
    if (view.fragOffset + payloadLen > IPV4_MAX_DATAGRAM) return wireError('malformed');
    fragment = { id: view.ident, offset: view.fragOffset, moreFragments: view.moreFragments };
  }
  return {
    src: view.src.slice(),
    dst: view.dst.slice(),
    protocol: view.protocol,
    payloadLen,
    ttl: view.ttl,
    tos: view.tos,
    ident: view.ident,
    dontFragment: view.dontFragment,
    fragment,
    options: view.options().slice(),
  };
}

/**
 * Header length of `repr`: 20 plus the options padded to a multiple of 4. Options longer than
 * 40 bytes cannot be represented (IHL is 4 bits); the caller must not pass them.
 * @returns The header length in bytes.
 */
export function ipv4HeaderLen(repr: Ipv4Repr): number {
  const n = repr.options?.length ?? 0;
  return IPV4_HEADER_LEN + ((n + 3) & ~3);
}

/**
 * Writes every byte of the header of `repr` (options padded with zeros, RFC 791 §3.1 "Padding",
 * and the checksum) into the first ipv4HeaderLen(repr) bytes of `buf`. The payload after it is
 * the caller's. The reserved flag is written as zero.
 * @param repr - The header; fragment offsets are rounded down to a multiple of 8.
 * @param buf - At least ipv4HeaderLen(repr) bytes.
 */
export function emitIpv4(repr: Ipv4Repr, buf: Uint8Array): void {
  const hl = ipv4HeaderLen(repr);
  buf[Ipv4Field.VER_IHL] = 0x40 | ((hl >>> 2) & 0x0f);
  buf[Ipv4Field.TOS] = repr.tos;
  putU16(buf, Ipv4Field.LENGTH, hl + repr.payloadLen);
  putU16(buf, Ipv4Field.IDENT, repr.ident);
  const frag = repr.fragment;
  const flags = (repr.dontFragment ? FLAG_DF : 0) | (frag?.moreFragments ? FLAG_MF : 0);
  putU16(buf, Ipv4Field.FLG_OFF, flags | (frag ? (frag.offset >>> 3) & FRAG_OFFSET_MASK : 0));
  buf[Ipv4Field.TTL] = repr.ttl;
  buf[Ipv4Field.PROTOCOL] = repr.protocol;
  putU16(buf, Ipv4Field.CHECKSUM, 0);
  buf.set(repr.src.subarray(0, 4), Ipv4Field.SRC);
  buf.set(repr.dst.subarray(0, 4), Ipv4Field.DST);
  const opts = repr.options ?? new Uint8Array(0);
  buf.set(opts, IPV4_HEADER_LEN);
  buf.fill(0, IPV4_HEADER_LEN + opts.length, hl);
  putU16(buf, Ipv4Field.CHECKSUM, checksum(buf.subarray(0, hl)));
}
