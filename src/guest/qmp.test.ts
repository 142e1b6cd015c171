// Unit tests of the QMP client against a scripted unix-socket server speaking QMP.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Qmp, parseQmpLine } from './qmp.js';
import { BinderyError } from '../errors.js';

test('parseQmpLine: greeting, return, error, event, junk', () => {
  assert.deepEqual(parseQmpLine('{"QMP": {"version": {}}}'), { kind: 'greeting' });
  assert.deepEqual(parseQmpLine('{"return": {}, "id": 3}'), { kind: 'return', value: {}, id: 3 });
  assert.deepEqual(parseQmpLine('{"error": {"class": "GenericError", "desc": "no"}, "id": 4}'), {
    kind: 'error',
    class: 'GenericError',
    desc: 'no',
    id: 4,
  });
  assert.deepEqual(parseQmpLine('{"event": "STOP", "timestamp": {}}'), {
    kind: 'event',
    event: 'STOP',
    data: undefined,
  });
  assert.equal(parseQmpLine('not json'), undefined);
  assert.equal(parseQmpLine('[1]'), undefined);
  assert.equal(parseQmpLine('{"other": 1}'), undefined);
});

/** A QMP server: greets, wants qmp_capabilities first, answers from `answer`, sends an event before each reply. */
async function fakeQemu(
  answer: (cmd: string, args: unknown) => object,
): Promise<{ path: string; seen: string[]; close: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), 'bdy-qmp-'));
  const path = join(dir, 'qmp.sock');
  const seen: string[] = [];
  const socks = new Set<Socket>();
  const server = createServer((s) => {
    socks.add(s);
    s.setEncoding('utf8');
    let buf = '';
    let negotiated = false;
    s.write('{"QMP": {"version": {"qemu": {"major": 7}}, "capabilities": []}}\r\n');
    s.on('data', (d: string) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const req = JSON.parse(buf.slice(0, nl)) as {
          execute: string;
          arguments?: unknown;
          id?: number;
        };
        buf = buf.slice(nl + 1);
        seen.push(req.execute);
        s.write('{"event": "RESUME", "timestamp": {"seconds": 1, "microseconds": 2}}\r\n');
        if (!negotiated && req.execute !== 'qmp_capabilities') {
          s.write(
            JSON.stringify({ error: { class: 'CommandNotFound', desc: 'negotiate' }, id: req.id }) +
              '\r\n',
          );
          continue;
        }
        negotiated = true;
        // Split a reply across writes, as a stream may.
        const line = JSON.stringify({ ...answer(req.execute, req.arguments), id: req.id }) + '\r\n';
        s.write(line.slice(0, 5));
        s.write(line.slice(5));
      }
    });
    s.on('close', () => socks.delete(s));
  });
  await new Promise<void>((r) => server.listen(path, r));
  return {
    path,
    seen,
    close: () => {
      for (const s of socks) s.destroy();
      server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

test('negotiates, runs commands, maps errors, counts events', async () => {
  const q = await fakeQemu((cmd, args) => {
    if (cmd === 'query-migrate') return { return: { status: 'completed', downtime: 7 } };
    if (cmd === 'set_link')
      return (args as { up: boolean }).up
        ? { return: {} }
        : { error: { class: 'GenericError', desc: 'Device n9 not found' } };
    return { return: {} };
  });
  try {
    const c = await Qmp.connect(q.path, { timeoutMs: 5000 });
    assert.deepEqual(await c.execute('query-migrate'), { status: 'completed', downtime: 7 });
    await c.execute('set_link', { name: 'n0', up: true });
    await assert.rejects(c.execute('set_link', { name: 'n9', up: false }), (e: unknown) => {
      assert.ok(e instanceof BinderyError);
      assert.match(e.message, /set_link: GenericError: Device n9 not found/);
      return true;
    });
    assert.deepEqual(q.seen, ['qmp_capabilities', 'query-migrate', 'set_link', 'set_link']);
    assert.equal(c.events.get('RESUME'), 4);
    c.close();
    await assert.rejects(c.execute('cont'), /closed/);
  } finally {
    q.close();
  }
});

test('connect gives up at its deadline when nothing listens', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bdy-qmp-'));
  try {
    await assert.rejects(
      Qmp.connect(join(dir, 'none.sock'), { timeoutMs: 200 }),
      /no answer in time/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
