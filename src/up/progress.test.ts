// Unit tests of the `bindery up` progress display.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Progress } from './progress.js';

function sink(mode: 'tty' | 'plain' | 'silent') {
  let t = 0;
  const out: string[] = [];
  return {
    out,
    advance: (ms: number) => (t += ms),
    sink: { mode, write: (s: string) => out.push(s), now: () => t },
  };
}

test('plain: one line per start and finish with elapsed times', () => {
  const s = sink('plain');
  const p = new Progress(s.sink);
  p.start('validate');
  s.advance(1500);
  p.done('validate', '1 VM');
  assert.deepEqual(s.out, ['[0.0s] validate: …\n', '[1.5s] validate: done in 1.5s (1 VM)\n']);
});

test('tty: the list is redrawn in place', () => {
  const s = sink('tty');
  const p = new Progress(s.sink);
  p.start('validate');
  s.advance(200);
  p.done('validate');
  assert.equal(s.out.length, 2);
  assert.ok(s.out[1]!.startsWith('\x1b[7A'));
  assert.match(s.out[1]!, /✓ validate {4}\s*0\.2s/);
  assert.ok(s.out[1]!.includes('\x1b[2K  plan\n'));
});

test('silent: nothing written; summary has the durations', () => {
  const s = sink('silent');
  const p = new Progress(s.sink);
  p.start('boot');
  s.advance(2000);
  p.fail('boot', 'qemu exited');
  assert.deepEqual(s.out, []);
  assert.deepEqual(
    p.summary().find((x) => x.step === 'boot'),
    { step: 'boot', state: 'failed', ms: 2000, note: 'qemu exited' },
  );
});

test('a step list of its own (migrate)', () => {
  const s = sink('plain');
  const p = new Progress(s.sink, ['gate', 'migrate'] as const);
  p.start('migrate');
  s.advance(250);
  p.done('migrate', '1 s');
  assert.equal(p.running(), undefined);
  assert.deepEqual(
    p.summary().map((x) => [x.step, x.state]),
    [
      ['gate', 'pending'],
      ['migrate', 'done'],
    ],
  );
});
