// Tests of passt's port-spec grammar: every form libvirt/KubeVirt emit, errors, and resolution.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  parsePortSpec,
  resolvePortMap,
  resolveTargetAddrs,
  parseEphemeralRange,
  formatPortSpec,
  type PortSpec,
} from './portspec.js';

function ok(text: string): PortSpec {
  const r = parsePortSpec(text);
  if (!r.ok) assert.fail(r.error);
  return r.spec;
}

test('none and all', () => {
  assert.equal(ok('none').mode, 'none');
  assert.equal(ok('all').mode, 'all');
  const m = resolvePortMap([ok('all')], { first: 32768, last: 60999 });
  assert.equal(m[22], 22);
  assert.equal(m[32768], 0);
  assert.equal(m[60999], 0);
  assert.equal(m[61000], 61000);
});

test('KubeVirt forms: declared ports, %eth0/all, Istio excludes', () => {
  assert.deepEqual(ok('80,443').ranges, [
    { first: 80, last: 80, toFirst: 80 },
    { first: 443, last: 443, toFirst: 443 },
  ]);
  const dev = ok('%eth0/all');
  assert.equal(dev.mode, 'all');
  assert.equal(dev.iface, 'eth0');
  const istio = ok('~15000,~15001,~15004,~15006,~15008,~15009,~15020,~15021,~15053,~15090');
  assert.equal(istio.mode, 'all');
  const m = resolvePortMap([istio]);
  assert.equal(m[15000], 0);
  assert.equal(m[15002], 15002);
  assert.equal(m[15090], 0);
});

test('ranges, mappings, address and interface binding', () => {
  const s = ok('127.0.0.1%lo/8000-8002:9000-9002,~8001');
  assert.equal(s.addr, '127.0.0.1');
  assert.equal(s.iface, 'lo');
  const m = resolvePortMap([s]);
  assert.equal(m[8000], 9000);
  assert.equal(m[8001], 0);
  assert.equal(m[8002], 9002);
  assert.equal(ok('::1/22').addr, '::1');
  assert.equal(resolvePortMap([ok('2222:22')])[2222], 22);
  assert.equal(resolvePortMap([ok('5000-5002:6000')])[5002], 6002);
});

test('malformed specs give a one-line reason', () => {
  for (const bad of [
    '',
    '0',
    '65536',
    '80-70',
    'abc',
    '1-2:3-5',
    '~',
    '300.1.1.1/80',
    'eth0%/80',
    '65535:65535-65536',
    '80,,81',
  ]) {
    const r = parsePortSpec(bad);
    assert.equal(r.ok, false, bad);
    if (!r.ok) {
      assert.match(r.error, /^invalid port specifier/);
      assert.equal(r.error.includes('\n'), false);
    }
  }
});

test('parsing never throws on arbitrary text', () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 40 }), (s) => {
      const r = parsePortSpec(s);
      if (r.ok) resolvePortMap([r.spec]);
    }),
  );
});

test('ephemeral range from /proc text', () => {
  assert.deepEqual(parseEphemeralRange('32768\t60999\n'), { first: 32768, last: 60999 });
  assert.deepEqual(parseEphemeralRange('junk'), { first: 49152, last: 65535 });
});

test('target-address rules (upstream passt 2026-07)', () => {
  const s = ok('0.0.0.0/5000:192.0.2.5/6000');
  assert.equal(s.addr, '0.0.0.0');
  assert.deepEqual(s.ranges, [{ first: 5000, last: 5000, toFirst: 6000, toAddr: '192.0.2.5' }]);
  assert.equal(resolvePortMap([s])[5000], 6000);
  assert.deepEqual([...resolveTargetAddrs([s])], [[5000, '192.0.2.5']]);
  const all = ok('127.0.0.6/all:192.0.2.6');
  assert.equal(all.mode, 'all');
  assert.equal(all.addr, '127.0.0.6');
  assert.equal(all.toAddr, '192.0.2.6');
  assert.equal(resolveTargetAddrs([all]).get(22), '192.0.2.6');
  assert.equal(ok('all:192.0.2.7').toAddr, '192.0.2.7');
  const mixed = ok('8000-8001:10.0.0.9/9000-9001,8080,~8001');
  assert.deepEqual(
    [...resolveTargetAddrs([mixed])].sort((a, b) => a[0] - b[0]),
    [[8000, '10.0.0.9']],
  );
  // A bare-port IPv6 target needs the (empty) bind part so the first '/' is not taken for it.
  assert.equal(ok('5000:2001:db8::1/6000').addr, '5000:2001:db8::1');
  assert.equal(ok('2001:db8::1/80').addr, '2001:db8::1');
  const v6 = ok('/5000:2001:db8::1/6000');
  assert.equal(v6.addr, undefined);
  assert.equal(v6.ranges[0]?.toAddr, '2001:db8::1');
  // Later specs override earlier ones, target address included.
  assert.equal(resolveTargetAddrs([ok('5000:10.0.0.1/5000'), ok('5000')]).get(5000), undefined);
  for (const bad of ['5000:300.1.1.1/6000', 'all:nope', '5000:10.0.0.1/', '5000:/6000'])
    assert.equal(parsePortSpec(bad).ok, false, bad);
});

test('formatPortSpec reads back to the same spec', () => {
  for (const t of [
    'none',
    'all',
    '%eth0/all',
    '80,443',
    '127.0.0.1%lo/8000-8002:9000-9002,~8001',
    '0.0.0.0/5000:192.0.2.5/6000',
    '127.0.0.6/all:192.0.2.6',
    '~15000,~15001-15002',
    '/5000:2001:db8::1/6000',
  ]) {
    const s = ok(t);
    assert.deepEqual(ok(formatPortSpec(s)), s, t);
  }
});
