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
//   - TCP and UDP over IPv4, and over IPv6 without extension headers, are the hot paths: they
//     are parsed in place (see Allocation). For an unfragmented IPv4 packet the header checks
//     and its checksum are all parseIpv4 would check, so no IPv4 repr is built; ICMP over IPv4
//     takes that path too. The addresses are then the packet's own 4- or 16-byte arrays,
//     refilled per frame (the TCP, UDP and ping translators, the responder and the DHCP
//     services copy what they keep). Everything else gets fresh copies of its addresses (the
//     NDP/RA answers may keep them).
//
// Allocation. The packet is one mutable object the caller may pass back in to be refilled
// (PasstDaemon keeps one per batch of frames). On the hot paths parsing allocates nothing:
// the wire codecs' `check…At` functions apply the views' checks at offsets in the frame, the
// checksums are summed in place (sum16Range), the UDP header and the TCP repr (parseTcpInto)
// are objects of the packet refilled per frame, and the views (`eth`, `ipv4`, `ipv6`, `udp`,
// `tcp`) and the `l4` and `payload` subarrays are made on first read, once per frame. So a
// reader that wants no allocation reads the scalar fields (`ethertype`, `protocol`,
// `srcPort`, `dstPort`, `seg`, `udpHeader`); the UDP and TCP hooks cost one subarray (the
// payload they are handed). Everything a packet holds is valid until it is refilled: whoever
// keeps something copies it. Other paths allocate what the codecs do (views, reprs).
import { EthernetView, EtherType, ethernetTypeOffset } from '../../wire/ethernet.js';
import { ArpView, parseArp, type ArpRepr } from '../../wire/arp.js';
import {
  Ipv4View,
  IpProtocol,
  Ipv4Field,
  checkIpv4At,
  ipv4ChecksumOkAt,
  parseIpv4,
} from '../../wire/ipv4.js';
import { Ipv6View, Ipv6Field, IPV6_HEADER_LEN, checkIpv6At, walkIpv6 } from '../../wire/ipv6.js';
import {
  UdpView,
  UdpField,
  UDP_HEADER_LEN,
  checkUdpAt,
  udpRulesAt,
  type UdpRepr,
} from '../../wire/udp.js';
import {
  TcpView,
  TcpField,
  TcpReprBuffer,
  checkTcpAt,
  parseTcpInto,
  type TcpRepr,
} from '../../wire/tcp.js';
import { Icmpv4View, parseIcmpv4, type Icmpv4Repr } from '../../wire/icmpv4.js';
import { Icmpv6View, parseIcmpv6, type Icmpv6Repr } from '../../wire/icmpv6.js';
import { getU16, isWireError, type WireError, type WireErrorKind } from '../../wire/common.js';

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
  /**
   * IP source and destination (4 or 16 bytes): for TCP, UDP and ICMP over IPv4 the packet's own
   * arrays, refilled per frame; fresh copies otherwise.
   */
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
  /** UDP or TCP ports once that header's view checks passed (`udp`/`tcp` set); -1 otherwise. */
  readonly srcPort: number;
  readonly dstPort: number;
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

/** A UDP header the packet refills (UdpRepr is readonly to readers). */
interface UdpHeaderBuffer {
  srcPort: number;
  dstPort: number;
  payloadLen: number;
}

/**
 * The mutable packet behind GuestPacket; every field set in the constructor (one shape). The
 * views and subarrays are made from the offsets on first read (see Allocation above); on the
 * paths that are not hot the parser sets them at once.
 */
class Packet implements GuestPacket {
  frame: Uint8Array = EMPTY;
  error: WireErrorKind | undefined = undefined;
  errorAt: ParseLayer | undefined = undefined;
  ethertype = -1;
  arp: ArpRepr | undefined = undefined;
  family: 0 | 4 | 6 = 0;
  src: Uint8Array = EMPTY;
  dst: Uint8Array = EMPTY;
  hopLimit = 0;
  protocol = -1;
  fragment = false;
  srcPort = -1;
  dstPort = -1;
  icmp4: Icmpv4View | undefined = undefined;
  icmp6: Icmpv6View | undefined = undefined;
  udpHeader: UdpRepr | undefined = undefined;
  seg: TcpRepr | undefined = undefined;
  icmp4Msg: Icmpv4Repr | undefined = undefined;
  icmp6Msg: Icmpv6Repr | undefined = undefined;

  /** Offset of the IP (or ARP) header, -1 without an Ethernet header. */
  l3Off = -1;
  /** The upper-layer bytes [l4Off, l4End), l4Off -1 when there are none. */
  l4Off = -1;
  l4End = 0;
  /** The payload [payOff, payEnd), payOff -1 when there is none. */
  payOff = -1;
  payEnd = 0;
  /** 'udp' or 'tcp' once that header's checks passed. */
  l4Kind: '' | 'udp' | 'tcp' = '';

  private ethView: EthernetView | undefined = undefined;
  private ipv4View: Ipv4View | undefined = undefined;
  private ipv6View: Ipv6View | undefined = undefined;
  private l4Bytes: Uint8Array | undefined = undefined;
  private udpView: UdpView | undefined = undefined;
  private tcpView: TcpView | undefined = undefined;
  private payloadBytes: Uint8Array | undefined = undefined;

  /** The arrays `src` and `dst` are on the hot paths, and the reprs refilled per frame. */
  readonly src4 = new Uint8Array(4);
  readonly dst4 = new Uint8Array(4);
  readonly src6 = new Uint8Array(16);
  readonly dst6 = new Uint8Array(16);
  readonly udpBuf: UdpHeaderBuffer = { srcPort: 0, dstPort: 0, payloadLen: 0 };
  readonly segBuf = new TcpReprBuffer();

  get eth(): EthernetView | undefined {
    if (this.ethView === undefined && this.l3Off >= 0) {
      this.ethView = EthernetView.checked(this.frame) as EthernetView;
    }
    return this.ethView;
  }
  get ipv4(): Ipv4View | undefined {
    if (this.ipv4View === undefined && this.family === 4) {
      this.ipv4View = Ipv4View.checked(this.frame.subarray(this.l3Off)) as Ipv4View;
    }
    return this.ipv4View;
  }
  set ipv4(v: Ipv4View | undefined) {
    this.ipv4View = v;
  }
  get ipv6(): Ipv6View | undefined {
    if (this.ipv6View === undefined && this.family === 6) {
      this.ipv6View = Ipv6View.checked(this.frame.subarray(this.l3Off)) as Ipv6View;
    }
    return this.ipv6View;
  }
  set ipv6(v: Ipv6View | undefined) {
    this.ipv6View = v;
  }
  get l4(): Uint8Array {
    if (this.l4Bytes === undefined) {
      this.l4Bytes = this.l4Off < 0 ? EMPTY : this.frame.subarray(this.l4Off, this.l4End);
    }
    return this.l4Bytes;
  }
  get udp(): UdpView | undefined {
    if (this.udpView === undefined && this.l4Kind === 'udp') {
      this.udpView = UdpView.checked(this.l4) as UdpView;
    }
    return this.udpView;
  }
  get tcp(): TcpView | undefined {
    if (this.tcpView === undefined && this.l4Kind === 'tcp') {
      this.tcpView = TcpView.checked(this.l4) as TcpView;
    }
    return this.tcpView;
  }
  get payload(): Uint8Array {
    if (this.payloadBytes === undefined) {
      this.payloadBytes = this.payOff < 0 ? EMPTY : this.frame.subarray(this.payOff, this.payEnd);
    }
    return this.payloadBytes;
  }

  reset(frame: Uint8Array): void {
    this.frame = frame;
    this.error = undefined;
    this.errorAt = undefined;
    this.ethertype = -1;
    this.arp = undefined;
    this.family = 0;
    this.src = EMPTY;
    this.dst = EMPTY;
    this.hopLimit = 0;
    this.protocol = -1;
    this.fragment = false;
    this.srcPort = -1;
    this.dstPort = -1;
    this.icmp4 = undefined;
    this.icmp6 = undefined;
    this.udpHeader = undefined;
    this.seg = undefined;
    this.icmp4Msg = undefined;
    this.icmp6Msg = undefined;
    this.l3Off = -1;
    this.l4Off = -1;
    this.l4End = 0;
    this.payOff = -1;
    this.payEnd = 0;
    this.l4Kind = '';
    this.ethView = undefined;
    this.ipv4View = undefined;
    this.ipv6View = undefined;
    this.l4Bytes = undefined;
    this.udpView = undefined;
    this.tcpView = undefined;
    this.payloadBytes = undefined;
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
  const typeOff = ethernetTypeOffset(frame);
  if (typeOff < 0) return p.fail('eth', 'truncated');
  const et = getU16(frame, typeOff);
  p.ethertype = et;
  p.l3Off = typeOff + 2;
  if (et === EtherType.Arp) {
    const v = ArpView.checked(frame.subarray(p.l3Off));
    if (isWireError(v)) return p.fail('net', v);
    const arp = parseArp(v);
    if (isWireError(arp)) return p.fail('net', arp);
    p.arp = arp;
    return p;
  }
  if (et === EtherType.Ipv4) return ipv4(p, trusted);
  if (et === EtherType.Ipv6) return ipv6(p, trusted);
  return p;
}

function copy(to: Uint8Array, from: Uint8Array, at: number): Uint8Array {
  for (let i = 0; i < to.length; i++) to[i] = from[at + i]!;
  return to;
}

function ipv4(p: Packet, trusted: boolean): Packet {
  const f = p.frame;
  const o = p.l3Off;
  const bad = checkIpv4At(f, o);
  if (bad) return p.fail('net', bad);
  const protocol = f[o + Ipv4Field.PROTOCOL]!;
  // Not a fragment: MF clear and offset 0 (RFC 791 §3.2).
  const whole = (getU16(f, o + Ipv4Field.FLG_OFF) & 0x3fff) === 0;
  const hot =
    protocol === IpProtocol.Tcp || protocol === IpProtocol.Udp || protocol === IpProtocol.Icmp;
  if (hot && whole) {
    // The hot paths: what parseIpv4 checks on an unfragmented packet, in place.
    if (!ipv4ChecksumOkAt(f, o)) return p.fail('net', 'bad-checksum');
    p.src = copy(p.src4, f, o + Ipv4Field.SRC);
    p.dst = copy(p.dst4, f, o + Ipv4Field.DST);
  } else {
    const v = Ipv4View.checked(f.subarray(o)) as Ipv4View;
    const ip = parseIpv4(v);
    if (isWireError(ip)) return p.fail('net', ip);
    p.ipv4 = v;
    p.src = ip.src;
    p.dst = ip.dst;
    p.fragment = ip.fragment !== undefined;
  }
  p.family = 4;
  p.hopLimit = f[o + Ipv4Field.TTL]!;
  p.protocol = protocol;
  if (p.fragment) return p;
  p.l4Off = o + (f[o]! & 0x0f) * 4;
  p.l4End = o + getU16(f, o + Ipv4Field.LENGTH);
  return upper(p, trusted);
}

function ipv6(p: Packet, trusted: boolean): Packet {
  const f = p.frame;
  const o = p.l3Off;
  const bad = checkIpv6At(f, o);
  if (bad) return p.fail('net', bad);
  const nh = f[o + Ipv6Field.NEXT_HEADER]!;
  if (nh === IpProtocol.Tcp || nh === IpProtocol.Udp) {
    // The hot path: no extension headers, so walkIpv6 would find the upper layer right here.
    p.family = 6;
    p.hopLimit = f[o + Ipv6Field.HOP_LIMIT]!;
    p.protocol = nh;
    p.src = copy(p.src6, f, o + Ipv6Field.SRC);
    p.dst = copy(p.dst6, f, o + Ipv6Field.DST);
    p.l4Off = o + IPV6_HEADER_LEN;
    p.l4End = p.l4Off + getU16(f, o + Ipv6Field.PAYLOAD_LEN);
    return upper(p, trusted);
  }
  const v = Ipv6View.checked(f.subarray(o)) as Ipv6View;
  const up = walkIpv6(v);
  if (isWireError(up)) return p.fail('net', up);
  p.family = 6;
  p.ipv6 = v;
  p.hopLimit = v.hopLimit;
  p.protocol = up.protocol;
  // TCP and UDP behind extension headers take the packet's arrays, everyone else copies.
  const view = up.protocol === IpProtocol.Tcp || up.protocol === IpProtocol.Udp;
  p.src = view ? copy(p.src6, f, o + Ipv6Field.SRC) : v.src.slice();
  p.dst = view ? copy(p.dst6, f, o + Ipv6Field.DST) : v.dst.slice();
  p.fragment = up.fragment !== undefined;
  if (p.fragment) return p;
  p.l4Off = o + up.offset;
  p.l4End = p.l4Off + up.length;
  return upper(p, trusted);
}

function upper(p: Packet, trusted: boolean): Packet {
  const f = p.frame;
  const o = p.l4Off;
  switch (p.protocol) {
    case IpProtocol.Tcp: {
      const bad = checkTcpAt(f, o, p.l4End);
      if (bad) return p.fail('l4', bad);
      p.l4Kind = 'tcp';
      p.srcPort = getU16(f, o + TcpField.SRC_PORT);
      p.dstPort = getU16(f, o + TcpField.DST_PORT);
      const e = parseTcpInto(p.segBuf, f, o, p.l4End, p.src, p.dst, !trusted);
      if (e) return p.fail('msg', e);
      p.seg = p.segBuf;
      p.payOff = o + (f[o + TcpField.DATA_OFFSET]! >>> 4) * 4;
      p.payEnd = p.l4End;
      return p;
    }
    case IpProtocol.Udp: {
      const bad = checkUdpAt(f, o, p.l4End);
      if (bad) return p.fail('l4', bad);
      p.l4Kind = 'udp';
      const sp = getU16(f, o + UdpField.SRC_PORT);
      const dp = getU16(f, o + UdpField.DST_PORT);
      p.srcPort = sp;
      p.dstPort = dp;
      const e = udpRulesAt(f, o, p.src, p.dst, !trusted);
      if (e) return p.fail('msg', e);
      const len = getU16(f, o + UdpField.LENGTH);
      const h = p.udpBuf;
      h.srcPort = sp;
      h.dstPort = dp;
      h.payloadLen = len - UDP_HEADER_LEN;
      p.udpHeader = h;
      p.payOff = o + UDP_HEADER_LEN;
      p.payEnd = o + len;
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
