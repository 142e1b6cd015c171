// The constant header bytes of one flow's frames towards the guest — Ethernet, IP and the L4 ports — laid out once, with the sums the per-frame code adds lengths to (pure).
//
// Shared by the TCP segment and UDP datagram templates: IPv4 headers carry DF, identification 0
// (RFC 6864 §4.1) and TTL 64; IPv6 headers hop limit 64 and flow label 0. The IPv4 header sum
// and the pseudo-header sum (RFC 793 §3.1, RFC 768, RFC 8200 §8.1) leave out the lengths, which
// change per frame (RFC 1071 sums are order independent).
import { sum16 } from '../../wire/checksum.js';

const ETH = 14;

/** What `headTemplate` lays out. */
export interface HeadTemplate {
  /** Ethernet + IP header + the L4 source and destination ports; lengths and checksums zero. */
  readonly head: Uint8Array;
  /** Offset of the L4 header in a frame. */
  readonly l4: number;
  /** Unfolded sum of the IPv4 header without its length (IPv4 only; 0 for IPv6). */
  readonly ipSum: number;
  /** Unfolded sum of the pseudo-header without the L4 length. */
  readonly pseudo: number;
}

/**
 * Lays out the constant header bytes of a flow's frames to the guest.
 *
 * @param src - the remote end's address as the guest sees it (4 or 16 bytes)
 * @param dst - the guest's address
 */
export function headTemplate(
  family: 4 | 6,
  proto: number,
  ethSrc: Uint8Array,
  ethDst: Uint8Array,
  src: Uint8Array,
  dst: Uint8Array,
  srcPort: number,
  dstPort: number,
): HeadTemplate {
  const l4 = ETH + (family === 4 ? 20 : 40);
  const head = new Uint8Array(l4 + 4);
  head.set(ethDst, 0);
  head.set(ethSrc, 6);
  head[12] = family === 4 ? 0x08 : 0x86;
  head[13] = family === 4 ? 0x00 : 0xdd;
  let ipSum = 0;
  if (family === 4) {
    head[ETH] = 0x45;
    head[ETH + 6] = 0x40; // DF
    head[ETH + 8] = 64;
    head[ETH + 9] = proto;
    head.set(src, ETH + 12);
    head.set(dst, ETH + 16);
    ipSum = sum16(head.subarray(ETH, ETH + 20));
  } else {
    head[ETH] = 0x60;
    head[ETH + 6] = proto;
    head[ETH + 7] = 64;
    head.set(src, ETH + 8);
    head.set(dst, ETH + 24);
  }
  head[l4] = srcPort >>> 8;
  head[l4 + 1] = srcPort & 0xff;
  head[l4 + 2] = dstPort >>> 8;
  head[l4 + 3] = dstPort & 0xff;
  return { head, l4, ipSum, pseudo: sum16(src) + sum16(dst) + proto };
}
