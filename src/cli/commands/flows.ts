// `bindery flows PATH [--json] [--proto tcp|udp|icmp]`: the live flow table of a running translator, through its control socket, as an ss-like table or JSON.
import { Option, type Command } from 'commander';
import type { CliIo } from '../main.js';
import { controlRequest } from '../../runner/control.js';
import { BinderyError, ErrorCode } from '../../errors.js';
import { formatFlows, type FlowRow } from '../../usernet/flow/view.js';

/** Adds `bindery flows`. */
export function registerFlows(program: Command, io: CliIo): void {
  program
    .command('flows')
    .description("list a running translator's flows (its -c/--conf-path control socket)")
    .argument('<path>', 'the control socket')
    .option('--json', 'print the rows as JSON (one object: {"flows": [...]})')
    .addOption(
      new Option('--proto <proto>', 'only flows of this protocol').choices(['tcp', 'udp', 'icmp']),
    )
    .action(async (path: string, opts: { json?: boolean; proto?: string }) => {
      const r = await controlRequest(
        path,
        'flows.list',
        opts.proto !== undefined ? { proto: opts.proto } : {},
      );
      const flows = (r as { flows?: unknown } | null)?.flows;
      if (!Array.isArray(flows))
        throw new BinderyError(ErrorCode.Control, `control ${path}: flows.list answered no flows`);
      if (opts.json === true) io.out(`${JSON.stringify({ flows }, null, 2)}\n`);
      else io.out(formatFlows(flows as FlowRow[]));
    });
}
