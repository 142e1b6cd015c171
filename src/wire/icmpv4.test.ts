// Tests of the ICMPv4 codec: captured echo and errors (frag needed, time exceeded, unreachable), malformed input, properties, tshark.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  Icmpv4View,
  Icmpv4Type,
  Icmpv4Unreach,
  Icmpv4TimeExceeded,
  Icmpv4Field,
  ICMPV4_HEADER_LEN,
  parseIcmpv4,
  emitIcmpv4,
  icmpv4BufferLen,
  type Icmpv4Repr,
} from './icmpv4.js';
import { Ipv4View, IpProtocol, parseIpv4, type Ipv4Repr } from './ipv4.js';
import { EthernetView, EtherType, ETHERNET_HEADER_LEN } from './ethernet.js';
import { isWireError, wireError, getU16, putU16, formatIpv4, parseIpv4 as ip4 } from './common.js';
import { checksum, updateChecksum16 } from './checksum.js';
import { tsharkDecode, tsharkProblems } from '../../test/lab/tshark.js';
import { fixtureFrames, fromHex, ipv4Frame, V4_A, V4_B } from '../../test/lab/frames.js';

/** The ICMP messages (IPv4 payloads of unfragmented ICMP packets) of a capture. */
function icmpMessages(name: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const frame of fixtureFrames(name)) {
    const eth = EthernetView.checked(frame);
    assert.ok(!isWireError(eth));
    if (eth.ethertype !== EtherType.Ipv4) continue;
    const ip = Ipv4View.checked(eth.payload());
    assert.ok(!isWireError(ip));
    if (ip.protocol === IpProtocol.Icmp && !ip.isFragment) out.push(ip.payload());
  }
  return out;
}

function parse(b: Uint8Array): Icmpv4Repr {
  const v = Icmpv4View.checked(b);
  assert.ok(!isWireError(v), 'checked');
  const r = parseIcmpv4(v);
  assert.ok(!isWireError(r), `parse: ${JSON.stringify(r)}`);
  return r;
}

function emit(repr: Icmpv4Repr): Uint8Array {
  const b = new Uint8Array(icmpv4BufferLen(repr)).fill(0xa5);
  emitIcmpv4(repr, b);
  return b;
}

/** Echo request, ident 0x1234, seq 1, data "abcd"; checksum filled in. */
function echoRequest(): Uint8Array {
  const b = fromHex('08 00 0000 1234 0001 61626364');
  putU16(b, 2, checksum(b));
  return b;
}

test('fixtures: every captured ICMP message parses and re-emits byte for byte', () => {
  let n = 0;
  for (const name of ['part1-arp-icmp', 'part1-ipv4-options', 'part1-icmp4-errors', 'part1-vlan']) {
    for (const msg of icmpMessages(name)) {
      assert.deepEqual(emit(parse(msg)), msg, name);
      n++;
    }
  }
  assert.equal(n, 4 + 4 + 7 + 4);
});

/** Narrows a parse result to the variant of `type`, failing the test otherwise. */
function as<T extends Icmpv4Repr['type']>(
  r: Icmpv4Repr | undefined,
  type: T,
): Icmpv4Repr & { type: T } {
  assert.ok(r, 'message present');
  assert.equal(r.type, type);
  return r as Icmpv4Repr & { type: T };
}

test('fixture part1-arp-icmp: echo request and reply pair up', () => {
  const [req, rep, req2] = icmpMessages('part1-arp-icmp').map(parse);
  const q = as(req, Icmpv4Type.EchoRequest);
  const p = as(rep, Icmpv4Type.EchoReply);
  assert.equal(p.ident, q.ident);
  assert.equal(p.seqNo, 1);
  assert.equal(as(req2, Icmpv4Type.EchoRequest).seqNo, 2);
  assert.equal(q.data.length, 56);
  assert.deepEqual(p.data, q.data);
});

test('fixture part1-icmp4-errors: frag needed (MTU 1280), time exceeded, net and port unreachable', () => {
  const msgs = icmpMessages('part1-icmp4-errors').map(parse);
  assert.equal(msgs.length, 7);
  const fragNeeded = as(msgs[1], Icmpv4Type.DestUnreachable);
  assert.equal(fragNeeded.code, Icmpv4Unreach.FragNeeded);
  assert.equal(fragNeeded.nextHopMtu, 1280);
  // The invoking datagram: the 1428-byte echo request, quoted as far as 576 bytes allow.
  const inv = fragNeeded.invoking;
  assert.equal(inv.length, 576 - 20 - 8);
  assert.equal(inv[0], 0x45);
  assert.equal(getU16(inv, 2), 1428);
  assert.equal(formatIpv4(inv.subarray(16, 20)), '198.51.100.1');
  // A quoted datagram is cut short, so as a packet it is 'truncated'.
  assert.equal(Ipv4View.checked(inv), wireError('truncated'));

  const ttl = as(msgs[3], Icmpv4Type.TimeExceeded);
  assert.equal(ttl.code, Icmpv4TimeExceeded.TtlInTransit);
  assert.equal(ttl.invoking.length, 84);
  assert.equal(ttl.invoking[8], 1, 'the quoted TTL');

  const net = as(msgs[5], Icmpv4Type.DestUnreachable);
  assert.equal(net.code, Icmpv4Unreach.Net);
  assert.equal(net.nextHopMtu, 0);
  assert.equal(formatIpv4(net.invoking.subarray(16, 20)), '203.0.113.1');
  const port = as(msgs[6], Icmpv4Type.DestUnreachable);
  assert.equal(port.code, Icmpv4Unreach.Port);
  // The quoted UDP datagram is whole: it parses as IPv4 and ends with our text.
  const q = Ipv4View.checked(port.invoking);
  assert.ok(!isWireError(q) && !isWireError(parseIpv4(q)));
  assert.equal(q.protocol, IpProtocol.Udp);
  assert.equal(Buffer.from(q.payload().subarray(8)).toString(), 'bindery port unreachable');
});

test('view accessors and the ident setter with an RFC 1624 checksum update', () => {
  const b = echoRequest();
  const v = Icmpv4View.checked(b);
  assert.ok(!isWireError(v));
  assert.equal(v.type, 8);
  assert.equal(v.code, 0);
  assert.equal(v.ident, 0x1234);
  assert.equal(v.seqNo, 1);
  assert.deepEqual(v.data(), fromHex('61626364'));
  assert.ok(v.checksumOk());
  const c = updateChecksum16(v.checksum, v.ident, 0x9999);
  v.ident = 0x9999;
  v.checksum = c;
  assert.ok(v.checksumOk());
  v.checksum = 0;
  v.fillChecksum();
  assert.equal(v.checksum, c);
  assert.equal(getU16(b, Icmpv4Field.IDENT), 0x9999);
});

test('malformed and unsupported: short, bad checksum, echo with a code, other types', () => {
  assert.equal(Icmpv4View.checked(new Uint8Array(7)), wireError('truncated'));
  assert.equal(Icmpv4View.checked(new Uint8Array(0)), wireError('truncated'));
  const parsed = (b: Uint8Array) => {
    const v = Icmpv4View.checked(b);
    assert.ok(!isWireError(v));
    return parseIcmpv4(v);
  };
  // An 8-byte header alone (empty echo) is fine.
  const bare = fromHex('08 00 0000 0001 0002');
  putU16(bare, 2, checksum(bare));
  assert.deepEqual(parsed(bare), { type: 8, ident: 1, seqNo: 2, data: new Uint8Array(0) });
  for (const at of [0, 1, 4, 7, 9, 11]) {
    const bad = echoRequest();
    bad[at]! ^= 0x01;
    assert.equal(parsed(bad), wireError('bad-checksum'), `byte ${at}`);
  }
  const coded = fromHex('08 01 0000 1234 0001');
  putU16(coded, 2, checksum(coded));
  assert.equal(parsed(coded), wireError('malformed'));
  for (const type of [5, 12, 13, 14, 255]) {
    const b = fromHex('00 00 0000 00000000 45000000');
    b[0] = type;
    putU16(b, 2, checksum(b));
    const v = Icmpv4View.checked(b);
    assert.ok(!isWireError(v));
    assert.equal(v.type, type, 'the view still reads it');
    assert.equal(parseIcmpv4(v), wireError('unsupported'), `type ${type}`);
  }
});

test('errors other than frag needed ignore and zero the unused word', () => {
  const b = fromHex('03 03 0000 0000 05dc 4500');
  putU16(b, 2, checksum(b));
  const r = parse(b);
  assert.deepEqual(r, { type: 3, code: 3, nextHopMtu: 0, invoking: fromHex('4500') });
  const out = emit(r);
  assert.deepEqual(out.subarray(4, 8), new Uint8Array(4));
  assert.equal(checksum(out), 0);
});

test('property: random bytes never throw through checked + parse', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 60 }), fc.boolean(), (b, plausible) => {
      // Half the runs get a handled type and a right checksum so parse goes deeper.
      if (plausible && b.length >= ICMPV4_HEADER_LEN) {
        b[0] = [0, 3, 8, 11][b[0]! & 3]!;
        if (b[0] === 0 || b[0] === 8) b[1] = 0;
        putU16(b, 2, 0);
        putU16(b, 2, checksum(b));
      }
      const v = Icmpv4View.checked(b);
      if (isWireError(v)) return;
      const touched = [v.ident, v.seqNo, v.nextHopMtu, v.data()];
      assert.ok(touched.length > 0);
      const r = parseIcmpv4(v);
      if (!isWireError(r)) assert.equal(icmpv4BufferLen(r), b.length);
    }),
    { numRuns: 3000 },
  );
});

const arbBytes = fc.uint8Array({ maxLength: 64 });
const arbRepr: fc.Arbitrary<Icmpv4Repr> = fc.oneof(
  fc.record(
    {
      type: fc.constantFrom(0 as const, 8 as const),
      ident: fc.nat(0xffff),
      seqNo: fc.nat(0xffff),
      data: arbBytes,
    },
    { noNullPrototype: true },
  ),
  fc
    .record(
      { code: fc.nat(15), mtu: fc.nat(0xffff), invoking: arbBytes },
      { noNullPrototype: true },
    )
    .map(({ code, mtu, invoking }) => ({
      type: 3 as const,
      code,
      nextHopMtu: code === 4 ? mtu : 0,
      invoking,
    })),
  fc.record(
    { type: fc.constant(11 as const), code: fc.nat(1), invoking: arbBytes },
    { noNullPrototype: true },
  ),
);

test('property: emit into a 0xa5 buffer then parse gives the repr back', () => {
  fc.assert(
    fc.property(arbRepr, (repr) => {
      const b = emit(repr);
      assert.equal(checksum(b), 0);
      assert.deepEqual(parse(b), repr);
    }),
    { numRuns: 1000 },
  );
});

// --- tshark ---

const V4_C = ip4('198.51.100.1')!;

/** Ethernet + IPv4 + `payload`, headers emitted by the codecs. */
function frame(ip: Omit<Ipv4Repr, 'payloadLen'>, payload: Uint8Array): Uint8Array {
  return ipv4Frame({ ...ip, payloadLen: payload.length }, payload);
}

function ipPacket(ip: Omit<Ipv4Repr, 'payloadLen'>, payload: Uint8Array): Uint8Array {
  return frame(ip, payload).subarray(ETHERNET_HEADER_LEN);
}

/** A UDP datagram (RFC 768) with checksum 0 ("no checksum", allowed over IPv4). */
function udp(sport: number, dport: number, data: Uint8Array): Uint8Array {
  const u = new Uint8Array(8 + data.length);
  putU16(u, 0, sport);
  putU16(u, 2, dport);
  putU16(u, 4, u.length);
  u.set(data, 8);
  return u;
}

const IP: Omit<Ipv4Repr, 'payloadLen'> = {
  src: V4_A,
  dst: V4_B,
  protocol: IpProtocol.Icmp,
  ttl: 64,
  tos: 0,
  ident: 1,
  dontFragment: false,
};

test('tshark: echo request/reply and unreachable / frag-needed / time-exceeded errors decode cleanly', async () => {
  const data = Uint8Array.from({ length: 48 }, (_, i) => 0x20 + i);
  const echoReq = emit({ type: 8, ident: 0x4d2, seqNo: 7, data });
  const echoRep = emit({ type: 0, ident: 0x4d2, seqNo: 7, data });
  // The datagrams the errors quote: a UDP datagram from A to C, and an ICMP echo from A to C.
  const udpDgram = ipPacket(
    { ...IP, dst: V4_C, protocol: IpProtocol.Udp, ident: 2 },
    udp(40000, 33434, new Uint8Array(12)),
  );
  const bigEcho = ipPacket(
    { ...IP, dst: V4_C, ident: 3, dontFragment: true },
    emit({ type: 8, ident: 9, seqNo: 1, data: new Uint8Array(1400) }),
  );
  const portUnreach = emit({ type: 3, code: 3, nextHopMtu: 0, invoking: udpDgram });
  const fragNeeded = emit({
    type: 3,
    code: 4,
    nextHopMtu: 1280,
    invoking: bigEcho.subarray(0, 28),
  });
  const timeExceeded = emit({ type: 11, code: 0, invoking: udpDgram.subarray(0, 28) });
  const frames = [
    frame(IP, echoReq),
    frame({ ...IP, src: V4_B, dst: V4_A }, echoRep),
    frame({ ...IP, src: V4_B, dst: V4_A }, portUnreach),
    frame({ ...IP, src: V4_B, dst: V4_A }, fragNeeded),
    frame({ ...IP, src: V4_B, dst: V4_A }, timeExceeded),
  ];
  const decoded = await tsharkDecode(frames);
  assert.deepEqual(tsharkProblems(decoded), []);
  assert.deepEqual(
    decoded.map((d) => d.protocols),
    [
      'eth:ethertype:ip:icmp:data',
      'eth:ethertype:ip:icmp:data',
      'eth:ethertype:ip:icmp:ip:udp:data',
      'eth:ethertype:ip:icmp:ip:icmp',
      'eth:ethertype:ip:icmp:ip:udp',
    ],
  );
});
