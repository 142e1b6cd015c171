// `bindery status`: the VMs `bindery up` left running, one table row per interface.
import type { Command } from 'commander';
import type { CliIo } from '../main.js';
import { listRuns, loadRunState, DEFAULT_UP_STATE_DIR, type RunState } from '../../up/state.js';
import { isOurs } from '../../up/sys.js';
import { statusTable } from '../../up/table.js';
import { rowsOf } from './up.js';

/** Whether the run's QEMU still runs. */
export function qemuAlive(s: RunState): boolean {
  const q = s.processes.find((p) => p.role === 'qemu');
  return q !== undefined && isOurs(q.pid, q.match);
}

/** Adds `bindery status [--json] [--state-dir D]`. */
export function registerStatus(program: Command, io: CliIo): void {
  program
    .command('status')
    .description('list the VMs `bindery up` left running')
    .option('--json', 'print the runs as JSON')
    .option('--state-dir <dir>', 'where runs keep their state', DEFAULT_UP_STATE_DIR)
    .action(async (opts: { json?: boolean; stateDir: string }) => {
      const runs: Array<RunState & { running: boolean }> = [];
      for (const vm of await listRuns(opts.stateDir)) {
        const s = await loadRunState(opts.stateDir, vm);
        if (s) runs.push({ ...s, running: s.ready && qemuAlive(s) });
      }
      if (opts.json === true) {
        io.out(JSON.stringify({ vms: runs }, null, 2) + '\n');
        return;
      }
      if (runs.length === 0) {
        io.out('no VMs up\n');
        return;
      }
      for (const r of runs.filter((x) => !x.running))
        io.out(
          `${r.vm}: ${r.ready ? 'QEMU has exited' : 'incomplete (a failed or running up)'}; bindery down ${r.vm} cleans up\n`,
        );
      io.out(statusTable(runs.filter((x) => x.running).flatMap(rowsOf)));
    });
}
