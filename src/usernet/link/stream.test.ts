// Tests of the QEMU stream link: the reassembler at every split point, limits, padding, and the socket server's states.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import type { TestContext } from 'node:test';
import { ErrorCode } from '../../errors.js';
import {
  StreamLink,
  StreamReassembler,
  encodeStreamFrames,
  STREAM_MAX_FRAME_BYTES,
} from './stream.js';

/** A frame of `len` bytes whose content identifies it (`seed`) and its offsets. */
function frame(len: number, seed: number): Buffer {
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) b[i] = (seed * 31 + i) & 0xff;
  return b;
}

/** The stream bytes for frames, unpadded (as QEMU writes them). */
function wire(frames: readonly Uint8Array[]): Buffer {
  const parts: Buffer[] = [];
  for (const f of frames) {
    const h = Buffer.alloc(4);
    h.writeUInt32BE(f.length);
    parts.push(h, Buffer.from(f));
  }
  return Buffer.concat(parts);
}

/** Feeds `bytes` cut at `cuts` and returns every frame delivered. */
function feed(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  const r = new StreamReassembler();
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of [...cuts, bytes.length]) {
    const res = r.push(bytes.subarray(prev, c));
    assert.equal(res.badLength, undefined);
    for (const f of res.frames) out.push(Buffer.from(f));
    prev = c;
  }
  assert.equal(r.bufferedBytes, 0);
  return out;
}

// Three frames: minimum header-only, a typical small one, and one bigger than a socket read.
const FRAMES = [frame(14, 1), frame(60, 2), frame(1514, 3), frame(70, 4)];
const STREAM = wire(FRAMES);

test('reassembler: frames whole inside a chunk are views of it, not copies', () => {
  const r = new StreamReassembler();
  const res = r.push(STREAM);
  assert.equal(res.frames.length, FRAMES.length);
  for (const [i, f] of res.frames.entries()) {
    assert.deepEqual(Buffer.from(f), FRAMES[i]);
    assert.equal(f.buffer, STREAM.buffer, `frame ${i} was copied`);
  }
});

test('reassembler: every single split point gives the same frames', () => {
  for (let cut = 0; cut <= STREAM.length; cut++) {
    assert.deepEqual(feed(STREAM, [cut]), FRAMES, `split at ${cut}`);
  }
});

test('reassembler: every pair of split points around the first two frames', () => {
  // Covers a prefix cut in three pieces and a frame split across three chunks.
  const limit = 4 + 14 + 4 + 60 + 4;
  for (let a = 0; a <= limit; a++) {
    for (let b = a; b <= limit; b++) assert.deepEqual(feed(STREAM, [a, b]), FRAMES);
  }
});

test('reassembler: byte-by-byte feeding', () => {
  const cuts = Array.from({ length: STREAM.length - 1 }, (_, i) => i + 1);
  assert.deepEqual(feed(STREAM, cuts), FRAMES);
});

test('reassembler: any chunking of any frame list gives the same frames (property)', () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 14, max: 3000 }), { minLength: 1, maxLength: 8 }),
      fc.array(fc.nat(), { maxLength: 12 }),
      (lens, rawCuts) => {
        const frames = lens.map((l, i) => frame(l, i + 7));
        const bytes = wire(frames);
        const cuts = [...new Set(rawCuts.map((c) => c % (bytes.length + 1)))].sort((x, y) => x - y);
        assert.deepEqual(feed(bytes, cuts), frames);
      },
    ),
    { numRuns: 300 },
  );
});

test('reassembler: all frames completed by one chunk arrive in one batch', () => {
  const r = new StreamReassembler();
  assert.equal(r.push(STREAM.subarray(0, 10)).frames.length, 0);
  const res = r.push(STREAM.subarray(10));
  assert.equal(res.frames.length, FRAMES.length);
});

test('reassembler: a length below 14 fails the stream, keeping the frames before it', () => {
  const bad = Buffer.concat([wire([FRAMES[1]!]), Buffer.from([0, 0, 0, 13]), wire([FRAMES[2]!])]);
  const r = new StreamReassembler();
  const res = r.push(bad);
  assert.equal(res.badLength, 13);
  assert.equal(res.frames.length, 1);
  assert.ok(r.isFailed);
  // Ignores everything until reset.
  assert.deepEqual(r.push(wire([FRAMES[0]!])), { frames: [], badLength: undefined });
  r.reset();
  assert.equal(r.push(wire([FRAMES[0]!])).frames.length, 1);
});

test('reassembler: a length above 65535 fails the stream before allocating', () => {
  for (const len of [65536, 0xffffffff]) {
    const r = new StreamReassembler();
    const h = Buffer.alloc(4);
    h.writeUInt32BE(len);
    // The prefix arrives in two pieces: the check happens on the assembled prefix.
    assert.equal(r.push(h.subarray(0, 1)).badLength, undefined);
    assert.equal(r.push(h.subarray(1)).badLength, len);
  }
  const r = new StreamReassembler();
  assert.equal(r.push(wire([frame(STREAM_MAX_FRAME_BYTES, 9)])).frames.length, 1);
  assert.equal(new StreamReassembler().push(Buffer.from([0, 0, 0, 0])).badLength, 0);
});

test('reassembler: a smaller configured maximum is enforced', () => {
  const r = new StreamReassembler(1518);
  assert.equal(r.push(wire([frame(1519, 1)])).badLength, 1519);
});

test('encodeStreamFrames pads short frames to 60 bytes with zeros and copies no payload', () => {
  const short = frame(42, 5);
  const long = frame(100, 6);
  const pieces = encodeStreamFrames([short, long]);
  assert.equal(pieces.length, 5); // prefix, frame, padding, prefix, frame
  assert.equal(pieces[1], short);
  assert.equal(pieces[4], long);
  const bytes = Buffer.concat(pieces);
  assert.equal(bytes.readUInt32BE(0), 60);
  assert.deepEqual(bytes.subarray(4, 46), short);
  assert.deepEqual(bytes.subarray(46, 64), Buffer.alloc(18));
  assert.equal(bytes.readUInt32BE(64), 100);
  assert.deepEqual(bytes.subarray(68), long);
});

// --- the socket server ---

async function tempSocketPath(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'bindery-stream-test-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return join(dir, 'link.socket');
}

async function listen(t: TestContext, oneOff = false): Promise<StreamLink> {
  const link = await StreamLink.listen({ path: await tempSocketPath(t), oneOff });
  t.after(() => link.close());
  return link;
}

async function connect(path: string, t: TestContext): Promise<Socket> {
  const s = createConnection({ path });
  t.after(() => s.destroy());
  await once(s, 'connect');
  return s;
}

/** Resolves with the next `n` frames the link delivers; rejects if they have not come in 5 s. */
function nextFrames(link: StreamLink, n: number): Promise<Uint8Array[]> {
  return new Promise((resolve, reject) => {
    const got: Uint8Array[] = [];
    const timer = setTimeout(() => {
      link.off('frames', on);
      reject(new Error(`timed out waiting for ${n} frames; got ${got.length}`));
    }, 5000);
    const on = (frames: Uint8Array[]): void => {
      got.push(...frames);
      if (got.length >= n) {
        clearTimeout(timer);
        link.off('frames', on);
        resolve(got);
      }
    };
    link.on('frames', on);
  });
}

/** Collects `n` bytes from a client socket. */
async function readBytes(s: Socket, n: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let have = 0;
  for await (const chunk of s) {
    parts.push(chunk as Buffer);
    have += (chunk as Buffer).length;
    if (have >= n) break;
  }
  return Buffer.concat(parts).subarray(0, n);
}

test('link: frames from the client arrive, split writes included, and are counted', async (t) => {
  const link = await listen(t);
  const connected = once(link, 'connect');
  const c = await connect(link.path, t);
  await connected;
  assert.equal(link.state, 'connected');
  // The first frame and 7 bytes of the second, then the rest once the first frame is out: the
  // link has read the first write by then, so the second frame reaches it split across reads.
  const split = 4 + FRAMES[0]!.length + 7;
  const first = nextFrames(link, 1);
  c.write(STREAM.subarray(0, split));
  assert.deepEqual(
    (await first).map((f) => Buffer.from(f)),
    FRAMES.slice(0, 1),
  );
  const rest = nextFrames(link, FRAMES.length - 1);
  c.write(STREAM.subarray(split));
  assert.deepEqual(
    (await rest).map((f) => Buffer.from(f)),
    FRAMES.slice(1),
  );
  assert.equal(link.counters.rxFrames, FRAMES.length);
  assert.equal(
    link.counters.rxBytes,
    FRAMES.reduce((a, f) => a + f.length, 0),
  );
});

test('link: send pads to 60 bytes and writes length + frame', async (t) => {
  const link = await listen(t);
  const connected = once(link, 'connect');
  const c = await connect(link.path, t);
  await connected;
  const short = frame(42, 8);
  assert.equal(link.send([short, FRAMES[2]!]), true);
  const bytes = await readBytes(c, 4 + 60 + 4 + 1514);
  assert.equal(bytes.readUInt32BE(0), 60);
  assert.deepEqual(bytes.subarray(4, 46), short);
  assert.deepEqual(bytes.subarray(46, 64), Buffer.alloc(18));
  assert.equal(bytes.readUInt32BE(64), 1514);
  assert.deepEqual(bytes.subarray(68), FRAMES[2]);
  assert.equal(link.counters.txFrames, 2);
  assert.equal(link.counters.txBytes, 60 + 1514);
});

test('link: send without a client drops and counts', async (t) => {
  const link = await listen(t);
  assert.equal(link.send([frame(60, 1)]), false);
  assert.equal(link.counters.txDropped, 1);
});

test('link: a bad length resets the connection; the next client is served', async (t) => {
  const link = await listen(t);
  const connected = once(link, 'connect');
  const c = await connect(link.path, t);
  await connected;
  const gone = once(link, 'disconnect');
  const clientClosed = once(c, 'close');
  c.write(Buffer.from([0, 1, 0, 0])); // 65536
  assert.deepEqual(await gone, ['bad-length']);
  await clientClosed;
  assert.equal(link.counters.badLength, 1);
  assert.equal(link.state, 'listening');

  const again = once(link, 'connect');
  const c2 = await connect(link.path, t);
  await again;
  const got = nextFrames(link, 1);
  c2.write(wire([FRAMES[1]!]));
  assert.deepEqual(Buffer.from((await got)[0]!), FRAMES[1]);
});

test('link: a second client is refused while the first stays served', async (t) => {
  const link = await listen(t);
  const connected = once(link, 'connect');
  const first = await connect(link.path, t);
  await connected;
  const second = createConnection({ path: link.path });
  t.after(() => second.destroy());
  second.on('error', () => undefined);
  await once(second, 'close');
  assert.equal(link.counters.refusedClients, 1);
  assert.equal(link.counters.clients, 1);
  assert.equal(link.state, 'connected');
  const got = nextFrames(link, 1);
  first.write(wire([FRAMES[3]!]));
  assert.deepEqual(Buffer.from((await got)[0]!), FRAMES[3]);
  assert.equal(link.send([frame(60, 3)]), true);
  assert.equal((await readBytes(first, 64)).readUInt32BE(0), 60);
});

test('link: oneOff closes the server when the first client leaves', async (t) => {
  const link = await listen(t, true);
  const connected = once(link, 'connect');
  const c = await connect(link.path, t);
  await connected;
  const closed = once(link, 'close');
  const gone = once(link, 'disconnect');
  c.end();
  assert.deepEqual(await gone, ['eof']);
  await closed;
  assert.equal(link.state, 'closed');
  assert.equal(existsSync(link.path), false, 'socket file removed');
  const late = createConnection({ path: link.path });
  const [err] = (await once(late, 'error')) as [NodeJS.ErrnoException];
  assert.equal(err.code, 'ENOENT');
});

test('link: without oneOff, the link listens again after its client leaves', async (t) => {
  const link = await listen(t);
  const connected = once(link, 'connect');
  const c = await connect(link.path, t);
  await connected;
  const gone = once(link, 'disconnect');
  c.destroy();
  await gone;
  assert.equal(link.state, 'listening');
  const again = once(link, 'connect');
  await connect(link.path, t);
  await again;
  assert.equal(link.counters.clients, 2);
});

test('link: send reports back-pressure and emits drain', async (t) => {
  const link = await listen(t);
  const connected = once(link, 'connect');
  const c = await connect(link.path, t);
  await connected;
  c.pause();
  const big = frame(65000, 1);
  let sent = 0;
  while (link.send([big])) {
    sent++;
    assert.ok(sent < 10_000, 'never reported back-pressure');
  }
  const drained = once(link, 'drain');
  c.resume();
  c.on('data', () => undefined);
  await drained;
  assert.equal(link.send([frame(60, 2)]), true);
});

test('link: a stale socket is replaced; a live one or a non-socket is refused', async (t) => {
  const path = await tempSocketPath(t);
  // A live listener on the path.
  const other = createServer();
  await new Promise<void>((r) => other.listen(path, r));
  await assert.rejects(StreamLink.listen({ path }), (e: { code?: string; message: string }) => {
    assert.equal(e.code, ErrorCode.Link);
    assert.match(e.message, /in use/);
    return true;
  });
  await new Promise<void>((r) => other.close(() => r()));
  // A stale socket: its owner died without unlinking it (SIGKILL right after listening).
  spawnSync(process.execPath, [
    '-e',
    `require('net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`,
  ]);
  assert.ok(existsSync(path), 'stale socket file present');
  const link = await StreamLink.listen({ path });
  assert.equal(link.state, 'listening');
  await link.close();
  await writeFile(path, 'not a socket');
  await assert.rejects(StreamLink.listen({ path }), /not a socket/);
});
