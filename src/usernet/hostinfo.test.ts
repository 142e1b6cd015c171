// Tests of the host-facts parsers on real /proc and resolv.conf text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { parseProcRoute, parseProcIpv6Route, parseResolvConf } from './hostinfo.js';

test('/proc/net/route: default route with gateway, lowest metric first', () => {
  const text = [
    'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT',
    'eth0\t00000000\t0102000A\t0003\t0\t0\t100\t00000000\t0\t0\t0',
    'eth1\t00000000\t0101A8C0\t0003\t0\t0\t50\t00000000\t0\t0\t0',
    'eth0\t0002000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0',
  ].join('\n');
  assert.deepEqual(parseProcRoute(text), [
    { iface: 'eth1', gateway: '192.168.1.1', metric: 50 },
    { iface: 'eth0', gateway: '10.0.2.1', metric: 100 },
  ]);
});

test('/proc/net/ipv6_route: default via fe80::1, unreachable and lo skipped', () => {
  const z = '0'.repeat(32);
  const text = [
    `${z} 00 ${z} 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003 eth0`,
    `${z} 00 ${z} 00 ${z} ffffffff 00000001 00000000 00200200 lo`,
    `20010db8000000000000000000000000 40 ${z} 00 ${z} 00000100 00000001 00000000 00000001 eth0`,
  ].join('\n');
  assert.deepEqual(parseProcIpv6Route(text), [{ iface: 'eth0', gateway: 'fe80::1', metric: 1024 }]);
});

test('the kernel of a fresh namespace agrees with the parser', () => {
  const ns = `bdy-${process.env.BINDERY_RUN_ID ?? 'dev'}-hi${process.pid}`;
  execFileSync('ip', ['netns', 'add', ns]);
  try {
    const ex = (...a: string[]) => execFileSync('ip', ['-n', ns, ...a]);
    ex('link', 'add', 'd0', 'type', 'veth', 'peer', 'name', 'd1');
    ex('link', 'set', 'd1', 'up');
    ex('link', 'set', 'd0', 'up');
    ex('addr', 'add', '10.9.8.7/24', 'dev', 'd0');
    ex('addr', 'add', '2001:db8:9::7/64', 'dev', 'd0', 'nodad');
    ex('route', 'add', 'default', 'via', '10.9.8.1', 'metric', '7');
    ex('-6', 'route', 'add', 'default', 'via', '2001:db8:9::1', 'metric', '9');
    const cat = (f: string) =>
      execFileSync('ip', ['netns', 'exec', ns, 'cat', f], { encoding: 'utf8' });
    assert.deepEqual(parseProcRoute(cat('/proc/net/route')), [
      { iface: 'd0', gateway: '10.9.8.1', metric: 7 },
    ]);
    assert.deepEqual(parseProcIpv6Route(cat('/proc/net/ipv6_route')), [
      { iface: 'd0', gateway: '2001:db8:9::1', metric: 9 },
    ]);
  } finally {
    execFileSync('ip', ['netns', 'del', ns]);
  }
});

test('resolv.conf: nameservers, last search wins, comments ignored', () => {
  const r = parseResolvConf(
    '# generated\nnameserver 10.96.0.10\nnameserver fe80::1%eth0\ndomain x.org\nsearch default.svc.cluster.local svc.cluster.local ; tail\noptions ndots:5\n',
  );
  assert.deepEqual(r.nameservers, ['10.96.0.10', 'fe80::1']);
  assert.deepEqual(r.search, ['default.svc.cluster.local', 'svc.cluster.local']);
});
