// Unit tests of the UDP translator on the in-memory kernel (host/memory.ts): no real sockets, no sleeps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UdpTranslator, UDP_PENDING_MAX, UDP_TIMEOUT_MS, UDP_TIMEOUT_STREAM_MS } from './udp.js';
import { memoryHost } from '../host/memory.js';
import { FlowTable } from './table.js';
import type { PasstConfig } from '../conf.js';
import { parseIpv4 } from '../../wire/common.js';
import { FLOW_CFG, G4, GW4, G6, GW6 } from '../../../test/lab/flow-fixtures.js';
import {
  assertPortUnreachable,
  decodeUdp,
  flowHarness,
  text,
  type UdpDecoded,
} from '../../../test/lab/flow-harness.js';

/** Translator, in-memory host, table, a settable clock and the frames sent to the guest. */
function harness(
  o: { table?: FlowTable; cfg?: PasstConfig; hostResolvers?: string[]; transient?: boolean } = {},
) {
  const host = memoryHost();
  const f = flowHarness(host, o.table ?? new FlowTable());
  const udp = new UdpTranslator({
    ...f.deps,
    ...(o.cfg ? { cfg: o.cfg } : {}),
    ...(o.hostResolvers ? { hostResolvers: o.hostResolvers } : {}),
    ...(o.transient !== undefined ? { framesTransient: o.transient } : {}),
  });
  /** Lets the host side run, then takes the frames sent to the guest, decoded. */
  const drain = async (): Promise<UdpDecoded[]> => {
    await host.settle();
    return f.frames.splice(0).map(decodeUdp);
  };
  return { ...f, udp, host, drain };
}

test('a guest datagram to the gateway reaches 127.0.0.1; the echo returns from gateway:port', async () => {
  const h = harness();
  const srv = h.host.udp.echo('127.0.0.1', 5300);
  h.udp.fromGuest(4, G4, GW4, 40000, 5300, text('hello'));
  // Held back until the socket's connect finishes (a flush of the host side).
  assert.equal(h.udp.counters.fromGuest, 0);
  assert.deepEqual(await h.drain(), [
    {
      ethSrc: '9a:55:9a:55:9a:55',
      ethDst: '02:00:00:00:00:05',
      src: '10.0.0.1',
      dst: '10.0.0.5',
      srcPort: 5300,
      dstPort: 40000,
      payload: 'hello',
    },
  ]);
  // The same 4-tuple reuses the flow and its socket: the server sees one source port.
  h.udp.fromGuest(4, G4, GW4, 40000, 5300, text('again'));
  assert.deepEqual(
    (await h.drain()).map((f) => f.payload),
    ['again'],
  );
  assert.equal(new Set(srv.received.map((d) => d.from.port)).size, 1);
  assert.equal(h.udp.counters.flowsOpened, 1);
  assert.equal(h.table.size, 1);
  assert.equal(h.udp.counters.fromGuest, 2);
  assert.equal(h.udp.counters.toGuest, 2);
  // A different guest port is a different flow, with its own socket.
  h.udp.fromGuest(4, G4, GW4, 40001, 5300, text('other'));
  const [o] = await h.drain();
  assert.equal(o?.dstPort, 40001);
  assert.equal(h.udp.counters.flowsOpened, 2);
  assert.equal(new Set(srv.received.map((d) => d.from.port)).size, 2);
  h.udp.close();
  assert.equal(h.host.udp.openSockets, 0, 'close() closes every flow socket');
});

test('IPv6: the gateway fe80::1 maps to ::1', async () => {
  const h = harness();
  h.host.udp.echo('::1', 5555);
  h.udp.fromGuest(6, G6, GW6, 5555, 5555, text('six'));
  const [f] = await h.drain();
  assert.deepEqual(
    [f?.src, f?.dst, f?.srcPort, f?.dstPort, f?.payload],
    ['fe80::1', 'fd00::5', 5555, 5555, 'six'],
  );
});

test('DNS to the advertised gateway goes to the host resolver and comes back from the gateway', async () => {
  const h = harness({
    cfg: { ...FLOW_CFG, nameservers: ['10.0.0.1'] },
    hostResolvers: ['127.0.0.53'],
  });
  const resolver = h.host.udp.echo('127.0.0.53', 53);
  h.udp.fromGuest(4, G4, GW4, 33333, 53, text('query'));
  const [f] = await h.drain();
  assert.equal(resolver.received.length, 1);
  assert.deepEqual([f?.src, f?.srcPort, f?.payload], ['10.0.0.1', 53, 'query']);
  // Any other address passes unchanged.
  const other = h.host.udp.echo('192.0.2.7', 53);
  h.udp.fromGuest(4, G4, parseIpv4('192.0.2.7')!, 33334, 53, text('direct'));
  const [g] = await h.drain();
  assert.equal(other.received.length, 1);
  assert.deepEqual([g?.src, g?.srcPort], ['192.0.2.7', 53]);
});

test('datagrams wait for the connect, at most UDP_PENDING_MAX; transient payloads are copied', async () => {
  const h = harness({ transient: true });
  const srv = h.host.udp.endpoint('127.0.0.1', 7);
  const buf = text('0');
  for (let i = 0; i <= UDP_PENDING_MAX; i++) {
    buf[0] = 0x30 + (i % 10);
    h.udp.fromGuest(4, G4, GW4, 40100, 7, buf);
  }
  buf[0] = 0x78; // the guest link reuses its buffer
  assert.equal(h.udp.counters.dropPending, 1);
  await h.drain();
  assert.equal(srv.received.length, UDP_PENDING_MAX);
  assert.deepEqual(
    srv.received.slice(0, 3).map((d) => Buffer.from(d.data).toString()),
    ['0', '1', '2'],
  );
  h.udp.fromGuest(4, G4, GW4, 40100, 7, buf);
  buf[0] = 0x79;
  await h.drain();
  assert.equal(Buffer.from(srv.received.at(-1)!.data).toString(), 'x');
});

test('expiry: 30 s for a one-way flow, 120 s once replies came back', async () => {
  const h = harness();
  h.host.udp.echo('127.0.0.1', 5301, (d) => Buffer.from(d).toString() === 'silent');
  h.clock.now = 1000;
  h.udp.fromGuest(4, G4, GW4, 41000, 5301, text('silent'));
  h.udp.fromGuest(4, G4, GW4, 41001, 5301, text('ping'));
  assert.equal((await h.drain()).length, 1);
  const [oneWay, twoWay] = [...h.table.all()];
  assert.equal(oneWay?.timeoutMs, UDP_TIMEOUT_MS);
  assert.equal(twoWay?.timeoutMs, UDP_TIMEOUT_STREAM_MS);
  h.udp.expire(1000 + UDP_TIMEOUT_MS - 1);
  assert.equal(h.table.size, 2);
  h.udp.expire(1000 + UDP_TIMEOUT_MS);
  assert.equal(h.table.size, 1);
  assert.equal(h.udp.counters.flowsExpired, 1);
  assert.equal(h.host.udp.openSockets, 1, 'the expired flow closed its socket');
  h.udp.expire(1000 + UDP_TIMEOUT_STREAM_MS - 1);
  assert.equal(h.table.size, 1);
  h.udp.expire(1000 + UDP_TIMEOUT_STREAM_MS);
  assert.equal(h.table.size, 0);
  assert.equal(h.table.counters.expired, 2);
  assert.equal(h.udp.size, 0);
  assert.equal(h.host.udp.openSockets, 0);
  // A new datagram after expiry opens a new flow.
  h.udp.fromGuest(4, G4, GW4, 41001, 5301, text('back'));
  assert.deepEqual(
    (await h.drain()).map((f) => f.payload),
    ['back'],
  );
  assert.equal(h.udp.counters.flowsOpened, 3);
});

test('drops are counted, never thrown: table full, multicast, broadcast, bad input, no guest MAC', async () => {
  const h = harness({ table: new FlowTable(1) });
  h.host.udp.echo('127.0.0.1', 5302);
  h.udp.fromGuest(4, G4, GW4, 42000, 5302, text('a'));
  await h.drain();
  h.udp.fromGuest(4, G4, GW4, 42001, 5302, text('b'));
  assert.equal(h.udp.counters.dropTableFull, 1);
  assert.equal(h.table.counters.full, 1);
  h.udp.fromGuest(4, G4, parseIpv4('224.0.0.251')!, 5353, 5353, text('m'));
  h.udp.fromGuest(4, G4, parseIpv4('10.0.0.255')!, 137, 137, text('b'));
  assert.equal(h.udp.counters.dropNotForwardable, 2);
  h.udp.fromGuest(4, G6, GW4, 1, 2, text('x'));
  h.udp.fromGuest(4, G4, GW4, 1, 0, text('x'));
  assert.equal(h.udp.counters.dropMalformed, 2);
  h.setMac(undefined);
  h.udp.fromGuest(4, G4, GW4, 42000, 5302, text('c'));
  assert.deepEqual(await h.drain(), []);
  assert.equal(h.udp.counters.dropNoGuestMac, 1);
  assert.equal(h.host.udp.openSockets, 1, 'no socket for what was dropped');
});

test('listen: a host datagram to a forwarded port reaches the guest, the reply goes back from that port', async () => {
  const h = harness();
  const map = new Uint16Array(65536);
  map[8053] = 7000;
  await h.udp.listen(map); // '::': IPv4 peers arrive IPv4-mapped
  const client = h.host.udp.endpoint('127.0.0.1', 6000);
  client.send('knock', '127.0.0.1', 8053);
  const [f] = await h.drain();
  assert.deepEqual(
    [f?.src, f?.srcPort, f?.dst, f?.dstPort, f?.payload],
    ['10.0.0.1', 6000, '10.0.0.5', 7000, 'knock'],
  );
  assert.equal(h.udp.counters.inbound, 1);
  h.udp.fromGuest(4, G4, GW4, 7000, 6000, text('who'));
  await h.drain();
  assert.deepEqual(
    client.received.map((d) => [Buffer.from(d.data).toString(), d.from.port]),
    [['who', 8053]],
  );
  assert.equal(h.udp.counters.flowsOpened, 1);
  assert.equal(h.table.all().next().value?.timeoutMs, UDP_TIMEOUT_STREAM_MS);
  // The flow's expiry does not close the shared listening socket.
  h.udp.expire(UDP_TIMEOUT_STREAM_MS);
  assert.equal(h.udp.size, 0);
  client.send('again', '127.0.0.1', 8053);
  assert.equal((await h.drain()).length, 1);
  h.udp.close();
  assert.equal(h.host.udp.openSockets, 0);
});

test('listen rejects with the bind error; sockets bound so far close with the translator', async () => {
  const h = harness();
  h.host.udp.endpoint('127.0.0.1', 9001);
  const map = new Uint16Array(65536);
  map[9000] = 1;
  map[9001] = 2;
  await assert.rejects(h.udp.listen(map, '127.0.0.1'), /in use/i);
  assert.equal(h.host.udp.openSockets, 1);
  h.udp.close();
  assert.equal(h.host.udp.openSockets, 0);
});

test('a closed host port comes back as ICMP / ICMPv6 port unreachable quoting the guest datagram', async () => {
  const h = harness();
  h.udp.fromGuest(4, G4, GW4, 44000, 4444, text('anyone?'));
  await h.host.settle();
  assertPortUnreachable(h.frames.shift()!, 4, 44000, 4444, 15);

  h.udp.fromGuest(6, G6, GW6, 44001, 4445, text('six?'));
  await h.host.settle();
  assertPortUnreachable(h.frames.shift()!, 6, 44001, 4445, 12);
  assert.equal(h.udp.counters.unreachableToGuest, 2);
  assert.equal(h.udp.counters.socketErrors, 2);
  assert.equal(h.frames.length, 0);
});
