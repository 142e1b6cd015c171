// The switchable guest link: frames pass only while attached, listeners carry over to each newly attached link.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { switchableLink } from './switchable.js';
import type { GuestLink } from './types.js';

/** A fake link that records what it was sent and lets the test deliver frames. */
function fakeLink(log: string[], name: string) {
  let listener: ((f: Uint8Array[]) => void) | undefined;
  const link: GuestLink = {
    kind: 'tap',
    send(frames) {
      log.push(`${name} send ${frames.length}`);
      return true;
    },
    onFrames(l) {
      listener = l;
    },
    onDrain() {},
    close() {
      log.push(`${name} close`);
      return Promise.resolve();
    },
  };
  return { link, deliver: (f: Uint8Array[]) => listener?.(f) };
}

test('attach, detach, attach again: frames flow only while attached, listener kept', async () => {
  const log: string[] = [];
  const fakes = [fakeLink(log, 'one'), fakeLink(log, 'two')];
  let opened = 0;
  const sw = switchableLink(() => fakes[opened++]!.link, {
    kind: 'tap',
    checksumOffload: true,
    consumesOnSend: true,
    framesTransient: true,
  });
  const got: number[] = [];
  sw.onFrames((f) => got.push(f.length));
  assert.equal(sw.attached, false);
  assert.equal(sw.send([new Uint8Array(60)]), false, 'detached: dropped');
  sw.attach();
  sw.attach(); // idempotent
  assert.equal(opened, 1);
  assert.equal(sw.send([new Uint8Array(60)]), true);
  fakes[0]!.deliver([new Uint8Array(60), new Uint8Array(60)]);
  await sw.detach();
  assert.equal(sw.send([new Uint8Array(60)]), false);
  sw.attach();
  fakes[1]!.deliver([new Uint8Array(60)]);
  await sw.close();
  sw.attach(); // closed: stays closed
  assert.equal(opened, 2);
  assert.deepEqual(got, [2, 1]);
  assert.deepEqual(log, ['one send 1', 'one close', 'two close']);
  assert.equal(sw.checksumOffload, true);
});
