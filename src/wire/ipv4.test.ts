// Tests of the IPv4 codec: captured packets (options, fragments, padding), malformed headers, properties, tshark.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  Ipv4View,
  Ipv4Field,
  IpProtocol,
  IPV4_HEADER_LEN,
  parseIpv4,
  emitIpv4,
  ipv4HeaderLen,
  type Ipv4Repr,
} from './ipv4.js';
import { EtherType, ETHERNET_HEADER_LEN } from './ethernet.js';
import { emitIcmpv4, icmpv4BufferLen, type Icmpv4Repr } from './icmpv4.js';
import { isWireError, wireError, getU16, putU16, formatIpv4, parseIpv4 as ip4 } from './common.js';
import { checksum, updateChecksum16 } from './checksum.js';
import { tsharkDecode, tsharkProblems } from '../../test/lab/tshark.js';
import { fixturePayloads, fromHex, ipv4Frame, V4_A, V4_B } from '../../test/lab/frames.js';

function parse(b: Uint8Array): { view: Ipv4View; repr: Ipv4Repr } {
  const view = Ipv4View.checked(b);
  assert.ok(!isWireError(view), 'checked');
  const repr = parseIpv4(view);
  assert.ok(!isWireError(repr), 'parse');
  return { view, repr };
}

/** Emits the header of `repr` into a 0xa5-filled buffer of exactly its header length. */
function emitHeader(repr: Ipv4Repr): Uint8Array {
  const b = new Uint8Array(ipv4HeaderLen(repr)).fill(0xa5);
  emitIpv4(repr, b);
  return b;
}

/** 20-byte header, 192.0.2.1 -> 192.0.2.2, UDP, total length 28, DF, checksum 0xb6d1 filled below. */
const UDP_HDR_HEX = '4500 001c 1234 4000 40 11 0000 c0000201 c0000202';
function goodHeader(): Uint8Array {
  const b = new Uint8Array(28);
  b.set(fromHex(UDP_HDR_HEX));
  putU16(b, Ipv4Field.CHECKSUM, checksum(b.subarray(0, 20)));
  b.set([0x30, 0x39, 0x00, 0x07, 0x00, 0x08, 0x00, 0x00], 20);
  return b;
}

const FIXTURES = [
  'part1-arp-icmp',
  'part1-ipv4-options',
  'part1-ipv4-frag',
  'part1-icmp4-errors',
  'part1-vlan',
];

test('fixtures: every captured IPv4 header (options included) parses and re-emits byte for byte', () => {
  // Unlike an emitter without options, emitIpv4 writes the raw option bytes back, so the headers
  // with Record Route / Timestamp options are compared too.
  let n = 0;
  for (const name of FIXTURES) {
    for (const pkt of fixturePayloads(name, EtherType.Ipv4)) {
      const { view, repr } = parse(pkt);
      assert.deepEqual(emitHeader(repr), pkt.subarray(0, view.headerLen), name);
      assert.equal(view.payload().length, repr.payloadLen);
      assert.equal(view.headerLen, IPV4_HEADER_LEN + repr.options!.length);
      assert.equal(view.totalLen, pkt.length, 'no padding on veth');
      n++;
    }
  }
  assert.equal(n, 4 + 4 + 6 + 8 + 4);
});

test('fixture part1-arp-icmp: echo request header fields', () => {
  const { view, repr } = parse(fixturePayloads('part1-arp-icmp', EtherType.Ipv4)[0]!);
  assert.equal(formatIpv4(repr.src), '192.0.2.1');
  assert.equal(formatIpv4(repr.dst), '192.0.2.2');
  assert.equal(repr.protocol, IpProtocol.Icmp);
  assert.equal(repr.ttl, 64);
  assert.equal(repr.tos, 0);
  assert.equal(repr.payloadLen, 64);
  assert.equal(repr.dontFragment, true);
  assert.equal(repr.fragment, undefined);
  assert.deepEqual(repr.options, new Uint8Array(0));
  assert.equal(view.version, 4);
  assert.equal(view.headerLen, 20);
  assert.equal(view.isFragment, false);
  assert.ok(view.checksumOk());
});

test('fixture part1-ipv4-frag: ping -s 3000 gives three fragments each way', () => {
  const pkts = fixturePayloads('part1-ipv4-frag', EtherType.Ipv4).map((p) => parse(p));
  for (const half of [pkts.slice(0, 3), pkts.slice(3)]) {
    const id = half[0]!.repr.ident;
    assert.deepEqual(
      half.map(({ repr }) => repr.fragment),
      [
        { id, offset: 0, moreFragments: true },
        { id, offset: 1480, moreFragments: true },
        { id, offset: 2960, moreFragments: false },
      ],
    );
    assert.deepEqual(
      half.map(({ repr }) => repr.payloadLen),
      [1480, 1480, 48],
    );
    assert.ok(half.every(({ view, repr }) => view.isFragment && !repr.dontFragment));
    assert.equal(half[2]!.view.fragOffset, 2960);
  }
});

test('fixture part1-ipv4-options: Record Route (7) and Timestamp (68) options are exposed raw', () => {
  const pkts = fixturePayloads('part1-ipv4-options', EtherType.Ipv4).map((p) => parse(p));
  assert.equal(pkts.length, 4);
  for (const [i, { view, repr }] of pkts.entries()) {
    assert.equal(view.headerLen, 60);
    assert.equal(repr.options!.length, 40);
    assert.deepEqual(view.options(), repr.options);
    // ping's request puts one NOP (1) before Record Route; the kernel's reply does not.
    const first = repr.options![0] === 1 ? 1 : 0;
    assert.equal(repr.options![first], i < 2 ? 7 : 68);
    assert.equal(repr.payloadLen, 64);
    assert.equal(ipv4HeaderLen(repr), 60);
  }
  // The reply's Record Route holds the route both ways (RFC 791 §3.1): type, length, pointer.
  const rr = pkts[1]!.repr.options!;
  assert.deepEqual([rr[0], rr[1], rr[2]], [7, 39, 16]);
  assert.equal(formatIpv4(rr.subarray(3, 7)), '192.0.2.1');
  assert.equal(formatIpv4(rr.subarray(7, 11)), '192.0.2.2');
});

test('fixture part1-icmp4-errors: DF on ping -M do, TTL 1 on ping -t 1', () => {
  const [bigDf, , ttl1] = fixturePayloads('part1-icmp4-errors', EtherType.Ipv4).map(
    (p) => parse(p).repr,
  );
  assert.equal(bigDf!.dontFragment, true);
  assert.equal(bigDf!.payloadLen, 1408);
  assert.equal(ttl1!.ttl, 1);
});

test('trailing Ethernet padding is ignored: payload is exactly totalLength - IHL*4', () => {
  const pkt = new Uint8Array(46).fill(0xee);
  pkt.set(goodHeader());
  const { view, repr } = parse(pkt);
  assert.equal(view.totalLen, 28);
  assert.equal(repr.payloadLen, 8);
  assert.deepEqual(view.payload(), goodHeader().subarray(20));
});

test('malformed: truncated, bad version, bad IHL, bad lengths, bad checksum', () => {
  const good = goodHeader();
  assert.ok(!isWireError(Ipv4View.checked(good)));
  const cases: Array<[string, Uint8Array, string]> = [
    ['empty', new Uint8Array(0), 'truncated'],
    ['19 bytes', good.subarray(0, 19), 'truncated'],
    ['version 6', withByte(good, 0, 0x65), 'malformed'],
    ['version 0', withByte(good, 0, 0x05), 'malformed'],
    ['IHL 4', withByte(good, 0, 0x44), 'malformed'],
    ['IHL 0', withByte(good, 0, 0x40), 'malformed'],
    ['total length 19 < IHL', withU16(good, 2, 19), 'malformed'],
    ['IHL 6 > total length 20', withU16(withByte(good, 0, 0x46), 2, 20), 'malformed'],
    ['total length 29 > buffer 28', withU16(good, 2, 29), 'truncated'],
    ['total length 0xffff', withU16(good, 2, 0xffff), 'truncated'],
    ['header cut inside the options', withByte(good, 0, 0x4f).subarray(0, 28), 'malformed'],
  ];
  for (const [what, b, kind] of cases) {
    assert.equal(Ipv4View.checked(b), wireError(kind as 'truncated'), what);
  }
  // A header that checks out structurally but fails its checksum.
  for (const at of [1, 8, 9, 13, 19]) {
    const bad = withByte(good, at, good[at]! ^ 0x10);
    const v = Ipv4View.checked(bad);
    assert.ok(!isWireError(v));
    assert.equal(parseIpv4(v), wireError('bad-checksum'), `byte ${at}`);
  }
});

test('a fragment reaching past 65535 bytes of datagram is malformed', () => {
  const mk = (offset8: number) => {
    const b = goodHeader();
    putU16(b, Ipv4Field.FLG_OFF, offset8);
    putU16(b, Ipv4Field.CHECKSUM, 0);
    putU16(b, Ipv4Field.CHECKSUM, checksum(b.subarray(0, 20)));
    const v = Ipv4View.checked(b);
    assert.ok(!isWireError(v));
    return parseIpv4(v);
  };
  // 8190 * 8 + 8 = 65528 ≤ 65535; 8191 * 8 + 8 = 65536 > 65535.
  assert.ok(!isWireError(mk(8190)));
  assert.equal(mk(8191), wireError('malformed'));
});

test('setters: TTL with an RFC 1624 update, and fillChecksum', () => {
  const b = goodHeader();
  const v = Ipv4View.checked(b);
  assert.ok(!isWireError(v));
  const oldWord = getU16(b, Ipv4Field.TTL);
  v.ttl = 63;
  v.checksum = updateChecksum16(v.checksum, oldWord, getU16(b, Ipv4Field.TTL));
  assert.ok(v.checksumOk());
  const c = v.checksum;
  v.checksum = 0;
  v.fillChecksum();
  assert.equal(v.checksum, c);
  assert.equal(v.dscp, 0);
  assert.equal(v.ecn, 0);
  assert.equal(v.reservedFlag, false);
});

test('emit pads options to a multiple of 4 with zeros (RFC 791 §3.1 Padding)', () => {
  const repr: Ipv4Repr = {
    src: ip4('192.0.2.1')!,
    dst: ip4('192.0.2.2')!,
    protocol: IpProtocol.Udp,
    payloadLen: 0,
    ttl: 64,
    tos: 0xb8,
    ident: 0xbeef,
    dontFragment: false,
    options: Uint8Array.of(0x94, 0x04, 0x00, 0x00, 0x01), // Router Alert + one NOP
  };
  const h = emitHeader(repr);
  assert.equal(h.length, 28);
  assert.deepEqual(h.subarray(20), Uint8Array.of(0x94, 4, 0, 0, 1, 0, 0, 0));
  assert.equal(h[0], 0x47);
  assert.equal(getU16(h, 2), 28);
  assert.equal(checksum(h), 0);
});

test('property: random bytes never throw through checked + parse', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 80 }), fc.boolean(), (b, plausible) => {
      // Half the runs get a plausible version/IHL, total length and checksum to reach parse.
      if (plausible && b.length >= 20) {
        b[0] = 0x40 | (5 + (b[0]! % 11));
        putU16(b, 2, Math.min(b.length, 20 + (b[3]! % 60)));
        const hl = (b[0]! & 15) * 4;
        if (b.length >= hl) {
          putU16(b, 10, 0);
          putU16(b, 10, checksum(b.subarray(0, hl)));
        }
      }
      const v = Ipv4View.checked(b);
      if (isWireError(v)) return;
      assert.ok(v.totalLen <= b.length && v.headerLen <= v.totalLen);
      const touched = [v.src, v.dst, v.options(), v.payload(), v.fragOffset, v.isFragment];
      assert.ok(touched.length > 0);
      const r = parseIpv4(v);
      if (isWireError(r)) return;
      // Whatever parsed re-emits to the same header, except the reserved flag (written 0).
      const out = emitHeader(r);
      const want = b.slice(0, v.headerLen);
      want[6]! &= 0x7f;
      if (v.reservedFlag) {
        putU16(want, 10, 0);
        putU16(want, 10, checksum(want));
      }
      assert.deepEqual(out, want);
    }),
    { numRuns: 3000 },
  );
});

const arbAddr = fc.uint8Array({ minLength: 4, maxLength: 4 });
const arbRepr: fc.Arbitrary<Ipv4Repr> = fc
  .record(
    {
      src: arbAddr,
      dst: arbAddr,
      protocol: fc.nat(255),
      payloadLen: fc.nat(200),
      ttl: fc.nat(255),
      tos: fc.nat(255),
      ident: fc.nat(0xffff),
      dontFragment: fc.boolean(),
      frag: fc.option(fc.record({ offset8: fc.nat(8000), moreFragments: fc.boolean() })),
      optWords: fc.nat(10),
      optSeed: fc.uint8Array({ minLength: 40, maxLength: 40 }),
    },
    { noNullPrototype: true },
  )
  .map(({ frag, optWords, optSeed, ...r }) => ({
    ...r,
    // A fragment needs offset > 0 or MF: otherwise it is a whole datagram.
    fragment:
      frag && (frag.offset8 > 0 || frag.moreFragments)
        ? { id: r.ident, offset: frag.offset8 * 8, moreFragments: frag.moreFragments }
        : undefined,
    options: optSeed.slice(0, optWords * 4),
  }));

test('property: emit into a 0xa5 buffer then parse gives the repr back', () => {
  fc.assert(
    fc.property(arbRepr, fc.uint8Array({ maxLength: 16 }), (repr, extra) => {
      const hl = ipv4HeaderLen(repr);
      const pkt = new Uint8Array(hl + repr.payloadLen + extra.length).fill(0xa5);
      emitIpv4(repr, pkt);
      assert.ok(
        pkt.subarray(hl).every((x) => x === 0xa5),
        'payload untouched',
      );
      const { view, repr: back } = parse(pkt);
      assert.deepEqual(back, repr);
      assert.equal(view.payload().length, repr.payloadLen);
    }),
    { numRuns: 1000 },
  );
});

// --- tshark ---

function icmp(repr: Icmpv4Repr): Uint8Array {
  const b = new Uint8Array(icmpv4BufferLen(repr)).fill(0xa5);
  emitIcmpv4(repr, b);
  return b;
}

const BASE: Omit<Ipv4Repr, 'payloadLen'> = {
  src: V4_A,
  dst: V4_B,
  protocol: IpProtocol.Icmp,
  ttl: 64,
  tos: 0,
  ident: 0x4242,
  dontFragment: true,
};

test('tshark: IPv4 + ICMP echo, with options, and as two fragments', async () => {
  const data = Uint8Array.from({ length: 100 }, (_, i) => i);
  const echo = icmp({ type: 8, ident: 0x1234, seqNo: 1, data });
  const plain = ipv4Frame({ ...BASE, payloadLen: echo.length }, echo);
  // Record Route with room for 2 addresses (RFC 791 §3.1: type 7, length 11, pointer 4) + NOP.
  const rr = Uint8Array.of(7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0, 1);
  const withOpts = ipv4Frame(
    { ...BASE, ident: 0x4243, payloadLen: echo.length, options: rr },
    echo,
  );
  // Two fragments: 64 bytes at offset 0 (MF), the remaining 44 at offset 64.
  const fragBase = { ...BASE, ident: 0x4244, dontFragment: false };
  const f1 = ipv4Frame(
    { ...fragBase, payloadLen: 64, fragment: { id: 0x4244, offset: 0, moreFragments: true } },
    echo.subarray(0, 64),
  );
  const f2 = ipv4Frame(
    { ...fragBase, payloadLen: 44, fragment: { id: 0x4244, offset: 64, moreFragments: false } },
    echo.subarray(64),
  );
  const decoded = await tsharkDecode([plain, withOpts, f1, f2]);
  assert.deepEqual(tsharkProblems(decoded), []);
  assert.deepEqual(
    decoded.map((d) => d.protocols),
    [
      'eth:ethertype:ip:icmp:data',
      'eth:ethertype:ip:icmp:data',
      'eth:ethertype:ip:data',
      'eth:ethertype:ip:icmp:data',
    ],
  );
  // And the codec reads its own fragments back.
  const r2 = parse(f2.subarray(ETHERNET_HEADER_LEN)).repr;
  assert.deepEqual(r2.fragment, { id: 0x4244, offset: 64, moreFragments: false });
});

function withByte(b: Uint8Array, at: number, v: number): Uint8Array {
  const c = b.slice();
  c[at] = v;
  return c;
}

function withU16(b: Uint8Array, at: number, v: number): Uint8Array {
  const c = b.slice();
  putU16(c, at, v);
  return c;
}
