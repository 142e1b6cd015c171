// Model test of ByteQueue: pushes, drops and copies agree with a plain byte array.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ByteQueue } from './byte-queue.js';

type Op = { push: Uint8Array } | { drop: number } | { copy: [number, number] };

test('ByteQueue matches a flat array model under random operations', () => {
  const op = fc.oneof(
    fc.record({ push: fc.uint8Array({ maxLength: 300 }) }),
    fc.record({ drop: fc.nat(400) }),
    fc.record({ copy: fc.tuple(fc.nat(600), fc.nat(600)) }),
  ) as fc.Arbitrary<Op>;
  fc.assert(
    fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
      const q = new ByteQueue();
      let model: number[] = [];
      for (const o of ops) {
        if ('push' in o) {
          q.push(o.push);
          model.push(...o.push);
        } else if ('drop' in o) {
          q.drop(o.drop);
          model = model.slice(Math.min(o.drop, model.length));
        } else {
          const from = Math.min(o.copy[0], model.length);
          const n = Math.min(o.copy[1], model.length - from);
          const dst = new Uint8Array(n + 3).fill(0xee);
          q.copy(from, n, dst, 3);
          assert.deepEqual([...dst.subarray(3)], model.slice(from, from + n));
          assert.deepEqual([...dst.subarray(0, 3)], [0xee, 0xee, 0xee]);
        }
        assert.equal(q.length, model.length);
      }
    }),
    { numRuns: 500 },
  );
});

test('clear empties the queue', () => {
  const q = new ByteQueue();
  q.push(Uint8Array.of(1, 2, 3));
  q.clear();
  assert.equal(q.length, 0);
  q.push(Uint8Array.of(4));
  const d = new Uint8Array(1);
  q.copy(0, 1, d, 0);
  assert.equal(d[0], 4);
});
