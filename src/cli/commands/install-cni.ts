// `bindery install-cni`: what the deployment's DaemonSet runs on each node to put bindery-cni into the host's CNI bin dir.
import type { Command } from 'commander';
import type { CliIo } from '../main.js';
import { binderyVersion } from '../../version.js';
import { IMAGE_RUNTIME_DIR, installCni } from '../../runner/install-cni.js';

interface InstallCniCliOpts {
  from: string;
  to: string;
  stay?: boolean;
}

/** Adds `bindery install-cni [--from DIR] [--to DIR] [--stay]` to the program. */
export function registerInstallCni(program: Command, io: CliIo): void {
  program
    .command('install-cni')
    .description(
      'copy bindery-cni with its own Node runtime into a CNI bin dir (the DaemonSet of deploy/ runs this on each node)',
    )
    .option('--from <dir>', 'the runtime directory (node, lib/, app/) to copy', IMAGE_RUNTIME_DIR)
    .option('--to <dir>', "the CNI bin dir (the host's, mounted)", '/opt/cni/bin')
    .option(
      '--stay',
      'after installing, wait for SIGTERM (a DaemonSet container must keep running)',
    )
    .action(async (opts: InstallCniCliOpts) => {
      const r = await installCni({ from: opts.from, to: opts.to, version: binderyVersion() });
      io.err(
        JSON.stringify({
          msg: 'installed bindery-cni',
          launcher: r.launcher,
          runtime: r.runtime,
          loader: r.loader,
          removed: r.removed,
        }) + '\n',
      );
      if (opts.stay) {
        // A DaemonSet pod must keep running; as PID 1 only a handled signal ends it.
        await new Promise<void>((resolve) => {
          const keep = setInterval(() => undefined, 1 << 30);
          const done = (): void => {
            clearInterval(keep);
            process.off('SIGTERM', done);
            process.off('SIGINT', done);
            resolve();
          };
          process.once('SIGTERM', done);
          process.once('SIGINT', done);
        });
      }
    });
}
