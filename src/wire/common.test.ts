// Tests of the shared wire helpers: address text forms and byte order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  formatIpv6,
  parseIpv6,
  formatIpv4,
  parseIpv4,
  formatMac,
  parseMac,
  getU32,
  putU32,
} from './common.js';

test('IPv6 text forms follow RFC 5952', () => {
  const cases: Array<[string, string]> = [
    ['2001:db8:0:0:0:0:2:1', '2001:db8::2:1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['::', '::'],
    ['::1', '::1'],
    ['fe80::1', 'fe80::1'],
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'],
    ['::ffff:10.0.2.15', '::ffff:a00:20f'],
  ];
  for (const [inp, want] of cases) {
    const a = parseIpv6(inp);
    assert.ok(a, inp);
    assert.equal(formatIpv6(a), want, inp);
  }
  for (const bad of ['1::2::3', '12345::', ':::', '1:2:3:4:5:6:7:8:9', 'g::1', '1:2:3:4:5:6:7']) {
    assert.equal(parseIpv6(bad), undefined, bad);
  }
});

test('IPv6 format then parse is the identity', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (a) => {
      assert.deepEqual(parseIpv6(formatIpv6(a)), a);
    }),
  );
});

test('IPv4 and MAC text forms', () => {
  assert.equal(formatIpv4(parseIpv4('10.0.2.15')!), '10.0.2.15');
  assert.equal(parseIpv4('256.1.1.1'), undefined);
  assert.equal(formatMac(parseMac('9A:55:9a:55:9a:55')!), '9a:55:9a:55:9a:55');
  assert.equal(parseMac('9a:55:9a:55:9a'), undefined);
});

test('u32 round trip', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 0xffffffff }), (v) => {
      const b = new Uint8Array(4);
      putU32(b, 0, v);
      assert.equal(getU32(b, 0), v);
    }),
  );
});
