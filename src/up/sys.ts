// The system edge of `bindery up`: commands (optionally in a namespace), detached processes, process liveness and identity.
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { BinderyError, ErrorCode } from '../errors.js';
import { runCommand, type CommandResult } from '../podnet/exec.js';

/** How a command ended. */
export type RunResult = CommandResult;

/** Runs argv (in `netns` via `ip netns exec` when given); a non-zero exit is returned. */
export function tryRun(
  argv: readonly string[],
  opts: { netns?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  const full = opts.netns !== undefined ? ['ip', 'netns', 'exec', opts.netns, ...argv] : [...argv];
  return runCommand(full, { timeoutMs: opts.timeoutMs ?? 30_000, killSignal: 'SIGKILL' });
}

/** Runs argv; a non-zero exit throws BinderyError (Up) naming the command. */
export async function run(
  argv: readonly string[],
  opts: { netns?: string; timeoutMs?: number } = {},
): Promise<string> {
  const r = await tryRun(argv, opts);
  if (r.code !== 0) {
    const said = (r.stderr.trim() || r.stdout.trim()).split('\n').slice(-3).join(' / ');
    throw new BinderyError(
      ErrorCode.Up,
      `\`${opts.netns !== undefined ? `ip netns exec ${opts.netns} ` : ''}${argv.join(' ')}\` failed (exit ${r.code})${said ? `: ${said}` : ''}`,
    );
  }
  return r.stdout;
}

/**
 * Starts argv in a new session, its output appended to `logFile`, and lets it run on after we
 * exit. With `ip netns exec` the command replaces `ip`, so the pid is the command's.
 * @returns the pid
 */
export function spawnDetached(argv: readonly string[], logFile: string, netns?: string): number {
  const full = netns !== undefined ? ['ip', 'netns', 'exec', netns, ...argv] : [...argv];
  const fd = openSync(logFile, 'a');
  try {
    const child = spawn(full[0]!, full.slice(1), { detached: true, stdio: ['ignore', fd, fd] });
    child.on('error', () => {});
    child.unref();
    if (child.pid === undefined)
      throw new BinderyError(ErrorCode.Up, `cannot start ${argv[0] ?? '?'}`);
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

/** True when `pid` runs and its command line contains `match` (guards against reused pids). */
export function isOurs(pid: number, match: string): boolean {
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
    if (!cmd.includes(match)) return false;
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/\) Z /.test(stat);
  } catch {
    return false;
  }
}

/** True when `pid` exists and is not a zombie (whatever it runs; for a child we just started). */
export function isAlive(pid: number): boolean {
  try {
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** Resolves when `cond` is true; false at the deadline. */
export async function waitUntil(
  cond: () => boolean | Promise<boolean>,
  timeoutMs: number,
  stepMs = 100,
): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return true;
    if (Date.now() >= end) return false;
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/** Sends SIGTERM (then SIGKILL after `graceMs`) to `pid` if it is ours; waits until it is gone. */
export async function stopProcess(pid: number, match: string, graceMs = 5000): Promise<void> {
  if (!isOurs(pid, match)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  if (await waitUntil(() => !isOurs(pid, match), graceMs, 50)) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return;
  }
  await waitUntil(() => !isOurs(pid, match), 5000, 50);
}
