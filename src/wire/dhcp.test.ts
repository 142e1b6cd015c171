// Tests of the DHCPv4 codec: dnsmasq/dhclient/udhcpc captures, malformed input, properties, tshark.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { getU16, isWireError, parseIpv4, parseMac, type WireError } from './common.js';
import { encodeName } from './dnsname.js';
import {
  BOOTP_MIN_LEN,
  DhcpFqdnFlag,
  DhcpMessageType,
  DhcpOp,
  DhcpOptionCode,
  DhcpView,
  dhcpBufferLen,
  emitDhcp,
  parseDhcp,
  type DhcpRepr,
} from './dhcp.js';
import { tsharkDecode, tsharkProblems } from '../../test/lab/tshark.js';
import { buildIpv4Frame } from './build.js';
import { fixtureFrames, udpFill } from '../../test/lab/frames.js';

const ip = (s: string) => parseIpv4(s)!;
const mac = (s: string) => parseMac(s)!;
const bytes = (...v: number[]) => Uint8Array.from(v);
const ascii = (s: string) => new TextEncoder().encode(s);

/** The UDP payload of an Ethernet + IPv4 + UDP frame, found by hand. */
function udpPayload4(frame: Uint8Array): Uint8Array {
  assert.equal(getU16(frame, 12), 0x0800);
  const ihl = (frame[14]! & 0x0f) * 4;
  assert.equal(frame[14 + 9], 17);
  const udp = 14 + ihl;
  // A plain Uint8Array view (readFileSync gives Buffers), so reprs compare with deepEqual.
  const len = getU16(frame, udp + 4) - 8;
  return new Uint8Array(frame.buffer, frame.byteOffset + udp + 8, len);
}

function fixture(name: string): Uint8Array[] {
  return fixtureFrames(name).map(udpPayload4);
}

function mustParse(b: Uint8Array): DhcpRepr {
  const r = parseDhcp(b);
  if (isWireError(r)) assert.fail(`parse failed: ${r.kind}`);
  return r;
}

/** Emits into a buffer pre-filled with 0xa5, and checks a 0x00-filled one gets the same bytes. */
function emit(repr: DhcpRepr): Uint8Array {
  const len = dhcpBufferLen(repr);
  const a = new Uint8Array(len).fill(0xa5);
  const b = new Uint8Array(len);
  assert.equal(emitDhcp(repr, a), len);
  emitDhcp(repr, b);
  assert.deepEqual(a, b, 'emit left bytes unwritten');
  return a;
}

function withoutOrder(r: DhcpRepr): DhcpRepr {
  const { optionOrder: _o, ...rest } = r;
  return rest;
}

/** An Ethernet + IPv4 + UDP frame around `payload`, checksums set. */
function udp4Frame(
  src: Uint8Array,
  dst: Uint8Array,
  sport: number,
  dport: number,
  payload: Uint8Array,
): Uint8Array {
  const ip4 = { src, dst, protocol: 17, dontFragment: false };
  const fill = udpFill(src, dst, sport, dport, payload);
  return buildIpv4Frame(
    mac('02:00:00:00:00:01'),
    mac('ff:ff:ff:ff:ff:ff'),
    ip4,
    8 + payload.length,
    fill,
  );
}

const BASE: DhcpRepr = {
  op: DhcpOp.BootRequest,
  htype: 1,
  hlen: 6,
  hops: 0,
  xid: 0x12345678,
  secs: 0,
  broadcast: false,
  ciaddr: ip('0.0.0.0'),
  yiaddr: ip('0.0.0.0'),
  siaddr: ip('0.0.0.0'),
  giaddr: ip('0.0.0.0'),
  chaddr: Uint8Array.from([...mac('52:54:00:12:34:56'), ...new Array<number>(10).fill(0)]),
  sname: new Uint8Array(0),
  file: new Uint8Array(0),
  options: [],
};

/** A raw message: fixed header of BASE, cookie, then `opts` bytes as given. */
function rawMessage(opts: number[], cookie = true): Uint8Array {
  const head = emit({ ...BASE, messageType: 1 }).subarray(0, 236);
  const c = cookie ? [99, 130, 83, 99] : [1, 2, 3, 4];
  return Uint8Array.from([...head, ...c, ...opts]);
}

// --- fixtures --------------------------------------------------------------------------------

test('fixture dhclient4: DISCOVER, OFFER, REQUEST, ACK from dnsmasq', () => {
  const msgs = fixture('part3-dhclient4');
  const reprs = msgs.map(mustParse);
  assert.deepEqual(
    reprs.map((r) => r.messageType),
    [DhcpMessageType.Discover, DhcpMessageType.Offer, DhcpMessageType.Request, DhcpMessageType.Ack],
  );
  const [discover, offer, request, ack] = reprs as [DhcpRepr, DhcpRepr, DhcpRepr, DhcpRepr];
  for (const r of reprs) {
    assert.equal(r.xid, discover.xid);
    assert.deepEqual(r.chaddr.subarray(0, r.hlen), mac('02:00:00:00:77:10'));
    assert.equal(r.vendorArea, undefined);
  }
  assert.equal(discover.op, DhcpOp.BootRequest);
  assert.equal(discover.hostName, 'dhc-guest');
  assert.deepEqual(discover.clientFqdn, {
    flags: DhcpFqdnFlag.S,
    rcode1: 0,
    rcode2: 0,
    name: 'dhc-guest.example.com.',
  });
  for (const code of [1, 3, 6, 26, 119, 121])
    assert.ok(discover.parameterRequestList?.includes(code));

  assert.equal(offer.op, DhcpOp.BootReply);
  const y = offer.yiaddr;
  assert.ok(y[0] === 192 && y[1] === 168 && y[2] === 77 && y[3]! >= 50 && y[3]! <= 60);
  assert.deepEqual(offer.serverId, ip('192.168.77.1'));
  assert.deepEqual(offer.subnetMask, ip('255.255.255.0'));
  assert.deepEqual(offer.broadcastAddr, ip('192.168.77.255'));
  assert.deepEqual(offer.routers, [ip('192.168.77.1')]);
  assert.equal(offer.leaseTimeS, 3600);
  assert.equal(offer.renewalTimeS, 1800);
  assert.equal(offer.rebindingTimeS, 3150);
  assert.equal(offer.interfaceMtu, 1400);
  // dnsmasq compresses the RFC 3397 list: "lab" + pointer to offset 0.
  assert.deepEqual(offer.domainSearch, ['example.com', 'lab.example.com']);
  assert.deepEqual(offer.classlessRoutes, [
    { prefix: ip('10.10.0.0'), prefixLen: 16, router: ip('192.168.77.1') },
    { prefix: ip('0.0.0.0'), prefixLen: 0, router: ip('192.168.77.1') },
  ]);
  assert.deepEqual(offer.clientFqdn, { flags: 1, rcode1: 255, rcode2: 255, name: 'dhc-guest' });

  assert.deepEqual(request.requestedAddr, y);
  assert.deepEqual(request.serverId, ip('192.168.77.1'));
  assert.deepEqual(ack.yiaddr, y);
  assert.equal(msgs[0]!.length, BOOTP_MIN_LEN);
});

test('fixture udhcpc: client id, vendor class, max size, FQDN; OFFER and ACK', () => {
  const reprs = fixture('part3-udhcpc').map(mustParse);
  assert.deepEqual(
    reprs.map((r) => r.messageType),
    [1, 2, 3, 5],
  );
  const [discover, offer, request] = reprs as [DhcpRepr, DhcpRepr, DhcpRepr];
  assert.deepEqual(discover.clientId, bytes(1, ...mac('02:00:00:00:77:20')));
  assert.deepEqual(discover.vendorClass, ascii('udhcp 1.35.0'));
  assert.equal(discover.maxMessageSize, 576);
  assert.deepEqual(discover.clientFqdn?.name, 'bb-guest');
  assert.ok(discover.parameterRequestList?.includes(DhcpOptionCode.DomainSearch));
  assert.ok(discover.parameterRequestList?.includes(DhcpOptionCode.ClasslessStaticRoute));
  assert.deepEqual(request.requestedAddr, offer.yiaddr);
  assert.deepEqual(offer.domainSearch, ['example.com', 'lab.example.com']);
});

test('fixture rapid: DISCOVER with Rapid Commit answered by an ACK (RFC 4039)', () => {
  const reprs = fixture('part3-rapid').map(mustParse);
  assert.deepEqual(
    reprs.map((r) => [r.messageType, r.rapidCommit]),
    [
      [DhcpMessageType.Discover, true],
      [DhcpMessageType.Ack, true],
    ],
  );
  assert.ok(reprs[1]!.yiaddr.some((b) => b !== 0));
});

test('fixtures re-emit byte for byte (except the 1-octet Rapid Commit busybox sends)', () => {
  for (const name of ['part3-dhclient4', 'part3-udhcpc', 'part3-rapid']) {
    fixture(name).forEach((msg, i) => {
      const repr = mustParse(msg);
      const out = emit(repr);
      if (name === 'part3-rapid' && i === 0) {
        // busybox `-x 0x50:00` sends option 80 with one octet; RFC 4039 §4 says length 0, and
        // so does emit: the bytes differ there, the reprs do not.
        assert.notDeepEqual(out, msg);
        assert.deepEqual(mustParse(out), repr);
      } else assert.deepEqual(out, msg, `${name} #${i}`);
    });
  }
});

test('DhcpView reads the fixed header of a capture in place', () => {
  const msg = fixture('part3-dhclient4')[1]!;
  const v = DhcpView.checked(msg);
  assert.ok(!isWireError(v));
  assert.equal(v.op, 2);
  assert.equal(v.htype, 1);
  assert.equal(v.hlen, 6);
  assert.equal(v.hops, 0);
  assert.equal(v.broadcast, false);
  assert.deepEqual(v.clientHwAddr, mac('02:00:00:00:77:10'));
  assert.deepEqual(v.siaddr, ip('192.168.77.1'));
  assert.ok(v.hasCookie);
  assert.equal(v.options()[0], DhcpOptionCode.MessageType);
  assert.equal(v.sname.length, 64);
  assert.equal(v.file.length, 128);
  assert.equal(v.chaddr.length, 16);
});

// --- hand-made cases -------------------------------------------------------------------------

function err(b: Uint8Array): WireError['kind'] {
  const r = parseDhcp(b);
  assert.ok(isWireError(r), 'expected an error');
  return r.kind;
}

test('malformed: short header, options past the end, bad lengths', () => {
  assert.equal(err(new Uint8Array(235)), 'truncated');
  assert.equal(err(rawMessage([53, 1, 1, 12, 10, 0x61])), 'truncated'); // runs past the end
  assert.equal(err(rawMessage([53, 1, 1, 12])), 'truncated'); // length octet missing
  assert.equal(err(rawMessage([53, 2, 1, 1, 255])), 'malformed');
  assert.equal(err(rawMessage([1, 3, 255, 255, 255, 255])), 'malformed');
  assert.equal(err(rawMessage([3, 6, 1, 2, 3, 4, 5, 6, 255])), 'malformed');
  assert.equal(err(rawMessage([26, 1, 5, 255])), 'malformed');
  assert.equal(err(rawMessage([81, 2, 0, 0, 255])), 'malformed');
  // E flag and a label that runs past the option.
  assert.equal(err(rawMessage([81, 5, 4, 0, 0, 5, 0x61, 255])), 'malformed');
  // RFC 3442: width 33, and a route cut short.
  assert.equal(err(rawMessage([121, 5, 33, 1, 2, 3, 4, 255])), 'malformed');
  assert.equal(err(rawMessage([121, 6, 24, 10, 0, 0, 1, 2, 255])), 'malformed');
  // Overload with a bad value.
  assert.equal(err(rawMessage([52, 1, 4, 255])), 'malformed');
});

test('malformed: compression loop and forward pointer in option 119', () => {
  assert.equal(err(rawMessage([53, 1, 1, 119, 2, 0xc0, 0x00, 255])), 'malformed');
  assert.equal(err(rawMessage([119, 6, 1, 0x61, 0xc0, 0x00, 0xc0, 0x02, 255])), 'malformed');
  // A name pointing back into itself through two runs.
  assert.equal(
    err(rawMessage([119, 8, 1, 0x61, 0xc0, 0x04, 1, 0x62, 0xc0, 0x00, 255])),
    'malformed',
  );
});

test('bad cookie: read as plain BOOTP, vendor area kept, no options decoded', () => {
  const msg = rawMessage([53, 1, 1, 255], false);
  const r = mustParse(msg);
  assert.deepEqual(r.vendorArea, bytes(1, 2, 3, 4, 53, 1, 1, 255));
  assert.equal(r.messageType, undefined);
  assert.deepEqual(r.options, []);
  const out = emit(r);
  assert.equal(out.length, BOOTP_MIN_LEN);
  assert.deepEqual(out.subarray(0, msg.length), msg);
  assert.ok(out.subarray(msg.length).every((b) => b === 0));
  // A 236-octet BOOTP message with no vendor area at all.
  assert.deepEqual(mustParse(msg.subarray(0, 236)).vendorArea, new Uint8Array(0));
});

test('pad options are skipped, End is optional, bytes after End are ignored', () => {
  const r = mustParse(rawMessage([0, 0, 53, 1, 3, 0, 51, 4, 0, 0, 1, 0]));
  assert.equal(r.messageType, 3);
  assert.equal(r.leaseTimeS, 256);
  const s = mustParse(rawMessage([53, 1, 3, 255, 12, 200]));
  assert.equal(s.hostName, undefined);
});

test('unknown options are kept raw, in order, and re-emitted', () => {
  const r = mustParse(rawMessage([53, 1, 1, 42, 4, 10, 0, 0, 1, 224, 0, 43, 2, 0xaa, 0xbb, 255]));
  assert.deepEqual(r.options, [
    { code: 42, data: bytes(10, 0, 0, 1) },
    { code: 224, data: new Uint8Array(0) },
    { code: 43, data: bytes(0xaa, 0xbb) },
  ]);
  assert.deepEqual(r.optionOrder, [53, 42, 224, 43]);
  const out = emit(r);
  assert.deepEqual(
    out.subarray(0, 256),
    rawMessage([53, 1, 1, 42, 4, 10, 0, 0, 1, 224, 0, 43, 2, 0xaa, 0xbb, 255]),
  );
});

test('RFC 3396: a long option is split on emit and concatenated on parse', () => {
  const name = 'h'.repeat(600);
  const repr: DhcpRepr = { ...BASE, messageType: 1, hostName: name };
  const out = emit(repr);
  // 53 (3 octets), then 12/255, 12/255, 12/90, End.
  assert.equal(out.length, 240 + 3 + 600 + 6 + 1);
  assert.deepEqual([out[243], out[244]], [12, 255]);
  assert.deepEqual([out[243 + 257], out[244 + 257]], [12, 255]);
  assert.deepEqual([out[243 + 514], out[244 + 514]], [12, 90]);
  assert.equal(mustParse(out).hostName, name);
  // Instances of one option spread around others are joined too (RFC 3396 §7).
  const r = mustParse(rawMessage([3, 4, 10, 0, 0, 1, 53, 1, 2, 3, 4, 10, 0, 0, 2, 255]));
  assert.deepEqual(r.routers, [ip('10.0.0.1'), ip('10.0.0.2')]);
});

test('option overload (52): options in file and sname are read, fields reported empty', () => {
  const msg = rawMessage([53, 1, 5, 52, 1, 3, 3, 4, 10, 0, 0, 1, 255]);
  // file (offset 108): the rest of 3 (RFC 3396 concatenation), then 51; sname (44): 54.
  msg.set([3, 4, 10, 0, 0, 2, 51, 4, 0, 0, 0x0e, 0x10, 255], 108);
  msg.set([54, 4, 10, 0, 0, 254, 255], 44);
  const r = mustParse(msg);
  assert.equal(r.messageType, 5);
  assert.deepEqual(r.routers, [ip('10.0.0.1'), ip('10.0.0.2')]);
  assert.equal(r.leaseTimeS, 3600);
  assert.deepEqual(r.serverId, ip('10.0.0.254'));
  assert.deepEqual(r.file, new Uint8Array(0));
  assert.deepEqual(r.sname, new Uint8Array(0));
  assert.equal(r.optionOrder?.includes(52), false);
  // Emit never overloads: everything goes to the options field.
  const back = mustParse(emit(r));
  assert.deepEqual(withoutOrder(back), withoutOrder(r));
  // Only file (1): sname stays a name.
  const m2 = rawMessage([53, 1, 5, 52, 1, 1, 255]);
  m2.set([51, 4, 0, 0, 0, 60, 255], 108);
  m2.set(ascii('boot-server'), 44);
  const r2 = mustParse(m2);
  assert.equal(r2.leaseTimeS, 60);
  assert.deepEqual(r2.sname, ascii('boot-server'));
});

test('client FQDN with the E flag: canonical wire format, partial or fully qualified', () => {
  const full = encodeName('vm.example.com')!;
  const r = mustParse(rawMessage([81, 3 + full.length, 0x05, 0, 0, ...full, 255]));
  assert.deepEqual(r.clientFqdn, { flags: 0x05, rcode1: 0, rcode2: 0, name: 'vm.example.com.' });
  const p = mustParse(rawMessage([81, 6, 0x05, 0, 0, 2, 0x76, 0x6d, 255]));
  assert.equal(p.clientFqdn?.name, 'vm');
  const e = mustParse(rawMessage([81, 3, 0x04, 255, 255, 255]));
  assert.equal(e.clientFqdn?.name, '');
  for (const x of [r, p, e]) assert.deepEqual(mustParse(emit(x)), x);
});

test('emit pads to 300 octets after End and sets the broadcast flag', () => {
  const out = emit({ ...BASE, broadcast: true, messageType: 1 });
  assert.equal(out.length, 300);
  assert.deepEqual(Array.from(out.subarray(236, 244)), [99, 130, 83, 99, 53, 1, 1, 255]);
  assert.ok(out.subarray(244).every((b) => b === 0));
  assert.equal(getU16(out, 10), 0x8000);
});

// --- properties ------------------------------------------------------------------------------

test('property: random bytes never throw', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), (b) => {
      parseDhcp(b);
      const v = DhcpView.checked(b);
      if (!isWireError(v)) {
        void [v.op, v.xid, v.secs, v.flags, v.ciaddr, v.chaddr, v.sname, v.file, v.options()];
      }
    }),
    { numRuns: 2000 },
  );
});

test('property: random option areas after a valid header never throw', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 300 }), (opts) => {
      const r = parseDhcp(rawMessage(opts));
      if (!isWireError(r)) assert.deepEqual(withoutOrder(mustParse(emit(r))), withoutOrder(r));
    }),
    { numRuns: 2000 },
  );
});

const arbAddr = fc.uint8Array({ minLength: 4, maxLength: 4 });
const u8 = fc.integer({ min: 0, max: 255 });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const trimmed = (max: number) =>
  fc.uint8Array({ maxLength: max }).map((b) => {
    let end = b.length;
    while (end > 0 && b[end - 1] === 0) end--;
    return b.slice(0, end);
  });
const arbLabel = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,15}[a-z0-9])?$/);
const arbName = fc.array(arbLabel, { maxLength: 4 }).map((l) => l.join('.'));
const arbRoute = fc
  .record({ prefixLen: fc.integer({ min: 0, max: 32 }), p: arbAddr, router: arbAddr })
  .map(({ prefixLen, p, router }) => {
    const prefix = new Uint8Array(4);
    for (let i = 0; i < 4; i++) {
      const bits = Math.max(0, Math.min(8, prefixLen - i * 8));
      prefix[i] = p[i]! & ((0xff << (8 - bits)) & 0xff);
    }
    return { prefix, prefixLen, router };
  });
// fc.record builds null-prototype objects; spread them so deepEqual compares like with like.
const arbFqdn = fc
  .oneof(
    fc.record({
      flags: u8.map((f) => f | DhcpFqdnFlag.E),
      rcode1: u8,
      rcode2: u8,
      name: fc.tuple(arbName, fc.boolean()).map(([n, fq]) => (fq ? `${n}.` : n)),
    }),
    fc.record({
      flags: u8.map((f) => f & ~DhcpFqdnFlag.E),
      rcode1: u8,
      rcode2: u8,
      name: fc.string({ maxLength: 40 }),
    }),
  )
  .map((f) => ({ ...f }));
const TYPED_CODES = new Set([
  1, 3, 6, 12, 15, 26, 28, 50, 51, 52, 53, 54, 55, 57, 58, 59, 60, 61, 80, 81, 119, 121,
]);
const arbRaw = fc.uniqueArray(
  fc
    .record({
      code: fc.integer({ min: 1, max: 254 }).filter((c) => !TYPED_CODES.has(c)),
      data: fc.uint8Array({ maxLength: 300 }),
    })
    .map((o) => ({ ...o })),
  { selector: (o) => o.code, maxLength: 4 },
);

const arbHeader = fc.record({
  op: fc.constantFrom(1, 2),
  htype: u8,
  hlen: u8,
  hops: u8,
  xid: u32,
  secs: u16,
  broadcast: fc.boolean(),
  ciaddr: arbAddr,
  yiaddr: arbAddr,
  siaddr: arbAddr,
  giaddr: arbAddr,
  chaddr: fc.uint8Array({ minLength: 16, maxLength: 16 }),
  sname: trimmed(64),
  file: trimmed(128),
});

const arbOptions = fc.record(
  {
    messageType: u8,
    subnetMask: arbAddr,
    routers: fc.array(arbAddr, { maxLength: 3 }),
    dnsServers: fc.array(arbAddr, { maxLength: 70 }),
    hostName: fc.string({ maxLength: 300 }),
    domainName: fc.string({ maxLength: 30 }),
    interfaceMtu: u16,
    broadcastAddr: arbAddr,
    requestedAddr: arbAddr,
    leaseTimeS: u32,
    serverId: arbAddr,
    parameterRequestList: fc.array(u8, { maxLength: 20 }),
    maxMessageSize: u16,
    renewalTimeS: u32,
    rebindingTimeS: u32,
    vendorClass: fc.uint8Array({ maxLength: 40 }),
    clientId: fc.uint8Array({ maxLength: 20 }),
    rapidCommit: fc.constant(true as const),
    clientFqdn: arbFqdn,
    domainSearch: fc.array(arbName, { maxLength: 6 }),
    classlessRoutes: fc.array(arbRoute, { maxLength: 5 }),
    options: arbRaw,
  },
  { requiredKeys: ['options'] },
);

const arbDhcp: fc.Arbitrary<DhcpRepr> = fc
  .tuple(arbHeader, arbOptions)
  .map(([h, o]) => ({ ...h, ...o }));

const arbBootp: fc.Arbitrary<DhcpRepr> = fc
  .tuple(arbHeader, trimmed(100))
  .filter(([, v]) => !(v[0] === 99 && v[1] === 130 && v[2] === 83 && v[3] === 99))
  .map(([h, vendorArea]) => ({ ...h, vendorArea, options: [] }));

test('property: emit then parse gives the repr back (DHCP and BOOTP)', () => {
  fc.assert(
    fc.property(fc.oneof(arbDhcp, arbBootp), (repr) => {
      const out = emit(repr);
      assert.ok(out.length >= BOOTP_MIN_LEN);
      const back = mustParse(out);
      assert.deepEqual(withoutOrder(back), repr);
      // With the order parse recorded, the bytes come back exactly.
      assert.deepEqual(emit(back), out);
    }),
    { numRuns: 1000 },
  );
});

test('property: optionOrder is followed on emit', () => {
  fc.assert(
    fc.property(arbDhcp, (repr) => {
      const order = [...(mustParse(emit(repr)).optionOrder ?? [])].reverse();
      const back = mustParse(emit({ ...repr, optionOrder: order }));
      assert.deepEqual(back.optionOrder, order);
    }),
    { numRuns: 300 },
  );
});

// --- tshark ----------------------------------------------------------------------------------

test('tshark decodes emitted messages with every option kind, without problems', async () => {
  const client = ip('0.0.0.0');
  const bcast = ip('255.255.255.255');
  const server = ip('10.0.2.2');
  const discover: DhcpRepr = {
    ...BASE,
    broadcast: true,
    messageType: DhcpMessageType.Discover,
    requestedAddr: ip('10.0.2.15'),
    hostName: 'guest',
    parameterRequestList: [1, 3, 6, 12, 15, 26, 28, 51, 119, 121],
    maxMessageSize: 1500,
    vendorClass: ascii('bindery-test'),
    clientId: bytes(1, ...mac('52:54:00:12:34:56')),
    rapidCommit: true,
    clientFqdn: {
      flags: DhcpFqdnFlag.S | DhcpFqdnFlag.E,
      rcode1: 0,
      rcode2: 0,
      name: 'guest.example.com.',
    },
  };
  const offer: DhcpRepr = {
    ...BASE,
    op: DhcpOp.BootReply,
    yiaddr: ip('10.0.2.15'),
    siaddr: server,
    messageType: DhcpMessageType.Ack,
    serverId: server,
    leaseTimeS: 0xffffffff,
    renewalTimeS: 0xffffffff,
    rebindingTimeS: 0xffffffff,
    subnetMask: ip('255.255.255.0'),
    broadcastAddr: ip('10.0.2.255'),
    routers: [server],
    dnsServers: [ip('10.0.2.3'), ip('1.1.1.1')],
    hostName: 'guest',
    domainName: 'example.com',
    interfaceMtu: 65520,
    rapidCommit: true,
    clientFqdn: {
      flags: DhcpFqdnFlag.E | DhcpFqdnFlag.O | DhcpFqdnFlag.S,
      rcode1: 255,
      rcode2: 255,
      name: 'guest.example.com.',
    },
    domainSearch: ['example.com', 'lab.example.com', 'corp.example.org'],
    classlessRoutes: [
      { prefix: ip('10.10.0.0'), prefixLen: 16, router: server },
      { prefix: ip('172.16.128.0'), prefixLen: 17, router: server },
      { prefix: ip('192.0.2.1'), prefixLen: 32, router: server },
      { prefix: ip('0.0.0.0'), prefixLen: 0, router: server },
    ],
    options: [{ code: 42, data: bytes(10, 0, 2, 2) }],
  };
  const ascii81: DhcpRepr = {
    ...discover,
    broadcast: false,
    messageType: DhcpMessageType.Request,
    rapidCommit: undefined,
    // Split in two instances (RFC 3396).
    hostName: 'h'.repeat(300),
    clientFqdn: { flags: DhcpFqdnFlag.S, rcode1: 0, rcode2: 0, name: 'guest' },
  };
  const frames = [
    udp4Frame(client, bcast, 68, 67, emit(discover)),
    udp4Frame(server, bcast, 67, 68, emit(offer)),
    udp4Frame(client, bcast, 68, 67, emit(ascii81)),
  ];
  const out = await tsharkDecode(frames);
  assert.equal(out.length, frames.length);
  for (const f of out) assert.equal(f.protocols, 'eth:ethertype:ip:udp:dhcp');
  assert.deepEqual(tsharkProblems(out), []);
});
