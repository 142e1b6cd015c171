// Tests of the operators' view of the flow table: rows from flows (both directions), the protocol filter, the text table, and the table's observer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FlowTable, type FlowSide } from './table.js';
import { flowRow, formatFlows, rowIsProto, shortDuration, FLOWS_HEADER } from './view.js';

const guest: FlowSide = {
  endpointAddr: '10.0.2.15',
  endpointPort: 40000,
  ourAddr: '10.0.2.2',
  ourPort: 5201,
};
const host: FlowSide = {
  endpointAddr: '127.0.0.1',
  endpointPort: 5201,
  ourAddr: '127.0.0.1',
  ourPort: 51000,
};

test('an outbound flow: the guest side is side 0, bytes each way, age and idle', () => {
  const t = new FlowTable();
  const f = t.insert('tcp', ['guest', 'host'], [guest, host], {}, 1000, 60_000)!;
  f.bytesIn = 300;
  f.bytesOut = 7000;
  f.packetsIn = 3;
  f.packetsOut = 5;
  f.lastActivityMs = 4000;
  t.setDescriber('tcp', () => ({ state: 'established', rttGuestUs: 120, rttHostUs: 45 }));
  const r = flowRow(f, t.describe(f), 6500);
  assert.deepEqual(r, {
    id: f.id,
    protocol: 'tcp',
    direction: 'outbound',
    state: 'established',
    guest: '10.0.2.15:40000',
    guestPeer: '10.0.2.2:5201',
    host: '127.0.0.1:5201',
    bytesFromGuest: 300,
    bytesToGuest: 7000,
    packetsFromGuest: 3,
    packetsToGuest: 5,
    ageMs: 5500,
    idleMs: 2500,
    rttGuestUs: 120,
    rttHostUs: 45,
  });
});

test('an inbound IPv6 flow: the guest side is side 1; no describer means state active', () => {
  const t = new FlowTable();
  const hs: FlowSide = { endpointAddr: '::1', endpointPort: 43000, ourAddr: '::', ourPort: 18080 };
  const gs: FlowSide = {
    endpointAddr: 'fd00:bd::15',
    endpointPort: 8080,
    ourAddr: 'fd00:bd::2',
    ourPort: 43000,
  };
  const f = t.insert('udp', ['host', 'guest'], [hs, gs], {}, 0, 1000)!;
  const r = flowRow(f, t.describe(f), 10);
  assert.equal(r.direction, 'inbound');
  assert.equal(r.state, 'active');
  assert.equal(r.guest, '[fd00:bd::15]:8080');
  assert.equal(r.guestPeer, '[fd00:bd::2]:43000');
  assert.equal(r.host, '[::1]:43000');
  assert.equal('rttHostUs' in r, false);
});

test('--proto icmp matches ICMP and ICMPv6 flows only', () => {
  const t = new FlowTable();
  const p4 = t.insert(
    'ping4',
    ['guest', 'host'],
    [
      { ...guest, endpointPort: 7, ourPort: 0 },
      { ...host, endpointPort: 0, ourPort: 7 },
    ],
    {},
    0,
    1,
  )!;
  const r4 = flowRow(p4, t.describe(p4), 0);
  assert.equal(r4.protocol, 'icmp');
  assert.equal(rowIsProto(r4, 'icmp'), true);
  assert.equal(rowIsProto(r4, 'tcp'), false);
  assert.equal(rowIsProto({ ...r4, protocol: 'icmpv6' }, 'icmp'), true);
  assert.equal(rowIsProto({ ...r4, protocol: 'udp' }, 'udp'), true);
});

test('the text table: a header, one aligned line per flow, RTT from the host socket first', () => {
  const t = new FlowTable();
  const f = t.insert('tcp', ['guest', 'host'], [guest, host], {}, 0, 60_000)!;
  f.bytesIn = 12;
  f.bytesOut = 3456;
  const row = flowRow(f, { state: 'established', rttGuestUs: 900, rttHostUs: 35 }, 61_000);
  const text = formatFlows([row, { ...row, id: 2, state: 'syn-sent', rttHostUs: undefined }]);
  const lines = text.trimEnd().split('\n');
  assert.equal(lines.length, 3);
  assert.deepEqual(lines[0]!.split(/\s+/), [...FLOWS_HEADER]);
  assert.deepEqual(lines[1]!.split(/\s+/), [
    'tcp',
    'out',
    'established',
    '10.0.2.15:40000',
    '10.0.2.2:5201',
    '127.0.0.1:5201',
    '12',
    '3456',
    '1m01s',
    '1m01s',
    '0.04ms',
  ]);
  assert.match(lines[2]!, /syn-sent .* 0\.90ms$/);
  // Columns line up: every line has GUEST at the same offset.
  const col = lines[0]!.indexOf('GUEST ');
  assert.equal(lines[1]!.indexOf('10.0.2.15'), col);
  assert.equal(formatFlows([]), `${FLOWS_HEADER.join('  ')}\n`);
});

test('short durations', () => {
  assert.equal(shortDuration(850), '850ms');
  assert.equal(shortDuration(12_345), '12.3s');
  assert.equal(shortDuration(245_000), '4m05s');
  assert.equal(shortDuration(7_620_000), '2h07m');
});

test('the observer hears of opens and closes with the reason and the owner’s why', () => {
  const t = new FlowTable();
  const seen: string[] = [];
  t.observer = {
    opened: (f) => seen.push(`open ${f.id}`),
    closed: (f, reason, why) => seen.push(`close ${f.id} ${reason} ${why ?? '-'}`),
  };
  const a = t.insert('udp', ['guest', 'host'], [guest, host], {}, 0, 10)!;
  const b = t.insert(
    'udp',
    ['guest', 'host'],
    [
      { ...guest, endpointPort: 1 },
      { ...host, ourPort: 1 },
    ],
    {},
    0,
    1000,
  )!;
  t.remove(a, 'closed', 'shutdown');
  t.expire(100);
  assert.deepEqual(seen, [`open ${a.id}`, `open ${b.id}`, `close ${a.id} closed shutdown`]);
  t.expire(5000);
  assert.deepEqual(seen.at(-1), `close ${b.id} expired -`);
});
