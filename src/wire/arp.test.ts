// Tests of the ARP codec: captured request/reply, unsupported kinds, properties and tshark's reading.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  ArpView,
  ArpOp,
  ArpField,
  ARP_LEN,
  parseArp,
  emitArp,
  arpBufferLen,
  type ArpRepr,
} from './arp.js';
import {
  EthernetView,
  EtherType,
  parseEthernet,
  emitEthernet,
  ethernetHeaderLen,
} from './ethernet.js';
import { isWireError, wireError, parseMac, parseIpv4, formatIpv4, formatMac } from './common.js';
import { tsharkDecode, tsharkProblems } from '../../test/lab/tshark.js';
import { fixturePayloads, fromHex } from '../../test/lab/frames.js';

function parse(b: Uint8Array): ArpRepr {
  const v = ArpView.checked(b);
  assert.ok(!isWireError(v));
  const r = parseArp(v);
  assert.ok(!isWireError(r));
  return r;
}

/** A request from 192.0.2.1 (02:00:00:00:01:01) for 192.0.2.2, as captured. */
const REQUEST_HEX = '0001 0800 06 04 0001 020000000101 c0000201 000000000000 c0000202';

test('fixtures: request and reply from the kernel, also under VLAN tags; re-emitted byte for byte', () => {
  for (const name of ['part1-arp-icmp', 'part1-vlan']) {
    const [req, rep, ...rest] = fixturePayloads(name, EtherType.Arp);
    assert.equal(rest.length, 0);
    const q = parse(req!);
    assert.equal(q.operation, ArpOp.Request);
    assert.equal(formatMac(q.senderMac), '02:00:00:00:01:01');
    assert.equal(formatIpv4(q.senderIp), '192.0.2.1');
    assert.equal(formatMac(q.targetMac), '00:00:00:00:00:00');
    assert.equal(formatIpv4(q.targetIp), '192.0.2.2');
    assert.deepEqual(req, fromHex(REQUEST_HEX));
    const p = parse(rep!);
    assert.equal(p.operation, ArpOp.Reply);
    assert.equal(formatMac(p.senderMac), '02:00:00:00:01:02');
    assert.equal(formatIpv4(p.senderIp), '192.0.2.2');
    assert.equal(formatMac(p.targetMac), '02:00:00:00:01:01');
    assert.equal(formatIpv4(p.targetIp), '192.0.2.1');
    for (const [bytes, repr] of [
      [req!, q],
      [rep!, p],
    ] as const) {
      const out = new Uint8Array(arpBufferLen(repr)).fill(0xa5);
      emitArp(repr, out);
      assert.deepEqual(out, bytes.subarray(0, ARP_LEN));
    }
  }
});

test('view accessors read the named fields', () => {
  const v = ArpView.checked(fromHex(REQUEST_HEX));
  assert.ok(!isWireError(v));
  assert.equal(v.htype, 1);
  assert.equal(v.ptype, 0x0800);
  assert.equal(v.hlen, 6);
  assert.equal(v.plen, 4);
  assert.equal(v.operation, 1);
  assert.deepEqual(v.senderIp, v.buf.subarray(ArpField.SPA, ArpField.SPA + 4));
});

test('Ethernet padding after the 28 bytes is ignored', () => {
  const padded = new Uint8Array(46);
  padded.set(fromHex(REQUEST_HEX));
  padded.fill(0xee, 28);
  assert.deepEqual(parse(padded), parse(fromHex(REQUEST_HEX)));
});

test('malformed and unsupported: short, other hardware/protocol/lengths, other operations', () => {
  assert.equal(ArpView.checked(fromHex(REQUEST_HEX).subarray(0, 27)), wireError('truncated'));
  assert.equal(ArpView.checked(new Uint8Array(0)), wireError('truncated'));
  const cases: Array<[number, number[]]> = [
    [0, [0x00, 0x06]], // IEEE 802 hardware
    [2, [0x86, 0xdd]], // IPv6 protocol
    [4, [8]], // hardware length 8
    [5, [16]], // protocol length 16
    [6, [0x00, 0x03]], // RARP request (RFC 903)
    [6, [0x00, 0x00]],
  ];
  for (const [off, bytes] of cases) {
    const b = fromHex(REQUEST_HEX);
    b.set(bytes, off);
    const v = ArpView.checked(b);
    assert.ok(!isWireError(v));
    assert.equal(parseArp(v), wireError('unsupported'), `offset ${off}`);
  }
});

test('property: random bytes never throw through checked + parse', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 40 }), fc.boolean(), (b, plausible) => {
      // Half the runs carry a valid Ethernet/IPv4 prefix so parse gets past the kind checks.
      if (plausible && b.length >= 8) b.set([0, 1, 8, 0, 6, 4, 0, b[7]! & 3]);
      const v = ArpView.checked(b);
      if (isWireError(v)) return;
      const touched = [v.senderMac, v.targetIp, v.operation];
      assert.ok(touched.length > 0);
      const r = parseArp(v);
      if (!isWireError(r)) assert.ok(r.operation === 1 || r.operation === 2);
    }),
    { numRuns: 2000 },
  );
});

const arbRepr: fc.Arbitrary<ArpRepr> = fc.record(
  {
    operation: fc.constantFrom(ArpOp.Request, ArpOp.Reply),
    senderMac: fc.uint8Array({ minLength: 6, maxLength: 6 }),
    senderIp: fc.uint8Array({ minLength: 4, maxLength: 4 }),
    targetMac: fc.uint8Array({ minLength: 6, maxLength: 6 }),
    targetIp: fc.uint8Array({ minLength: 4, maxLength: 4 }),
  },
  { noNullPrototype: true },
);

test('property: emit into a 0xa5 buffer then parse gives the repr back', () => {
  fc.assert(
    fc.property(arbRepr, (repr) => {
      const b = new Uint8Array(arpBufferLen(repr)).fill(0xa5);
      emitArp(repr, b);
      assert.deepEqual(parse(b), repr);
    }),
    { numRuns: 1000 },
  );
});

test('tshark: emitted request and reply (one padded to 60 bytes) decode as ARP', async () => {
  const a = { mac: parseMac('02:00:00:00:00:01')!, ip: parseIpv4('192.0.2.1')! };
  const b = { mac: parseMac('02:00:00:00:00:02')!, ip: parseIpv4('192.0.2.2')! };
  const frames = [
    { dst: new Uint8Array(6).fill(0xff), src: a.mac, pad: 0, arp: { operation: 1, ...pair(a, b) } },
    { dst: a.mac, src: b.mac, pad: 18, arp: { operation: 2, ...pair(b, a) } },
  ].map(({ dst, src, pad, arp }) => {
    const eth = { dst, src, ethertype: EtherType.Arp };
    const hl = ethernetHeaderLen(eth);
    const f = new Uint8Array(hl + ARP_LEN + pad);
    emitEthernet(eth, f);
    emitArp(arp, f.subarray(hl));
    const ev = EthernetView.checked(f);
    assert.ok(!isWireError(ev) && !isWireError(parseEthernet(ev)));
    assert.deepEqual(parse(ev.payload()), arp);
    return f;
  });
  const decoded = await tsharkDecode(frames);
  assert.deepEqual(tsharkProblems(decoded), []);
  assert.deepEqual(
    decoded.map((d) => d.protocols),
    ['eth:ethertype:arp', 'eth:ethertype:arp'],
  );
});

function pair(
  from: { mac: Uint8Array; ip: Uint8Array },
  to: { mac: Uint8Array; ip: Uint8Array },
): Omit<ArpRepr, 'operation'> {
  return { senderMac: from.mac, senderIp: from.ip, targetMac: to.mac, targetIp: to.ip };
}
