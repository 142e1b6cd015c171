// Tests of the TCP codec: captured segments, options, malformed input, properties and tshark's reading.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  TcpView,
  TcpField,
  TcpFlag,
  TcpOptionKind,
  TCP_NO_OPTIONS,
  TCP_MAX_OPTIONS_LEN,
  parseTcp,
  parseTcpOptions,
  tcpHeaderLen,
  tcpOptionsLen,
  emitTcp,
  type TcpRepr,
  type TcpOptions,
} from './tcp.js';
import { isWireError, getU16, putU16 } from './common.js';
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
  repr: TcpRepr,
  payload: Uint8Array,
  src: Uint8Array,
  dst: Uint8Array,
  fillByte = 0xa5,
): Uint8Array {
  const hl = tcpHeaderLen(repr);
  const b = new Uint8Array(hl + repr.payloadLen).fill(fillByte);
  b.set(payload, hl);
  emitTcp(repr, b, src, dst);
  return b;
}

/** Checked view + parse, or the error kind. */
function parsed(b: Uint8Array, src: Uint8Array, dst: Uint8Array): TcpRepr | string {
  const v = TcpView.checked(b);
  if (isWireError(v)) return v.kind;
  const r = parseTcp(v, src, dst);
  return isWireError(r) ? r.kind : r;
}

const SYN: TcpRepr = {
  srcPort: 50000,
  dstPort: 40000,
  seq: 0x01020304,
  ack: 0,
  flags: TcpFlag.SYN,
  window: 64240,
  urgent: 0,
  options: {
    mss: 1460,
    sackPermitted: true,
    timestamps: { value: 0xdeadbeef, echo: 0 },
    windowScale: 7,
  },
  payloadLen: 0,
};

/** A segment whose raw option bytes are `opts` (padded with zeros), checksum correct. */
function withOptionBytes(opts: number[], src = V4_A, dst = V4_B): Uint8Array {
  const hl = 20 + ((opts.length + 3) & ~3);
  const b = new Uint8Array(hl);
  emitTcp({ ...SYN, options: TCP_NO_OPTIONS }, b, src, dst);
  b.set(opts, 20);
  b[TcpField.DATA_OFFSET] = (hl / 4) << 4;
  TcpView.unchecked(b).fillChecksum(src, dst);
  return b;
}

const ipv4Addr = fc.uint8Array({ minLength: 4, maxLength: 4 });
const ipv6Addr = fc.uint8Array({ minLength: 16, maxLength: 16 });
const addrPair = fc.oneof(fc.tuple(ipv4Addr, ipv4Addr), fc.tuple(ipv6Addr, ipv6Addr));
const u32 = fc.integer({ min: 0, max: 0xffffffff });

const KNOWN_KINDS = new Set<number>(Object.values(TcpOptionKind));
const optionsArb: fc.Arbitrary<TcpOptions> = fc
  .record(
    {
      mss: fc.integer({ min: 0, max: 0xffff }),
      windowScale: fc.integer({ min: 0, max: 14 }),
      sackPermitted: fc.constant(true),
      sack: fc.array(fc.tuple(u32, u32), { minLength: 1, maxLength: 4 }),
      timestamps: fc.record({ value: u32, echo: u32 }, { noNullPrototype: true }),
      unknown: fc.array(
        fc.record(
          {
            kind: fc.integer({ min: 0, max: 255 }).filter((k) => !KNOWN_KINDS.has(k)),
            data: fc.uint8Array({ maxLength: 12 }),
          },
          { noNullPrototype: true },
        ),
        { minLength: 1, maxLength: 2 },
      ),
    },
    { requiredKeys: [], noNullPrototype: true },
  )
  .filter((o) => tcpOptionsLen(o) <= TCP_MAX_OPTIONS_LEN);

const reprArb = fc.record(
  {
    srcPort: fc.integer({ min: 1, max: 0xffff }),
    dstPort: fc.integer({ min: 1, max: 0xffff }),
    seq: u32,
    ack: u32,
    flags: fc.integer({ min: 0, max: 0xff }),
    window: fc.integer({ min: 0, max: 0xffff }),
    urgent: fc.integer({ min: 0, max: 0xffff }),
    options: optionsArb,
    payloadLen: fc.constant(0),
  },
  { noNullPrototype: true },
);

// --- Fixtures from real tools (scripts/capture-fixtures/wire-part2.sh). ---

/** Parses every frame of a fixture, checks it re-emits byte for byte, returns the reprs. */
function roundTripFixture(name: string): Array<{ repr: TcpRepr; v6: boolean; view: TcpView }> {
  return fixtureFrames(name).map((frame, i) => {
    const at = locateL4(frame);
    assert.ok(at && at.proto === 6, `${name} frame ${i + 1}`);
    const view = TcpView.checked(at.l4);
    assert.ok(!isWireError(view), `${name} frame ${i + 1}`);
    const repr = parseTcp(view, at.src, at.dst);
    assert.ok(!isWireError(repr), `${name} frame ${i + 1}: ${JSON.stringify(repr)}`);
    assert.equal(tcpHeaderLen(repr), view.headerLen, `${name} frame ${i + 1}`);
    assert.deepEqual(
      emitted(repr, view.payload(), at.src, at.dst),
      at.l4,
      `${name} frame ${i + 1}`,
    );
    return { repr, v6: at.src.length === 16, view };
  });
}

test('captured HTTP exchanges parse and re-emit byte for byte', () => {
  const segs = roundTripFixture('part2-tcp');
  assert.ok(segs.length >= 20);
  const syns = segs.filter((s) => s.repr.flags === TcpFlag.SYN);
  assert.equal(syns.length, 3);
  for (const s of syns) {
    const o = s.repr.options;
    assert.deepEqual(Object.keys(o).sort(), ['mss', 'sackPermitted', 'timestamps', 'windowScale']);
    assert.equal(o.sackPermitted, true);
    assert.equal(o.timestamps!.echo, 0);
    assert.ok(o.mss! >= 1280 && o.mss! <= 1460);
  }
  // Both address families, data, FIN, and the RST from the closed port.
  assert.ok(segs.some((s) => s.v6) && segs.some((s) => !s.v6));
  assert.ok(segs.some((s) => s.repr.payloadLen > 1000 && s.view.payload().length > 1000));
  assert.ok(segs.some((s) => s.repr.flags & TcpFlag.FIN));
  const rst = segs.find((s) => s.repr.flags & TcpFlag.RST);
  assert.ok(rst);
  assert.equal(rst.repr.options, TCP_NO_OPTIONS);
  assert.equal(rst.repr.srcPort, 8001);
  // The view reads what the repr holds.
  for (const { repr, view } of segs) {
    assert.deepEqual(
      [view.seq, view.ack, view.flags, view.window, view.srcPort, view.dstPort],
      [repr.seq, repr.ack, repr.flags, repr.window, repr.srcPort, repr.dstPort],
    );
  }
});

test('captured ACKs with SACK blocks parse and re-emit byte for byte', () => {
  const segs = roundTripFixture('part2-tcp-sack');
  assert.ok(segs.length >= 3);
  const counts = new Set<number>();
  for (const { repr } of segs) {
    const sack = repr.options.sack;
    assert.ok(sack && sack.length >= 1 && sack.length <= 3);
    assert.ok(repr.options.timestamps);
    for (const [l, r] of sack) assert.ok(l !== r);
    counts.add(sack.length);
  }
  assert.ok(counts.size >= 2, `block counts ${[...counts].join(',')}`);
});

// --- Hand-written cases. ---

test('SYN options are laid out as Linux does', () => {
  const b = emitted(SYN, new Uint8Array(0), V4_A, V4_B);
  assert.equal(b.length, 40);
  assert.deepEqual(
    Array.from(b.subarray(20)),
    [2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0, 1, 3, 3, 7],
  );
  // Without timestamps: NOP NOP SACK-permitted; SACK blocks after NOP NOP.
  const noTs = emitted(
    { ...SYN, options: { mss: 1400, sackPermitted: true, windowScale: 2, sack: [[1, 2]] } },
    new Uint8Array(0),
    V4_A,
    V4_B,
  );
  assert.deepEqual(
    Array.from(noTs.subarray(20)),
    [2, 4, 5, 0x78, 1, 1, 4, 2, 1, 3, 3, 2, 1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2],
  );
  // Unknown options go last, then EOL padding to 4 bytes.
  const unk = emitted(
    { ...SYN, options: { unknown: [{ kind: 30, data: Uint8Array.of(9) }] } },
    new Uint8Array(0),
    V4_A,
    V4_B,
  );
  assert.deepEqual(Array.from(unk.subarray(20)), [30, 3, 9, 0]);
});

test('options: EOL ends parsing, NOPs are skipped, unknown kinds are kept raw', () => {
  const r = parsed(
    withOptionBytes([1, 1, 30, 4, 0xaa, 0xbb, 2, 4, 1, 0, 0, 2, 4, 9, 9]),
    V4_A,
    V4_B,
  );
  assert.ok(typeof r !== 'string');
  assert.equal(r.options.mss, 256);
  assert.deepEqual(
    r.options.unknown?.map((u) => [u.kind, Array.from(u.data)]),
    [[30, [0xaa, 0xbb]]],
  );
  // Window shift above 14 is used as 14 (RFC 7323 §2.3).
  const ws = parsed(withOptionBytes([3, 3, 15]), V4_A, V4_B);
  assert.ok(typeof ws !== 'string');
  assert.equal(ws.options.windowScale, 14);
  // Only padding: no options.
  const pad = parsed(withOptionBytes([1, 1, 1, 0]), V4_A, V4_B);
  assert.ok(typeof pad !== 'string');
  assert.deepEqual(pad.options, {});
});

test('malformed segments and options are refused with the right kind', () => {
  const good = emitted(SYN, new Uint8Array(0), V6_A, V6_B);
  assert.equal(typeof parsed(good, V6_A, V6_B), 'object');
  assert.equal(parsed(good.subarray(0, 19), V6_A, V6_B), 'truncated');
  // Data offset beyond the buffer.
  assert.equal(parsed(good.subarray(0, 39), V6_A, V6_B), 'truncated');
  // Data offset below 5.
  for (const doff of [0, 4]) {
    const b = good.slice();
    b[12] = doff << 4;
    assert.equal(parsed(b, V6_A, V6_B), 'malformed');
  }
  // Bad checksum, and the IPv4 pseudo-header instead of the IPv6 one.
  const bad = good.slice();
  bad[TcpField.SEQ]! ^= 1;
  assert.equal(parsed(bad, V6_A, V6_B), 'bad-checksum');
  assert.equal(parsed(good, V4_A, V4_B), 'bad-checksum');
  // Ports 0.
  for (const at of [TcpField.SRC_PORT, TcpField.DST_PORT]) {
    const b = good.slice();
    putU16(b, at, 0);
    TcpView.unchecked(b).fillChecksum(V6_A, V6_B);
    assert.equal(parsed(b, V6_A, V6_B), 'malformed');
  }
  // Option lengths.
  const cases: Array<[string, number[]]> = [
    ['length 0', [30, 0]],
    ['length 1', [30, 1, 0, 0]],
    ['length past the end', [30, 6, 0, 0]],
    ['kind without length', [1, 1, 1, 30]],
    ['MSS length 3', [2, 3, 0, 1]],
    ['window scale length 4', [3, 4, 0, 0]],
    ['SACK-permitted length 3', [4, 3, 0, 1]],
    ['SACK with no block', [5, 2, 1, 1]],
    ['SACK length 12', [5, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]],
    ['timestamps length 8', [8, 8, 0, 0, 0, 0, 0, 0]],
  ];
  for (const [what, opts] of cases)
    assert.equal(parsed(withOptionBytes(opts), V4_A, V4_B), 'malformed', what);
  // Five SACK blocks (only parseTcpOptions can see them: they exceed 40 option bytes).
  assert.ok(isWireError(parseTcpOptions(Uint8Array.of(5, 42, ...new Uint8Array(40)))));
});

test('view setters rewrite in place and fillChecksum makes it verify again', () => {
  const b = emitted(
    { ...SYN, flags: TcpFlag.ACK, options: { timestamps: { value: 1, echo: 2 } }, payloadLen: 3 },
    Uint8Array.of(7, 8, 9),
    V4_A,
    V4_B,
  );
  const v = TcpView.unchecked(b);
  v.seq = 0xfffffff0;
  v.ack = 5;
  v.window = 1000;
  v.flags = TcpFlag.ACK | TcpFlag.FIN;
  v.urgent = 0;
  v.srcPort = 1;
  v.dstPort = 2;
  assert.equal(v.checksumOk(V4_A, V4_B), false);
  v.fillChecksum(V4_A, V4_B);
  const r = parsed(b, V4_A, V4_B);
  assert.ok(typeof r !== 'string');
  assert.equal(r.seq, 0xfffffff0);
  assert.equal(r.flags, TcpFlag.ACK | TcpFlag.FIN);
  assert.deepEqual(v.payload(), Uint8Array.of(7, 8, 9));
  assert.equal(v.checksum, getU16(b, TcpField.CHECKSUM));
});

test('a bare header shares the empty options object', () => {
  const b = emitted({ ...SYN, options: TCP_NO_OPTIONS }, new Uint8Array(0), V4_A, V4_B);
  const r = parsed(b, V4_A, V4_B);
  assert.ok(typeof r !== 'string');
  assert.equal(r.options, TCP_NO_OPTIONS);
  assert.equal(tcpHeaderLen(r), 20);
});

// --- Properties. ---

test('random bytes never throw through checked and parse', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 80 }), addrPair, (b, [src, dst]) => {
      const v = TcpView.checked(b);
      if (isWireError(v)) return;
      v.payload();
      v.optionBytes();
      parseTcp(v, src, dst);
    }),
    { numRuns: 2000 },
  );
});

test('random option bytes behind a valid checksum never throw', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 40 }), (opts) => {
      const r = parsed(withOptionBytes(Array.from(opts)), V4_A, V4_B);
      assert.ok(typeof r === 'string' ? r === 'malformed' : r.payloadLen === 0);
    }),
    { numRuns: 2000 },
  );
});

test('emit then parse gives the repr back, and every header byte is written', () => {
  fc.assert(
    fc.property(reprArb, fc.uint8Array({ maxLength: 64 }), addrPair, (base, payload, [s, d]) => {
      const repr: TcpRepr = { ...base, payloadLen: payload.length };
      const b = emitted(repr, payload, s, d);
      assert.deepEqual(b, emitted(repr, payload, s, d, 0));
      const back = parsed(b, s, d);
      assert.ok(typeof back !== 'string', String(back));
      assert.deepEqual(back, repr);
      assert.deepEqual(b.subarray(tcpHeaderLen(repr)), payload);
    }),
    { numRuns: 1000 },
  );
});

// --- tshark. ---

test('tshark decodes our segments (SYN with every option, data, SACK) without complaint', async () => {
  const payload = new TextEncoder().encode('bindery tcp data');
  const seg = (src: Uint8Array, dst: Uint8Array, r: TcpRepr, data = new Uint8Array(0)) => {
    const len = tcpHeaderLen(r) + data.length;
    const fill = (l4: Uint8Array) => {
      l4.set(data, tcpHeaderLen(r));
      emitTcp({ ...r, payloadLen: data.length }, l4, src, dst);
    };
    return src.length === 4 ? frame4(src, dst, 6, len, fill) : frame6(src, dst, 6, len, fill);
  };
  const frames: Uint8Array[] = [];
  for (const [a, b] of [
    [V4_A, V4_B],
    [V6_A, V6_B],
  ] as const) {
    const ts = (value: number, echo: number) => ({ timestamps: { value, echo } });
    const c = { srcPort: 50000, dstPort: 40000, urgent: 0, payloadLen: 0 };
    const s = { srcPort: 40000, dstPort: 50000, urgent: 0, payloadLen: 0 };
    frames.push(
      seg(a, b, SYN),
      seg(b, a, {
        ...s,
        seq: 1000,
        ack: SYN.seq + 1,
        flags: TcpFlag.SYN | TcpFlag.ACK,
        window: 65160,
        options: { mss: 1460, sackPermitted: true, ...ts(500, 0xdeadbeef), windowScale: 7 },
      }),
      seg(
        a,
        b,
        {
          ...c,
          seq: SYN.seq + 1,
          ack: 1001,
          flags: TcpFlag.ACK | TcpFlag.PSH,
          window: 502,
          options: ts(0xdeadbef0, 500),
        },
        payload,
      ),
      seg(b, a, {
        ...s,
        seq: 1001,
        ack: SYN.seq + 1 + payload.length,
        flags: TcpFlag.ACK,
        window: 509,
        options: {
          ...ts(501, 0xdeadbef0),
          // Blocks above the ACK, as if later segments had arrived (lower would be D-SACK).
          sack: [
            [SYN.seq + 1001, SYN.seq + 2001],
            [SYN.seq + 3001, SYN.seq + 4001],
            [SYN.seq + 5001, SYN.seq + 6001],
          ],
        },
      }),
    );
  }
  const decoded = await tsharkDecode(frames);
  assert.deepEqual(tsharkProblems(decoded), []);
  assert.deepEqual(
    decoded.map((d) => d.protocols),
    [
      'eth:ethertype:ip:tcp',
      'eth:ethertype:ip:tcp',
      'eth:ethertype:ip:tcp:data',
      'eth:ethertype:ip:tcp',
      'eth:ethertype:ipv6:tcp',
      'eth:ethertype:ipv6:tcp',
      'eth:ethertype:ipv6:tcp:data',
      'eth:ethertype:ipv6:tcp',
    ],
  );
});
