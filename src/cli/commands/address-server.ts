// `bindery address-server --config FILE [-f]`: the DHCPv4/DHCPv6/RA daemon of one in-pod bridge or tap (runner/address-server.ts).
import type { Command } from 'commander';
import type { CliIo } from '../main.js';
import { UsageError } from '../../errors.js';
import { runAddressServer } from '../../runner/address-server.js';
import { processEdge } from './passt.js';

/** Adds `bindery address-server` to the program. */
export function registerAddressServer(program: Command, io: CliIo): void {
  program
    .command('address-server')
    .description('the DHCPv4/DHCPv6/router-advertisement server of a pod bridge or tap')
    .option('--config <file>', 'the server configuration (JSON, written by pod-net)')
    .option('-f, --foreground', 'do not detach')
    .action(async (flags: { config?: string; foreground?: boolean }) => {
      if (flags.config === undefined) throw new UsageError('address-server: --config is required');
      io.setExitCode?.(
        await runAddressServer(flags.config, flags.foreground === true, processEdge(io)),
      );
    });
}
