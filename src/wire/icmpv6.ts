// ICMPv6 messages (RFC 4443) and Neighbor Discovery (RFC 4861 §4) with their options (§4.6, RFC 8106).
//
// One Repr type covers echo, the four error messages and the five NDP messages, told apart by
// the numeric `type` (see {@link Icmpv6Type}). NDP options are a list of {@link NdpOption},
// coded by ndp-options.ts; options of unknown type are kept raw. Addresses and MACs in a Repr
// are copies (they end up in neighbour and prefix tables); echo data, the invoking packet of an
// error, a redirected header and unknown option data are subarrays of the parsed buffer (zero
// copy), valid as long as the frame buffer is not reused.
//
// Buffer contract: a view wraps exactly the ICMPv6 message (the IPv6 upper-layer payload,
// trimmed to the payload length); the checksum covers all of it. `emitIcmpv6` writes exactly
// `icmpv6BufferLen(repr)` bytes, every one of them.
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
import { sum16, verify, finish, pseudoHeaderSum6 } from './checksum.js';
import { IpProtocol } from './ipv4.js';
import {
  NdpOptionType,
  emitNdpOption,
  ndpOptionsLen,
  parseNdpOptions,
  type NdpOption,
} from './ndp-options.js';

export { NdpOptionType, ndpOptionsLen, parseNdpOptions } from './ndp-options.js';
export type {
  NdpDnsslOption,
  NdpLinkAddrOption,
  NdpMtuOption,
  NdpOption,
  NdpPrefixInfoOption,
  NdpRdnssOption,
  NdpRedirectedHeaderOption,
  NdpUnknownOption,
} from './ndp-options.js';

/** Byte offsets of the ICMPv6 header fields (RFC 4443 §2.1) and of the message bodies. */
export const Icmpv6Field = {
  TYPE: 0,
  CODE: 1,
  CHECKSUM: 2,
  /** Echo identifier (RFC 4443 §4.1). */
  IDENT: 4,
  /** Echo sequence number. */
  SEQ_NO: 6,
  /** Packet Too Big MTU (RFC 4443 §3.2). */
  MTU: 4,
  /** Parameter Problem pointer (RFC 4443 §3.4). */
  POINTER: 4,
  /** Where echo data and the invoking packet of an error start. */
  BODY: 8,
  /** RA Cur Hop Limit (RFC 4861 §4.2). */
  RA_HOP_LIMIT: 4,
  /** RA M, O and Prf bits. */
  RA_FLAGS: 5,
  RA_ROUTER_LIFETIME: 6,
  RA_REACHABLE_TIME: 8,
  RA_RETRANS_TIMER: 12,
  /** NA R, S and O bits (RFC 4861 §4.4). */
  NA_FLAGS: 4,
  /** NS, NA and redirect target address (RFC 4861 §4.3-4.5). */
  TARGET: 8,
  /** Redirect destination address. */
  REDIRECT_DESTINATION: 24,
} as const;

/** ICMPv6 message types (RFC 4443 §2.1, RFC 4861 §4). */
export const Icmpv6Type = {
  DestUnreachable: 1,
  PacketTooBig: 2,
  TimeExceeded: 3,
  ParamProblem: 4,
  EchoRequest: 128,
  EchoReply: 129,
  RouterSolicit: 133,
  RouterAdvert: 134,
  NeighborSolicit: 135,
  NeighborAdvert: 136,
  Redirect: 137,
} as const;

/** Destination Unreachable codes (RFC 4443 §3.1). */
export const Icmpv6DestUnreachableCode = {
  NoRoute: 0,
  AdminProhibited: 1,
  BeyondScope: 2,
  AddrUnreachable: 3,
  PortUnreachable: 4,
  SrcPolicyFailed: 5,
  RejectRoute: 6,
} as const;

/** Time Exceeded codes (RFC 4443 §3.3). */
export const Icmpv6TimeExceededCode = { HopLimit: 0, FragReassembly: 1 } as const;

/** Parameter Problem codes (RFC 4443 §3.4). */
export const Icmpv6ParamProblemCode = { Header: 0, NextHeader: 1, Option: 2 } as const;

/**
 * Most invoking-packet bytes an error message should carry: the whole message must fit the
 * IPv6 minimum MTU (RFC 4443 §2.4(c): "as much of invoking packet as possible without the
 * ICMPv6 packet exceeding the minimum IPv6 MTU"), 1280 − 40 − 8.
 */
export const ICMPV6_ERROR_MAX_INVOKING = 1232;

/** Echo Request (128) or Reply (129) (RFC 4443 §4.1-4.2). */
export interface Icmpv6EchoRepr {
  readonly type: 128 | 129;
  readonly ident: number;
  readonly seqNo: number;
  readonly data: Uint8Array;
}

/** Destination Unreachable (1) or Time Exceeded (3) (RFC 4443 §3.1, §3.3). */
export interface Icmpv6UnreachableRepr {
  readonly type: 1 | 3;
  readonly code: number;
  /** As much of the invoking packet as fits (see {@link ICMPV6_ERROR_MAX_INVOKING}). */
  readonly invoking: Uint8Array;
}

/** Packet Too Big (RFC 4443 §3.2); its code is sent as 0 and ignored on receipt. */
export interface Icmpv6PacketTooBigRepr {
  readonly type: 2;
  readonly mtu: number;
  readonly invoking: Uint8Array;
}

/** Parameter Problem (RFC 4443 §3.4). */
export interface Icmpv6ParamProblemRepr {
  readonly type: 4;
  readonly code: number;
  /** Offset of the error in the invoking packet. */
  readonly pointer: number;
  readonly invoking: Uint8Array;
}

/** Router Solicitation (RFC 4861 §4.1). */
export interface NdpRouterSolicitRepr {
  readonly type: 133;
  readonly options: readonly NdpOption[];
}

/** Router Advertisement (RFC 4861 §4.2). */
export interface NdpRouterAdvertRepr {
  readonly type: 134;
  /** 0: unspecified. */
  readonly curHopLimit: number;
  /** M flag: addresses are available through DHCPv6. */
  readonly managed: boolean;
  /** O flag: other configuration is available through DHCPv6. */
  readonly other: boolean;
  /**
   * Default router preference (RFC 4191 §2.2): 0 medium, 1 high, 3 low. A received reserved
   * value (2) reads as 0 ("MUST treat the value as if it were (00)"). Absent means medium.
   */
  readonly preference?: number;
  /** Seconds; 0: not a default router. */
  readonly routerLifetime: number;
  /** Milliseconds; 0: unspecified. */
  readonly reachableTime: number;
  /** Milliseconds; 0: unspecified. */
  readonly retransTimer: number;
  readonly options: readonly NdpOption[];
}

/** Neighbor Solicitation (RFC 4861 §4.3). */
export interface NdpNeighborSolicitRepr {
  readonly type: 135;
  readonly target: Ipv6Addr;
  readonly options: readonly NdpOption[];
}

/** Neighbor Advertisement (RFC 4861 §4.4). */
export interface NdpNeighborAdvertRepr {
  readonly type: 136;
  /** R flag. */
  readonly router: boolean;
  /** S flag. */
  readonly solicited: boolean;
  /** O flag. */
  readonly override: boolean;
  readonly target: Ipv6Addr;
  readonly options: readonly NdpOption[];
}

/** Redirect (RFC 4861 §4.5). */
export interface NdpRedirectRepr {
  readonly type: 137;
  /** The better first hop (link-local), or the destination itself when it is on-link. */
  readonly target: Ipv6Addr;
  readonly destination: Ipv6Addr;
  readonly options: readonly NdpOption[];
}

/** A parsed ICMPv6 message. */
export type Icmpv6Repr =
  | Icmpv6EchoRepr
  | Icmpv6UnreachableRepr
  | Icmpv6PacketTooBigRepr
  | Icmpv6ParamProblemRepr
  | NdpRouterSolicitRepr
  | NdpRouterAdvertRepr
  | NdpNeighborSolicitRepr
  | NdpNeighborAdvertRepr
  | NdpRedirectRepr;

/** Smallest ICMPv6 message: the 4-byte header and the 4-byte first word of every body. */
const MIN_LEN = 8;

/** A zero-copy view of an ICMPv6 message. */
export class Icmpv6View {
  private constructor(readonly buf: Uint8Array) {}

  /**
   * Wraps untrusted bytes. After success every accessor stays within `buf`.
   *
   * @param buf - exactly the ICMPv6 message (the IPv6 upper-layer payload)
   * @returns the view, or 'truncated' below 8 bytes
   */
  static checked(buf: Uint8Array): Icmpv6View | WireError {
    return buf.length < MIN_LEN ? wireError('truncated') : new Icmpv6View(buf);
  }

  /**
   * Wraps a buffer without checks, for emitting or rewriting.
   *
   * @param buf - at least 8 bytes
   * @returns the view
   */
  static unchecked(buf: Uint8Array): Icmpv6View {
    return new Icmpv6View(buf);
  }

  /** Message type (see {@link Icmpv6Type}); any value can be read. */
  get type(): number {
    return this.buf[Icmpv6Field.TYPE]!;
  }
  /** Message code. */
  get code(): number {
    return this.buf[Icmpv6Field.CODE]!;
  }
  /** Checksum field. */
  get checksum(): number {
    return getU16(this.buf, Icmpv6Field.CHECKSUM);
  }
  set checksum(v: number) {
    putU16(this.buf, Icmpv6Field.CHECKSUM, v);
  }
  /** Echo identifier (bytes 4-5, whatever the type). */
  get ident(): number {
    return getU16(this.buf, Icmpv6Field.IDENT);
  }
  set ident(v: number) {
    putU16(this.buf, Icmpv6Field.IDENT, v);
  }
  /** Echo sequence number (bytes 6-7, whatever the type). */
  get seqNo(): number {
    return getU16(this.buf, Icmpv6Field.SEQ_NO);
  }
  set seqNo(v: number) {
    putU16(this.buf, Icmpv6Field.SEQ_NO, v);
  }
  /** Bytes 4-7 as one number: the MTU of Packet Too Big, the pointer of Parameter Problem. */
  get word1(): number {
    return getU32(this.buf, Icmpv6Field.MTU);
  }

  /**
   * Bytes after the first 8: echo data, or the invoking packet of an error, zero copy.
   *
   * @returns a subarray of `buf`
   */
  body(): Uint8Array {
    return this.buf.subarray(Icmpv6Field.BODY);
  }

  /**
   * Verifies the checksum over the IPv6 pseudo-header (RFC 4443 §2.3, RFC 8200 §8.1) and the
   * whole message.
   *
   * @param src - source address from the IPv6 header
   * @param dst - destination address from the IPv6 header
   * @returns true when the sum checks out
   */
  checksumOk(src: Ipv6Addr, dst: Ipv6Addr): boolean {
    return verify(sum16(this.buf, pseudoHeaderSum6(src, dst, IpProtocol.Icmpv6, this.buf.length)));
  }

  /**
   * Recomputes the checksum field after the message was rewritten in place.
   *
   * @param src - source address for the pseudo-header
   * @param dst - destination address for the pseudo-header
   */
  fillChecksum(src: Ipv6Addr, dst: Ipv6Addr): void {
    putU16(this.buf, Icmpv6Field.CHECKSUM, 0);
    const acc = sum16(this.buf, pseudoHeaderSum6(src, dst, IpProtocol.Icmpv6, this.buf.length));
    putU16(this.buf, Icmpv6Field.CHECKSUM, finish(acc));
  }
}

/** Fixed part of each NDP message before its options (RFC 4861 §4.1-4.5). */
function ndpFixedLen(type: number): number {
  switch (type) {
    case Icmpv6Type.RouterSolicit:
      return 8;
    case Icmpv6Type.RouterAdvert:
      return 16;
    case Icmpv6Type.Redirect:
      return 40;
    default:
      return 24;
  }
}

function isUnspecified(a: Uint8Array): boolean {
  for (let i = 0; i < 16; i++) if (a[i] !== 0) return false;
  return true;
}
function isMulticast(a: Uint8Array): boolean {
  return a[0] === 0xff;
}
function isLinkLocal(a: Uint8Array): boolean {
  return a[0] === 0xfe && (a[1]! & 0xc0) === 0x80;
}
function sameAddr(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < 16; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Applies the protocol rules to a checked view.
 *
 * - The checksum is verified over the IPv6 pseudo-header (RFC 4443 §2.3).
 * - Echo and the four error types are accepted with any code; other types below 133 or above
 *   137 are 'unsupported' (RFC 4443 §2.4: unknown types are passed up or dropped by the caller).
 * - NDP messages get the validity checks of RFC 4861 §6.1.1, §6.1.2, §7.1.1, §7.1.2 and §8.1
 *   that need only the message and its addresses ('malformed' otherwise): code 0, the fixed
 *   part present ('truncated'), every option length above zero; RA and redirect from a
 *   link-local source; NS/NA targets and the redirect destination not multicast; no source
 *   link-layer address option when the source is unspecified (RS, NS), and then an NS goes to a
 *   multicast (solicited-node) address; an NA to a multicast address has S clear; a redirect
 *   target is link-local or the destination itself. The hop limit of 255 (§6.1.1 etc.) is in
 *   the IPv6 header, so the caller checks it.
 *
 * @param view - a view from {@link Icmpv6View.checked}
 * @param src - source address from the IPv6 header
 * @param dst - destination address from the IPv6 header
 * @returns the message, or 'bad-checksum' / 'malformed' / 'truncated' / 'unsupported'
 */
export function parseIcmpv6(
  view: Icmpv6View,
  src: Ipv6Addr,
  dst: Ipv6Addr,
): Icmpv6Repr | WireError {
  if (!view.checksumOk(src, dst)) return wireError('bad-checksum');
  const b = view.buf;
  const t = view.type;
  switch (t) {
    case Icmpv6Type.EchoRequest:
    case Icmpv6Type.EchoReply:
      return { type: t, ident: view.ident, seqNo: view.seqNo, data: view.body() };
    case Icmpv6Type.DestUnreachable:
    case Icmpv6Type.TimeExceeded:
      return { type: t, code: view.code, invoking: view.body() };
    case Icmpv6Type.PacketTooBig:
      return { type: t, mtu: view.word1, invoking: view.body() };
    case Icmpv6Type.ParamProblem:
      return { type: t, code: view.code, pointer: view.word1, invoking: view.body() };
  }
  if (t < Icmpv6Type.RouterSolicit || t > Icmpv6Type.Redirect) return wireError('unsupported');
  if (view.code !== 0) return wireError('malformed');
  const fixed = ndpFixedLen(t);
  if (b.length < fixed) return wireError('truncated');
  const options = parseNdpOptions(b.subarray(fixed));
  if (isWireError(options)) return options;
  const hasSourceLinkAddr = options.some((o) => o.type === NdpOptionType.SourceLinkAddr);
  switch (t) {
    case Icmpv6Type.RouterSolicit:
      // §6.1.1: "If the IP source address is the unspecified address, there is no source
      // link-layer address option in the message."
      if (hasSourceLinkAddr && isUnspecified(src)) return wireError('malformed');
      return { type: t, options };
    case Icmpv6Type.RouterAdvert: {
      // §6.1.2: "IP Source Address is a link-local address."
      if (!isLinkLocal(src)) return wireError('malformed');
      const flags = b[Icmpv6Field.RA_FLAGS]!;
      const prf = (flags >>> 3) & 3;
      return {
        type: t,
        curHopLimit: b[Icmpv6Field.RA_HOP_LIMIT]!,
        managed: (flags & 0x80) !== 0,
        other: (flags & 0x40) !== 0,
        preference: prf === 2 ? 0 : prf,
        routerLifetime: getU16(b, Icmpv6Field.RA_ROUTER_LIFETIME),
        reachableTime: getU32(b, Icmpv6Field.RA_REACHABLE_TIME),
        retransTimer: getU32(b, Icmpv6Field.RA_RETRANS_TIMER),
        options,
      };
    }
    case Icmpv6Type.NeighborSolicit: {
      const target = b.slice(Icmpv6Field.TARGET, Icmpv6Field.TARGET + 16);
      // §7.1.1: "Target Address is not a multicast address." and "If the IP source address is
      // the unspecified address, the IP destination address is a solicited-node multicast
      // address" with "no source link-layer address option in the message."
      if (isMulticast(target)) return wireError('malformed');
      if (isUnspecified(src) && (!isMulticast(dst) || hasSourceLinkAddr))
        return wireError('malformed');
      return { type: t, target, options };
    }
    case Icmpv6Type.NeighborAdvert: {
      const target = b.slice(Icmpv6Field.TARGET, Icmpv6Field.TARGET + 16);
      const flags = b[Icmpv6Field.NA_FLAGS]!;
      const solicited = (flags & 0x40) !== 0;
      // §7.1.2: "Target Address is not a multicast address." and "If the IP Destination Address
      // is a multicast address the Solicited flag is zero."
      if (isMulticast(target) || (solicited && isMulticast(dst))) return wireError('malformed');
      return {
        type: t,
        router: (flags & 0x80) !== 0,
        solicited,
        override: (flags & 0x20) !== 0,
        target,
        options,
      };
    }
    default: {
      const target = b.slice(Icmpv6Field.TARGET, Icmpv6Field.TARGET + 16);
      const destination = b.slice(
        Icmpv6Field.REDIRECT_DESTINATION,
        Icmpv6Field.REDIRECT_DESTINATION + 16,
      );
      // §8.1: "IP Source Address is a link-local address.", "The ICMP Destination Address field
      // in the redirect message does not contain a multicast address.", "The ICMP Target Address
      // is either a link-local address (when redirected to a router) or the same as the ICMP
      // Destination Address (when redirected to the on-link destination)."
      if (!isLinkLocal(src) || isMulticast(destination)) return wireError('malformed');
      if (!isLinkLocal(target) && !sameAddr(target, destination)) return wireError('malformed');
      return { type: Icmpv6Type.Redirect, target, destination, options };
    }
  }
}

/**
 * Bytes the message for `r` occupies.
 *
 * @param r - the message
 * @returns the ICMPv6 length: header, body and options
 */
export function icmpv6BufferLen(r: Icmpv6Repr): number {
  switch (r.type) {
    case Icmpv6Type.EchoRequest:
    case Icmpv6Type.EchoReply:
      return MIN_LEN + r.data.length;
    case Icmpv6Type.DestUnreachable:
    case Icmpv6Type.PacketTooBig:
    case Icmpv6Type.TimeExceeded:
    case Icmpv6Type.ParamProblem:
      return MIN_LEN + r.invoking.length;
    default:
      return ndpFixedLen(r.type) + ndpOptionsLen(r.options);
  }
}

/**
 * Writes the message and its checksum over the IPv6 pseudo-header (RFC 4443 §2.3).
 *
 * Buffer contract: `buf` holds at least {@link icmpv6BufferLen}(r) bytes; exactly that many are
 * written, reserved fields and option padding as zeros (RFC 4861 §4: "MUST be initialized to
 * zero by the sender"). Error messages carry `invoking` as given: the caller truncates it to
 * {@link ICMPV6_ERROR_MAX_INVOKING}. DNSSL names that cannot be encoded are left out.
 *
 * @param r - the message
 * @param buf - where to write it
 * @param src - source address for the pseudo-header
 * @param dst - destination address for the pseudo-header
 */
export function emitIcmpv6(r: Icmpv6Repr, buf: Uint8Array, src: Ipv6Addr, dst: Ipv6Addr): void {
  const len = icmpv6BufferLen(r);
  buf.fill(0, 0, MIN_LEN);
  buf[Icmpv6Field.TYPE] = r.type;
  switch (r.type) {
    case Icmpv6Type.EchoRequest:
    case Icmpv6Type.EchoReply:
      putU16(buf, Icmpv6Field.IDENT, r.ident);
      putU16(buf, Icmpv6Field.SEQ_NO, r.seqNo);
      buf.set(r.data, Icmpv6Field.BODY);
      break;
    case Icmpv6Type.DestUnreachable:
    case Icmpv6Type.TimeExceeded:
      buf[Icmpv6Field.CODE] = r.code;
      buf.set(r.invoking, Icmpv6Field.BODY);
      break;
    case Icmpv6Type.PacketTooBig:
      putU32(buf, Icmpv6Field.MTU, r.mtu);
      buf.set(r.invoking, Icmpv6Field.BODY);
      break;
    case Icmpv6Type.ParamProblem:
      buf[Icmpv6Field.CODE] = r.code;
      putU32(buf, Icmpv6Field.POINTER, r.pointer);
      buf.set(r.invoking, Icmpv6Field.BODY);
      break;
    default:
      emitNdp(r, buf);
  }
  putU16(
    buf,
    Icmpv6Field.CHECKSUM,
    finish(sum16(buf.subarray(0, len), pseudoHeaderSum6(src, dst, IpProtocol.Icmpv6, len))),
  );
}

/** The NDP part of {@link emitIcmpv6}: bytes 4 up to the end of the options. */
function emitNdp(
  r:
    | NdpRouterSolicitRepr
    | NdpRouterAdvertRepr
    | NdpNeighborSolicitRepr
    | NdpNeighborAdvertRepr
    | NdpRedirectRepr,
  buf: Uint8Array,
): void {
  const fixed = ndpFixedLen(r.type);
  buf.fill(0, MIN_LEN, fixed);
  switch (r.type) {
    case Icmpv6Type.RouterSolicit:
      break;
    case Icmpv6Type.RouterAdvert:
      buf[Icmpv6Field.RA_HOP_LIMIT] = r.curHopLimit;
      buf[Icmpv6Field.RA_FLAGS] =
        (r.managed ? 0x80 : 0) | (r.other ? 0x40 : 0) | (((r.preference ?? 0) & 3) << 3);
      putU16(buf, Icmpv6Field.RA_ROUTER_LIFETIME, r.routerLifetime);
      putU32(buf, Icmpv6Field.RA_REACHABLE_TIME, r.reachableTime);
      putU32(buf, Icmpv6Field.RA_RETRANS_TIMER, r.retransTimer);
      break;
    case Icmpv6Type.NeighborSolicit:
      buf.set(r.target.subarray(0, 16), Icmpv6Field.TARGET);
      break;
    case Icmpv6Type.NeighborAdvert:
      buf[Icmpv6Field.NA_FLAGS] =
        (r.router ? 0x80 : 0) | (r.solicited ? 0x40 : 0) | (r.override ? 0x20 : 0);
      buf.set(r.target.subarray(0, 16), Icmpv6Field.TARGET);
      break;
    case Icmpv6Type.Redirect:
      buf.set(r.target.subarray(0, 16), Icmpv6Field.TARGET);
      buf.set(r.destination.subarray(0, 16), Icmpv6Field.REDIRECT_DESTINATION);
      break;
  }
  let off = fixed;
  for (const o of r.options) off += emitNdpOption(o, buf.subarray(off));
}
