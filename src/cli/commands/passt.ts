// `bindery passt [OPTIONS]`: parses passt's argv, builds the process edge and hands over to the daemon runner.
//
// The daemon's life (detach and readiness, the guest link, logging, signals) is in
// runner/passt.ts; the argv grammar in cli/passt-args.ts. Here: `--version`, usage errors
// (thrown as UsageError; the CLI prints one line and exits 2), and the real process's edge.
import type { Command } from 'commander';
import type { CliIo } from '../main.js';
import { binderyVersion } from '../../version.js';
import { VHOST_USER_CAPABILITIES, parsePasstArgs, passtHelp } from '../passt-args.js';
import { READY_FD_ENV, runPasstDaemon, type PasstEdge } from '../../runner/passt.js';

/** Registers `fn` for each of `signals`; returns a function that unregisters it. */
function onSignals(signals: readonly NodeJS.Signals[], fn: () => void, once: boolean) {
  const h = (): void => fn();
  for (const s of signals) {
    if (once) process.once(s, h);
    else process.on(s, h);
  }
  return () => {
    for (const s of signals) process.off(s, h);
  };
}

/** The edge of a real process. */
export function processEdge(io: CliIo): PasstEdge {
  const fd = process.env[READY_FD_ENV];
  return {
    io,
    selfArgv: (extra) => [
      process.execPath,
      ...process.execArgv,
      ...(process.argv[1] !== undefined ? [process.argv[1]] : []),
      ...process.argv.slice(2),
      ...extra,
    ],
    readyFd: fd !== undefined && /^\d+$/.test(fd) ? Number(fd) : undefined,
    pid: process.pid,
    env: process.env,
    clock: {
      now: () => performance.now(),
      random: () => Math.random(),
      setTimer: (fn, ms) => setTimeout(fn, ms),
      clearTimer: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
    },
    onShutdownSignal: (fn) => onSignals(['SIGTERM', 'SIGINT'], fn, true),
    onCountersSignal: (fn) => onSignals(['SIGUSR1'], fn, false),
  };
}

/**
 * Runs `bindery passt` with `argv` (the arguments after "passt").
 *
 * @returns The exit status: 0 after a clean stop or a successful detach, 1 on failure.
 * @throws UsageError on bad options (the CLI prints one line and exits 2); BinderyError on
 *   operational failures in the foreground (the CLI prints it and exits 1).
 */
export async function runPasst(argv: readonly string[], edge: PasstEdge): Promise<number> {
  if (argv.includes('--version')) {
    edge.io.out(`bindery passt ${binderyVersion()}\n`);
    return 0;
  }
  if (argv.includes('--help') || argv.includes('-h')) {
    edge.io.out(passtHelp());
    return 0;
  }
  if (argv.includes('--print-capabilities')) {
    edge.io.out(VHOST_USER_CAPABILITIES);
    return 0;
  }
  return runPasstDaemon(parsePasstArgs(argv), edge);
}

/** Adds `bindery passt` to the program. */
export function registerPasst(program: Command, io: CliIo): void {
  program
    .command('passt')
    .description('the passt-compatible user-mode translator (options as passt(1))')
    .helpOption(false)
    .allowUnknownOption(true)
    .allowExcessArguments(true)
    .argument('[options...]', 'passt options')
    .action(async (_args: string[], _opts: unknown, cmd: Command) => {
      io.setExitCode?.(await runPasst(cmd.args, processEdge(io)));
    });
}
