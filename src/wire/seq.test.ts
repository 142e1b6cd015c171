// Tests of TCP sequence arithmetic: wrap-around cases and properties against a BigInt model.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { seqAdd, seqDiff, seqLt, seqLe, seqGt, seqGe, seqMax, seqMin, inWindow } from './seq.js';

const MAX = 0xffff_ffff;
const arbSeq = fc.nat({ max: MAX });
/** Distances that are unambiguous: |d| < 2^31. */
const arbDist = fc.integer({ min: -0x7fff_ffff, max: 0x7fff_ffff });

test('seqAdd wraps modulo 2^32', () => {
  assert.equal(seqAdd(MAX, 1), 0);
  assert.equal(seqAdd(MAX, 2), 1);
  assert.equal(seqAdd(0, -1), MAX);
  assert.equal(seqAdd(5, 0x1_0000_0000), 5);
  assert.equal(seqAdd(0x8000_0000, 0x8000_0000), 0);
});

test('comparisons across the wrap point (RFC 9293 §3.4)', () => {
  // MAX is just before 0, and 0x7fffffff is just before 0x80000000.
  assert.ok(seqLt(MAX, 0));
  assert.ok(seqGt(0, MAX));
  assert.ok(seqLt(0xffff_fff0, 0x10));
  assert.ok(!seqLt(0x10, 0xffff_fff0));
  assert.ok(seqLt(0x7fff_ffff, 0x8000_0000));
  assert.ok(seqLe(7, 7) && seqGe(7, 7) && !seqLt(7, 7) && !seqGt(7, 7));
  assert.equal(seqDiff(0x10, 0xffff_fff0), 0x20);
  assert.equal(seqDiff(0xffff_fff0, 0x10), -0x20);
  assert.equal(seqMax(MAX, 3), 3);
  assert.equal(seqMin(MAX, 3), MAX);
  // Exactly 2^31 apart: neither is before the other.
  assert.ok(!seqLt(0, 0x8000_0000) && !seqLt(0x8000_0000, 0));
  assert.equal(seqDiff(0x8000_0000, 0), -0x8000_0000);
});

test('inWindow: RCV.NXT =< SEG.SEQ < RCV.NXT+RCV.WND, also across the wrap', () => {
  assert.ok(inWindow(MAX, MAX, 1));
  assert.ok(!inWindow(0, MAX, 1));
  assert.ok(inWindow(0, MAX, 2));
  assert.ok(inWindow(100, 0xffff_ff00, 0x200));
  assert.ok(!inWindow(0xffff_feff, 0xffff_ff00, 0x200));
  assert.ok(!inWindow(5, 5, 0));
});

test('property: seqDiff inverts seqAdd for unambiguous distances', () => {
  fc.assert(
    fc.property(arbSeq, arbDist, (a, d) => {
      const b = seqAdd(a, d);
      assert.ok(b >= 0 && b <= MAX && Number.isInteger(b));
      assert.equal(seqDiff(b, a), d);
      assert.equal(seqLt(a, b), d > 0);
      assert.equal(seqGt(a, b), d < 0);
      assert.equal(seqLe(a, b), d >= 0);
      assert.equal(seqGe(a, b), d <= 0);
      assert.equal(seqMax(a, b), d >= 0 ? b : a);
      assert.equal(seqMin(a, b), d >= 0 ? a : b);
    }),
    { numRuns: 2000 },
  );
});

test('property: agrees with a BigInt model of the 32-bit space', () => {
  const M = 1n << 32n;
  fc.assert(
    fc.property(arbSeq, arbSeq, fc.nat({ max: MAX }), (a, b, len) => {
      const d = (((BigInt(b) - BigInt(a)) % M) + M) % M;
      assert.equal(seqLt(a, b), d !== 0n && d < 1n << 31n);
      assert.equal(seqAdd(a, b), Number((BigInt(a) + BigInt(b)) % M));
      assert.equal(inWindow(b, a, len), d < BigInt(len));
      assert.equal(seqLt(a, b) && seqLt(b, a), false);
    }),
    { numRuns: 2000 },
  );
});

test('property: inWindow matches seqLe/seqLt for windows below 2^31', () => {
  fc.assert(
    fc.property(arbSeq, arbSeq, fc.nat({ max: 0x7fff_ffff }), (x, start, len) => {
      const expect = seqLe(start, x) && seqLt(x, seqAdd(start, len));
      assert.equal(inWindow(x, start, len), expect);
    }),
    { numRuns: 2000 },
  );
});
