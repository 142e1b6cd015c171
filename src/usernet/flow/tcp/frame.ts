// Builds the TCP segments the translator sends to the guest, from a per-connection header template (pure).
//
// Every segment of a connection has the same Ethernet header, the same IP addresses and the same
// ports, so those bytes are laid out once (`segmentTemplate`) and copied in front of each segment;
// the IPv4 header checksum and the TCP pseudo-header sum of the constant part are precomputed,
// and only the lengths are added per segment (RFC 1071 sums are order independent). The payload
// is copied straight from the caller's chunks into the frame: one copy from socket to guest.
//
// On a link that offloads checksums (an offloading tap) the TCP checksum is left partial: the
// field holds the folded pseudo-header sum and the link says so (VIRTIO_NET_HDR_F_NEEDS_CSUM),
// so the payload is never summed at all.
//
// IPv4 headers carry DF and identification 0 (an atomic datagram, RFC 6864 §4.1), TTL 64; IPv6
// headers hop limit 64 and flow label 0.
import { sum16, finish, fold16 } from '../../../wire/checksum.js';
import { IpProtocol } from '../../../wire/ipv4.js';
import { headTemplate, type HeadTemplate } from '../head-template.js';
import { TcpField, TcpOptionKind } from '../../../wire/tcp.js';

const ETH = 14;
const TCP = 20;

/** The constant part of a connection's segments towards the guest. */
export interface SegmentTemplate extends HeadTemplate {
  readonly family: 4 | 6;
  /** The guest MAC the head was built with (identity), so a changed MAC can be noticed. */
  mac: Uint8Array;
  /**
   * Leave the TCP checksum partial (only the pseudo-header sum in the field), for a link that
   * offloads it: no pass over the payload at all.
   */
  readonly partial: boolean;
}

/** Header fields of one segment. */
export interface SegmentHeader {
  readonly seq: number;
  readonly ack: number;
  readonly flags: number;
  /** The window field, already scaled down. */
  readonly window: number;
}

/** Options sent on a SYN or SYN-ACK. */
export interface SynOptions {
  readonly mss: number;
  /** Window shift to announce; undefined: no window scale option. */
  readonly windowScale?: number;
  readonly sackPermitted: boolean;
}

/**
 * Lays out the constant header bytes of a connection.
 *
 * @param family - 4 or 6
 * @param ethSrc - our MAC
 * @param ethDst - the guest's MAC
 * @param src - the remote end's address as the guest sees it (4 or 16 bytes)
 * @param dst - the guest's address
 * @param srcPort - the remote end's port
 * @param dstPort - the guest's port
 * @param partial - leave checksums partial (see SegmentTemplate.partial)
 * @returns the template
 */
export function segmentTemplate(
  family: 4 | 6,
  ethSrc: Uint8Array,
  ethDst: Uint8Array,
  src: Uint8Array,
  dst: Uint8Array,
  srcPort: number,
  dstPort: number,
  partial = false,
): SegmentTemplate {
  const h = headTemplate(family, IpProtocol.Tcp, ethSrc, ethDst, src, dst, srcPort, dstPort);
  return { family, ...h, mac: ethDst, partial };
}

/** Rewrites the destination MAC of `t` (the guest's MAC changed). */
export function retarget(t: SegmentTemplate, mac: Uint8Array): void {
  t.head.set(mac, 0);
  t.mac = mac;
}

/** Length of the SYN options block for `o` (MSS, SACK-permitted, window scale, aligned). */
function synOptionsLen(o: SynOptions | undefined): number {
  if (!o) return 0;
  return 4 + (o.sackPermitted ? 4 : 0) + (o.windowScale !== undefined ? 4 : 0);
}

/**
 * Builds one segment: header from the template and `h`, then `payloadLen` bytes that `fill`
 * writes at the offset it is given. Checksums are filled last.
 *
 * @param t - the connection's template
 * @param h - sequence, acknowledgment, flags, window
 * @param payloadLen - payload bytes
 * @param fill - copies the payload into the frame at `offset` (omit when payloadLen is 0)
 * @param syn - options of a SYN or SYN-ACK
 * @param sack - SACK blocks (at most 3) to report to the guest
 * @param alloc - where the frame's memory comes from (default: a new Buffer)
 * @returns the Ethernet frame
 */
export function buildSegment(
  t: SegmentTemplate,
  h: SegmentHeader,
  payloadLen: number,
  fill?: (frame: Uint8Array, offset: number) => void,
  syn?: SynOptions,
  sack?: readonly (readonly [number, number])[],
  alloc: (n: number) => Uint8Array = allocFrame,
): Uint8Array {
  const optLen = syn ? synOptionsLen(syn) : sack && sack.length > 0 ? 4 + 8 * sack.length : 0;
  const hl = TCP + optLen;
  // Uninitialised memory: every byte is written below (head, header fields, options, payload).
  const frame = alloc(t.l4 + hl + payloadLen);
  writeHeader(t, frame, h, hl);
  let o = t.l4 + TCP;
  if (syn) {
    frame[o] = TcpOptionKind.Mss;
    frame[o + 1] = 4;
    frame[o + 2] = syn.mss >>> 8;
    frame[o + 3] = syn.mss & 0xff;
    o += 4;
    if (syn.sackPermitted) {
      frame[o] = TcpOptionKind.Nop;
      frame[o + 1] = TcpOptionKind.Nop;
      frame[o + 2] = TcpOptionKind.SackPermitted;
      frame[o + 3] = 2;
      o += 4;
    }
    if (syn.windowScale !== undefined) {
      frame[o] = TcpOptionKind.Nop;
      frame[o + 1] = TcpOptionKind.WindowScale;
      frame[o + 2] = 3;
      frame[o + 3] = syn.windowScale;
    }
  } else if (optLen > 0 && sack) {
    frame[o] = TcpOptionKind.Nop;
    frame[o + 1] = TcpOptionKind.Nop;
    frame[o + 2] = TcpOptionKind.Sack;
    frame[o + 3] = 2 + 8 * sack.length;
    o += 4;
    for (const [l, r] of sack) {
      putU32(frame, o, l);
      putU32(frame, o + 4, r);
      o += 8;
    }
  }
  if (payloadLen > 0) fill?.(frame, t.l4 + hl);
  putChecksum(t, frame);
  return frame;
}

/** Offset of the payload in a data segment (no TCP options) of template `t`. */
export function dataOffset(t: SegmentTemplate): number {
  return t.l4 + TCP;
}

/**
 * Completes a data segment (no TCP options) whose payload is already in place at
 * `dataOffset(t)`: `frame` is exactly the segment, header room included.
 *
 * @param t - the connection's template
 * @param frame - the frame, its payload written (e.g. peeked from the host socket)
 * @param h - sequence, acknowledgment, flags, window
 */
export function finishDataSegment(t: SegmentTemplate, frame: Uint8Array, h: SegmentHeader): void {
  writeHeader(t, frame, h, TCP);
  putChecksum(t, frame);
}

/** Head, lengths, IPv4 checksum and the fixed TCP fields (header length `hl`); checksum zero. */
function writeHeader(t: SegmentTemplate, frame: Uint8Array, h: SegmentHeader, hl: number): void {
  frame.set(t.head, 0);
  const tcpLen = frame.length - t.l4;
  if (t.family === 4) {
    const total = 20 + tcpLen;
    frame[ETH + 2] = total >>> 8;
    frame[ETH + 3] = total & 0xff;
    const c = finish(t.ipSum + total);
    frame[ETH + 10] = c >>> 8;
    frame[ETH + 11] = c & 0xff;
  } else {
    frame[ETH + 4] = tcpLen >>> 8;
    frame[ETH + 5] = tcpLen & 0xff;
  }
  const b = t.l4;
  putU32(frame, b + TcpField.SEQ, h.seq);
  putU32(frame, b + TcpField.ACK, h.ack);
  frame[b + TcpField.DATA_OFFSET] = (hl >>> 2) << 4;
  frame[b + TcpField.FLAGS] = h.flags;
  frame[b + TcpField.WINDOW] = (h.window >>> 8) & 0xff;
  frame[b + TcpField.WINDOW + 1] = h.window & 0xff;
  frame[b + TcpField.CHECKSUM] = frame[b + TcpField.CHECKSUM + 1] = 0;
  frame[b + TcpField.URGENT] = frame[b + TcpField.URGENT + 1] = 0;
}

/** The TCP checksum over the whole segment, or only the pseudo-header sum when partial. */
function putChecksum(t: SegmentTemplate, frame: Uint8Array): void {
  const b = t.l4;
  const tcpLen = frame.length - b;
  const c = t.partial
    ? fold16(t.pseudo + tcpLen)
    : finish(sum16(frame.subarray(b), t.pseudo + tcpLen));
  frame[b + TcpField.CHECKSUM] = c >>> 8;
  frame[b + TcpField.CHECKSUM + 1] = c & 0xff;
}

/** A new frame buffer, uninitialised. */
function allocFrame(n: number): Uint8Array {
  return Buffer.allocUnsafe(n);
}

/**
 * Frame memory reused batch after batch, for links that are done with frames when send returns
 * (a tap): no allocation and no garbage per segment. Frames are carved one after another from one
 * buffer; `reset()` after each send makes all of it free again. When it runs out, frames come
 * from the heap as usual and the next `reset()` doubles the buffer (up to `max`), so a bulk
 * stream soon finds all its frames here. `trim()` (every few seconds) shrinks it again when the
 * batches since the last trim used little or none of it: an idle translator does not keep
 * megabytes of frame memory a burst once needed (docs/memory.md).
 */
export class FrameArena {
  private buf: Uint8Array;
  private off = 0;
  /** A frame did not fit since the last reset. */
  private short = false;
  /** The most any batch used since the last trim. */
  private high = 0;

  constructor(
    readonly max = 8 << 20,
    readonly min = 64 << 10,
  ) {
    this.buf = new Uint8Array(min);
  }

  /** The buffer's size now. */
  get size(): number {
    return this.buf.length;
  }

  /** n bytes, 8-aligned so checksum loops keep their fast path. */
  readonly alloc = (n: number): Uint8Array => {
    if (this.off + n > this.buf.length) {
      this.short = true;
      return allocFrame(n);
    }
    const f = this.buf.subarray(this.off, this.off + n);
    this.off = (this.off + n + 7) & ~7;
    return f;
  };

  /** Everything handed out so far may be overwritten. */
  reset(): void {
    if (this.short) {
      this.high = this.buf.length;
      if (this.buf.length < this.max)
        this.buf = new Uint8Array(Math.min(this.max, this.buf.length * 2));
      this.short = false;
    } else if (this.off > this.high) this.high = this.off;
    this.off = 0;
  }

  /**
   * Between batches: back to the smallest size when no batch used the arena since the last trim,
   * half when they used at most a quarter of it. A new buffer's pages are untouched until used,
   * so the old one's resident pages go with it.
   */
  trim(): void {
    if (this.off === 0 && this.high <= this.buf.length / 4 && this.buf.length > this.min) {
      const size = this.high === 0 ? this.min : Math.max(this.min, this.buf.length / 2);
      this.buf = new Uint8Array(size);
    }
    this.high = 0;
  }
}

function putU32(b: Uint8Array, off: number, v: number): void {
  b[off] = v >>> 24;
  b[off + 1] = (v >>> 16) & 0xff;
  b[off + 2] = (v >>> 8) & 0xff;
  b[off + 3] = v & 0xff;
}
