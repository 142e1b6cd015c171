// `bindery migrate VM [--keep-ip]`: live-migrates a VM `bindery up` left running into a new pod, with its binding's migration method, and reports the times.
import type { Command } from 'commander';
import type { CliIo } from '../main.js';
import { UsageError } from '../../errors.js';
import { MIGRATE_STEPS, migrateVm, type MigrateReport } from '../../up/migrate.js';
import type { MigrateStep } from '../../up/migrate-plan.js';
import { slug } from '../../up/names.js';
import { Progress } from '../../up/progress.js';
import { DEFAULT_UP_STATE_DIR } from '../../up/state.js';
import { renderTable } from '../../up/table.js';

const ms = (v: number | undefined): string => (v === undefined ? '-' : `${Math.round(v)} ms`);

/** The human summary of a migration. */
export function migrateSummary(r: MigrateReport): string {
  const lines = renderTable(
    ['', ''],
    [
      ['source pod', `${r.source.pod} (${r.source.podIPv4})`],
      ['target pod', `${r.target.pod} (${r.target.podIPv4}${r.keepIp ? ', kept' : ''})`],
      ['migration', ms(r.migrationMs)],
      ['VM stopped', ms(r.stopMs)],
      [
        'network downtime',
        r.networkDowntimeMs !== undefined
          ? `${ms(r.networkDowntimeMs)} (probe: ${r.probe?.answers ?? 0} answers from ${r.probe?.urls.join(', ') ?? ''})`
          : '- (not measured)',
      ],
      ['first answer after cont', ms(r.contToAnswerMs)],
      ['new address after cont', ms(r.addressMs)],
      ...(r.handover ?? []).map((h): [string, string] => [
        'TCP hand-over',
        `${h.flows} flows, ${h.bytesQueued} bytes queued, frozen ${ms(h.freezeMs)}`,
      ]),
    ],
  )
    .split('\n')
    .slice(1)
    .join('\n');
  const ifaces = renderTable(
    ['IFACE', 'METHOD', 'ACTION', 'GUEST IPV4 BEFORE', 'AFTER', 'NOTE'],
    r.interfaces.map((i) => [
      i.name,
      i.method ?? '-',
      i.action,
      i.ipv4Before ?? '-',
      i.ipv4After ?? '-',
      i.note,
    ]),
  );
  return `${lines}\n${ifaces}${r.warnings.map((w) => `warning: ${w}\n`).join('')}`;
}

/** Adds `bindery migrate VM [--keep-ip] [--json] [--state-dir D]`. */
export function registerMigrate(program: Command, io: CliIo): void {
  program
    .command('migrate')
    .description('live-migrate a VM `bindery up` left running into a new pod (needs root)')
    .argument('<vm>', 'the VM name')
    .option('--keep-ip', 'the target pod keeps the source pod IP (a sticky IP)')
    .option('--json', 'print one JSON object at the end instead of progress and a summary')
    .option('--timeout <s>', 'seconds the memory transfer may take', '180')
    .option('--state-dir <dir>', 'where runs keep their state', DEFAULT_UP_STATE_DIR)
    .action(
      async (
        vm: string,
        opts: { keepIp?: boolean; json?: boolean; timeout: string; stateDir: string },
      ) => {
        const json = opts.json === true;
        const timeout = Number(opts.timeout);
        if (!Number.isFinite(timeout) || timeout <= 0)
          throw new UsageError(`--timeout ${opts.timeout}: not a positive number`);
        const progress = new Progress<MigrateStep>(
          {
            mode: json ? 'silent' : process.stdout.isTTY ? 'tty' : 'plain',
            write: (t) => io.out(t),
            now: () => performance.now(),
          },
          MIGRATE_STEPS,
        );
        const ticker =
          process.stdout.isTTY && !json ? setInterval(() => progress.tick(), 250) : undefined;
        ticker?.unref();
        const abort = new AbortController();
        const onSignal = (): void => abort.abort();
        process.on('SIGINT', onSignal);
        process.on('SIGTERM', onSignal);
        try {
          const r = await migrateVm(slug(vm), {
            stateRoot: opts.stateDir,
            progress,
            keepIp: opts.keepIp === true,
            migrateTimeoutMs: timeout * 1000,
            signal: abort.signal,
          });
          if (json)
            io.out(JSON.stringify({ ok: true, steps: progress.summary(), ...r }, null, 2) + '\n');
          else io.out('\n' + migrateSummary(r));
        } finally {
          if (ticker) clearInterval(ticker);
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
        }
      },
    );
}
