// The first steps every link service shares: from a guest frame to the L4 bytes of one
// protocol, counting frames that are not for the service and dropping malformed ones.
import { EthernetView, EtherType } from '../../wire/ethernet.js';
import { Ipv4View, IpProtocol, parseIpv4 } from '../../wire/ipv4.js';
import { Ipv6View, walkIpv6 } from '../../wire/ipv6.js';
import { UdpView, parseUdp, UDP_HEADER_LEN } from '../../wire/udp.js';
import { isWireError, type WireErrorKind } from '../../wire/common.js';

/** The counters every service keeps for what it does not answer. */
export interface ServiceCounters {
  /** Frames that are well-formed but not for this service. */
  ignored: number;
  /** Malformed frames, by reason. */
  drops: Record<WireErrorKind, number>;
}

/** A guest packet of the wanted protocol, located in its frame. */
export interface GuestPacket {
  readonly eth: EthernetView;
  /** Source and destination addresses (copies: 4 or 16 bytes). */
  readonly src: Uint8Array;
  readonly dst: Uint8Array;
  /** TTL (IPv4) or hop limit (IPv6). */
  readonly hopLimit: number;
  /** The upper-layer bytes (zero copy). */
  readonly l4: Uint8Array;
}

/** A UDP datagram to the wanted port, checksum verified. */
export interface GuestDatagram extends GuestPacket {
  readonly srcPort: number;
  /** The UDP payload (zero copy). */
  readonly payload: Uint8Array;
}

function drop(c: ServiceCounters, kind: WireErrorKind): undefined {
  c.drops[kind]++;
  return undefined;
}

function ignore(c: ServiceCounters): undefined {
  c.ignored++;
  return undefined;
}

/**
 * Parses Ethernet and IP of `frame` and returns the packet when it is unfragmented `protocol`
 * over IPv`family`; otherwise counts it (ignored, or dropped by reason) and returns undefined.
 * The IPv4 header checksum is verified; the IPv6 extension chain is walked.
 */
export function guestPacket(
  frame: Uint8Array,
  family: 4 | 6,
  protocol: number,
  c: ServiceCounters,
): GuestPacket | undefined {
  const eth = EthernetView.checked(frame);
  if (isWireError(eth)) return drop(c, eth.kind);
  if (eth.ethertype !== (family === 4 ? EtherType.Ipv4 : EtherType.Ipv6)) return ignore(c);
  if (family === 4) {
    const v = Ipv4View.checked(eth.payload());
    if (isWireError(v)) return drop(c, v.kind);
    const ip = parseIpv4(v);
    if (isWireError(ip)) return drop(c, ip.kind);
    if (ip.protocol !== protocol || ip.fragment) return ignore(c);
    return { eth, src: ip.src, dst: ip.dst, hopLimit: ip.ttl, l4: v.payload() };
  }
  const v = Ipv6View.checked(eth.payload());
  if (isWireError(v)) return drop(c, v.kind);
  const up = walkIpv6(v);
  if (isWireError(up)) return drop(c, up.kind);
  if (up.protocol !== protocol || up.fragment) return ignore(c);
  return {
    eth,
    src: v.src.slice(),
    dst: v.dst.slice(),
    hopLimit: v.hopLimit,
    l4: v.buf.subarray(up.offset, up.offset + up.length),
  };
}

/** Like guestPacket() for a UDP datagram to `dstPort`, with its checksum verified. */
export function guestDatagram(
  frame: Uint8Array,
  family: 4 | 6,
  dstPort: number,
  c: ServiceCounters,
): GuestDatagram | undefined {
  const p = guestPacket(frame, family, IpProtocol.Udp, c);
  if (!p) return undefined;
  const uv = UdpView.checked(p.l4);
  if (isWireError(uv)) return drop(c, uv.kind);
  if (uv.dstPort !== dstPort) return ignore(c);
  const udp = parseUdp(uv, p.src, p.dst);
  if (isWireError(udp)) return drop(c, udp.kind);
  return {
    ...p,
    srcPort: udp.srcPort,
    payload: uv.buf.subarray(UDP_HEADER_LEN, UDP_HEADER_LEN + udp.payloadLen),
  };
}
