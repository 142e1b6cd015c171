// `bindery repair-helper --socket PATH`: the privileged TCP_REPAIR helper of flow hand-over (runner/repair-helper.ts).
import type { Command } from 'commander';
import type { CliIo } from '../main.js';
import { UsageError } from '../../errors.js';
import { runRepairHelper } from '../../runner/repair-helper.js';

function parseOwner(v: string | undefined): { uid: number; gid: number } | undefined {
  if (v === undefined) return undefined;
  const m = /^(\d+)(?::(\d+))?$/.exec(v);
  if (!m) throw new UsageError(`--owner takes UID[:GID], not ${v}`);
  const uid = Number(m[1]);
  return { uid, gid: m[2] !== undefined ? Number(m[2]) : uid };
}

/** Adds `bindery repair-helper` to the program. */
export function registerRepairHelper(program: Command, io: CliIo): void {
  program
    .command('repair-helper')
    .description(
      'set TCP_REPAIR on sockets a translator sends (flow hand-over; needs CAP_NET_ADMIN), until SIGTERM',
    )
    .requiredOption(
      '--socket <path>',
      "the unix socket to listen on (the translator's --repair-path)",
    )
    .option('--owner <uid[:gid]>', "owner of the socket file (the translator's user)")
    .action(async (o: { socket: string; owner?: string }) => {
      const owner = parseOwner(o.owner);
      const ac = new AbortController();
      const stop = () => ac.abort();
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
      try {
        await runRepairHelper({
          socketPath: o.socket,
          ...(owner ? { owner } : {}),
          log: (m) => io.err(`${m}\n`),
          signal: ac.signal,
        });
      } finally {
        process.off('SIGTERM', stop);
        process.off('SIGINT', stop);
      }
    });
}
