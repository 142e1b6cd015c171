// Tests of `bindery passt` option parsing (passt's and libvirt's spellings) and config resolution.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePasstArgs, resolveConfig, DEFAULT_MTU } from './conf.js';
import { UsageError } from '../errors.js';
import { formatMac } from '../wire/common.js';
import type { HostInfo } from './hostinfo.js';

const POD: HostInfo = {
  routes4: [{ iface: 'eth0', gateway: '10.244.0.1', metric: 0 }],
  routes6: [{ iface: 'eth0', gateway: 'fe80::1', metric: 1024 }],
  addrs: new Map([
    [
      'eth0',
      [
        { family: 4, address: '10.244.0.17', prefixLen: 24, linkLocal: false },
        { family: 6, address: 'fd10:244::17', prefixLen: 128, linkLocal: false },
        { family: 6, address: 'fe80::17', prefixLen: 64, linkLocal: true },
      ],
    ],
  ]),
  mtus: new Map([['eth0', 1450]]),
  nameservers: ['10.96.0.10', '127.0.0.53'],
  search: ['default.svc.cluster.local'],
};

test('the argv libvirt and KubeVirt build is accepted', () => {
  const o = parsePasstArgs([
    '--one-off',
    '--socket',
    '/run/passt/vm-net0.socket',
    '--mac-addr',
    '52:54:00:d3:39:0e',
    '--pid',
    '/run/passt/vm-net0-passt.pid',
    '--interface',
    'eth0',
    '--log-file',
    '/var/run/kubevirt/passt.log',
    '--tcp-ports',
    '~15000,~15001',
    '--udp-ports',
    '%eth0/all',
  ]);
  assert.equal(o.oneOff, true);
  assert.equal(o.socketPath, '/run/passt/vm-net0.socket');
  assert.equal(formatMac(o.ourMac), '52:54:00:d3:39:0e');
  assert.equal(o.iface, 'eth0');
  assert.equal(o.tcpPorts[0]!.mode, 'all');
  assert.equal(o.udpPorts[0]!.iface, 'eth0');
  assert.equal(o.mtu, DEFAULT_MTU);
});

test('short options, repeats and switches', () => {
  const o = parsePasstArgs([
    '-f',
    '-q',
    '-4',
    '-m',
    '1500',
    '-a',
    '10.0.2.15',
    '-n',
    '24',
    '-g',
    '10.0.2.2',
    '-D',
    '1.1.1.1',
    '-D',
    '9.9.9.9',
    '-S',
    'a.example b.example',
    '--no-dhcpv6',
    '--no-ra',
    '-u',
    '53',
    '-u',
    '5000-5001:6000-6001',
  ]);
  assert.equal(o.foreground, true);
  assert.equal(o.quiet, true);
  assert.equal(o.ipv4Only, true);
  assert.equal(o.mtu, 1500);
  assert.deepEqual(o.dns, ['1.1.1.1', '9.9.9.9']);
  assert.deepEqual(o.search, ['a.example', 'b.example']);
  assert.equal(o.noDhcpv6, true);
  assert.equal(o.noRa, true);
  assert.equal(o.noDhcp, false);
  assert.equal(o.udpPorts.length, 2);
  assert.equal(parsePasstArgs(['-F', '3']).oneOff, true);
  assert.equal(parsePasstArgs(['--no-map-gw']).mapHostLoopback, 'none');
  assert.deepEqual(parsePasstArgs(['--tap', 'tap0', '--netns', '/run/netns/x']).tap, {
    name: 'tap0',
    netns: '/run/netns/x',
  });
  assert.equal(parsePasstArgs(['--tap', 't', '--netns', 'n']).tapOffload, true);
  assert.equal(
    parsePasstArgs(['--tap', 't', '--netns', 'n', '--no-tap-offload']).tapOffload,
    false,
  );
});

test('bad usage is a one-line UsageError', () => {
  const bad: string[][] = [
    ['--bogus'],
    ['-m', 'big'],
    ['-m', '70000'],
    ['-m', '40'],
    ['-a', 'not-an-ip'],
    ['-M', '9a:55'],
    ['-t', '80-70'],
    ['-u', ''],
    ['-D', 'x'],
    ['-4', '-6'],
    ['--tap', 'tap0'],
    ['extra-argument'],
  ];
  for (const argv of bad) {
    assert.throws(
      () => parsePasstArgs(argv),
      (e: unknown) => e instanceof UsageError && !e.message.includes('\n') && e.message.length > 0,
      argv.join(' '),
    );
  }
});

test('the guest gets the pod address, prefix and gateway; loopback DNS maps to the gateway', () => {
  const c = resolveConfig(parsePasstArgs([]), POD);
  assert.deepEqual(c.v4, {
    guestAddr: '10.244.0.17',
    prefixLen: 24,
    gateway: '10.244.0.1',
    mapHostLoopback: '10.244.0.1',
    hostIface: 'eth0',
  });
  assert.equal(c.v6?.guestAddr, 'fd10:244::17');
  assert.equal(c.v6?.prefixLen, 64);
  assert.equal(c.v6?.gateway, 'fe80::1');
  assert.deepEqual(c.nameservers, ['10.96.0.10', '10.244.0.1']);
  assert.deepEqual(c.search, ['default.svc.cluster.local']);
});

test('explicit -a/-n/-g and --map-host-loopback win; no routes means local mode', () => {
  const c = resolveConfig(
    parsePasstArgs([
      '-a',
      '192.0.2.5',
      '-n',
      '255.255.255.0',
      '-g',
      '192.0.2.1',
      '--map-host-loopback',
      '192.0.2.99',
      '-D',
      'none',
    ]),
    POD,
  );
  assert.equal(c.v4?.guestAddr, '192.0.2.5');
  assert.equal(c.v4?.prefixLen, 24);
  assert.equal(c.v4?.gateway, '192.0.2.1');
  assert.equal(c.v4?.mapHostLoopback, '192.0.2.99');
  assert.deepEqual(c.nameservers, []);
  const empty: HostInfo = {
    routes4: [],
    routes6: [],
    addrs: new Map(),
    mtus: new Map(),
    nameservers: [],
    search: [],
  };
  const local = resolveConfig(parsePasstArgs([]), empty);
  assert.equal(local.v4?.guestAddr, '169.254.2.1');
  assert.equal(local.v4?.gateway, '169.254.2.2');
  assert.equal(local.v6, undefined);
});
