// Unit tests of the guest `ip addr` parser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { linkByMac, parseIpAddr } from './guest-addrs.js';

const BUSYBOX = `1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue qlen 1000
    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00
    inet 127.0.0.1/8 scope host lo
       valid_lft forever preferred_lft forever
    inet6 ::1/128 scope host
       valid_lft forever preferred_lft forever
2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1400 qdisc pfifo_fast qlen 1000
    link/ether 52:54:00:12:34:56 brd ff:ff:ff:ff:ff:ff
    inet 10.0.2.2/24 brd 10.0.2.255 scope global eth0
       valid_lft forever preferred_lft forever
    inet6 fd10:0:2::2/128 scope global dynamic
       valid_lft 86400sec preferred_lft 86400sec
    inet6 fe80::5054:ff:fe12:3456/64 scope link
       valid_lft forever preferred_lft forever
3: eth1@if9: <BROADCAST,MULTICAST> mtu 1500 qdisc noop qlen 1000
    link/ether 0A:58:0A:F4:01:02 brd ff:ff:ff:ff:ff:ff
`;

test('parseIpAddr: links, MACs, global addresses only', () => {
  const l = parseIpAddr(BUSYBOX);
  assert.deepEqual(
    l.map((x) => x.name),
    ['lo', 'eth0', 'eth1'],
  );
  assert.deepEqual(l[0]!.inet, []);
  assert.deepEqual(l[1], {
    name: 'eth0',
    up: true,
    mac: '52:54:00:12:34:56',
    inet: ['10.0.2.2/24'],
    inet6: ['fd10:0:2::2/128'],
  });
  assert.equal(l[2]!.up, false);
  assert.equal(linkByMac(l, '0a:58:0a:f4:01:02')?.name, 'eth1');
  assert.equal(linkByMac(l, '00:00:00:00:00:01'), undefined);
});
