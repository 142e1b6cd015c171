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
import type { FlowDeps } from '../../src/usernet/flow/deps.js';
import { nativeHost } from '../../src/usernet/host/index.js';
import { FlowTable } from '../../src/usernet/flow/table.js';
import { EthernetView, EtherType } from '../../src/wire/ethernet.js';
import { Ipv4View, parseIpv4 as parseIpv4Header, IpProtocol } from '../../src/wire/ipv4.js';
import { Ipv6View, parseIpv6 as parseIpv6Header, ipv6Upper } from '../../src/wire/ipv6.js';
import { UdpView, parseUdp } from '../../src/wire/udp.js';
import { Icmpv4View, parseIcmpv4 } from '../../src/wire/icmpv4.js';
import { Icmpv6View, parseIcmpv6 } from '../../src/wire/icmpv6.js';
import {
  formatIpv4,
  formatIpv6,
  formatMac,
  getU16,
  isWireError,
  parseIpv4,
} from '../../src/wire/common.js';

import { FLOW_CFG, OUR_MAC, GUEST_MAC, G4, GW4, G6, GW6 } from '../lab/flow-fixtures.js';

const cfg = FLOW_CFG;

interface Decoded {
  ethSrc: string;
  ethDst: string;
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  payload: string;
}

/** Decodes an Ethernet/IP/UDP frame with the codecs, checksums verified. */
function decode(frame: Uint8Array): Decoded {
  const eth = EthernetView.checked(frame);
  assert.ok(!isWireError(eth));
  let src: Uint8Array, dst: Uint8Array, l4: Uint8Array;
  if (eth.ethertype === EtherType.Ipv4) {
    const v = Ipv4View.checked(eth.payload());
    assert.ok(!isWireError(v));
    const ip = parseIpv4Header(v);
    assert.ok(!isWireError(ip));
    assert.equal(ip.protocol, IpProtocol.Udp);
    [src, dst, l4] = [ip.src, ip.dst, v.payload()];
  } else {
    const v = Ipv6View.checked(eth.payload());
    assert.ok(!isWireError(v));
    const ip = parseIpv6Header(v);
    assert.ok(!isWireError(ip));
    assert.equal(ip.nextHeader, IpProtocol.Udp);
    [src, dst, l4] = [ip.src, ip.dst, ipv6Upper(v, ip)];
  }
  const u = UdpView.checked(l4);
  assert.ok(!isWireError(u));
  const r = parseUdp(u, src, dst);
  assert.ok(!isWireError(r), 'UDP checksum verifies');
  const fmt = (b: Uint8Array) => (b.length === 4 ? formatIpv4(b) : formatIpv6(b));
  return {
    ethSrc: formatMac(eth.src),
    ethDst: formatMac(eth.dst),
    src: fmt(src),
    dst: fmt(dst),
    srcPort: r.srcPort,
    dstPort: r.dstPort,
    payload: Buffer.from(u.payload()).toString(),
  };
}

/** A test harness: translator, table, a settable clock and a queue of frames to the guest. */
function harness(table = new FlowTable()) {
  const frames: Uint8Array[] = [];
  let waiter: (() => void) | undefined;
  const clock = { now: 0 };
  let mac: Uint8Array | undefined = GUEST_MAC;
  const deps: FlowDeps = {
    host: nativeHost(),
    table,
    cfg,
    hostResolvers: [],
    ourMac: OUR_MAC,
    guestMac: () => mac,
    toGuest: (f) => {
      frames.push(...f);
      waiter?.();
    },
    now: () => clock.now,
  };
  const udp = new UdpTranslator(deps);
  const next = async (): Promise<Decoded> => {
    const deadline = Date.now() + 3000;
    while (frames.length === 0) {
      if (Date.now() > deadline) throw new Error('no frame to the guest');
      await new Promise<void>((r) => {
        waiter = r;
        setTimeout(r, 50);
      });
    }
    return decode(frames.shift()!);
  };
  const raw = async (): Promise<Uint8Array> => {
    const deadline = Date.now() + 3000;
    while (frames.length === 0) {
      if (Date.now() > deadline) throw new Error('no frame to the guest');
      await sleep(10);
    }
    return frames.shift()!;
  };
  return { udp, table, clock, frames, next, raw, setMac: (m: Uint8Array | undefined) => (mac = m) };
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

const text = (s: string) => new TextEncoder().encode(s);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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
  while (srv.got.length < 2) await sleep(10);
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
  while (h.udp.counters.dropNoGuestMac === 0) await sleep(10);
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
  const f4 = EthernetView.checked(await h.raw());
  assert.ok(!isWireError(f4) && f4.ethertype === EtherType.Ipv4);
  const v4 = Ipv4View.checked(f4.payload());
  assert.ok(!isWireError(v4));
  const ip4 = parseIpv4Header(v4);
  assert.ok(!isWireError(ip4));
  assert.deepEqual([formatIpv4(ip4.src), formatIpv4(ip4.dst)], ['10.0.0.1', '10.0.0.5']);
  const iv4 = Icmpv4View.checked(v4.payload());
  assert.ok(!isWireError(iv4));
  const m4 = parseIcmpv4(iv4);
  assert.ok(!isWireError(m4) && m4.type === 3 && m4.code === 3);
  const q4 = m4.invoking;
  assert.deepEqual(
    [formatIpv4(q4.subarray(12, 16)), formatIpv4(q4.subarray(16, 20))],
    ['10.0.0.5', '10.0.0.1'],
  );
  assert.deepEqual([getU16(q4, 20), getU16(q4, 22), getU16(q4, 24)], [44000, p4, 15]);

  const p6 = await closedPort('::1');
  h.udp.fromGuest(6, G6, GW6, 44001, p6, text('six?'));
  const f6 = EthernetView.checked(await h.raw());
  assert.ok(!isWireError(f6) && f6.ethertype === EtherType.Ipv6);
  const v6 = Ipv6View.checked(f6.payload());
  assert.ok(!isWireError(v6));
  const ip6 = parseIpv6Header(v6);
  assert.ok(!isWireError(ip6));
  const iv6 = Icmpv6View.checked(ipv6Upper(v6, ip6));
  assert.ok(!isWireError(iv6));
  const m6 = parseIcmpv6(iv6, ip6.src, ip6.dst);
  assert.ok(!isWireError(m6) && m6.type === 1 && 'code' in m6 && m6.code === 4);
  assert.ok('invoking' in m6);
  assert.equal(formatIpv6(m6.invoking.subarray(24, 40)), 'fe80::1');
  assert.deepEqual([getU16(m6.invoking, 40), getU16(m6.invoking, 42)], [44001, p6]);
  assert.equal(h.udp.counters.unreachableToGuest, 2);
});
