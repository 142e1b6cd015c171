// Detaching a daemon: start our own command again with -f in a new session and wait for its one-line readiness report.
//
// The child reports on fd 3 (named by READY_FD_ENV): `ready …` once it serves, `error …` when
// it cannot start; anything else, a closed pipe or the deadline means it did not start.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeSync } from 'node:fs';
import type { Socket } from 'node:net';
import { BinderyError, ErrorCode } from '../errors.js';

/** Environment variable naming the child's readiness fd (as `bindery passt` has always used). */
export const READY_FD_ENV = 'BINDERY_PASST_READY_FD';
/** How long a detaching parent waits for the child's report. */
export const READY_TIMEOUT_MS = 20_000;

/** What the parent needs to start itself again. */
export interface DetachEdge {
  /** Our own argv with `extra` appended (node, script, args…). */
  selfArgv(extra: readonly string[]): readonly string[];
  readonly env: NodeJS.ProcessEnv;
}

/**
 * Starts `edge.selfArgv(['-f'])` detached and returns its first report line ('' when none).
 * A child that did not report `ready`/`error` and still runs is sent SIGTERM.
 * @param edge - our argv and environment
 * @param out - where the child's stdout and stderr go (an fd the caller may close after)
 * @returns the report line and the child
 */
export async function startDetached(
  edge: DetachEdge,
  out: 'ignore' | number = 'ignore',
): Promise<{ line: string; child: ChildProcess }> {
  const [cmd, ...args] = edge.selfArgv(['-f']);
  if (cmd === undefined) throw new BinderyError(ErrorCode.Link, 'cannot find our own command');
  const child = spawn(cmd, args, {
    detached: true,
    stdio: ['ignore', out, out, 'pipe'],
    env: { ...edge.env, [READY_FD_ENV]: '3' },
  });
  const pipe = child.stdio[3] as Socket;
  const line = await new Promise<string>((resolve) => {
    let text = '';
    const timer = setTimeout(() => resolve(''), READY_TIMEOUT_MS);
    pipe.setEncoding('utf8');
    pipe.on('data', (d: string) => {
      text += d;
      if (text.includes('\n')) {
        clearTimeout(timer);
        resolve(text.split('\n')[0]!);
      }
    });
    pipe.on('close', () => {
      clearTimeout(timer);
      resolve(text.split('\n')[0] ?? '');
    });
    pipe.on('error', () => {});
  });
  pipe.destroy();
  child.unref();
  if (!line.startsWith('ready') && !line.startsWith('error ') && child.exitCode === null)
    child.kill('SIGTERM');
  return { line, child };
}

/**
 * Runs `serve` in a detached child that reports to its parent on `readyFd`: a start-up failure
 * becomes an `error …` line there (the parent prints it) and exit status 1.
 * @param readyFd - the report fd, or undefined in the foreground (errors are thrown)
 * @param serve - serves until stopped; reports `ready …` itself once serving
 * @returns serve's status, or 1 after a reported failure
 */
export async function serveReporting(
  readyFd: number | undefined,
  serve: () => Promise<number>,
): Promise<number> {
  if (readyFd === undefined) return serve();
  try {
    return await serve();
  } catch (e) {
    const msg = e instanceof Error ? e.message.split('\n')[0] : String(e);
    try {
      writeSync(readyFd, `error ${msg}\n`);
    } catch {
      // parent gone, or already reported ready
    }
    return 1;
  }
}
