// Builds the UDP datagrams the translator sends to the guest, from a per-flow header template (pure).
//
// Every datagram of a flow has the same Ethernet header, IP addresses and ports, so those bytes
// are laid out once (`udpTemplate`) and copied in front of each payload; the IPv4 header sum
// and the UDP pseudo-header sum (RFC 768, RFC 8200 §8.1) of the constant part are precomputed
// and only the lengths are added per datagram (RFC 1071 sums are order independent). With
// `partial` (a link that offloads checksums) the UDP checksum field holds only the folded
// pseudo-header sum and the payload is never summed. A computed checksum of 0 is sent as 0xffff
// (RFC 768: 0 means "none"; RFC 8200 §8.1 forbids it for IPv6). IPv4 headers carry DF and
// identification 0 (RFC 6864 §4.1), TTL 64; IPv6 headers hop limit 64, flow label 0.
import { finish, fold16, sum16 } from '../../wire/checksum.js';
import { IpProtocol } from '../../wire/ipv4.js';
import { headTemplate, type HeadTemplate } from './head-template.js';

const ETH = 14;
const UDP = 8;

/** The constant part of a flow's datagrams towards the guest (`head`: UDP lengths and checksum zero). */
export interface UdpTemplate extends HeadTemplate {
  readonly family: 4 | 6;
  /** The guest MAC the head was built with (identity), so a changed MAC can be noticed. */
  readonly mac: Uint8Array;
}

/**
 * Lays out the constant header bytes of a flow's datagrams to the guest.
 *
 * @param src - the remote end's address as the guest sees it (4 or 16 bytes)
 * @param dst - the guest's address
 */
export function udpTemplate(
  family: 4 | 6,
  ethSrc: Uint8Array,
  ethDst: Uint8Array,
  src: Uint8Array,
  dst: Uint8Array,
  srcPort: number,
  dstPort: number,
): UdpTemplate {
  const h = headTemplate(family, IpProtocol.Udp, ethSrc, ethDst, src, dst, srcPort, dstPort);
  return { family, ...h, mac: ethDst };
}

/** The frame length of a datagram of `payloadLen` bytes on template `t`. */
export const udpFrameLen = (t: UdpTemplate, payloadLen: number): number => t.l4 + UDP + payloadLen;

/**
 * Writes one datagram into `frame` (exactly udpFrameLen bytes): header from `t`, lengths,
 * checksums, then `payload`.
 *
 * @param partial - leave the UDP checksum partial (pseudo-header sum only)
 * @returns frame
 */
export function writeUdpFrame(
  t: UdpTemplate,
  frame: Uint8Array,
  payload: Uint8Array,
  partial: boolean,
): Uint8Array {
  const l4 = t.l4;
  const udpLen = UDP + payload.length;
  frame.set(t.head, 0);
  if (t.family === 4) {
    const total = 20 + udpLen;
    frame[ETH + 2] = total >>> 8;
    frame[ETH + 3] = total & 0xff;
    const c = finish(t.ipSum + total);
    frame[ETH + 10] = c >>> 8;
    frame[ETH + 11] = c & 0xff;
  } else {
    frame[ETH + 4] = udpLen >>> 8;
    frame[ETH + 5] = udpLen & 0xff;
  }
  frame[l4 + 4] = udpLen >>> 8;
  frame[l4 + 5] = udpLen & 0xff;
  frame[l4 + 6] = 0;
  frame[l4 + 7] = 0;
  frame.set(payload, l4 + UDP);
  let c: number;
  if (partial) {
    c = fold16(t.pseudo + udpLen);
  } else {
    c = finish(sum16(frame.subarray(l4, l4 + udpLen), t.pseudo + udpLen));
    if (c === 0) c = 0xffff;
  }
  frame[l4 + 6] = c >>> 8;
  frame[l4 + 7] = c & 0xff;
  return frame;
}
