// Tests of the segment builder: every field lands where the codecs and tshark expect, checksums included.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FrameArena, buildSegment, retarget, segmentTemplate } from './frame.js';
import { acceptPacket, parseGuestFrame, type ServiceCounters } from '../../iface/packet.js';
import { IpProtocol } from '../../../wire/ipv4.js';
import { TcpView, parseTcp, TcpFlag } from '../../../wire/tcp.js';
import { isWireError } from '../../../wire/common.js';
import { completePartialChecksum } from '../../../wire/checksum.js';
import { MAC_A, MAC_B, V4_A, V4_B, V6_A, V6_B } from '../../../../test/lab/frames.js';
import { tsharkDecode, tsharkProblems } from '../../../../test/lab/tshark.js';

const counters = (): ServiceCounters => ({
  ignored: 0,
  drops: { truncated: 0, malformed: 0, 'bad-checksum': 0, unsupported: 0 },
});

/** A template from host A (MAC_A, V4_A or V6_A) to host B, ports `sport` → `dport`. */
const templateAB = (family: 4 | 6, sport: number, dport: number, partial = false) =>
  segmentTemplate(
    family,
    MAC_A,
    MAC_B,
    family === 4 ? V4_A : V6_A,
    family === 4 ? V4_B : V6_B,
    sport,
    dport,
    partial,
  );

function parse(frame: Uint8Array, family: 4 | 6) {
  const c = counters();
  const p = parseGuestFrame(frame);
  assert.ok(acceptPacket(p, family, IpProtocol.Tcp, c), JSON.stringify(c)); // the IPv4 header checksum is verified here
  const v = TcpView.checked(p.l4);
  assert.ok(!isWireError(v));
  const r = parseTcp(v, p.src, p.dst);
  assert.ok(!isWireError(r), 'TCP checksum verifies');
  return { p, r, payload: v.payload() };
}

test('segments parse back field for field, IPv4 and IPv6, with any payload', () => {
  fc.assert(
    fc.property(
      fc.constantFrom<4 | 6>(4, 6),
      fc.integer({ min: 0, max: 0xffffffff }),
      fc.integer({ min: 0, max: 0xffffffff }),
      fc.integer({ min: 0, max: 0xffff }),
      fc.uint8Array({ maxLength: 3000 }),
      fc.option(fc.array(fc.tuple(fc.nat(), fc.nat()), { minLength: 1, maxLength: 3 })),
      (family, seq, ack, window, payload, sack) => {
        const t = templateAB(family, 443, 50000);
        const f = buildSegment(
          t,
          { seq, ack, flags: TcpFlag.ACK | TcpFlag.PSH, window },
          payload.length,
          (frame, at) => frame.set(payload, at),
          undefined,
          sack ?? undefined,
        );
        const { p, r, payload: got } = parse(f, family);
        assert.deepEqual([...p.eth!.dst], [...MAC_B]);
        assert.deepEqual([...p.eth!.src], [...MAC_A]);
        assert.equal(p.hopLimit, 64);
        assert.equal(r.srcPort, 443);
        assert.equal(r.dstPort, 50000);
        assert.equal(r.seq, seq);
        assert.equal(r.ack, ack);
        assert.equal(r.window, window);
        assert.equal(r.flags, TcpFlag.ACK | TcpFlag.PSH);
        assert.equal(r.urgent, 0);
        assert.deepEqual(r.options.sack, sack ?? undefined);
        assert.deepEqual([...got], [...payload]);
      },
    ),
    { numRuns: 300 },
  );
});

test('SYN options: MSS, SACK-permitted and window scale, each only when asked for', () => {
  const t = templateAB(4, 1, 2);
  const full = parse(
    buildSegment(t, { seq: 1, ack: 0, flags: TcpFlag.SYN, window: 65535 }, 0, undefined, {
      mss: 65480,
      sackPermitted: true,
      windowScale: 7,
    }),
    4,
  ).r;
  assert.deepEqual(
    { mss: full.options.mss, ws: full.options.windowScale, sp: full.options.sackPermitted },
    { mss: 65480, ws: 7, sp: true },
  );
  const bare = parse(
    buildSegment(
      t,
      { seq: 1, ack: 2, flags: TcpFlag.SYN | TcpFlag.ACK, window: 100 },
      0,
      undefined,
      {
        mss: 1460,
        sackPermitted: false,
      },
    ),
    4,
  ).r;
  assert.equal(bare.options.mss, 1460);
  assert.equal(bare.options.windowScale, undefined);
  assert.equal(bare.options.sackPermitted, undefined);
});

test('retarget changes the destination MAC of later segments', () => {
  const t = templateAB(6, 1, 2);
  retarget(t, MAC_A);
  const { p } = parse(buildSegment(t, { seq: 0, ack: 0, flags: TcpFlag.ACK, window: 1 }, 0), 6);
  assert.deepEqual([...p.eth!.dst], [...MAC_A]);
});

test('tshark decodes a handshake, data with SACK and a FIN without problems', async () => {
  const t4 = templateAB(4, 80, 40000);
  const t6 = templateAB(6, 80, 40000);
  const frames: Uint8Array[] = [];
  for (const t of [t4, t6]) {
    const data = new Uint8Array(1400).fill(0x41);
    frames.push(
      buildSegment(
        t,
        { seq: 100, ack: 5001, flags: TcpFlag.SYN | TcpFlag.ACK, window: 65535 },
        0,
        undefined,
        {
          mss: 1460,
          sackPermitted: true,
          windowScale: 7,
        },
      ),
      buildSegment(
        t,
        { seq: 101, ack: 5001, flags: TcpFlag.ACK | TcpFlag.PSH, window: 512 },
        1400,
        (f, at) => f.set(data, at),
      ),
      buildSegment(
        t,
        { seq: 1501, ack: 5001, flags: TcpFlag.ACK, window: 512 },
        0,
        undefined,
        undefined,
        [[6001, 7001]],
      ),
      buildSegment(t, { seq: 1501, ack: 5001, flags: TcpFlag.ACK | TcpFlag.FIN, window: 512 }, 0),
    );
  }
  const decoded = await tsharkDecode(frames);
  assert.equal(decoded.length, 8);
  for (const f of decoded) assert.match(f.protocols, /ipv?6?:tcp|ip:tcp/);
  // A SACK block above the acknowledged data of a connection tshark never saw is fine.
  assert.deepEqual(
    tsharkProblems(decoded, [/ACKed segment that wasn't captured|previous segment/]),
    [],
  );
});

test('partial templates leave the pseudo-header sum for the link to complete', () => {
  for (const family of [4, 6] as const) {
    const t = templateAB(family, 80, 40000, true);
    const data = new Uint8Array(999).map((_, i) => i * 7);
    const f = buildSegment(
      t,
      { seq: 9, ack: 10, flags: TcpFlag.ACK, window: 7 },
      data.length,
      (b, at) => b.set(data, at),
    );
    const l4 = t.l4;
    const c = counters();
    assert.ok(
      acceptPacket(parseGuestFrame(f), family, IpProtocol.Tcp, c),
      'the IP header is complete',
    );
    const v = TcpView.checked(f.subarray(l4));
    assert.ok(!isWireError(v));
    assert.equal(v.checksumOk(family === 4 ? V4_A : V6_A, family === 4 ? V4_B : V6_B), false);
    assert.ok(completePartialChecksum(f, l4, 16));
    const { r, payload } = parse(f, family);
    assert.equal(r.seq, 9);
    assert.deepEqual([...payload], [...data]);
  }
});

test('FrameArena grows when a batch runs out, and shrinks back once batches leave it idle', () => {
  const a = new FrameArena(1 << 20, 4096);
  assert.equal(a.size, 4096);
  const f1 = a.alloc(3000);
  const f2 = a.alloc(3000); // does not fit: from the heap
  assert.equal(f1.buffer === f2.buffer, false);
  a.reset();
  assert.equal(a.size, 8192);
  // After the growth both fit, one after the other (8-aligned, not overlapping).
  const g1 = a.alloc(3000);
  const g2 = a.alloc(3000);
  assert.equal(g1.buffer, g2.buffer);
  assert.equal(g2.byteOffset - g1.byteOffset, 3000);
  a.reset();
  a.trim(); // this interval grew it: kept
  assert.equal(a.size, 8192);
  a.alloc(1000);
  a.reset();
  a.trim(); // used at most a quarter: halved
  assert.equal(a.size, 4096);
  for (let i = 0; i < 10; i++) {
    for (let j = 0; j * 100_000 < 1 << 21; j++) a.alloc(100_000);
    a.reset();
  }
  assert.equal(a.size, 1 << 20); // never past max
  a.trim();
  assert.equal(a.size, 1 << 20); // used fully since the last trim: kept
  a.trim(); // idle since: back to the smallest
  assert.equal(a.size, 4096);
});
