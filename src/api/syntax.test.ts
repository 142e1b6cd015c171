// Tests of the value syntaxes admission relies on: Go-style MAC and CIDR parsing, PCI, port names, quantities.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  isPciAddress,
  isQuantity,
  isValidPortName,
  parseCidr,
  parseIPv4,
  parseIPv6,
  parseMac,
} from './syntax.js';

test('parseMac accepts what Go net.ParseMAC accepts', () => {
  for (const [s, n] of [
    ['de:ad:00:00:be:af', 6],
    ['DE-AD-00-00-BE-AF', 6],
    ['dead.0000.beaf', 6],
    ['02:00:5e:10:00:00:00:01', 8],
    ['00:00:00:00:fe:80:00:00:00:00:00:00:02:00:5e:10:00:00:00:01', 20],
  ] as const) {
    const r = parseMac(s);
    assert.ok('bytes' in r && r.bytes.length === n, s);
  }
  for (const s of [
    '',
    'de:ad:00:00:be',
    'de:ad-00:00:be:af',
    'de:ad:00:00:be:ag',
    '01:1c:ba:0a:45:8',
    'dead.0000.bea',
  ]) {
    const r = parseMac(s);
    assert.ok('error' in r, s);
    if ('error' in r) assert.equal(r.error, `address ${s}: invalid MAC address`);
  }
});

test('parseCidr follows Go net.ParseCIDR', () => {
  assert.deepEqual(parseCidr('10.0.2.0/30'), { family: 4, prefix: 30, bytes: [10, 0, 2, 0] });
  const v6 = parseCidr('fd10:0:2::/120');
  assert.ok('family' in v6 && v6.family === 6 && v6.prefix === 120);
  for (const s of ['10.0.2.0', '10.0.2.0/33', '010.0.2.0/24', 'fd10::/129', 'x/8', '10.0.2/24'])
    assert.ok('error' in parseCidr(s), s);
  assert.deepEqual(parseIPv6('::ffff:10.0.0.1')?.slice(10), [0xff, 0xff, 10, 0, 0, 1]);
  assert.equal(parseIPv6('1::2::3'), undefined);
  assert.equal(parseIPv4('256.0.0.1'), undefined);
});

test('PCI addresses, port names and quantities', () => {
  assert.ok(isPciAddress('0000:81:01.1'));
  assert.ok(!isPciAddress('0000:81:01.10'));
  assert.ok(!isPciAddress('81:01.1'));
  assert.ok(isValidPortName('http'));
  assert.ok(isValidPortName('h-2'));
  for (const n of ['HTTP', '80', '-a', 'a-', 'a--b', 'abcdefghijklmnop'])
    assert.ok(!isValidPortName(n), n);
  for (const q of ['500Mi', '1G', '0.5', '1e3', '100m']) assert.ok(isQuantity(q), q);
  for (const q of ['500 Mi', 'Mi', '1MB', '']) assert.ok(!isQuantity(q), q);
});
