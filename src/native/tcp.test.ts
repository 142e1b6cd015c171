// Unit tests of the shim's TCP sockets against the loopback stack: peek at offsets, consume, writes, ends, resets, readiness events.
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readlinkSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { waitFor } from '../../test/lab/wait.js';
import { SyscallError } from './index.js';
import {
  Errno,
  errnoName,
  openTcpPoller,
  tcpAccept,
  tcpClose,
  tcpConnect,
  tcpConsume,
  tcpInfo,
  tcpListen,
  tcpPeek,
  tcpSend,
  tcpShutdown,
  tcpSocket,
  tcpSocketError,
  TcpEvent,
  TcpWatch,
  type Accepted,
  type TcpHandle,
  type TcpPoller,
} from './tcp.js';

const tick = (ms = 20) => new Promise((r) => setTimeout(r, ms));

/** The kernel's TCP_CLOSE_WAIT (linux/tcp_states.h): the peer's FIN arrived. */
const TCP_CLOSE_WAIT = 8;

/** This process's socket and epoll fds: fd number → link target. */
function socketFds(): Map<number, string> {
  const out = new Map<number, string>();
  for (const name of readdirSync('/proc/self/fd')) {
    try {
      const target = readlinkSync(`/proc/self/fd/${name}`);
      if (/^socket:|eventpoll/.test(target)) out.set(Number(name), target);
    } catch {
      // the directory's own fd
    }
  }
  return out;
}

/** The fds open now that were not open (as the same file) in `before`. */
const newFds = (before: Map<number, string>): number[] =>
  [...socketFds()].filter(([fd, t]) => before.get(fd) !== t).map(([fd]) => fd);

const fdsAtStart = socketFds();

/** A poller that records (id, events) and can wait for a matching event. */
function recorder(t: TestContext): {
  p: TcpPoller;
  seen: [number, number][];
  wait: (id: number, bits: number) => Promise<number>;
} {
  const p = openTcpPoller();
  const seen: [number, number][] = [];
  p.onEvents((ev, n) => {
    for (let i = 0; i < n; i++) seen.push([ev[2 * i]!, ev[2 * i + 1]!]);
  });
  t.after(() => p.close());
  const wait = async (id: number, bits: number): Promise<number> => {
    const end = Date.now() + 3000;
    for (;;) {
      const e = seen.find(([i, m]) => i === id && (m & bits) !== 0);
      if (e) return e[1];
      if (Date.now() > end) assert.fail(`no event ${bits} for ${id}: ${JSON.stringify(seen)}`);
      await tick(5);
    }
  };
  return { p, seen, wait };
}

/** A connected pair on 127.0.0.1 or ::1: [client socket, accepted, close the accepted end now]. */
async function pair(
  t: TestContext,
  family: 4 | 6 = 4,
): Promise<[TcpHandle, Accepted, (reset: boolean) => void]> {
  const [lsock, port] = tcpListen(family === 4 ? '127.0.0.1' : '::1', 0);
  const c = tcpSocket(family);
  const rc = tcpConnect(c, family, family === 4 ? '127.0.0.1' : '::1', port);
  assert.ok(rc === 0 || rc === Errno.EINPROGRESS, errnoName(rc));
  let a: Accepted | number = Errno.EAGAIN;
  for (let i = 0; i < 100 && typeof a === 'number'; i++) {
    await tick(5);
    a = tcpAccept(lsock);
  }
  assert.ok(typeof a !== 'number', 'accepted');
  tcpClose(lsock, false);
  const acc = a;
  let open = true;
  const closeAcc = (reset: boolean) => {
    if (open) tcpClose(acc.sock, reset);
    open = false;
  };
  t.after(() => {
    tcpClose(c, false);
    closeAcc(false);
  });
  return [c, acc, closeAcc];
}

const text = (b: Uint8Array) => Buffer.from(b).toString('latin1');

test('accept reports both ends; connect completes with an Out event and no socket error', async (t) => {
  const { p, wait } = recorder(t);
  const [lsock, port] = tcpListen('::', 0);
  t.after(() => tcpClose(lsock, false));
  p.watch(lsock, 1, TcpWatch.In);
  const c = tcpSocket(4);
  t.after(() => tcpClose(c, false));
  assert.equal(tcpConnect(c, 4, '127.0.0.1', port), Errno.EINPROGRESS);
  p.watch(c, 2, TcpWatch.Out | TcpWatch.Edge);
  await wait(1, TcpEvent.In);
  await wait(2, TcpEvent.Out);
  assert.equal(tcpSocketError(c), 0);
  const a = tcpAccept(lsock);
  assert.ok(typeof a !== 'number');
  t.after(() => tcpClose(a.sock, false));
  // The dual-stack listener shows an IPv4 peer as IPv4, not ::ffff:127.0.0.1.
  assert.equal(a.peerAddr, '127.0.0.1');
  assert.equal(a.localAddr, '127.0.0.1');
  assert.equal(a.localPort, port);
  assert.equal(tcpAccept(lsock), Errno.EAGAIN);
});

for (const family of [4, 6] as const) {
  test(`IPv${family}: peeks at an offset leave the bytes queued; consume drops them and moves the offset back`, async (t) => {
    const [c, a] = await pair(t, family);
    assert.equal(tcpSend(a.sock, [Buffer.from('0123456789'), Buffer.from('abcdef')]), 16);
    await waitFor(() => tcpInfo(c)?.readable === 16, 3000, 'the 16 bytes queued');
    const buf = new Uint8Array(32).fill(0x2e);
    // Two regions in one peek.
    assert.equal(tcpPeek(c, buf, Uint32Array.of(0, 4, 10, 4), 2, -1), 8);
    assert.equal(text(buf.subarray(0, 14)), '0123......4567');
    // The offset moved on by what was peeked.
    assert.equal(tcpPeek(c, buf, Uint32Array.of(20, 3), 1, -1), 3);
    assert.equal(text(buf.subarray(20, 23)), '89a');
    // Rewind explicitly.
    assert.equal(tcpPeek(c, buf, Uint32Array.of(0, 2), 1, 0), 2);
    assert.equal(text(buf.subarray(0, 2)), '01');
    assert.equal(tcpInfo(c)?.readable, 16, 'nothing was consumed by peeking');
    // Dropping 3 bytes moves the offset (now 2) back to 0 as the kernel does.
    assert.equal(tcpConsume(c, 3), 3);
    assert.equal(tcpPeek(c, buf, Uint32Array.of(0, 5), 1, -1), 5);
    assert.equal(text(buf.subarray(0, 5)), '34567');
    assert.equal(tcpConsume(c, 100), 13);
    assert.equal(tcpPeek(c, buf, Uint32Array.of(0, 5), 1, 0), -Errno.EAGAIN);
    // The end of the stream: 0 once everything before it is past the offset.
    tcpSend(a.sock, [Buffer.from('xy')]);
    assert.equal(tcpShutdown(a.sock), 0);
    await waitFor(
      () => tcpInfo(c)?.readable === 2 && tcpInfo(c)?.state === TCP_CLOSE_WAIT,
      3000,
      'the 2 bytes and the FIN',
    );
    assert.equal(tcpPeek(c, buf, Uint32Array.of(0, 5), 1, 0), 2);
    assert.equal(tcpPeek(c, buf, Uint32Array.of(0, 5), 1, -1), 0);
  });
}

test('edge-triggered: each arrival is one In event; the peer FIN is RdHup; an RST is Err with ECONNRESET', async (t) => {
  const { p, seen, wait } = recorder(t);
  const [c, a, closeA] = await pair(t);
  p.watch(c, 7, TcpWatch.In | TcpWatch.RdHup | TcpWatch.Edge);
  tcpSend(a.sock, [Buffer.from('one')]);
  await wait(7, TcpEvent.In);
  const before = seen.length;
  // Ordering, not a wait: an arrival on a second connection in the same set, after c's bytes
  // were reported, is reported by a later wait of the set; a level-triggered c (its bytes are
  // still queued) would be reported by that wait too.
  const [m, ma] = await pair(t);
  p.watch(m, 8, TcpWatch.In | TcpWatch.Edge);
  tcpSend(ma.sock, [Buffer.from('marker')]);
  await wait(8, TcpEvent.In);
  assert.deepEqual(
    seen.slice(before).filter(([id]) => id === 7),
    [],
    'no repeat while nothing new arrives (bytes still queued)',
  );
  const after = seen.length;
  tcpSend(a.sock, [Buffer.from('two')]);
  await waitFor(
    () => seen.slice(after).some(([id, bits]) => id === 7 && (bits & TcpEvent.In) !== 0),
    3000,
    'a new arrival is a new edge',
  );
  tcpShutdown(a.sock);
  await wait(7, TcpEvent.RdHup);
  closeA(true);
  await wait(7, TcpEvent.Err);
  assert.ok([Errno.ECONNRESET, Errno.EPIPE].includes(tcpSocketError(c)));
});

test('a refused connect reports Err and ECONNREFUSED; sends to a reset peer fail with an errno', async (t) => {
  const { p, wait } = recorder(t);
  const [lsock, port] = tcpListen('127.0.0.1', 0);
  tcpClose(lsock, false); // nothing listens there any more
  const c = tcpSocket(4);
  t.after(() => tcpClose(c, false));
  assert.equal(tcpConnect(c, 4, '127.0.0.1', port), Errno.EINPROGRESS);
  p.watch(c, 3, TcpWatch.Out | TcpWatch.Edge);
  await wait(3, TcpEvent.Err);
  assert.equal(tcpSocketError(c), Errno.ECONNREFUSED);
  assert.ok(tcpSend(c, [Buffer.from('x')]) < 0);
  assert.equal(tcpConnect(c, 4, 'not an address', 1), 22 /* EINVAL */);
});

test('a full send buffer takes part of a write, then EAGAIN; the reader frees room', async (t) => {
  const [c, a] = await pair(t);
  const big = Buffer.alloc(1 << 20, 0x41);
  let total = 0;
  let last = 0;
  for (let i = 0; i < 200; i++) {
    last = tcpSend(c, [big, big]);
    if (last < 0) break;
    total += last;
  }
  assert.equal(last, -Errno.EAGAIN, 'the socket filled up');
  assert.ok(total > 0);
  const info = tcpInfo(c);
  assert.ok(info !== undefined && info.sendQueue > 0, 'bytes wait in the send queue');
  assert.ok(tcpConsume(a.sock, total) > 0);
});

test('listening on a taken port throws a SyscallError naming the address', (t) => {
  const [lsock, port] = tcpListen('127.0.0.1', 0);
  t.after(() => tcpClose(lsock, false));
  assert.throws(
    () => tcpListen('127.0.0.1', port),
    (e: unknown) =>
      e instanceof SyscallError &&
      e.errno === 'EADDRINUSE' &&
      e.syscall === 'bind' &&
      e.message.includes(`127.0.0.1 port ${port}`),
  );
  assert.throws(() => tcpListen('nope', 1), SyscallError);
});

test('a closed handle answers EBADF and cannot close the socket that reuses its fd number', () => {
  const before = socketFds();
  const a = tcpSocket(4);
  const [fdA] = newFds(before);
  assert.ok(fdA !== undefined, 'the socket has an fd');
  tcpClose(a, false);
  assert.ok(!socketFds().has(fdA), 'closed');
  // The kernel hands out the lowest free number: the next socket gets A's old one.
  const b = tcpSocket(4);
  assert.deepEqual(newFds(before), [fdA], 'fd number reused');
  tcpClose(a, false);
  tcpClose(a, true);
  assert.deepEqual(newFds(before), [fdA], 'closing A again left B open');
  assert.equal(tcpSocketError(b), 0);
  assert.equal(tcpInfo(b)?.state, 7 /* TCP_CLOSE: B is alive and unconnected */);
  // Every call on A meets EBADF instead of reaching B.
  assert.equal(tcpSocketError(a), Errno.EBADF);
  assert.equal(tcpSend(a, [Buffer.from('x')]), -Errno.EBADF);
  assert.equal(tcpPeek(a, new Uint8Array(4), Uint32Array.of(0, 4), 1, -1), -Errno.EBADF);
  assert.equal(tcpConsume(a, 4), -Errno.EBADF);
  assert.equal(tcpShutdown(a), Errno.EBADF);
  assert.equal(tcpConnect(a, 4, '127.0.0.1', 1), Errno.EBADF);
  assert.equal(tcpAccept(a), Errno.EBADF);
  assert.equal(tcpInfo(a), undefined);
  const p = openTcpPoller();
  assert.equal(p.watch(a, 1, TcpWatch.In), Errno.EBADF);
  p.close();
  tcpClose(b, false);
  assert.deepEqual(newFds(before), []);
});

test('only socket handles are taken: numbers and other handles throw a TypeError', () => {
  const p = openTcpPoller();
  const s = tcpSocket(4);
  try {
    assert.throws(() => tcpClose(3 as unknown as TcpHandle, false), TypeError);
    assert.throws(() => tcpSocketError({} as unknown as TcpHandle), TypeError);
    // The poller's own handle is a shim handle, but not a socket.
    const ph = (p as unknown as { handle: TcpHandle }).handle;
    assert.throws(() => tcpSend(ph, [Buffer.from('x')]), TypeError);
    assert.throws(() => p.watch(7 as unknown as TcpHandle, 1, TcpWatch.In), TypeError);
  } finally {
    tcpClose(s, false);
    p.close();
  }
});

test('a socket handle dropped without tcpClose is closed when collected', async () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const before = socketFds();
  (() => {
    const [l] = tcpListen('127.0.0.1', 0);
    tcpSocket(6);
    assert.ok(l !== undefined);
  })();
  assert.equal(newFds(before).length, 2);
  const end = Date.now() + 5000;
  while (newFds(before).length > 0) {
    if (Date.now() > end) assert.fail(`still open: ${newFds(before).join(', ')}`);
    gc();
    await tick(5); // finalisers run after the collection, from the event loop
  }
});

test('the event list buffer is C-owned: transferring it does not detach it', async (t) => {
  const p = openTcpPoller();
  t.after(() => p.close());
  const bufs = new Set<ArrayBufferLike>();
  let calls = 0;
  let lengthAfter = -1;
  p.onEvents((ev) => {
    calls++;
    bufs.add(ev.buffer);
    if (lengthAfter >= 0) return;
    try {
      structuredClone(ev.buffer, { transfer: [ev.buffer as ArrayBuffer] });
    } catch {
      // refusing is as good as copying
    }
    lengthAfter = ev.buffer.byteLength;
  });
  const [l, port] = tcpListen('127.0.0.1', 0);
  t.after(() => tcpClose(l, false));
  p.watch(l, 1, TcpWatch.In | TcpWatch.Edge);
  const socks = [tcpSocket(4), tcpSocket(4)];
  t.after(() => socks.forEach((c) => tcpClose(c, false)));
  const waitCalls = async (n: number): Promise<void> => {
    const end = Date.now() + 3000;
    while (calls < n && Date.now() < end) await tick(5);
    assert.ok(calls >= n, `${n} event lists`);
  };
  tcpConnect(socks[0]!, 4, '127.0.0.1', port);
  await waitCalls(1);
  assert.ok(lengthAfter > 0, 'still attached');
  tcpConnect(socks[1]!, 4, '127.0.0.1', port);
  await waitCalls(2);
  assert.equal(bufs.size, 1, 'every list arrives in the one C-owned buffer');
});

test('the file leaves no socket or epoll fd open', async () => {
  const end = Date.now() + 3000;
  while (newFds(fdsAtStart).length > 0 && Date.now() < end) await tick(5);
  assert.deepEqual(newFds(fdsAtStart), []);
});
