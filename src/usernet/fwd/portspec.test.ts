// Tests of passt's port-spec grammar: every form libvirt/KubeVirt emit, errors, and resolution.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parsePortSpec, resolvePortMap, parseEphemeralRange, type PortSpec } from './portspec.js';

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
