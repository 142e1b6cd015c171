// Tests of the translator's configuration resolution (options + host facts → what the guest sees).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveConfig, DEFAULT_MTU, DEFAULT_OUR_MAC, type PasstOptions } from './conf.js';
import { parseMac } from '../wire/common.js';
import type { HostInfo } from './hostinfo.js';
import { POD } from '../../test/lab/pod-host.js';

/** The options of a bare `bindery passt`, with `over` on top. */
function options(over: Partial<PasstOptions> = {}): PasstOptions {
  return {
    socketPath: undefined,
    fd: undefined,
    oneOff: false,
    foreground: false,
    pidFile: undefined,
    controlPath: undefined,
    logFile: undefined,
    logSize: undefined,
    debug: false,
    trace: false,
    quiet: false,
    mtu: DEFAULT_MTU,
    addresses: [],
    netmask: undefined,
    gateways: [],
    iface: undefined,
    ourMac: parseMac(DEFAULT_OUR_MAC)!,
    dns: [],
    search: [],
    hostname: undefined,
    fqdn: undefined,
    noDhcp: false,
    noNdp: false,
    noDhcpv6: false,
    noRa: false,
    ipv4Only: false,
    ipv6Only: false,
    tcpPorts: [],
    udpPorts: [],
    mapHostLoopback: undefined,
    tap: undefined,
    tapOffload: true,
    ...over,
  };
}

test('the guest gets the pod address, prefix and gateway; loopback DNS maps to the gateway', () => {
  const c = resolveConfig(options(), POD);
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
    options({
      addresses: ['192.0.2.5'],
      netmask: '255.255.255.0',
      gateways: ['192.0.2.1'],
      mapHostLoopback: '192.0.2.99',
      dns: 'none',
    }),
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
  const local = resolveConfig(options(), empty);
  assert.equal(local.v4?.guestAddr, '169.254.2.1');
  assert.equal(local.v4?.gateway, '169.254.2.2');
  assert.equal(local.v6, undefined);
});
