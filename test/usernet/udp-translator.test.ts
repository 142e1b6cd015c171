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
import { tcpClose } from '../../src/native/tcp.js';
import { UDP_META_WORDS, udpRecvMany, udpSendMany, udpSocket } from '../../src/native/udp.js';
import {
  assertPortUnreachable,
  decodeUdp,
  fixtureDeps,
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

test('a burst of datagrams on an IPv4 and an IPv6 flow in one wake-up reaches the guest in order, intact, batched', async (t) => {
  // Host peers on the shim's sockets: one sendmmsg queues a whole burst before JS runs again.
  const peers = ([4, 6] as const).map((family) => {
    const addr = family === 4 ? '127.0.0.1' : '::1';
    const [sock, port] = udpSocket(family, { addr, port: 0 });
    return { family, addr, sock, port };
  });
  const table = new FlowTable();
  const batches: Uint8Array[][] = [];
  const clock = { now: 0 };
  // A link done with frames on return (as a tap): frames are copied here, their memory reused.
  const udp = new UdpTranslator({
    ...fixtureDeps(
      nativeHost(),
      table,
      (frames) => batches.push(frames.map((f) => f.slice())),
      () => clock.now,
    ),
    framesReusable: true,
  });
  t.after(() => {
    udp.close();
    for (const p of peers) tcpClose(p.sock, false);
  });
  // The whole burst waits in the flow socket's receive buffer (the default rmem, ~208 KiB).
  const N = 60;
  /** Datagram i of a family: 1 B to 1400 B and one past the MTU, every byte names family and i. */
  const datagram = (family: 4 | 6, i: number) =>
    new Uint8Array(i === 30 ? 30000 : 1 + ((i * 97) % 1400)).fill((family * 64 + i) & 0xff);
  const meta = new Uint32Array(UDP_META_WORDS);
  const buf = new Uint8Array(64);
  const guestPorts: number[] = [];
  for (const p of peers) {
    udp.fromGuest(
      p.family,
      p.family === 4 ? G4 : G6,
      p.family === 4 ? GW4 : GW6,
      44000,
      p.port,
      text('go'),
    );
    // The flow socket's port, as the peer sees it.
    await waitFor(() => udpRecvMany(p.sock, buf, 64, meta, 1) === 1, 3000, 'the guest datagram');
    guestPorts.push(meta[2]!);
  }
  for (const [k, p] of peers.entries()) {
    const burst = Array.from({ length: N }, (_, i) => datagram(p.family, i));
    const to = { addr: p.addr, port: guestPorts[k]! };
    assert.equal(udpSendMany(p.sock, burst, N, p.family, to), N);
  }
  const got = () => batches.reduce((n, b) => n + b.length, 0);
  await waitFor(
    () => got() >= 2 * N,
    5000,
    () => `${2 * N} frames (have ${got()})`,
  );
  const frames = batches.flat();
  for (const family of [4, 6] as const) {
    const mine = frames
      .map(decodeUdp)
      .flatMap((d, j) => ((family === 4) === d.src.includes('.') ? [{ d, raw: frames[j]! }] : []));
    assert.equal(mine.length, N, `IPv${family} datagrams`);
    for (const [i, { d, raw }] of mine.entries()) {
      const want = datagram(family, i);
      assert.equal(d.dstPort, 44000);
      // Frame memory may be an arena's Uint8Array or, past it, a Buffer: compare the bytes.
      assert.ok(
        Buffer.from(want).equals(raw.subarray(raw.length - want.length)),
        `IPv${family} datagram ${i}`,
      );
      assert.equal(raw.length - want.length, family === 4 ? 42 : 62);
    }
  }
  assert.equal(udp.counters.toGuest, 2 * N);
  // One read takes many datagrams: far fewer sends to the guest than datagrams.
  assert.ok(
    Math.max(...batches.map((b) => b.length)) > 1,
    `batches: ${batches.map((b) => b.length)}`,
  );
});
