// Tests of the ICMPv6/NDP codec: captured messages, validity rules, properties and tshark's reading.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  Icmpv6View,
  Icmpv6Field,
  Icmpv6Type,
  Icmpv6DestUnreachableCode,
  Icmpv6ParamProblemCode,
  NdpOptionType,
  parseIcmpv6,
  parseNdpOptions,
  emitIcmpv6,
  icmpv6BufferLen,
  ndpOptionsLen,
  type Icmpv6Repr,
  type NdpOption,
  type NdpRouterAdvertRepr,
} from './icmpv6.js';
import { emitUdp, udpBufferLen } from './udp.js';
import {
  isWireError,
  getU16,
  putU16,
  parseIpv6,
  parseMac,
  formatIpv6,
  formatMac,
  type Ipv6Addr,
} from './common.js';
import { tsharkDecode, tsharkProblems } from '../../test/lab/tshark.js';
import { fixtureFrames, MAC_A, MAC_B, V6_A, V6_B } from '../../test/lab/frames.js';

// --- Local helpers: outer headers by hand, so these tests need no other codec. ---

const LL_A = parseIpv6('fe80::ff:fe00:201')!;
const LL_B = parseIpv6('fe80::ff:fe00:202')!;
const ALL_NODES = parseIpv6('ff02::1')!;
const ALL_ROUTERS = parseIpv6('ff02::2')!;
const UNSPECIFIED = new Uint8Array(16);
const SN_B = parseIpv6('ff02::1:ff00:2')!;

/** Where the ICMPv6 message of an untagged Ethernet + IPv6 frame is (no extension headers). */
function locateL4(frame: Uint8Array): {
  src: Uint8Array;
  dst: Uint8Array;
  proto: number;
  hopLimit: number;
  l4: Uint8Array;
} {
  assert.equal(getU16(frame, 12), 0x86dd);
  return {
    src: frame.subarray(22, 38),
    dst: frame.subarray(38, 54),
    proto: frame[20]!,
    hopLimit: frame[21]!,
    l4: frame.subarray(54, 54 + getU16(frame, 18)),
  };
}

/** Ethernet + IPv6 (40 bytes) + `l4Len` bytes written by `fill`. */
function frame6(
  src: Uint8Array,
  dst: Uint8Array,
  nextHeader: number,
  l4Len: number,
  fill: (l4: Uint8Array) => void,
  hopLimit = 64,
): Uint8Array {
  const f = new Uint8Array(54 + l4Len).fill(0xa5);
  const ethDst = dst[0] === 0xff ? Uint8Array.of(0x33, 0x33, ...dst.subarray(12)) : MAC_B;
  f.set(ethDst, 0);
  f.set(MAC_A, 6);
  putU16(f, 12, 0x86dd);
  const ip = f.subarray(14, 54);
  ip.set([0x60, 0, 0, 0, 0, 0, nextHeader, hopLimit]);
  putU16(ip, 4, l4Len);
  ip.set(src, 8);
  ip.set(dst, 24);
  fill(f.subarray(54));
  return f;
}

/** A whole frame carrying `r` from `src` to `dst` (hop limit 255 for NDP). */
function icmpFrame(r: Icmpv6Repr, src: Ipv6Addr, dst: Ipv6Addr): Uint8Array {
  const hop = r.type >= 133 ? 255 : 64;
  return frame6(src, dst, 58, icmpv6BufferLen(r), (b) => emitIcmpv6(r, b, src, dst), hop);
}

/** Emits `r` into a buffer pre-filled with `fillByte`. */
function emitted(r: Icmpv6Repr, src: Ipv6Addr, dst: Ipv6Addr, fillByte = 0xa5): Uint8Array {
  const b = new Uint8Array(icmpv6BufferLen(r)).fill(fillByte);
  emitIcmpv6(r, b, src, dst);
  return b;
}

/** Checked view + parse, or the error kind. */
function parsed(b: Uint8Array, src: Ipv6Addr, dst: Ipv6Addr): Icmpv6Repr | string {
  const v = Icmpv6View.checked(b);
  if (isWireError(v)) return v.kind;
  const r = parseIcmpv6(v, src, dst);
  return isWireError(r) ? r.kind : r;
}

/** Parses every frame of a fixture, checks it re-emits byte for byte, returns the reprs. */
function roundTripFixture(name: string): Icmpv6Repr[] {
  return fixtureFrames(name).map((frame, i) => {
    const at = locateL4(frame);
    assert.equal(at.proto, 58);
    const r = parsed(at.l4, at.src, at.dst);
    assert.ok(typeof r !== 'string', `${name} frame ${i + 1}: ${r}`);
    if (r.type >= 133) assert.equal(at.hopLimit, 255);
    assert.deepEqual(emitted(r, at.src, at.dst), at.l4, `${name} frame ${i + 1}`);
    return r;
  });
}

/** Raw message bytes with a correct checksum: `head` (type, code, rest) then `options`. */
function rawMessage(head: number[], options: number[], src: Ipv6Addr, dst: Ipv6Addr): Uint8Array {
  const b = Uint8Array.from([...head, ...options]);
  Icmpv6View.unchecked(b).fillChecksum(src, dst);
  return b;
}

const RA: NdpRouterAdvertRepr = {
  type: 134,
  curHopLimit: 64,
  managed: false,
  other: true,
  preference: 1,
  routerLifetime: 1800,
  reachableTime: 30000,
  retransTimer: 1000,
  options: [
    { type: 1, mac: MAC_B },
    {
      type: 3,
      prefixLen: 64,
      onLink: true,
      autonomous: true,
      validLifetime: 86400,
      preferredLifetime: 14400,
      prefix: parseIpv6('2001:db8:1::')!,
    },
    { type: 5, mtu: 1500 },
    { type: 25, lifetime: 600, addresses: [V6_B, parseIpv6('2001:db8:1::53')!] },
    { type: 31, lifetime: 600, domains: ['example.test', 'lab.example.test'] },
  ],
};

// --- Fixtures from real tools (scripts/capture-fixtures/wire-part2.sh). ---

test('captured echo requests and replies parse and re-emit byte for byte', () => {
  const msgs = roundTripFixture('part2-icmpv6-echo');
  assert.deepEqual(
    msgs.map((m) => (m.type === 128 || m.type === 129 ? [m.type, m.data.length] : m.type)),
    [
      [128, 56],
      [129, 56],
      [128, 0],
      [129, 0],
    ],
  );
  const [req, rep] = msgs;
  assert.ok(req?.type === 128 && rep?.type === 129);
  assert.equal(rep.ident, req.ident);
  assert.equal(rep.seqNo, 1);
  assert.deepEqual(rep.data, req.data);
});

test('captured error messages parse and re-emit byte for byte', () => {
  const msgs = roundTripFixture('part2-icmpv6-errors');
  const summary = msgs.map((m) => {
    switch (m.type) {
      case 1:
      case 3:
        return [m.type, m.code, m.invoking.length];
      case 2:
        return [m.type, m.mtu, m.invoking.length];
      case 4:
        return [m.type, m.code, m.pointer, m.invoking.length];
      default:
        return [m.type];
    }
  });
  assert.deepEqual(summary, [
    [Icmpv6Type.TimeExceeded, 0, 104],
    [Icmpv6Type.PacketTooBig, 1280, 1232],
    [Icmpv6Type.DestUnreachable, Icmpv6DestUnreachableCode.NoRoute, 104],
    [Icmpv6Type.DestUnreachable, Icmpv6DestUnreachableCode.PortUnreachable, 72],
    [Icmpv6Type.ParamProblem, Icmpv6ParamProblemCode.NextHeader, 6, 67],
  ]);
  // The invoking packets are the IPv6 packets A sent.
  const dsts = msgs.map((m) => ('invoking' in m ? formatIpv6(m.invoking.subarray(24, 40)) : ''));
  assert.deepEqual(dsts, [
    '2001:db8:99::5',
    '2001:db8:99::5',
    '2001:db8:98::5',
    '2001:db8:1::2',
    '2001:db8:1::2',
  ]);
});

test('captured neighbor discovery parses and re-emits byte for byte', () => {
  const msgs = roundTripFixture('part2-ndp');
  // One of each, in capture order (an unsolicited RA may come before or after the RS).
  assert.deepEqual(msgs.map((m) => m.type).sort(), [133, 134, 135, 136, 137]);
  const ofType = (t: number) => msgs.find((m) => m.type === t);
  const [ns, na, redirect, rs, ra] = [135, 136, 137, 133, 134].map(ofType);
  assert.ok(ns?.type === 135);
  assert.equal(formatIpv6(ns.target), '2001:db8:1::2');
  assert.deepEqual(ns.options, [{ type: 1, mac: MAC_A }]);
  assert.ok(na?.type === 136);
  assert.deepEqual(
    [na.router, na.solicited, na.override, formatIpv6(na.target)],
    [true, true, true, '2001:db8:1::2'],
  );
  assert.deepEqual(na.options, [{ type: 2, mac: MAC_B }]);
  assert.ok(redirect?.type === 137);
  assert.equal(formatIpv6(redirect.target), 'fe80::c');
  assert.equal(formatIpv6(redirect.destination), '2001:db8:77::1');
  const [tlla, rh] = redirect.options;
  assert.deepEqual(tlla, { type: 2, mac: parseMac('02:00:00:00:02:0c') });
  assert.ok(rh && 'packet' in rh);
  assert.equal(formatIpv6(rh.packet.subarray(24, 40)), '2001:db8:77::1');
  assert.ok(rs?.type === 133);
  assert.deepEqual(rs.options, [{ type: 1, mac: MAC_A }]);
  // dnsmasq's RA: --ra-param mtu:1400, the ra-only prefix, two DNS servers, two search domains.
  assert.ok(ra?.type === 134);
  assert.deepEqual(
    [ra.curHopLimit, ra.managed, ra.other, ra.preference, ra.reachableTime, ra.retransTimer],
    [64, false, false, 0, 0, 0],
  );
  assert.ok(ra.routerLifetime > 0);
  const byType = new Map(ra.options.map((o) => [o.type, o]));
  assert.deepEqual(
    [...byType.keys()].sort((a, b) => a - b),
    [1, 3, 5, 25, 31],
  );
  const pi = byType.get(NdpOptionType.PrefixInfo);
  assert.ok(pi && 'prefix' in pi);
  assert.deepEqual(
    [formatIpv6(pi.prefix), pi.prefixLen, pi.onLink, pi.autonomous],
    ['2001:db8:1::', 64, true, true],
  );
  assert.deepEqual(byType.get(NdpOptionType.Mtu), { type: 5, mtu: 1400 });
  const sll = byType.get(NdpOptionType.SourceLinkAddr);
  assert.ok(sll && 'mac' in sll);
  assert.equal(formatMac(sll.mac), '02:00:00:00:02:02');
  const rdnss = byType.get(NdpOptionType.Rdnss);
  assert.ok(rdnss && 'addresses' in rdnss);
  assert.deepEqual(rdnss.addresses.map(formatIpv6), ['2001:db8:1::53', '2001:db8:1::54']);
  const dnssl = byType.get(NdpOptionType.Dnssl);
  assert.ok(dnssl && 'domains' in dnssl);
  assert.deepEqual(dnssl.domains, ['example.test', 'lab.example.test']);
});

// --- Hand-written cases. ---

test('view reads the header fields and the body in place', () => {
  const b = emitted({ type: 128, ident: 0x1234, seqNo: 7, data: Uint8Array.of(1, 2) }, V6_A, V6_B);
  const v = Icmpv6View.checked(b);
  assert.ok(!isWireError(v));
  assert.deepEqual([v.type, v.code, v.ident, v.seqNo], [128, 0, 0x1234, 7]);
  assert.equal(v.checksum, getU16(b, Icmpv6Field.CHECKSUM));
  assert.deepEqual(v.body(), Uint8Array.of(1, 2));
  assert.ok(v.checksumOk(V6_A, V6_B));
  v.ident = 99;
  v.seqNo = 100;
  assert.ok(!v.checksumOk(V6_A, V6_B));
  v.fillChecksum(V6_A, V6_B);
  assert.deepEqual(parsed(b, V6_A, V6_B), {
    type: 128,
    ident: 99,
    seqNo: 100,
    data: Uint8Array.of(1, 2),
  });
  const ptb = Icmpv6View.checked(
    emitted({ type: 2, mtu: 1280, invoking: new Uint8Array(4) }, V6_A, V6_B),
  );
  assert.ok(!isWireError(ptb));
  assert.equal(ptb.word1, 1280);
});

test('option padding: DNSSL pads to 8 bytes with zeros, unknown options are kept raw', () => {
  // DNSSL: "example.test" is 14 bytes of labels, padded with zeros to 16 (RFC 8106 §5.2).
  const ra = emitted(
    { ...RA, options: [{ type: 31, lifetime: 600, domains: ['example.test'] }] },
    LL_B,
    ALL_NODES,
  );
  const names = [
    7,
    ...new TextEncoder().encode('example'),
    4,
    ...new TextEncoder().encode('test'),
    0,
  ];
  assert.deepEqual(Array.from(ra.subarray(16)), [31, 3, 0, 0, 0, 0, 2, 0x58, ...names, 0, 0]);
  // An unknown option with 3 data bytes takes one 8-byte unit; its data reads back as 6 bytes.
  const rs: Icmpv6Repr = {
    type: 133,
    options: [{ type: 200, data: Uint8Array.of(1, 2, 3) }],
  };
  const b = emitted(rs, LL_A, ALL_ROUTERS);
  assert.deepEqual(Array.from(b.subarray(8)), [200, 1, 1, 2, 3, 0, 0, 0]);
  const back = parsed(b, LL_A, ALL_ROUTERS);
  assert.ok(typeof back !== 'string' && back.type === 133);
  assert.deepEqual(back.options, [{ type: 200, data: Uint8Array.of(1, 2, 3, 0, 0, 0) }]);
  assert.equal(ndpOptionsLen(rs.options), 8);
});

test('router preference: the reserved value reads as medium (RFC 4191 §2.2)', () => {
  const b = emitted({ ...RA, preference: 2 }, LL_B, ALL_NODES);
  assert.equal((b[Icmpv6Field.RA_FLAGS]! >>> 3) & 3, 2);
  const r = parsed(b, LL_B, ALL_NODES);
  assert.ok(typeof r !== 'string' && r.type === 134);
  assert.equal(r.preference, 0);
  const low = parsed(emitted({ ...RA, preference: 3 }, LL_B, ALL_NODES), LL_B, ALL_NODES);
  assert.ok(typeof low !== 'string' && low.type === 134);
  assert.equal(low.preference, 3);
});

test('malformed messages are refused with the right kind', () => {
  const target = [...V6_B];
  const ns = (options: number[], src = V6_A, dst = SN_B) =>
    parsed(rawMessage([135, 0, 0, 0, 0, 0, 0, 0, ...target], options, src, dst), src, dst);
  const sll = [1, 1, ...MAC_A];
  assert.equal(typeof ns(sll), 'object');
  assert.equal(parsed(new Uint8Array(7), V6_A, V6_B), 'truncated');
  // Bad checksum.
  const bad = rawMessage([135, 0, 0, 0, 0, 0, 0, 0, ...target], sll, V6_A, SN_B);
  bad[30]! ^= 1;
  assert.equal(parsed(bad, V6_A, SN_B), 'bad-checksum');
  // Option length 0 (RFC 4861 §4.6), an option running past the end, a lone option byte.
  assert.equal(ns([1, 0, ...MAC_A]), 'malformed');
  assert.equal(ns([1, 2, ...MAC_A]), 'truncated');
  assert.equal(ns([...sll, 1]), 'truncated');
  // Known options with the wrong length.
  assert.equal(ns([1, 2, ...MAC_A, ...new Uint8Array(8)]), 'malformed');
  assert.equal(ns([5, 2, ...new Uint8Array(14)]), 'malformed');
  assert.equal(ns([3, 3, ...new Uint8Array(22)]), 'malformed');
  assert.equal(ns([3, 4, 129, ...new Uint8Array(29)]), 'malformed');
  assert.equal(ns([25, 2, ...new Uint8Array(14)]), 'malformed');
  assert.equal(ns([25, 4, ...new Uint8Array(30)]), 'malformed');
  assert.equal(ns([31, 1, ...new Uint8Array(6)]), 'malformed');
  // DNSSL whose name runs past the option.
  assert.equal(ns([31, 2, 0, 0, 0, 0, 0, 0, 9, 0x61, 0x62, 0, 0, 0, 0, 0]), 'truncated');
  // NDP code must be 0; the fixed part must be there.
  assert.equal(
    parsed(rawMessage([135, 1, 0, 0, 0, 0, 0, 0, ...target], [], V6_A, SN_B), V6_A, SN_B),
    'malformed',
  );
  assert.equal(
    parsed(
      rawMessage([135, 0, 0, 0, 0, 0, 0, 0, ...target.slice(0, 8)], [], V6_A, SN_B),
      V6_A,
      SN_B,
    ),
    'truncated',
  );
  // NS: multicast target; unspecified source with SLLA or to a unicast address (RFC 4861 §7.1.1).
  assert.equal(
    parsed(rawMessage([135, 0, 0, 0, 0, 0, 0, 0, ...ALL_NODES], [], V6_A, SN_B), V6_A, SN_B),
    'malformed',
  );
  assert.equal(ns(sll, UNSPECIFIED, SN_B), 'malformed');
  assert.equal(ns([], UNSPECIFIED, V6_B), 'malformed');
  assert.equal(typeof ns([], UNSPECIFIED, SN_B), 'object');
  // NA: solicited to a multicast address (§7.1.2).
  const na = (flags: number, dst: Ipv6Addr) =>
    parsed(rawMessage([136, 0, 0, 0, flags, 0, 0, 0, ...target], [], V6_B, dst), V6_B, dst);
  assert.equal(na(0x60, ALL_NODES), 'malformed');
  assert.equal(typeof na(0x20, ALL_NODES), 'object');
  assert.equal(typeof na(0x60, V6_A), 'object');
  // RA and redirect from a global source (§6.1.2, §8.1); RS from :: with SLLA (§6.1.1).
  assert.equal(parsed(emitted(RA, V6_B, ALL_NODES), V6_B, ALL_NODES), 'malformed');
  const redirect = (t: Ipv6Addr, d: Ipv6Addr, src = LL_B) =>
    parsed(emitted({ type: 137, target: t, destination: d, options: [] }, src, V6_A), src, V6_A);
  assert.equal(typeof redirect(parseIpv6('fe80::c')!, parseIpv6('2001:db8:77::1')!), 'object');
  assert.equal(typeof redirect(V6_B, V6_B), 'object');
  assert.equal(redirect(V6_B, parseIpv6('2001:db8:77::1')!), 'malformed');
  assert.equal(redirect(LL_A, ALL_NODES), 'malformed');
  assert.equal(redirect(LL_A, V6_B, V6_B), 'malformed');
  const rs = emitted({ type: 133, options: [{ type: 1, mac: MAC_A }] }, UNSPECIFIED, ALL_ROUTERS);
  assert.equal(parsed(rs, UNSPECIFIED, ALL_ROUTERS), 'malformed');
  // Types outside echo, errors and NDP.
  for (const t of [0, 5, 127, 130, 132, 138, 143, 255])
    assert.equal(
      parsed(rawMessage([t, 0, 0, 0, 0, 0, 0, 0], [], V6_A, V6_B), V6_A, V6_B),
      'unsupported',
      `type ${t}`,
    );
});

test('parseNdpOptions on its own', () => {
  assert.deepEqual(parseNdpOptions(new Uint8Array(0)), []);
  const opts = parseNdpOptions(Uint8Array.of(5, 1, 0, 0, 0, 0, 5, 0xdc, 14, 1, 1, 2, 3, 4, 5, 6));
  assert.deepEqual(opts, [
    { type: 5, mtu: 1500 },
    { type: 14, data: Uint8Array.of(1, 2, 3, 4, 5, 6) },
  ]);
});

// --- Properties. ---

const ipv6Addr = fc.uint8Array({ minLength: 16, maxLength: 16 });
const linkLocal = fc
  .uint8Array({ minLength: 8, maxLength: 8 })
  .map((low) => Uint8Array.of(0xfe, 0x80, 0, 0, 0, 0, 0, 0, ...low));
const unicast = ipv6Addr.filter((a) => a[0] !== 0xff);
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const bytes = fc.uint8Array({ maxLength: 64 });
const rec = <T>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }) =>
  fc.record<T>(model, { noNullPrototype: true });
const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?$/);
const domain = fc.array(label, { minLength: 1, maxLength: 3 }).map((ls) => ls.join('.'));
const KNOWN_OPTIONS = new Set<number>(Object.values(NdpOptionType));

const optionArb: fc.Arbitrary<NdpOption> = fc.oneof(
  rec({
    type: fc.constantFrom(1 as const, 2 as const),
    mac: fc.uint8Array({ minLength: 6, maxLength: 6 }),
  }),
  rec({
    type: fc.constant(3 as const),
    prefixLen: fc.integer({ min: 0, max: 128 }),
    onLink: fc.boolean(),
    autonomous: fc.boolean(),
    validLifetime: u32,
    preferredLifetime: u32,
    prefix: ipv6Addr,
  }),
  rec({
    type: fc.constant(4 as const),
    packet: fc
      .integer({ min: 0, max: 8 })
      .chain((n) => fc.uint8Array({ minLength: 8 * n, maxLength: 8 * n })),
  }),
  rec({ type: fc.constant(5 as const), mtu: u32 }),
  rec({
    type: fc.constant(25 as const),
    lifetime: u32,
    addresses: fc.array(ipv6Addr, { minLength: 1, maxLength: 3 }),
  }),
  rec({
    type: fc.constant(31 as const),
    lifetime: u32,
    domains: fc.array(domain, { minLength: 1, maxLength: 3 }),
  }),
  rec({
    type: fc.integer({ min: 0, max: 255 }).filter((t) => !KNOWN_OPTIONS.has(t)),
    data: fc
      .integer({ min: 1, max: 4 })
      .chain((n) => fc.uint8Array({ minLength: 8 * n - 2, maxLength: 8 * n - 2 })),
  }),
);
const options = fc.array(optionArb, { maxLength: 4 });

/** Valid messages with a source and destination that satisfy the RFC 4861 validity checks. */
const messageArb: fc.Arbitrary<{ r: Icmpv6Repr; src: Ipv6Addr; dst: Ipv6Addr }> = fc
  .tuple(
    fc.oneof(
      rec({
        type: fc.constantFrom(128 as const, 129 as const),
        ident: u16,
        seqNo: u16,
        data: bytes,
      }),
      rec({ type: fc.constantFrom(1 as const, 3 as const), code: fc.nat(255), invoking: bytes }),
      rec({ type: fc.constant(2 as const), mtu: u32, invoking: bytes }),
      rec({ type: fc.constant(4 as const), code: fc.nat(255), pointer: u32, invoking: bytes }),
      rec({ type: fc.constant(133 as const), options }),
      rec({
        type: fc.constant(134 as const),
        curHopLimit: fc.nat(255),
        managed: fc.boolean(),
        other: fc.boolean(),
        preference: fc.constantFrom(0, 1, 3),
        routerLifetime: u16,
        reachableTime: u32,
        retransTimer: u32,
        options,
      }),
      rec({ type: fc.constant(135 as const), target: unicast, options }),
      rec({
        type: fc.constant(136 as const),
        router: fc.boolean(),
        solicited: fc.boolean(),
        override: fc.boolean(),
        target: unicast,
        options,
      }),
      rec({
        type: fc.constant(137 as const),
        target: linkLocal,
        destination: unicast,
        options,
      }),
    ) as fc.Arbitrary<Icmpv6Repr>,
    linkLocal,
    unicast,
  )
  .map(([r, src, dst]) => ({ r, src, dst }));

test('random bytes never throw through checked and parse', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 120 }),
      fc.oneof(ipv6Addr, linkLocal, fc.constant(UNSPECIFIED)),
      fc.oneof(ipv6Addr, fc.constant(ALL_NODES)),
      (b, src, dst) => {
        const v = Icmpv6View.checked(b);
        if (isWireError(v)) return;
        void [v.type, v.code, v.checksum, v.ident, v.seqNo, v.word1, v.body()];
        parseIcmpv6(v, src, dst);
      },
    ),
    { numRuns: 2000 },
  );
});

test('random NDP bodies behind a valid checksum never throw', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 133, max: 137 }),
      fc.uint8Array({ minLength: 4, maxLength: 120 }),
      (type, rest) => {
        const b = rawMessage([type, 0, 0, 0], [...rest], LL_B, V6_A);
        const r = parsed(b, LL_B, V6_A);
        assert.ok(typeof r === 'object' || ['malformed', 'truncated', 'unsupported'].includes(r));
      },
    ),
    { numRuns: 2000 },
  );
});

test('emit then parse gives the repr back, and every byte is written', () => {
  fc.assert(
    fc.property(messageArb, ({ r, src, dst }) => {
      const b = emitted(r, src, dst);
      assert.deepEqual(b, emitted(r, src, dst, 0));
      assert.deepEqual(parsed(b, src, dst), r);
    }),
    { numRuns: 1000 },
  );
});

// --- tshark. ---

test('tshark decodes echo, errors and every NDP message and option without complaint', async () => {
  // An invoking packet: a whole IPv6 + UDP datagram with correct checksums.
  const udpPayload = new TextEncoder().encode('bindery');
  const udp = { srcPort: 40000, dstPort: 9, payloadLen: udpPayload.length };
  const invoking = frame6(V6_A, parseIpv6('2001:db8:99::5')!, 17, udpBufferLen(udp), (l4) => {
    l4.set(udpPayload, 8);
    emitUdp(udp, l4, V6_A, parseIpv6('2001:db8:99::5')!);
  }).subarray(14);
  const messages: Array<[Icmpv6Repr, Ipv6Addr, Ipv6Addr]> = [
    [{ type: 128, ident: 0x4242, seqNo: 1, data: Uint8Array.of(1, 2, 3, 4) }, V6_A, V6_B],
    [{ type: 129, ident: 0x4242, seqNo: 1, data: Uint8Array.of(1, 2, 3, 4) }, V6_B, V6_A],
    [{ type: 1, code: 4, invoking }, V6_B, V6_A],
    [{ type: 2, mtu: 1280, invoking }, V6_B, V6_A],
    [{ type: 3, code: 0, invoking }, V6_B, V6_A],
    [{ type: 4, code: 1, pointer: 6, invoking }, V6_B, V6_A],
    [
      {
        type: 133,
        options: [
          { type: 1, mac: MAC_A },
          { type: 253, data: Uint8Array.of(0x42, 0, 0, 0, 0, 0) },
        ],
      },
      LL_A,
      ALL_ROUTERS,
    ],
    [RA, LL_B, ALL_NODES],
    [{ type: 135, target: V6_B, options: [{ type: 1, mac: MAC_A }] }, V6_A, SN_B],
    [
      {
        type: 136,
        router: true,
        solicited: true,
        override: true,
        target: V6_B,
        options: [{ type: 2, mac: MAC_B }],
      },
      V6_B,
      V6_A,
    ],
    [
      {
        type: 137,
        target: parseIpv6('fe80::c')!,
        destination: parseIpv6('2001:db8:99::5')!,
        options: [
          { type: 2, mac: parseMac('02:00:00:00:02:0c')! },
          { type: 4, packet: invoking.subarray(0, 48) },
        ],
      },
      LL_B,
      V6_A,
    ],
  ];
  const decoded = await tsharkDecode(messages.map(([r, s, d]) => icmpFrame(r, s, d)));
  assert.deepEqual(tsharkProblems(decoded), []);
  const plain = 'eth:ethertype:ipv6:icmpv6';
  const error = 'eth:ethertype:ipv6:icmpv6:ipv6:udp:data';
  assert.deepEqual(
    decoded.map((d) => d.protocols),
    [
      plain + ':data',
      plain + ':data',
      error,
      error,
      error,
      error,
      plain,
      plain,
      plain,
      plain,
      plain + ':ipv6:udp',
    ],
  );
});
