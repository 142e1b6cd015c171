// Integration (root): a tap opened in a namespace through the native shim carries frames both ways, in batches.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { openTap, SyscallError } from '../../src/native/index.js';
import type { TapDevice } from '../../src/native/index.js';
import { settleFds, shimFds } from './fds.js';

const run = promisify(execFile);
const fdsAtStart = shimFds();
const RUN_ID = process.env.BINDERY_RUN_ID ?? 'dev';
let nsSeq = 0;

/** A namespace name of this run, unique in this process (the runner checks the prefix for leftovers). */
function nsName(tag: string): string {
  return `bdy-${RUN_ID}-ntap-${tag}-${process.pid}-${++nsSeq}`;
}

/** Runs `ip ARGS` and returns its stdout. */
async function ip(...args: string[]): Promise<string> {
  return (await run('ip', args)).stdout;
}

/** Deletes a namespace, ignoring a missing one. */
async function delNs(ns: string): Promise<void> {
  await run('ip', ['netns', 'del', ns]).catch(() => undefined);
}

/** Polls `probe` every 20 ms until it returns a value, failing after `ms`. */
async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  ms = 5000,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

// ---- hand-built frames (small local helpers; the real codecs live in src/wire) ----

const OUR_MAC = Uint8Array.from([0x02, 0x00, 0x00, 0x00, 0xbd, 0x02]);
const TAP_IP = [10, 200, 0, 1];
const PEER_IP = [10, 200, 0, 2];

const u16 = (b: Uint8Array, o: number): number => (b[o]! << 8) | b[o + 1]!;
const same = (b: Uint8Array, o: number, want: readonly number[]): boolean =>
  want.every((v, i) => b[o + i] === v);
const macText = (m: Uint8Array): string =>
  [...m].map((x) => x.toString(16).padStart(2, '0')).join(':');

/** Internet checksum of b[start, end). */
function checksum(b: Uint8Array, start: number, end: number): number {
  let sum = 0;
  for (let i = start; i < end; i += 2) sum += (b[i]! << 8) | (i + 1 < end ? b[i + 1]! : 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function put16(b: Uint8Array, o: number, v: number): void {
  b[o] = v >> 8;
  b[o + 1] = v & 0xff;
}

/** An ARP request (ethertype 0x0806, op 1) asking for `target`. */
function isArpRequestFor(f: Uint8Array, target: readonly number[]): boolean {
  return f.length >= 42 && u16(f, 12) === 0x0806 && u16(f, 20) === 1 && same(f, 38, target);
}

/** An IPv4 ICMP echo request to `dst`, sent to our MAC. */
function isEchoRequestTo(f: Uint8Array, dst: readonly number[]): boolean {
  if (f.length < 42 || u16(f, 12) !== 0x0800 || f[23] !== 1 || !same(f, 30, dst)) return false;
  return same(f, 0, [...OUR_MAC]) && f[14 + (f[14]! & 0xf) * 4] === 8;
}

/** ARP reply from (OUR_MAC, PEER_IP) to (mac, TAP_IP). */
function arpReply(mac: Uint8Array): Uint8Array {
  const f = new Uint8Array(42);
  f.set(mac, 0);
  f.set(OUR_MAC, 6);
  put16(f, 12, 0x0806);
  f.set([0, 1, 0x08, 0x00, 6, 4, 0, 2], 14); // Ethernet/IPv4, op 2 (reply)
  f.set(OUR_MAC, 22);
  f.set(PEER_IP, 28);
  f.set(mac, 32);
  f.set(TAP_IP, 38);
  return f;
}

/** The echo reply to an echo request frame: addresses swapped, type 0, ICMP checksum redone. */
function echoReply(req: Uint8Array): Uint8Array {
  const f = Uint8Array.from(req);
  f.set(req.subarray(6, 12), 0);
  f.set(req.subarray(0, 6), 6);
  f.set(req.subarray(30, 34), 26); // swapping addresses keeps the IP header checksum valid
  f.set(req.subarray(26, 30), 30);
  const icmp = 14 + (f[14]! & 0xf) * 4;
  const end = 14 + u16(f, 16);
  f[icmp] = 0;
  put16(f, icmp + 2, 0);
  put16(f, icmp + 2, checksum(f, icmp, end));
  return f;
}

/** An Ethernet/IPv4/UDP frame (UDP checksum 0: none) from PEER_IP:sport to TAP_IP:dport. */
function udpFrame(
  dstMac: Uint8Array,
  sport: number,
  dport: number,
  payload: Uint8Array,
): Uint8Array {
  const f = new Uint8Array(42 + payload.length);
  f.set(dstMac, 0);
  f.set(OUR_MAC, 6);
  put16(f, 12, 0x0800);
  f.set([0x45, 0], 14);
  put16(f, 16, 28 + payload.length);
  f.set([0, 1, 0x40, 0, 64, 17], 18); // id 1, DF, TTL 64, UDP
  f.set(PEER_IP, 26);
  f.set(TAP_IP, 30);
  put16(f, 24, checksum(f, 14, 34));
  put16(f, 34, sport);
  put16(f, 36, dport);
  put16(f, 38, 8 + payload.length);
  f.set(payload, 42);
  return f;
}

/** The link's MAC address inside `ns`. */
async function linkMac(ns: string, dev: string): Promise<Uint8Array> {
  const [link] = JSON.parse(await ip('-n', ns, '-j', 'link', 'show', dev)) as Array<{
    address: string;
  }>;
  return Uint8Array.from(link!.address.split(':').map((x) => parseInt(x, 16)));
}

for (const reuseRx of [false, true]) {
  describe(`tap inside a namespace${reuseRx ? ', batches in one reused buffer' : ''}`, () => {
    const ns = nsName(reuseRx ? 'ior' : 'io');
    const TAP = 'bdytap0';
    let tap: TapDevice | undefined;
    const errors: Error[] = [];
    const frames: Uint8Array[] = [];
    const batchSizes: number[] = [];
    const buffers = new Set<ArrayBufferLike>();
    /** Extra per-batch handler a test installs (e.g. an echo responder). */
    let onBatch: ((batch: Uint8Array[]) => void) | undefined;

    before(async () => {
      await ip('netns', 'add', ns);
      tap = openTap({ netns: ns, name: TAP, reuseRx });
      assert.equal(tap.name, TAP);
      assert.equal(tap.transient, reuseRx);
      await ip('-n', ns, 'addr', 'add', '10.200.0.1/24', 'dev', TAP);
      await ip('-n', ns, 'link', 'set', TAP, 'up');
      tap.onError((e) => errors.push(e));
      tap.onFrames((batch) => {
        batchSizes.push(batch.length);
        // Reused memory: keep copies (the next read overwrites these views).
        for (const f of batch) frames.push(reuseRx ? f.slice() : f);
        if (reuseRx) buffers.add(batch[0]!.buffer);
        onBatch?.(batch);
      });
    });

    after(async () => {
      tap?.close();
      await delNs(ns);
      assert.deepEqual(errors, []);
    });

    it('delivers the ARP request, injects the reply, and the kernel pings our MAC', async () => {
      const mark = frames.length;
      // ping resolves 10.200.0.2 on the tap; it exits 0 only if our echo reply arrives too.
      const ping = run(
        'ip',
        ['netns', 'exec', ns, 'ping', '-n', '-c', '1', '-W', '3', '10.200.0.2'],
        {
          timeout: 10_000,
        },
      );
      ping.catch(() => undefined); // awaited below; avoid an unhandled rejection if a step fails first
      const arp = await waitFor('the ARP request', () =>
        frames.slice(mark).find((f) => isArpRequestFor(f, PEER_IP)),
      );
      assert.deepEqual([...arp.subarray(0, 6)], [255, 255, 255, 255, 255, 255]);
      assert.deepEqual([...arp.subarray(28, 32)], TAP_IP);
      const kernelMac = arp.slice(22, 28);
      assert.deepEqual(kernelMac, await linkMac(ns, TAP));

      assert.equal(tap!.send([arpReply(kernelMac)]), 1);
      const neigh = await waitFor('the neighbour entry', async () => {
        const out = await ip('-n', ns, 'neigh', 'show', '10.200.0.2', 'dev', TAP);
        return out.includes(macText(OUR_MAC)) ? out : undefined;
      });
      assert.match(neigh, /REACHABLE|STALE|DELAY/);

      const req = await waitFor('the echo request to our MAC', () =>
        frames.slice(mark).find((f) => isEchoRequestTo(f, PEER_IP)),
      );
      assert.equal(tap!.send([echoReply(req)]), 1);
      const { stdout } = await ping;
      assert.match(stdout, /1 packets transmitted, 1 received/);
    });

    it('injects a UDP datagram that a socket inside the namespace receives', async () => {
      const script =
        'import socket\n' +
        's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n' +
        "s.bind(('10.200.0.1', 5555))\n" +
        "print('ready', flush=True)\n" +
        'd, a = s.recvfrom(100)\n' +
        'print(d.decode(), a[0], a[1], flush=True)\n';
      const listener = spawn('ip', ['netns', 'exec', ns, 'timeout', '10', 'python3', '-c', script]);
      try {
        let out = '';
        listener.stdout.on('data', (d: Buffer) => (out += d.toString()));
        await waitFor('the listener', () => (out.includes('ready') ? true : undefined));
        const mac = await linkMac(ns, TAP);
        const frame = udpFrame(mac, 4444, 5555, new TextEncoder().encode('hello-bindery'));
        assert.equal(tap!.send([frame]), 1);
        const line = await waitFor('the datagram', () =>
          out.split('\n').find((l) => l.startsWith('hello')),
        );
        assert.equal(line, 'hello-bindery 10.200.0.2 4444');
      } finally {
        listener.kill('SIGKILL');
      }
    });

    it('answers a ping flood of 1000+ requests: batches of up to 64, counts add up', async () => {
      await ip(
        '-n',
        ns,
        'neigh',
        'replace',
        '10.200.0.2',
        'lladdr',
        macText(OUR_MAC),
        'dev',
        TAP,
        'nud',
        'permanent',
      );
      let requests = 0;
      let replied = 0;
      let maxBatch = 0;
      onBatch = (batch) => {
        const replies = batch.filter((f) => isEchoRequestTo(f, PEER_IP)).map(echoReply);
        requests += replies.length;
        maxBatch = Math.max(maxBatch, replies.length);
        replied += tap!.send(replies);
      };
      try {
        // -l 64 keeps 64 requests in flight, so reads find many frames queued at once. ping stops
        // once 1000 replies are in, so it sends (and gets) a few more than 1000.
        const { stdout } = await run(
          'ip',
          [
            'netns',
            'exec',
            ns,
            'ping',
            '-n',
            '-q',
            '-f',
            '-l',
            '64',
            '-c',
            '1000',
            '-w',
            '30',
            '10.200.0.2',
          ],
          { timeout: 40_000 },
        );
        const m = /(\d+) packets transmitted, (\d+) received/.exec(stdout);
        assert.ok(m, stdout);
        const transmitted = Number(m[1]);
        const received = Number(m[2]);
        assert.ok(received >= 1000 && received <= transmitted, stdout);
        // Every request the kernel queued on the tap reached us (none dropped), and we answered each.
        await waitFor('all requests', () => (requests >= transmitted ? true : undefined));
        const [stats] = JSON.parse(await ip('-n', ns, '-s', '-j', 'link', 'show', TAP)) as Array<{
          stats64: { tx: { dropped: number } };
        }>;
        assert.equal(stats!.stats64.tx.dropped, 0);
        assert.equal(requests, transmitted);
        assert.equal(replied, transmitted);
      } finally {
        onBatch = undefined;
      }
      assert.ok(maxBatch > 1, `expected batching, the largest batch held ${maxBatch} requests`);
      assert.ok(Math.max(...batchSizes) <= 64);
      if (reuseRx) assert.equal(buffers.size, 1, 'every batch in the same buffer');
    });
  });
}

describe('tap lifecycle', () => {
  const ns = nsName('life');
  before(async () => {
    await ip('netns', 'add', ns);
  });
  after(async () => {
    await delNs(ns);
  });

  it('disappears from the namespace on close(); later sends fail with EBADF', async () => {
    const tap = openTap({ netns: ns, name: 'bdyclose0', up: true });
    try {
      assert.match(await ip('-n', ns, 'link', 'show', 'bdyclose0'), /bdyclose0/);
    } finally {
      tap.close();
    }
    await waitFor('the link to go', () =>
      run('ip', ['-n', ns, 'link', 'show', 'bdyclose0']).then(
        () => undefined,
        () => true,
      ),
    );
    tap.close(); // idempotent
    assert.throws(
      () => tap.send([new Uint8Array(60)]),
      (e: unknown) => e instanceof SyscallError && e.errno === 'EBADF',
    );
  });

  it('lets the kernel pick the name, sets the MTU and brings the link up', async () => {
    const tap = openTap({ netns: ns, name: '', mtu: 9000, up: true });
    try {
      assert.match(tap.name, /^tap\d+$/);
      const [link] = JSON.parse(await ip('-n', ns, '-j', 'link', 'show', tap.name)) as Array<{
        mtu: number;
        flags: string[];
      }>;
      assert.equal(link!.mtu, 9000);
      assert.ok(link!.flags.includes('UP'));
    } finally {
      tap.close();
    }
  });

  it('reports EBUSY when the tap is already open and EINVAL for a non-tap device', () => {
    const tap = openTap({ netns: ns, name: 'bdybusy0' });
    try {
      assert.throws(
        () => openTap({ netns: ns, name: 'bdybusy0' }),
        (e: unknown) =>
          e instanceof SyscallError && e.errno === 'EBUSY' && e.syscall === 'ioctl(TUNSETIFF)',
      );
    } finally {
      tap.close();
    }
    assert.throws(
      () => openTap({ netns: ns, name: 'lo' }),
      (e: unknown) => e instanceof SyscallError && e.errno === 'EINVAL',
    );
  });

  it('multiQueue: each open adds a queue; a single-queue open of it is refused', async () => {
    const first = openTap({ netns: ns, name: 'bdymq0', up: true, multiQueue: true });
    const second = openTap({ netns: ns, name: 'bdymq0', multiQueue: true });
    try {
      const queues = (
        await run('ip', ['netns', 'exec', ns, 'ls', '/sys/class/net/bdymq0/queues'])
      ).stdout.split(/\s+/);
      assert.ok(queues.includes('rx-0') && queues.includes('rx-1'), queues.join(' '));
      assert.throws(
        () => openTap({ netns: ns, name: 'bdymq0' }),
        (e: unknown) => e instanceof SyscallError && e.syscall === 'ioctl(TUNSETIFF)',
      );
      // Closing one queue leaves the device to the other.
      first.close();
      assert.match(await ip('-n', ns, 'link', 'show', 'bdymq0'), /bdymq0/);
    } finally {
      first.close();
      second.close();
    }
  });
});

describe('tap fds', () => {
  it('the suite leaves no tap, socket or epoll fd open', async () => {
    assert.deepEqual(await settleFds(fdsAtStart), []);
  });
});
