// TCP segments (RFC 9293 §3.1) with MSS, window scale and timestamps (RFC 7323), SACK (RFC 2018).
import { type WireError, wireError, getU16, getU32, putU16, putU32 } from './common.js';
import { sum16, verify, finish } from './checksum.js';
import { IpProtocol } from './ipv4.js';
import { l4PseudoSum } from './udp.js';

/** Control bits (RFC 9293 §3.1, RFC 3168 for ECE/CWR). */
export const TcpFlag = {
  FIN: 0x01,
  SYN: 0x02,
  RST: 0x04,
  PSH: 0x08,
  ACK: 0x10,
  URG: 0x20,
  ECE: 0x40,
  CWR: 0x80,
} as const;
/** Option kinds. */
export const TcpOptionKind = {
  Eol: 0,
  Nop: 1,
  Mss: 2,
  WindowScale: 3,
  SackPermitted: 4,
  Sack: 5,
  Timestamps: 8,
} as const;
/** Length of a TCP header without options. */
export const TCP_HEADER_LEN = 20;

/** Parsed options; absent fields were not present. */
export interface TcpOptions {
  readonly mss?: number;
  readonly windowScale?: number;
  readonly sackPermitted?: boolean;
  readonly sack?: ReadonlyArray<readonly [number, number]>;
  readonly timestamps?: { readonly value: number; readonly echo: number };
  /** Unknown options in order, kept so they can be logged. */
  readonly unknown?: ReadonlyArray<{ readonly kind: number; readonly data: Uint8Array }>;
}

/** A zero-copy view of a TCP segment: the hot path reads fields here without allocating. */
export class TcpView {
  private constructor(readonly buf: Uint8Array) {}
  /** Checks the data offset against the buffer. */
  static checked(buf: Uint8Array): TcpView | WireError {
    if (buf.length < TCP_HEADER_LEN) return wireError('truncated');
    const hl = (buf[12]! >>> 4) * 4;
    if (hl < TCP_HEADER_LEN) return wireError('malformed');
    if (hl > buf.length) return wireError('truncated');
    return new TcpView(buf);
  }
  static unchecked(buf: Uint8Array): TcpView {
    return new TcpView(buf);
  }
  get srcPort(): number {
    return getU16(this.buf, 0);
  }
  get dstPort(): number {
    return getU16(this.buf, 2);
  }
  get seq(): number {
    return getU32(this.buf, 4);
  }
  get ack(): number {
    return getU32(this.buf, 8);
  }
  get headerLen(): number {
    return (this.buf[12]! >>> 4) * 4;
  }
  get flags(): number {
    return this.buf[13]!;
  }
  get window(): number {
    return getU16(this.buf, 14);
  }
  get checksum(): number {
    return getU16(this.buf, 16);
  }
  get urgent(): number {
    return getU16(this.buf, 18);
  }
  /** Raw option bytes. */
  optionBytes(): Uint8Array {
    return this.buf.subarray(TCP_HEADER_LEN, this.headerLen);
  }
  /** Segment payload, zero copy. */
  payload(): Uint8Array {
    return this.buf.subarray(this.headerLen);
  }
  /** Checksum verification over the pseudo-header and the whole segment. */
  checksumOk(src: Uint8Array, dst: Uint8Array): boolean {
    return verify(sum16(this.buf, l4PseudoSum(src, dst, IpProtocol.Tcp, this.buf.length)));
  }
}

/** Parses option bytes (RFC 9293 §3.2); malformed lengths are 'malformed'. */
export function parseTcpOptions(b: Uint8Array): TcpOptions | WireError {
  let mss: number | undefined;
  let windowScale: number | undefined;
  let sackPermitted: boolean | undefined;
  let sack: Array<[number, number]> | undefined;
  let timestamps: { value: number; echo: number } | undefined;
  let unknown: Array<{ kind: number; data: Uint8Array }> | undefined;
  let off = 0;
  while (off < b.length) {
    const kind = b[off]!;
    if (kind === TcpOptionKind.Eol) break;
    if (kind === TcpOptionKind.Nop) {
      off++;
      continue;
    }
    if (off + 2 > b.length) return wireError('malformed');
    const len = b[off + 1]!;
    if (len < 2 || off + len > b.length) return wireError('malformed');
    const d = b.subarray(off + 2, off + len);
    switch (kind) {
      case TcpOptionKind.Mss:
        if (len !== 4) return wireError('malformed');
        mss = getU16(d, 0);
        break;
      case TcpOptionKind.WindowScale:
        if (len !== 3) return wireError('malformed');
        // RFC 7323 §2.3: a shift above 14 is used as 14
        windowScale = Math.min(d[0]!, 14);
        break;
      case TcpOptionKind.SackPermitted:
        if (len !== 2) return wireError('malformed');
        sackPermitted = true;
        break;
      case TcpOptionKind.Sack:
        if ((len - 2) % 8 !== 0 || len < 10) return wireError('malformed');
        sack = [];
        for (let i = 0; i < d.length; i += 8) sack.push([getU32(d, i), getU32(d, i + 4)]);
        break;
      case TcpOptionKind.Timestamps:
        if (len !== 10) return wireError('malformed');
        timestamps = { value: getU32(d, 0), echo: getU32(d, 4) };
        break;
      default:
        (unknown ??= []).push({ kind, data: d.slice() });
    }
    off += len;
  }
  return {
    ...(mss !== undefined && { mss }),
    ...(windowScale !== undefined && { windowScale }),
    ...(sackPermitted && { sackPermitted }),
    ...(sack && { sack }),
    ...(timestamps && { timestamps }),
    ...(unknown && { unknown }),
  };
}

/** A parsed TCP header. */
export interface TcpRepr {
  readonly srcPort: number;
  readonly dstPort: number;
  readonly seq: number;
  readonly ack: number;
  readonly flags: number;
  readonly window: number;
  readonly urgent: number;
  readonly options: TcpOptions;
  readonly payloadLen: number;
}

/** Parses a checked view, verifying the checksum over the pseudo-header of `src`/`dst`. */
export function parseTcp(view: TcpView, src: Uint8Array, dst: Uint8Array): TcpRepr | WireError {
  if (view.dstPort === 0 || view.srcPort === 0) return wireError('malformed');
  if (!view.checksumOk(src, dst)) return wireError('bad-checksum');
  const ob = view.optionBytes();
  const options = ob.length === 0 ? {} : parseTcpOptions(ob);
  if ('wireError' in options) return options;
  return {
    srcPort: view.srcPort,
    dstPort: view.dstPort,
    seq: view.seq,
    ack: view.ack,
    flags: view.flags,
    window: view.window,
    urgent: view.urgent,
    options,
    payloadLen: view.buf.length - view.headerLen,
  };
}

function rawOptionsLen(o: TcpOptions): number {
  let n = 0;
  if (o.mss !== undefined) n += 4;
  if (o.windowScale !== undefined) n += 3;
  if (o.sackPermitted) n += 2;
  if (o.timestamps) n += 10;
  if (o.sack) n += 2 + 8 * o.sack.length;
  for (const u of o.unknown ?? []) n += 2 + u.data.length;
  return n;
}

/** Header length of `repr`: 20 plus options padded to a multiple of 4 (at most 60). */
export function tcpHeaderLen(repr: TcpRepr): number {
  return TCP_HEADER_LEN + ((rawOptionsLen(repr.options) + 3) & ~3);
}

/**
 * Writes the header of `repr` and the checksum. Contract: `buf` is exactly
 * tcpHeaderLen(repr) + payloadLen bytes with the payload already in place after the header.
 * Options go in the order MSS, window scale, SACK-permitted, timestamps, SACK, unknown;
 * padding is EOL (zero) bytes.
 */
export function emitTcp(repr: TcpRepr, buf: Uint8Array, src: Uint8Array, dst: Uint8Array): void {
  const hl = tcpHeaderLen(repr);
  putU16(buf, 0, repr.srcPort);
  putU16(buf, 2, repr.dstPort);
  putU32(buf, 4, repr.seq);
  putU32(buf, 8, repr.ack);
  buf[12] = (hl / 4) << 4;
  buf[13] = repr.flags;
  putU16(buf, 14, repr.window);
  putU16(buf, 16, 0);
  putU16(buf, 18, repr.urgent);
  const o = repr.options;
  let off = TCP_HEADER_LEN;
  if (o.mss !== undefined) {
    buf[off] = 2;
    buf[off + 1] = 4;
    putU16(buf, off + 2, o.mss);
    off += 4;
  }
  if (o.windowScale !== undefined) {
    buf[off] = 3;
    buf[off + 1] = 3;
    buf[off + 2] = o.windowScale;
    off += 3;
  }
  if (o.sackPermitted) {
    buf[off] = 4;
    buf[off + 1] = 2;
    off += 2;
  }
  if (o.timestamps) {
    buf[off] = 8;
    buf[off + 1] = 10;
    putU32(buf, off + 2, o.timestamps.value);
    putU32(buf, off + 6, o.timestamps.echo);
    off += 10;
  }
  if (o.sack) {
    buf[off] = 5;
    buf[off + 1] = 2 + 8 * o.sack.length;
    off += 2;
    for (const [l, r] of o.sack) {
      putU32(buf, off, l);
      putU32(buf, off + 4, r);
      off += 8;
    }
  }
  for (const u of o.unknown ?? []) {
    buf[off] = u.kind;
    buf[off + 1] = 2 + u.data.length;
    buf.set(u.data, off + 2);
    off += 2 + u.data.length;
  }
  buf.fill(0, off, hl);
  const len = hl + repr.payloadLen;
  putU16(buf, 16, finish(sum16(buf.subarray(0, len), l4PseudoSum(src, dst, IpProtocol.Tcp, len))));
}
