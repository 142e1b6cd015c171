// Tests of the guest's scripts: busybox sh parses each, and they carry the console markers the orchestrator reads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { guestScripts } from './scripts.js';

const busybox = existsSync('/bin/busybox') ? '/bin/busybox' : undefined;

test('every guest script parses with busybox sh -n', { skip: !busybox && 'no busybox' }, () => {
  for (const s of guestScripts(['virtio.ko', 'virtio_net.ko'])) {
    if (s.path === 'etc/inittab') continue;
    execFileSync(busybox!, ['sh', '-n', '-c', s.text], { stdio: 'pipe' });
  }
});

test('the scripts hold the contract markers', () => {
  const all = guestScripts([])
    .map((s) => s.text)
    .join('\n');
  for (const m of [
    'BINDERY-GUEST-READY',
    'BINDERY-DHCP4 $interface $ip/$mask router=$r dns=',
    'BINDERY-DHCP6 $interface $new_ip6_address',
    'org.bindery.agent',
    'httpd -p 80 -h /www',
    'dhclient -6 -1 -v -sf',
    '-O mtu',
    'BINDERY-LINK6-RESTART $n',
    '/proc/sys/net/ipv6/conf/$n/disable_ipv6',
  ]) {
    assert.ok(all.includes(m), m);
  }
});
