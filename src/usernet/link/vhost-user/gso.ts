// TCP segmentation offload on the vhost-user link: the virtio_net_hdr GSO fields both ways, and cutting a big TCP frame to the MTU for a driver that cannot take it (pure).
//
// virtio 1.2 §5.1.6.2 (TX, HOST_TSO4/6): a frame with gso_type TCPV4 or TCPV6 is one TCP
// segment of up to 64 KiB that the device would cut into gso_size-byte segments; bindery
// terminates TCP, so it takes the big segment whole (its checksum is partial, NEEDS_CSUM).
// hdr_len is only a hint (the Ethernet, IP and TCP header length). The ECN bit (0x80) asks the
// device to keep CWR on the first segment only; bindery does not offer HOST_ECN, so a frame
// with it is refused, as are UDP GSO types (HOST_UFO, HOST_USO are not offered).
// §5.1.6.3–4 (RX, GUEST_TSO4/6, which require GUEST_CSUM): a TCP frame longer than the MTU goes
// to the guest with gso_type TCPV4/TCPV6, gso_size = MTU − IP header − TCP header (the payload
// of one MTU-sized segment of it), hdr_len = Ethernet + IP + TCP headers, and NEEDS_CSUM.
// A driver that did not negotiate GUEST_TSO for the frame's family gets the frame cut into
// MTU-sized segments here instead (`segmentTcp`), as a NIC's TSO would: sequence numbers
// advanced, FIN and PSH on the last segment only, CWR on the first only, IPv4 identification
// incremented per segment (RFC 6864 §4.1 allows any; Linux's TSO does this) and every length
// and checksum made anew.
import {
  fold16,
  finish,
  pseudoHeaderSum4,
  pseudoHeaderSum6,
  sum16,
} from '../../../wire/checksum.js';
import { ETHERNET_HEADER_LEN, EtherType } from '../../../wire/ethernet.js';
import { IPV4_HEADER_LEN, IpProtocol } from '../../../wire/ipv4.js';
import { IPV6_HEADER_LEN } from '../../../wire/ipv6.js';
import { TCP_HEADER_LEN, TcpField, TcpFlag } from '../../../wire/tcp.js';
import { Feature, bit } from './protocol.js';

/** virtio_net_hdr gso_type values (virtio 1.2 §5.1.6). */
export const GsoType = {
  NONE: 0,
  TCPV4: 1,
  UDP: 3,
  TCPV6: 4,
  UDP_L4: 5,
  ECN: 0x80,
} as const;

/** Where a TCP frame's headers end: the IP header's start and length, the TCP header's length. */
export interface TcpHeaders {
  readonly v6: boolean;
  readonly ipLen: number;
  readonly tcpLen: number;
  /** Ethernet + IP + TCP header bytes. */
  readonly hdrLen: number;
}

/**
 * Finds the headers of an untagged Ethernet TCP frame (IPv4 with any header length, IPv6
 * without extension headers — what bindery builds and Linux sends); undefined otherwise.
 */
export function tcpHeaders(f: Uint8Array): TcpHeaders | undefined {
  if (f.length < ETHERNET_HEADER_LEN + IPV4_HEADER_LEN) return undefined;
  const type = (f[12]! << 8) | f[13]!;
  let ipLen: number;
  let v6: boolean;
  if (type === EtherType.Ipv4) {
    const b = f[ETHERNET_HEADER_LEN]!;
    ipLen = (b & 15) * 4;
    if (b >>> 4 !== 4 || ipLen < IPV4_HEADER_LEN) return undefined;
    if (f[ETHERNET_HEADER_LEN + 9] !== IpProtocol.Tcp) return undefined;
    v6 = false;
  } else if (type === EtherType.Ipv6) {
    ipLen = IPV6_HEADER_LEN;
    if (f.length < ETHERNET_HEADER_LEN + ipLen || f[ETHERNET_HEADER_LEN + 6] !== IpProtocol.Tcp)
      return undefined;
    v6 = true;
  } else {
    return undefined;
  }
  const tcpAt = ETHERNET_HEADER_LEN + ipLen;
  if (f.length < tcpAt + TCP_HEADER_LEN) return undefined;
  const tcpLen = (f[tcpAt + TcpField.DATA_OFFSET]! >>> 4) * 4;
  if (tcpLen < TCP_HEADER_LEN || f.length < tcpAt + tcpLen) return undefined;
  return { v6, ipLen, tcpLen, hdrLen: tcpAt + tcpLen };
}

/** Bit of gso_type `t` in a mask of accepted types. */
export const gsoBit = (t: number): number => 1 << t;

/**
 * Checks a TX frame's GSO fields against what was negotiated.
 *
 * @param accept - Mask of accepted gso types (`gsoBit(GsoType.TCPV4)`…): HOST_TSO4/6.
 * @returns undefined when the frame may be taken as one big TCP segment, else why not.
 */
export function checkTxGso(
  frame: Uint8Array,
  gsoType: number,
  gsoSize: number,
  hdrLen: number,
  accept: number,
): string | undefined {
  if (gsoType & GsoType.ECN) return 'ECN GSO (HOST_ECN is not offered)';
  if (gsoType !== GsoType.TCPV4 && gsoType !== GsoType.TCPV6) return `gso_type ${gsoType}`;
  if ((accept & gsoBit(gsoType)) === 0) return `gso_type ${gsoType} not negotiated`;
  if (gsoSize === 0) return 'gso_size 0';
  if (hdrLen > frame.length) return 'hdr_len past the frame';
  const h = tcpHeaders(frame);
  if (h === undefined) return 'GSO on a frame that is not TCP';
  if (h.v6 !== (gsoType === GsoType.TCPV6)) return 'gso_type of the other IP version';
  return undefined;
}

/** The RX header's GSO fields for a frame: [gso_type, hdr_len, gso_size]. */
export type RxGso = readonly [type: number, hdrLen: number, size: number];

/**
 * Whether a frame to the guest exceeds the MTU and is TCP: its headers, and the payload bytes
 * of one MTU-sized segment; undefined when it fits (or cannot be segmented).
 */
export function oversizeTcp(
  frame: Uint8Array,
  mtu: number,
): { h: TcpHeaders; mss: number } | undefined {
  if (frame.length <= mtu + ETHERNET_HEADER_LEN) return undefined;
  const h = tcpHeaders(frame);
  if (h === undefined) return undefined;
  const mss = mtu - h.ipLen - h.tcpLen;
  if (mss <= 0) return undefined;
  return { h, mss };
}

/**
 * Whether a driver with these negotiated features takes TCP frames of this family past the MTU
 * with GSO fields: GUEST_TSO4 (or 6) and GUEST_CSUM, which GUEST_TSO requires (§5.1.3.1).
 */
export function guestGsoFor(features: bigint, v6: boolean): boolean {
  const need =
    bit(Feature.NET_GUEST_CSUM) | bit(v6 ? Feature.NET_GUEST_TSO6 : Feature.NET_GUEST_TSO4);
  return (features & need) === need;
}

/** The RX GSO fields for an oversize TCP frame (see oversizeTcp). */
export function rxGso(h: TcpHeaders, mss: number): RxGso {
  return [h.v6 ? GsoType.TCPV6 : GsoType.TCPV4, h.hdrLen, mss];
}

/**
 * Cuts a TCP frame into segments of at most `mss` payload bytes, each with a partial checksum
 * (the pseudo-header sum in the checksum field, as for NEEDS_CSUM) or, with `complete`, a full
 * one. The frame is not modified.
 */
export function segmentTcp(
  frame: Uint8Array,
  h: TcpHeaders,
  mss: number,
  complete: boolean,
): Uint8Array[] {
  const ip = ETHERNET_HEADER_LEN;
  const tcp = ip + h.ipLen;
  // The payload ends where the IP header says (a short frame may carry Ethernet padding).
  const ipTotal = h.v6
    ? IPV6_HEADER_LEN + ((frame[ip + 4]! << 8) | frame[ip + 5]!)
    : (frame[ip + 2]! << 8) | frame[ip + 3]!;
  const end = Math.min(frame.length, ip + ipTotal);
  const payload = frame.subarray(h.hdrLen, Math.max(h.hdrLen, end));
  const seq0 = new DataView(frame.buffer, frame.byteOffset + tcp).getUint32(TcpField.SEQ, false);
  const flags = frame[tcp + TcpField.FLAGS]!;
  const id0 = h.v6 ? 0 : (frame[ip + 4]! << 8) | frame[ip + 5]!;
  const out: Uint8Array[] = [];
  for (let off = 0, i = 0; off < payload.length || off === 0; off += mss, i++) {
    const n = Math.min(mss, payload.length - off);
    const s = new Uint8Array(h.hdrLen + n);
    s.set(frame.subarray(0, h.hdrLen));
    s.set(payload.subarray(off, off + n), h.hdrLen);
    const v = new DataView(s.buffer);
    const l4Len = h.tcpLen + n;
    const last = off + n >= payload.length;
    let f = flags;
    if (!last) f &= ~(TcpFlag.FIN | TcpFlag.PSH);
    if (i > 0) f &= ~TcpFlag.CWR;
    s[tcp + TcpField.FLAGS] = f;
    v.setUint32(tcp + TcpField.SEQ, (seq0 + off) >>> 0, false);
    let pseudo: number;
    if (h.v6) {
      v.setUint16(ip + 4, l4Len, false);
      pseudo = pseudoHeaderSum6(
        s.subarray(ip + 8, ip + 24),
        s.subarray(ip + 24, ip + 40),
        IpProtocol.Tcp,
        l4Len,
      );
    } else {
      v.setUint16(ip + 2, h.ipLen + l4Len, false);
      v.setUint16(ip + 4, (id0 + i) & 0xffff, false);
      v.setUint16(ip + 10, 0, false);
      v.setUint16(ip + 10, finish(sum16(s.subarray(ip, tcp))), false);
      pseudo = pseudoHeaderSum4(
        s.subarray(ip + 12, ip + 16),
        s.subarray(ip + 16, ip + 20),
        IpProtocol.Tcp,
        l4Len,
      );
    }
    v.setUint16(tcp + TcpField.CHECKSUM, fold16(pseudo), false);
    if (complete) v.setUint16(tcp + TcpField.CHECKSUM, finish(sum16(s.subarray(tcp))), false);
    out.push(s);
    if (last) break;
  }
  return out;
}

/**
 * Turns a TCP frame's full checksum into a partial one (the pseudo-header sum in the field), for
 * a frame that goes to the guest with NEEDS_CSUM.
 */
export function makePartial(frame: Uint8Array, h: TcpHeaders): void {
  const ip = ETHERNET_HEADER_LEN;
  const tcp = ip + h.ipLen;
  const v = new DataView(frame.buffer, frame.byteOffset, frame.length);
  const l4Len = h.v6 ? v.getUint16(ip + 4, false) : v.getUint16(ip + 2, false) - h.ipLen;
  const pseudo = h.v6
    ? pseudoHeaderSum6(
        frame.subarray(ip + 8, ip + 24),
        frame.subarray(ip + 24, ip + 40),
        IpProtocol.Tcp,
        l4Len,
      )
    : pseudoHeaderSum4(
        frame.subarray(ip + 12, ip + 16),
        frame.subarray(ip + 16, ip + 20),
        IpProtocol.Tcp,
        l4Len,
      );
  v.setUint16(tcp + TcpField.CHECKSUM, fold16(pseudo), false);
}
