// Tests of the warning rate limiter: N per window per kind, the suppressed count reported once, kinds apart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { WarnLimiter } from './ratelimit.js';

test('the first N of a kind in a window are emitted, the rest counted and summarised once', () => {
  const lim = new WarnLimiter(3, 60_000);
  const emitted = [0, 1, 2, 3, 4, 5].map((i) => lim.check('bad-checksum', 1000 + i).emit);
  assert.deepEqual(emitted, [true, true, true, false, false, false]);
  // Another kind has its own budget.
  assert.equal(lim.check('truncated', 1010).emit, true);
  assert.deepEqual(lim.due(30_000), []);
  // The window ended: the next warning is emitted and carries the summary.
  assert.deepEqual(lim.check('bad-checksum', 61_000), { emit: true, suppressed: 3 });
  assert.deepEqual(lim.check('bad-checksum', 61_001), { emit: true, suppressed: 0 });
});

test('due() reports a window that ended with suppressed warnings, once', () => {
  const lim = new WarnLimiter(1, 1000);
  lim.check('a', 0);
  lim.check('a', 1);
  lim.check('a', 2);
  lim.check('b', 0);
  assert.deepEqual(lim.due(999), []);
  assert.deepEqual(lim.due(1000), [{ kind: 'a', suppressed: 2 }]);
  assert.deepEqual(lim.due(5000), []);
  assert.deepEqual(lim.check('a', 5000), { emit: true, suppressed: 0 });
});

test('never more than N emitted per window, and every warning is emitted or counted', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.constantFrom('x', 'y'), fc.integer({ min: 0, max: 500 })), {
        maxLength: 200,
      }),
      fc.integer({ min: 1, max: 5 }),
      (events, n) => {
        const lim = new WarnLimiter(n, 100);
        let t = 0;
        let emitted = 0;
        let reported = 0;
        const perWindow = new Map<string, { start: number; emitted: number }>();
        for (const [kind, dt] of events) {
          t += dt;
          const v = lim.check(kind, t);
          reported += v.suppressed;
          let w = perWindow.get(kind);
          if (w === undefined || t - w.start >= 100) {
            w = { start: t, emitted: 0 };
            perWindow.set(kind, w);
          }
          if (v.emit) {
            emitted++;
            w.emitted++;
          }
          assert.ok(w.emitted <= n);
        }
        for (const d of lim.due(t + 100)) reported += d.suppressed;
        assert.equal(emitted + reported, events.length);
      },
    ),
  );
});
