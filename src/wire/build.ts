// Frame builders: one exactly sized buffer per frame, Ethernet + IP headers written around an L4 writer.
import { EtherType, emitEthernet, ETHERNET_HEADER_LEN } from './ethernet.js';
import { emitIpv4, IPV4_HEADER_LEN } from './ipv4.js';
import { emitIpv6, IPV6_HEADER_LEN } from './ipv6.js';
import { emitArp, ARP_LEN, type ArpRepr } from './arp.js';
import type { Mac } from './common.js';

/** The IPv4 fields a builder needs; the rest get sensible defaults. */
export interface Ipv4Head {
  readonly src: Uint8Array;
  readonly dst: Uint8Array;
  readonly protocol: number;
  readonly ttl?: number;
  readonly ident?: number;
  readonly tos?: number;
  readonly dontFragment?: boolean;
}

/** The IPv6 fields a builder needs. */
export interface Ipv6Head {
  readonly src: Uint8Array;
  readonly dst: Uint8Array;
  readonly nextHeader: number;
  readonly hopLimit?: number;
}

/**
 * Builds Ethernet + IPv4 + `l4Len` bytes, calling `fill` with the L4 region (exactly l4Len
 * bytes) to write the upper layer. Every byte of the frame is written.
 */
export function buildIpv4Frame(
  ethSrc: Mac,
  ethDst: Mac,
  ip: Ipv4Head,
  l4Len: number,
  fill: (l4: Uint8Array) => void,
): Uint8Array {
  const frame = new Uint8Array(ETHERNET_HEADER_LEN + IPV4_HEADER_LEN + l4Len);
  emitEthernet({ dst: ethDst, src: ethSrc, ethertype: EtherType.Ipv4 }, frame);
  emitIpv4(
    {
      src: ip.src,
      dst: ip.dst,
      protocol: ip.protocol,
      payloadLen: l4Len,
      ttl: ip.ttl ?? 64,
      tos: ip.tos ?? 0,
      ident: ip.ident ?? 0,
      dontFragment: ip.dontFragment ?? true,
      options: new Uint8Array(0),
    },
    frame.subarray(ETHERNET_HEADER_LEN),
  );
  fill(frame.subarray(ETHERNET_HEADER_LEN + IPV4_HEADER_LEN));
  return frame;
}

/** Builds Ethernet + IPv6 (no extension headers) + `l4Len` bytes filled by `fill`. */
export function buildIpv6Frame(
  ethSrc: Mac,
  ethDst: Mac,
  ip: Ipv6Head,
  l4Len: number,
  fill: (l4: Uint8Array) => void,
): Uint8Array {
  const frame = new Uint8Array(ETHERNET_HEADER_LEN + IPV6_HEADER_LEN + l4Len);
  emitEthernet({ dst: ethDst, src: ethSrc, ethertype: EtherType.Ipv6 }, frame);
  emitIpv6(
    {
      src: ip.src,
      dst: ip.dst,
      nextHeader: ip.nextHeader,
      payloadLen: l4Len,
      hopLimit: ip.hopLimit ?? 64,
      trafficClass: 0,
      flowLabel: 0,
    },
    frame.subarray(ETHERNET_HEADER_LEN),
  );
  fill(frame.subarray(ETHERNET_HEADER_LEN + IPV6_HEADER_LEN));
  return frame;
}

/** Builds an Ethernet + ARP frame. */
export function buildArpFrame(ethSrc: Mac, ethDst: Mac, arp: ArpRepr): Uint8Array {
  const frame = new Uint8Array(ETHERNET_HEADER_LEN + ARP_LEN);
  emitEthernet({ dst: ethDst, src: ethSrc, ethertype: EtherType.Arp }, frame);
  emitArp(arp, frame.subarray(ETHERNET_HEADER_LEN));
  return frame;
}
