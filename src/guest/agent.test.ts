// Tests of the agent's host side: the reply parser, and GuestAgent against a fake guest on a unix socket.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BinderyError, ErrorCode } from '../errors.js';
import { GuestAgent, parseAgentLine } from './agent.js';

test('reply lines parse', () => {
  assert.deepEqual(parseAgentLine('PONG 7'), { kind: 'pong', id: 7 });
  assert.deepEqual(parseAgentLine('PONG 7\r'), { kind: 'pong', id: 7 });
  assert.deepEqual(parseAgentLine('EXIT 12 137'), { kind: 'exit', id: 12, code: 137 });
  const out = parseAgentLine(`OUT 3 ${Buffer.from('a\nb\0c').toString('base64')}`);
  assert.deepEqual(out, { kind: 'out', id: 3, output: Buffer.from('a\nb\0c') });
  assert.deepEqual(parseAgentLine('OUT 3 '), { kind: 'out', id: 3, output: Buffer.alloc(0) });
  assert.deepEqual(parseAgentLine('OUT 3'), { kind: 'out', id: 3, output: Buffer.alloc(0) });
});

test('malformed lines are ignored (undefined)', () => {
  for (const line of [
    '',
    'PONG',
    'PONG x',
    'PONG -1',
    'PONG 1 extra',
    'pong 1',
    'HELLO 1',
    'EXIT 1',
    'EXIT 1 abc',
    'EXIT 1 256',
    'EXIT 1 -1',
    'EXIT 1 3 4',
    'OUT 1 not*base64',
    'OUT 1 abc',
    'OUT 1 YQ== extra',
    'OUT x YQ==',
    'RUN 1 ZWNobw==',
    '[   12.345] virtio_net virtio0 eth0: renamed',
  ]) {
    assert.equal(parseAgentLine(line), undefined, JSON.stringify(line));
  }
});

/** A fake guest: answers PING, runs RUN commands through `run`, may misbehave. */
async function fakeGuest(
  path: string,
  run: (cmd: string, id: string, sock: Socket) => void,
): Promise<Server> {
  const server = createServer((sock) => {
    let buf = '';
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const [verb, id, arg] = buf.slice(0, nl).split(' ');
        buf = buf.slice(nl + 1);
        if (verb === 'PING') sock.write(`noise line\nPONG ${id}\n`);
        if (verb === 'RUN') run(Buffer.from(arg!, 'base64').toString(), id!, sock);
      }
    });
  });
  await new Promise<void>((r) => server.listen(path, r));
  return server;
}

test('GuestAgent: connect waits for the socket, exec matches ids, ignores junk, times out', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'bindery-agent-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'agent.sock');
  const b64 = (s: string): string => Buffer.from(s).toString('base64');
  let server: Server | undefined;
  t.after(() => server?.close());
  // The socket appears only after connect started retrying.
  const connecting = GuestAgent.connect(path, { timeoutMs: 10_000 });
  setTimeout(() => {
    void fakeGuest(path, (cmd, id, sock) => {
      if (cmd === 'hang') return;
      if (cmd === 'late') {
        // Answers with a stale id first, then garbage, then the right reply in two pieces.
        sock.write(`EXIT 999 0\nOUT ${id} @@@\nOU`);
        setTimeout(() => sock.write(`T ${id} ${b64('late\n')}\nEXIT ${id} 0\n`), 20);
        return;
      }
      const m = /^exit (\d+)$/.exec(cmd);
      sock.write(`OUT ${id} ${b64(`ran ${cmd}`)}\nEXIT ${id} ${m?.[1] ?? 0}\n`);
    }).then((s) => (server = s));
  }, 300);
  const agent = await connecting;
  t.after(() => agent.close());

  await agent.ping(1000);
  assert.deepEqual(await agent.exec('exit 3'), { code: 3, output: 'ran exit 3' });
  assert.deepEqual(await agent.exec('late'), { code: 0, output: 'late\n' });
  // Serialised: concurrent calls each get their own answer.
  const both = await Promise.all([agent.exec('a'), agent.exec('b'), agent.ping()]);
  assert.deepEqual(both.slice(0, 2), [
    { code: 0, output: 'ran a' },
    { code: 0, output: 'ran b' },
  ]);
  await assert.rejects(
    agent.exec('hang', { timeoutMs: 200 }),
    (e: unknown) => e instanceof BinderyError && e.code === ErrorCode.Timeout,
  );
  assert.deepEqual(await agent.exec('after'), { code: 0, output: 'ran after' });
  agent.close();
  await assert.rejects(
    agent.exec('closed'),
    (e: unknown) => e instanceof BinderyError && e.code === ErrorCode.Guest,
  );
});

test('GuestAgent.connect gives up with Timeout when nobody answers', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'bindery-agent-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await assert.rejects(
    GuestAgent.connect(join(dir, 'none.sock'), { timeoutMs: 300 }),
    (e: unknown) => e instanceof BinderyError && e.code === ErrorCode.Timeout,
  );
});
