// Unit tests of the `up --check` list and its judges.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HTTP_MARKER, interfaceChecks, overall } from './checks.js';

const IPADDR = `2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500
    link/ether 52:54:00:12:34:56 brd ff:ff:ff:ff:ff:ff
    inet 10.0.2.2/24 brd 10.0.2.255 scope global eth0
    inet6 fd10:0:2::2/128 scope global
`;

test('masquerade with IPv6 and inbound: every check, in order', () => {
  const c = interfaceChecks({
    name: 'default',
    binding: 'masquerade',
    mac: '52:54:00:12:34:56',
    expect4: '10.0.2.2/24',
    gateway4: '10.0.2.1',
    ipv6: { expect: 'fd10:0:2::2', gateway: 'fd10:0:2::1' },
    inboundUrl: 'http://10.244.1.2/',
  });
  assert.deepEqual(
    c.map((x) => x.id.split('/')[1]),
    ['dhcp4', 'ping4', 'dhcp6', 'ping6', 'http-ip', 'http-dns', 'inbound'],
  );
  assert.deepEqual(c[0]!.judge({ code: 0, output: IPADDR }), {
    ok: true,
    detail: 'eth0 10.0.2.2/24',
  });
  assert.equal(c[2]!.judge({ code: 0, output: IPADDR }).ok, true);
  assert.equal(c[4]!.judge({ code: 0, output: `<p>${HTTP_MARKER}</p>` }).ok, true);
  assert.equal(c[4]!.judge({ code: 0, output: 'other' }).ok, false);
  assert.equal(c[6]!.where, 'node');
});

test('dhcp4: wrong address or MAC fails with what the guest has', () => {
  const c = interfaceChecks({
    name: 'p',
    binding: 'passt',
    mac: '52:54:00:12:34:56',
    expect4: '10.244.1.2',
    gateway4: '10.244.1.1',
  });
  assert.equal(c.length, 4);
  assert.deepEqual(c[0]!.judge({ code: 0, output: IPADDR }), {
    ok: false,
    detail: 'eth0 has 10.0.2.2/24',
  });
  assert.equal(c[0]!.judge({ code: 0, output: '' }).ok, false);
  assert.deepEqual(c[1]!.judge({ code: 1, output: 'x\n100% packet loss' }), {
    ok: false,
    detail: 'exit 1: 100% packet loss',
  });
});

test('overall', () => {
  assert.equal(overall([{ ok: true, detail: '' }]).ok, true);
  assert.equal(
    overall([
      { ok: true, detail: '' },
      { ok: false, detail: '' },
    ]).line,
    'FAIL: 1 of 2 checks failed',
  );
});
