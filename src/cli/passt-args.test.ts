// Tests of passt's argv grammar for `bindery passt` (passt's and libvirt's spellings, bad usage).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VHOST_USER_CAPABILITIES, parsePasstArgs, passtHelp } from './passt-args.js';
import { DEFAULT_MTU, resolveConfig } from '../usernet/conf.js';
import { UsageError } from '../errors.js';
import { formatMac } from '../wire/common.js';
import { POD } from '../../test/lab/pod-host.js';

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

// Recorded from libvirt 11.3 (bookworm-backports, virt-qemu-run) through the passt drop-in:
// `<interface type='user'>` with `<source dev='eth0'/>`, `<mtu size='1400'/>`, two `<ip>`, an
// empty udp portForward and a tcp one with address, dev, an excluded port and a range with `to`,
// then a second tcp portForward; and KubeVirt's no-ports form (empty tcp and udp portForwards).
test('the argv libvirt 11.3 passes for type=user domains is accepted', () => {
  const head = ['--one-off', '--socket', '/r/run/qemu/passt/1-vm-ua-n.socket'];
  const pid = ['--pid', '/r/run/qemu/passt/1-vm-ua-n-passt.pid'];
  const o = parsePasstArgs([
    ...head,
    ...pid,
    '--mtu',
    '1400',
    '--interface',
    'eth0',
    '--log-file',
    '/tmp/passt.log',
    '--address',
    '10.88.0.2',
    '--netmask',
    '24',
    '--address',
    'fd00::2',
    '--udp-ports',
    'all',
    '--tcp-ports',
    '10.88.0.2%eth0/~15000,2000-2010:3000-3010',
    '--tcp-ports',
    '80',
  ]);
  assert.equal(o.mtu, 1400);
  assert.deepEqual(o.addresses, ['10.88.0.2', 'fd00::2']);
  assert.equal(o.netmask, '24');
  assert.equal(o.udpPorts[0]!.mode, 'all');
  assert.equal(o.tcpPorts.length, 2);
  assert.equal(o.tcpPorts[0]!.addr, '10.88.0.2');
  assert.equal(o.tcpPorts[0]!.iface, 'eth0');
  assert.deepEqual(o.tcpPorts[0]!.excludes, [{ first: 15000, last: 15000 }]);
  assert.deepEqual(o.tcpPorts[0]!.ranges, [{ first: 2000, last: 2010, toFirst: 3000 }]);
  assert.deepEqual(o.tcpPorts[1]!.ranges, [{ first: 80, last: 80, toFirst: 80 }]);

  const all = parsePasstArgs([
    ...head,
    ...pid,
    '--interface',
    'eth0',
    '--log-file',
    '/tmp/passt.log',
    '--tcp-ports',
    'all',
    '--udp-ports',
    'all',
  ]);
  assert.equal(all.tcpPorts[0]!.mode, 'all');
  assert.equal(all.udpPorts[0]!.mode, 'all');
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
  assert.equal(parsePasstArgs([]).threads, 1);
  assert.equal(parsePasstArgs(['--tap', 't', '--netns', 'n', '--threads', '2']).threads, 2);
});

test('bad usage is a one-line UsageError', () => {
  const bad: string[][] = [
    ['--bogus'],
    ['--threads', '2'],
    ['--tap', 't', '--netns', 'n', '--threads', '0'],
    ['--tap', 't', '--netns', 'n', '--threads', '65'],
    ['--tap', 't', '--netns', 'n', '--threads', '2', '--migrate-target'],
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

test('logging options: -q, -d, --trace, --log-file, --log-size', () => {
  const q = parsePasstArgs(['-q']);
  assert.deepEqual([q.quiet, q.debug, q.trace, q.logSize], [true, false, false, undefined]);
  const d = parsePasstArgs(['-d']);
  assert.deepEqual([d.quiet, d.debug, d.trace], [false, true, false]);
  const t = parsePasstArgs(['--trace', '-l', '/x.log', '--log-size', '65536']);
  assert.deepEqual([t.debug, t.trace, t.logFile, t.logSize], [true, true, '/x.log', 65536]);
  for (const argv of [
    ['--log-size', '12'],
    ['--log-size', 'big'],
    ['--trace', '-q'],
  ])
    assert.throws(() => parsePasstArgs(argv), UsageError, argv.join(' '));
});

test('parsed options resolve: the flags reach the configuration', () => {
  const c = resolveConfig(
    parsePasstArgs(['-a', '192.0.2.5', '-n', '24', '-g', '192.0.2.1', '-D', 'none', '-4']),
    POD,
  );
  assert.equal(c.v4?.guestAddr, '192.0.2.5');
  assert.equal(c.v4?.prefixLen, 24);
  assert.equal(c.v4?.gateway, '192.0.2.1');
  assert.equal(c.v6, undefined);
  assert.deepEqual(c.nameservers, []);
  assert.equal(c.mtu, DEFAULT_MTU);
});

test('hand-over options: --repair-path (passt) and --migrate-target', () => {
  const o = parsePasstArgs(['--repair-path', '/run/r.sock', '--migrate-target']);
  assert.deepEqual([o.repairPath, o.migrateTarget], ['/run/r.sock', true]);
  const n = parsePasstArgs([]);
  assert.deepEqual([n.repairPath, n.migrateTarget], [undefined, false]);
});

test('the vhost-user argv libvirt 11 builds is accepted; --help lists the vhost-user options', () => {
  const o = parsePasstArgs([
    '--vhost-user',
    '--one-off',
    '--socket',
    '/run/passt/vm-net0.socket',
    '--pid',
    '/run/passt/vm-net0-passt.pid',
    '--interface',
    'eth0',
    '--log-file',
    '/var/log/passt.log',
    '--tcp-ports',
    '80',
  ]);
  assert.equal(o.vhostUser, true);
  assert.equal(o.oneOff, true);
  assert.equal(parsePasstArgs([]).vhostUser, false);
  assert.throws(() => parsePasstArgs(['--vhost-user', '--fd', '3']), UsageError);
  assert.throws(() => parsePasstArgs(['--vhost-user', '--tap', 't', '--netns', 'n']), UsageError);
  const help = passtHelp();
  assert.match(help, /--vhost-user/);
  assert.match(help, /--print-capabilities/);
  assert.equal(JSON.parse(VHOST_USER_CAPABILITIES).type, 'net');
});

test('-p/--pcap, --metrics (loopback or unix only) and --stats', () => {
  const o = parsePasstArgs(['-p', '/tmp/a.pcap', '--metrics', '[::1]:9100', '--stats', '5']);
  assert.equal(o.pcap, '/tmp/a.pcap');
  assert.deepEqual(o.metrics, { kind: 'tcp', host: '::1', port: 9100 });
  assert.equal(o.stats, 5);
  assert.equal(parsePasstArgs(['--pcap', 'x.pcap']).pcap, 'x.pcap');
  assert.deepEqual(parsePasstArgs(['--metrics', 'unix:/run/m.sock']).metrics, {
    kind: 'unix',
    path: '/run/m.sock',
  });
  const none = parsePasstArgs([]);
  assert.deepEqual([none.pcap, none.metrics, none.stats], [undefined, undefined, undefined]);
  assert.throws(() => parsePasstArgs(['--metrics', '0.0.0.0:9100']), /not a loopback address/);
  assert.throws(() => parsePasstArgs(['--metrics', '192.0.2.1:9100']), UsageError);
  assert.throws(() => parsePasstArgs(['--stats', '0']), UsageError);
  assert.throws(() => parsePasstArgs(['--stats', 'x']), UsageError);
});
