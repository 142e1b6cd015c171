// TCP segment headers (RFC 9293 §3.1) and options: MSS, window scale and timestamps (RFC 7323), SACK (RFC 2018).
//
// This is the translator's per-segment hot path, so the work is split by cost:
// - `TcpView.checked` checks two lengths; its getters (seq, ack, flags, window…) read the buffer
//   in place and allocate nothing. The flow layer can act on a segment with the view alone.
// - `parseTcp` verifies the checksum and returns a Repr; options are parsed (and allocate) only
//   when the header has option bytes. Unknown options and payloads stay in the frame buffer as
//   subarrays (zero copy): a Repr is valid as long as the buffer is not reused.
// - `emitTcp` lays options out as Linux does (4-byte aligned with NOPs: MSS, SACK-permitted +
//   timestamps, window scale, SACK blocks), so re-emitting a Linux segment gives the same bytes.
//
// Buffer contract: a view wraps exactly one segment, header and payload (the IP payload, trimmed
// to the IP length); the checksum covers all of it. `emitTcp` writes the header in front of a
// payload that is already in place after it.
import { type WireError, wireError, getU16, getU32, putU16, putU32 } from './common.js';
import { sum16, sum16Range, verify, finish } from './checksum.js';
import { IpProtocol } from './ipv4.js';
import { l4PseudoSum } from './udp.js';

/** Byte offsets of the TCP header fields (RFC 9293 §3.1). */
export const TcpField = {
  SRC_PORT: 0,
  DST_PORT: 2,
  SEQ: 4,
  ACK: 8,
  /** Data offset in the upper 4 bits, in 32-bit words. */
  DATA_OFFSET: 12,
  FLAGS: 13,
  WINDOW: 14,
  CHECKSUM: 16,
  URGENT: 18,
  OPTIONS: 20,
} as const;

/** Control bits of byte 13 (RFC 9293 §3.1; ECE and CWR from RFC 3168 §23.2). */
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

/** Option kinds (RFC 9293 §3.2, RFC 7323, RFC 2018). Other kinds are kept raw. */
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
/** Most option bytes a header can carry (data offset 15 words = 60 bytes). */
export const TCP_MAX_OPTIONS_LEN = 40;
/** Largest window shift (RFC 7323 §2.3); larger received values are used as 14. */
export const TCP_MAX_WINDOW_SHIFT = 14;
/** Most SACK blocks an option can hold (RFC 2018 §3; three when timestamps are present). */
export const TCP_MAX_SACK_BLOCKS = 4;

/** One SACK block: [left edge, right edge) as sequence numbers (RFC 2018 §3). */
export type SackBlock = readonly [left: number, right: number];

/** An option kind this module does not interpret, kept so it can be logged and re-emitted. */
export interface TcpUnknownOption {
  readonly kind: number;
  /** The bytes after kind and length (a subarray of the parsed segment). */
  readonly data: Uint8Array;
}

/** Parsed options; an absent field means the option was not in the header. */
export interface TcpOptions {
  /** Maximum segment size (RFC 9293 §3.7.1). Only meaningful on a SYN. */
  readonly mss?: number;
  /** Window shift count, already limited to 14 (RFC 7323 §2.3). Only meaningful on a SYN. */
  readonly windowScale?: number;
  /** SACK-permitted (RFC 2018 §2). Only meaningful on a SYN. */
  readonly sackPermitted?: boolean;
  /** SACK blocks, 1 to 4 (RFC 2018 §3). */
  readonly sack?: readonly SackBlock[];
  /** TSval and TSecr (RFC 7323 §3.2). */
  readonly timestamps?: { readonly value: number; readonly echo: number };
  /** Unknown options in the order they came. */
  readonly unknown?: readonly TcpUnknownOption[];
}

/** The options of a header that has none; shared, so a bare segment costs no allocation. */
export const TCP_NO_OPTIONS: TcpOptions = Object.freeze({});

/**
 * The checks of {@link TcpView.checked} on the segment at [off, end) of `buf`, without a view:
 * for parsers that read a frame in place.
 * @returns undefined when a view would be safe, else 'truncated' / 'malformed'.
 */
export function checkTcpAt(buf: Uint8Array, off: number, end: number): WireError | undefined {
  if (end - off < TCP_HEADER_LEN) return wireError('truncated');
  const hl = (buf[off + TcpField.DATA_OFFSET]! >>> 4) * 4;
  if (hl < TCP_HEADER_LEN) return wireError('malformed');
  if (hl > end - off) return wireError('truncated');
  return undefined;
}

/** {@link TcpView.checksumOk} of the segment at [off, end) of `buf`, summed in place. */
export function tcpChecksumOkAt(
  buf: Uint8Array,
  off: number,
  end: number,
  src: Uint8Array,
  dst: Uint8Array,
): boolean {
  return verify(sum16Range(buf, off, end, l4PseudoSum(src, dst, IpProtocol.Tcp, end - off)));
}

/**
 * A zero-copy view of a TCP segment. The getters read the buffer in place; the hot path reads
 * seq, ack, flags and window here without allocating.
 */
export class TcpView {
  private constructor(readonly buf: Uint8Array) {}

  /**
   * Wraps untrusted bytes. After success every accessor stays within `buf`.
   *
   * @param buf - exactly one segment: the IP payload, trimmed to the IP length
   * @returns the view; 'truncated' when `buf` is shorter than 20 bytes or than the data offset,
   *   'malformed' when the data offset is below 5 words (RFC 9293 §3.1: "The TCP header
   *   (even one including options) is an integer multiple of 32 bits long")
   */
  static checked(buf: Uint8Array): TcpView | WireError {
    return checkTcpAt(buf, 0, buf.length) ?? new TcpView(buf);
  }

  /**
   * Wraps a buffer without checks, for emitting or rewriting.
   *
   * @param buf - at least 20 bytes
   * @returns the view
   */
  static unchecked(buf: Uint8Array): TcpView {
    return new TcpView(buf);
  }

  /** Source port. */
  get srcPort(): number {
    return getU16(this.buf, TcpField.SRC_PORT);
  }
  set srcPort(v: number) {
    putU16(this.buf, TcpField.SRC_PORT, v);
  }
  /** Destination port. */
  get dstPort(): number {
    return getU16(this.buf, TcpField.DST_PORT);
  }
  set dstPort(v: number) {
    putU16(this.buf, TcpField.DST_PORT, v);
  }
  /** Sequence number. */
  get seq(): number {
    return getU32(this.buf, TcpField.SEQ);
  }
  set seq(v: number) {
    putU32(this.buf, TcpField.SEQ, v);
  }
  /** Acknowledgment number (meaningful when ACK is set). */
  get ack(): number {
    return getU32(this.buf, TcpField.ACK);
  }
  set ack(v: number) {
    putU32(this.buf, TcpField.ACK, v);
  }
  /** Header length in bytes: the data offset times 4. */
  get headerLen(): number {
    return (this.buf[TcpField.DATA_OFFSET]! >>> 4) * 4;
  }
  /** Control bits (see {@link TcpFlag}). */
  get flags(): number {
    return this.buf[TcpField.FLAGS]!;
  }
  set flags(v: number) {
    this.buf[TcpField.FLAGS] = v;
  }
  /** Window field, unscaled. */
  get window(): number {
    return getU16(this.buf, TcpField.WINDOW);
  }
  set window(v: number) {
    putU16(this.buf, TcpField.WINDOW, v);
  }
  /** Checksum field. */
  get checksum(): number {
    return getU16(this.buf, TcpField.CHECKSUM);
  }
  set checksum(v: number) {
    putU16(this.buf, TcpField.CHECKSUM, v);
  }
  /** Urgent pointer (meaningful when URG is set). */
  get urgent(): number {
    return getU16(this.buf, TcpField.URGENT);
  }
  set urgent(v: number) {
    putU16(this.buf, TcpField.URGENT, v);
  }

  /**
   * The raw option bytes, zero copy (for {@link parseTcpOptions} or logging).
   *
   * @returns bytes 20 to the data offset
   */
  optionBytes(): Uint8Array {
    return this.buf.subarray(TCP_HEADER_LEN, this.headerLen);
  }

  /**
   * The segment payload, zero copy.
   *
   * @returns bytes from the data offset to the end of the buffer
   */
  payload(): Uint8Array {
    return this.buf.subarray(this.headerLen);
  }

  /**
   * Verifies the checksum over the pseudo-header and the whole buffer (RFC 9293 §3.1).
   *
   * @param src - source address from the IP header (4 or 16 bytes)
   * @param dst - destination address from the IP header
   * @returns true when the sum checks out
   */
  checksumOk(src: Uint8Array, dst: Uint8Array): boolean {
    return tcpChecksumOkAt(this.buf, 0, this.buf.length, src, dst);
  }

  /**
   * Recomputes the checksum field after header fields were rewritten in place.
   *
   * @param src - source address for the pseudo-header (4 or 16 bytes)
   * @param dst - destination address for the pseudo-header
   */
  fillChecksum(src: Uint8Array, dst: Uint8Array): void {
    putU16(this.buf, TcpField.CHECKSUM, 0);
    const c = finish(sum16(this.buf, l4PseudoSum(src, dst, IpProtocol.Tcp, this.buf.length)));
    putU16(this.buf, TcpField.CHECKSUM, c);
  }
}

/**
 * Parses option bytes (RFC 9293 §3.2). Every option except EOL and NOP carries a length that
 * counts kind and length; the known kinds must have their defined length. Option data after an
 * EOL is ignored. A window shift above 14 is limited to 14 (RFC 7323 §2.3: "the TCP SHOULD log
 * the error but MUST use 14 instead of the specified value"). When a kind repeats, the last one
 * counts. Where an option is allowed (MSS, window scale and SACK-permitted only on a SYN) is
 * the flow layer's business.
 *
 * @param b - the option bytes, e.g. {@link TcpView.optionBytes}
 * @returns the options, or 'malformed' for a length below 2, running past the end, or wrong
 *   for the kind (MSS 4, window scale 3, SACK-permitted 2, SACK 2 + 8n with n in 1..4,
 *   timestamps 10)
 */
export function parseTcpOptions(b: Uint8Array): TcpOptions | WireError {
  let mss: number | undefined;
  let windowScale: number | undefined;
  let sackPermitted = false;
  let sack: SackBlock[] | undefined;
  let timestamps: { value: number; echo: number } | undefined;
  let unknown: TcpUnknownOption[] | undefined;
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
    const d = off + 2;
    switch (kind) {
      case TcpOptionKind.Mss:
        if (len !== 4) return wireError('malformed');
        mss = getU16(b, d);
        break;
      case TcpOptionKind.WindowScale:
        if (len !== 3) return wireError('malformed');
        windowScale = Math.min(b[d]!, TCP_MAX_WINDOW_SHIFT);
        break;
      case TcpOptionKind.SackPermitted:
        if (len !== 2) return wireError('malformed');
        sackPermitted = true;
        break;
      case TcpOptionKind.Sack: {
        // RFC 2018 §3: "A SACK option that specifies n blocks will have a length of 8*n+2 bytes"
        const n = (len - 2) >>> 3;
        if ((len - 2) % 8 !== 0 || n < 1 || n > TCP_MAX_SACK_BLOCKS) return wireError('malformed');
        sack = [];
        for (let i = 0; i < n; i++) sack.push([getU32(b, d + 8 * i), getU32(b, d + 8 * i + 4)]);
        break;
      }
      case TcpOptionKind.Timestamps:
        if (len !== 10) return wireError('malformed');
        timestamps = { value: getU32(b, d), echo: getU32(b, d + 4) };
        break;
      default:
        (unknown ??= []).push({ kind, data: b.subarray(d, off + len) });
    }
    off += len;
  }
  const o: {
    -readonly [K in keyof TcpOptions]: TcpOptions[K];
  } = {};
  if (mss !== undefined) o.mss = mss;
  if (windowScale !== undefined) o.windowScale = windowScale;
  if (sackPermitted) o.sackPermitted = true;
  if (sack) o.sack = sack;
  if (timestamps) o.timestamps = timestamps;
  if (unknown) o.unknown = unknown;
  return o;
}

/** A parsed TCP header. The payload stays in the view: `view.payload()`. */
export interface TcpRepr {
  readonly srcPort: number;
  readonly dstPort: number;
  readonly seq: number;
  readonly ack: number;
  /** Control bits (see {@link TcpFlag}). */
  readonly flags: number;
  /** Window field, unscaled. */
  readonly window: number;
  readonly urgent: number;
  readonly options: TcpOptions;
  /** Payload length in bytes. */
  readonly payloadLen: number;
}

/**
 * Applies the protocol rules to a checked view: the checksum is verified over the
 * pseudo-header of `src`/`dst` (RFC 9293 §3.1, mandatory for both IP versions), port 0 on
 * either side is 'malformed' (RFC 9293 §3.1 gives no meaning to it; smoltcp rejects it too) and
 * the options are parsed. The reserved bits of byte 12 are ignored.
 *
 * @param view - a view from {@link TcpView.checked}
 * @param src - source address from the IP header: 4 bytes (IPv4) or 16 (IPv6)
 * @param dst - destination address from the IP header
 * @param verifyChecksum - false only when the checksum is known to be partial (left to an
 *   offloading device by a sender on the same host) and the bytes never crossed a wire
 * @returns the header, or 'bad-checksum' / 'malformed'
 */
export function parseTcp(
  view: TcpView,
  src: Uint8Array,
  dst: Uint8Array,
  verifyChecksum = true,
): TcpRepr | WireError {
  if (view.srcPort === 0 || view.dstPort === 0) return wireError('malformed');
  if (verifyChecksum && !view.checksumOk(src, dst)) return wireError('bad-checksum');
  const hl = view.headerLen;
  let options = TCP_NO_OPTIONS;
  if (hl > TCP_HEADER_LEN) {
    const o = parseTcpOptions(view.optionBytes());
    if ('wireError' in o) return o;
    options = o;
  }
  return {
    srcPort: view.srcPort,
    dstPort: view.dstPort,
    seq: view.seq,
    ack: view.ack,
    flags: view.flags,
    window: view.window,
    urgent: view.urgent,
    options,
    payloadLen: view.buf.length - hl,
  };
}

/**
 * A TcpRepr that {@link parseTcpInto} refills (one per parser, reused for every segment). It
 * owns the options object of timestamps-only segments (see parseTcpInto).
 */
export class TcpReprBuffer implements TcpRepr {
  srcPort = 0;
  dstPort = 0;
  seq = 0;
  ack = 0;
  flags = 0;
  window = 0;
  urgent = 0;
  options: TcpOptions = TCP_NO_OPTIONS;
  payloadLen = 0;
  readonly #ts = { timestamps: { value: 0, echo: 0 } };

  /** Sets the options to this buffer's timestamps-only object, holding `value` and `echo`. */
  setTimestamps(value: number, echo: number): void {
    const ts = this.#ts;
    ts.timestamps.value = value;
    ts.timestamps.echo = echo;
    this.options = ts;
  }
}

/**
 * {@link parseTcp} of the checked segment at [off, end) of `buf` (see {@link checkTcpAt}),
 * written into `into` instead of a new repr: the same rules and the same values, without a view
 * or a repr per segment. Options: none gives TCP_NO_OPTIONS; exactly `NOP NOP TS` (what Linux
 * puts on every data segment once timestamps are agreed) gives an options object owned by
 * `into` and refilled by the next call; anything else is parsed by parseTcpOptions (allocates;
 * SYNs and SACKs are rare). So `into` and its options are valid until the next call on `into`:
 * whoever keeps a field copies it. `into` is unchanged when an error is returned.
 *
 * @returns undefined when `into` holds the header, else the WireError parseTcp would return
 */
export function parseTcpInto(
  into: TcpReprBuffer,
  buf: Uint8Array,
  off: number,
  end: number,
  src: Uint8Array,
  dst: Uint8Array,
  verifyChecksum = true,
): WireError | undefined {
  const srcPort = getU16(buf, off + TcpField.SRC_PORT);
  const dstPort = getU16(buf, off + TcpField.DST_PORT);
  if (srcPort === 0 || dstPort === 0) return wireError('malformed');
  if (verifyChecksum && !tcpChecksumOkAt(buf, off, end, src, dst)) return wireError('bad-checksum');
  const hl = (buf[off + TcpField.DATA_OFFSET]! >>> 4) * 4;
  const o = off + TCP_HEADER_LEN;
  if (
    hl === TCP_HEADER_LEN + 12 &&
    buf[o] === TcpOptionKind.Nop &&
    buf[o + 1] === TcpOptionKind.Nop &&
    buf[o + 2] === TcpOptionKind.Timestamps &&
    buf[o + 3] === 10
  ) {
    into.setTimestamps(getU32(buf, o + 4), getU32(buf, o + 8));
  } else if (hl > TCP_HEADER_LEN) {
    const parsed = parseTcpOptions(buf.subarray(o, off + hl));
    if ('wireError' in parsed) return parsed;
    into.options = parsed;
  } else {
    into.options = TCP_NO_OPTIONS;
  }
  into.srcPort = srcPort;
  into.dstPort = dstPort;
  into.seq = getU32(buf, off + TcpField.SEQ);
  into.ack = getU32(buf, off + TcpField.ACK);
  into.flags = buf[off + TcpField.FLAGS]!;
  into.window = getU16(buf, off + TcpField.WINDOW);
  into.urgent = getU16(buf, off + TcpField.URGENT);
  into.payloadLen = end - off - hl;
  return undefined;
}

/**
 * Option bytes {@link emitTcp} writes for `o`, before the final padding: MSS 4, timestamps 12
 * (with SACK-permitted packed into its two leading bytes), SACK-permitted alone 4, window scale
 * 4, SACK 4 + 8n, each unknown option 2 + data.
 *
 * @param o - the options
 * @returns the unpadded length
 */
export function tcpOptionsLen(o: TcpOptions): number {
  let n = 0;
  if (o.mss !== undefined) n += 4;
  if (o.timestamps) n += 12;
  else if (o.sackPermitted) n += 4;
  if (o.windowScale !== undefined) n += 4;
  if (o.sack) n += 4 + 8 * o.sack.length;
  if (o.unknown) for (const u of o.unknown) n += 2 + u.data.length;
  return n;
}

/**
 * Header length for `repr`: 20 plus the options padded to a multiple of 4. The options must
 * fit in {@link TCP_MAX_OPTIONS_LEN} bytes (e.g. at most 3 SACK blocks next to timestamps);
 * the caller keeps them so.
 *
 * @param repr - the header to emit
 * @returns the header length in bytes
 */
export function tcpHeaderLen(repr: TcpRepr): number {
  if (repr.options === TCP_NO_OPTIONS) return TCP_HEADER_LEN;
  return TCP_HEADER_LEN + ((tcpOptionsLen(repr.options) + 3) & ~3);
}

/**
 * Writes the header of `repr` and the checksum.
 *
 * Buffer contract: `buf` is exactly {@link tcpHeaderLen}(repr) + payloadLen bytes; the payload
 * is already in place after the header and is only read. Every header byte is written. Options
 * go in Linux's aligned layout (`tcp_options_write`), so a Linux segment re-emits byte for byte:
 * `MSS`, `SACK-permitted TS` or `NOP NOP TS`, `NOP NOP SACK-permitted` (without timestamps),
 * `NOP WS`, `NOP NOP SACK…`, then unknown options as they are, then EOL padding (zeros) to a
 * multiple of 4 (RFC 9293 §3.2: "The TCP header padding is used to ensure that the TCP header
 * ends, and data begins, on a 32-bit boundary. The padding is composed of zeros").
 *
 * @param repr - the header; options within 40 bytes, windowScale 0..14
 * @param buf - header space followed by the payload
 * @param src - source address for the pseudo-header: 4 bytes (IPv4) or 16 (IPv6)
 * @param dst - destination address for the pseudo-header
 */
export function emitTcp(repr: TcpRepr, buf: Uint8Array, src: Uint8Array, dst: Uint8Array): void {
  const hl = tcpHeaderLen(repr);
  putU16(buf, TcpField.SRC_PORT, repr.srcPort);
  putU16(buf, TcpField.DST_PORT, repr.dstPort);
  putU32(buf, TcpField.SEQ, repr.seq);
  putU32(buf, TcpField.ACK, repr.ack);
  buf[TcpField.DATA_OFFSET] = (hl >>> 2) << 4;
  buf[TcpField.FLAGS] = repr.flags;
  putU16(buf, TcpField.WINDOW, repr.window);
  putU16(buf, TcpField.CHECKSUM, 0);
  putU16(buf, TcpField.URGENT, repr.urgent);
  if (hl > TCP_HEADER_LEN) emitOptions(repr.options, buf, hl);
  const len = hl + repr.payloadLen;
  const c = finish(sum16(buf.subarray(0, len), l4PseudoSum(src, dst, IpProtocol.Tcp, len)));
  putU16(buf, TcpField.CHECKSUM, c);
}

/** Writes options from byte 20 up to `hl`, padding included. */
function emitOptions(o: TcpOptions, buf: Uint8Array, hl: number): void {
  let off: number = TcpField.OPTIONS;
  const nop = TcpOptionKind.Nop;
  if (o.mss !== undefined) {
    buf[off] = TcpOptionKind.Mss;
    buf[off + 1] = 4;
    putU16(buf, off + 2, o.mss);
    off += 4;
  }
  if (o.timestamps) {
    if (o.sackPermitted) {
      buf[off] = TcpOptionKind.SackPermitted;
      buf[off + 1] = 2;
    } else buf[off] = buf[off + 1] = nop;
    buf[off + 2] = TcpOptionKind.Timestamps;
    buf[off + 3] = 10;
    putU32(buf, off + 4, o.timestamps.value);
    putU32(buf, off + 8, o.timestamps.echo);
    off += 12;
  } else if (o.sackPermitted) {
    buf[off] = buf[off + 1] = nop;
    buf[off + 2] = TcpOptionKind.SackPermitted;
    buf[off + 3] = 2;
    off += 4;
  }
  if (o.windowScale !== undefined) {
    buf[off] = nop;
    buf[off + 1] = TcpOptionKind.WindowScale;
    buf[off + 2] = 3;
    buf[off + 3] = o.windowScale;
    off += 4;
  }
  if (o.sack) {
    buf[off] = buf[off + 1] = nop;
    buf[off + 2] = TcpOptionKind.Sack;
    buf[off + 3] = 2 + 8 * o.sack.length;
    off += 4;
    for (const [left, right] of o.sack) {
      putU32(buf, off, left);
      putU32(buf, off + 4, right);
      off += 8;
    }
  }
  if (o.unknown) {
    for (const u of o.unknown) {
      buf[off] = u.kind;
      buf[off + 1] = 2 + u.data.length;
      buf.set(u.data, off + 2);
      off += 2 + u.data.length;
    }
  }
  buf.fill(TcpOptionKind.Eol, off, hl);
}
