// Integration (root): ICMP/ICMPv6 ping sockets from the native shim, created inside a namespace of ours.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { openPingSocket, SyscallError } from '../../src/native/index.js';
import type { Datagram, DatagramEndpoint } from '../../src/native/index.js';

const run = promisify(execFile);
const RUN_ID = process.env.BINDERY_RUN_ID ?? 'dev';
let nsSeq = 0;

/** A namespace name of this run, unique in this process. */
function nsName(tag: string): string {
  return `bdy-${RUN_ID}-nping-${tag}-${process.pid}-${++nsSeq}`;
}

/** Internet checksum of the whole buffer. */
function checksum(b: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < b.length; i += 2) sum += (b[i]! << 8) | (i + 1 < b.length ? b[i + 1]! : 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** An echo request (type 8 or 128) with identifier and checksum 0: the kernel fills them in. */
function echoRequest(type: number, seq: number, payload: string): Uint8Array {
  const body = new TextEncoder().encode(payload);
  const m = new Uint8Array(8 + body.length);
  m[0] = type;
  m[6] = seq >> 8;
  m[7] = seq & 0xff;
  m.set(body, 8);
  return m;
}

/** Resolves with the first message batch, or rejects after `ms`. */
function nextMessages(ep: DatagramEndpoint, ms = 5000): Promise<Datagram[]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no reply within the deadline')), ms);
    ep.onMessages((msgs) => {
      clearTimeout(timer);
      resolve(msgs);
    });
    ep.onError((e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

describe('ping sockets in a namespace', () => {
  const ns = nsName('lo');
  const bare = nsName('bare');
  const open: DatagramEndpoint[] = [];

  before(async () => {
    await run('ip', ['netns', 'add', ns]);
    await run('ip', ['netns', 'add', bare]);
    await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    await run('ip', [
      'netns',
      'exec',
      ns,
      'sysctl',
      '-qw',
      'net.ipv4.ping_group_range=0 2147483647',
    ]);
  });

  after(async () => {
    for (const ep of open) ep.close();
    for (const n of [ns, bare]) await run('ip', ['netns', 'del', n]).catch(() => undefined);
  });

  for (const { family, dst, type } of [
    { family: 4 as const, dst: '127.0.0.1', type: 8 },
    { family: 6 as const, dst: '::1', type: 128 },
  ]) {
    it(`IPv${family}: echo request to ${dst}, the reply comes back from ${dst}`, async () => {
      const ident = family === 4 ? 41000 : 41001;
      const ep = openPingSocket({ family, ident, netns: ns });
      open.push(ep);
      assert.equal(ep.localPort, ident);
      assert.equal(ep.family, family);
      const replies = nextMessages(ep);
      assert.equal(ep.send(dst, 0, echoRequest(type, 7, 'bindery-ping')), true);
      const [msg, ...rest] = await replies;
      assert.equal(rest.length, 0);
      assert.equal(msg!.addr, dst);
      assert.equal(msg!.port, 0);
      const d = msg!.data;
      assert.equal(d[0], type === 8 ? 0 : 129, 'echo reply type');
      assert.equal((d[4]! << 8) | d[5]!, ident, 'identifier rewritten to the bound one');
      assert.equal((d[6]! << 8) | d[7]!, 7);
      assert.equal(new TextDecoder().decode(d.subarray(8)), 'bindery-ping');
      if (family === 4) assert.equal(checksum(d), 0, 'ICMP checksum verifies');
    });

    it(`IPv${family}: replies queued together arrive in one batch, in order, each intact`, async () => {
      const ep = openPingSocket({ family, netns: ns });
      open.push(ep);
      // Loopback answers within sendto: all replies are queued before the socket is read, more
      // than one recvmmsg fills (scratch holds three 64 KiB slots), so the batch takes two calls.
      const sizes = [1, 1400, 9000, 60000, 32];
      const batches: Datagram[][] = [];
      const all = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('replies missing')), 5000);
        ep.onError(reject);
        ep.onMessages((msgs) => {
          batches.push(msgs);
          if (batches.flat().length >= sizes.length) {
            clearTimeout(timer);
            resolve();
          }
        });
      });
      sizes.forEach((n, i) => {
        assert.equal(ep.send(dst, 0, echoRequest(type, i, String(i % 10).repeat(n))), true);
      });
      await all;
      assert.equal(batches.length, 1, 'one batch');
      const got = batches[0]!;
      assert.deepEqual(
        got.map((m) => (m.data[6]! << 8) | m.data[7]!),
        sizes.map((_, i) => i),
      );
      got.forEach((m, i) => {
        assert.equal(m.addr, dst);
        assert.equal(m.data.length, 8 + sizes[i]!);
        assert.equal(
          new TextDecoder().decode(m.data.subarray(8)),
          String(i % 10).repeat(sizes[i]!),
        );
      });
    });

    it(`IPv${family}: the identifier is exclusive (second bind: EADDRINUSE); 0 lets the kernel pick`, () => {
      const ident = family === 4 ? 41002 : 41003;
      const first = openPingSocket({ family, ident, netns: ns });
      open.push(first);
      assert.throws(
        () => open.push(openPingSocket({ family, ident, netns: ns })),
        (e: unknown) =>
          e instanceof SyscallError &&
          e.errno === 'EADDRINUSE' &&
          e.syscall === 'bind' &&
          e.code === 'BINDERY_ERR_SYSCALL',
      );
      const auto = openPingSocket({ family, netns: ns });
      open.push(auto);
      assert.ok(auto.localPort > 0 && auto.localPort !== ident);
    });
  }

  it('readNow hands a queued reply to onMessages before it returns; nothing queued, no call', () => {
    const ep = openPingSocket({ family: 4, netns: ns });
    open.push(ep);
    const got: Datagram[][] = [];
    ep.onMessages((m) => got.push(m));
    ep.readNow();
    assert.equal(got.length, 0, 'nothing was queued');
    assert.equal(ep.send('127.0.0.1', 0, echoRequest(8, 7, 'right now')), true);
    // Block this thread (the loop cannot run) long enough for the reply to be queued, so only
    // readNow can deliver it.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
    assert.equal(got.length, 0, 'no delivery without a wake-up or readNow');
    ep.readNow();
    assert.equal(got.length, 1, 'delivered during readNow');
    const reply = got[0]![0]!;
    assert.equal(reply.addr, '127.0.0.1');
    assert.deepEqual([reply.data[0], (reply.data[6]! << 8) | reply.data[7]!], [0, 7]);
    assert.equal(new TextDecoder().decode(reply.data.subarray(8)), 'right now');
    ep.close();
    ep.readNow(); // closed: nothing happens
    assert.equal(got.length, 1);
  });

  it('binds a local address; a non-local one is EADDRNOTAVAIL', () => {
    const ep = openPingSocket({ family: 4, localAddr: '127.0.0.1', netns: ns });
    open.push(ep);
    assert.throws(
      () => open.push(openPingSocket({ family: 4, localAddr: '192.0.2.1', netns: ns })),
      (e: unknown) => e instanceof SyscallError && e.errno === 'EADDRNOTAVAIL',
    );
  });

  it('fails with EACCES where ping_group_range leaves our group out', () => {
    assert.throws(
      () => open.push(openPingSocket({ family: 4, netns: bare })),
      (e: unknown) => e instanceof SyscallError && e.errno === 'EACCES' && e.syscall === 'socket',
    );
  });
});
