// A guest frame parsed once, layer by layer, into the typed packet that dispatch and every link service read.
//
// Theory of operation
// ===================
//
// One parse per frame. `parseGuestFrame` runs the wire codecs (src/wire: views, then the
// protocol rules) down the layers the frame has: Ethernet; ARP or IPv4/IPv6 (with the IPv6
// extension chain); the UDP, TCP, ICMP or ICMPv6 header; and the L4 rules (checksums, TCP
// options, the ICMP message). It stops at the first layer that fails and records where
// (`errorAt`) and why (`error`, a WireError kind). Nothing is decided here: whether that error
// is a drop, or the frame is ignored before the failing layer matters, is the reader's call —
// dispatch.ts routes on the packet, and the services (responder, DHCP, DHCPv6, RA) take it
// as is and never parse the frame again.
//
// What is parsed is fixed by the bytes alone, never by policy, so route() stays pure:
//   - ICMP messages are parsed for the types someone answers or forwards: echo requests over
//     IPv4; echo requests, router and neighbour solicitations over IPv6. Other types stop at
//     the header view (they are ignored or unhandled by type, never by their contents).
//   - Fragments stop at the IP layer (nobody reassembles).
//   - TCP and UDP over IPv4 are the hot paths: the header is checked and its checksum verified
//     without building an IPv4 repr (for an unfragmented packet, parseIpv4 checks nothing more),
//     and the addresses are views into the frame, as they are over IPv6 (the TCP and UDP
//     translators and the DHCP services copy what they keep). Everything else gets copies of
//     its addresses (the ping translator and the NDP/RA answers may keep them).
//
// Allocation. The packet is one mutable object the caller may pass back in to be refilled
// (PasstDaemon keeps one per batch of frames): besides it, parsing allocates only what the
// codecs do (views, reprs).
import { EthernetView, EtherType } from '../../wire/ethernet.js';
import { ArpView, parseArp, type ArpRepr } from '../../wire/arp.js';
import { Ipv4View, IpProtocol, parseIpv4 } from '../../wire/ipv4.js';
import { Ipv6View, walkIpv6 } from '../../wire/ipv6.js';
import { UdpView, parseUdp, type UdpRepr } from '../../wire/udp.js';
import { TcpView, parseTcp, type TcpRepr } from '../../wire/tcp.js';
import { Icmpv4View, parseIcmpv4, type Icmpv4Repr } from '../../wire/icmpv4.js';
import { Icmpv6View, parseIcmpv6, type Icmpv6Repr } from '../../wire/icmpv6.js';
import { isWireError, type WireError, type WireErrorKind } from '../../wire/common.js';

/**
 * The layer a parse failed at: 'eth' the Ethernet header; 'net' ARP, the IPv4 header (and its
 * checksum) or the IPv6 header and extension chain; 'l4' the UDP/TCP/ICMP header view; 'msg'
 * the L4 rules (UDP/TCP/ICMP checksums, TCP options, the ICMP message).
 */
export type ParseLayer = 'eth' | 'net' | 'l4' | 'msg';

/** A guest frame, parsed. Fields below the failing layer (or absent in the frame) are unset. */
export interface GuestPacket {
  /** The frame as received. */
  readonly frame: Uint8Array;
  /** Why the parse stopped early, or undefined when every layer the frame has parsed. */
  readonly error: WireErrorKind | undefined;
  /** Where the parse stopped early. */
  readonly errorAt: ParseLayer | undefined;
  /** The Ethernet header (undefined when unreadable). */
  readonly eth: EthernetView | undefined;
  /** The innermost EtherType, or -1 without an Ethernet header. */
  readonly ethertype: number;
  /** The ARP packet (EtherType ARP, parsed). */
  readonly arp: ArpRepr | undefined;
  /** 4 or 6 for an IP packet whose header parsed; 0 otherwise. */
  readonly family: 0 | 4 | 6;
  readonly ipv4: Ipv4View | undefined;
  readonly ipv6: Ipv6View | undefined;
  /** IP source and destination (4 or 16 bytes): views for TCP and UDP, copies otherwise. */
  readonly src: Uint8Array;
  readonly dst: Uint8Array;
  /** TTL (IPv4) or hop limit (IPv6). */
  readonly hopLimit: number;
  /** The upper-layer protocol (IPv6: after the extension headers), or -1. */
  readonly protocol: number;
  /** True for an IPv4 fragment or an IPv6 packet with a Fragment header. */
  readonly fragment: boolean;
  /** The upper-layer bytes (zero copy; empty when there are none). */
  readonly l4: Uint8Array;
  readonly udp: UdpView | undefined;
  readonly tcp: TcpView | undefined;
  readonly icmp4: Icmpv4View | undefined;
  readonly icmp6: Icmpv6View | undefined;
  /** The UDP header, checksum verified. */
  readonly udpHeader: UdpRepr | undefined;
  /** The TCP header, checksum verified unless the link vouched for it, options parsed. */
  readonly seg: TcpRepr | undefined;
  /** The ICMP message (echo requests only). */
  readonly icmp4Msg: Icmpv4Repr | undefined;
  /** The ICMPv6 message (echo requests, router and neighbour solicitations only). */
  readonly icmp6Msg: Icmpv6Repr | undefined;
  /** The UDP or TCP payload (zero copy; empty otherwise). */
  readonly payload: Uint8Array;
}

/** The parser's signature (PasstDaemon takes one, so tests can count or wrap it). */
export type GuestFrameParser = (
  frame: Uint8Array,
  trusted?: boolean,
  into?: GuestPacket,
) => GuestPacket;

const EMPTY = new Uint8Array(0);

/** The mutable packet behind GuestPacket; every field set in the constructor (one shape). */
class Packet implements GuestPacket {
  frame: Uint8Array = EMPTY;
  error: WireErrorKind | undefined = undefined;
  errorAt: ParseLayer | undefined = undefined;
  eth: EthernetView | undefined = undefined;
  ethertype = -1;
  arp: ArpRepr | undefined = undefined;
  family: 0 | 4 | 6 = 0;
  ipv4: Ipv4View | undefined = undefined;
  ipv6: Ipv6View | undefined = undefined;
  src: Uint8Array = EMPTY;
  dst: Uint8Array = EMPTY;
  hopLimit = 0;
  protocol = -1;
  fragment = false;
  l4: Uint8Array = EMPTY;
  udp: UdpView | undefined = undefined;
  tcp: TcpView | undefined = undefined;
  icmp4: Icmpv4View | undefined = undefined;
  icmp6: Icmpv6View | undefined = undefined;
  udpHeader: UdpRepr | undefined = undefined;
  seg: TcpRepr | undefined = undefined;
  icmp4Msg: Icmpv4Repr | undefined = undefined;
  icmp6Msg: Icmpv6Repr | undefined = undefined;
  payload: Uint8Array = EMPTY;

  reset(frame: Uint8Array): void {
    this.frame = frame;
    this.error = undefined;
    this.errorAt = undefined;
    this.eth = undefined;
    this.ethertype = -1;
    this.arp = undefined;
    this.family = 0;
    this.ipv4 = undefined;
    this.ipv6 = undefined;
    this.src = EMPTY;
    this.dst = EMPTY;
    this.hopLimit = 0;
    this.protocol = -1;
    this.fragment = false;
    this.l4 = EMPTY;
    this.udp = undefined;
    this.tcp = undefined;
    this.icmp4 = undefined;
    this.icmp6 = undefined;
    this.udpHeader = undefined;
    this.seg = undefined;
    this.icmp4Msg = undefined;
    this.icmp6Msg = undefined;
    this.payload = EMPTY;
  }

  fail(at: ParseLayer, e: WireError | WireErrorKind): Packet {
    this.errorAt = at;
    this.error = typeof e === 'string' ? e : e.kind;
    return this;
  }
}

/** A fresh, empty packet to pass to parseGuestFrame as `into`. */
export function newGuestPacket(): GuestPacket {
  return new Packet();
}

/**
 * Parses a guest frame once, down every layer it has (see the theory of operation).
 * Never throws on guest bytes.
 *
 * @param frame - An Ethernet frame from the guest.
 * @param trusted - The link vouched for the frame's TCP or UDP checksum (GuestLink offload): not
 *   verified.
 * @param into - A packet from an earlier parse to refill (its previous contents are lost).
 * @returns The packet (`into` when given).
 */
export function parseGuestFrame(
  frame: Uint8Array,
  trusted = false,
  into: GuestPacket = new Packet(),
): GuestPacket {
  const p = into as Packet;
  p.reset(frame);
  const eth = EthernetView.checked(frame);
  if (isWireError(eth)) return p.fail('eth', eth);
  p.eth = eth;
  const et = eth.ethertype;
  p.ethertype = et;
  if (et === EtherType.Arp) {
    const v = ArpView.checked(eth.payload());
    if (isWireError(v)) return p.fail('net', v);
    const arp = parseArp(v);
    if (isWireError(arp)) return p.fail('net', arp);
    p.arp = arp;
    return p;
  }
  if (et === EtherType.Ipv4) return ipv4(p, eth, trusted);
  if (et === EtherType.Ipv6) return ipv6(p, eth, trusted);
  return p;
}

function ipv4(p: Packet, eth: EthernetView, trusted: boolean): Packet {
  const v = Ipv4View.checked(eth.payload());
  if (isWireError(v)) return p.fail('net', v);
  const protocol = v.protocol;
  if ((protocol === IpProtocol.Tcp || protocol === IpProtocol.Udp) && !v.isFragment) {
    // The hot path: what parseIpv4 checks on an unfragmented packet, without a repr (the
    // addresses are views into the frame: whoever keeps one copies it).
    if (!v.checksumOk()) return p.fail('net', 'bad-checksum');
    p.src = v.src;
    p.dst = v.dst;
  } else {
    const ip = parseIpv4(v);
    if (isWireError(ip)) return p.fail('net', ip);
    p.src = ip.src;
    p.dst = ip.dst;
    p.fragment = ip.fragment !== undefined;
  }
  p.family = 4;
  p.ipv4 = v;
  p.hopLimit = v.ttl;
  p.protocol = protocol;
  if (p.fragment) return p;
  p.l4 = v.payload();
  return upper(p, trusted);
}

function ipv6(p: Packet, eth: EthernetView, trusted: boolean): Packet {
  const v = Ipv6View.checked(eth.payload());
  if (isWireError(v)) return p.fail('net', v);
  const up = walkIpv6(v);
  if (isWireError(up)) return p.fail('net', up);
  p.family = 6;
  p.ipv6 = v;
  p.hopLimit = v.hopLimit;
  p.protocol = up.protocol;
  // TCP and UDP take the addresses as views (the hot paths), everyone else copies.
  const view = up.protocol === IpProtocol.Tcp || up.protocol === IpProtocol.Udp;
  p.src = view ? v.src : v.src.slice();
  p.dst = view ? v.dst : v.dst.slice();
  p.fragment = up.fragment !== undefined;
  if (p.fragment) return p;
  p.l4 = v.buf.subarray(up.offset, up.offset + up.length);
  return upper(p, trusted);
}

function upper(p: Packet, trusted: boolean): Packet {
  switch (p.protocol) {
    case IpProtocol.Tcp: {
      const tv = TcpView.checked(p.l4);
      if (isWireError(tv)) return p.fail('l4', tv);
      p.tcp = tv;
      const seg = parseTcp(tv, p.src, p.dst, !trusted);
      if (isWireError(seg)) return p.fail('msg', seg);
      p.seg = seg;
      p.payload = tv.payload();
      return p;
    }
    case IpProtocol.Udp: {
      const u = UdpView.checked(p.l4);
      if (isWireError(u)) return p.fail('l4', u);
      p.udp = u;
      const h = parseUdp(u, p.src, p.dst, !trusted);
      if (isWireError(h)) return p.fail('msg', h);
      p.udpHeader = h;
      p.payload = u.payload();
      return p;
    }
    case IpProtocol.Icmp: {
      if (p.family !== 4) return p;
      const iv = Icmpv4View.checked(p.l4);
      if (isWireError(iv)) return p.fail('l4', iv);
      p.icmp4 = iv;
      if (iv.type !== 8) return p;
      const m = parseIcmpv4(iv);
      if (isWireError(m)) return p.fail('msg', m);
      p.icmp4Msg = m;
      return p;
    }
    case IpProtocol.Icmpv6: {
      if (p.family !== 6) return p;
      const iv = Icmpv6View.checked(p.l4);
      if (isWireError(iv)) return p.fail('l4', iv);
      p.icmp6 = iv;
      const t = iv.type;
      if (t !== 128 && t !== 133 && t !== 135) return p;
      const m = parseIcmpv6(iv, p.src, p.dst);
      if (isWireError(m)) return p.fail('msg', m);
      p.icmp6Msg = m;
      return p;
    }
    default:
      return p;
  }
}

/**
 * The error of `p` if its parse stopped at `layer`.
 *
 * @param p - A parsed packet.
 * @param layer - The layer asked about.
 * @returns The WireError kind, or undefined when that layer parsed (or was never reached).
 */
export function failedAt(p: GuestPacket, layer: ParseLayer): WireErrorKind | undefined {
  return p.errorAt === layer ? p.error : undefined;
}

/** The counters every link service keeps for what it does not answer. */
export interface ServiceCounters {
  /** Frames that are well-formed but not for this service. */
  ignored: number;
  /** Malformed frames, by reason. */
  drops: Record<WireErrorKind, number>;
}

/**
 * Whether `p` is an unfragmented `protocol` packet over IPv`family` whose IP layers parsed;
 * when it is not, counts it on `c` (ignored, or dropped by reason) as a service would. Reads
 * the packet only.
 *
 * @param p - The parsed guest frame.
 * @param family - 4 or 6.
 * @param protocol - The upper-layer protocol wanted.
 * @param c - The service's counters.
 * @returns True when the packet is for the service so far.
 */
export function acceptPacket(
  p: GuestPacket,
  family: 4 | 6,
  protocol: number,
  c: ServiceCounters,
): boolean {
  const early = failedAt(p, 'eth');
  if (early) return drop(c, early);
  if (p.ethertype !== (family === 4 ? EtherType.Ipv4 : EtherType.Ipv6)) return ignore(c);
  const net = failedAt(p, 'net');
  if (net) return drop(c, net);
  if (p.protocol !== protocol || p.fragment) return ignore(c);
  return true;
}

/**
 * Like acceptPacket() for a UDP datagram to `dstPort` with a verified checksum (then
 * `p.udpHeader` and `p.payload` are set).
 *
 * @param p - The parsed guest frame.
 * @param family - 4 or 6.
 * @param dstPort - The service's port.
 * @param c - The service's counters.
 * @returns True when the datagram is for the service.
 */
export function acceptDatagram(
  p: GuestPacket,
  family: 4 | 6,
  dstPort: number,
  c: ServiceCounters,
): boolean {
  if (!acceptPacket(p, family, IpProtocol.Udp, c)) return false;
  const l4 = failedAt(p, 'l4');
  if (l4 || !p.udp) return drop(c, l4 ?? 'malformed');
  if (p.udp.dstPort !== dstPort) return ignore(c);
  const msg = failedAt(p, 'msg');
  if (msg || !p.udpHeader) return drop(c, msg ?? 'malformed');
  return true;
}

function drop(c: ServiceCounters, kind: WireErrorKind): false {
  c.drops[kind]++;
  return false;
}

function ignore(c: ServiceCounters): false {
  c.ignored++;
  return false;
}
