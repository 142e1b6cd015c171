// Tests of the flow table: both-side lookup, limits, expiry with explicit time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FlowTable, type FlowSide } from './table.js';

const guestSide: FlowSide = {
  endpointAddr: '10.0.2.15',
  endpointPort: 40000,
  ourAddr: '192.0.2.1',
  ourPort: 53,
};
const hostSide: FlowSide = {
  endpointAddr: '192.0.2.1',
  endpointPort: 53,
  ourAddr: '0.0.0.0',
  ourPort: 51000,
};

test('a flow is found from either side, and only with the right type and pif', () => {
  const t = new FlowTable();
  const f = t.insert('udp', ['guest', 'host'], [guestSide, hostSide], { sock: 1 }, 0, 30_000);
  assert.ok(f);
  assert.equal(t.lookup('udp', 'guest', guestSide), f);
  assert.equal(t.lookup('udp', 'host', hostSide), f);
  assert.equal(t.lookup('udp', 'host', guestSide), undefined);
  assert.equal(t.lookup('tcp', 'guest', guestSide), undefined);
  assert.equal(
    t.insert('udp', ['guest', 'host'], [guestSide, hostSide], {}, 0, 1),
    undefined,
    'no duplicate',
  );
  assert.equal(t.remove(f), true);
  assert.equal(t.lookup('udp', 'guest', guestSide), undefined);
  assert.equal(t.size, 0);
});

test('a full table refuses new flows and counts it', () => {
  const t = new FlowTable(3);
  for (let i = 0; i < 3; i++)
    assert.ok(
      t.insert(
        'udp',
        ['guest', 'host'],
        [
          { ...guestSide, endpointPort: i + 1 },
          { ...hostSide, ourPort: i + 1 },
        ],
        null,
        0,
        1000,
      ),
    );
  assert.equal(
    t.insert(
      'udp',
      ['guest', 'host'],
      [
        { ...guestSide, endpointPort: 9 },
        { ...hostSide, ourPort: 9 },
      ],
      null,
      0,
      1000,
    ),
    undefined,
  );
  assert.equal(t.counters.full, 1);
});

test('expiry follows each flow’s own timeout and activity, with time passed in', () => {
  const t = new FlowTable();
  const a = t.insert('udp', ['guest', 'host'], [guestSide, hostSide], null, 0, 30_000)!;
  const b = t.insert('ping4', ['guest', 'host'], [guestSide, hostSide], null, 0, 60_000)!;
  assert.equal(t.nextExpiryMs(), 30_000);
  a.lastActivityMs = 20_000;
  assert.deepEqual(t.expire(49_999), []);
  assert.deepEqual(
    t.expire(55_000).map((f) => f.id),
    [a.id],
  );
  assert.deepEqual(t.expire(59_999), []);
  assert.deepEqual(
    t.expire(60_000).map((f) => f.id),
    [b.id],
  );
  assert.equal(t.counters.expired, 2);
  assert.equal(t.counters.closed, 0);
});

test('the index stays consistent under random inserts, removals and expiry', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.constantFrom('ins', 'rm', 'exp'), fc.nat(20), fc.nat(100_000)), {
        maxLength: 200,
      }),
      (ops) => {
        const t = new FlowTable(10);
        const live = new Map<number, ReturnType<typeof t.insert>>();
        for (const [op, k, now] of ops) {
          const sides: [FlowSide, FlowSide] = [
            { ...guestSide, endpointPort: k + 1 },
            { ...hostSide, ourPort: k + 1 },
          ];
          if (op === 'ins') {
            const f = t.insert('udp', ['guest', 'host'], sides, null, now, 30_000);
            if (f) live.set(k, f);
          } else if (op === 'rm') {
            const f = t.lookup('udp', 'guest', sides[0]);
            if (f) t.remove(f);
            live.delete(k);
          } else {
            for (const f of t.expire(now)) for (const [kk, v] of live) if (v === f) live.delete(kk);
          }
          assert.equal(t.size, live.size);
          for (const [kk, f] of live) {
            assert.equal(t.lookup('udp', 'guest', { ...guestSide, endpointPort: kk + 1 }), f);
            assert.equal(t.lookup('udp', 'host', { ...hostSide, ourPort: kk + 1 }), f);
          }
        }
      },
    ),
  );
});
