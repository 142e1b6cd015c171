// Integration (root for the namespace case): the shim's batched UDP calls — recvmmsg with sources, sendmmsg with partial sends.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Errno, tcpClose, type TcpHandle } from '../../src/native/tcp.js';
import {
  UDP_FLAG_TRUNC,
  UDP_META_WORDS,
  udpRecvMany,
  udpSendMany,
  udpSocket,
} from '../../src/native/udp.js';
import { waitFor } from '../lab/wait.js';

const run = promisify(execFile);
const RUN_ID = process.env.BINDERY_RUN_ID ?? 'dev';
const CHILD = fileURLToPath(new URL('./udp-sendmany-child.ts', import.meta.url));

/** A node:dgram socket bound on `addr`, closed after the suite. */
async function peer(family: 4 | 6, addr: string, opened: Socket[]): Promise<Socket> {
  const s = createSocket(family === 4 ? 'udp4' : 'udp6');
  opened.push(s);
  await new Promise<void>((resolve) => s.bind(0, addr, resolve));
  return s;
}

const sendOne = (s: Socket, data: Uint8Array, port: number, addr: string) =>
  new Promise<void>((resolve, reject) =>
    s.send(data, port, addr, (e) => (e ? reject(e) : resolve())),
  );

/** Datagram `i` of sender `k`: its length varies, every byte says who and which. */
const datagram = (k: number, i: number) => new Uint8Array(1 + ((i * 37) % 1400)).fill(k * 50 + i);

for (const family of [4, 6] as const) {
  describe(`udpRecvMany / udpSendMany over IPv${family} loopback`, () => {
    const addr = family === 4 ? '127.0.0.1' : '::1';
    const opened: Socket[] = [];
    const handles: TcpHandle[] = [];
    after(() => {
      for (const s of opened) s.close();
      for (const h of handles) tcpClose(h, false);
    });

    it('reads many datagrams from two senders in one call, each with its source', async () => {
      const [rx, port] = udpSocket(family, { addr, port: 0 });
      handles.push(rx);
      assert.ok(port > 0);
      const senders = [await peer(family, addr, opened), await peer(family, addr, opened)];
      // Interleaved, and every send finished (loopback queues it at once) before the one read.
      for (let i = 0; i < 20; i++)
        for (let k = 0; k < 2; k++) await sendOne(senders[k]!, datagram(k, i), port, addr);
      const slot = 2048;
      const buf = new Uint8Array(64 * slot);
      const meta = new Uint32Array(64 * UDP_META_WORDS);
      const n = udpRecvMany(rx, buf, slot, meta, 64);
      assert.equal(n, 40);
      const metaBytes = new Uint8Array(meta.buffer);
      const want = new Uint8Array(
        family === 4 ? [127, 0, 0, 1] : [...new Array<number>(15).fill(0), 1],
      );
      for (let j = 0; j < n; j++) {
        const i = j >> 1;
        const k = j & 1;
        const m = j * UDP_META_WORDS;
        const d = datagram(k, i);
        assert.equal(meta[m], d.length, `length of datagram ${j}`);
        assert.equal(meta[m + 1], 0);
        assert.equal(meta[m + 2], senders[k]!.address().port);
        assert.equal(meta[m + 3], family);
        assert.deepEqual(metaBytes.subarray(m * 4 + 16, m * 4 + 16 + want.length), want);
        assert.deepEqual(buf.subarray(j * slot, j * slot + d.length), d);
      }
      assert.equal(udpRecvMany(rx, buf, slot, meta, 64), -Errno.EAGAIN);
    });

    it('cuts a datagram longer than its slot and says so', async () => {
      const [rx, port] = udpSocket(family, { addr, port: 0 });
      handles.push(rx);
      const s = await peer(family, addr, opened);
      await sendOne(s, new Uint8Array(300).fill(7), port, addr);
      await sendOne(s, new Uint8Array(50).fill(8), port, addr);
      const buf = new Uint8Array(4 * 100);
      const meta = new Uint32Array(4 * UDP_META_WORDS);
      assert.equal(udpRecvMany(rx, buf, 100, meta, 4), 2);
      assert.deepEqual([meta[0], meta[1]], [100, UDP_FLAG_TRUNC]);
      assert.deepEqual([meta[UDP_META_WORDS], meta[UDP_META_WORDS + 1]], [50, 0]);
      assert.deepEqual(buf.subarray(100, 150), new Uint8Array(50).fill(8));
    });

    it('sends a batch to the connected peer, and to an address from an unconnected socket', async () => {
      const sink = await peer(family, addr, opened);
      const got: Buffer[] = [];
      sink.on('message', (m) => got.push(m));
      const sinkPort = sink.address().port;
      const [conn] = udpSocket(family, undefined, { addr, port: sinkPort });
      const [free] = udpSocket(family);
      handles.push(conn, free);
      const bufs = Array.from({ length: 10 }, (_, i) => datagram(2, i));
      assert.equal(udpSendMany(conn, bufs, 6, family), 6);
      assert.equal(udpSendMany(free, bufs.slice(6), 4, family, { addr, port: sinkPort }), 4);
      await waitFor(() => got.length >= 10, 5000, 'ten datagrams at the sink');
      assert.deepEqual(
        got.map((b) => new Uint8Array(b)),
        bufs,
      );
    });

    it('reports ECONNREFUSED on a connected socket whose peer port is closed', async () => {
      const gone = await peer(family, addr, opened);
      const port = gone.address().port;
      gone.close();
      opened.splice(opened.indexOf(gone), 1);
      const [s] = udpSocket(family, undefined, { addr, port });
      handles.push(s);
      assert.equal(udpSendMany(s, [new Uint8Array(1)], 1, family), 1);
      const buf = new Uint8Array(64);
      const meta = new Uint32Array(UDP_META_WORDS);
      // The port unreachable comes back through the softirq: wait for it, not for a time.
      let r = -Errno.EAGAIN;
      await waitFor(
        () => (r = udpRecvMany(s, buf, 64, meta, 1)) !== -Errno.EAGAIN,
        5000,
        'the ICMP error',
      );
      assert.equal(r, -Errno.ECONNREFUSED);
      assert.equal(udpRecvMany(s, buf, 64, meta, 1), -Errno.EAGAIN);
    });
  });
}

describe('udpSendMany on a full send buffer', () => {
  const ns = `bdy-${RUN_ID}-udpmm-${process.pid}`;
  after(async () => {
    await run('ip', ['netns', 'del', ns]).catch(() => {});
  });

  it('reports how many datagrams went before EAGAIN, and 0 when none fits', async () => {
    await run('ip', ['netns', 'add', ns]);
    const ip = (...a: string[]) => run('ip', ['-n', ns, ...a]);
    await ip('link', 'add', 'name', 'va', 'type', 'veth', 'peer', 'name', 'vb');
    await ip('addr', 'add', '10.201.0.1/24', 'dev', 'va');
    await ip('link', 'set', 'va', 'up');
    await ip('link', 'set', 'vb', 'up');
    // 10.201.0.2 has no owner: its ARP resolution never finishes while the child runs.
    const { stdout } = await run(
      'ip',
      ['netns', 'exec', ns, process.execPath, '--import', 'tsx', CHILD, '10.201.0.2', '9'],
      { timeout: 30_000 },
    );
    const r = JSON.parse(stdout) as { first: number; again: number };
    assert.ok(r.first > 0 && r.first < 64, `first batch: ${r.first} of 64 sent`);
    assert.equal(r.again, 0);
  });
});
