// Child processes of the lab: one-shot commands with a deadline, and long-running processes whose output tests wait on.
//
// Every child is spawned detached, i.e. as the leader of its own process group, and tracked in
// the registry until it exits, so killing the group (-pid) also reaches anything it started.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { StringDecoder } from 'node:string_decoder';
import { BinderyError, ErrorCode } from '../../src/errors.js';
import { releaseSync, track, untrack } from './registry.js';
import type { LabResource } from './registry.js';

/** How a process ended. */
export interface ExitStatus {
  /** Exit code, or null when a signal ended it. */
  readonly code: number | null;
  /** The signal that ended it, or null. */
  readonly signal: NodeJS.Signals | null;
}

/** The result of a one-shot command. */
export interface ExecResult extends ExitStatus {
  readonly stdout: string;
  readonly stderr: string;
}

/** Options of a one-shot command. */
export interface ExecOptions {
  /** Kill the command (its whole process group) after this long; default 30 000 ms. */
  readonly timeoutMs?: number;
  /** Written to the command's stdin, which is then closed. */
  readonly input?: string | Uint8Array;
  /** Extra environment variables. */
  readonly env?: Readonly<Record<string, string>>;
  /** Called with the process as soon as it runs (the lab uses it to kill it at teardown). */
  readonly onSpawn?: (p: LabProcess) => void;
}

/** Options of a long-running process. */
export interface SpawnOptions {
  /** Extra environment variables. */
  readonly env?: Readonly<Record<string, string>>;
  /** Keep stdin open as a pipe (see `LabProcess.write`); default: stdin is /dev/null. */
  readonly stdin?: boolean;
  /** A name for messages; default the argv. */
  readonly label?: string;
}

const TAIL_CHARS = 2000;

function tail(s: string): string {
  return s.length <= TAIL_CHARS ? s : '…' + s.slice(-TAIL_CHARS);
}

function cloneNonGlobal(re: RegExp): RegExp {
  return re.global || re.sticky ? new RegExp(re.source, re.flags.replace(/[gy]/g, '')) : re;
}

/**
 * A long-running child process: output captured as text, waitable, killed at lab teardown.
 * Obtain one with `lab.spawn(…)`.
 */
export class LabProcess {
  private out = '';
  private err = '';
  private both = '';
  private readonly watchers = new Set<() => void>();
  private status: ExitStatus | undefined;
  private readonly resource: LabResource;
  /** Settles when the process has exited (never rejects). */
  readonly exited: Promise<ExitStatus>;

  /** @internal Use `lab.spawn`. */
  constructor(
    private readonly child: ChildProcess,
    /** The command line, for messages. */
    readonly label: string,
  ) {
    if (child.pid === undefined) throw new BinderyError(ErrorCode.Lab, `cannot start ${label}`);
    this.resource = track({ kind: 'process', pid: child.pid, label });
    const decOut = new StringDecoder('utf8');
    const decErr = new StringDecoder('utf8');
    child.stdout?.on('data', (b: Buffer) => this.append(decOut.write(b), 'out'));
    child.stderr?.on('data', (b: Buffer) => this.append(decErr.write(b), 'err'));
    this.exited = new Promise<ExitStatus>((resolve) => {
      child.once('error', (e) => {
        this.append(`\n[spawn error: ${e.message}]\n`, 'err');
        untrack(this.resource);
        this.status ??= { code: null, signal: null };
        this.notify();
        resolve(this.status);
      });
      child.once('close', (code, signal) => {
        untrack(this.resource);
        this.status ??= { code, signal };
        this.notify();
        resolve(this.status);
      });
    });
  }

  /** The process id (also its process group id). */
  get pid(): number {
    return this.child.pid!;
  }
  /** Everything written to stdout so far. */
  get stdout(): string {
    return this.out;
  }
  /** Everything written to stderr so far. */
  get stderr(): string {
    return this.err;
  }
  /** stdout and stderr interleaved in arrival order. */
  get output(): string {
    return this.both;
  }
  /** How it ended, or undefined while it runs. */
  get exitStatus(): ExitStatus | undefined {
    return this.status;
  }

  /**
   * Writes to the process's stdin (spawned with `stdin: true`).
   *
   * @param data - Bytes or text to write.
   */
  write(data: string | Uint8Array): void {
    if (this.child.stdin === null)
      throw new BinderyError(ErrorCode.Lab, `${this.label}: no stdin pipe`);
    this.child.stdin.write(data);
  }

  /**
   * Waits until the output (stdout and stderr interleaved) matches `re`.
   *
   * @param re - Pattern; flags g/y are ignored.
   * @param timeoutMs - Deadline; default 10 000 ms.
   * @returns The match.
   * @throws BinderyError Timeout at the deadline, Lab if the process exits first (both quote
   *   the end of the output).
   */
  waitForOutput(re: RegExp, timeoutMs = 10_000): Promise<RegExpExecArray> {
    const pattern = cloneNonGlobal(re);
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const m = pattern.exec(this.both);
        if (m !== null) {
          done();
          resolve(m);
          return true;
        }
        if (this.status !== undefined) {
          done();
          reject(
            new BinderyError(
              ErrorCode.Lab,
              `${this.label} exited (${describe(this.status)}) before printing ${re}; output:\n${tail(this.both)}`,
            ),
          );
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        done();
        reject(
          new BinderyError(
            ErrorCode.Timeout,
            `${this.label}: no output matching ${re} within ${timeoutMs} ms; output:\n${tail(this.both)}`,
          ),
        );
      }, timeoutMs);
      const watcher = (): void => {
        check();
      };
      const done = (): void => {
        clearTimeout(timer);
        this.watchers.delete(watcher);
      };
      if (!check()) this.watchers.add(watcher);
    });
  }

  /**
   * Stops the process group: `signal` (default SIGTERM), then SIGKILL after `graceMs`.
   *
   * @param signal - First signal to send.
   * @param graceMs - Time to wait before SIGKILL; default 2000 ms.
   * @returns How the process ended.
   */
  async kill(signal: NodeJS.Signals = 'SIGTERM', graceMs = 2000): Promise<ExitStatus> {
    if (this.status === undefined) {
      try {
        process.kill(-this.pid, signal);
      } catch {
        // already gone
      }
      let timer: NodeJS.Timeout | undefined;
      const forced = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          releaseSync(this.resource);
          resolve();
        }, graceMs);
      });
      await Promise.race([this.exited, forced]);
      clearTimeout(timer);
    }
    // The leader is gone; anything it left running in its group goes too.
    try {
      process.kill(-this.pid, 'SIGKILL');
    } catch {
      // no members left
    }
    return this.exited;
  }

  private append(text: string, which: 'out' | 'err'): void {
    if (text === '') return;
    if (which === 'out') this.out += text;
    else this.err += text;
    this.both += text;
    this.notify();
  }

  private notify(): void {
    for (const w of [...this.watchers]) w();
  }
}

function describe(s: ExitStatus): string {
  return s.signal !== null ? `signal ${s.signal}` : `code ${s.code}`;
}

/**
 * Starts a long-running process in its own process group.
 *
 * @param argv - Program and arguments.
 * @param opts - Environment, stdin, label.
 * @returns The process handle.
 */
export function spawnProcess(argv: readonly string[], opts: SpawnOptions = {}): LabProcess {
  const [cmd, ...args] = argv;
  if (cmd === undefined) throw new BinderyError(ErrorCode.Lab, 'empty argv');
  const child = spawn(cmd, args, {
    detached: true,
    stdio: [opts.stdin === true ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...opts.env },
  });
  return new LabProcess(child, opts.label ?? argv.join(' '));
}

/**
 * Runs a command to completion (or its deadline).
 *
 * @param argv - Program and arguments.
 * @param opts - Deadline, stdin input, environment.
 * @returns Exit status and output.
 * @throws BinderyError Timeout when the deadline passes (the process group is killed first).
 */
export async function execCommand(
  argv: readonly string[],
  opts: ExecOptions = {},
): Promise<ExecResult> {
  const [cmd, ...args] = argv;
  if (cmd === undefined) throw new BinderyError(ErrorCode.Lab, 'empty argv');
  const child = spawn(cmd, args, {
    detached: true,
    stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    env: { ...process.env, ...opts.env },
  });
  const p = new LabProcess(child, argv.join(' '));
  opts.onSpawn?.(p);
  if (opts.input !== undefined && child.stdin !== null) {
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input);
  }
  const timeoutMs = opts.timeoutMs ?? 30_000;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  const first = await Promise.race([p.exited, timedOut]);
  clearTimeout(timer);
  if (first === 'timeout') {
    await p.kill('SIGKILL', 1000);
    throw new BinderyError(
      ErrorCode.Timeout,
      `${p.label}: still running after ${timeoutMs} ms, killed; output:\n${tail(p.output)}`,
    );
  }
  return { code: first.code, signal: first.signal, stdout: p.stdout, stderr: p.stderr };
}
