// Unit tests of the shared line splitter and request table of the guest clients.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LineSplitter, PendingRequests } from './line-client.js';

test('LineSplitter joins lines across chunks and keeps the unfinished tail', () => {
  const s = new LineSplitter();
  const out: string[] = [];
  s.push('a', (l) => out.push(l));
  s.push('b\nc', (l) => out.push(l));
  s.push('d\n\ne', (l) => out.push(l));
  assert.deepEqual(out, ['ab', 'cd', '']);
  s.push('\n', (l) => out.push(l));
  assert.deepEqual(out, ['ab', 'cd', '', 'e']);
});

test('PendingRequests: ids count up, replies settle by id, failure rejects pending and later requests', async () => {
  const p = new PendingRequests<string>();
  const sent: number[] = [];
  const req = (): Promise<string> =>
    p.request<string>(
      10_000,
      (id) => new Error(`timeout ${id}`),
      (id) => sent.push(id),
      (m, resolve, reject) => (m === 'bad' ? reject(new Error(m)) : resolve(m)),
    );
  const a = req();
  const b = req();
  const c = req();
  assert.deepEqual(sent, [1, 2, 3]);
  p.deliver(2, 'two');
  p.deliver(1, 'bad');
  p.deliver(9, 'nobody');
  assert.equal(await b, 'two');
  await assert.rejects(a, /bad/);
  p.fail(new Error('closed'));
  p.fail(new Error('closed again'));
  await assert.rejects(c, /^Error: closed$/);
  assert.equal(p.closedError?.message, 'closed');
  await assert.rejects(req(), /^Error: closed$/);
});

test('PendingRequests rejects with the timeout error at the deadline', async () => {
  const p = new PendingRequests<string>();
  await assert.rejects(
    p.request(
      1,
      (id) => new Error(`timeout ${id}`),
      () => undefined,
      () => undefined,
    ),
    /timeout 1/,
  );
});
