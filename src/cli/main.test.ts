// Tests of the CLI frame: help, version, usage errors (one line, exit code 2).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { run, v8FlagsFor, type CliIo } from './main.js';
import { binderyVersion } from '../version.js';

function capture(): CliIo & { stdout: string; stderr: string } {
  const io = {
    stdout: '',
    stderr: '',
    out(t: string) {
      io.stdout += t;
    },
    err(t: string) {
      io.stderr += t;
    },
  };
  return io;
}

test('--version prints the package version', async () => {
  const io = capture();
  assert.equal(await run(['--version'], io), 0);
  assert.equal(io.stdout.trim(), binderyVersion());
  assert.match(binderyVersion(), /^\d+\.\d+\.\d+/);
});

test('--help lists usage', async () => {
  const io = capture();
  assert.equal(await run(['--help'], io), 0);
  assert.match(io.stdout, /Usage: bindery/);
});

test('an unknown option is one line on stderr and exit code 2', async () => {
  const io = capture();
  assert.equal(await run(['--no-such-option'], io), 2);
  assert.equal(io.stderr.trim().split('\n').length, 1);
  assert.match(io.stderr, /^bindery: unknown option '--no-such-option'/);
});

test('an unknown command is exit code 2', async () => {
  const io = capture();
  assert.equal(await run(['frobnicate'], io), 2);
  assert.equal(io.stderr.trim().split('\n').length, 1);
  assert.match(io.stderr, /^bindery: /);
});

test('V8 flags favour memory for the passt daemon only', () => {
  assert.deepEqual(v8FlagsFor(['passt', '-f']), [
    '--optimize-for-size',
    '--semi-space-growth-factor=1',
  ]);
  assert.deepEqual(v8FlagsFor(['render', 'x']), []);
  assert.deepEqual(v8FlagsFor([]), []);
});
