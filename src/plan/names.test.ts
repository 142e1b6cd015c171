// Tests of the naming schemes, masquerade address arithmetic and quantity sums used by the planner.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import {
  hashedPodInterfaceName,
  kubevirtBridgeName,
  kubevirtRenamedPodInterface,
  kubevirtTapName,
  ordinalPodInterfaceName,
  virtinkBridgeAddress,
  virtinkBridgeName,
  virtinkLinkName,
  virtinkTapName,
} from './names.js';
import { masqueradeFamily, parseCidr } from './addresses.js';
import { addQuantities, formatQuantity, parseQuantity } from './quantity.js';

test('KubeVirt hashed pod interface names match the facts (blue → pod16477688c0e)', () => {
  assert.equal(hashedPodInterfaceName('blue'), 'pod16477688c0e');
  assert.equal(hashedPodInterfaceName('red'), 'podb1f51a511f1');
  assert.equal(ordinalPodInterfaceName(1), 'net1');
});

test('hashed names: pod + 11 hex digits, so every derived name fits in IFNAMSIZ-1', () => {
  fc.assert(
    fc.property(fc.string({ minLength: 1, maxLength: 63 }), (name) => {
      const pod = hashedPodInterfaceName(name);
      assert.match(pod, /^pod[0-9a-f]{11}$/);
      assert.equal(pod.slice(3), createHash('sha256').update(name).digest('hex').slice(0, 11));
      for (const n of [
        pod,
        kubevirtTapName(pod),
        kubevirtBridgeName(pod),
        kubevirtRenamedPodInterface(pod),
      ])
        assert.ok(n.length <= 15, `${n} is longer than 15`);
    }),
  );
});

test('KubeVirt tap, bridge and renamed link names', () => {
  assert.equal(kubevirtTapName('eth0'), 'tap0');
  assert.equal(kubevirtBridgeName('eth0'), 'k6t-eth0');
  assert.equal(kubevirtRenamedPodInterface('eth0'), 'eth0-nic');
  assert.equal(kubevirtTapName('pod16477688c0e'), 'tap16477688c0e');
  assert.equal(kubevirtBridgeName('pod16477688c0e'), 'k6t-16477688c0e');
  assert.equal(kubevirtRenamedPodInterface('pod16477688c0e'), '16477688c0e-nic');
  assert.equal(kubevirtTapName('net2'), 'tap2');
  assert.equal(kubevirtBridgeName('net2'), 'k6t-net2');
});

test('Virtink link, bridge, tap names and bridge-mode address', () => {
  assert.equal(virtinkLinkName('pod', 0), 'eth0');
  assert.equal(virtinkLinkName('multus', 2), 'net2');
  assert.equal(virtinkBridgeName('net2'), 'br-net2');
  assert.equal(virtinkTapName('eth0'), 'tap-eth0');
  assert.equal(virtinkBridgeAddress(0), '169.254.200.1/30');
  assert.equal(virtinkBridgeAddress(3), '169.254.203.1/30');
});

test('masquerade addresses: KubeVirt defaults and Virtink /30', () => {
  assert.deepEqual(masqueradeFamily('10.0.2.0/24', 4), {
    cidr: '10.0.2.0/24',
    prefixLength: 24,
    gateway: '10.0.2.1',
    guest: '10.0.2.2',
  });
  assert.deepEqual(masqueradeFamily('fd10:0:2::/120', 6), {
    cidr: 'fd10:0:2::/120',
    prefixLength: 120,
    gateway: 'fd10:0:2::1',
    guest: 'fd10:0:2::2',
  });
  const v = masqueradeFamily('10.0.2.0/30', 4);
  assert.ok(!('error' in v));
  assert.equal(v.gateway, '10.0.2.1');
  assert.equal(v.guest, '10.0.2.2');
  // Host bits are cleared, as net.ParseCIDR does.
  const h = masqueradeFamily('192.168.7.77/28', 4);
  assert.ok(!('error' in h));
  assert.equal(h.gateway, '192.168.7.65');
  assert.equal(h.guest, '192.168.7.66');
});

test('masquerade addresses: too small, wrong family, malformed', () => {
  assert.match((masqueradeFamily('10.0.2.0/31', 4) as { error: string }).error, /too small/);
  assert.match((masqueradeFamily('fd10::/64', 4) as { error: string }).error, /not an IPv4/);
  assert.ok('error' in parseCidr('10.0.2.0'));
  assert.ok('error' in parseCidr('10.0.2.0/33'));
  assert.ok('error' in parseCidr('10.0.2/24'));
});

test('masquerade addresses: gateway and guest are the first two hosts of any IPv4 subnet', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 0xffffffff }),
      fc.integer({ min: 0, max: 30 }),
      (a, p) => {
        const text = `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}/${p}`;
        const r = masqueradeFamily(text, 4);
        assert.ok(!('error' in r));
        const net = p === 0 ? 0 : (a & (~0 << (32 - p))) >>> 0;
        const toNum = (s: string) => s.split('.').reduce((x, o) => x * 256 + Number(o), 0);
        assert.equal(toNum(r.gateway), net + 1);
        assert.equal(toNum(r.guest), net + 2);
      },
    ),
  );
});

test('quantities: parse, sum and format like Kubernetes', () => {
  const q = (s: string) => parseQuantity(s)!;
  assert.equal(formatQuantity(addQuantities([q('500Mi'), q('250Mi')])), '750Mi');
  assert.equal(formatQuantity(addQuantities([q('1Gi'), q('1Gi')])), '2Gi');
  assert.equal(formatQuantity(addQuantities([q('500M'), q('12Mi')])), '512582912');
  assert.equal(formatQuantity(addQuantities([q('1.5Gi')])), '1536Mi');
  assert.equal(formatQuantity(q('64M')), '64M');
  assert.equal(formatQuantity(q('1e3')), '1k');
  assert.equal(formatQuantity(q('100m')), '100m');
  assert.equal(parseQuantity('12 apples'), undefined);
  assert.equal(parseQuantity('Mi'), undefined);
});

test('quantities: a sum of binary terms is exact', () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: 4096 }), { minLength: 1, maxLength: 5 }),
      (ms) => {
        const sum = addQuantities(ms.map((m) => parseQuantity(`${m}Mi`)!));
        assert.equal(sum.milli, BigInt(ms.reduce((a, b) => a + b, 0)) * 1048576n * 1000n);
        assert.equal(parseQuantity(formatQuantity(sum))!.milli, sum.milli);
      },
    ),
  );
});
