// Tests of the daemon's log: passt's levels, the text line form, the size-capped file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CappedLogFile, openDaemonLog, passtLogLevel, textLine } from './log.js';

const RUN = process.env.BINDERY_RUN_ID ?? 'dev';

function tmp(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), `bindery-lab-${RUN}-log-`));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test("passt's switches map to levels: -q errors only, default info, -d debug, --trace trace", () => {
  const f = { quiet: false, debug: false, trace: false };
  assert.equal(passtLogLevel(f), 'info');
  assert.equal(passtLogLevel({ ...f, quiet: true }), 'error');
  assert.equal(passtLogLevel({ ...f, debug: true }), 'debug');
  assert.equal(passtLogLevel({ ...f, debug: true, trace: true }), 'trace');
});

test('a pino record becomes `<ISO time> <prefix><msg>`', () => {
  const time = Date.UTC(2026, 0, 2, 3, 4, 5, 6);
  assert.equal(
    textLine(JSON.stringify({ level: 30, time, msg: 'stopped; counters {"a":1}' })),
    '2026-01-02T03:04:05.006Z stopped; counters {"a":1}\n',
  );
  assert.equal(
    textLine(JSON.stringify({ level: 40, time, msg: 'x' })),
    '2026-01-02T03:04:05.006Z WARNING: x\n',
  );
  assert.equal(textLine('not json'), 'not json\n');
  assert.equal(
    textLine(
      JSON.stringify({ level: 20, time, msg: 'flow close', proto: 'tcp', bytes: 12, why: 'a b' }),
    ),
    '2026-01-02T03:04:05.006Z flow close proto=tcp bytes=12 why="a b"\n',
  );
});

test('the log file: truncated at open, header first, levels filtered, flushed on demand', async (t) => {
  const dir = tmp(t);
  const file = join(dir, 'passt.log');
  writeFileSync(file, 'an older run\n');
  const log = openDaemonLog({ level: 'info', file, header: 'bindery passt test (1)' });
  log.logger.debug('not at info');
  log.logger.info('serving tap t0');
  log.logger.warn('careful');
  log.logger.error('broken');
  await log.flush();
  const lines = (await readFile(file, 'utf8')).trimEnd().split('\n');
  assert.equal(lines[0], 'bindery passt test (1)');
  assert.match(lines[1]!, /^\d{4}-\d\d-\d\dT[\d:.]+Z serving tap t0$/);
  assert.match(lines[2]!, / WARNING: careful$/);
  assert.match(lines[3]!, / ERROR: broken$/);
  assert.equal(lines.length, 4);
  log.logger.info('after flush');
  await log.close();
  assert.match(await readFile(file, 'utf8'), /after flush\n$/);
});

test('-q keeps errors only', async (t) => {
  const file = join(tmp(t), 'q.log');
  const log = openDaemonLog({ level: 'error', file });
  log.logger.info('serving');
  log.logger.warn('w');
  log.logger.error('e');
  await log.close();
  const body = (await readFile(file, 'utf8')).split('\n').slice(1).join('\n');
  assert.doesNotMatch(body, /serving|WARNING/);
  assert.match(body, /ERROR: e/);
});

test('the file stays under --log-size: the oldest lines go, the newest stay, whole lines', async (t) => {
  const file = join(tmp(t), 'cap.log');
  const cap = 8192;
  const f = new CappedLogFile(file, cap, 'hdr');
  for (let i = 0; i < 2000; i++) f.write(`line ${String(i).padStart(5, '0')} ${'x'.repeat(40)}\n`);
  await f.flush();
  for (let i = 2000; i < 2100; i++) {
    f.write(`line ${String(i).padStart(5, '0')} ${'x'.repeat(40)}\n`);
    if (i % 7 === 0) await f.flush();
  }
  await f.close();
  const st = await stat(file);
  assert.ok(st.size <= cap, `${st.size} bytes > ${cap}`);
  const lines = (await readFile(file, 'utf8')).trimEnd().split('\n');
  assert.match(lines[0]!, /^hdr - log truncated at \S+$/);
  assert.equal(lines.at(-1), `line 02099 ${'x'.repeat(40)}`);
  for (const l of lines.slice(1)) assert.match(l, /^line \d{5} x{40}$/);
  const nums = lines.slice(1).map((l) => Number(l.slice(5, 10)));
  for (let i = 1; i < nums.length; i++) assert.equal(nums[i], nums[i - 1]! + 1);
  assert.ok(nums.length > 50, `${nums.length} lines kept`);
  assert.equal(f.dropped, 0);
});

test('an unwritable log file does not throw: lines are counted as dropped', async (t) => {
  const f = new CappedLogFile(join(tmp(t), 'no', 'such', 'dir.log'), 4096, 'hdr');
  f.write('a\n');
  await f.flush();
  f.write('b\n');
  await f.close();
  assert.equal(f.dropped, 2);
});

test('without a file: stderr with a passt: prefix when given, else nothing', async () => {
  let err = '';
  const log = openDaemonLog({ level: 'debug', stderr: (s) => (err += s) });
  log.logger.debug('guest connected');
  await log.close();
  assert.equal(err, 'passt: guest connected\n');
});
