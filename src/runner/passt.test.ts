// Tests of the passt daemon runner with a fake edge: readiness, the log, counters on SIGUSR1 and on the clock, shutdown.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '../../test/lab/wait.js';
import { parsePasstArgs } from '../cli/passt-args.js';
import { binderyVersion } from '../version.js';
import { controlRequest } from './control.js';
import { COUNTERS_INTERVAL_MS, qemuHint, runPasstDaemon, type PasstEdge } from './passt.js';

const RUN = process.env.BINDERY_RUN_ID ?? 'dev';

interface Timer {
  fn: () => void;
  ms: number;
  live: boolean;
}

/** An edge whose signals and timers the test fires by hand. */
function fakeEdge() {
  const timers: Timer[] = [];
  let shutdown: (() => void) | undefined;
  let counters: (() => void) | undefined;
  let out = '';
  let err = '';
  const edge: PasstEdge = {
    io: { out: (t) => void (out += t), err: (t) => void (err += t) },
    selfArgv: (extra) => ['/nonexistent', ...extra],
    readyFd: undefined,
    pid: 4242,
    env: {},
    clock: {
      now: () => 0,
      random: () => 0.5,
      setTimer: (fn, ms) => {
        const t = { fn, ms, live: true };
        timers.push(t);
        return t;
      },
      clearTimer: (h) => void ((h as Timer).live = false),
    },
    onShutdownSignal: (fn) => {
      shutdown = fn;
      return () => (shutdown = undefined);
    },
    onCountersSignal: (fn) => {
      counters = fn;
      return () => (counters = undefined);
    },
  };
  return {
    edge,
    timers,
    out: () => out,
    err: () => err,
    shutdown: () => shutdown?.(),
    counters: () => counters?.(),
    registered: () => shutdown !== undefined || counters !== undefined,
  };
}

const until = (cond: () => boolean, what: string): Promise<void> => waitFor(cond, 10_000, what);

/** Reads `file` until `pred` holds on its text (with a deadline); returns the text. */
async function logUntil(
  file: string,
  pred: (text: string) => boolean,
  what: string,
): Promise<string> {
  const end = Date.now() + 10_000;
  for (;;) {
    const text = await readFile(file, 'utf8').catch(() => '');
    if (pred(text)) return text;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}:\n${text}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test(
  'serves a stream socket, logs counters on SIGUSR1 and every interval (-d), stops on SIGTERM',
  { timeout: 60_000 },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), `bindery-lab-${RUN}-runner-`));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const sock = join(dir, 'p.sock');
    const log = join(dir, 'p.log');
    const pid = join(dir, 'p.pid');
    const f = fakeEdge();
    t.after(() => f.shutdown()); // an assertion failed first: stop the daemon, let the file exit
    const opts = parsePasstArgs([
      '-f',
      '-d',
      '-s',
      sock,
      '-P',
      pid,
      '-l',
      log,
      '-a',
      '10.0.2.15/24',
    ]);
    const done = runPasstDaemon(opts, f.edge);
    await until(() => f.out().includes('UNIX domain socket bound'), 'readiness');
    assert.ok(f.out().includes(qemuHint(sock)));
    assert.equal((await readFile(pid, 'utf8')).trim(), '4242');
    // Readiness comes after the log is flushed: the header and "serving" are there already.
    const first = await readFile(log, 'utf8');
    assert.match(first, /^bindery passt \S+ \(4242\)\n/);
    assert.match(first, new RegExp(`Z serving ${sock}\\n`));

    f.counters();
    const text = await logUntil(log, (s) => /counters now: flows/.test(s), 'SIGUSR1 counters');
    assert.match(text, /counters now: daemon \{"rxFrames":0,/);
    assert.match(text, /counters now: tcp \{/);
    assert.match(text, /counters now: flows \{"active":0,"created":0/);
    const before = text.match(/counters now: daemon/g)!.length;

    const periodic = f.timers.filter((x) => x.ms === COUNTERS_INTERVAL_MS && x.live);
    assert.equal(periodic.length, 1, 'one periodic counters timer');
    periodic[0]!.live = false;
    periodic[0]!.fn();
    const n = (s: string): number => s.match(/counters now: daemon/g)?.length ?? 0;
    await logUntil(log, (s) => n(s) === before + 1, 'periodic counters');
    assert.equal(
      f.timers.filter((x) => x.ms === COUNTERS_INTERVAL_MS && x.live).length,
      1,
      'the periodic timer is re-armed',
    );

    f.shutdown();
    assert.equal(await done, 0);
    assert.equal(f.registered(), false, 'signal handlers unregistered');
    assert.equal(
      f.timers.filter((x) => x.ms === COUNTERS_INTERVAL_MS && x.live).length,
      0,
      'the periodic timer is cancelled',
    );
    assert.equal(existsSync(pid), false);
    assert.equal(existsSync(sock), false);
    const end = await readFile(log, 'utf8');
    assert.match(end, /signal received, shutting down/);
    const m = /stopped; counters (\{.*\})/.exec(end);
    assert.ok(m, end);
    assert.equal((JSON.parse(m[1]!) as { exceptions: number }).exceptions, 0);
    assert.match(end, /tcp counters \{/);
  },
);

test(
  'at the default level no periodic counters timer; -q prints nothing on stdout',
  { timeout: 60_000 },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), `bindery-lab-${RUN}-runner-`));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const sock = join(dir, 'q.sock');
    const log = join(dir, 'q.log');
    const f = fakeEdge();
    t.after(() => f.shutdown()); // an assertion failed first: stop the daemon, let the file exit
    const done = runPasstDaemon(parsePasstArgs(['-f', '-q', '-s', sock, '-l', log]), f.edge);
    await until(() => existsSync(sock) && f.registered(), 'the socket');
    assert.equal(f.timers.filter((x) => x.ms === COUNTERS_INTERVAL_MS).length, 0);
    f.counters(); // info level: filtered out by -q (errors only)
    f.shutdown();
    assert.equal(await done, 0);
    assert.equal(f.out(), '');
    const text = await readFile(log, 'utf8');
    assert.equal(text.split('\n').filter(Boolean).length, 1, `only the header: ${text}`);
  },
);

test(
  '-c serves the control socket while running: ping, ops, counters; removed at exit',
  { timeout: 60_000 },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), `bindery-lab-${RUN}-runner-`));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const sock = join(dir, 'c.sock');
    const ctl = join(dir, 'c.ctl');
    const f = fakeEdge();
    t.after(() => f.shutdown()); // an assertion failed first: stop the daemon, let the file exit
    const done = runPasstDaemon(parsePasstArgs(['-f', '-q', '-s', sock, '-c', ctl]), f.edge);
    await until(() => existsSync(sock) && existsSync(ctl), 'the sockets');
    assert.deepEqual(await controlRequest(ctl, 'ping'), { version: binderyVersion(), pid: 4242 });
    const ops = (await controlRequest(ctl, 'ops')) as string[];
    assert.ok(ops.includes('counters') && ops.includes('ping'), ops.join());
    const c = (await controlRequest(ctl, 'counters')) as {
      daemon: { rxFrames: number };
      flows: { active: number };
      control: { requests: number };
    };
    assert.equal(c.daemon.rxFrames, 0);
    assert.equal(c.flows.active, 0);
    assert.equal(c.control.requests, 3);
    f.shutdown();
    assert.equal(await done, 0);
    assert.equal(existsSync(ctl), false);
  },
);

test(
  '--stats: a line on stderr per DELAY when the counts changed, none when they did not',
  { timeout: 60_000 },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), `bindery-lab-${RUN}-runner-`));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const sock = join(dir, 's.sock');
    const f = fakeEdge();
    t.after(() => f.shutdown()); // an assertion failed first: stop the daemon, let the file exit
    const done = runPasstDaemon(parsePasstArgs(['-f', '-q', '-s', sock, '--stats', '3']), f.edge);
    await until(() => existsSync(sock) && f.registered(), 'the socket');
    const fire = (): void => {
      const live = f.timers.filter((x) => x.ms === 3000 && x.live);
      assert.equal(live.length, 1, 'one stats timer');
      live[0]!.live = false;
      live[0]!.fn();
    };
    fire();
    assert.match(f.err(), /^stats: rx=0 tx=0 rx_bytes=0 tx_bytes=0 .* flows=0 drops=0\n$/);
    fire();
    assert.equal(f.err().split('\n').filter(Boolean).length, 1, 'nothing changed: no line');
    f.shutdown();
    assert.equal(await done, 0);
    assert.equal(f.timers.filter((x) => x.ms === 3000 && x.live).length, 0, 'timer cancelled');
  },
);
