// The `bindery` command line: parses argv, turns usage errors into one line and exit code 2.
//
// `bindery passt …` goes straight to its command module: the daemon then loads only what it
// uses (not the other commands' YAML, XML, gRPC and protobuf libraries; see docs/memory.md).
// Every other command line goes through commander with all subcommands registered.
import { Command, CommanderError } from 'commander';
import { BinderyError, ErrorCode, UsageError } from '../errors.js';
import { binderyVersion } from '../version.js';

/**
 * V8 flags for the command line `argv`, set by the entry points (bin/bindery.js, cli/bin.ts)
 * through v8.setFlagsFromString before run(): for the long-running `bindery passt`, the heap
 * favours memory over speed — the new space stays at its first size instead of doubling to
 * 32 MiB under traffic, and V8's memory reducer gives back what a burst of connections grew
 * (docs/memory.md: measured, and why no heap limit is set). Only flags V8 reads after start-up
 * work this way (--max-semi-space-size does not: it needs the node command line).
 */
export function v8FlagsFor(argv: readonly string[]): readonly string[] {
  return argv[0] === 'passt' ? ['--optimize-for-size', '--semi-space-growth-factor=1'] : [];
}

/** Where the CLI writes; injected so tests can capture output. */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  /**
   * Sets the status run() returns (commands use this, never process.exitCode, so running the
   * CLI inside a test leaves the test process alone). Provided by run().
   */
  setExitCode?(code: number): void;
}

/** The real process streams. */
export const processIo: CliIo = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
};

/** Adds subcommands to a program (`commands/index.ts` registerCommands). */
type Register = (program: Command, io: CliIo) => void;

/** Builds the commander program; subcommands come from `register` (commands/index.ts). */
export function buildProgram(io: CliIo, registerCommands: Register): Command {
  const program = new Command('bindery')
    .description(
      'Network bindings for virtual machines: user-mode translator, binding plugins, VM networks',
    )
    .version(binderyVersion(), '-V, --version', 'print the version and exit')
    .helpOption('-h, --help', 'print this help and exit')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.out(s),
      // commander's own error text is replaced by our one-line form in run()
      writeErr: () => {},
    });
  registerCommands(program, io);
  return program;
}

/**
 * Runs the CLI with `argv` (without node and script) and returns the exit status:
 * 0 success, 1 operational failure, 2 bad usage.
 */
export async function run(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  let status = 0;
  const cio: CliIo = { ...io, setExitCode: (c) => (status = c) };
  try {
    if (argv[0] === 'passt') {
      const { runPasst, processEdge } = await import('./commands/passt.js');
      return await runPasst(argv.slice(1), processEdge(cio));
    }
    const { registerCommands } = await import('./commands/index.js');
    await buildProgram(cio, registerCommands).parseAsync([...argv], { from: 'user' });
    return status;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (
        e.code === 'commander.helpDisplayed' ||
        e.code === 'commander.version' ||
        e.code === 'commander.help'
      )
        return 0;
      io.err(`bindery: ${e.message.replace(/^error: /, '').split('\n')[0]}\n`);
      return 2;
    }
    if (e instanceof UsageError) {
      io.err(`bindery: ${e.message}\n`);
      return 2;
    }
    if (e instanceof BinderyError) {
      io.err(`bindery: ${e.message} (${e.code})\n`);
      return 1;
    }
    const msg = e instanceof Error ? e.message : String(e);
    io.err(`bindery: unexpected error: ${msg} (${ErrorCode.Syscall})\n`);
    return 1;
  }
}
