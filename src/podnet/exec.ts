// Runs the plumbing commands (ip, tc, bridge, nft, sysctl) inside a pod network namespace through nsenter.
import { execFile } from 'node:child_process';
import { BinderyError, ErrorCode } from '../errors.js';

/** What a command printed and how it ended. */
export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs commands in one network namespace; injectable so the planner's users can be tested. */
export interface NetnsExec {
  /** The namespace as a path (`/run/netns/NAME`, `/proc/PID/ns/net`). */
  readonly netns: string;
  /** Runs `argv` in the namespace; a non-zero exit is returned, not thrown. */
  tryRun(argv: readonly string[], input?: string): Promise<CommandResult>;
  /** Runs `argv` in the namespace; a non-zero exit throws BinderyError (PodNet). */
  run(argv: readonly string[], input?: string): Promise<string>;
}

const DEADLINE_MS = 30_000;

/** The message of a failed command: the command, its exit status and what it said. */
export function commandError(argv: readonly string[], r: CommandResult): BinderyError {
  const said = (r.stderr.trim() || r.stdout.trim()).split('\n').join(' / ');
  return new BinderyError(
    ErrorCode.PodNet,
    `\`${argv.join(' ')}\` failed (exit ${r.code})${said ? `: ${said}` : ''}`,
  );
}

/**
 * Runs `argv` to its end; a non-zero exit (124 when killed at the deadline, 127 when it could
 * not start) is returned, not thrown. stdin gets `input`, or is closed.
 * @param argv - the command
 * @param opts - deadline (killed with `killSignal`, default SIGTERM) and stdin text
 * @returns its exit status and output
 */
export function runCommand(
  argv: readonly string[],
  opts: { timeoutMs?: number; killSignal?: NodeJS.Signals; input?: string } = {},
): Promise<CommandResult> {
  return new Promise((resolve) => {
    const child = execFile(
      argv[0]!,
      argv.slice(1),
      {
        timeout: opts.timeoutMs ?? DEADLINE_MS,
        maxBuffer: 64 << 20,
        encoding: 'utf8',
        killSignal: opts.killSignal ?? 'SIGTERM',
      },
      (err, stdout, stderr) => {
        const code =
          err === null ? 0 : typeof err.code === 'number' ? err.code : err.killed ? 124 : 127;
        resolve({ code, stdout, stderr: err && !stderr ? err.message : stderr });
      },
    );
    // A command that exits without reading stdin makes this write fail (EPIPE): its exit
    // status already says how it went.
    child.stdin?.on('error', () => {});
    child.stdin?.end(opts.input ?? '');
  });
}

/**
 * An executor entering `netns` with `nsenter --net=PATH` for every command.
 * @param netns - the namespace path
 * @returns the executor
 */
export function nsenterExec(netns: string): NetnsExec {
  const tryRun = (argv: readonly string[], input?: string): Promise<CommandResult> =>
    runCommand(['nsenter', `--net=${netns}`, '--', ...argv], {
      timeoutMs: DEADLINE_MS,
      ...(input !== undefined ? { input } : {}),
    });
  return {
    netns,
    tryRun,
    async run(argv, input) {
      const r = await tryRun(argv, input);
      if (r.code !== 0) throw commandError(argv, r);
      return r.stdout;
    },
  };
}
