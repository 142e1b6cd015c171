// Tests of the Router Advertisements: every field and option parsed back, RS handling and validation, the unsolicited timer, fuzzing, tshark.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  buildRouterAdvert,
  handleRouterSolicit,
  nextUnsolicitedRaMs,
  routerLinkLocal,
  NDP_INFINITE,
} from './ra.js';
import { newAddressServiceCounters } from './dhcp-server.js';
import { acceptPacket, parseGuestFrame } from './packet.js';
import type { PasstConfig } from '../conf.js';
import { buildIpv6Frame } from '../../wire/build.js';
import { IpProtocol } from '../../wire/ipv4.js';
import {
  emitIcmpv6,
  icmpv6BufferLen,
  parseIcmpv6,
  type Icmpv6Repr,
  type NdpRouterAdvertRepr,
} from '../../wire/icmpv6.js';
import { formatIpv6, formatMac, isWireError, parseIpv6, parseMac } from '../../wire/common.js';
import { tsharkDecode, tsharkProblems } from '../../../test/lab/tshark.js';

const OUR = parseMac('9a:55:9a:55:9a:55')!;
const GUEST = parseMac('52:54:00:12:34:56')!;
const GUEST_LL = parseIpv6('fe80::5054:ff:fe12:3456')!;
const ALL_ROUTERS = parseIpv6('ff02::2')!;
const UNSPEC = new Uint8Array(16);

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
  nameservers: ['10.0.0.53', 'fd00:88::53', 'fd00:88::54'],
  search: ['example.test', 'lab.example'],
};

function rs(opts: { src?: Uint8Array; hopLimit?: number; slla?: boolean } = {}): Uint8Array {
  const src = opts.src ?? GUEST_LL;
  const withSlla = opts.slla ?? !src.every((b) => b === 0);
  const r: Icmpv6Repr = { type: 133, options: withSlla ? [{ type: 1, mac: GUEST }] : [] };
  return buildIpv6Frame(
    GUEST,
    parseMac('33:33:00:00:00:02')!,
    { src, dst: ALL_ROUTERS, nextHeader: IpProtocol.Icmpv6, hopLimit: opts.hopLimit ?? 255 },
    icmpv6BufferLen(r),
    (b) => emitIcmpv6(r, b, src, ALL_ROUTERS),
  );
}

function decode(frame: Uint8Array | undefined): {
  ethDst: string;
  ethSrc: string;
  src: string;
  dst: string;
  hopLimit: number;
  ra: NdpRouterAdvertRepr;
} {
  assert.ok(frame, 'expected an RA');
  const pkt = parseGuestFrame(frame);
  assert.ok(
    acceptPacket(pkt, 6, IpProtocol.Icmpv6, newAddressServiceCounters()) && pkt.eth,
    'an unfragmented ICMPv6 packet',
  );
  const { eth } = pkt;
  const iv = pkt.icmp6;
  assert.ok(iv, 'an ICMPv6 header');
  const ra = parseIcmpv6(iv, pkt.src, pkt.dst);
  assert.ok(!isWireError(ra), 'ICMPv6 checksum and layout');
  assert.equal(ra.type, 134);
  return {
    ethDst: formatMac(eth.dst),
    ethSrc: formatMac(eth.src),
    src: formatIpv6(pkt.src),
    dst: formatIpv6(pkt.dst),
    hopLimit: pkt.hopLimit,
    ra: ra as NdpRouterAdvertRepr,
  };
}

function assertRaContent(ra: NdpRouterAdvertRepr, mtu: number | null = 65520): void {
  assert.equal(ra.managed, true);
  assert.equal(ra.routerLifetime, 65535);
  const slla = ra.options.find((o) => o.type === 1);
  assert.ok(slla && 'mac' in slla);
  assert.equal(formatMac(slla.mac), formatMac(OUR));
  const pi = ra.options.find((o) => o.type === 3);
  assert.ok(pi && 'prefix' in pi);
  assert.equal(formatIpv6(pi.prefix), 'fd00:88::');
  assert.equal(pi.prefixLen, 64);
  assert.equal(pi.onLink, true);
  assert.equal(pi.autonomous, true);
  assert.equal(pi.validLifetime, NDP_INFINITE);
  assert.equal(pi.preferredLifetime, NDP_INFINITE);
  const m = ra.options.find((o) => o.type === 5);
  if (mtu === null) assert.equal(m, undefined);
  else {
    assert.ok(m && 'mtu' in m);
    assert.equal(m.mtu, mtu);
  }
}

test('an RS from a link-local address gets a unicast RA from fe80::1 with every option', () => {
  const c = newAddressServiceCounters();
  const r = decode(handleRouterSolicit(cfg, parseGuestFrame(rs()), c));
  assert.equal(r.ethDst, formatMac(GUEST));
  assert.equal(r.ethSrc, formatMac(OUR));
  assert.equal(r.src, 'fe80::1');
  assert.equal(r.dst, 'fe80::5054:ff:fe12:3456');
  assert.equal(r.hopLimit, 255);
  assertRaContent(r.ra);
  const rdnss = r.ra.options.find((o) => o.type === 25);
  assert.ok(rdnss && 'addresses' in rdnss);
  assert.equal(rdnss.lifetime, NDP_INFINITE);
  assert.deepEqual(rdnss.addresses.map(formatIpv6), ['fd00:88::53', 'fd00:88::54']);
  const dnssl = r.ra.options.find((o) => o.type === 31);
  assert.ok(dnssl && 'domains' in dnssl);
  assert.equal(dnssl.lifetime, NDP_INFINITE);
  assert.deepEqual(dnssl.domains, ['example.test', 'lab.example']);
  assert.equal(c.replies, 1);
});

test('an RS from the unspecified address is answered to ff02::1; a link-local gateway is the source', () => {
  const c = newAddressServiceCounters();
  const ll: PasstConfig = { ...cfg, v6: { ...cfg.v6!, gateway: 'fe80::abcd' } };
  const r = decode(handleRouterSolicit(ll, parseGuestFrame(rs({ src: UNSPEC })), c));
  assert.equal(r.dst, 'ff02::1');
  assert.equal(r.ethDst, '33:33:00:00:00:01');
  assert.equal(r.src, 'fe80::abcd');
  assert.equal(formatIpv6(routerLinkLocal(cfg)), 'fe80::1');
});

test('the unsolicited RA goes to all nodes; no resolvers, no search list and mtu 0 leave their options out', () => {
  const bare: PasstConfig = { ...cfg, mtu: 0, nameservers: ['10.0.0.53'], search: [] };
  const r = decode(buildRouterAdvert(bare));
  assert.equal(r.dst, 'ff02::1');
  assert.equal(r.ethDst, '33:33:00:00:00:01');
  assertRaContent(r.ra, null);
  assert.equal(
    r.ra.options.find((o) => o.type === 25 || o.type === 31),
    undefined,
  );
  assert.equal(buildRouterAdvert({ ...cfg, v6: undefined }), undefined);
});

test('invalid RSs (hop limit ≠ 255, SLLA from ::) and other frames are dropped or ignored, counted', () => {
  const c = newAddressServiceCounters();
  assert.equal(handleRouterSolicit(cfg, parseGuestFrame(rs({ hopLimit: 64 })), c), undefined);
  assert.equal(
    handleRouterSolicit(cfg, parseGuestFrame(rs({ src: UNSPEC, slla: true })), c),
    undefined,
  );
  assert.equal(c.drops.malformed, 2);
  const echo: Icmpv6Repr = { type: 128, ident: 1, seqNo: 1, data: new Uint8Array(4) };
  const ping = buildIpv6Frame(
    GUEST,
    OUR,
    { src: GUEST_LL, dst: parseIpv6('fe80::1')!, nextHeader: IpProtocol.Icmpv6 },
    icmpv6BufferLen(echo),
    (b) => emitIcmpv6(echo, b, GUEST_LL, parseIpv6('fe80::1')!),
  );
  assert.equal(handleRouterSolicit(cfg, parseGuestFrame(ping), c), undefined);
  assert.equal(handleRouterSolicit({ ...cfg, v6: undefined }, parseGuestFrame(rs()), c), undefined);
  assert.equal(c.ignored, 2);
});

test('nextUnsolicitedRaMs stays within [200 s, 600 s] for any input', () => {
  assert.equal(nextUnsolicitedRaMs(0), 200_000);
  assert.equal(nextUnsolicitedRaMs(0.5), 400_000);
  assert.ok(nextUnsolicitedRaMs(0.999999) <= 600_000);
  fc.assert(
    fc.property(fc.double(), (r) => {
      const ms = nextUnsolicitedRaMs(r);
      assert.ok(Number.isInteger(ms) && ms >= 200_000 && ms <= 600_000);
    }),
  );
});

test('random and mutated frames never throw; any reply is a valid RA', () => {
  const seeds = [rs(), rs({ src: UNSPEC })];
  const c = newAddressServiceCounters();
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 200 }),
        fc
          .tuple(fc.constantFrom(...seeds), fc.nat(200), fc.integer({ min: 0, max: 255 }))
          .map(([s, i, v]) => {
            const m = s.slice();
            m[i % m.length] = v;
            return m;
          }),
        fc.tuple(fc.constantFrom(...seeds), fc.nat(200)).map(([s, n]) => s.slice(0, n)),
      ),
      (frame) => {
        const out = handleRouterSolicit(cfg, parseGuestFrame(frame), c);
        if (out) assertRaContent(decode(out).ra);
      },
    ),
    { numRuns: 2000 },
  );
  const drops = Object.values(c.drops).reduce((a, b) => a + b, 0);
  assert.equal(c.rxFrames, c.replies + c.ignored + c.unhandled + drops);
});

test('tshark decodes solicited and unsolicited RAs without problems', async () => {
  const c = newAddressServiceCounters();
  const frames = [handleRouterSolicit(cfg, parseGuestFrame(rs()), c), buildRouterAdvert(cfg)].map(
    (f) => {
      assert.ok(f);
      return f;
    },
  );
  const decoded = await tsharkDecode(frames);
  assert.equal(decoded.length, 2);
  for (const f of decoded) assert.match(f.protocols, /ipv6:icmpv6/);
  assert.deepEqual(tsharkProblems(decoded), []);
});

test('RaOptions: the prefix information has the given length and A flag, L still set', () => {
  const c = newAddressServiceCounters();
  const r = decode(
    handleRouterSolicit(cfg, parseGuestFrame(rs()), c, {
      prefix: { prefixLen: 120, autonomous: false },
    }),
  );
  const pi = r.ra.options.find((o) => o.type === 3);
  assert.ok(pi && 'prefix' in pi);
  assert.equal(formatIpv6(pi.prefix), 'fd00:88::');
  assert.equal(pi.prefixLen, 120);
  assert.equal(pi.onLink, true);
  assert.equal(pi.autonomous, false);
  assert.equal(r.ra.managed, true);
  const all = decode(
    buildRouterAdvert(cfg, undefined, { prefix: { prefixLen: 124, autonomous: false } }),
  );
  const pi2 = all.ra.options.find((o) => o.type === 3);
  assert.ok(pi2 && 'prefix' in pi2);
  assert.equal(formatIpv6(pi2.prefix), 'fd00:88::10');
  assert.equal(all.dst, 'ff02::1');
});
