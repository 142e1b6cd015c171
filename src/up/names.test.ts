// Unit tests of the run names and addresses of `bindery up`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allocateIndex, guestMac, podNetwork, runNames, slug } from './names.js';

test('slug: lower case, dashes, bounded', () => {
  assert.equal(slug('VM_Net.Binding--Passt'), 'vm-net-binding--passt');
  assert.equal(slug('___'), 'vm');
  assert.equal(slug('x'.repeat(80)).length, 32);
});

test('runNames: node and pod namespaces share the suffix; the veth fits IFNAMSIZ', () => {
  const n = runNames('vm-net-binding-passt', 'a1b2c3');
  assert.equal(n.node, 'bdy-up-vm-net-binding-passt-node-a1b2c3');
  assert.equal(n.pod, 'bdy-up-vm-net-binding-passt-pod-a1b2c3');
  assert.equal(n.nodeVeth, 'bdya1b2c3');
  assert.ok(n.nodeVeth.length <= 15);
  assert.throws(() => runNames('vm', 'xyz'));
});

test('allocateIndex: smallest free, 1…250', () => {
  assert.equal(allocateIndex([]), 1);
  assert.equal(allocateIndex([1, 2, 4]), 3);
  assert.throws(() => allocateIndex(Array.from({ length: 250 }, (_, i) => i + 1)));
});

test('podNetwork: .1/.2 and ::1/::2 of the index, MAC from the IPv4 address', () => {
  const p = podNetwork(17);
  assert.equal(p.node4, '10.244.17.1');
  assert.equal(p.pod4, '10.244.17.2');
  assert.equal(p.node6, 'fd00:10:244:11::1');
  assert.equal(p.pod6, 'fd00:10:244:11::2');
  assert.equal(p.podMac, '0a:58:0a:f4:11:02');
  assert.throws(() => podNetwork(0));
});

test('guestMac: locally administered, per NIC', () => {
  assert.equal(guestMac('a1b2c3', 0), '52:54:a1:b2:c3:00');
  assert.equal(guestMac('a1b2c3', 1), '52:54:a1:b2:c3:01');
});
