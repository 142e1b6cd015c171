// Tests of the KubeVirt CR JSON patch: RFC 6902 operations plus bindery's leniencies, errors by index.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyJsonPatch, isJsonPatch } from './json-patch.js';

test('add with missing parents and array append, replace, remove, errors', () => {
  const cr: Record<string, unknown> = { spec: {} };
  assert.deepEqual(
    applyJsonPatch(cr, [
      { op: 'add', path: '/spec/configuration/developerConfiguration/featureGates/-', value: 'A' },
      { op: 'add', path: '/spec/configuration/developerConfiguration/featureGates/-', value: 'B' },
      { op: 'replace', path: '/spec/imagePullPolicy', value: 'Always' },
      { op: 'add', path: '/spec/x~1y', value: 1 },
      { op: 'remove', path: '/spec/x~1y' },
      { op: 'remove', path: '/spec/absent/deeper' },
    ]),
    [],
  );
  assert.deepEqual(cr, {
    spec: {
      configuration: { developerConfiguration: { featureGates: ['A', 'B'] } },
      imagePullPolicy: 'Always',
    },
  });
  const errors = applyJsonPatch(cr, [
    { op: 'move', path: '/spec' },
    { op: 'add', path: 'spec' },
    { op: 'add', path: '/spec/imagePullPolicy/x', value: 1 },
    { op: 'frobnicate', path: '/spec' },
    { op: 'add', path: '/spec/configuration/developerConfiguration/featureGates/7', value: 'C' },
    { op: 'test', path: '/spec/imagePullPolicy', value: 'Never' },
    { op: 'add', path: '/spec/noValue' },
  ]);
  assert.deepEqual(
    errors.map((e) => e.index),
    [0, 1, 2, 3, 4, 5, 6],
  );
  assert.match(errors[1]!.message, /is not a JSON pointer/);
  assert.match(errors[2]!.message, /goes through a non-object at "imagePullPolicy"/);
  assert.match(errors[3]!.message, /not an RFC 6902 operation/);
  assert.match(errors[4]!.message, /array index "7" is out of range/);
  assert.match(errors[5]!.message, /test failed/);
  // Failed operations leave the document as it was.
  assert.deepEqual((cr['spec'] as { configuration: unknown }).configuration, {
    developerConfiguration: { featureGates: ['A', 'B'] },
  });
});

test('the operations the library brings: move, copy, test', () => {
  const cr: Record<string, unknown> = { spec: { a: [1, 2], b: 'x' } };
  assert.deepEqual(
    applyJsonPatch(cr, [
      { op: 'copy', from: '/spec/a', path: '/spec/c' },
      { op: 'move', from: '/spec/b', path: '/spec/d' },
      { op: 'test', path: '/spec/c/1', value: 2 },
    ]),
    [],
  );
  assert.deepEqual(cr, { spec: { a: [1, 2], c: [1, 2], d: 'x' } });
});

test('a patch is a non-empty array of objects with a string op', () => {
  assert.equal(isJsonPatch([{ op: 'add', path: '/a', value: 1 }]), true);
  assert.equal(isJsonPatch([]), false);
  assert.equal(isJsonPatch([{ path: '/a' }]), false);
  assert.equal(isJsonPatch({ op: 'add' }), false);
});
