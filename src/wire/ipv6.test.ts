// Tests of the IPv6 codec: captured packets (fragments, Hop-by-Hop, Destination Options, Routing), chain limits, properties, tshark.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  Ipv6View,
  Ipv6Field,
  IPV6_HEADER_LEN,
  IPV6_MAX_EXT_HEADERS,
  parseIpv6,
  walkIpv6,
  emitIpv6,
  emitIpv6FragmentHeader,
  ipv6HeaderLen,
  ipv6Upper,
  isLinkLocal6,
  solicitedNode,
  multicastMac6,
  type Ipv6Parsed,
  type Ipv6Repr,
} from './ipv6.js';
import { IpProtocol } from './ipv4.js';
import { EthernetView, EtherType, emitEthernet, ETHERNET_HEADER_LEN } from './ethernet.js';
import { isWireError, wireError, putU16, formatIpv6, formatMac, parseMac } from './common.js';
import { sum16, finish, pseudoHeaderSum6 } from './checksum.js';
import { tsharkDecode, tsharkProblems } from '../../test/lab/tshark.js';
import { fixtureFrames, V6_A, V6_B } from '../../test/lab/frames.js';

/** The IPv6 packets (Ethernet payloads) of a capture. */
function ipv6Packets(name: string): Uint8Array[] {
  return fixtureFrames(name).map((frame) => {
    const eth = EthernetView.checked(frame);
    assert.ok(!isWireError(eth) && eth.ethertype === EtherType.Ipv6);
    return eth.payload();
  });
}

function parse(b: Uint8Array): { view: Ipv6View; repr: Ipv6Parsed } {
  const view = Ipv6View.checked(b);
  assert.ok(!isWireError(view), 'checked');
  const repr = parseIpv6(view);
  assert.ok(!isWireError(repr), `parse: ${JSON.stringify(repr)}`);
  return { view, repr };
}

/** The fixed header of `repr` emitted into a 0xa5-filled buffer of exactly 40 bytes. */
function emitHeader(repr: Ipv6Repr): Uint8Array {
  const b = new Uint8Array(ipv6HeaderLen(repr)).fill(0xa5);
  emitIpv6(repr, b);
  return b;
}

/** One extension header to build: its type and size in bytes (a valid size for the type). */
interface ExtSpec {
  readonly type: number;
  readonly size: number;
  readonly fragment?: { id: number; offset: number; moreFragments: boolean };
}

/**
 * Builds an extension header of `spec` with next header `next`: the length byte in the unit of
 * its type, PadN options for Hop-by-Hop/Destination Options, an SPI and sequence for AH,
 * routing type 0 with segments left 0 for Routing, and the fields of a Fragment header.
 */
function extHeader(spec: ExtSpec, next: number): Uint8Array {
  const h = new Uint8Array(spec.size);
  switch (spec.type) {
    case IpProtocol.Ipv6Frag:
      emitIpv6FragmentHeader(next, spec.fragment ?? { id: 1, offset: 0, moreFragments: false }, h);
      return h;
    case IpProtocol.Ah:
      h[1] = spec.size / 4 - 2;
      h.set([0, 0, 0, 0, 0x10, 0, 0, 0, 1], 3); // reserved, SPI 0x1000, sequence 1
      break;
    case IpProtocol.Ipv6Route:
      h[1] = spec.size / 8 - 1;
      h[2] = 0; // routing type 0 (RFC 5095 deprecates it; segments left 0 keeps it harmless)
      break;
    default:
      h[1] = spec.size / 8 - 1;
      h[2] = 1; // PadN over the rest of the header (RFC 8200 §4.2)
      h[3] = spec.size - 4;
  }
  h[0] = next;
  return h;
}

/** IPv6 header + extension headers of `exts` + `upper` bytes, with `upperProto` last. */
function packet(
  exts: readonly ExtSpec[],
  upperProto: number,
  upper: Uint8Array,
  fix?: Partial<Ipv6Repr>,
): Uint8Array {
  const extLen = exts.reduce((n, e) => n + e.size, 0);
  const pkt = new Uint8Array(IPV6_HEADER_LEN + extLen + upper.length).fill(0xa5);
  emitIpv6(
    {
      src: V6_A,
      dst: V6_B,
      nextHeader: upperProto,
      extHeaders: exts.map((e) => e.type),
      payloadLen: extLen + upper.length,
      hopLimit: 64,
      trafficClass: 0,
      flowLabel: 0,
      ...fix,
    },
    pkt,
  );
  let off = IPV6_HEADER_LEN;
  exts.forEach((e, i) => {
    pkt.set(extHeader(e, exts[i + 1]?.type ?? upperProto), off);
    off += e.size;
  });
  pkt.set(upper, off);
  return pkt;
}

test('fixtures: every captured IPv6 header parses and its fixed header re-emits byte for byte', () => {
  let n = 0;
  for (const name of ['part1-ipv6-ping', 'part1-ipv6-frag', 'part1-ipv6-ext']) {
    for (const pkt of ipv6Packets(name)) {
      const { view, repr } = parse(pkt);
      assert.deepEqual(emitHeader(repr), pkt.subarray(0, IPV6_HEADER_LEN), name);
      assert.equal(repr.upperOffset + repr.upperLen, IPV6_HEADER_LEN + repr.payloadLen);
      assert.equal(view.payload().length, repr.payloadLen);
      assert.equal(view.version, 6);
      n++;
    }
  }
  assert.ok(n >= 6 + 6 + 3, `${n} packets`);
});

test('fixture part1-ipv6-ping: NS to the solicited-node group, then echo', () => {
  const pkts = ipv6Packets('part1-ipv6-ping').map((p) => parse(p));
  const ns = pkts[0]!;
  assert.equal(formatIpv6(ns.repr.src), '2001:db8:1::1');
  assert.equal(formatIpv6(ns.repr.dst), 'ff02::1:ff00:2');
  assert.deepEqual(ns.repr.dst, solicitedNode(V6_B));
  assert.equal(formatMac(multicastMac6(ns.repr.dst)), '33:33:ff:00:00:02');
  assert.equal(ns.repr.hopLimit, 255);
  for (const { repr } of pkts) {
    assert.equal(repr.nextHeader, IpProtocol.Icmpv6);
    assert.deepEqual(repr.extHeaders, []);
    assert.equal(repr.upperOffset, 40);
    assert.equal(repr.upperLen, repr.payloadLen);
    assert.equal(repr.fragment, undefined);
  }
  assert.deepEqual(
    pkts.map(({ repr }) => repr.upperLen),
    [32, 32, 64, 64, 64, 64],
  );
});

test('fixture part1-ipv6-frag: Fragment headers at offsets 0, 1448, 2896', () => {
  const pkts = ipv6Packets('part1-ipv6-frag').map((p) => parse(p));
  for (const half of [pkts.slice(0, 3), pkts.slice(3)]) {
    const id = half[0]!.repr.fragment!.id;
    assert.deepEqual(
      half.map(({ repr }) => repr.fragment),
      [
        { id, offset: 0, moreFragments: true },
        { id, offset: 1448, moreFragments: true },
        { id, offset: 2896, moreFragments: false },
      ],
    );
    for (const { view, repr } of half) {
      assert.deepEqual(repr.extHeaders, [IpProtocol.Ipv6Frag]);
      assert.equal(repr.nextHeader, IpProtocol.Icmpv6);
      assert.equal(repr.upperOffset, 48);
      assert.equal(view.nextHeader, IpProtocol.Ipv6Frag);
    }
    assert.deepEqual(
      half.map(({ repr }) => repr.upperLen),
      [1448, 1448, 112],
    );
  }
  assert.notEqual(pkts[0]!.repr.fragment!.id, pkts[3]!.repr.fragment!.id);
});

test('fixture part1-ipv6-ext: UDP under HbH + DstOpts and HbH + Routing + DstOpts; MLD under Hop-by-Hop', () => {
  const pkts = ipv6Packets('part1-ipv6-ext').map((p) => parse(p));
  // The script sends the two UDP datagrams first; MLD reports (one or two) close the capture.
  const [dst, srh, ...mlds] = pkts;
  assert.ok(mlds.length >= 1);
  for (const m of mlds) {
    assert.deepEqual(m.repr.extHeaders, [IpProtocol.HopByHop]);
    assert.equal(m.repr.nextHeader, IpProtocol.Icmpv6);
    assert.equal(m.repr.upperOffset, 48);
    assert.ok(isLinkLocal6(m.repr.src));
    assert.equal(m.repr.hopLimit, 1);
    // The upper layer is an MLDv2 report (type 143).
    assert.equal(ipv6Upper(m.view, m.repr)[0], 143);
  }
  assert.deepEqual(dst!.repr.extHeaders, [IpProtocol.HopByHop, IpProtocol.Ipv6Opts]);
  assert.equal(dst!.repr.nextHeader, IpProtocol.Udp);
  assert.equal(dst!.repr.upperOffset, 40 + 8 + 16);
  assert.equal(dst!.repr.upperLen, 8 + 15);
  assert.equal(
    Buffer.from(ipv6Upper(dst!.view, dst!.repr).subarray(8)).toString(),
    'bindery hbh+dst',
  );
  assert.deepEqual(srh!.repr.extHeaders, [
    IpProtocol.HopByHop,
    IpProtocol.Ipv6Route,
    IpProtocol.Ipv6Opts,
  ]);
  assert.equal(srh!.repr.nextHeader, IpProtocol.Udp);
  assert.equal(srh!.repr.upperOffset, 40 + 8 + 24 + 16);
  assert.equal(srh!.repr.upperLen, 8 + 11);
  // walkIpv6 gives the same answer in its own shape.
  const w = walkIpv6(srh!.view);
  assert.ok(!isWireError(w));
  assert.deepEqual(
    { protocol: w.protocol, offset: w.offset, length: w.length },
    { protocol: 17, offset: 88, length: 19 },
  );
});

test('hand-made chains: AH length in 4-octet units, No Next Header, ESP, trailing padding', () => {
  const upper = new Uint8Array(12).fill(7);
  // HbH (8) -> AH (24 bytes: length field 4) -> DstOpts (16) -> ICMPv6.
  const ah = packet(
    [
      { type: 0, size: 8 },
      { type: 51, size: 24 },
      { type: 60, size: 16 },
    ],
    58,
    upper,
  );
  assert.equal(ah[IPV6_HEADER_LEN + 8 + 1], 4);
  const a = parse(ah).repr;
  assert.deepEqual(a.extHeaders, [0, 51, 60]);
  assert.equal(a.upperOffset, 40 + 8 + 24 + 16);
  assert.equal(a.upperLen, 12);
  // No Next Header ends the chain (RFC 8200 §4.7); bytes after it are the "upper layer".
  const nonext = parse(packet([{ type: 60, size: 8 }], 59, upper)).repr;
  assert.equal(nonext.nextHeader, IpProtocol.Ipv6NoNext);
  assert.equal(nonext.upperLen, 12);
  // ESP is an upper layer as far as the walk goes.
  assert.equal(parse(packet([], IpProtocol.Esp, upper)).repr.nextHeader, 50);
  // Ethernet padding after Payload Length is ignored.
  const padded = new Uint8Array(IPV6_HEADER_LEN + 12 + 30).fill(0xee);
  padded.set(packet([], 17, upper));
  const p = parse(padded);
  assert.equal(p.view.payload().length, 12);
  assert.equal(ipv6Upper(p.view, p.repr).length, 12);
});

test('after a non-first fragment the walk stops: what follows is data, not headers', () => {
  // A non-first fragment whose data happens to start like a Destination Options header.
  const data = Uint8Array.of(60, 0, 1, 4, 0, 0, 0, 0, 9, 9, 9, 9, 9, 9, 9, 9);
  const frag = { id: 0xabcdef01, offset: 1448, moreFragments: false };
  const { repr } = parse(packet([{ type: 44, size: 8, fragment: frag }], 60, data));
  assert.deepEqual(repr.extHeaders, [44]);
  assert.equal(repr.nextHeader, 60);
  assert.equal(repr.upperOffset, 48);
  assert.equal(repr.upperLen, 16);
  assert.deepEqual(repr.fragment, frag);
  // The first fragment is walked on through its Destination Options.
  const first = { id: 5, offset: 0, moreFragments: true };
  const r0 = parse(
    packet(
      [
        { type: 44, size: 8, fragment: first },
        { type: 60, size: 8 },
      ],
      17,
      data,
    ),
  );
  assert.deepEqual(r0.repr.extHeaders, [44, 60]);
  assert.equal(r0.repr.nextHeader, 17);
});

test('malformed: truncated, bad version, payload length past the buffer, bad chains', () => {
  const good = packet([{ type: 0, size: 8 }], 17, new Uint8Array(8));
  assert.ok(!isWireError(Ipv6View.checked(good)));
  assert.equal(Ipv6View.checked(new Uint8Array(0)), wireError('truncated'));
  assert.equal(Ipv6View.checked(good.subarray(0, 39)), wireError('truncated'));
  assert.equal(Ipv6View.checked(good.subarray(0, good.length - 1)), wireError('truncated'));
  const v4 = good.slice();
  v4[0] = 0x45;
  assert.equal(Ipv6View.checked(v4), wireError('malformed'));
  const longer = good.slice();
  putU16(longer, Ipv6Field.PAYLOAD_LEN, 0xffff);
  assert.equal(Ipv6View.checked(longer), wireError('truncated'));

  const walkErr = (pkt: Uint8Array) => {
    const v = Ipv6View.checked(pkt);
    assert.ok(!isWireError(v));
    return parseIpv6(v);
  };
  // An extension header running past Payload Length.
  const cut = packet([{ type: 60, size: 8 }], 17, new Uint8Array(0));
  cut[IPV6_HEADER_LEN + 1] = 1; // claims 16 bytes, 8 present
  assert.equal(walkErr(cut), wireError('truncated'));
  // Next Header says Hop-by-Hop but the payload is empty.
  assert.equal(walkErr(packet([], 0, new Uint8Array(0))), wireError('truncated'));
  // Too short for an AH whose length says 24 bytes.
  const ahCut = packet([{ type: 51, size: 12 }], 17, new Uint8Array(4));
  ahCut[IPV6_HEADER_LEN + 1] = 4;
  assert.equal(walkErr(ahCut), wireError('truncated'));
  // Hop-by-Hop after another header (RFC 8200 §4.3).
  const hbhLate = packet(
    [
      { type: 60, size: 8 },
      { type: 0, size: 8 },
    ],
    17,
    new Uint8Array(8),
  );
  assert.equal(walkErr(hbhLate), wireError('malformed'));
  // Two Fragment headers.
  const twoFrags = packet(
    [
      { type: 44, size: 8 },
      { type: 44, size: 8 },
    ],
    17,
    new Uint8Array(8),
  );
  assert.equal(walkErr(twoFrags), wireError('malformed'));
  // A chain of IPV6_MAX_EXT_HEADERS is walked, one more is refused.
  const opts = (n: number) => Array.from({ length: n }, () => ({ type: 60, size: 8 }));
  const max = packet(opts(IPV6_MAX_EXT_HEADERS), 17, new Uint8Array(8));
  assert.equal(parse(max).repr.extHeaders.length, IPV6_MAX_EXT_HEADERS);
  const over = packet(opts(IPV6_MAX_EXT_HEADERS + 1), 17, new Uint8Array(8));
  assert.equal(walkErr(over), wireError('unsupported'));
});

test('emitIpv6FragmentHeader writes the RFC 8200 §4.5 layout', () => {
  const b = new Uint8Array(8).fill(0xa5);
  emitIpv6FragmentHeader(58, { id: 0x01020304, offset: 1448, moreFragments: true }, b);
  assert.deepEqual(b, Uint8Array.of(58, 0, 0x05, 0xa9, 1, 2, 3, 4));
});

test('property: random bytes never throw through checked + parse', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 160 }), fc.boolean(), (b, plausible) => {
      // Half the runs get version 6, a Payload Length that fits and an extension header first.
      if (plausible && b.length >= IPV6_HEADER_LEN) {
        b[0] = 0x60 | (b[0]! & 15);
        putU16(b, Ipv6Field.PAYLOAD_LEN, b.length - IPV6_HEADER_LEN);
        b[Ipv6Field.NEXT_HEADER] = [0, 43, 44, 51, 60, 59, 17][b[6]! % 7]!;
        // Make the following next-header bytes extension headers too, often.
        for (let i = IPV6_HEADER_LEN; i < b.length; i += 8) if (b[i]! & 1) b[i] = 60;
      }
      const v = Ipv6View.checked(b);
      if (isWireError(v)) return;
      const touched = [v.src, v.dst, v.flowLabel, v.trafficClass, v.payload()];
      assert.ok(touched.length > 0);
      const r = parseIpv6(v);
      if (isWireError(r)) return;
      assert.ok(r.upperOffset >= IPV6_HEADER_LEN);
      assert.ok(r.upperOffset + r.upperLen <= b.length);
      assert.ok(r.extHeaders.length <= IPV6_MAX_EXT_HEADERS);
      assert.deepEqual(emitHeader(r), b.subarray(0, IPV6_HEADER_LEN));
    }),
    { numRuns: 3000 },
  );
});

const arbAddr = fc.uint8Array({ minLength: 16, maxLength: 16 });
const arbUpper = fc.constantFrom(6, 17, 58, 59, 50, 132);
/** A valid chain: optional HbH first, then up to 7 of Routing/DstOpts/AH, at most one Fragment. */
const arbChain: fc.Arbitrary<ExtSpec[]> = fc
  .tuple(
    fc.boolean(),
    fc.array(
      fc.oneof(
        fc.record({ type: fc.constantFrom(43, 60), size: fc.integer({ min: 1, max: 4 }) }),
        fc.record({ type: fc.constant(51), size: fc.integer({ min: 3, max: 10 }) }),
      ),
      { maxLength: 6 },
    ),
    fc.option(fc.nat(6)),
    fc.nat(0xffffffff),
  )
  .map(([hbh, rest, fragAt, id]) => {
    const unit = (e: { type: number; size: number }) => (e.type === 51 ? 4 : 8);
    const chain: ExtSpec[] = rest.map((e) => ({ type: e.type, size: e.size * unit(e) }));
    if (fragAt !== null) {
      const fragment = { id, offset: 0, moreFragments: true };
      chain.splice(Math.min(fragAt, chain.length), 0, { type: 44, size: 8, fragment });
    }
    if (hbh) chain.unshift({ type: 0, size: 8 });
    return chain;
  });

test('property: random chains are walked to the right upper layer', () => {
  fc.assert(
    fc.property(arbChain, arbUpper, fc.uint8Array({ maxLength: 40 }), (chain, proto, upper) => {
      const pkt = packet(chain, proto, upper);
      const { view, repr } = parse(pkt);
      assert.deepEqual(
        repr.extHeaders,
        chain.map((e) => e.type),
      );
      assert.equal(repr.nextHeader, proto);
      assert.equal(repr.upperOffset, pkt.length - upper.length);
      assert.deepEqual(ipv6Upper(view, repr), upper);
      assert.deepEqual(repr.fragment, chain.find((e) => e.type === 44)?.fragment);
    }),
    { numRuns: 1000 },
  );
});

const arbRepr: fc.Arbitrary<Ipv6Repr> = fc.record(
  {
    src: arbAddr,
    dst: arbAddr,
    nextHeader: arbUpper,
    payloadLen: fc.nat(100),
    hopLimit: fc.nat(255),
    trafficClass: fc.nat(255),
    flowLabel: fc.nat(0xfffff),
  },
  { noNullPrototype: true },
);

test('property: emit into a 0xa5 buffer then parse gives the repr back', () => {
  fc.assert(
    fc.property(arbRepr, (repr) => {
      const pkt = new Uint8Array(IPV6_HEADER_LEN + repr.payloadLen).fill(0xa5);
      emitIpv6(repr, pkt);
      assert.ok(
        pkt.subarray(IPV6_HEADER_LEN).every((x) => x === 0xa5),
        'payload untouched',
      );
      const { repr: back } = parse(pkt);
      assert.deepEqual(back, {
        ...repr,
        extHeaders: [],
        upperOffset: IPV6_HEADER_LEN,
        upperLen: repr.payloadLen,
        fragment: undefined,
      });
    }),
    { numRuns: 1000 },
  );
});

// --- tshark ---

/** An ICMPv6 echo request (RFC 4443 §4.1) with its checksum over the pseudo-header (RFC 8200 §8.1). */
function icmpv6Echo(data: Uint8Array): Uint8Array {
  const m = new Uint8Array(8 + data.length);
  m.set([128, 0, 0, 0, 0x12, 0x34, 0, 1]);
  m.set(data, 8);
  putU16(m, 2, finish(sum16(m, pseudoHeaderSum6(V6_A, V6_B, 58, m.length))));
  return m;
}

function ethFrame(ipPacket: Uint8Array): Uint8Array {
  const f = new Uint8Array(ETHERNET_HEADER_LEN + ipPacket.length);
  emitEthernet(
    { dst: parseMac('02:00:00:00:01:02')!, src: parseMac('02:00:00:00:01:01')!, ethertype: 0x86dd },
    f,
  );
  f.set(ipPacket, ETHERNET_HEADER_LEN);
  return f;
}

test('tshark: IPv6 + ICMPv6, with Hop-by-Hop + Destination Options + AH, and as two fragments', async () => {
  const echo = icmpv6Echo(Uint8Array.from({ length: 100 }, (_, i) => i));
  const plain = packet([], 58, echo);
  const chained = packet(
    [
      { type: 0, size: 8 },
      { type: 60, size: 16 },
      { type: 51, size: 24 },
    ],
    58,
    echo,
  );
  const id = 0x5eed;
  const f1 = packet(
    [{ type: 44, size: 8, fragment: { id, offset: 0, moreFragments: true } }],
    58,
    echo.subarray(0, 64),
  );
  const f2 = packet(
    [{ type: 44, size: 8, fragment: { id, offset: 64, moreFragments: false } }],
    58,
    echo.subarray(64),
  );
  const frames = [plain, chained, f1, f2].map(ethFrame);
  for (const f of frames) parse(f.subarray(ETHERNET_HEADER_LEN));
  const decoded = await tsharkDecode(frames);
  assert.deepEqual(tsharkProblems(decoded), []);
  assert.deepEqual(
    decoded.map((d) => d.protocols),
    [
      'eth:ethertype:ipv6:icmpv6:data',
      'eth:ethertype:ipv6:ipv6.hopopts:ipv6.dstopts:ah:icmpv6:data',
      'eth:ethertype:ipv6:ipv6.fraghdr:data',
      'eth:ethertype:ipv6:ipv6.fraghdr:icmpv6:data',
    ],
  );
});
