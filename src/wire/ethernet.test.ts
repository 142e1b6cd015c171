// Tests of the Ethernet codec: captured frames (plain and VLAN-tagged), malformed input, properties, tshark.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import {
  EthernetView,
  EtherType,
  EthernetField,
  parseEthernet,
  emitEthernet,
  ethernetHeaderLen,
  isBroadcastMac,
  isMulticastMac,
  type EthernetRepr,
} from './ethernet.js';
import { emitArp, ARP_LEN, ArpOp } from './arp.js';
import { isWireError, wireError, parseMac, parseIpv4, formatMac } from './common.js';
import { readPcap } from './pcap.js';
import { tsharkDecode, tsharkProblems } from '../../test/lab/tshark.js';
import { fromHex } from '../../test/lab/frames.js';

/** The frames of test/fixtures/wire/`name` (recreated by scripts/capture-fixtures/wire-part1.sh). */
function fixture(name: string): Uint8Array[] {
  const file = readFileSync(new URL(`../../test/fixtures/wire/${name}`, import.meta.url));
  const pcap = readPcap(new Uint8Array(file.buffer, file.byteOffset, file.length));
  assert.ok(pcap, name);
  assert.equal(pcap.linktype, 1);
  return pcap.records.map((r) => r.frame);
}

const ALL = [
  'part1-arp-icmp.pcap',
  'part1-ipv4-options.pcap',
  'part1-ipv4-frag.pcap',
  'part1-icmp4-errors.pcap',
  'part1-vlan.pcap',
  'part1-ipv6-ping.pcap',
  'part1-ipv6-frag.pcap',
  'part1-ipv6-ext.pcap',
];

function parse(frame: Uint8Array): { view: EthernetView; repr: EthernetRepr } {
  const view = EthernetView.checked(frame);
  assert.ok(!isWireError(view), 'checked');
  const repr = parseEthernet(view);
  assert.ok(!isWireError(repr), 'parse');
  return { view, repr };
}

/** Emits `repr` into a 0xa5-filled buffer of exactly its header length. */
function emit(repr: EthernetRepr): Uint8Array {
  const b = new Uint8Array(ethernetHeaderLen(repr)).fill(0xa5);
  emitEthernet(repr, b);
  return b;
}

test('fixtures: every captured frame parses and its header re-emits byte for byte', () => {
  let n = 0;
  for (const name of ALL) {
    const frames = fixture(name);
    assert.ok(frames.length >= 3, name);
    for (const frame of frames) {
      const { view, repr } = parse(frame);
      assert.deepEqual(emit(repr), frame.subarray(0, view.headerLen), name);
      assert.equal(view.payloadOffset, ethernetHeaderLen(repr));
      assert.equal(view.payload().length, frame.length - view.headerLen);
      n++;
    }
  }
  assert.ok(n >= 45, `${n} frames`);
});

test('fixture part1-arp-icmp: broadcast ARP request, unicast replies, EtherTypes', () => {
  const frames = fixture('part1-arp-icmp.pcap').map((f) => parse(f).repr);
  assert.deepEqual(
    frames.map((r) => r.ethertype),
    [EtherType.Arp, EtherType.Arp, ...Array<number>(4).fill(EtherType.Ipv4)],
  );
  assert.ok(isBroadcastMac(frames[0]!.dst) && isMulticastMac(frames[0]!.dst));
  assert.equal(formatMac(frames[0]!.src), '02:00:00:00:01:01');
  assert.equal(formatMac(frames[1]!.dst), '02:00:00:00:01:01');
  assert.ok(!isMulticastMac(frames[1]!.dst));
  assert.ok(frames.every((r) => r.vlan === undefined));
});

test('fixture part1-ipv6-ping: multicast destination 33:33:ff:00:00:02 for the NS', () => {
  const { repr } = parse(fixture('part1-ipv6-ping.pcap')[0]!);
  assert.equal(repr.ethertype, EtherType.Ipv6);
  assert.equal(formatMac(repr.dst), '33:33:ff:00:00:02');
  assert.ok(isMulticastMac(repr.dst) && !isBroadcastMac(repr.dst));
});

test('fixture part1-vlan: 802.1Q (PCP 3, id 10) and 802.1ad (DEI, id 20) tags', () => {
  const frames = fixture('part1-vlan.pcap');
  assert.equal(frames.length, 6);
  frames.forEach((frame, i) => {
    const { view, repr } = parse(frame);
    assert.equal(view.tagCount, 1);
    assert.equal(view.headerLen, 18);
    if (i < 3) {
      assert.equal(view.vlanTpid, EtherType.Vlan);
      assert.deepEqual(repr.vlan, { id: 10, pcp: 3, dei: false, tpid: 0x8100 });
    } else {
      assert.equal(view.vlanTpid, EtherType.QinQ);
      assert.deepEqual(repr.vlan, { id: 20, pcp: 0, dei: true, tpid: 0x88a8 });
    }
    assert.equal(view.vlanId, repr.vlan!.id);
    assert.equal(view.vlanPcp, repr.vlan!.pcp);
    assert.equal(view.vlanDei, repr.vlan!.dei);
    assert.equal(repr.ethertype, i < 2 ? EtherType.Arp : EtherType.Ipv4);
    // The payload is the same as the untagged capture's.
    const plain = fixture('part1-arp-icmp.pcap')[i]!;
    assert.deepEqual(view.payload(), plain.subarray(14));
  });
});

test('hand-made: a tag with no default tpid emits 0x8100; accessors on an untagged frame', () => {
  const b = emit({
    dst: new Uint8Array(6).fill(0xff),
    src: parseMac('02:00:00:00:00:01')!,
    ethertype: EtherType.Ipv6,
    vlan: { id: 4095, pcp: 7 },
  });
  assert.deepEqual(b, fromHex('ffffffffffff 020000000001 8100 efff 86dd'));
  const v = EthernetView.checked(fromHex('ffffffffffff 020000000001 0806'));
  assert.ok(!isWireError(v));
  assert.equal(v.tagCount, 0);
  assert.equal(v.vlanId, undefined);
  assert.equal(v.vlanPcp, undefined);
  assert.equal(v.vlanTpid, undefined);
  assert.equal(v.payload().length, 0);
});

test('malformed: short frames and tags, double tags, 802.3 length field', () => {
  assert.equal(EthernetView.checked(new Uint8Array(13)), wireError('truncated'));
  assert.equal(EthernetView.checked(new Uint8Array(0)), wireError('truncated'));
  // Tagged but the inner EtherType is missing.
  const shortTag = fromHex('ffffffffffff 020000000001 8100 000a 08');
  assert.equal(EthernetView.checked(shortTag), wireError('truncated'));
  // 802.1ad outer + 802.1Q inner: the view walks both, the repr does not take them.
  const qinq = fromHex('ffffffffffff 020000000001 88a8 0014 8100 000a 0800 45');
  const v = EthernetView.checked(qinq);
  assert.ok(!isWireError(v));
  assert.equal(v.tagCount, 2);
  assert.equal(v.ethertype, EtherType.Ipv4);
  assert.equal(v.vlanId, 20);
  assert.deepEqual(v.payload(), Uint8Array.of(0x45));
  assert.equal(parseEthernet(v), wireError('unsupported'));
  // Three tags: only two are walked, the third TPID is the "EtherType".
  const three = EthernetView.checked(
    fromHex('ff'.repeat(12) + '8100 0001 8100 0002 8100 0003 0800'),
  );
  assert.ok(!isWireError(three));
  assert.equal(three.ethertype, 0x8100);
  // An IEEE 802.3 length (≤ 1500) is not an EtherType.
  const llc = EthernetView.checked(fromHex('ffffffffffff 020000000001 0026 4242 03'));
  assert.ok(!isWireError(llc));
  assert.equal(parseEthernet(llc), wireError('unsupported'));
});

test('setters write in place', () => {
  const f = fromHex('ffffffffffff 020000000001 8100 000a 0800');
  const v = EthernetView.checked(f);
  assert.ok(!isWireError(v));
  v.dst = parseMac('02:00:00:00:00:09')!;
  v.src = parseMac('02:00:00:00:00:08')!;
  v.ethertype = EtherType.Arp;
  assert.deepEqual(f, fromHex('020000000009 020000000008 8100 000a 0806'));
  assert.equal(f[EthernetField.TAGGED_ETHERTYPE + 1], 0x06);
});

test('property: random bytes never throw through checked + parse', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 40 }), fc.boolean(), (b, tag) => {
      // Half the runs start with a TPID at 12 so the tag walk is exercised.
      if (tag && b.length >= 14) b.set([0x81, 0x00], 12);
      const v = EthernetView.checked(b);
      if (isWireError(v)) return;
      assert.ok(v.headerLen <= b.length);
      const touched = [v.dst, v.src, v.ethertype, v.vlanId, v.vlanPcp, v.vlanDei, v.payload()];
      assert.ok(touched.length > 0);
      parseEthernet(v);
    }),
    { numRuns: 2000 },
  );
});

const arbMac = fc.uint8Array({ minLength: 6, maxLength: 6 });
const arbRepr: fc.Arbitrary<EthernetRepr> = fc.record(
  {
    dst: arbMac,
    src: arbMac,
    ethertype: fc.integer({ min: 0x0600, max: 0xffff }).filter((t) => t !== 0x8100 && t !== 0x88a8),
    vlan: fc.record(
      {
        id: fc.nat(4095),
        pcp: fc.nat(7),
        dei: fc.boolean(),
        tpid: fc.constantFrom(0x8100, 0x88a8),
      },
      { noNullPrototype: true },
    ),
  },
  { requiredKeys: ['dst', 'src', 'ethertype'], noNullPrototype: true },
);

test('property: emit then parse gives the repr back; the payload is untouched', () => {
  fc.assert(
    fc.property(arbRepr, fc.uint8Array({ maxLength: 20 }), (repr, payload) => {
      const hl = ethernetHeaderLen(repr);
      const frame = new Uint8Array(hl + payload.length).fill(0xa5);
      frame.set(payload, hl);
      emitEthernet(repr, frame);
      assert.deepEqual(frame.subarray(hl), payload);
      const v = EthernetView.checked(frame);
      assert.ok(!isWireError(v));
      assert.deepEqual(parseEthernet(v), repr);
      assert.deepEqual(v.payload(), payload);
    }),
    { numRuns: 1000 },
  );
});

test('tshark: emitted Ethernet + ARP frames, untagged and tagged, decode cleanly', async () => {
  const arp = {
    operation: ArpOp.Request,
    senderMac: parseMac('02:00:00:00:00:01')!,
    senderIp: parseIpv4('192.0.2.1')!,
    targetMac: new Uint8Array(6),
    targetIp: parseIpv4('192.0.2.2')!,
  };
  const frames = [undefined, { id: 10, pcp: 5 }, { id: 20, pcp: 0, tpid: 0x88a8 }].map((vlan) => {
    const repr: EthernetRepr = {
      dst: new Uint8Array(6).fill(0xff),
      src: arp.senderMac,
      ethertype: EtherType.Arp,
      ...(vlan ? { vlan } : {}),
    };
    const hl = ethernetHeaderLen(repr);
    const f = new Uint8Array(hl + ARP_LEN).fill(0xa5);
    emitEthernet(repr, f);
    emitArp(arp, f.subarray(hl));
    return f;
  });
  const decoded = await tsharkDecode(frames);
  assert.deepEqual(tsharkProblems(decoded), []);
  assert.deepEqual(
    decoded.map((d) => d.protocols),
    [
      'eth:ethertype:arp',
      'eth:ethertype:vlan:ethertype:arp',
      'eth:ethertype:ieee8021ad:ethertype:arp',
    ],
  );
});
