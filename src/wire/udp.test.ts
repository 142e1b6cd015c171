// Tests of the UDP codec: captured datagrams, malformed input, properties and tshark's reading.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { UdpView, UdpField, parseUdp, emitUdp, udpBufferLen, type UdpRepr } from './udp.js';
import { isWireError, getU16, putU16, wireError } from './common.js';
import { tsharkDecode, tsharkProblems } from '../../test/lab/tshark.js';
import {
  fixtureFrames,
  frame4,
  frame6,
  locateL4,
  V4_A,
  V4_B,
  V6_A,
  V6_B,
} from '../../test/lab/frames.js';

/** Emits `repr` with `payload` into a buffer pre-filled with `fillByte`. */
function emitted(
  repr: UdpRepr,
  payload: Uint8Array,
  src: Uint8Array,
  dst: Uint8Array,
  fillByte = 0xa5,
): Uint8Array {
  const b = new Uint8Array(udpBufferLen(repr)).fill(fillByte);
  b.set(payload, 8);
  emitUdp(repr, b, src, dst);
  return b;
}

/** A UDP datagram with a correct checksum, as raw bytes. */
function datagram(payload: Uint8Array, src = V4_A, dst = V4_B): Uint8Array {
  return emitted({ srcPort: 40000, dstPort: 9, payloadLen: payload.length }, payload, src, dst);
}

const ipv4Addr = fc.uint8Array({ minLength: 4, maxLength: 4 });
const ipv6Addr = fc.uint8Array({ minLength: 16, maxLength: 16 });
const addrPair = fc.oneof(fc.tuple(ipv4Addr, ipv4Addr), fc.tuple(ipv6Addr, ipv6Addr));

// --- Fixtures from real tools (scripts/capture-fixtures/wire-part2.sh). ---

test('captured datagrams parse and re-emit byte for byte', () => {
  const frames = fixtureFrames('part2-udp');
  assert.equal(frames.length, 8);
  const seen: Array<{ repr: UdpRepr; checksum: number; v6: boolean }> = [];
  for (const frame of frames) {
    const at = locateL4(frame);
    assert.ok(at && at.proto === 17);
    const v = UdpView.checked(at.l4);
    assert.ok(!isWireError(v));
    const repr = parseUdp(v, at.src, at.dst);
    assert.ok(!isWireError(repr), `frame ${seen.length + 1}: ${JSON.stringify(repr)}`);
    const again = emitted(repr, v.payload(), at.src, at.dst);
    if (v.checksum === 0) {
      // SO_NO_CHECK: the only difference is the checksum we compute.
      assert.deepEqual(again.subarray(0, 6), at.l4.subarray(0, 6));
      assert.deepEqual(again.subarray(8), at.l4.subarray(8));
      assert.notEqual(getU16(again, 6), 0);
    } else assert.deepEqual(again, at.l4);
    seen.push({ repr, checksum: v.checksum, v6: at.src.length === 16 });
  }
  // dig over IPv4 and IPv6: query to 53 and the answer back.
  assert.deepEqual(
    seen.slice(0, 4).map((s) => [s.repr.dstPort === 53 || s.repr.srcPort === 53, s.v6]),
    [
      [true, false],
      [true, false],
      [true, true],
      [true, true],
    ],
  );
  // SO_NO_CHECK: IPv4 without checksum, accepted unverified.
  assert.equal(seen[4]!.checksum, 0);
  assert.equal(seen[4]!.repr.payloadLen, 'bindery no checksum'.length);
  // Checksums that compute to 0 are sent as 0xffff, over IPv4 and IPv6, and we do the same.
  assert.equal(seen[5]!.checksum, 0xffff);
  assert.equal(seen[7]!.checksum, 0xffff);
  assert.equal(seen[7]!.v6, true);
  // The empty datagram.
  assert.deepEqual(seen[6]!.repr, { srcPort: 40001, dstPort: 9, payloadLen: 0 });
});

// --- Hand-written cases. ---

test('view reads fields at the named offsets and payload stops at the length field', () => {
  const b = datagram(Uint8Array.of(1, 2, 3));
  const padded = new Uint8Array(b.length + 5);
  padded.set(b);
  const v = UdpView.checked(padded);
  assert.ok(!isWireError(v));
  assert.equal(v.srcPort, 40000);
  assert.equal(v.dstPort, 9);
  assert.equal(v.length, 11);
  assert.equal(v.checksum, getU16(b, UdpField.CHECKSUM));
  assert.deepEqual(v.payload(), Uint8Array.of(1, 2, 3));
  // Trailing bytes (e.g. untrimmed Ethernet padding) are outside the checksum.
  assert.deepEqual(parseUdp(v, V4_A, V4_B), { srcPort: 40000, dstPort: 9, payloadLen: 3 });
});

test('setters write in place', () => {
  const b = datagram(Uint8Array.of(9));
  const v = UdpView.unchecked(b);
  v.srcPort = 1;
  v.dstPort = 2;
  v.length = 9;
  v.checksum = 0x1234;
  assert.deepEqual(Array.from(b.subarray(0, 8)), [0, 1, 0, 2, 0, 9, 0x12, 0x34]);
});

test('malformed datagrams are refused with the right kind', () => {
  const good = datagram(Uint8Array.of(1, 2, 3, 4));
  const kind = (b: Uint8Array, src = V4_A, dst = V4_B) => {
    const v = UdpView.checked(b);
    if (isWireError(v)) return v.kind;
    const r = parseUdp(v, src, dst);
    return isWireError(r) ? r.kind : 'ok';
  };
  assert.equal(kind(good), 'ok');
  assert.equal(kind(good.subarray(0, 7)), 'truncated');
  // Length field larger than the buffer.
  const long = good.slice();
  putU16(long, 4, good.length + 1);
  assert.equal(kind(long), 'truncated');
  // Length field smaller than the header.
  const short = good.slice();
  putU16(short, 4, 7);
  assert.equal(kind(short), 'malformed');
  // A flipped payload bit.
  const bad = good.slice();
  bad[9]! ^= 0x10;
  assert.equal(kind(bad), 'bad-checksum');
  // Wrong pseudo-header.
  assert.equal(
    kind(
      good,
      V4_B,
      V4_A.map((x) => x ^ 1),
    ),
    'bad-checksum',
  );
  // Zero checksum: "none" over IPv4, malformed over IPv6 (RFC 8200 §8.1).
  const none = good.slice();
  putU16(none, 6, 0);
  assert.equal(kind(none), 'ok');
  assert.equal(kind(none, V6_A, V6_B), 'malformed');
  // Destination port 0.
  const port0 = emitted({ srcPort: 1, dstPort: 0, payloadLen: 0 }, new Uint8Array(0), V4_A, V4_B);
  assert.equal(kind(port0), 'malformed');
  // Source port 0 is allowed (RFC 768).
  const src0 = emitted({ srcPort: 0, dstPort: 7, payloadLen: 0 }, new Uint8Array(0), V4_A, V4_B);
  assert.equal(kind(src0), 'ok');
});

test('a checksum that computes to 0 is emitted as 0xffff and verifies', () => {
  // Search the 2-byte payload that makes the sum 0xffff over IPv6.
  const repr: UdpRepr = { srcPort: 40002, dstPort: 9, payloadLen: 2 };
  let found: Uint8Array | undefined;
  for (let w = 0; w < 0x10000 && !found; w++) {
    const b = emitted(repr, Uint8Array.of(w >>> 8, w & 0xff), V6_A, V6_B);
    if (getU16(b, 6) === 0xffff) found = b;
  }
  assert.ok(found);
  const v = UdpView.checked(found);
  assert.ok(!isWireError(v));
  assert.deepEqual(parseUdp(v, V6_A, V6_B), repr);
});

// --- Properties. ---

test('random bytes never throw through checked and parse', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 80 }), addrPair, (b, [src, dst]) => {
      const v = UdpView.checked(b);
      if (isWireError(v)) return;
      v.payload();
      parseUdp(v, src, dst);
    }),
    { numRuns: 2000 },
  );
});

test('emit then parse gives the repr back, and every header byte is written', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 0xffff }),
      fc.integer({ min: 1, max: 0xffff }),
      fc.uint8Array({ maxLength: 300 }),
      addrPair,
      (srcPort, dstPort, payload, [src, dst]) => {
        const repr: UdpRepr = { srcPort, dstPort, payloadLen: payload.length };
        const b = emitted(repr, payload, src, dst);
        assert.deepEqual(b, emitted(repr, payload, src, dst, 0));
        const v = UdpView.checked(b);
        assert.ok(!isWireError(v));
        assert.deepEqual(parseUdp(v, src, dst), repr);
        assert.deepEqual(v.payload(), payload);
      },
    ),
    { numRuns: 1000 },
  );
});

// --- tshark. ---

test('tshark decodes our datagrams over IPv4 and IPv6 without complaint', async () => {
  const payload = new TextEncoder().encode('bindery udp');
  const repr: UdpRepr = { srcPort: 40000, dstPort: 40001, payloadLen: payload.length };
  const fill = (src: Uint8Array, dst: Uint8Array) => (l4: Uint8Array) => {
    l4.set(payload, 8);
    emitUdp(repr, l4, src, dst);
  };
  const frames = [
    frame4(V4_A, V4_B, 17, udpBufferLen(repr), fill(V4_A, V4_B)),
    frame6(V6_A, V6_B, 17, udpBufferLen(repr), fill(V6_A, V6_B)),
  ];
  const decoded = await tsharkDecode(frames);
  assert.deepEqual(tsharkProblems(decoded), []);
  assert.deepEqual(
    decoded.map((d) => d.protocols),
    ['eth:ethertype:ip:udp:data', 'eth:ethertype:ipv6:udp:data'],
  );
});

test('parseUdp with verify false takes a partial checksum (an offloading sender on this host) as is', () => {
  const repr: UdpRepr = { srcPort: 5353, dstPort: 53, payloadLen: 4 };
  const b = emitted(repr, new Uint8Array([1, 2, 3, 4]), V4_A, V4_B);
  putU16(b, UdpField.CHECKSUM, 0x1234); // what a pseudo-header sum might leave
  const v = UdpView.checked(b);
  assert.ok(!isWireError(v));
  assert.deepEqual(parseUdp(v, V4_A, V4_B), wireError('bad-checksum'));
  assert.deepEqual(parseUdp(v, V4_A, V4_B, false), repr);
  putU16(b, UdpField.DST_PORT, 0);
  assert.deepEqual(
    parseUdp(UdpView.checked(b) as UdpView, V4_A, V4_B, false),
    wireError('malformed'),
  );
});
