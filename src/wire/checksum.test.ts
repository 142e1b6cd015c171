// Tests of the Internet checksum: RFC 1071 examples, chaining, and RFC 1624 incremental update.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  checksum,
  finish,
  fold16,
  sum16,
  updateChecksum16,
  updateChecksum32,
  verify,
  pseudoHeaderSum6,
} from './checksum.js';

test('RFC 1071 §3 worked example', () => {
  // 00 01 f2 03 f4 f5 f6 f7 sums to ddf2 (folded), checksum is ~ddf2 = 220d.
  const d = Uint8Array.from([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]);
  assert.equal(fold16(sum16(d)), 0xddf2);
  assert.equal(checksum(d), 0x220d);
});

test('a real IPv4 header checksums to zero', () => {
  // 45 00 00 73 00 00 40 00 40 11 b8 61 c0 a8 00 01 c0 a8 00 c7 (Wikipedia's classic example)
  const h = Uint8Array.from([
    0x45, 0, 0, 0x73, 0, 0, 0x40, 0, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0, 1, 0xc0, 0xa8, 0, 0xc7,
  ]);
  assert.ok(verify(sum16(h)));
  assert.equal(checksum(h), 0);
});

test('odd lengths pad with zero; chaining even chunks equals one pass', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(150), (data, cut) => {
      const k = Math.min(data.length, cut * 2);
      const whole = checksum(data);
      const chained = finish(sum16(data.subarray(k), sum16(data.subarray(0, k))));
      assert.equal(chained, whole);
    }),
  );
});

test('a 64 KiB buffer does not lose precision', () => {
  const d = new Uint8Array(65536).fill(0xff);
  assert.equal(checksum(d), 0);
  const e = new Uint8Array(65535).fill(0xff);
  assert.equal(checksum(e), finish(sum16(e)));
});

test('RFC 1624 incremental update equals recomputation', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 20, maxLength: 60 }).filter((d) => d.length % 2 === 0),
      fc.nat(9),
      fc.integer({ min: 0, max: 0xffff }),
      (data, wordIdx, newWord) => {
        const d = Uint8Array.from(data);
        const c0 = checksum(d);
        const off = wordIdx * 2;
        const oldWord = (d[off]! << 8) | d[off + 1]!;
        d[off] = newWord >>> 8;
        d[off + 1] = newWord & 0xff;
        const full = checksum(d);
        const inc = updateChecksum16(c0, oldWord, newWord);
        // 0x0000 and 0xffff are the same value in ones' complement
        assert.equal(fold16(inc) % 0xffff, fold16(full) % 0xffff);
      },
    ),
  );
});

test('updateChecksum32 equals two word updates', () => {
  const d = Uint8Array.from([10, 0, 2, 15, 1, 2, 3, 4]);
  const c0 = checksum(d);
  d.set([192, 168, 1, 1], 0);
  assert.equal(updateChecksum32(c0, 0x0a00020f, 0xc0a80101) % 0xffff, checksum(d) % 0xffff);
});

test('IPv6 pseudo-header splits lengths above 16 bits', () => {
  const z = new Uint8Array(16);
  assert.equal(pseudoHeaderSum6(z, z, 6, 0x10002), 1 + 2 + 6);
});

test('the aligned fast path equals the byte-wise sum at every alignment', () => {
  // Reference: plain RFC 1071 loop over big-endian words.
  const reference = (d: Uint8Array, init: number) => {
    let acc = init;
    for (let i = 0; i < d.length; i += 2) acc += (d[i]! << 8) | (i + 1 < d.length ? d[i + 1]! : 0);
    return fold16(acc);
  };
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 0, maxLength: 2000 }),
      fc.nat(7),
      fc.nat(0xffff),
      (d, off, init) => {
        const backing = new Uint8Array(d.length + off);
        backing.set(d, off);
        const view = backing.subarray(off);
        assert.equal(fold16(sum16(view, init)), reference(d, init));
      },
    ),
    { numRuns: 500 },
  );
});
