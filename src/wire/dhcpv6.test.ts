// Tests of the DHCPv6 codec: a dnsmasq/dhclient capture, malformed input, properties, tshark.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { getU16, isWireError, parseIpv6, parseMac, type WireError } from './common.js';
import { encodeName } from './dnsname.js';
import {
  DHCPV6_MAX_DEPTH,
  Dhcpv6FqdnFlag,
  Dhcpv6MessageType,
  Dhcpv6OptionCode,
  Dhcpv6Status,
  Dhcpv6View,
  DuidType,
  dhcpv6BufferLen,
  duidLl,
  duidLlt,
  emitDhcpv6,
  findAllDhcpv6Options,
  findDhcpv6Option,
  isRawDhcpv6Option,
  parseDhcpv6,
  parseDuid,
  type Dhcpv6Option,
  type Dhcpv6Repr,
  type Duid,
} from './dhcpv6.js';
import { tsharkDecode, tsharkProblems } from '../../test/lab/tshark.js';
import { buildIpv6Frame } from './build.js';
import { fixtureFrames, udpFill } from '../../test/lab/frames.js';

const ip6 = (s: string) => parseIpv6(s)!;
const mac = (s: string) => parseMac(s)!;
const bytes = (...v: number[]) => Uint8Array.from(v);

/** The UDP payload of an Ethernet + IPv6 + UDP frame (no extension headers), found by hand. */
function udpPayload6(frame: Uint8Array): Uint8Array {
  assert.equal(getU16(frame, 12), 0x86dd);
  assert.equal(frame[14 + 6], 17);
  const udp = 14 + 40;
  // A plain Uint8Array view (readFileSync gives Buffers), so reprs compare with deepEqual.
  return new Uint8Array(frame.buffer, frame.byteOffset + udp + 8, getU16(frame, udp + 4) - 8);
}

function mustParse(b: Uint8Array): Dhcpv6Repr {
  const r = parseDhcpv6(b);
  if (isWireError(r)) assert.fail(`parse failed: ${r.kind}`);
  return r;
}

/** Emits into a buffer pre-filled with 0xa5, and checks a 0x00-filled one gets the same bytes. */
function emit(repr: Dhcpv6Repr): Uint8Array {
  const len = dhcpv6BufferLen(repr);
  const a = new Uint8Array(len).fill(0xa5);
  const b = new Uint8Array(len);
  assert.equal(emitDhcpv6(repr, a), len);
  emitDhcpv6(repr, b);
  assert.deepEqual(a, b, 'emit left bytes unwritten');
  return a;
}

/** An Ethernet + IPv6 + UDP frame around `payload`, UDP checksum set. */
function udp6Frame(
  src: Uint8Array,
  dst: Uint8Array,
  sport: number,
  dport: number,
  payload: Uint8Array,
): Uint8Array {
  const multicast = dst[0] === 0xff;
  const ethDst = multicast ? bytes(0x33, 0x33, ...dst.subarray(12)) : mac('02:00:00:00:00:02');
  const ip6 = { src, dst, nextHeader: 17, hopLimit: multicast ? 1 : 64 };
  const fill = udpFill(src, dst, sport, dport, payload);
  return buildIpv6Frame(mac('02:00:00:00:00:01'), ethDst, ip6, 8 + payload.length, fill);
}

/** Option bytes: code, length, data. */
function opt(code: number, data: number[] | Uint8Array): number[] {
  return [code >> 8, code & 0xff, data.length >> 8, data.length & 0xff, ...data];
}
/** A message of type `t`, transaction id 0x123456, with `opts` bytes. */
function msg(t: number, ...opts: number[][]): Uint8Array {
  return Uint8Array.from([t, 0x12, 0x34, 0x56, ...opts.flat()]);
}

// --- fixture ---------------------------------------------------------------------------------

test('fixture dhclient6: SOLICIT, ADVERTISE, REQUEST, REPLY from dnsmasq', () => {
  const msgs = fixtureFrames('part3-dhclient6').map(udpPayload6);
  const reprs = msgs.map(mustParse);
  const T = Dhcpv6MessageType;
  assert.deepEqual(
    reprs.map((r) => r.msgType),
    [T.Solicit, T.Advertise, T.Request, T.Reply],
  );
  const [solicit, advertise, request, reply] = reprs as [
    Dhcpv6Repr,
    Dhcpv6Repr,
    Dhcpv6Repr,
    Dhcpv6Repr,
  ];
  assert.equal(advertise.transactionId, solicit.transactionId);
  assert.equal(reply.transactionId, request.transactionId);
  for (const r of reprs) assert.ok(r.transactionId <= 0xffffff);

  const clientId = findDhcpv6Option(solicit.options, Dhcpv6OptionCode.ClientId);
  assert.ok(clientId);
  assert.equal(clientId.duid.type, DuidType.Llt);
  assert.equal(clientId.duid.hwType, 1);
  assert.deepEqual(clientId.duid.linkLayerAddr, mac('02:00:00:00:77:30'));
  const oro = findDhcpv6Option(solicit.options, Dhcpv6OptionCode.Oro);
  for (const c of [23, 24, 39]) assert.ok(oro?.requested.includes(c));
  assert.equal(findDhcpv6Option(solicit.options, Dhcpv6OptionCode.ElapsedTime)?.elapsedCs, 0);
  assert.deepEqual(findDhcpv6Option(solicit.options, Dhcpv6OptionCode.ClientFqdn), {
    code: 39,
    flags: 0,
    name: 'dhc6-guest.example.com.',
  });
  const soliciaNa = findDhcpv6Option(solicit.options, Dhcpv6OptionCode.IaNa);
  assert.ok(soliciaNa);
  assert.deepEqual(soliciaNa.options, []);

  for (const r of [advertise, reply]) {
    assert.deepEqual(findDhcpv6Option(r.options, Dhcpv6OptionCode.ClientId), clientId);
    const serverId = findDhcpv6Option(r.options, Dhcpv6OptionCode.ServerId);
    assert.deepEqual(serverId?.duid.linkLayerAddr, mac('02:00:00:00:77:01'));
    const iaNa = findDhcpv6Option(r.options, Dhcpv6OptionCode.IaNa);
    assert.equal(iaNa?.iaid, soliciaNa.iaid);
    assert.equal(iaNa?.t1S, 1800);
    assert.equal(iaNa?.t2S, 3150);
    const addr = findDhcpv6Option(iaNa?.options ?? [], Dhcpv6OptionCode.IaAddr);
    assert.ok(addr);
    assert.deepEqual(addr.address.subarray(0, 15), ip6('2001:db8::').subarray(0, 15));
    assert.ok(addr.address[15]! >= 0x10 && addr.address[15]! <= 0x20);
    assert.equal(addr.preferredS, 3600);
    assert.equal(addr.validS, 3600);
    assert.deepEqual(findDhcpv6Option(r.options, Dhcpv6OptionCode.StatusCode), {
      code: 13,
      status: Dhcpv6Status.Success,
      message: 'success',
    });
    assert.deepEqual(findDhcpv6Option(r.options, Dhcpv6OptionCode.DnsServers)?.servers, [
      ip6('2001:db8::1'),
    ]);
    assert.deepEqual(findDhcpv6Option(r.options, Dhcpv6OptionCode.DomainList)?.domains, [
      'example.com',
    ]);
    // dnsmasq answers with a partial name and S|O (RFC 4704 §4.1).
    assert.deepEqual(findDhcpv6Option(r.options, Dhcpv6OptionCode.ClientFqdn), {
      code: 39,
      flags: Dhcpv6FqdnFlag.S | Dhcpv6FqdnFlag.O,
      name: 'dhc6-guest',
    });
  }
  assert.equal(findDhcpv6Option(advertise.options, Dhcpv6OptionCode.Preference)?.preference, 255);
  const reqAddr = findDhcpv6Option(
    findDhcpv6Option(request.options, Dhcpv6OptionCode.IaNa)?.options ?? [],
    Dhcpv6OptionCode.IaAddr,
  );
  const advAddr = findDhcpv6Option(
    findDhcpv6Option(advertise.options, Dhcpv6OptionCode.IaNa)?.options ?? [],
    Dhcpv6OptionCode.IaAddr,
  );
  assert.deepEqual(reqAddr?.address, advAddr?.address);

  // Options keep the sender's order, so every message re-emits byte for byte.
  msgs.forEach((m, i) => assert.deepEqual(emit(reprs[i]!), m));
});

test('Dhcpv6View reads type and 24-bit transaction id', () => {
  const v = Dhcpv6View.checked(bytes(7, 0xab, 0xcd, 0xef, 0, 14, 0, 0));
  assert.ok(!isWireError(v));
  assert.equal(v.msgType, 7);
  assert.equal(v.transactionId, 0xabcdef);
  assert.deepEqual(v.options(), bytes(0, 14, 0, 0));
  assert.ok(isWireError(Dhcpv6View.checked(bytes(1, 2, 3))));
});

// --- hand-made cases -------------------------------------------------------------------------

function err(b: Uint8Array): WireError['kind'] {
  const r = parseDhcpv6(b);
  assert.ok(isWireError(r), 'expected an error');
  return r.kind;
}

test('malformed: truncated options, short IA_NA/IAADDR, bad fixed lengths', () => {
  assert.equal(err(bytes(1, 0, 0)), 'truncated');
  assert.equal(err(msg(1, [0, 8, 0])), 'truncated'); // half an option header
  assert.equal(err(msg(1, [0, 8, 0, 4, 0, 0])), 'truncated'); // runs past the end
  assert.equal(err(msg(1, opt(3, new Array<number>(11).fill(0)))), 'malformed'); // IA_NA too short
  // IAADDR of 23 octets inside an IA_NA.
  assert.equal(
    err(
      msg(2, opt(3, [...new Array<number>(12).fill(0), ...opt(5, new Array<number>(23).fill(0))])),
    ),
    'malformed',
  );
  // An option inside IA_NA that runs past the IA_NA (though not past the message).
  assert.equal(
    err(msg(2, opt(3, [...new Array<number>(12).fill(0), 0, 13, 0, 9, 0]), opt(14, []))),
    'truncated',
  );
  assert.equal(err(msg(1, opt(1, [0]))), 'malformed'); // DUID shorter than its type
  assert.equal(err(msg(1, opt(6, [0, 23, 0]))), 'malformed');
  assert.equal(err(msg(1, opt(7, []))), 'malformed');
  assert.equal(err(msg(1, opt(8, [0, 0, 0]))), 'malformed');
  assert.equal(err(msg(1, opt(13, [0]))), 'malformed');
  assert.equal(err(msg(1, opt(23, new Array<number>(15).fill(0)))), 'malformed');
  assert.equal(err(msg(1, opt(24, [3, 0x61, 0x62]))), 'malformed');
  assert.equal(err(msg(1, opt(24, [0xc0, 0]))), 'malformed'); // compression loop
  assert.equal(err(msg(1, opt(39, []))), 'malformed');
  assert.equal(err(msg(1, opt(39, [0, 1, 0x61, 0, 0]))), 'malformed'); // bytes after the root
});

test('relay messages are unsupported', () => {
  assert.equal(err(msg(Dhcpv6MessageType.RelayForw)), 'unsupported');
  assert.equal(err(msg(Dhcpv6MessageType.RelayRepl)), 'unsupported');
});

test('nesting deeper than DHCPV6_MAX_DEPTH is malformed', () => {
  const nest = (depth: number): number[] =>
    depth === 0 ? [] : opt(3, [...new Array<number>(12).fill(0), ...nest(depth - 1)]);
  assert.ok(!isWireError(parseDhcpv6(msg(7, nest(DHCPV6_MAX_DEPTH)))));
  assert.equal(err(msg(7, nest(DHCPV6_MAX_DEPTH + 1))), 'malformed');
});

test('DUIDs: LLT, EN, LL, UUID, and shapes that only keep type and raw', () => {
  const llt = duidLlt(1, 0x12345678, mac('52:54:00:12:34:56'));
  assert.deepEqual(
    llt.raw,
    bytes(0, 1, 0, 1, 0x12, 0x34, 0x56, 0x78, 0x52, 0x54, 0, 0x12, 0x34, 0x56),
  );
  assert.equal(llt.timeS, 0x12345678);
  const ll = duidLl(1, mac('52:54:00:12:34:56'));
  assert.deepEqual(ll, {
    raw: bytes(0, 3, 0, 1, 0x52, 0x54, 0, 0x12, 0x34, 0x56),
    type: DuidType.Ll,
    hwType: 1,
    linkLayerAddr: mac('52:54:00:12:34:56'),
  });
  assert.deepEqual(parseDuid(bytes(0, 2, 0, 0, 0x01, 0x37, 9, 9)), {
    raw: bytes(0, 2, 0, 0, 0x01, 0x37, 9, 9),
    type: DuidType.En,
    enterpriseNumber: 311,
    identifier: bytes(9, 9),
  });
  const uuid = Uint8Array.from({ length: 16 }, (_, i) => i);
  assert.deepEqual((parseDuid(bytes(0, 4, ...uuid)) as Duid).uuid, uuid);
  // A UUID DUID of the wrong length and an unknown type: opaque.
  assert.deepEqual(parseDuid(bytes(0, 4, 1, 2)), { raw: bytes(0, 4, 1, 2), type: 4 });
  assert.deepEqual(parseDuid(bytes(0, 9)), { raw: bytes(0, 9), type: 9 });
  assert.ok(isWireError(parseDuid(bytes(0))));
});

test('unknown options stay raw, and several IA_NA keep their order', () => {
  const ia = (iaid: number) => [0, 0, 0, iaid, 0, 0, 0, 0, 0, 0, 0, 0];
  const m = msg(1, opt(3, ia(1)), opt(25, ia(2)), opt(3, ia(3)), opt(0xfff0, [1, 2, 3]));
  const r = mustParse(m);
  assert.deepEqual(
    findAllDhcpv6Options(r.options, Dhcpv6OptionCode.IaNa).map((o) => o.iaid),
    [1, 3],
  );
  assert.deepEqual(r.options.filter(isRawDhcpv6Option), [
    { code: 25, data: Uint8Array.from(ia(2)) },
    { code: 0xfff0, data: bytes(1, 2, 3) },
  ]);
  assert.deepEqual(emit(r), m);
});

test('client FQDN: fully qualified, partial and empty names (RFC 4704 §4.2)', () => {
  const full = encodeName('vm.example.com')!;
  const r = mustParse(msg(1, opt(39, [1, ...full]), opt(39, [0, 2, 0x76, 0x6d]), opt(39, [4])));
  assert.deepEqual(
    r.options.map((o) => (o.code === 39 && !isRawDhcpv6Option(o) ? o : undefined)),
    [
      { code: 39, flags: 1, name: 'vm.example.com.' },
      { code: 39, flags: 0, name: 'vm' },
      { code: 39, flags: 4, name: '' },
    ],
  );
  assert.deepEqual(mustParse(emit(r)), r);
});

// --- properties ------------------------------------------------------------------------------

test('property: random bytes never throw', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
      parseDhcpv6(b);
      parseDuid(b);
    }),
    { numRuns: 2000 },
  );
});

test('property: random option lists never throw, and what parses re-emits to the same repr', () => {
  // Structured noise: real option headers with random bodies reach the typed decoders.
  const arbOpt = fc
    .tuple(
      fc.constantFrom(1, 2, 3, 5, 6, 7, 8, 13, 14, 23, 24, 39, 25, 0xffff),
      fc.uint8Array({ maxLength: 40 }),
    )
    .map(([c, d]) => opt(c, d));
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 255 }), fc.array(arbOpt, { maxLength: 6 }), (t, os) => {
      const m = msg(t, ...os);
      const r = parseDhcpv6(m);
      // Text that is not UTF-8 and data in Rapid Commit do not survive byte for byte; the repr does.
      if (!isWireError(r)) assert.deepEqual(mustParse(emit(r)), r);
    }),
    { numRuns: 2000 },
  );
});

const u8 = fc.integer({ min: 0, max: 255 });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const arbAddr6 = fc.uint8Array({ minLength: 16, maxLength: 16 });
const arbLabel = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,15}[a-z0-9])?$/);
const arbName = fc.array(arbLabel, { maxLength: 4 }).map((l) => l.join('.'));
const arbDuid = fc
  .oneof(
    fc.tuple(u16, u32, fc.uint8Array({ maxLength: 8 })).map(([h, t, l]) => duidLlt(h, t, l)),
    fc.tuple(u16, fc.uint8Array({ maxLength: 8 })).map(([h, l]) => duidLl(h, l)),
    fc.uint8Array({ minLength: 2, maxLength: 20 }).map((b) => parseDuid(b) as Duid),
  )
  .map((d) => ({ ...d }));
const KNOWN = new Set([1, 2, 3, 5, 6, 7, 8, 13, 14, 23, 24, 39, 12, 13]);

/** Random typed and raw options; IA_NA and IAADDR nest up to DHCPV6_MAX_DEPTH. */
const { option: arbOption } = fc.letrec<{ option: Dhcpv6Option; list: Dhcpv6Option[] }>((tie) => ({
  list: fc.array(tie('option'), { maxLength: 3 }),
  option: fc.oneof(
    { depthSize: 'small', maxDepth: DHCPV6_MAX_DEPTH },
    fc
      .tuple(fc.constantFrom(1 as const, 2 as const), arbDuid)
      .map(([code, duid]) => ({ code, duid })),
    fc.tuple(u32, u32, u32, tie('list')).map(([iaid, t1S, t2S, options]) => ({
      code: 3 as const,
      iaid,
      t1S,
      t2S,
      options,
    })),
    fc.tuple(arbAddr6, u32, u32, tie('list')).map(([address, preferredS, validS, options]) => ({
      code: 5 as const,
      address,
      preferredS,
      validS,
      options,
    })),
    fc.array(u16, { maxLength: 6 }).map((requested) => ({ code: 6 as const, requested })),
    u8.map((preference) => ({ code: 7 as const, preference })),
    u16.map((elapsedCs) => ({ code: 8 as const, elapsedCs })),
    fc.tuple(u16, fc.string({ maxLength: 30 })).map(([status, message]) => ({
      code: 13 as const,
      status,
      message,
    })),
    fc.constant({ code: 14 as const }),
    fc.array(arbAddr6, { maxLength: 3 }).map((servers) => ({ code: 23 as const, servers })),
    fc.array(arbName, { maxLength: 4 }).map((domains) => ({ code: 24 as const, domains })),
    fc.tuple(u8, arbName, fc.boolean()).map(([flags, n, fq]) => ({
      code: 39 as const,
      flags,
      name: fq ? `${n}.` : n,
    })),
    fc
      .tuple(
        u16.filter((c) => !KNOWN.has(c)),
        fc.uint8Array({ maxLength: 30 }),
      )
      .map(([code, data]) => ({ code, data })),
  ),
}));

const arbRepr: fc.Arbitrary<Dhcpv6Repr> = fc
  .tuple(
    u8.filter((t) => t !== 12 && t !== 13),
    fc.integer({ min: 0, max: 0xffffff }),
    fc.array(arbOption, { maxLength: 8 }),
  )
  .map(([msgType, transactionId, options]) => ({ msgType, transactionId, options }));

test('property: emit then parse gives the repr back', () => {
  fc.assert(
    fc.property(arbRepr, (repr) => {
      const out = emit(repr);
      assert.deepEqual(mustParse(out), repr);
    }),
    { numRuns: 1000 },
  );
});

// --- tshark ----------------------------------------------------------------------------------

test('tshark decodes emitted messages with every option kind, without problems', async () => {
  const client = ip6('fe80::5054:ff:fe12:3456');
  const server = ip6('fe80::1');
  const allServers = ip6('ff02::1:2');
  const clientId = { code: 1 as const, duid: duidLl(1, mac('52:54:00:12:34:56')) };
  const serverId = { code: 2 as const, duid: duidLlt(1, 0x2e000000, mac('02:00:00:00:00:01')) };
  const solicit: Dhcpv6Repr = {
    msgType: Dhcpv6MessageType.Solicit,
    transactionId: 0xabcdef,
    options: [
      clientId,
      { code: 6, requested: [23, 24, 39] },
      { code: 8, elapsedCs: 0 },
      { code: 14 },
      { code: 39, flags: Dhcpv6FqdnFlag.S, name: 'guest' },
      { code: 3, iaid: 1, t1S: 0, t2S: 0, options: [] },
    ],
  };
  const reply: Dhcpv6Repr = {
    msgType: Dhcpv6MessageType.Reply,
    transactionId: 0xabcdef,
    options: [
      clientId,
      serverId,
      {
        code: 3,
        iaid: 1,
        t1S: 0xffffffff,
        t2S: 0xffffffff,
        options: [
          {
            code: 5,
            address: ip6('2001:db8::15'),
            preferredS: 0xffffffff,
            validS: 0xffffffff,
            options: [{ code: 13, status: Dhcpv6Status.Success, message: 'assigned' }],
          },
          { code: 13, status: Dhcpv6Status.Success, message: '' },
        ],
      },
      { code: 14 },
      { code: 7, preference: 255 },
      { code: 23, servers: [ip6('2001:db8::1'), ip6('2001:4860:4860::8888')] },
      { code: 24, domains: ['example.com', 'lab.example.com'] },
      { code: 39, flags: Dhcpv6FqdnFlag.S | Dhcpv6FqdnFlag.O, name: 'guest.example.com.' },
    ],
  };
  const info: Dhcpv6Repr = {
    msgType: Dhcpv6MessageType.InformationRequest,
    transactionId: 0x000001,
    options: [
      { code: 1, duid: parseDuid(bytes(0, 2, 0, 0, 0x01, 0x37, 1, 2, 3, 4)) as Duid },
      { code: 2, duid: parseDuid(bytes(0, 4, ...new Array<number>(16).fill(7))) as Duid },
      { code: 8, elapsedCs: 100 },
      { code: 6, requested: [23, 24] },
      { code: 21, data: encodeName('sip.example.com')! },
    ],
  };
  const frames = [
    udp6Frame(client, allServers, 546, 547, emit(solicit)),
    udp6Frame(server, client, 547, 546, emit(reply)),
    udp6Frame(client, allServers, 546, 547, emit(info)),
  ];
  const out = await tsharkDecode(frames);
  assert.equal(out.length, frames.length);
  for (const f of out) assert.equal(f.protocols, 'eth:ethertype:ipv6:udp:dhcpv6');
  assert.deepEqual(tsharkProblems(out), []);
});
