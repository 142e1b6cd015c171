// UDP (RFC 768) with the IPv4/IPv6 pseudo-header checksum (RFC 8200 §8.1: mandatory over IPv6).
import { type WireError, wireError, getU16, putU16 } from './common.js';
import { sum16, verify, finish, pseudoHeaderSum4, pseudoHeaderSum6 } from './checksum.js';
import { IpProtocol } from './ipv4.js';

/** Length of the UDP header. */
export const UDP_HEADER_LEN = 8;

/** Running sum of the pseudo-header for an IPv4 (4-byte) or IPv6 (16-byte) address pair. */
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

/** A zero-copy view of a UDP datagram. */
export class UdpView {
  private constructor(readonly buf: Uint8Array) {}
  /** Checks the length field against the buffer (trailing bytes beyond it are ignored). */
  static checked(buf: Uint8Array): UdpView | WireError {
    if (buf.length < UDP_HEADER_LEN) return wireError('truncated');
    const len = getU16(buf, 4);
    if (len < UDP_HEADER_LEN) return wireError('malformed');
    if (len > buf.length) return wireError('truncated');
    return new UdpView(buf);
  }
  static unchecked(buf: Uint8Array): UdpView {
    return new UdpView(buf);
  }
  get srcPort(): number {
    return getU16(this.buf, 0);
  }
  set srcPort(v: number) {
    putU16(this.buf, 0, v);
  }
  get dstPort(): number {
    return getU16(this.buf, 2);
  }
  set dstPort(v: number) {
    putU16(this.buf, 2, v);
  }
  get length(): number {
    return getU16(this.buf, 4);
  }
  get checksum(): number {
    return getU16(this.buf, 6);
  }
  /** The payload (length − 8 bytes), zero copy. */
  payload(): Uint8Array {
    return this.buf.subarray(UDP_HEADER_LEN, this.length);
  }
}

/** A parsed UDP header. */
export interface UdpRepr {
  readonly srcPort: number;
  readonly dstPort: number;
  readonly payloadLen: number;
}

/**
 * Parses a checked view; `src`/`dst` (4 or 16 bytes) form the pseudo-header. A zero checksum
 * means "none" over IPv4 and is 'malformed' over IPv6; destination port 0 is 'malformed'.
 */
export function parseUdp(view: UdpView, src: Uint8Array, dst: Uint8Array): UdpRepr | WireError {
  if (view.dstPort === 0) return wireError('malformed');
  const cs = view.checksum;
  if (cs === 0) {
    if (src.length === 16) return wireError('malformed');
  } else {
    const seg = view.buf.subarray(0, view.length);
    if (!verify(sum16(seg, l4PseudoSum(src, dst, IpProtocol.Udp, seg.length))))
      return wireError('bad-checksum');
  }
  return { srcPort: view.srcPort, dstPort: view.dstPort, payloadLen: view.length - UDP_HEADER_LEN };
}

/**
 * Writes the header into the first 8 bytes of `buf` and the checksum over header and payload.
 * Contract: `buf` is exactly 8 + payloadLen bytes and the payload is already in place after
 * the header. A computed checksum of 0 is sent as 0xffff (RFC 768).
 */
export function emitUdp(repr: UdpRepr, buf: Uint8Array, src: Uint8Array, dst: Uint8Array): void {
  const len = UDP_HEADER_LEN + repr.payloadLen;
  putU16(buf, 0, repr.srcPort);
  putU16(buf, 2, repr.dstPort);
  putU16(buf, 4, len);
  putU16(buf, 6, 0);
  const c = finish(sum16(buf.subarray(0, len), l4PseudoSum(src, dst, IpProtocol.Udp, len)));
  putU16(buf, 6, c === 0 ? 0xffff : c);
}
