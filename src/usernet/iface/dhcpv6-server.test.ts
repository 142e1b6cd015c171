// Tests of the DHCPv6 server: every reply type and option parsed back, identifier rules, fuzzed input that never throws, tshark decoding.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { handleDhcpv6, serverDuid, DHCPV6_INFINITE } from './dhcpv6-server.js';
import { newAddressServiceCounters } from './dhcp-server.js';
import { acceptDatagram, parseGuestFrame } from './packet.js';
import type { PasstConfig } from '../conf.js';
import { buildIpv6Frame } from '../../wire/build.js';
import { IpProtocol } from '../../wire/ipv4.js';
import { emitUdp, UDP_HEADER_LEN } from '../../wire/udp.js';
import {
  Dhcpv6MessageType as T,
  Dhcpv6Status,
  dhcpv6BufferLen,
  duidLlt,
  emitDhcpv6,
  findAllDhcpv6Options,
  findDhcpv6Option,
  parseDhcpv6,
  type Dhcpv6Option,
  type Dhcpv6Repr,
} from '../../wire/dhcpv6.js';
import { formatIpv6, formatMac, isWireError, parseIpv6, parseMac } from '../../wire/common.js';
import { tsharkDecode, tsharkProblems } from '../../../test/lab/tshark.js';

const OUR = parseMac('9a:55:9a:55:9a:55')!;
const GUEST = parseMac('52:54:00:12:34:56')!;
const GUEST_LL = parseIpv6('fe80::5054:ff:fe12:3456')!;
const ALL_SERVERS = parseIpv6('ff02::1:2')!;

const cfg: PasstConfig = {
  v4: undefined,
  v6: {
    guestAddr: 'fd00:88::15',
    prefixLen: 64,
    gateway: 'fd00:88::1',
    mapHostLoopback: undefined,
    hostIface: undefined,
  },
  mtu: 65520,
  ourMac: OUR,
  nameservers: ['10.0.0.53', 'fd00:88::53'],
  search: ['example.test', 'lab.example'],
};

const CLIENT_ID: Dhcpv6Option = { code: 1, duid: duidLlt(1, 12345, GUEST) };
const SERVER_ID: Dhcpv6Option = { code: 2, duid: serverDuid(cfg) };
const IA: Dhcpv6Option = { code: 3, iaid: 0xabcd, t1S: 3600, t2S: 5400, options: [] };

function message(msgType: number, options: readonly Dhcpv6Option[], src = GUEST_LL): Uint8Array {
  const repr: Dhcpv6Repr = { msgType, transactionId: 0x123456, options };
  const payloadLen = dhcpv6BufferLen(repr);
  const udp = { srcPort: 546, dstPort: 547, payloadLen };
  return buildIpv6Frame(
    GUEST,
    parseMac('33:33:00:01:00:02')!,
    { src, dst: ALL_SERVERS, nextHeader: IpProtocol.Udp },
    UDP_HEADER_LEN + payloadLen,
    (l4) => {
      emitDhcpv6(repr, l4.subarray(UDP_HEADER_LEN));
      emitUdp(udp, l4, src, ALL_SERVERS);
    },
  );
}

function decode(frame: Uint8Array | undefined): {
  ethDst: string;
  ethSrc: string;
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  msg: Dhcpv6Repr;
} {
  assert.ok(frame, 'expected a reply');
  // Decoded for the client's port 546 (a reply to any other port is not found): checksum verified.
  const pkt = parseGuestFrame(frame);
  assert.ok(
    acceptDatagram(pkt, 6, 546, newAddressServiceCounters()) && pkt.eth && pkt.udp,
    'a UDP datagram to port 546 with a valid checksum',
  );
  const { eth } = pkt;
  const msg = parseDhcpv6(pkt.payload);
  assert.ok(!isWireError(msg));
  return {
    ethDst: formatMac(eth.dst),
    ethSrc: formatMac(eth.src),
    src: formatIpv6(pkt.src),
    dst: formatIpv6(pkt.dst),
    srcPort: pkt.udp.srcPort,
    dstPort: 546,
    msg,
  };
}

function assertCommon(msg: Dhcpv6Repr): void {
  assert.equal(msg.transactionId, 0x123456);
  const sid = findDhcpv6Option(msg.options, 2);
  assert.ok(sid);
  assert.equal(sid.duid.type, 3);
  assert.equal(sid.duid.hwType, 1);
  assert.equal(formatMac(sid.duid.linkLayerAddr!), formatMac(OUR));
  const cid = findDhcpv6Option(msg.options, 1);
  assert.ok(cid);
  assert.deepEqual(cid.duid.raw, (CLIENT_ID as { duid: { raw: Uint8Array } }).duid.raw);
  assert.deepEqual(findDhcpv6Option(msg.options, 23)?.servers.map(formatIpv6), ['fd00:88::53']);
  assert.deepEqual(findDhcpv6Option(msg.options, 24)?.domains, ['example.test', 'lab.example']);
}

function assertIa(msg: Dhcpv6Repr): void {
  const ias = findAllDhcpv6Options(msg.options, 3);
  assert.equal(ias.length, 1);
  const ia = ias[0]!;
  assert.equal(ia.iaid, 0xabcd);
  assert.equal(ia.t1S, DHCPV6_INFINITE);
  assert.equal(ia.t2S, DHCPV6_INFINITE);
  const addr = findDhcpv6Option(ia.options, 5);
  assert.ok(addr);
  assert.equal(formatIpv6(addr.address), 'fd00:88::15');
  assert.equal(addr.preferredS, DHCPV6_INFINITE);
  assert.equal(addr.validS, DHCPV6_INFINITE);
}

test('SOLICIT gets an ADVERTISE with IA_NA, Server ID, Client ID, DNS and domain list, fe80::1:547 → client:546', () => {
  const c = newAddressServiceCounters();
  const r = decode(handleDhcpv6(cfg, parseGuestFrame(message(T.Solicit, [CLIENT_ID, IA])), c));
  assert.equal(r.ethDst, formatMac(GUEST));
  assert.equal(r.ethSrc, formatMac(OUR));
  assert.equal(r.src, 'fe80::1');
  assert.equal(r.dst, 'fe80::5054:ff:fe12:3456');
  assert.equal(r.srcPort, 547);
  assert.equal(r.dstPort, 546);
  assert.equal(r.msg.msgType, T.Advertise);
  assert.equal(findDhcpv6Option(r.msg.options, 14), undefined);
  assertCommon(r.msg);
  assertIa(r.msg);
  assert.equal(c.replies, 1);
});

test('SOLICIT with Rapid Commit gets a REPLY carrying Rapid Commit (RFC 8415 §18.3.1)', () => {
  const c = newAddressServiceCounters();
  const r = decode(
    handleDhcpv6(cfg, parseGuestFrame(message(T.Solicit, [CLIENT_ID, IA, { code: 14 }])), c),
  );
  assert.equal(r.msg.msgType, T.Reply);
  assert.ok(findDhcpv6Option(r.msg.options, 14));
  assertCommon(r.msg);
  assertIa(r.msg);
});

test('REQUEST, RENEW and REBIND get a REPLY with the IA_NA', () => {
  const c = newAddressServiceCounters();
  for (const [t, opts] of [
    [T.Request, [CLIENT_ID, SERVER_ID, IA]],
    [T.Renew, [CLIENT_ID, SERVER_ID, IA]],
    [T.Rebind, [CLIENT_ID, IA]],
  ] as const) {
    const r = decode(handleDhcpv6(cfg, parseGuestFrame(message(t, opts)), c));
    assert.equal(r.msg.msgType, T.Reply);
    assertCommon(r.msg);
    assertIa(r.msg);
  }
  assert.equal(c.replies, 3);
});

test('CONFIRM gets Success for an on-link address and NotOnLink otherwise (RFC 8415 §18.3.3)', () => {
  const c = newAddressServiceCounters();
  const ia = (addr: string): Dhcpv6Option => ({
    code: 3,
    iaid: 0xabcd,
    t1S: 0,
    t2S: 0,
    options: [{ code: 5, address: parseIpv6(addr)!, preferredS: 0, validS: 0, options: [] }],
  });
  const ok = decode(
    handleDhcpv6(cfg, parseGuestFrame(message(T.Confirm, [CLIENT_ID, ia('fd00:88::15')])), c),
  );
  assert.equal(ok.msg.msgType, T.Reply);
  assert.equal(findDhcpv6Option(ok.msg.options, 13)?.status, Dhcpv6Status.Success);
  assert.equal(findDhcpv6Option(ok.msg.options, 3), undefined);
  assertCommon(ok.msg);
  const off = decode(
    handleDhcpv6(cfg, parseGuestFrame(message(T.Confirm, [CLIENT_ID, ia('fd00:99::15')])), c),
  );
  assert.equal(findDhcpv6Option(off.msg.options, 13)?.status, Dhcpv6Status.NotOnLink);
});

test('INFORMATION-REQUEST gets a REPLY without IA_NA', () => {
  const c = newAddressServiceCounters();
  const r = decode(
    handleDhcpv6(cfg, parseGuestFrame(message(T.InformationRequest, [CLIENT_ID, IA])), c),
  );
  assert.equal(r.msg.msgType, T.Reply);
  assert.equal(findDhcpv6Option(r.msg.options, 3), undefined);
  assertCommon(r.msg);
});

test('a link-local gateway is the source; no IPv6 resolvers or search list leave 23 and 24 out', () => {
  const c = newAddressServiceCounters();
  const ll: PasstConfig = {
    ...cfg,
    v6: { ...cfg.v6!, gateway: 'fe80::abcd' },
    nameservers: ['10.0.0.53'],
    search: [],
  };
  const r = decode(handleDhcpv6(ll, parseGuestFrame(message(T.Solicit, [CLIENT_ID, IA])), c));
  assert.equal(r.src, 'fe80::abcd');
  assert.equal(findDhcpv6Option(r.msg.options, 23), undefined);
  assert.equal(findDhcpv6Option(r.msg.options, 24), undefined);
  assertIa(r.msg);
});

test('identifier rules (RFC 8415 §16), unserved types and non-DHCPv6 frames get no reply, counted', () => {
  const c = newAddressServiceCounters();
  const otherServer: Dhcpv6Option = { code: 2, duid: duidLlt(1, 1, GUEST) };
  for (const [t, opts] of [
    [T.Solicit, [IA]],
    [T.Solicit, [CLIENT_ID, SERVER_ID, IA]],
    [T.Request, [CLIENT_ID, IA]],
    [T.Request, [CLIENT_ID, otherServer, IA]],
    [T.Renew, [CLIENT_ID, otherServer, IA]],
    [T.InformationRequest, [otherServer]],
    [T.Release, [CLIENT_ID, SERVER_ID, IA]],
    [T.Decline, [CLIENT_ID, SERVER_ID, IA]],
    [T.Advertise, [CLIENT_ID, SERVER_ID]],
    [T.Reply, [CLIENT_ID, SERVER_ID]],
  ] as const)
    assert.equal(handleDhcpv6(cfg, parseGuestFrame(message(t, opts)), c), undefined, `type ${t}`);
  assert.equal(c.unhandled, 10);
  assert.equal(
    handleDhcpv6(
      { ...cfg, v6: undefined },
      parseGuestFrame(message(T.Solicit, [CLIENT_ID, IA])),
      c,
    ),
    undefined,
  );
  assert.equal(c.ignored, 1);
  assert.equal(
    handleDhcpv6(cfg, parseGuestFrame(message(T.Solicit, [CLIENT_ID, IA], new Uint8Array(16))), c),
    undefined,
  );
  assert.equal(c.drops.malformed, 1);
  assert.equal(c.replies, 0);
});

test('random and mutated frames never throw; any reply is a well-formed DHCPv6 message', () => {
  const seeds = [
    message(T.Solicit, [CLIENT_ID, IA, { code: 14 }]),
    message(T.Request, [CLIENT_ID, SERVER_ID, IA]),
    message(T.InformationRequest, [CLIENT_ID]),
  ];
  const c = newAddressServiceCounters();
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 300 }),
        fc
          .tuple(fc.constantFrom(...seeds), fc.nat(300), fc.integer({ min: 0, max: 255 }))
          .map(([s, i, v]) => {
            const m = s.slice();
            m[i % m.length] = v;
            return m;
          }),
        fc.tuple(fc.constantFrom(...seeds), fc.nat(300)).map(([s, n]) => s.slice(0, n)),
      ),
      (frame) => {
        const out = handleDhcpv6(cfg, parseGuestFrame(frame), c);
        if (out) {
          const t = decode(out).msg.msgType;
          assert.ok(t === T.Advertise || t === T.Reply);
        }
      },
    ),
    { numRuns: 2000 },
  );
  const drops = Object.values(c.drops).reduce((a, b) => a + b, 0);
  assert.equal(c.rxFrames, c.replies + c.ignored + c.unhandled + drops);
});

test('tshark decodes ADVERTISE, rapid REPLY, REPLY, CONFIRM and INFORMATION-REQUEST replies without problems', async () => {
  const c = newAddressServiceCounters();
  const frames = [
    handleDhcpv6(cfg, parseGuestFrame(message(T.Solicit, [CLIENT_ID, IA])), c),
    handleDhcpv6(cfg, parseGuestFrame(message(T.Solicit, [CLIENT_ID, IA, { code: 14 }])), c),
    handleDhcpv6(cfg, parseGuestFrame(message(T.Request, [CLIENT_ID, SERVER_ID, IA])), c),
    handleDhcpv6(cfg, parseGuestFrame(message(T.Confirm, [CLIENT_ID])), c),
    handleDhcpv6(cfg, parseGuestFrame(message(T.InformationRequest, [CLIENT_ID])), c),
  ].map((f) => {
    assert.ok(f);
    return f;
  });
  const decoded = await tsharkDecode(frames);
  assert.equal(decoded.length, frames.length);
  for (const f of decoded) assert.match(f.protocols, /udp:dhcpv6/);
  assert.deepEqual(tsharkProblems(decoded), []);
});

test('CONFIRM checks the configured on-link prefix length (a /120 for masquerade)', () => {
  const c = newAddressServiceCounters();
  const ia = (addr: string): Dhcpv6Option => ({
    code: 3,
    iaid: 0xabcd,
    t1S: 0,
    t2S: 0,
    options: [{ code: 5, address: parseIpv6(addr)!, preferredS: 0, validS: 0, options: [] }],
  });
  const confirm = (addr: string) =>
    decode(
      handleDhcpv6(cfg, parseGuestFrame(message(T.Confirm, [CLIENT_ID, ia(addr)])), c, {
        onLinkPrefixLen: 120,
      }),
    );
  assert.equal(findDhcpv6Option(confirm('fd00:88::ff').msg.options, 13)?.status, 0);
  assert.equal(
    findDhcpv6Option(confirm('fd00:88::1:15').msg.options, 13)?.status,
    Dhcpv6Status.NotOnLink,
  );
});
