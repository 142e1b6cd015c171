// The control server on a real unix socket: operations, errors, and bad input that leaves it serving.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BinderyError, ErrorCode } from '../errors.js';
import { ControlServer, controlRequest } from './control.js';

/**
 * Sends raw bytes, half-closes, and returns everything the server wrote back (a server that
 * closes early makes our write fail with EPIPE: what it answered is still returned).
 */
function raw(path: string, bytes: string): Promise<string> {
  return new Promise((resolve) => {
    const s = createConnection({ path });
    let out = '';
    s.on('data', (d: Buffer) => (out += d.toString()));
    s.on('error', () => {});
    s.on('close', () => resolve(out));
    s.once('connect', () => s.end(bytes));
  });
}

async function withServer(fn: (ctl: ControlServer, path: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'bdy-ctl-'));
  const path = join(dir, 'ctl.sock');
  const ctl = await ControlServer.listen(path);
  try {
    await fn(ctl, path);
  } finally {
    await ctl.close();
    await rm(dir, { recursive: true, force: true });
  }
}

test('operations answer; a handler error keeps its code; unknown ops are named', async () => {
  await withServer(async (ctl, path) => {
    ctl.handle('echo', (a) => a);
    ctl.handle('fail', () => {
      throw new BinderyError(ErrorCode.Input, 'no such thing');
    });
    ctl.handle('slow', () => new Promise((r) => setTimeout(() => r('late'), 20)));
    assert.deepEqual(await controlRequest(path, 'echo', { x: [1, 2] }), { x: [1, 2] });
    assert.equal(await controlRequest(path, 'slow'), 'late');
    await assert.rejects(controlRequest(path, 'fail'), (e: BinderyError) => {
      assert.equal(e.code, ErrorCode.Input);
      assert.equal(e.message, 'no such thing');
      return true;
    });
    await assert.rejects(
      controlRequest(path, 'nope'),
      /unknown operation nope \(known: echo, fail, slow\)/,
    );
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.equal(ctl.counters.failed, 2);
  });
});

test('garbage, wrong versions and truncated requests get errors and the server keeps serving', async () => {
  await withServer(async (ctl, path) => {
    ctl.handle('ping', () => 'pong');
    const answer = await raw(
      path,
      'this is not json\n{"v":9,"id":4,"op":"ping"}\n\n{"v":1,"id":5,"op":"ping"}\n{"v":1,"id":6,"op":"pi',
    );
    const lines = answer
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(lines.length, 3);
    assert.equal(lines[0]!['ok'], false);
    assert.match(JSON.stringify(lines[1]), /"id":4.*unsupported protocol version 9/);
    assert.deepEqual(lines[2], { v: 1, id: 5, ok: true, result: 'pong' });
    assert.equal(ctl.counters.bad['not-json'], 1);
    assert.equal(ctl.counters.bad['bad-version'], 1);
    assert.equal(ctl.counters.truncated, 1);
    const long = await raw(path, 'x'.repeat(5 * 1024 * 1024));
    assert.match(long, /request line too long/);
    assert.equal(ctl.counters.bad['too-long'], 1);
    assert.equal(await controlRequest(path, 'ping'), 'pong');
  });
});

test('a client names an unreachable socket', async () => {
  await assert.rejects(
    controlRequest('/nonexistent/bindery.ctl', 'ping'),
    (e: BinderyError) => e.code === ErrorCode.Control && /nonexistent/.test(e.message),
  );
});

test('a stale socket file is replaced; a regular file is refused', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'bdy-ctl-'));
  try {
    const path = join(dir, 'ctl.sock');
    const a = await ControlServer.listen(path);
    // Simulate a crashed translator: the file stays behind without a listener.
    (a as unknown as { server: { close(): void } }).server.close();
    const b = await ControlServer.listen(path);
    b.handle('ping', () => 1);
    assert.equal(await controlRequest(path, 'ping'), 1);
    await b.close();
    const { writeFile } = await import('node:fs/promises');
    await writeFile(path, 'x');
    await assert.rejects(ControlServer.listen(path), /exists and is not a socket/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a client that connects as soon as the socket file exists is answered, and close() ends', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'bdy-ctl-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'ctl.sock');
  let fileAtSetup: boolean | undefined;
  const listening = ControlServer.listen(path, undefined, (ctl) => {
    fileAtSetup = existsSync(path);
    ctl.handle('hello', () => 'there');
  });
  // No waiting for listen(): the daemon's clients only watch for the file.
  while (!existsSync(path)) await new Promise((r) => setImmediate(r));
  assert.equal(await controlRequest(path, 'hello', {}, { timeoutMs: 5000 }), 'there');
  const ctl = await listening;
  assert.equal(fileAtSetup, false, 'the operations were there before the socket file');
  await ctl.close();
  assert.equal(existsSync(path), false);
});
