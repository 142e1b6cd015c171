// `bindery demo`: runs the namespace-guest demo (needs root for network namespaces).
import type { Command } from 'commander';
import type { CliIo } from '../main.js';
import { runDemo } from '../../runner/demo.js';

/** Adds `bindery demo` to the program. */
export function registerDemo(program: Command, io: CliIo): void {
  program
    .command('demo')
    .description('answer a guest in a network namespace over a tap: ARP, NDP and ping (root)')
    .action(async () => {
      const ok = await runDemo({ out: (t) => io.out(t) });
      io.setExitCode?.(ok ? 0 : 1);
    });
}
