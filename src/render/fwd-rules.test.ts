// Tests of the all-ports table: sets and maps from specs (ranges, excludes, bind address, interface), the port encoding, and `nft -c` in a namespace.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import {
  FWD_V6_NET,
  portOfUdpTarget,
  portRanges,
  renderFwdRules,
  renderFwdRulesDown,
  udpTargetAddr,
} from './fwd-rules.js';
import { parsePortSpec, resolvePortMap, type PortSpec } from '../usernet/fwd/portspec.js';

const sp = (t: string): PortSpec => {
  const r = parsePortSpec(t);
  if (!r.ok) assert.fail(r.error);
  return r.spec;
};
const EPH = { first: 32768, last: 60999 };

test('the port encoding round-trips for every port, both families', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 65535 }),
      fc.constantFrom(4 as const, 6 as const),
      (p, f) => assert.equal(portOfUdpTarget(f, udpTargetAddr(f, p)), p),
    ),
  );
  assert.equal(udpTargetAddr(4, 0x1234), '127.1.18.52');
  assert.equal(udpTargetAddr(6, 0x1234), `${FWD_V6_NET}1234`);
  for (const bad of ['127.0.0.1', '10.1.2.3', '127.1.0.0', '127.1.256.1'])
    assert.equal(portOfUdpTarget(4, bad), undefined, bad);
  for (const bad of ['fd00::1', `${FWD_V6_NET}12345`, `${FWD_V6_NET}0`])
    assert.equal(portOfUdpTarget(6, bad), undefined, bad);
});

test('port ranges merge and match the port map', () => {
  const excl = resolvePortMap([sp('~22,~8000-8010')], EPH);
  assert.deepEqual(portRanges(excl), [
    [1, 21],
    [23, 7999],
    [8011, 32767],
    [61000, 65535],
  ]);
  fc.assert(
    fc.property(fc.uniqueArray(fc.integer({ min: 1, max: 65535 }), { maxLength: 50 }), (ps) => {
      const map = new Uint16Array(65536);
      for (const p of ps) map[p] = p;
      const covered = portRanges(map).flatMap(([a, b]) =>
        Array.from({ length: b - a + 1 }, (_, i) => a + i),
      );
      assert.deepEqual(
        covered,
        [...ps].sort((a, b) => a - b),
      );
    }),
  );
});

test('KubeVirt forms: all, Istio excludes, declared ports, %eth0/all', () => {
  const all = renderFwdRules({
    tcp: [sp('all')],
    udp: [sp('all')],
    ephemeral: EPH,
    tcpPort: 47998,
    udpPort: 47998,
  });
  assert.match(
    all,
    /^add table inet bindery_fwd\ndelete table inet bindery_fwd\ntable inet bindery_fwd \{$/m,
  );
  assert.match(
    all,
    /set tcp_0 \{ type inet_service; flags interval; elements = \{ 1-32767, 61000-65535 \} \}/,
  );
  assert.match(all, /fib daddr type local meta nfproto ipv4 tcp dport @tcp_0 redirect to :47998/);
  assert.match(all, /fib daddr type local meta nfproto ipv6 tcp dport @tcp_0 redirect to :47998/);
  assert.match(
    all,
    /map udp4_0 \{ type inet_service : ipv4_addr \. inet_service; elements = \{ 1 : 127\.1\.0\.1 \. 47998, /,
  );
  assert.match(all, / 65535 : fd62:696e:6465:7279::ffff \. 47998 \} \}/);
  assert.doesNotMatch(all, / 32768 : /);
  assert.match(all, /dnat ip addr \. port to udp dport map @udp4_0/);
  assert.match(all, /iifname != "lo" ip daddr 127\.0\.0\.0\/8 drop/);
  const istio = renderFwdRules({
    tcp: [sp('~15000,~15001')],
    udp: [],
    ephemeral: EPH,
    tcpPort: 1,
    udpPort: 0,
  });
  assert.match(istio, /elements = \{ 1-14999, 15002-32767, 61000-65535 \}/);
  assert.doesNotMatch(istio, /map udp/);
  const dev = renderFwdRules({
    tcp: [sp('%eth0/all')],
    udp: [sp('80,443')],
    ephemeral: EPH,
    tcpPort: 5,
    udpPort: 6,
  });
  assert.match(
    dev,
    /iifname "eth0" fib daddr type local meta nfproto ipv4 tcp dport @tcp_0 redirect to :5/,
  );
  assert.match(dev, /elements = \{ 80 : 127\.1\.0\.80 \. 6, 443 : 127\.1\.1\.187 \. 6 \}/);
  const bound = renderFwdRules({
    tcp: [sp('10.0.0.1/80'), sp('0.0.0.0/81')],
    udp: [],
    ephemeral: EPH,
    tcpPort: 5,
    udpPort: 0,
  });
  assert.match(bound, /meta nfproto ipv4 ip daddr 10\.0\.0\.1 tcp dport @tcp_0/);
  assert.match(bound, /meta nfproto ipv4 tcp dport @tcp_1/);
  assert.doesNotMatch(bound, /ipv6 tcp dport @tcp_1/);
  assert.equal(renderFwdRulesDown(), 'add table inet bindery_fwd\ndelete table inet bindery_fwd\n');
});

test(
  'nft accepts the table (nft -c in a scratch namespace)',
  { skip: process.getuid?.() !== 0 ? 'needs root' : undefined },
  () => {
    const ns = `bdy-${process.env.BINDERY_RUN_ID ?? 'dev'}-fwdr${process.pid}`;
    assert.equal(spawnSync('ip', ['netns', 'add', ns]).status, 0);
    try {
      const text = renderFwdRules({
        tcp: [sp('~22'), sp('10.0.0.1/80')],
        udp: [sp('all'), sp('%eth0/53')],
        ephemeral: EPH,
        tcpPort: 47998,
        udpPort: 47999,
      });
      const r = spawnSync('ip', ['netns', 'exec', ns, 'nft', '-c', '-f', '-'], {
        input: text,
        encoding: 'utf8',
      });
      assert.equal(r.status, 0, r.stderr);
    } finally {
      spawnSync('ip', ['netns', 'del', ns]);
    }
  },
);
