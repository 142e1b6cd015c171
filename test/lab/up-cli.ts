// Runs the `bindery` CLI as the `up`/`migrate` suites do (own TMPDIR per run) and lists what a run may leave behind.
import { spawn, execFileSync } from 'node:child_process';
import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../bin/bindery.js', import.meta.url));
export const EXAMPLES = fileURLToPath(new URL('../../examples/', import.meta.url));

export interface Ran {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `bindery ARGS` with the run's TMPDIR; `onStdout` sees output as it comes. */
export function bindery(
  env: { tmp: string },
  args: string[],
  opts: {
    timeoutMs?: number;
    onStdout?: (all: string, kill: (s: NodeJS.Signals) => void) => void;
  } = {},
): Promise<Ran> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, TMPDIR: env.tmp },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 600_000);
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      opts.onStdout?.(stdout, (s) => child.kill(s));
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** What a run may leave: namespaces, processes, host links, nft tables, temp entries, state entries. */
export function leftovers(env: { tmp: string; state: string }): {
  ns: string[];
  procs: string[];
  links: string[];
  nft: string[];
  tmp: string[];
  state: string[];
} {
  const ns = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n.startsWith('bdy-up-'));
  const procs = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.includes(env.tmp) && !l.includes('ps -eo'));
  const links = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => /^\d+: bdy[0-9a-f]{6}[@:]/.test(l));
  const nft = execFileSync('nft', ['list', 'tables'], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.trim() !== '')
    .sort();
  const ls = (d: string): string[] => (existsSync(d) ? readdirSync(d) : []);
  return { ns, procs, links, nft, tmp: ls(env.tmp), state: ls(env.state) };
}

/** The lock the `up`/`migrate` suites share (their leftover checks see the whole machine). */
export const UP_SUITE_LOCK = '/run/bindery-test-up-suite.lock';

/**
 * Waits until no other `up`/`migrate` suite runs, then holds the lock until the returned
 * function is called. The test runner runs two files at once, and these suites' leftover
 * checks list namespaces, host links and nft tables machine-wide, so two of them at once would
 * see each other's. A lock whose holder died is taken over.
 */
export async function upSuiteLock(deadlineMs = 45 * 60_000): Promise<() => void> {
  const end = Date.now() + deadlineMs;
  const owner = join(UP_SUITE_LOCK, 'pid');
  for (;;) {
    try {
      mkdirSync(UP_SUITE_LOCK);
      writeFileSync(owner, `${process.pid}\n`);
      return () => rmSync(UP_SUITE_LOCK, { recursive: true, force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const holder = Number((existsSync(owner) ? readFileSync(owner, 'utf8') : '').trim());
    // A holder that is gone (or a lock without its pid file for a while) is stale.
    if (Number.isInteger(holder) && holder > 0 && !existsSync(`/proc/${holder}`))
      rmSync(UP_SUITE_LOCK, { recursive: true, force: true });
    if (Date.now() > end) throw new Error(`${UP_SUITE_LOCK}: still held by pid ${holder}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** One suite's own directories and the checks that it left nothing behind. */
export interface UpSuiteRun {
  /** The run's root directory (TMPDIR and state dir below it; removed after the test). */
  readonly root: string;
  readonly env: { tmp: string; state: string };
  /** `--state-dir <state>`, for every command of the run. */
  readonly stateArgs: string[];
  /** Asserts that nothing more is left than at the start. */
  assertClean(what: string): void;
}

/**
 * Sets up an `up`/`migrate` suite: a fresh root (TMPDIR and state dir) under `prefix`, an
 * after-hook that runs `down --all` and removes the root, then the suite lock (released by a
 * later after-hook, so after the cleanup), then the leftovers seen before anything starts.
 */
export async function upSuiteSetup(t: TestContext, prefix: string): Promise<UpSuiteRun> {
  const root = mkdtempSync(join(tmpdir(), prefix));
  const env = { tmp: join(root, 'tmp'), state: join(root, 'state') };
  mkdirSync(env.tmp);
  const stateArgs = ['--state-dir', env.state];
  t.after(async () => {
    await bindery(env, ['down', '--all', ...stateArgs], { timeoutMs: 120_000 });
    rmSync(root, { recursive: true, force: true });
  });
  // After the cleanup above (after-hooks run in order): no other up/migrate suite meanwhile.
  const release = await upSuiteLock();
  t.after(release);
  const clean = leftovers(env);
  return {
    root,
    env,
    stateArgs,
    assertClean: (what) => assert.deepEqual(leftovers(env), clean, `${what} left something behind`),
  };
}
