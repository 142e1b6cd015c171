// Tests of the dispatch table: one guest frame of each kind routed, policy switches, malformed layers, and fuzzed packets that never throw.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { route, type DispatchPolicy, type Route } from './dispatch.js';
import { newGuestPacket, parseGuestFrame } from './packet.js';
import { guestFrames, GUEST_NET, type GuestFrameKind } from '../../../test/lab/frames.js';
import { EtherType } from '../../wire/ethernet.js';
import { Ipv4View } from '../../wire/ipv4.js';
import { Icmpv6View } from '../../wire/icmpv6.js';

const ALL_HOOKS: DispatchPolicy = {
  noDhcp: false,
  noDhcpv6: false,
  noRa: false,
  noNdp: false,
  gateway4: GUEST_NET.gateway4,
  gateways6: [GUEST_NET.gateway6],
  hooks: { udp: true, ping: true, tcp: true },
};
const NO_HOOKS: DispatchPolicy = { ...ALL_HOOKS, hooks: { udp: false, ping: false, tcp: false } };

const frames = guestFrames();
const to = (f: Uint8Array, policy = ALL_HOOKS, trusted = false): string => {
  const r = route(parseGuestFrame(f, trusted), policy);
  return r.to === 'malformed' ? `malformed:${r.kind}` : r.to;
};

test('each kind of guest frame goes to its service or hook', () => {
  const want: Record<GuestFrameKind, string> = {
    arp: 'arp',
    ndp: 'ndp',
    'echo-gateway4': 'echo-gateway',
    'echo-gateway6': 'echo-gateway',
    dhcp: 'dhcp',
    dhcpv6: 'dhcpv6',
    'router-solicit': 'router-solicit',
    udp4: 'udp',
    udp6: 'udp',
    ping4: 'ping',
    ping6: 'ping',
    tcp4: 'tcp',
    tcp6: 'tcp',
  };
  for (const [kind, f] of Object.entries(frames))
    assert.equal(to(f), want[kind as GuestFrameKind], kind);
  // Without hooks the L4 frames are unhandled; the services do not depend on hooks.
  for (const k of ['udp4', 'udp6', 'ping4', 'ping6', 'tcp4', 'tcp6'] as const)
    assert.equal(to(frames[k], NO_HOOKS), 'unhandled', k);
  assert.equal(to(frames.dhcp, NO_HOOKS), 'dhcp');
});

test('switched-off services: DHCP and DHCPv6 fall to the UDP hook, RS and NS are ignored', () => {
  assert.equal(to(frames.dhcp, { ...ALL_HOOKS, noDhcp: true }), 'udp');
  assert.equal(to(frames.dhcp, { ...NO_HOOKS, noDhcp: true }), 'unhandled');
  assert.equal(to(frames.dhcpv6, { ...ALL_HOOKS, noDhcpv6: true }), 'udp');
  assert.equal(to(frames['router-solicit'], { ...ALL_HOOKS, noRa: true }), 'ignored');
  assert.equal(to(frames['router-solicit'], { ...ALL_HOOKS, noNdp: true }), 'ignored');
  assert.equal(to(frames.ndp, { ...ALL_HOOKS, noNdp: true }), 'ignored');
  assert.equal(to(frames.ndp, { ...ALL_HOOKS, noRa: true }), 'ndp');
  // Echo to a gateway address depends on the addresses the policy names.
  assert.equal(to(frames['echo-gateway4'], { ...ALL_HOOKS, gateway4: undefined }), 'ping');
  assert.equal(to(frames['echo-gateway6'], { ...ALL_HOOKS, gateways6: [] }), 'ping');
});

/** A copy of `f` with byte `i` changed by xor `x`. */
const flip = (f: Uint8Array, i: number, x = 0xff): Uint8Array => {
  const c = f.slice();
  c[i] = c[i]! ^ x;
  return c;
};

test('malformed layers: where the check sits decides between malformed, a service and unhandled', () => {
  assert.equal(to(new Uint8Array(10)), 'malformed:truncated');
  assert.equal(to(flip(frames.udp4, 14 + 10)), 'malformed:bad-checksum', 'IPv4 header checksum');
  assert.equal(
    to(flip(frames.tcp4, 14 + 10)),
    'malformed:bad-checksum',
    'TCP hot path checks it too',
  );
  const last = (f: Uint8Array): number => f.length - 1;
  assert.equal(to(flip(frames.udp4, last(frames.udp4))), 'malformed:bad-checksum');
  assert.equal(to(flip(frames.udp6, last(frames.udp6))), 'malformed:bad-checksum');
  // A DHCP datagram with a bad checksum is the DHCP server's to drop (and count).
  assert.equal(to(flip(frames.dhcp, last(frames.dhcp))), 'dhcp');
  assert.equal(to(flip(frames.dhcpv6, last(frames.dhcpv6))), 'dhcpv6');
  // A TCP segment with a bad checksum: malformed with the hook, unhandled without, accepted
  // when the link vouched for the checksum.
  const badTcp = flip(frames.tcp4, 14 + 20 + 16);
  assert.equal(to(badTcp), 'malformed:bad-checksum');
  assert.equal(to(badTcp, NO_HOOKS), 'unhandled');
  assert.equal(to(badTcp, ALL_HOOKS, true), 'tcp');
  // Echo to the gateway goes to the responder whatever its ICMP bytes; elsewhere it is checked.
  assert.equal(to(flip(frames['echo-gateway4'], last(frames['echo-gateway4']))), 'echo-gateway');
  assert.equal(to(flip(frames.ping4, last(frames.ping4))), 'malformed:bad-checksum');
  assert.equal(to(flip(frames.ping6, last(frames.ping6))), 'malformed:bad-checksum');
  assert.equal(to(flip(frames.ping4, last(frames.ping4)), NO_HOOKS), 'malformed:bad-checksum');
  // An ARP body the codec refuses is still the responder's (it counts the drop).
  assert.equal(to(flip(frames.arp, 14 + 1)), 'arp');
});

test('other EtherTypes, fragments, other ICMP and other protocols', () => {
  const lldp = frames.arp.slice();
  lldp[12] = 0x88;
  lldp[13] = 0xcc;
  assert.equal(to(lldp), 'ignored');
  // IPv4 MF set, header checksum recomputed.
  const frag = frames.udp4.slice();
  frag[14 + 6] = frag[14 + 6]! | 0x20;
  Ipv4View.unchecked(frag.subarray(14)).fillChecksum();
  assert.equal(to(frag), 'unhandled');
  // An echo reply (type 129) over IPv6, checksum recomputed: ignored.
  const reply6 = frames['echo-gateway6'].slice();
  reply6[14 + 40] = 129;
  Icmpv6View.unchecked(reply6.subarray(54)).fillChecksum(GUEST_NET.guest6, GUEST_NET.gateway6);
  assert.equal(to(reply6), 'ignored');
  // ICMPv4 other than echo request, elsewhere: unhandled (nobody forwards it).
  const reply4 = frames.ping4.slice();
  reply4[14 + 20] = 0;
  assert.equal(to(reply4), 'unhandled');
  // IPv4 protocol 47 (GRE): unhandled.
  const gre = frames.udp4.slice();
  gre[14 + 9] = 47;
  Ipv4View.unchecked(gre.subarray(14)).fillChecksum();
  assert.equal(to(gre), 'unhandled');
});

test('route() never throws and always names a known route, whatever the bytes', () => {
  const known = new Set([
    'arp',
    'ndp',
    'echo-gateway',
    'dhcp',
    'dhcpv6',
    'router-solicit',
    'udp',
    'ping',
    'tcp',
    'ignored',
    'unhandled',
    'malformed',
  ]);
  const seeds = Object.values(frames);
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 120 }),
        fc
          .tuple(fc.constantFrom(...seeds), fc.nat(), fc.integer({ min: 0, max: 255 }), fc.nat())
          .map(([f, i, v, cut]) => {
            const m = f.slice();
            m[i % m.length] = v;
            return m.subarray(0, cut % (m.length + 1));
          }),
      ),
      fc.boolean(),
      (f, trusted) => {
        const r: Route = route(parseGuestFrame(f, trusted), ALL_HOOKS);
        assert.ok(known.has(r.to));
        assert.equal(Object.isFrozen(r), true, 'a shared route value');
      },
    ),
    { numRuns: 3000 },
  );
});

test("the parsed packet: TCP and UDP addresses are the packet's own arrays, everyone else gets copies", () => {
  const into = newGuestPacket();
  const t = parseGuestFrame(frames.tcp4, false, into);
  const tSrc = t.src;
  const seg = t.seg;
  assert.notEqual(t.src.buffer, frames.tcp4.buffer);
  assert.deepEqual([...t.src], [10, 88, 0, 15]);
  assert.equal(t.seg?.options.mss, 1460);
  assert.equal(t.payload.length, 0);
  assert.equal(t.tcp?.dstPort, t.dstPort, 'the view, made on demand, agrees');
  const t6 = parseGuestFrame(frames.tcp6);
  assert.equal(t6.dst.length, 16);
  assert.equal(t6.ipv6?.hopLimit, t6.hopLimit);
  const u = parseGuestFrame(frames.udp4, false, into);
  assert.equal(u.src, tSrc, 'refilled, not reallocated');
  assert.deepEqual([...u.src], [10, 88, 0, 15]);
  assert.deepEqual([...u.payload], [1, 2, 3, 4]);
  assert.equal(u.payload.buffer, frames.udp4.buffer, 'payloads stay views');
  assert.equal(u.udp?.srcPort, u.srcPort);
  assert.equal(u.udpHeader?.payloadLen, 4);
  assert.equal(u.ipv4?.ttl, u.hopLimit);
  assert.equal(u.eth?.ethertype, EtherType.Ipv4);
  assert.equal(parseGuestFrame(frames.tcp4, false, into).seg, seg, 'the TCP repr is refilled');
  const e = parseGuestFrame(frames.ping6);
  assert.notEqual(e.src.buffer, frames.ping6.buffer);
  assert.equal(e.icmp6Msg?.type, 128);
  assert.equal(e.error, undefined);
  assert.equal(e.srcPort, -1);
  const short = parseGuestFrame(frames.udp4.subarray(0, 30));
  assert.equal(short.errorAt, 'net');
  assert.equal(short.error, 'truncated');
  assert.equal(short.family, 0);
  assert.equal(short.ipv4, undefined);
});
