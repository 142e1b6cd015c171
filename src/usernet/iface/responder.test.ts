// Tests of the link-local responder: ARP, NDP and echo answers, policy skips, and drops that never throw.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { respond, newCounters, type ResponderConfig } from './responder.js';
import { parseGuestFrame } from './packet.js';
import { buildArpFrame, buildIpv4Frame, buildIpv6Frame } from '../../wire/build.js';
import { ArpOp } from '../../wire/arp.js';
import { IpProtocol } from '../../wire/ipv4.js';
import { emitIcmpv4, icmpv4BufferLen } from '../../wire/icmpv4.js';
import { emitIcmpv6, icmpv6BufferLen, type Icmpv6Repr } from '../../wire/icmpv6.js';
import { parseMac, parseIpv4, parseIpv6, formatMac } from '../../wire/common.js';
import { solicitedNode, multicastMac6 } from '../../wire/ipv6.js';
import { tsharkDecode, tsharkProblems } from '../../../test/lab/tshark.js';

const OUR = parseMac('9a:55:9a:55:9a:55')!;
const GUEST = parseMac('52:54:00:12:34:56')!;
const BCAST = parseMac('ff:ff:ff:ff:ff:ff')!;
const GW4 = parseIpv4('10.0.2.2')!;
const G4 = parseIpv4('10.0.2.15')!;
const GW6 = parseIpv6('fe80::1')!;
const G6 = parseIpv6('fe80::5054:ff:fe12:3456')!;
const cfg: ResponderConfig = { ourMac: OUR, gateway4: GW4, gateways6: [GW6], guest4: G4 };

function arpRequest(target: Uint8Array, sender = G4): Uint8Array {
  return buildArpFrame(GUEST, BCAST, {
    operation: ArpOp.Request,
    senderMac: GUEST,
    senderIp: sender,
    targetMac: new Uint8Array(6),
    targetIp: target,
  });
}

function echo4(dst: Uint8Array): Uint8Array {
  const r = {
    type: 8 as const,
    ident: 0x1234,
    seqNo: 1,
    data: new TextEncoder().encode('abcdefgh'),
  };
  return buildIpv4Frame(
    GUEST,
    OUR,
    { src: G4, dst, protocol: IpProtocol.Icmp },
    icmpv4BufferLen(r),
    (b) => emitIcmpv4(r, b),
  );
}

function icmp6(
  src: Uint8Array,
  dst: Uint8Array,
  ethDst: Uint8Array,
  r: Icmpv6Repr,
  hopLimit = 255,
): Uint8Array {
  return buildIpv6Frame(
    GUEST,
    ethDst,
    { src, dst, nextHeader: IpProtocol.Icmpv6, hopLimit },
    icmpv6BufferLen(r),
    (b) => emitIcmpv6(r, b, src, dst),
  );
}

test('ARP for the gateway (or any other address) is answered with our MAC', async () => {
  const c = newCounters();
  const [reply] = respond(cfg, parseGuestFrame(arpRequest(GW4)), c);
  assert.ok(reply);
  assert.equal(formatMac(reply.subarray(0, 6)), formatMac(GUEST));
  assert.equal(formatMac(reply.subarray(22, 28)), formatMac(OUR)); // sender MAC in the ARP body
  assert.deepEqual(reply.subarray(28, 32), GW4); // sender IP = the address asked for
  assert.equal(respond(cfg, parseGuestFrame(arpRequest(parseIpv4('10.0.2.77')!)), c).length, 1);
  assert.equal(c.arpReplies, 2);
  const frames = await tsharkDecode([reply]);
  assert.equal(frames[0]!.protocols, 'eth:ethertype:arp');
  assert.deepEqual(tsharkProblems(frames), []);
});

test('ARP for the guest itself, gratuitous ARP and probes get no answer', () => {
  const c = newCounters();
  assert.equal(respond(cfg, parseGuestFrame(arpRequest(G4, parseIpv4('10.0.2.3')!)), c).length, 0);
  assert.equal(respond(cfg, parseGuestFrame(arpRequest(G4, G4)), c).length, 0);
  assert.equal(respond(cfg, parseGuestFrame(arpRequest(GW4, parseIpv4('0.0.0.0')!)), c).length, 0);
  assert.equal(c.ignored, 3);
});

test('echo to the gateway is answered; echo elsewhere is not ours to answer', async () => {
  const c = newCounters();
  const [reply] = respond(cfg, parseGuestFrame(echo4(GW4)), c);
  assert.ok(reply);
  assert.equal(reply[14 + 20], 0); // echo reply
  assert.deepEqual(reply.subarray(26, 30), GW4);
  assert.deepEqual(reply.subarray(30, 34), G4);
  assert.equal(respond(cfg, parseGuestFrame(echo4(parseIpv4('192.0.2.1')!)), c).length, 0);
  const frames = await tsharkDecode([reply]);
  assert.equal(frames[0]!.protocols, 'eth:ethertype:ip:icmp:data');
  assert.deepEqual(tsharkProblems(frames), []);
});

test('neighbour solicitation for the gateway gets a solicited, overriding router NA', async () => {
  const c = newCounters();
  const ns: Icmpv6Repr = { type: 135, target: GW6, options: [{ type: 1, mac: GUEST }] };
  const sn = solicitedNode(GW6);
  const [na] = respond(cfg, parseGuestFrame(icmp6(G6, sn, multicastMac6(sn), ns)), c);
  assert.ok(na);
  assert.equal(na[14 + 40], 136);
  assert.equal(na[14 + 40 + 4]! & 0xe0, 0xe0); // R, S, O
  assert.equal(c.neighborAdverts, 1);
  // hop limit other than 255 is dropped (RFC 4861 §7.1.1), DAD (unspecified source) ignored
  assert.equal(
    respond(cfg, parseGuestFrame(icmp6(G6, sn, multicastMac6(sn), ns, 64)), c).length,
    0,
  );
  assert.equal(c.drops.malformed, 1);
  assert.equal(
    respond(
      cfg,
      parseGuestFrame(
        icmp6(new Uint8Array(16), sn, multicastMac6(sn), { type: 135, target: GW6, options: [] }),
      ),
      c,
    ).length,
    0,
  );
  const frames = await tsharkDecode([na]);
  assert.equal(frames[0]!.protocols, 'eth:ethertype:ipv6:icmpv6');
  assert.deepEqual(tsharkProblems(frames), []);
});

test('ICMPv6 echo to the gateway is answered', async () => {
  const c = newCounters();
  const req: Icmpv6Repr = { type: 128, ident: 7, seqNo: 3, data: new Uint8Array([1, 2, 3]) };
  const [reply] = respond(cfg, parseGuestFrame(icmp6(G6, GW6, OUR, req, 64)), c);
  assert.ok(reply);
  assert.equal(reply[14 + 40], 129);
  assert.equal(c.echoReplies6, 1);
  assert.deepEqual(tsharkProblems(await tsharkDecode([reply])), []);
});

test('random and mutated frames never throw and are all accounted for', () => {
  const c = newCounters();
  const seeds = [
    arpRequest(GW4),
    echo4(GW4),
    icmp6(G6, GW6, OUR, { type: 128, ident: 1, seqNo: 1, data: new Uint8Array(4) }, 64),
  ];
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 200 }),
        fc
          .tuple(fc.constantFrom(...seeds), fc.nat(120), fc.integer({ min: 0, max: 255 }))
          .map(([f, i, v]) => {
            const m = f.slice();
            m[i % m.length] = v;
            return m;
          }),
        fc
          .tuple(fc.constantFrom(...seeds), fc.nat(120))
          .map(([f, n]) => f.subarray(0, n % f.length)),
      ),
      (frame) => {
        respond(cfg, parseGuestFrame(frame), c);
      },
    ),
    { numRuns: 5000 },
  );
  const d = c.drops;
  const accounted =
    c.arpReplies +
    c.echoReplies4 +
    c.echoReplies6 +
    c.neighborAdverts +
    c.ignored +
    d.truncated +
    d.malformed +
    d['bad-checksum'] +
    d.unsupported;
  assert.equal(accounted, c.rxFrames);
  assert.ok(d.truncated > 0 && d['bad-checksum'] > 0);
});
