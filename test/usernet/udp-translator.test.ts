// Real-socket tests of the UDP translator with loopback sockets in this process (unit tests on the in-memory kernel: src/usernet/flow/udp.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import {
  UdpTranslator,
  UDP_TIMEOUT_MS,
  UDP_TIMEOUT_STREAM_MS,
} from '../../src/usernet/flow/udp.js';
import { nativeHost } from '../../src/usernet/host/index.js';
import { FlowTable } from '../../src/usernet/flow/table.js';
import { parseIpv4 } from '../../src/wire/common.js';
import { G4, GW4, G6, GW6 } from '../lab/flow-fixtures.js';
import {
  assertPortUnreachable,
  decodeUdp,
  flowHarness,
  text,
  type UdpDecoded,
} from '../lab/flow-harness.js';
import { waitFor } from '../lab/wait.js';

/** A test harness: translator, table, a settable clock and a queue of frames to the guest. */
function harness(table = new FlowTable()) {
  const f = flowHarness(nativeHost(), table);
  const udp = new UdpTranslator(f.deps);
  const { frames } = f;
  const raw = async (): Promise<Uint8Array> => {
    await waitFor(() => frames.length > 0, 3000, 'a frame to the guest');
    return frames.shift()!;
  };
  const next = async (): Promise<UdpDecoded> => decodeUdp(await raw());
  return { ...f, udp, next, raw };
}

async function echoServer(family: 4 | 6): Promise<{ sock: Socket; port: number; got: string[] }> {
  const sock = createSocket(family === 4 ? 'udp4' : 'udp6');
  const got: string[] = [];
  sock.on('message', (m, r) => {
    got.push(m.toString());
    if (m.toString() !== 'silent') sock.send(m, r.port, r.address);
  });
  sock.bind(0, family === 4 ? '127.0.0.1' : '::1');
  await once(sock, 'listening');
  return { sock, port: sock.address().port, got };
}

test('a guest datagram to the gateway reaches 127.0.0.1 and the echo returns from gateway:port', async (t) => {
  const srv = await echoServer(4);
  const h = harness();
  t.after(() => {
    h.udp.close();
    srv.sock.close();
  });
  h.udp.fromGuest(4, G4, GW4, 40000, srv.port, text('hello'));
  const f = await h.next();
  assert.deepEqual(f, {
    ethSrc: '9a:55:9a:55:9a:55',
    ethDst: '02:00:00:00:00:05',
    src: '10.0.0.1',
    dst: '10.0.0.5',
    srcPort: srv.port,
    dstPort: 40000,
    payload: 'hello',
  });
  // The same 4-tuple reuses the flow (and its socket: the server sees one source port).
  h.udp.fromGuest(4, G4, GW4, 40000, srv.port, text('again'));
  assert.equal((await h.next()).payload, 'again');
  assert.equal(h.udp.counters.flowsOpened, 1);
  assert.equal(h.table.size, 1);
  assert.equal(h.udp.counters.fromGuest, 2);
  assert.equal(h.udp.counters.toGuest, 2);
  // A different guest port is a different flow.
  h.udp.fromGuest(4, G4, GW4, 40001, srv.port, text('other'));
  const o = await h.next();
  assert.equal(o.dstPort, 40001);
  assert.equal(h.udp.counters.flowsOpened, 2);
});

test('IPv6: the gateway fe80::1 maps to ::1', async (t) => {
  const srv = await echoServer(6);
  const h = harness();
  t.after(() => {
    h.udp.close();
    srv.sock.close();
  });
  h.udp.fromGuest(6, G6, GW6, 5555, srv.port, text('six'));
  const f = await h.next();
  assert.equal(f.src, 'fe80::1');
  assert.equal(f.dst, 'fd00::5');
  assert.equal(f.srcPort, srv.port);
  assert.equal(f.dstPort, 5555);
  assert.equal(f.payload, 'six');
});

test('expiry: 30 s for a one-way flow, 120 s once replies came back', async (t) => {
  const srv = await echoServer(4);
  const h = harness();
  t.after(() => {
    h.udp.close();
    srv.sock.close();
  });
  h.clock.now = 1000;
  h.udp.fromGuest(4, G4, GW4, 41000, srv.port, text('silent'));
  h.udp.fromGuest(4, G4, GW4, 41001, srv.port, text('ping'));
  await h.next();
  await waitFor(() => srv.got.length === 2, 3000, 'the server got both datagrams');
  const [oneWay, twoWay] = [...h.table.all()];
  assert.equal(oneWay?.timeoutMs, UDP_TIMEOUT_MS);
  assert.equal(twoWay?.timeoutMs, UDP_TIMEOUT_STREAM_MS);
  // The reply refreshed the two-way flow at now = 1000 too.
  h.udp.expire(1000 + UDP_TIMEOUT_MS - 1);
  assert.equal(h.table.size, 2);
  h.udp.expire(1000 + UDP_TIMEOUT_MS);
  assert.equal(h.table.size, 1);
  assert.equal(h.udp.counters.flowsExpired, 1);
  h.udp.expire(1000 + UDP_TIMEOUT_STREAM_MS - 1);
  assert.equal(h.table.size, 1);
  h.udp.expire(1000 + UDP_TIMEOUT_STREAM_MS);
  assert.equal(h.table.size, 0);
  assert.equal(h.table.counters.expired, 2);
  assert.equal(h.udp.size, 0);
  // A new datagram after expiry opens a new flow.
  h.udp.fromGuest(4, G4, GW4, 41001, srv.port, text('back'));
  assert.equal((await h.next()).payload, 'back');
  assert.equal(h.udp.counters.flowsOpened, 3);
});

test('drops are counted, never thrown: table full, multicast, bad input, no guest MAC', async (t) => {
  const srv = await echoServer(4);
  const h = harness(new FlowTable(1));
  t.after(() => {
    h.udp.close();
    srv.sock.close();
  });
  h.udp.fromGuest(4, G4, GW4, 42000, srv.port, text('a'));
  await h.next();
  h.udp.fromGuest(4, G4, GW4, 42001, srv.port, text('b'));
  assert.equal(h.udp.counters.dropTableFull, 1);
  assert.equal(h.table.counters.full, 1);
  h.udp.fromGuest(4, G4, parseIpv4('224.0.0.251')!, 5353, 5353, text('m'));
  h.udp.fromGuest(4, G4, parseIpv4('10.0.0.255')!, 137, 137, text('b'));
  assert.equal(h.udp.counters.dropNotForwardable, 2);
  h.udp.fromGuest(4, G6, GW4, 1, 2, text('x'));
  h.udp.fromGuest(4, G4, GW4, 1, 0, text('x'));
  assert.equal(h.udp.counters.dropMalformed, 2);
  h.setMac(undefined);
  h.udp.fromGuest(4, G4, GW4, 42000, srv.port, text('c'));
  // The echo of 'c' comes back and is dropped: nothing reaches the guest.
  await waitFor(() => h.udp.counters.dropNoGuestMac === 1, 3000, 'the echo dropped');
  assert.equal(h.frames.length, 0);
});

test('a datagram bigger than the MTU still goes to the guest as one frame', async (t) => {
  const srv = await echoServer(4);
  const h = harness();
  t.after(() => {
    h.udp.close();
    srv.sock.close();
  });
  const big = 'x'.repeat(65000);
  h.udp.fromGuest(4, G4, GW4, 43000, srv.port, text(big));
  const f = await h.next();
  assert.equal(f.payload.length, 65000);
});

test('listen: a host datagram to a forwarded port reaches the guest, the reply goes back', async (t) => {
  const probe = createSocket('udp4');
  probe.bind(0, '127.0.0.1');
  await once(probe, 'listening');
  const hostPort = probe.address().port;
  probe.close();
  const h = harness();
  const map = new Uint16Array(65536);
  map[hostPort] = 7000;
  await h.udp.listen(map, '127.0.0.1');
  const client = createSocket('udp4');
  t.after(() => {
    h.udp.close();
    client.close();
  });
  client.bind(0, '127.0.0.1');
  await once(client, 'listening');
  const clientPort = client.address().port;
  client.send('knock', hostPort, '127.0.0.1');
  const f = await h.next();
  assert.equal(f.src, '10.0.0.1');
  assert.equal(f.srcPort, clientPort);
  assert.equal(f.dst, '10.0.0.5');
  assert.equal(f.dstPort, 7000);
  assert.equal(f.payload, 'knock');
  const reply = once(client, 'message');
  h.udp.fromGuest(4, G4, GW4, 7000, clientPort, text('who'));
  const [msg, rinfo] = (await reply) as [Buffer, { port: number }];
  assert.equal(msg.toString(), 'who');
  assert.equal(rinfo.port, hostPort);
  assert.equal(h.udp.counters.flowsOpened, 1);
  assert.equal(h.table.all().next().value?.timeoutMs, UDP_TIMEOUT_STREAM_MS);
});

async function closedPort(addr: string): Promise<number> {
  const s = createSocket(addr.includes(':') ? 'udp6' : 'udp4');
  s.bind(0, addr);
  await once(s, 'listening');
  const port = s.address().port;
  s.close();
  return port;
}

test('a closed host port comes back as ICMP / ICMPv6 port unreachable quoting the guest datagram', async (t) => {
  const h = harness();
  t.after(() => h.udp.close());
  const p4 = await closedPort('127.0.0.1');
  h.udp.fromGuest(4, G4, GW4, 44000, p4, text('anyone?'));
  assertPortUnreachable(await h.raw(), 4, 44000, p4, 15);

  const p6 = await closedPort('::1');
  h.udp.fromGuest(6, G6, GW6, 44001, p6, text('six?'));
  assertPortUnreachable(await h.raw(), 6, 44001, p6, 12);
  assert.equal(h.udp.counters.unreachableToGuest, 2);
});
