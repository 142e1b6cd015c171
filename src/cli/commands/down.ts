// `bindery down VM…` / `--all`: stops what `bindery up` started (QEMU, passt, address servers, dnsmasq, the HTTP server) and removes its namespaces, temp files and state.
import type { Command } from 'commander';
import type { CliIo } from '../main.js';
import { UsageError } from '../../errors.js';
import { downAll, downVm } from '../../up/run.js';
import { slug } from '../../up/names.js';
import { DEFAULT_UP_STATE_DIR } from '../../up/state.js';

/** Adds `bindery down [VM…] [--all] [--state-dir D]`. */
export function registerDown(program: Command, io: CliIo): void {
  program
    .command('down')
    .description('stop VMs `bindery up` left running (or a crashed run left behind) and clean up')
    .argument('[vms...]', 'VM names')
    .option('--all', 'every run in the state directory')
    .option('--state-dir <dir>', 'where runs keep their state', DEFAULT_UP_STATE_DIR)
    .action(async (vms: string[], opts: { all?: boolean; stateDir: string }) => {
      if (opts.all !== true && vms.length === 0)
        throw new UsageError('down: name a VM or give --all');
      if (opts.all === true) {
        const r = await downAll(opts.stateDir);
        for (const w of r.warnings) io.err(`bindery: warning: ${w}\n`);
        io.out(r.vms.length > 0 ? `down: ${r.vms.join(', ')}\n` : 'down: nothing up\n');
        return;
      }
      for (const vm of vms) {
        const r = await downVm(opts.stateDir, slug(vm));
        for (const w of r.warnings) io.err(`bindery: warning: ${w}\n`);
        io.out(r.wasUp ? `down: ${vm}\n` : `down: ${vm} was not up\n`);
      }
    });
}
