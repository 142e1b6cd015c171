// Tests of DNS name encoding and decoding: fixtures, compression pointers, loops and random bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isWireError, wireError } from './common.js';
import {
  decodeName,
  decodeNameList,
  decodePartialName,
  encodeName,
  encodeNameList,
  encodePartialName,
} from './dnsname.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const fromHex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

/** Names made of LDH labels, which survive the dotted text form unchanged. */
const arbLabel = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?$/);
const arbName = fc
  .array(arbLabel, { minLength: 0, maxLength: 5 })
  .map((ls) => ls.join('.'))
  .filter((n) => encodeName(n) !== undefined);

test('encodeName: labels, root, trailing dot', () => {
  assert.equal(hex(encodeName('example.com')!), '076578616d706c6503636f6d00');
  assert.equal(hex(encodeName('example.com.')!), '076578616d706c6503636f6d00');
  assert.equal(hex(encodeName('')!), '00');
  assert.equal(hex(encodeName('.')!), '00');
});

test('encodeName: RFC 1035 §2.3.4 limits', () => {
  assert.ok(encodeName('a'.repeat(63)));
  assert.equal(encodeName('a'.repeat(64)), undefined);
  assert.equal(encodeName('a..b'), undefined);
  assert.equal(encodeName('..'), undefined);
  // 4 labels of 63 = 4 * 64 + 1 = 257 > 255; 3 labels of 63 plus one of 61 = 255.
  assert.equal(encodeName(Array(4).fill('a'.repeat(63)).join('.')), undefined);
  const max = [...Array(3).fill('a'.repeat(63)), 'b'.repeat(61)].join('.');
  assert.equal(encodeName(max)!.length, 255);
  assert.equal(encodeName(max + 'b'), undefined);
});

test('encodeNameList: RFC 3397 §2 example with compression', () => {
  // RFC 3397 §2 example: "eng.apple.com." and "marketing.apple.com."
  const list = encodeNameList(['eng.apple.com', 'marketing.apple.com'], true);
  assert.equal(hex(list), '03656e67056170706c6503636f6d00' + '096d61726b6574696e67' + 'c004');
  assert.deepEqual(decodeNameList(list), ['eng.apple.com', 'marketing.apple.com']);
  const plain = encodeNameList(['eng.apple.com', 'marketing.apple.com'], false);
  assert.equal(plain.length, 15 + 21);
  assert.deepEqual(decodeNameList(plain), ['eng.apple.com', 'marketing.apple.com']);
});

test('encodeNameList: whole repeated names become one pointer; case-insensitive match', () => {
  const list = encodeNameList(['example.com', 'EXAMPLE.com'], true);
  assert.equal(hex(list), '076578616d706c6503636f6d00c000');
  assert.deepEqual(decodeNameList(list), ['example.com', 'example.com']);
});

test('encodeNameList: unencodable names are skipped', () => {
  assert.deepEqual(decodeNameList(encodeNameList(['a..b', 'ok.example'], true)), ['ok.example']);
});

test('decodeName: pointers relative to base', () => {
  // 4 junk bytes, then a list: "example.com", then "www" + pointer to list offset 0.
  const buf = fromHex('deadbeef 076578616d706c6503636f6d00 03777777c000');
  const a = decodeName(buf, 4, 4);
  assert.deepEqual(a, { name: 'example.com', next: 17 });
  const b = decodeName(buf, 17, 4);
  assert.deepEqual(b, { name: 'www.example.com', next: 23 });
  // Relative to 0 the pointer lands on junk before the name: 0xde is a reserved label type.
  assert.ok(isWireError(decodeName(buf, 17, 0)));
});

test('decodeName: malformed inputs', () => {
  const err = (b: string, off = 0) => {
    const r = decodeName(fromHex(b), off);
    assert.ok(isWireError(r), b);
    return r.kind;
  };
  assert.equal(err(''), 'truncated');
  assert.equal(err('03616263'), 'truncated'); // no root label
  assert.equal(err('0561'), 'truncated'); // label past the end
  assert.equal(err('c0'), 'truncated'); // half a pointer
  assert.equal(err('c000'), 'malformed'); // points at itself
  assert.equal(err('0161c002'), 'malformed'); // forward pointer
  assert.equal(err('0161c000'), 'malformed'); // loop back to the start of its own run
  // Two runs pointing at each other: name at 4 -> 0, and the run at 0 -> 4.
  assert.equal(err('0161c004 0162c000', 4), 'malformed');
  assert.equal(err('c0ff'), 'malformed'); // out of the buffer
  assert.equal(err('4100'), 'unsupported'); // extended label type
  assert.equal(err('8100'), 'unsupported');
  // Over 255 octets once expanded through pointers.
  const long =
    Array(5)
      .fill('3f' + '61'.repeat(63))
      .join('') + '00';
  assert.equal(err(long), 'malformed');
});

test('decodeNameList: trailing zero padding only when allowed', () => {
  const b = fromHex('016100 0000');
  assert.deepEqual(decodeNameList(b, true), ['a']);
  assert.deepEqual(decodeNameList(b), ['a', '', '']);
  assert.ok(isWireError(decodeNameList(fromHex('0161'))));
});

test('partial names (RFC 4702 §2.3.1): trailing dot marks the root label', () => {
  assert.equal(hex(encodePartialName('vm')!), '02766d');
  assert.equal(hex(encodePartialName('vm.')!), '02766d00');
  assert.equal(hex(encodePartialName('')!), '');
  assert.equal(hex(encodePartialName('.')!), '00');
  assert.equal(encodePartialName('a..b'), undefined);
  assert.equal(decodePartialName(fromHex('02766d')), 'vm');
  assert.equal(decodePartialName(fromHex('02766d00')), 'vm.');
  assert.equal(decodePartialName(fromHex('')), '');
  assert.equal(decodePartialName(fromHex('00')), '.');
  for (const bad of ['02766d0000', '03766d', 'c000', '4100']) {
    assert.ok(isWireError(decodePartialName(fromHex(bad))), bad);
  }
});

test("a label holding '.' is malformed: the dotted form would read it as two labels", () => {
  // fast-check found it: option 39 with the name [1, '.', 0] parsed to "..", which re-emits as
  // nothing at all.
  for (const bad of ['012e00', '03612e6200']) {
    assert.deepEqual(decodePartialName(fromHex(bad)), wireError('malformed'), bad);
    assert.deepEqual(decodeName(fromHex(bad), 0), wireError('malformed'), bad);
    assert.deepEqual(decodeNameList(fromHex(bad)), wireError('malformed'), bad);
  }
  assert.deepEqual(decodeName(fromHex('03612d6200'), 0), { name: 'a-b', next: 5 });
});

test('property: encode then decode gives the names back', () => {
  fc.assert(
    fc.property(fc.array(arbName, { maxLength: 8 }), fc.boolean(), (names, compress) => {
      const list = encodeNameList(names, compress);
      assert.deepEqual(decodeNameList(list), names);
      if (!compress) {
        const single = names.map((n) => encodeName(n)!);
        assert.equal(
          list.length,
          single.reduce((s, b) => s + b.length, 0),
        );
      } else {
        assert.ok(list.length <= encodeNameList(names, false).length);
      }
    }),
    { numRuns: 500 },
  );
});

test('property: random bytes never throw and never loop', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(300), fc.nat(10), (b, off, base) => {
      const r = decodeName(b, off, base);
      if (!isWireError(r)) assert.ok(r.next > off && r.next <= b.length);
      decodeNameList(b);
      decodeNameList(b, true);
    }),
    { numRuns: 2000 },
  );
});
