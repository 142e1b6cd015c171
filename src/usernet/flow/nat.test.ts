// Unit tests for nat.ts: the guest ↔ host address mapping table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { guestToHost, hostToGuestSource, isLoopback } from './nat.js';
import type { PasstConfig } from '../conf.js';
import { parseMac } from '../../wire/common.js';

const cfg: PasstConfig = {
  v4: {
    guestAddr: '10.0.0.5',
    prefixLen: 24,
    gateway: '10.0.0.1',
    mapHostLoopback: '10.0.0.1',
    hostIface: 'eth0',
  },
  v6: {
    guestAddr: 'fd00::5',
    prefixLen: 64,
    gateway: 'fe80::1',
    mapHostLoopback: 'fe80::1',
    hostIface: 'eth0',
  },
  mtu: 65520,
  ourMac: parseMac('9a:55:9a:55:9a:55')!,
  nameservers: ['10.0.0.1', '192.0.2.53', 'fe80::1'],
  search: [],
};
const resolvers = ['127.0.0.53', '192.0.2.53', '::1'];

test('guestToHost maps the host-loopback address, DNS to a loopback resolver, and passes the rest', () => {
  const cases: [4 | 6, string, number, { addr: string; port: number } | undefined][] = [
    [4, '10.0.0.1', 8080, { addr: '127.0.0.1', port: 8080 }],
    [4, '10.0.0.1', 53, { addr: '127.0.0.53', port: 53 }],
    [4, '192.0.2.53', 53, { addr: '192.0.2.53', port: 53 }],
    [4, '93.184.216.34', 443, { addr: '93.184.216.34', port: 443 }],
    [4, '10.0.0.7', 9, { addr: '10.0.0.7', port: 9 }],
    [4, '224.0.0.251', 5353, undefined],
    [4, '255.255.255.255', 67, undefined],
    [4, '10.0.0.255', 137, undefined],
    [4, '127.0.0.1', 22, undefined],
    [4, '0.0.0.0', 22, undefined],
    [4, 'fd00::1', 22, undefined],
    [6, 'fe80::1', 8080, { addr: '::1', port: 8080 }],
    [6, 'fe80:0:0::1', 53, { addr: '::1', port: 53 }],
    [6, '2001:db8::1', 53, { addr: '2001:db8::1', port: 53 }],
    [6, 'ff02::fb', 5353, undefined],
    [6, '::1', 22, undefined],
    [6, '::', 22, undefined],
    [6, 'fe80::2', 22, undefined],
  ];
  for (const [fam, dst, port, want] of cases)
    assert.deepEqual(guestToHost(cfg, resolvers, fam, dst, port), want, `${dst}:${port}`);
});

test('guestToHost without a loopback resolver sends DNS to host loopback; no mapping passes through', () => {
  assert.deepEqual(guestToHost(cfg, ['192.0.2.53'], 4, '10.0.0.1', 53), {
    addr: '127.0.0.1',
    port: 53,
  });
  const noMap: PasstConfig = { ...cfg, v4: { ...cfg.v4!, mapHostLoopback: undefined } };
  assert.deepEqual(guestToHost(noMap, resolvers, 4, '10.0.0.1', 80), {
    addr: '10.0.0.1',
    port: 80,
  });
  assert.equal(
    guestToHost({ ...cfg, v4: undefined }, resolvers, 4, '10.0.0.1', 80)?.addr,
    '10.0.0.1',
  );
});

test('hostToGuestSource maps loopback to the host-loopback address and leaves others', () => {
  assert.equal(hostToGuestSource(cfg, 4, '127.0.0.1'), '10.0.0.1');
  assert.equal(hostToGuestSource(cfg, 4, '127.0.0.53'), '10.0.0.1');
  assert.equal(hostToGuestSource(cfg, 4, '::ffff:127.0.0.1'), '10.0.0.1');
  assert.equal(hostToGuestSource(cfg, 4, '192.0.2.9'), '192.0.2.9');
  assert.equal(hostToGuestSource(cfg, 6, '::1'), 'fe80::1');
  assert.equal(hostToGuestSource(cfg, 6, '2001:db8::9'), '2001:db8::9');
  const noMap: PasstConfig = { ...cfg, v4: { ...cfg.v4!, mapHostLoopback: undefined } };
  assert.equal(hostToGuestSource(noMap, 4, '127.0.0.1'), '10.0.0.1');
  assert.ok(isLoopback('127.1.2.3') && isLoopback('::1') && !isLoopback('::2'));
});
