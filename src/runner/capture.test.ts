// Tests of the pcap capture: every frame both ways in order, limits, one capture at a time, a failing disk stops it with a warning, and tcpdump reads the file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readPcap, LINKTYPE_ETHERNET } from '../wire/pcap.js';
import type { FrameTap } from '../usernet/passt.js';
import { BinderyError, ErrorCode } from '../errors.js';
import { CaptureManager, CHUNK_BYTES } from './capture.js';

/** An ARP-ish frame of `len` bytes whose byte 14 onwards counts from `tag`. */
function frame(tag: number, len = 60): Uint8Array {
  const f = new Uint8Array(len);
  f.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x06]);
  for (let i = 14; i < len; i++) f[i] = (tag + i) & 0xff;
  return f;
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'bindery-capture-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function manager(): { m: CaptureManager; tap: () => FrameTap | undefined; warnings: string[] } {
  let tap: FrameTap | undefined;
  const warnings: string[] = [];
  let t = 1_700_000_000_000_000;
  const m = new CaptureManager((x) => (tap = x), {
    wallUs: () => (t += 1000),
    warn: (w) => warnings.push(w),
  });
  return { m, tap: () => tap, warnings };
}

test('frames both ways land in the file in order, copied (the link may reuse them)', async () => {
  await withDir(async (dir) => {
    const { m, tap } = manager();
    const path = join(dir, 'a.pcap');
    const st = await m.start({ path });
    assert.equal(st.active, true);
    const reused = frame(1);
    tap()!.fromGuest([reused, frame(2, 1514)]);
    reused.fill(0); // the link reuses its buffer after the batch
    tap()!.toGuest([frame(3, 200)], true);
    // Big frames spill over chunks.
    const big = Array.from({ length: 40 }, (_, i) => frame(10 + i, 65_534));
    tap()!.toGuest(big, false);
    const done = await m.stop();
    assert.equal(tap(), undefined, 'the tap is removed');
    assert.equal(done?.active, false);
    assert.equal(done?.frames, 43);
    assert.equal(done?.stopped, 'stopped');
    const file = new Uint8Array(await readFile(path));
    assert.equal(done?.bytes, file.length);
    assert.ok(file.length > CHUNK_BYTES);
    const back = readPcap(file);
    assert.equal(back?.linktype, LINKTYPE_ETHERNET);
    assert.equal(back?.records.length, 43);
    assert.deepEqual(back!.records[0]!.frame, frame(1));
    assert.deepEqual(back!.records[1]!.frame, frame(2, 1514));
    assert.deepEqual(back!.records[2]!.frame, frame(3, 200));
    assert.deepEqual(back!.records[42]!.frame, frame(49, 65_534));
    // One timestamp per batch, increasing.
    assert.equal(back!.records[0]!.timeUs, back!.records[1]!.timeUs);
    assert.ok(back!.records[2]!.timeUs > back!.records[1]!.timeUs);
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    const out = execFileSync('tcpdump', ['-nn', '-r', path], { encoding: 'utf8', stdio: 'pipe' });
    assert.equal(out.trim().split('\n').length, 43);
  });
});

test('a quiet capture is flushed without being stopped', async () => {
  await withDir(async (dir) => {
    const { m, tap } = manager();
    const path = join(dir, 'q.pcap');
    await m.start({ path });
    tap()!.fromGuest([frame(7)]);
    const deadline = Date.now() + 5000;
    let n = 0;
    while (Date.now() < deadline) {
      n = readPcap(await readFile(path))?.records.length ?? 0;
      if (n === 1) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(n, 1);
    await m.stop();
  });
});

test('maxFrames and maxBytes stop the capture by themselves', async () => {
  await withDir(async (dir) => {
    const { m, tap } = manager();
    const p1 = join(dir, 'f.pcap');
    await m.start({ path: p1, maxFrames: 3 });
    tap()!.fromGuest([frame(1), frame(2), frame(3), frame(4)]);
    assert.equal(tap(), undefined);
    assert.equal(m.status()?.stopped, 'max-frames');
    // A new capture may start once the last one ended.
    const p2 = join(dir, 'b.pcap');
    await m.start({ path: p2, maxBytes: 24 + 2 * (16 + 60) + 10 });
    tap()!.toGuest([frame(1), frame(2), frame(3)], false);
    assert.equal(m.status()?.stopped, 'max-bytes');
    await m.stop();
    assert.equal(readPcap(await readFile(p1))?.records.length, 3);
    const f2 = await readFile(p2);
    assert.equal(readPcap(f2)?.records.length, 2);
    assert.ok(f2.length <= 24 + 2 * 76 + 10);
  });
});

test('one capture at a time; a file that cannot be created is a BINDERY_ERR_CAPTURE', async () => {
  await withDir(async (dir) => {
    const { m } = manager();
    await m.start({ path: join(dir, 'one.pcap') });
    await assert.rejects(
      m.start({ path: join(dir, 'two.pcap') }),
      (e: unknown) => e instanceof BinderyError && e.code === ErrorCode.Capture,
    );
    await m.stop();
    await assert.rejects(
      m.start({ path: join(dir, 'no', 'such', 'dir.pcap') }),
      (e: unknown) => e instanceof BinderyError && e.code === ErrorCode.Capture,
    );
    assert.equal(m.status()?.active, false);
  });
});

test('a full disk stops the capture with one warning; frames after it are ignored', async () => {
  const { m, tap, warnings } = manager();
  await m.start({ path: '/dev/full' });
  tap()?.fromGuest([frame(1)]);
  const deadline = Date.now() + 5000;
  while (m.status()?.active === true && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 10));
  assert.equal(m.status()?.stopped, 'error');
  assert.match(m.status()?.error ?? '', /ENOSPC|no space/i);
  assert.equal(tap(), undefined);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /capture \/dev\/full: .*capture stopped/);
  await m.stop();
});
