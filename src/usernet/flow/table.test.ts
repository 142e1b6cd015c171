// Tests of the flow table: both-side lookup, limits, expiry with explicit time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FlowTable, MAX_FLOW_ID, type FlowSide } from './table.js';
import { parseIpv4, parseIpv6 } from '../../wire/common.js';

const guestSide: FlowSide = {
  endpointAddr: '10.0.2.15',
  endpointPort: 40000,
  ourAddr: '192.0.2.1',
  ourPort: 53,
};
const G = parseIpv4(guestSide.endpointAddr)!;
const O = parseIpv4(guestSide.ourAddr)!;
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
          for (let kk = 0; kk <= 20; kk++)
            assert.equal(
              t.lookupBytes('udp', 'guest', G, kk + 1, O, 53),
              live.get(kk),
              'the byte index agrees',
            );
        }
      },
    ),
  );
});

test('lookupBytes finds a side from address bytes, IPv4 and IPv6, and only with its type, pif and tuple', () => {
  const t = new FlowTable();
  const g6: FlowSide = {
    endpointAddr: 'fd00::2',
    endpointPort: 40000,
    ourAddr: '2001:db8::1',
    ourPort: 443,
  };
  const h6: FlowSide = { endpointAddr: '::1', endpointPort: 443, ourAddr: 'fd00::2', ourPort: 1 };
  const f4 = t.insert('tcp', ['guest', 'host'], [guestSide, hostSide], 4, 0, 1000)!;
  const f6 = t.insert('tcp', ['host', 'guest'], [h6, g6], 6, 0, 1000)!;
  const a = parseIpv6('fd00::2')!;
  const b = parseIpv6('2001:db8::1')!;
  assert.equal(t.lookupBytes('tcp', 'guest', G, 40000, O, 53), f4);
  assert.equal(t.lookupBytes('tcp', 'guest', a, 40000, b, 443), f6);
  assert.equal(t.lookupBytes('tcp', 'host', parseIpv6('::1')!, 443, a, 1), f6);
  assert.equal(t.lookupBytes('udp', 'guest', G, 40000, O, 53), undefined, 'type');
  assert.equal(t.lookupBytes('tcp', 'host', G, 40000, O, 53), undefined, 'pif');
  assert.equal(t.lookupBytes('tcp', 'guest', O, 40000, G, 53), undefined, 'addresses swapped');
  assert.equal(t.lookupBytes('tcp', 'guest', G, 40001, O, 53), undefined, 'port');
  assert.equal(t.lookupBytes('tcp', 'guest', b, 40000, a, 443), undefined);
  t.remove(f4);
  assert.equal(t.lookupBytes('tcp', 'guest', G, 40000, O, 53), undefined);
  assert.equal(t.lookupBytes('tcp', 'guest', a, 40000, b, 443), f6);
});

test('many flows: every side is found from its bytes, before and after half are removed', () => {
  const t = new FlowTable();
  const flows = [];
  for (let i = 0; i < 5000; i++) {
    const s: FlowSide = { ...guestSide, endpointPort: 1 + (i % 60000), ourPort: 1 + (i >> 4) };
    flows.push(t.insert('tcp', ['guest', 'host'], [s, { ...hostSide, ourPort: 1 + i }], i, 0, 1)!);
  }
  const find = (i: number) => t.lookupBytes('tcp', 'guest', G, 1 + (i % 60000), O, 1 + (i >> 4));
  for (let i = 0; i < flows.length; i++) assert.equal(find(i), flows[i]);
  for (let i = 0; i < flows.length; i += 2) t.remove(flows[i]!);
  for (let i = 0; i < flows.length; i++) assert.equal(find(i), i % 2 ? flows[i] : undefined);
});

test('ids are never 0, wrap after MAX_FLOW_ID and skip ids still in use', () => {
  const t = new FlowTable();
  const mk = (p: number) =>
    t.insert(
      'udp',
      ['guest', 'host'],
      [
        { ...guestSide, endpointPort: p },
        { ...hostSide, ourPort: p },
      ],
      null,
      0,
      1,
    )!;
  const first = mk(1);
  assert.equal(first.id, 1);
  (t as unknown as { nextId: number }).nextId = MAX_FLOW_ID;
  assert.equal(mk(2).id, MAX_FLOW_ID);
  assert.equal(mk(3).id, 2, 'wrapped past 0 and past id 1, still in use');
  t.remove(first);
  (t as unknown as { nextId: number }).nextId = MAX_FLOW_ID;
  assert.equal(mk(4).id, 1, 'MAX_FLOW_ID is taken, 1 is free again');
});
