// Shared support for the wire codec and dispatch tests: pcap fixtures, frame builders, L4 locating, test addresses, one guest frame of each kind.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { readPcap } from '../../src/wire/pcap.js';
import { getU16, isWireError, parseIpv4, parseIpv6 } from '../../src/wire/common.js';
import {
  EthernetView,
  emitEthernet,
  EtherType,
  ETHERNET_HEADER_LEN,
} from '../../src/wire/ethernet.js';
import { emitIpv4, ipv4HeaderLen, type Ipv4Repr } from '../../src/wire/ipv4.js';
import { buildArpFrame, buildIpv4Frame, buildIpv6Frame } from '../../src/wire/build.js';
import { emitUdp } from '../../src/wire/udp.js';
import { ArpOp } from '../../src/wire/arp.js';
import {
  emitTcp,
  tcpHeaderLen,
  TcpFlag,
  TCP_NO_OPTIONS,
  type TcpOptions,
  type TcpRepr,
} from '../../src/wire/tcp.js';
import { emitIcmpv4, icmpv4BufferLen, type Icmpv4Repr } from '../../src/wire/icmpv4.js';
import { emitIcmpv6, icmpv6BufferLen, type Icmpv6Repr } from '../../src/wire/icmpv6.js';
import {
  dhcpBufferLen,
  emitDhcp,
  DhcpMessageType,
  DhcpOp,
  type DhcpRepr,
} from '../../src/wire/dhcp.js';
import { dhcpv6BufferLen, duidLl, emitDhcpv6, type Dhcpv6Repr } from '../../src/wire/dhcpv6.js';

/** A SYN (no data, window 65535) from `sport` to `dport` with sequence number `seq`. */
export function synRepr(
  sport: number,
  dport: number,
  seq: number,
  options: TcpOptions = TCP_NO_OPTIONS,
): TcpRepr {
  return {
    srcPort: sport,
    dstPort: dport,
    seq,
    ack: 0,
    flags: TcpFlag.SYN,
    window: 65535,
    urgent: 0,
    options,
    payloadLen: 0,
  };
}

/** A DHCPDISCOVER (xid 0x1234, no options) from the client with MAC `mac`. */
export function discoverRepr(mac: Uint8Array): DhcpRepr {
  const zero = new Uint8Array(4);
  const chaddr = new Uint8Array(16);
  chaddr.set(mac);
  return {
    op: DhcpOp.BootRequest,
    htype: 1,
    hlen: 6,
    hops: 0,
    xid: 0x1234,
    secs: 0,
    broadcast: false,
    ciaddr: zero,
    yiaddr: zero,
    siaddr: zero,
    giaddr: zero,
    chaddr,
    sname: new Uint8Array(0),
    file: new Uint8Array(0),
    options: [],
    messageType: DhcpMessageType.Discover,
  };
}

/** Host A's MAC on the test link of the L4 captures (part2). */
export const MAC_A = Uint8Array.of(2, 0, 0, 0, 2, 1);
/** Host B's MAC on the test link of the L4 captures (part2). */
export const MAC_B = Uint8Array.of(2, 0, 0, 0, 2, 2);
/** Host A's IPv4 address, 192.0.2.1. */
export const V4_A = parseIpv4('192.0.2.1')!;
/** Host B's IPv4 address, 192.0.2.2. */
export const V4_B = parseIpv4('192.0.2.2')!;
/** Host A's IPv6 address, 2001:db8:1::1. */
export const V6_A = parseIpv6('2001:db8:1::1')!;
/** Host B's IPv6 address, 2001:db8:1::2. */
export const V6_B = parseIpv6('2001:db8:1::2')!;

/** Bytes from hex digits; white space between them is ignored. */
export const fromHex = (s: string): Uint8Array =>
  Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

/**
 * The frames of `test/fixtures/wire/<name>.pcap` (recreated by scripts/capture-fixtures/), as
 * plain Uint8Array views into the file. Asserts that the file is a pcap file.
 */
export function fixtureFrames(name: string): Uint8Array[] {
  const file = readFileSync(new URL(`../fixtures/wire/${name}.pcap`, import.meta.url));
  const pcap = readPcap(new Uint8Array(file.buffer, file.byteOffset, file.byteLength));
  assert.ok(pcap, name);
  return pcap.records.map((r) => r.frame);
}

/** The Ethernet payloads (tagged or not) of the frames of fixture `name` with `ethertype`. */
export function fixturePayloads(name: string, ethertype: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const frame of fixtureFrames(name)) {
    const eth = EthernetView.checked(frame);
    assert.ok(!isWireError(eth));
    if (eth.ethertype === ethertype) out.push(eth.payload());
  }
  return out;
}

/** Where the L4 header of an untagged Ethernet + IPv4/IPv6 frame is (no IPv6 extension headers). */
export function locateL4(
  frame: Uint8Array,
): { src: Uint8Array; dst: Uint8Array; proto: number; l4: Uint8Array } | undefined {
  const ethertype = getU16(frame, 12);
  if (ethertype === 0x0800) {
    const ihl = (frame[14]! & 15) * 4;
    const total = getU16(frame, 16);
    return {
      src: frame.subarray(26, 30),
      dst: frame.subarray(30, 34),
      proto: frame[23]!,
      l4: frame.subarray(14 + ihl, 14 + total),
    };
  }
  if (ethertype === 0x86dd) {
    return {
      src: frame.subarray(22, 38),
      dst: frame.subarray(38, 54),
      proto: frame[20]!,
      l4: frame.subarray(54, 54 + getU16(frame, 18)),
    };
  }
  return undefined;
}

/** The Ethernet source and destination between hosts A and B: from A to B unless `fromA` is false. */
function macsBetween(fromA: boolean): { ethSrc: Uint8Array; ethDst: Uint8Array } {
  return fromA ? { ethSrc: MAC_A, ethDst: MAC_B } : { ethSrc: MAC_B, ethDst: MAC_A };
}

/** Pre-fills the L4 region with 0xa5 before `fill` writes it, so unwritten bytes show. */
const prefilled =
  (fill: (l4: Uint8Array) => void) =>
  (l4: Uint8Array): void => {
    l4.fill(0xa5);
    fill(l4);
  };

/**
 * Ethernet + IPv4 (20 bytes, ident 0x1234, DF, TTL 64, checksum filled) + `l4Len` bytes,
 * pre-filled with 0xa5, written by `fill`. MACs are A's and B's, by whether `src` is V4_A.
 */
export function frame4(
  src: Uint8Array,
  dst: Uint8Array,
  proto: number,
  l4Len: number,
  fill: (l4: Uint8Array) => void,
): Uint8Array {
  const { ethSrc, ethDst } = macsBetween(src[3] === V4_A[3]);
  const ip = { src, dst, protocol: proto, ident: 0x1234 };
  return buildIpv4Frame(ethSrc, ethDst, ip, l4Len, prefilled(fill));
}

/**
 * Ethernet + IPv6 (40 bytes, hop limit 64) + `l4Len` bytes, pre-filled with 0xa5, written by
 * `fill`. MACs are A's and B's, by whether `src` is V6_A.
 */
export function frame6(
  src: Uint8Array,
  dst: Uint8Array,
  nextHeader: number,
  l4Len: number,
  fill: (l4: Uint8Array) => void,
): Uint8Array {
  const { ethSrc, ethDst } = macsBetween(src[15] === V6_A[15]);
  return buildIpv6Frame(ethSrc, ethDst, { src, dst, nextHeader }, l4Len, prefilled(fill));
}

/** Host A's MAC on the part1 (ARP, ICMPv4, IPv4) test link. */
export const L3_MAC_A = Uint8Array.of(2, 0, 0, 0, 1, 1);
/** Host B's MAC on the part1 (ARP, ICMPv4, IPv4) test link. */
export const L3_MAC_B = Uint8Array.of(2, 0, 0, 0, 1, 2);

/**
 * Ethernet (L3_MAC_A to L3_MAC_B) + the IPv4 header of `ip` + `payload`, all emitted by the
 * codecs into a 0xa5-filled buffer; `ip.payloadLen` is written as given.
 */
export function ipv4Frame(ip: Ipv4Repr, payload: Uint8Array): Uint8Array {
  const hl = ipv4HeaderLen(ip);
  const f = new Uint8Array(ETHERNET_HEADER_LEN + hl + payload.length).fill(0xa5);
  emitEthernet({ dst: L3_MAC_B, src: L3_MAC_A, ethertype: EtherType.Ipv4 }, f);
  emitIpv4(ip, f.subarray(ETHERNET_HEADER_LEN));
  f.set(payload, ETHERNET_HEADER_LEN + hl);
  return f;
}

/**
 * A `fill` for the frame builders that writes a UDP datagram from `sport` to `dport` around
 * `payload` (the L4 region must be 8 + payload.length bytes), checksum set for `src` -> `dst`.
 */
export function udpFill(
  src: Uint8Array,
  dst: Uint8Array,
  sport: number,
  dport: number,
  payload: Uint8Array,
): (l4: Uint8Array) => void {
  return (l4) => {
    l4.set(payload, 8);
    emitUdp({ srcPort: sport, dstPort: dport, payloadLen: payload.length }, l4, src, dst);
  };
}

/** Addresses of the guest frames below: the guest, its gateway, and a host beyond it. */
export const GUEST_NET = {
  guestMac: Uint8Array.of(0x52, 0x54, 0, 0x12, 0x34, 0x56),
  ourMac: Uint8Array.of(0x9a, 0x55, 0x9a, 0x55, 0x9a, 0x55),
  guest4: parseIpv4('10.88.0.15')!,
  gateway4: parseIpv4('10.88.0.1')!,
  far4: parseIpv4('192.0.2.80')!,
  guestLl6: parseIpv6('fe80::5054:ff:fe12:3456')!,
  guest6: parseIpv6('fd00:88::15')!,
  gateway6: parseIpv6('fe80::1')!,
  far6: parseIpv6('2001:db8::80')!,
} as const;

/** The kinds of frame a guest sends that the translator's dispatch tells apart. */
export type GuestFrameKind =
  | 'arp'
  | 'ndp'
  | 'echo-gateway4'
  | 'echo-gateway6'
  | 'dhcp'
  | 'dhcpv6'
  | 'router-solicit'
  | 'udp4'
  | 'udp6'
  | 'ping4'
  | 'ping6'
  | 'tcp4'
  | 'tcp6';

/**
 * One valid guest frame of each kind (GUEST_NET addresses; the guest's MAC as source), built
 * by the codecs: ARP request for the gateway, NS for it, echo requests to it, DHCP DISCOVER,
 * DHCPv6 SOLICIT, RS, UDP to port 53 and echo requests beyond the gateway, TCP SYNs.
 */
export function guestFrames(): Record<GuestFrameKind, Uint8Array> {
  const n = GUEST_NET;
  const bcast = new Uint8Array(6).fill(0xff);
  const allRouters = parseIpv6('ff02::2')!;
  const allServers = parseIpv6('ff02::1:2')!;
  const snGw = parseIpv6('ff02::1:ff00:1')!;
  const mcast6 = (a: Uint8Array): Uint8Array => Uint8Array.of(0x33, 0x33, ...a.subarray(12));
  const udp = (
    src: Uint8Array,
    dst: Uint8Array,
    sp: number,
    dp: number,
    p: Uint8Array,
    ed: Uint8Array = n.ourMac,
  ) =>
    src.length === 4
      ? buildIpv4Frame(
          n.guestMac,
          ed,
          { src, dst, protocol: 17 },
          8 + p.length,
          udpFill(src, dst, sp, dp, p),
        )
      : buildIpv6Frame(
          n.guestMac,
          ed,
          { src, dst, nextHeader: 17 },
          8 + p.length,
          udpFill(src, dst, sp, dp, p),
        );
  const icmp6 = (src: Uint8Array, dst: Uint8Array, r: Icmpv6Repr, ed: Uint8Array) =>
    buildIpv6Frame(
      n.guestMac,
      ed,
      { src, dst, nextHeader: 58, hopLimit: 255 },
      icmpv6BufferLen(r),
      (b) => emitIcmpv6(r, b, src, dst),
    );
  const echo4 = (dst: Uint8Array) => {
    const r: Icmpv4Repr = { type: 8, ident: 7, seqNo: 1, data: Uint8Array.of(1, 2, 3) };
    return buildIpv4Frame(
      n.guestMac,
      n.ourMac,
      { src: n.guest4, dst, protocol: 1 },
      icmpv4BufferLen(r),
      (b) => emitIcmpv4(r, b),
    );
  };
  const tcp = (src: Uint8Array, dst: Uint8Array) => {
    const r = synRepr(40000, 80, 1, { mss: 1460 });
    const fill = (b: Uint8Array): void => emitTcp(r, b, src, dst);
    return src.length === 4
      ? buildIpv4Frame(n.guestMac, n.ourMac, { src, dst, protocol: 6 }, tcpHeaderLen(r), fill)
      : buildIpv6Frame(n.guestMac, n.ourMac, { src, dst, nextHeader: 6 }, tcpHeaderLen(r), fill);
  };
  const discover = discoverRepr(n.guestMac);
  const dhcpPayload = new Uint8Array(dhcpBufferLen(discover));
  emitDhcp(discover, dhcpPayload);
  const solicit: Dhcpv6Repr = {
    msgType: 1,
    transactionId: 0x123456,
    options: [
      { code: 1, duid: duidLl(1, n.guestMac) },
      { code: 3, iaid: 1, t1S: 0, t2S: 0, options: [] },
    ],
  };
  const dhcpv6Payload = new Uint8Array(dhcpv6BufferLen(solicit));
  emitDhcpv6(solicit, dhcpv6Payload);
  return {
    arp: buildArpFrame(n.guestMac, bcast, {
      operation: ArpOp.Request,
      senderMac: n.guestMac,
      senderIp: n.guest4,
      targetMac: new Uint8Array(6),
      targetIp: n.gateway4,
    }),
    ndp: icmp6(
      n.guestLl6,
      snGw,
      { type: 135, target: n.gateway6, options: [{ type: 1, mac: n.guestMac }] },
      mcast6(snGw),
    ),
    'echo-gateway4': echo4(n.gateway4),
    'echo-gateway6': icmp6(
      n.guest6,
      n.gateway6,
      { type: 128, ident: 7, seqNo: 1, data: Uint8Array.of(1, 2, 3) },
      n.ourMac,
    ),
    dhcp: udp(new Uint8Array(4), parseIpv4('255.255.255.255')!, 68, 67, dhcpPayload, bcast),
    dhcpv6: udp(n.guestLl6, allServers, 546, 547, dhcpv6Payload, mcast6(allServers)),
    'router-solicit': icmp6(
      n.guestLl6,
      allRouters,
      { type: 133, options: [{ type: 1, mac: n.guestMac }] },
      mcast6(allRouters),
    ),
    udp4: udp(n.guest4, n.far4, 40000, 53, Uint8Array.of(1, 2, 3, 4)),
    udp6: udp(n.guest6, n.far6, 40000, 53, Uint8Array.of(1, 2, 3, 4)),
    ping4: echo4(n.far4),
    ping6: icmp6(
      n.guest6,
      n.far6,
      { type: 128, ident: 8, seqNo: 2, data: Uint8Array.of(4, 5) },
      n.ourMac,
    ),
    tcp4: tcp(n.guest4, n.far4),
    tcp6: tcp(n.guest6, n.far6),
  };
}
