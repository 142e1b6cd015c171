// Unit tests of the control-socket protocol: request parsing, response encoding, line splitting.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  LineSplitter,
  PROTOCOL_VERSION,
  encodeError,
  encodeRequest,
  encodeResult,
  parseRequest,
  parseResponse,
} from './protocol.js';

test('a request round-trips through encode and parse', () => {
  const line = encodeRequest(7, 'forwards.add', { proto: 'tcp', spec: '8080' });
  assert.ok(line.endsWith('\n'));
  const p = parseRequest(line.slice(0, -1));
  assert.deepEqual(p, {
    ok: true,
    req: { v: PROTOCOL_VERSION, id: 7, op: 'forwards.add', args: { proto: 'tcp', spec: '8080' } },
  });
});

test('bad requests are refused by kind, with the id when it can be read', () => {
  assert.equal(parseRequest('{nope').ok, false);
  assert.deepEqual(
    [parseRequest('{nope'), parseRequest('[1]'), parseRequest('{"v":2,"id":5,"op":"ping"}')].map(
      (p) => (p.ok ? 'ok' : `${p.kind}:${p.id}`),
    ),
    ['not-json:0', 'bad-shape:0', 'bad-version:5'],
  );
  const noOp = parseRequest('{"v":1,"id":3}');
  assert.ok(!noOp.ok && noOp.kind === 'bad-shape' && noOp.id === 3);
  const badOp = parseRequest('{"v":1,"id":3,"op":"Rm -rf"}');
  assert.ok(!badOp.ok && badOp.kind === 'bad-shape');
  const badId = parseRequest('{"v":1,"id":-1,"op":"ping"}');
  assert.ok(!badId.ok && badId.kind === 'bad-shape' && badId.id === 0);
});

test('responses round-trip; malformed ones are undefined', () => {
  assert.deepEqual(parseResponse(encodeResult(2, { a: 1 }).trim()), {
    v: 1,
    id: 2,
    ok: true,
    result: { a: 1 },
  });
  assert.deepEqual(parseResponse(encodeError(4, { code: 'X', message: 'm' }).trim()), {
    v: 1,
    id: 4,
    ok: false,
    error: { code: 'X', message: 'm' },
  });
  assert.equal(parseResponse('{"v":1,"id":1,"ok":false}'), undefined);
  assert.equal(parseResponse('garbage'), undefined);
});

test('the splitter yields the same lines however the stream is cut', () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.string({ maxLength: 40 }).map((s) => s.replace(/\n/g, ' ')),
        { maxLength: 8 },
      ),
      fc.array(fc.nat(60), { maxLength: 10 }),
      (lines, cuts) => {
        const bytes = Buffer.from(lines.map((l) => `${l}\n`).join(''));
        const at = [...new Set(cuts.map((c) => Math.min(c, bytes.length)))].sort((a, b) => a - b);
        const s = new LineSplitter();
        const got: string[] = [];
        let prev = 0;
        for (const c of [...at, bytes.length]) {
          got.push(...s.push(bytes.subarray(prev, c)));
          prev = c;
        }
        assert.deepEqual(got, lines);
        assert.equal(s.pending, 0);
      },
    ),
    { seed: 424242, numRuns: 300 },
  );
});

test('a line past the limit stops the splitter', () => {
  const s = new LineSplitter(8);
  assert.deepEqual(s.push(Buffer.from('abc\n0123')), ['abc']);
  assert.deepEqual(s.push(Buffer.from('45678\nok\n')), []);
  assert.equal(s.overflowed, true);
});
