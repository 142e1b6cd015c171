// Tests of the address server core: the three protocols through the shared services, the MAC filter, leases, the RA schedule, fuzzed frames.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { pino } from 'pino';
import {
  AddressServer,
  completeUdpChecksum,
  unsolicitedRaDelayMs,
  MAX_INITIAL_RTR_ADVERT_INTERVAL_MS,
} from './address-server.js';
import { LeaseStore } from './lease-store.js';
import { checkAddressServerConfig } from './address-config-check.js';
import type { AddressServerConfig } from './address-config.js';
import { guestFrames, GUEST_NET } from '../../test/lab/frames.js';
import { parseGuestFrame } from '../usernet/iface/packet.js';
import { DhcpMessageType, parseDhcp } from '../wire/dhcp.js';
import { parseDhcpv6 } from '../wire/dhcpv6.js';
import { formatIpv4, formatMac, isWireError } from '../wire/common.js';
import { BinderyError } from '../errors.js';

const GUEST = formatMac(GUEST_NET.guestMac);

function config(dir: string, over: Partial<AddressServerConfig> = {}): AddressServerConfig {
  return {
    netns: '/run/netns/x',
    device: 'br0',
    serverMac: '02:00:00:00:00:01',
    mtu: 1400,
    search: ['example.test'],
    v4: {
      address: '10.88.0.15',
      prefixLength: 24,
      router: '10.88.0.1',
      serverAddress: '10.88.0.1',
      routes: [{ dst: '0.0.0.0/0', via: '10.88.0.1' }],
      dns: ['10.88.0.53'],
    },
    v6: {
      address: 'fd00:88::15',
      onLinkPrefix: 'fd00:88::/120',
      routerLinkLocal: 'fe80::1',
      dns: ['fd00:88::53'],
    },
    leaseFile: join(dir, 'leases.json'),
    pidFile: join(dir, 'pid'),
    ...over,
  };
}

interface Rig {
  server: AddressServer;
  sent: Uint8Array[];
  timers: Array<{ fn: () => void; ms: number }>;
  leases: LeaseStore;
}

async function rig(dir: string, over: Partial<AddressServerConfig> = {}): Promise<Rig> {
  const cfg = config(dir, over);
  const leases = await LeaseStore.load(cfg.leaseFile);
  const sent: Uint8Array[] = [];
  const timers: Array<{ fn: () => void; ms: number }> = [];
  const server = new AddressServer(cfg, {
    send: (f) => sent.push(f.slice()),
    clock: {
      now: () => 0,
      random: () => 0.5,
      setTimer: (fn, ms) => timers.push({ fn, ms }),
      clearTimer: () => {},
    },
    wallNow: () => Date.UTC(2026, 0, 1),
    log: pino({ level: 'silent' }),
    leases,
  });
  return { server, sent, timers, leases };
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'bindery-as-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('DISCOVER, DHCPv6 SOLICIT and RS are answered from the configured addresses', () =>
  withDir(async (dir) => {
    const r = await rig(dir);
    const f = guestFrames();
    r.server.handleFrame(f.dhcp);
    r.server.handleFrame(f.dhcpv6);
    r.server.handleFrame(f['router-solicit']);
    assert.equal(r.sent.length, 3);
    const offer = parseDhcp(parseGuestFrame(r.sent[0]!).payload);
    assert.ok(!isWireError(offer));
    assert.equal(offer.messageType, DhcpMessageType.Offer);
    assert.equal(formatIpv4(offer.yiaddr), '10.88.0.15');
    assert.equal(formatIpv4(offer.serverId!), '10.88.0.1');
    const adv = parseDhcpv6(parseGuestFrame(r.sent[1]!).payload);
    assert.ok(!isWireError(adv));
    assert.equal(adv.msgType, 2);
    const ra = parseGuestFrame(r.sent[2]!);
    assert.equal(ra.icmp6?.type, 134);
    // An OFFER and an ADVERTISE grant nothing.
    assert.equal(r.server.counters.grants, 0);
    // Frames of no service here are counted as ignored.
    r.server.handleFrame(f.tcp4);
    assert.equal(r.server.counters.ignored, 1);
  }));

test('a REQUEST is ACKed and recorded in the lease file; the file is rewritten atomically', () =>
  withDir(async (dir) => {
    const r = await rig(dir);
    const d = guestFrames().dhcp;
    // Turn the DISCOVER into a REQUEST: option 53 is the first option (after the cookie).
    const req = d.slice();
    const opt = 14 + 20 + 8 + 236 + 4;
    assert.equal(req[opt], 53);
    req[opt + 2] = DhcpMessageType.Request;
    const fixed = completeUdpChecksum(req)!;
    r.server.handleFrame(fixed);
    assert.equal(r.sent.length, 1);
    await new Promise((res) => setImmediate(res));
    await r.leases.save();
    const file = JSON.parse(await readFile(join(dir, 'leases.json'), 'utf8')) as {
      leases: Array<Record<string, unknown>>;
    };
    assert.deepEqual(file.leases, [
      {
        family: 4,
        mac: GUEST,
        address: '10.88.0.15',
        grantedAt: '2026-01-01T00:00:00.000Z',
        expiresAt: null,
      },
    ]);
    // Loaded again (a restart), the lease is there.
    const again = await LeaseStore.load(join(dir, 'leases.json'));
    assert.equal(again.find(4, GUEST)?.address, '10.88.0.15');
  }));

test('frames from another MAC than clientMac are ignored and counted', () =>
  withDir(async (dir) => {
    const r = await rig(dir, { clientMac: '52:54:00:99:99:99' });
    const f = guestFrames();
    r.server.handleFrame(f.dhcp);
    r.server.handleFrame(f.dhcpv6);
    r.server.handleFrame(f['router-solicit']);
    assert.equal(r.sent.length, 0);
    assert.equal(r.server.counters.filtered, 3);
    const ok = await rig(dir, { clientMac: GUEST });
    ok.server.handleFrame(f.dhcp);
    assert.equal(ok.sent.length, 1);
  }));

test('a partial UDP checksum is completed before the services verify it', () =>
  withDir(async (dir) => {
    const r = await rig(dir);
    const f = guestFrames().dhcpv6.slice();
    // What an offloading sender leaves: some other value in the checksum field.
    f[14 + 40 + 6] = f[14 + 40 + 6]! ^ 0x5a;
    r.server.handleFrame(f);
    assert.equal(r.sent.length, 0);
    assert.equal(r.server.counters.dhcpv6.drops['bad-checksum'], 1);
    r.server.handleFrame(f, true);
    assert.equal(r.sent.length, 1);
  }));

test('unsolicited RAs: one at start, then up to 16 s apart three times, then 200..600 s', () =>
  withDir(async (dir) => {
    const r = await rig(dir);
    r.server.start();
    assert.equal(r.sent.length, 1);
    for (let i = 0; i < 4; i++) r.timers[i]!.fn();
    assert.deepEqual(
      r.timers.map((t) => t.ms),
      [16_000, 16_000, 400_000, 400_000, 400_000],
    );
    assert.equal(r.server.counters.unsolicitedRas, 5);
    r.server.stop();
    r.timers[4]!.fn();
    assert.equal(r.server.counters.unsolicitedRas, 5);
    for (let n = 0; n < 10; n++) {
      const d = unsolicitedRaDelayMs(n, 0.99);
      assert.ok(n < 3 ? d <= MAX_INITIAL_RTR_ADVERT_INTERVAL_MS : d >= 200_000 && d <= 600_000);
    }
  }));

test('malformed frames never make a service throw (fast-check, seed 42)', () =>
  withDir(async (dir) => {
    const r = await rig(dir);
    const base = Object.values(guestFrames());
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 400 }),
          fc
            .tuple(
              fc.constantFrom(...base),
              fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
              fc.nat(),
            )
            .map(([f, flips, cut]) => {
              const g = f.slice(0, Math.max(1, f.length - (cut % 40)));
              for (const [i, v] of flips) g[i % g.length] = v;
              return g;
            }),
        ),
        fc.boolean(),
        (frame, partial) => {
          r.server.handleFrame(frame, partial);
        },
      ),
      { seed: 42, numRuns: 2000 },
    );
    assert.ok(r.server.counters.frames >= 2000);
    assert.equal(r.server.counters.internalErrors, 0);
  }));

test('the config check names the first wrong field', () => {
  const good = config('/tmp');
  assert.deepEqual(checkAddressServerConfig(JSON.parse(JSON.stringify(good))), good);
  const cases: Array<[unknown, RegExp]> = [
    [null, /must be an object/],
    [{ ...good, serverMac: 'zz' }, /serverMac: not a MAC/],
    [{ ...good, v4: { ...good.v4, address: '10.0.0' } }, /v4\.address/],
    [{ ...good, v6: { ...good.v6, address: 'fd00:99::1' } }, /not inside onLinkPrefix/],
    [{ ...good, v6: { ...good.v6, routerLinkLocal: 'fd00::1' } }, /link-local/],
    [{ ...good, v4: undefined, v6: undefined }, /at least one family/],
    [{ ...good, v4: { ...good.v4, routes: [{ dst: 'x', via: '1.2.3.4' }] } }, /routes\[0\]\.dst/],
  ];
  for (const [json, re] of cases)
    assert.throws(
      () => checkAddressServerConfig(json),
      (e: unknown) => e instanceof BinderyError && re.test(e.message),
    );
});
