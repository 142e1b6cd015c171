// `bindery sidecar`: the KubeVirt hook sidecar of a network binding (gRPC on a unix socket) until Shutdown or SIGTERM.
//
// How the sidecar learns its registration: KubeVirt tells a binding sidecar only the plugin's
// name (env NETWORK_BINDING_PLUGIN_NAME), not its KubeVirt CR entry. The rest is the sidecar
// image's own configuration, so it comes from flags: `--attachment passt|tap|managedTap`
// (default passt, the domainAttachmentType the CR registers, or passt for the passt sidecar) and
// `--vhost-user` for passt's vhost-user form. The deployment's sidecar image sets them to match
// the CR entry it ships with.
import { Option, type Command } from 'commander';
import { pino } from 'pino';
import { UsageError } from '../../errors.js';
import type { CliIo } from '../main.js';
import type { HookAttachment } from '../../render/domain-hook.js';
import {
  BINDING_ENV,
  DEFAULT_BINDING,
  DEFAULT_HOOKS_DIR,
  SIDECAR_NAME,
  startSidecar,
} from '../../runner/sidecar.js';

interface SidecarCliOpts {
  socketDir: string;
  socketName?: string;
  binding?: string;
  attachment: HookAttachment;
  vhostUser?: boolean;
  name: string;
  logLevel: string;
}

/** Binding names become file names and log fields: a DNS-label-like name only. */
const BINDING_RE = /^[a-zA-Z0-9]([-a-zA-Z0-9_.]{0,61}[a-zA-Z0-9])?$/;

/**
 * Runs the sidecar until it is shut down.
 * @param opts - parsed options
 * @param io - where logs go (stderr)
 * @param env - the environment (the binding name's default)
 * @param onSignal - registers the stop handler for SIGTERM/SIGINT; returns its remover
 */
export async function runSidecar(
  opts: SidecarCliOpts,
  io: CliIo,
  env: NodeJS.ProcessEnv,
  onSignal: (fn: () => void) => () => void,
): Promise<void> {
  const binding = opts.binding ?? (env[BINDING_ENV] || DEFAULT_BINDING);
  if (!BINDING_RE.test(binding))
    throw new UsageError(`--binding: "${binding}" is not a binding plugin name`);
  if (opts.vhostUser && opts.attachment !== 'passt')
    throw new UsageError('--vhost-user applies to --attachment passt only');
  const socketName = opts.socketName ?? `bindery-${binding}.sock`;
  if (socketName.includes('/') || socketName === '' || socketName.startsWith('.'))
    throw new UsageError(`--socket-name: "${socketName}" is not a file name`);
  const log = pino(
    {
      level: opts.logLevel,
      base: { component: 'bindery-sidecar', binding },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    { write: (line: string) => io.err(line) },
  );
  // The handlers exist before the socket does: whoever sees "sidecar serving" may signal at once.
  let sidecar: Awaited<ReturnType<typeof startSidecar>> | undefined;
  let stopAsked = false;
  const off = onSignal(() => {
    log.info('signal: stopping');
    if (sidecar) void sidecar.stop();
    else stopAsked = true;
  });
  try {
    sidecar = await startSidecar(
      {
        socketDir: opts.socketDir,
        socketName,
        binding,
        attachment: opts.attachment,
        vhostUser: opts.vhostUser === true,
        name: opts.name,
      },
      log,
    );
    if (stopAsked) void sidecar.stop();
    await sidecar.closed;
  } finally {
    off();
  }
}

/** Adds `bindery sidecar` to the program. */
export function registerSidecar(program: Command, io: CliIo): void {
  program
    .command('sidecar')
    .description(
      "KubeVirt hook sidecar of a network binding: gRPC on a unix socket, adds the binding's interfaces to the domain",
    )
    .option('--socket-dir <dir>', 'directory of the hook socket', DEFAULT_HOOKS_DIR)
    .option('--socket-name <name>', 'socket file name (default bindery-<binding>.sock)')
    .option('--binding <name>', `binding plugin name (default $${BINDING_ENV}, else passt)`)
    .addOption(
      new Option('--attachment <kind>', "how the binding's vNIC reaches the domain")
        .choices(['passt', 'tap', 'managedTap'])
        .default('passt'),
    )
    .option('--vhost-user', "passt: <interface type='vhostuser'> with shared memfd memory")
    .option('--name <name>', 'the name Info reports', SIDECAR_NAME)
    .addOption(
      new Option('--log-level <level>', 'log level')
        .choices(['error', 'warn', 'info', 'debug'])
        .default('info'),
    )
    .action(async (opts: SidecarCliOpts) => {
      await runSidecar(opts, io, process.env, (fn) => {
        const h = (): void => fn();
        process.once('SIGTERM', h);
        process.once('SIGINT', h);
        return () => {
          process.off('SIGTERM', h);
          process.off('SIGINT', h);
        };
      });
    });
}
