// Unit tests of the ping translator on the in-memory kernel (host/memory.ts): no real sockets, no sleeps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PingTranslator, PING_TIMEOUT_MS } from './icmp.js';
import { FlowTable } from './table.js';
import { memoryHost } from '../host/memory.js';
import { parseIpv4 } from '../../wire/common.js';
import { G4, GW4, G6, GW6 } from '../../../test/lab/flow-fixtures.js';
import { decodeEcho, flowHarness, text, type EchoDecoded } from '../../../test/lab/flow-harness.js';

function harness(table = new FlowTable(), pingNetns?: string) {
  const logs: string[] = [];
  const host = memoryHost();
  const f = flowHarness(host, table);
  const ping = new PingTranslator({
    ...f.deps,
    log: (m) => logs.push(m),
    ...(pingNetns !== undefined ? { pingNetns } : {}),
  });
  const drain = async (): Promise<EchoDecoded[]> => {
    await host.settle();
    return f.frames.splice(0).map(decodeEcho);
  };
  return { ...f, ping, host, logs, drain };
}

test('echo to the gateway is answered by host loopback (IPv4 and IPv6) in the given netns', async () => {
  const h = harness(undefined, 'pod-ns');
  h.ping.fromGuest(4, G4, GW4, 0x1234, 1, text('abcdefgh'));
  assert.equal(h.frames.length, 0, 'the reply comes from the host side later');
  assert.deepEqual(await h.drain(), [
    {
      ethSrc: '9a:55:9a:55:9a:55',
      ethDst: '02:00:00:00:00:05',
      src: '10.0.0.1',
      dst: '10.0.0.5',
      type: 0,
      ident: 0x1234,
      seqNo: 1,
      data: 'abcdefgh',
    },
  ]);
  h.ping.fromGuest(4, G4, GW4, 0x1234, 2, text('second'));
  const [r2] = await h.drain();
  assert.deepEqual([r2?.seqNo, r2?.data], [2, 'second']);
  assert.equal(h.ping.counters.flowsOpened, 1);
  h.ping.fromGuest(6, G6, GW6, 0x4321, 7, text('six'));
  const [r6] = await h.drain();
  assert.deepEqual(
    [r6?.src, r6?.dst, r6?.type, r6?.ident, r6?.seqNo, r6?.data],
    ['fe80::1', 'fd00::5', 129, 0x4321, 7, 'six'],
  );
  assert.deepEqual(
    h.host.ping.requests.map((r) => [r.family, r.addr, r.ident, r.seqNo, r.netns]),
    [
      [4, '127.0.0.1', 0x1234, 1, 'pod-ns'],
      [4, '127.0.0.1', 0x1234, 2, 'pod-ns'],
      [6, '::1', 0x4321, 7, 'pod-ns'],
    ],
  );
  assert.equal(h.ping.counters.requests, 3);
  assert.equal(h.ping.counters.replies, 3);
});

test('a taken identifier: the kernel picks another, replies get the guest one back', async () => {
  const h = harness();
  h.host.ping.occupy(4, 0x5555);
  h.ping.fromGuest(4, G4, GW4, 0x5555, 9, text('remapped'));
  const [rr] = await h.drain();
  assert.deepEqual([rr?.ident, rr?.data], [0x5555, 'remapped']);
  const wire = h.host.ping.requests[0]!.ident;
  assert.notEqual(wire, 0x5555);
  const flow = [...h.table.all()][0]!;
  assert.equal(flow.sides[0].endpointPort, 0x5555);
  assert.equal(flow.sides[1].ourPort, wire);
  // Another guest identifier is its own flow with its own socket.
  h.ping.fromGuest(4, G4, GW4, 0x5556, 1, text('x'));
  await h.drain();
  assert.equal(h.host.ping.openSockets, 2);
});

test('expiry after 60 s of no activity closes the sockets', async () => {
  const h = harness();
  h.clock.now = 500;
  h.ping.fromGuest(4, G4, GW4, 1, 1, text('a'));
  h.ping.fromGuest(6, G6, GW6, 1, 1, text('b'));
  await h.drain();
  h.ping.expire(500 + PING_TIMEOUT_MS - 1);
  assert.equal(h.table.size, 2);
  h.ping.expire(500 + PING_TIMEOUT_MS);
  assert.equal(h.table.size, 0);
  assert.equal(h.ping.counters.flowsExpired, 2);
  assert.equal(h.table.counters.expired, 2);
  assert.equal(h.host.ping.openSockets, 0);
});

test('ping drops are counted: table full, multicast, bad input, send failures, no MAC', async () => {
  const h = harness(new FlowTable(1));
  h.ping.fromGuest(4, G4, GW4, 1, 1, text('a'));
  await h.drain();
  h.ping.fromGuest(4, G4, GW4, 2, 1, text('b'));
  assert.equal(h.ping.counters.dropTableFull, 1);
  h.ping.fromGuest(4, G4, parseIpv4('224.0.0.1')!, 3, 1, text('m'));
  assert.equal(h.ping.counters.dropNotForwardable, 1);
  h.ping.fromGuest(6, G4, GW6, 3, 1, text('m'));
  assert.equal(h.ping.counters.dropMalformed, 1);
  h.host.ping.full = true;
  h.ping.fromGuest(4, G4, GW4, 1, 2, text('a'));
  h.host.ping.full = false;
  h.host.ping.unreachable.add('127.0.0.1');
  h.ping.fromGuest(4, G4, GW4, 1, 3, text('a'));
  assert.equal(h.ping.counters.dropSend, 2);
  h.host.ping.unreachable.clear();
  h.setMac(undefined);
  h.ping.fromGuest(4, G4, GW4, 1, 4, text('a'));
  assert.deepEqual(await h.drain(), []);
  assert.equal(h.ping.counters.dropNoGuestMac, 1);
  h.ping.close();
  assert.equal(h.host.ping.openSockets, 0);
  assert.equal(h.table.size, 0);
});

test('EACCES (ping_group_range excludes us) is logged once and counted', async () => {
  const h = harness();
  h.host.ping.denied = true;
  h.ping.fromGuest(4, G4, GW4, 1, 1, text('a'));
  h.ping.fromGuest(4, G4, GW4, 1, 2, text('a'));
  h.ping.fromGuest(6, G6, GW6, 1, 1, text('a'));
  assert.equal(h.ping.counters.dropNoPermission, 3);
  assert.equal(h.logs.length, 1);
  assert.match(h.logs[0]!, /ping_group_range/);
  assert.equal(h.table.size, 0);
  assert.equal(h.ping.counters.dropSocket, 0);
});

test('replies queued by the end of the turn reach the guest in that turn (readNow), not a later wake-up', async () => {
  const h = harness();
  h.ping.fromGuest(4, G4, GW4, 0x2222, 1, text('one'));
  h.ping.fromGuest(4, G4, GW4, 0x2222, 2, text('two'));
  h.ping.fromGuest(6, G6, GW6, 0x3333, 3, text('three'));
  assert.equal(h.frames.length, 0, 'nothing during the sends');
  await Promise.resolve(); // the end of the turn: a promise reaction, no kernel flush
  assert.deepEqual(
    h.frames.splice(0).map((f) => decodeEcho(f).seqNo),
    [1, 2, 3],
  );
  assert.equal(h.ping.counters.replies, 3);
  assert.deepEqual(await h.drain(), [], 'each reply once: none left for the kernel flush');
});
