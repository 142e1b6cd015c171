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
 * An executor entering `netns` with `nsenter --net=PATH` for every command.
 * @param netns - the namespace path
 * @returns the executor
 */
export function nsenterExec(netns: string): NetnsExec {
  const tryRun = (argv: readonly string[], input?: string): Promise<CommandResult> =>
    new Promise((resolve) => {
      const child = execFile(
        'nsenter',
        [`--net=${netns}`, '--', ...argv],
        { timeout: DEADLINE_MS, maxBuffer: 64 << 20, encoding: 'utf8' },
        (err, stdout, stderr) => {
          const code =
            err === null ? 0 : typeof err.code === 'number' ? err.code : err.killed ? 124 : 127;
          resolve({ code, stdout, stderr: err && !stderr ? err.message : stderr });
        },
      );
      if (input !== undefined) child.stdin?.end(input);
      else child.stdin?.end();
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
