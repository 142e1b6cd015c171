// `bindery exec VM -- CMD…`: runs a command in a guest `bindery up` left running, through its agent; exits with the command's code.
import type { Command } from 'commander';
import type { CliIo } from '../main.js';
import { BinderyError, ErrorCode } from '../../errors.js';
import { GuestAgent } from '../../guest/agent.js';
import { DEFAULT_UP_STATE_DIR, loadRunState } from '../../up/state.js';
import { slug } from '../../up/names.js';

/** One argument quoted for the guest's shell. */
export function shellQuote(a: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}

/** Adds `bindery exec VM [--timeout S] -- CMD…`. */
export function registerExec(program: Command, io: CliIo): void {
  program
    .command('exec')
    .description('run a command in the guest of a VM `bindery up` left running')
    .argument('<vm>', 'the VM name')
    .argument('<cmd...>', 'the command (after --)')
    .option('--timeout <s>', 'seconds the command may take', '60')
    .option('--state-dir <dir>', 'where runs keep their state', DEFAULT_UP_STATE_DIR)
    .action(async (vm: string, cmd: string[], opts: { timeout: string; stateDir: string }) => {
      const s = await loadRunState(opts.stateDir, slug(vm));
      if (!s?.ready || s.agentSocket === undefined)
        throw new BinderyError(ErrorCode.Up, `${vm} is not up (bindery status lists what is)`);
      const agent = await GuestAgent.connect(s.agentSocket, { timeoutMs: 10_000 });
      try {
        const r = await agent.exec(cmd.map(shellQuote).join(' '), {
          timeoutMs: Number(opts.timeout) * 1000,
        });
        io.out(r.output.endsWith('\n') || r.output === '' ? r.output : r.output + '\n');
        io.setExitCode?.(r.code);
      } finally {
        agent.close();
      }
    });
}
