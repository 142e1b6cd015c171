// ICMPv4 (RFC 792): echo request/reply, destination unreachable and time exceeded.
import { type WireError, wireError, getU16, putU16 } from './common.js';
import { sum16, verify, checksum } from './checksum.js';

/** ICMPv4 message types bindery handles. */
export const Icmpv4Type = {
  EchoReply: 0,
  DestUnreachable: 3,
  EchoRequest: 8,
  TimeExceeded: 11,
} as const;
/** Destination-unreachable codes (RFC 792, RFC 1191 for 4). */
export const Icmpv4Unreach = {
  Net: 0,
  Host: 1,
  Protocol: 2,
  Port: 3,
  FragNeeded: 4,
  AdminProhibited: 13,
} as const;

/** A zero-copy view of an ICMPv4 message. */
export class Icmpv4View {
  private constructor(readonly buf: Uint8Array) {}
  static checked(buf: Uint8Array): Icmpv4View | WireError {
    return buf.length < 8 ? wireError('truncated') : new Icmpv4View(buf);
  }
  static unchecked(buf: Uint8Array): Icmpv4View {
    return new Icmpv4View(buf);
  }
  get type(): number {
    return this.buf[0]!;
  }
  get code(): number {
    return this.buf[1]!;
  }
  get checksum(): number {
    return getU16(this.buf, 2);
  }
  /** Echo identifier (bytes 4–5). */
  get ident(): number {
    return getU16(this.buf, 4);
  }
  set ident(v: number) {
    putU16(this.buf, 4, v);
  }
  get seqNo(): number {
    return getU16(this.buf, 6);
  }
  /** Bytes after the 8-byte header (echo data, or the invoking datagram of an error). */
  data(): Uint8Array {
    return this.buf.subarray(8);
  }
}

/** A parsed ICMPv4 message. */
export type Icmpv4Repr =
  | {
      readonly type: 0 | 8;
      readonly ident: number;
      readonly seqNo: number;
      readonly data: Uint8Array;
    }
  | {
      readonly type: 3;
      readonly code: number;
      readonly nextHopMtu: number;
      readonly invoking: Uint8Array;
    }
  | { readonly type: 11; readonly code: number; readonly invoking: Uint8Array };

/** Parses a checked view over the whole ICMP message (checksum covers it all). */
export function parseIcmpv4(view: Icmpv4View): Icmpv4Repr | WireError {
  if (!verify(sum16(view.buf))) return wireError('bad-checksum');
  switch (view.type) {
    case Icmpv4Type.EchoReply:
    case Icmpv4Type.EchoRequest:
      if (view.code !== 0) return wireError('malformed');
      return { type: view.type, ident: view.ident, seqNo: view.seqNo, data: view.data().slice() };
    case Icmpv4Type.DestUnreachable:
      return {
        type: 3,
        code: view.code,
        nextHopMtu: view.code === Icmpv4Unreach.FragNeeded ? view.seqNo : 0,
        invoking: view.data().slice(),
      };
    case Icmpv4Type.TimeExceeded:
      return { type: 11, code: view.code, invoking: view.data().slice() };
    default:
      return wireError('unsupported');
  }
}

/** Total message length of `repr`. */
export function icmpv4BufferLen(repr: Icmpv4Repr): number {
  return 8 + ('data' in repr ? repr.data.length : repr.invoking.length);
}

/** Writes the whole message (checksum included) into `buf` of icmpv4BufferLen bytes. */
export function emitIcmpv4(repr: Icmpv4Repr, buf: Uint8Array): void {
  buf[0] = repr.type;
  buf[1] = 'code' in repr ? repr.code : 0;
  putU16(buf, 2, 0);
  if ('data' in repr) {
    putU16(buf, 4, repr.ident);
    putU16(buf, 6, repr.seqNo);
    buf.set(repr.data, 8);
  } else {
    putU16(buf, 4, 0);
    putU16(buf, 6, repr.type === 3 ? repr.nextHopMtu : 0);
    buf.set(repr.invoking, 8);
  }
  putU16(buf, 2, checksum(buf.subarray(0, icmpv4BufferLen(repr))));
}
