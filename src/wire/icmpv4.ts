// ICMPv4 (RFC 792): echo request/reply, destination unreachable and time exceeded; other types 'unsupported'.
//
// Every message starts type(1) code(1) checksum(2) and 4 type-specific bytes; the checksum covers
// the whole ICMP message (RFC 792: "the 16-bit one's complement of the one's complement sum of
// the ICMP message starting with the ICMP Type"), so the view must be given exactly the IPv4
// payload (Ipv4View.payload(), which leaves Ethernet padding out). Error messages carry the
// "Internet Header + 64 bits of Original Data Datagram", kept as raw bytes (`invoking`, the name
// ICMPv6 uses). Types other than 0, 3, 8 and 11 are 'unsupported' from parseIcmpv4; the view still
// reads them, so they can be logged.
import { type WireError, wireError, getU16, putU16 } from './common.js';
import { sum16, verify, checksum } from './checksum.js';

/** ICMPv4 message types (IANA "ICMP Type Numbers"); parseIcmpv4 handles 0, 3, 8, 11. */
export const Icmpv4Type = {
  EchoReply: 0,
  DestUnreachable: 3,
  Redirect: 5,
  EchoRequest: 8,
  TimeExceeded: 11,
  ParamProblem: 12,
} as const;

/** Destination-unreachable codes (RFC 792; RFC 1191 for 4; RFC 1812 §5.2.7.1 for 13). */
export const Icmpv4Unreach = {
  Net: 0,
  Host: 1,
  Protocol: 2,
  Port: 3,
  /** Fragmentation needed and DF set; carries the next-hop MTU (RFC 1191 §4). */
  FragNeeded: 4,
  SourceRouteFailed: 5,
  NetUnknown: 6,
  HostUnknown: 7,
  NetProhibited: 9,
  HostProhibited: 10,
  AdminProhibited: 13,
} as const;

/** Time-exceeded codes (RFC 792). */
export const Icmpv4TimeExceeded = { TtlInTransit: 0, FragReassembly: 1 } as const;

/** Named offsets of an ICMPv4 message. */
export const Icmpv4Field = {
  TYPE: 0,
  CODE: 1,
  CHECKSUM: 2,
  /** Echo: identifier. */
  IDENT: 4,
  /** Echo: sequence number. */
  SEQ_NO: 6,
  /** Destination unreachable code 4: next-hop MTU (RFC 1191 §4). */
  NEXT_HOP_MTU: 6,
  /** Echo data, or the invoking datagram of an error. */
  DATA: 8,
} as const;
/** Length of the ICMPv4 header (type, code, checksum and the 4 type-specific bytes). */
export const ICMPV4_HEADER_LEN = 8;

/** A zero-copy view of an ICMPv4 message. After `checked`, no accessor reads out of bounds. */
export class Icmpv4View {
  private constructor(readonly buf: Uint8Array) {}

  /**
   * Checks the 8-byte header is there.
   * @param buf - Exactly the ICMP message (the IPv4 payload).
   * @returns The view, or 'truncated'.
   */
  static checked(buf: Uint8Array): Icmpv4View | WireError {
    return buf.length < ICMPV4_HEADER_LEN ? wireError('truncated') : new Icmpv4View(buf);
  }
  /** A view for emitting into `buf`. No checks. */
  static unchecked(buf: Uint8Array): Icmpv4View {
    return new Icmpv4View(buf);
  }
  /** Message type ({@link Icmpv4Type}). */
  get type(): number {
    return this.buf[Icmpv4Field.TYPE]!;
  }
  /** Code. */
  get code(): number {
    return this.buf[Icmpv4Field.CODE]!;
  }
  /** Checksum field. */
  get checksum(): number {
    return getU16(this.buf, Icmpv4Field.CHECKSUM);
  }
  set checksum(v: number) {
    putU16(this.buf, Icmpv4Field.CHECKSUM, v);
  }
  /** Echo identifier (bytes 4–5). */
  get ident(): number {
    return getU16(this.buf, Icmpv4Field.IDENT);
  }
  /** Sets the echo identifier; the caller fixes the checksum (see updateChecksum16). */
  set ident(v: number) {
    putU16(this.buf, Icmpv4Field.IDENT, v);
  }
  /** Echo sequence number (bytes 6–7). */
  get seqNo(): number {
    return getU16(this.buf, Icmpv4Field.SEQ_NO);
  }
  /** Next-hop MTU of a fragmentation-needed message (bytes 6–7; meaningless otherwise). */
  get nextHopMtu(): number {
    return getU16(this.buf, Icmpv4Field.NEXT_HOP_MTU);
  }
  /** True when the checksum over the whole message verifies. */
  checksumOk(): boolean {
    return verify(sum16(this.buf));
  }
  /** Recomputes the checksum over the whole message in place. */
  fillChecksum(): void {
    putU16(this.buf, Icmpv4Field.CHECKSUM, 0);
    putU16(this.buf, Icmpv4Field.CHECKSUM, checksum(this.buf));
  }
  /** Bytes after the 8-byte header (echo data, or the invoking datagram of an error), zero copy. */
  data(): Uint8Array {
    return this.buf.subarray(ICMPV4_HEADER_LEN);
  }
}

/** Echo request (8) or reply (0), RFC 792 "Echo or Echo Reply Message". */
export interface Icmpv4Echo {
  readonly type: 0 | 8;
  readonly ident: number;
  readonly seqNo: number;
  readonly data: Uint8Array;
}

/** Destination unreachable (3), RFC 792 "Destination Unreachable Message". */
export interface Icmpv4DestUnreachable {
  readonly type: 3;
  /** {@link Icmpv4Unreach}; any value is kept. */
  readonly code: number;
  /** Next-hop MTU for code 4 (RFC 1191 §4); 0 for every other code. */
  readonly nextHopMtu: number;
  /** The invoking datagram: its IP header and at least 8 bytes of its data. */
  readonly invoking: Uint8Array;
}

/** Time exceeded (11), RFC 792 "Time Exceeded Message". */
export interface Icmpv4TimeExceededMsg {
  readonly type: 11;
  /** {@link Icmpv4TimeExceeded}; any value is kept. */
  readonly code: number;
  /** The invoking datagram. */
  readonly invoking: Uint8Array;
}

/** A parsed ICMPv4 message. */
export type Icmpv4Repr = Icmpv4Echo | Icmpv4DestUnreachable | Icmpv4TimeExceededMsg;

/**
 * Parses a checked view over the whole ICMP message. The checksum must verify ('bad-checksum');
 * echo messages must have code 0 (RFC 792, else 'malformed'); types other than 0, 3, 8, 11 are
 * 'unsupported'. The 4 "unused" bytes of errors are ignored (except the MTU of code 4).
 * @param view - A checked view.
 * @returns The repr (data copied), or a WireError.
 */
export function parseIcmpv4(view: Icmpv4View): Icmpv4Repr | WireError {
  if (!view.checksumOk()) return wireError('bad-checksum');
  const type = view.type;
  switch (type) {
    case Icmpv4Type.EchoReply:
    case Icmpv4Type.EchoRequest:
      if (view.code !== 0) return wireError('malformed');
      return { type, ident: view.ident, seqNo: view.seqNo, data: view.data().slice() };
    case Icmpv4Type.DestUnreachable:
      return {
        type,
        code: view.code,
        nextHopMtu: view.code === Icmpv4Unreach.FragNeeded ? view.nextHopMtu : 0,
        invoking: view.data().slice(),
      };
    case Icmpv4Type.TimeExceeded:
      return { type, code: view.code, invoking: view.data().slice() };
    default:
      return wireError('unsupported');
  }
}

/**
 * Total message length of `repr`.
 * @returns 8 plus the echo data or invoking datagram length.
 */
export function icmpv4BufferLen(repr: Icmpv4Repr): number {
  return ICMPV4_HEADER_LEN + ('data' in repr ? repr.data : repr.invoking).length;
}

/**
 * Writes the whole message, checksum included, into the first icmpv4BufferLen(repr) bytes of
 * `buf`. Unused bytes of errors are written as zero.
 * @param repr - The message.
 * @param buf - At least icmpv4BufferLen(repr) bytes.
 */
export function emitIcmpv4(repr: Icmpv4Repr, buf: Uint8Array): void {
  const len = icmpv4BufferLen(repr);
  buf[Icmpv4Field.TYPE] = repr.type;
  putU16(buf, Icmpv4Field.CHECKSUM, 0);
  if ('data' in repr) {
    buf[Icmpv4Field.CODE] = 0;
    putU16(buf, Icmpv4Field.IDENT, repr.ident);
    putU16(buf, Icmpv4Field.SEQ_NO, repr.seqNo);
    buf.set(repr.data, ICMPV4_HEADER_LEN);
  } else {
    buf[Icmpv4Field.CODE] = repr.code;
    putU16(buf, 4, 0);
    const mtu = repr.type === 3 && repr.code === Icmpv4Unreach.FragNeeded ? repr.nextHopMtu : 0;
    putU16(buf, Icmpv4Field.NEXT_HOP_MTU, mtu);
    buf.set(repr.invoking, ICMPV4_HEADER_LEN);
  }
  putU16(buf, Icmpv4Field.CHECKSUM, checksum(buf.subarray(0, len)));
}
