// Shared support for the wire codec tests: pcap fixtures, frame builders, L4 locating, test addresses.
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
import { buildIpv4Frame, buildIpv6Frame } from '../../src/wire/build.js';
import { emitUdp } from '../../src/wire/udp.js';

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
