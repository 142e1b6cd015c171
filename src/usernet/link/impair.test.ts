// Tests of the netem-like link impairment: spec parsing, loss rate, delay, reordering, order kept otherwise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { impairLink, parseImpairSpec, seededRandom, type ImpairOptions } from './impair.js';
import type { GuestLink } from './types.js';

/** A fake clock whose timers run when `advance` moves time past them. */
function fakeClock() {
  let now = 0;
  const timers = new Map<number, { at: number; fn: () => void }>();
  let next = 1;
  return {
    now: () => now,
    setTimer(fn: () => void, ms: number): unknown {
      const id = next++;
      timers.set(id, { at: now + ms, fn });
      return id;
    },
    clearTimer(h: unknown) {
      timers.delete(h as number);
    },
    advance(ms: number) {
      const end = now + ms;
      for (;;) {
        let best: [number, { at: number; fn: () => void }] | undefined;
        for (const e of timers) if (e[1].at <= end && (!best || e[1].at < best[1].at)) best = e;
        if (!best) break;
        timers.delete(best[0]);
        now = best[1].at;
        best[1].fn();
      }
      now = end;
    },
  };
}

function fakeLink() {
  const sent: Uint8Array[] = [];
  let listener: ((f: Uint8Array[]) => void) | undefined;
  const link: GuestLink = {
    kind: 'tap',
    send(frames) {
      sent.push(...frames);
      return true;
    },
    onFrames(l) {
      listener = l;
    },
    onDrain() {},
    close: () => Promise.resolve(),
  };
  return { link, sent, fromGuest: (f: Uint8Array[]) => listener?.(f) };
}

const frame = (i: number) => new Uint8Array([i & 0xff, i >> 8]);
const id = (f: Uint8Array) => f[0]! | (f[1]! << 8);
const opts = (o: Partial<ImpairOptions>): ImpairOptions => ({
  loss: 0,
  reorder: 0,
  delayMs: 0,
  reorderMs: 10,
  seed: 1,
  ...o,
});

test('parseImpairSpec reads percentages and delays, rejects junk with a reason', () => {
  assert.deepEqual(parseImpairSpec('loss=1,reorder=2.5,delay=20,seed=7'), {
    loss: 0.01,
    reorder: 0.025,
    delayMs: 20,
    reorderMs: 20,
    seed: 7,
  });
  assert.equal((parseImpairSpec('delay=5') as ImpairOptions).reorderMs, 10);
  assert.match(parseImpairSpec('loss=200') as string, /percentage/);
  assert.match(parseImpairSpec('jitter=3') as string, /unknown BINDERY_IMPAIR key "jitter"/);
  assert.match(parseImpairSpec('loss') as string, /want key=number/);
});

test('seededRandom repeats for a seed and stays in [0, 1)', () => {
  const a = seededRandom(42);
  const b = seededRandom(42);
  for (let i = 0; i < 1000; i++) {
    const x = a();
    assert.equal(x, b());
    assert.ok(x >= 0 && x < 1);
  }
});

test('no impairment passes frames through at once and in order', () => {
  const clock = fakeClock();
  const f = fakeLink();
  const l = impairLink(f.link, opts({}), clock);
  l.send([frame(1), frame(2)]);
  assert.deepEqual(f.sent.map(id), [1, 2]);
});

test('loss drops about the configured share, both directions', () => {
  const clock = fakeClock();
  const f = fakeLink();
  const l = impairLink(f.link, opts({ loss: 0.1, seed: 3 }), clock);
  const got: number[] = [];
  l.onFrames((fr) => got.push(...fr.map(id)));
  for (let i = 0; i < 10000; i++) l.send([frame(i)]);
  for (let i = 0; i < 10000; i++) f.fromGuest([frame(i)]);
  assert.ok(f.sent.length > 8700 && f.sent.length < 9300, `sent ${f.sent.length}`);
  assert.ok(got.length > 8700 && got.length < 9300, `got ${got.length}`);
  assert.equal(l.impairCounters.toGuest.dropped + f.sent.length, 10000);
});

test('delay holds frames until due; reordered frames arrive after later ones', () => {
  const clock = fakeClock();
  const f = fakeLink();
  const l = impairLink(f.link, opts({ delayMs: 20, reorder: 0.3, reorderMs: 15, seed: 9 }), clock);
  for (let i = 0; i < 100; i++) {
    l.send([frame(i)]);
    clock.advance(1);
  }
  assert.ok(f.sent.length < 100);
  clock.advance(100);
  const order = f.sent.map(id);
  assert.deepEqual(
    [...order].sort((a, b) => a - b),
    [...Array(100).keys()],
  );
  assert.notDeepEqual(order, [...Array(100).keys()], 'some frames overtaken');
  const reordered = l.impairCounters.toGuest.reordered;
  assert.ok(reordered > 10 && reordered < 60, `reordered ${reordered}`);
});
