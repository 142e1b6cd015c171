// UDP datagrams (RFC 768) with the IPv4 and IPv6 pseudo-header checksums (RFC 8200 §8.1).
//
// Buffer contract: a view wraps the UDP header and what follows it. `UdpView.checked` accepts a
// buffer at least as long as the length field says; bytes after `length` (e.g. Ethernet padding
// the IP layer did not trim) are ignored by every accessor and by the checksum. `emitUdp` writes
// the 8-byte header in front of a payload that is already in place: buffer bytes
// [8, 8 + payloadLen) are the payload and are read, never written.
import { type WireError, wireError, getU16, putU16 } from './common.js';
import {
  sum16,
  sum16Range,
  verify,
  finish,
  pseudoHeaderSum4,
  pseudoHeaderSum6,
} from './checksum.js';
import { IpProtocol } from './ipv4.js';

/** Byte offsets of the UDP header fields (RFC 768). */
export const UdpField = {
  SRC_PORT: 0,
  DST_PORT: 2,
  LENGTH: 4,
  CHECKSUM: 6,
  PAYLOAD: 8,
} as const;

/** Length of the UDP header. */
export const UDP_HEADER_LEN = 8;

/**
 * Running sum of the pseudo-header for an address pair: 4-byte addresses select the IPv4
 * pseudo-header (RFC 768, RFC 9293 §3.1), anything else the IPv6 one (RFC 8200 §8.1).
 *
 * @param src - source address, 4 or 16 bytes
 * @param dst - destination address, same length as `src`
 * @param protocol - upper-layer protocol number (6 TCP, 17 UDP, 58 ICMPv6)
 * @param length - upper-layer length: header plus payload
 * @returns the unfolded sum, to chain into {@link sum16}
 */
export function l4PseudoSum(
  src: Uint8Array,
  dst: Uint8Array,
  protocol: number,
  length: number,
): number {
  return src.length === 4
    ? pseudoHeaderSum4(src, dst, protocol, length)
    : pseudoHeaderSum6(src, dst, protocol, length);
}

/**
 * The checks of {@link UdpView.checked} on the datagram at [off, end) of `buf`, without a view:
 * for parsers that read a frame in place.
 * @returns undefined when a view would be safe, else 'truncated' / 'malformed'.
 */
export function checkUdpAt(buf: Uint8Array, off: number, end: number): WireError | undefined {
  if (end - off < UDP_HEADER_LEN) return wireError('truncated');
  const len = getU16(buf, off + UdpField.LENGTH);
  if (len < UDP_HEADER_LEN) return wireError('malformed');
  if (len > end - off) return wireError('truncated');
  return undefined;
}

/** {@link UdpView.checksumOk} of the checked datagram at `off` in `buf`, summed in place. */
export function udpChecksumOkAt(
  buf: Uint8Array,
  off: number,
  src: Uint8Array,
  dst: Uint8Array,
): boolean {
  const len = getU16(buf, off + UdpField.LENGTH);
  return verify(sum16Range(buf, off, off + len, l4PseudoSum(src, dst, IpProtocol.Udp, len)));
}

/**
 * The rules of {@link parseUdp} on the checked datagram at `off` in `buf`, without a repr.
 * @returns undefined when {@link parseUdp} would return a repr, else its WireError.
 */
export function udpRulesAt(
  buf: Uint8Array,
  off: number,
  src: Uint8Array,
  dst: Uint8Array,
  verify = true,
): WireError | undefined {
  if (getU16(buf, off + UdpField.DST_PORT) === 0) return wireError('malformed');
  if (!verify) {
    // The sender's offload left the checksum partial and the bytes never crossed a wire.
  } else if (getU16(buf, off + UdpField.CHECKSUM) === 0) {
    if (src.length !== 4) return wireError('malformed');
  } else if (!udpChecksumOkAt(buf, off, src, dst)) return wireError('bad-checksum');
  return undefined;
}

/** A zero-copy view of a UDP datagram. */
export class UdpView {
  private constructor(readonly buf: Uint8Array) {}

  /**
   * Wraps untrusted bytes. After success every accessor stays within `buf`.
   *
   * @param buf - the IP payload, starting at the UDP header
   * @returns the view; 'truncated' when `buf` is shorter than 8 bytes or than the length field,
   *   'malformed' when the length field is below 8 (RFC 768: the length counts the header)
   */
  static checked(buf: Uint8Array): UdpView | WireError {
    return checkUdpAt(buf, 0, buf.length) ?? new UdpView(buf);
  }

  /**
   * Wraps a buffer without checks, for emitting.
   *
   * @param buf - at least 8 bytes
   * @returns the view
   */
  static unchecked(buf: Uint8Array): UdpView {
    return new UdpView(buf);
  }

  /** Source port (0: none, RFC 768). */
  get srcPort(): number {
    return getU16(this.buf, UdpField.SRC_PORT);
  }
  set srcPort(v: number) {
    putU16(this.buf, UdpField.SRC_PORT, v);
  }
  /** Destination port. */
  get dstPort(): number {
    return getU16(this.buf, UdpField.DST_PORT);
  }
  set dstPort(v: number) {
    putU16(this.buf, UdpField.DST_PORT, v);
  }
  /** The length field: header plus payload. */
  get length(): number {
    return getU16(this.buf, UdpField.LENGTH);
  }
  set length(v: number) {
    putU16(this.buf, UdpField.LENGTH, v);
  }
  /** The checksum field (0: none was computed, IPv4 only). */
  get checksum(): number {
    return getU16(this.buf, UdpField.CHECKSUM);
  }
  set checksum(v: number) {
    putU16(this.buf, UdpField.CHECKSUM, v);
  }

  /**
   * The payload: bytes 8 to `length`, zero copy.
   *
   * @returns a subarray of `buf`
   */
  payload(): Uint8Array {
    return this.buf.subarray(UDP_HEADER_LEN, this.length);
  }

  /**
   * Verifies the checksum field over the pseudo-header and the datagram (`length` bytes).
   * A zero field is not special here; {@link parseUdp} applies that rule.
   *
   * @param src - source address from the IP header (4 or 16 bytes)
   * @param dst - destination address from the IP header
   * @returns true when the sum checks out
   */
  checksumOk(src: Uint8Array, dst: Uint8Array): boolean {
    return udpChecksumOkAt(this.buf, 0, src, dst);
  }
}

/** A parsed UDP header. The payload stays in the view: `view.payload()`. */
export interface UdpRepr {
  readonly srcPort: number;
  readonly dstPort: number;
  /** Payload length in bytes (the length field minus 8). */
  readonly payloadLen: number;
}

/**
 * Applies the protocol rules to a checked view.
 *
 * - The checksum is verified over the pseudo-header of `src`/`dst`. Over IPv4 a zero field means
 *   the sender computed none (RFC 768: "An all zero transmitted checksum value means that the
 *   transmitter generated no checksum"), and the datagram is accepted unverified. Over IPv6 the
 *   checksum is mandatory (RFC 8200 §8.1: "IPv6 receivers must discard UDP packets containing a
 *   zero checksum"), so zero is 'malformed'.
 * - Destination port 0 is 'malformed': nothing can be listening there (as smoltcp does; the
 *   source port may be 0, RFC 768 "If not used, a value of zero is inserted").
 *
 * @param view - a view from {@link UdpView.checked}
 * @param src - source address from the IP header: 4 bytes (IPv4) or 16 (IPv6)
 * @param dst - destination address from the IP header
 * @param verify - false: the checksum is not looked at (a link vouched for it: partial, from an
 *   offloading sender on this host)
 * @returns the header fields, or 'bad-checksum' / 'malformed'
 */
export function parseUdp(
  view: UdpView,
  src: Uint8Array,
  dst: Uint8Array,
  verify = true,
): UdpRepr | WireError {
  const e = udpRulesAt(view.buf, 0, src, dst, verify);
  if (e) return e;
  return { srcPort: view.srcPort, dstPort: view.dstPort, payloadLen: view.length - UDP_HEADER_LEN };
}

/**
 * Bytes a datagram for `repr` occupies: header plus payload.
 *
 * @param repr - the header to emit
 * @returns 8 + payloadLen
 */
export function udpBufferLen(repr: UdpRepr): number {
  return UDP_HEADER_LEN + repr.payloadLen;
}

/**
 * Writes the header of `repr` and its checksum.
 *
 * Buffer contract: `buf` holds at least {@link udpBufferLen}(repr) bytes; the payload is
 * already at [8, 8 + payloadLen) and is only read. Bytes [0, 8) are all written; nothing after
 * 8 + payloadLen is read or written. The checksum covers the pseudo-header of `src`/`dst`, the
 * header and the payload; a computed 0 is sent as 0xffff (RFC 768: "If the computed checksum is
 * zero, it is transmitted as all ones"), so the field is never "none".
 *
 * @param repr - ports and payload length (at most 65527)
 * @param buf - header followed by the payload
 * @param src - source address for the pseudo-header: 4 bytes (IPv4) or 16 (IPv6)
 * @param dst - destination address for the pseudo-header
 */
export function emitUdp(repr: UdpRepr, buf: Uint8Array, src: Uint8Array, dst: Uint8Array): void {
  const len = UDP_HEADER_LEN + repr.payloadLen;
  putU16(buf, UdpField.SRC_PORT, repr.srcPort);
  putU16(buf, UdpField.DST_PORT, repr.dstPort);
  putU16(buf, UdpField.LENGTH, len);
  putU16(buf, UdpField.CHECKSUM, 0);
  const c = finish(sum16(buf.subarray(0, len), l4PseudoSum(src, dst, IpProtocol.Udp, len)));
  putU16(buf, UdpField.CHECKSUM, c === 0 ? 0xffff : c);
}
