// Unit tests of the in-memory kernel itself: TcpHost semantics, readiness, UDP crossing and refusal, ping replies.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { memoryHost } from './memory.js';
import { Errno, TcpEvent, TcpWatch, type TcpSock } from './tcp.js';
import type { UdpError, UdpFrom } from './udp.js';
import type { PingMessage } from './ping.js';

const EDGE = TcpWatch.In | TcpWatch.Out | TcpWatch.RdHup | TcpWatch.Edge;

/** A poller whose events are collected as [id, bits] pairs per flush. */
function collect(h: ReturnType<typeof memoryHost>) {
  const p = h.tcp.poller();
  const got: [number, number][] = [];
  p.onEvents((ev, n) => {
    for (let i = 0; i < n; i++) got.push([ev[2 * i]!, ev[2 * i + 1]!]);
  });
  return { p, got, take: () => got.splice(0) };
}

function peekAll(h: ReturnType<typeof memoryHost>, s: TcpSock, offset = -1, max = 100) {
  const buf = new Uint8Array(max);
  const n = h.tcp.peek(s, buf, Uint32Array.of(0, max), 1, offset);
  return { n, text: n > 0 ? Buffer.from(buf.subarray(0, n)).toString() : '' };
}

test('tcp: a connect finishes on the next flush; peek at an offset, consume, EOF', async () => {
  const h = memoryHost();
  const srv = h.tcp.server('127.0.0.1', 8080, (p) => p.write('hello world'));
  const s = h.tcp.socket(4);
  assert.equal(h.tcp.connect(s, 4, '127.0.0.1', 8080), Errno.EINPROGRESS);
  const ev = collect(h);
  ev.p.watch(s, 7, EDGE);
  assert.equal(peekAll(h, s).n, -Errno.EAGAIN, 'nothing before the connect finished');
  assert.equal(srv.conns.length, 0);
  h.kernel.flush();
  assert.equal(srv.conns.length, 1);
  // The connect finished and the server wrote in that flush's work; readiness came after it.
  const [[id, bits]] = ev.take() as [[number, number]];
  assert.equal(id, 7);
  assert.equal(bits, TcpEvent.In | TcpEvent.Out);
  assert.equal(h.tcp.socketError(s), 0);
  // Peek into two regions; the offset advances; an explicit offset moves it.
  const buf = new Uint8Array(16);
  assert.equal(h.tcp.peek(s, buf, Uint32Array.of(0, 3, 8, 2), 2, 0), 5);
  assert.equal(
    Buffer.from(buf.subarray(0, 3)).toString() + Buffer.from(buf.subarray(8, 10)).toString(),
    'hello',
  );
  assert.equal(peekAll(h, s).text, ' world');
  assert.equal(peekAll(h, s).n, -Errno.EAGAIN);
  assert.equal(peekAll(h, s, 6).text, 'world');
  // Consuming moves the offset back by what was dropped.
  assert.equal(h.tcp.consume(s, 6), 6);
  assert.equal(peekAll(h, s, -1).n, -Errno.EAGAIN, 'offset 11 − 6 = 5 = the end');
  assert.equal(peekAll(h, s, 0).text, 'world');
  srv.conns[0]!.end();
  h.kernel.flush();
  assert.deepEqual(ev.take(), [[7, TcpEvent.In | TcpEvent.Out | TcpEvent.RdHup]]);
  assert.equal(peekAll(h, s, 5).n, 0, 'end of stream after the data');
  assert.equal(h.tcp.consume(s, 100), 5);
  assert.equal(h.tcp.consume(s, 100), 0);
  h.tcp.close(s, false);
  assert.equal(srv.conns[0]!.ended, true, 'our close is a FIN');
  assert.equal(srv.conns[0]!.wasReset, false);
  assert.equal(h.tcp.openSockets, 0);
});

test('tcp: refused connect, reset by the peer, reset by us, partial sends and room', async () => {
  const h = memoryHost({ tcp: { sendBuffer: 10 } });
  const ev = collect(h);
  const r = h.tcp.socket(6);
  assert.equal(h.tcp.connect(r, 6, '::1', 9), Errno.EINPROGRESS);
  ev.p.watch(r, 1, EDGE);
  await h.settle();
  const [[, rb]] = ev.take() as [[number, number]];
  assert.ok(rb & TcpEvent.Err && rb & TcpEvent.Hup);
  assert.equal(h.tcp.socketError(r), Errno.ECONNREFUSED);
  assert.equal(h.tcp.socketError(r), 0, 'SO_ERROR clears on reading');
  h.tcp.close(r, false);
  assert.equal(ev.p.watch(r, 1, EDGE), Errno.EBADF);

  const srv = h.tcp.server('::1', 9);
  const s = h.tcp.socket(6);
  h.tcp.connect(s, 6, '::1', 9);
  ev.p.watch(s, 2, EDGE);
  await h.settle();
  ev.take();
  const peer = srv.conns[0]!;
  peer.pause();
  assert.equal(h.tcp.send(s, [Buffer.from('0123456'), Buffer.from('789abc')]), 10, 'cut short');
  assert.equal(h.tcp.send(s, [Buffer.from('x')]), -Errno.EAGAIN);
  await h.settle();
  assert.deepEqual(ev.take(), [], 'no room: no Out');
  assert.equal(peer.read(4), 4);
  await h.settle();
  assert.deepEqual(ev.take(), [[2, TcpEvent.Out]], 'room again: an Out edge');
  assert.equal(h.tcp.send(s, [Buffer.from('bcdef')]), 4);
  assert.equal(peer.text(), '0123456789bcde');
  peer.reset();
  await h.settle();
  const [[, xb]] = ev.take() as [[number, number]];
  assert.ok(xb & TcpEvent.Err);
  assert.equal(h.tcp.send(s, [Buffer.from('z')]), -Errno.ECONNRESET);
  assert.equal(h.tcp.send(s, [Buffer.from('z')]), -Errno.EPIPE);
  h.tcp.close(s, true);

  const srv2 = h.tcp.server('::', 10);
  const t = h.tcp.socket(4);
  h.tcp.connect(t, 4, '127.0.0.1', 10);
  await h.settle();
  const p2 = srv2.conns[0]!;
  let resetSeen = false;
  p2.on('reset', () => (resetSeen = true));
  assert.equal(h.tcp.shutdown(t), 0);
  assert.equal(p2.ended, true);
  h.tcp.close(t, true);
  assert.equal(p2.wasReset, true);
  assert.equal(resetSeen, false, 'callbacks run on a flush');
  await h.settle();
  assert.equal(resetSeen, true);
});

test('tcp: listen, dial, accept (level-triggered), EADDRINUSE; writes wait for receive room', async () => {
  const h = memoryHost({ tcp: { receiveBuffer: 8 } });
  const ev = collect(h);
  const [l, port] = h.tcp.listen('::', 0);
  assert.ok(port > 0);
  assert.throws(() => h.tcp.listen('127.0.0.1', port), /EADDRINUSE|in use/i);
  assert.throws(() => h.tcp.dial('127.0.0.1', port + 1), /refused/i);
  ev.p.watch(l, 5, TcpWatch.In);
  const c = h.tcp.dial('127.0.0.1', port, { addr: '127.0.0.1', port: 5555 });
  c.write('0123456789');
  assert.equal(c.heldBack, 2);
  h.kernel.flush();
  h.kernel.flush();
  // Level-triggered: reported on every flush while a connection waits.
  assert.deepEqual(ev.take(), [
    [5, TcpEvent.In],
    [5, TcpEvent.In],
  ]);
  const a = h.tcp.accept(l);
  assert.ok(typeof a !== 'number');
  assert.deepEqual(
    [a.peerAddr, a.peerPort, a.localAddr, a.localPort],
    ['127.0.0.1', 5555, '127.0.0.1', port],
  );
  assert.equal(h.tcp.accept(l), Errno.EAGAIN);
  assert.equal(peekAll(h, a.sock, 0).text, '01234567');
  assert.equal(h.tcp.consume(a.sock, 3), 3);
  assert.equal(c.heldBack, 0, 'consuming made room');
  assert.equal(peekAll(h, a.sock, 0).text, '3456789');
  // Closing with unread data resets the peer (as Linux).
  h.tcp.close(a.sock, false);
  assert.equal(c.wasReset, true);
  h.tcp.close(l, false);
  assert.equal(h.tcp.openSockets, 0);
});

test('udp: datagrams cross on flushes; a closed port refuses connected senders; IPv4 on "::" is mapped', async () => {
  const h = memoryHost();
  const echo = h.udp.echo('127.0.0.1', 53);
  const got: [string, UdpFrom][] = [];
  const errs: UdpError[] = [];
  let connected = false;
  const handlers = {
    message: (d: Uint8Array, f: UdpFrom) => got.push([Buffer.from(d).toString(), f]),
    error: (e: UdpError) => errs.push(e),
  };
  const s = h.udp.connect(4, '127.0.0.1', 53, handlers, () => (connected = true));
  assert.equal(connected, false);
  s.send(Buffer.from('q'));
  h.kernel.flush();
  assert.equal(connected, true);
  assert.equal(echo.received.length, 1);
  assert.equal(got.length, 0);
  h.kernel.flush();
  assert.deepEqual(got, [['q', { address: '127.0.0.1', port: 53, family: 4 }]]);
  const r = h.udp.connect(6, '::1', 54, handlers, () => {});
  r.send(Buffer.from('anyone'));
  await h.settle();
  assert.deepEqual(
    errs.map((e) => e.code),
    ['ECONNREFUSED'],
  );
  r.close();
  s.close();
  const b = h.udp.bind(6, '::', 7000, handlers);
  await b.bound;
  await assert.rejects(h.udp.bind(4, '127.0.0.1', 7000, handlers).bound, /in use/i);
  const client = h.udp.endpoint('127.0.0.1', 6000);
  client.send('knock', '127.0.0.1', 7000);
  await h.settle();
  assert.deepEqual(got[1], ['knock', { address: '::ffff:127.0.0.1', port: 6000, family: 6 }]);
  b.sock.send(Buffer.from('who'), '::ffff:127.0.0.1', 6000);
  await h.settle();
  assert.equal(Buffer.from(client.received[0]!.data).toString(), 'who');
  b.sock.close();
  assert.equal(h.udp.openSockets, 0);
});

test('ping: replies carry the socket identifier; taken identifiers, EACCES, silence', async () => {
  const h = memoryHost();
  const got: PingMessage[] = [];
  const s = h.ping.open({ family: 4, ident: 0x1234, netns: 'ns1' });
  s.onMessages((m) => got.push(...m));
  assert.throws(
    () => h.ping.open({ family: 4, ident: 0x1234 }),
    (e: { errno?: string }) => e.errno === 'EADDRINUSE',
  );
  const other = h.ping.open({ family: 6, ident: 0x1234 });
  const auto = h.ping.open({ family: 4, ident: 0 });
  assert.notEqual(auto.ident, 0);
  assert.equal(s.send('127.0.0.1', Uint8Array.of(8, 0, 0, 0, 0, 0, 0, 9, 0x61)), true);
  assert.equal(got.length, 0);
  await h.settle();
  assert.deepEqual([...got[0]!.data], [0, 0, 0, 0, 0x12, 0x34, 0, 9, 0x61]);
  assert.deepEqual(h.ping.requests[0], {
    family: 4,
    addr: '127.0.0.1',
    ident: 0x1234,
    seqNo: 9,
    data: Uint8Array.of(0x61),
    netns: 'ns1',
  });
  h.ping.silent.add('127.0.0.2');
  s.send('127.0.0.2', Uint8Array.of(8, 0, 0, 0, 0, 0, 0, 10));
  await h.settle();
  assert.equal(got.length, 1);
  h.ping.denied = true;
  assert.throws(
    () => h.ping.open({ family: 4, ident: 1 }),
    (e: { errno?: string }) => e.errno === 'EACCES',
  );
  for (const x of [s, other, auto]) x.close();
  assert.equal(h.ping.openSockets, 0);
});

test('settle gives up on a kernel that never quiets', async () => {
  const h = memoryHost();
  const again = (): void => h.kernel.post(again);
  again();
  await assert.rejects(h.kernel.settle(20), /did not settle/);
});
