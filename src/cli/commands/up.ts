// `bindery up FILE…`: validate, plan, build node and pod namespaces, bind every interface, boot the bundled guest, print the status table; `--check` proves the network and tears down.
import { Option, type Command } from 'commander';
import type { CliIo } from '../main.js';
import { loadPlans, type LoadedPlan } from '../plan-input.js';
import { guessPlatform } from './pod-net.js';
import { BinderyError, ErrorCode } from '../../errors.js';
import { GuestAgent } from '../../guest/agent.js';
import { interfaceChecks, overall, type Verdict } from '../../up/checks.js';
import { Progress } from '../../up/progress.js';
import { downVm, upVm, vmKey } from '../../up/run.js';
import { DEFAULT_UP_STATE_DIR, type RunState } from '../../up/state.js';
import { tryRun } from '../../up/sys.js';
import { statusTable, type InterfaceRow } from '../../up/table.js';

interface UpOpts {
  for?: 'kubevirt' | 'virtink';
  kubevirtCr?: string;
  kubevirtVersion?: string;
  check?: boolean;
  json?: boolean;
  stateDir: string;
  accel: 'tcg' | 'kvm' | 'auto';
}

/** The status-table rows of a run. */
export function rowsOf(s: RunState): InterfaceRow[] {
  return s.interfaces.map((i) => ({
    vm: s.vm,
    name: i.guestIf !== undefined ? `${i.name} (${i.guestIf})` : i.name,
    binding: i.binding,
    ...(i.ipv4 !== undefined ? { ipv4: i.ipv4 } : {}),
    ...(i.ipv6Addr !== undefined ? { ipv6: i.ipv6Addr } : {}),
    mac: i.mac,
    ports: i.ports,
    pid: i.pid,
    reach: i.reach,
  }));
}

/** One check's result. */
interface CheckResult extends Verdict {
  readonly id: string;
  readonly title: string;
}

/** Runs the `--check` list of a ready run; each check gets a few tries (the guest may still be settling). */
async function runChecks(s: RunState): Promise<CheckResult[]> {
  const agent = await GuestAgent.connect(s.agentSocket!, { timeoutMs: 30_000 });
  const results: CheckResult[] = [];
  try {
    for (const i of s.interfaces) {
      if (i.expect4 === undefined || i.gateway4 === undefined) continue;
      for (const c of interfaceChecks({
        name: i.name,
        binding: i.binding,
        mac: i.mac,
        expect4: i.expect4,
        gateway4: i.gateway4,
        ...(i.ipv6 ? { ipv6: i.ipv6 } : {}),
        ...(i.inboundUrl !== undefined ? { inboundUrl: i.inboundUrl } : {}),
      })) {
        let v: Verdict = { ok: false, detail: 'not run' };
        for (let attempt = 0; attempt < 3 && !v.ok; attempt++) {
          if (attempt > 0) await new Promise((r) => setTimeout(r, 2000));
          if (c.where === 'guest') {
            const r = await agent.exec(c.cmd, { timeoutMs: 30_000 }).catch((e: unknown) => ({
              code: -1,
              output: e instanceof Error ? e.message : String(e),
            }));
            v = c.judge(r);
          } else {
            const r = await tryRun(c.argv, { netns: s.node, timeoutMs: 30_000 });
            v = c.judge({ code: r.code, output: r.stdout + r.stderr });
          }
        }
        results.push({ id: c.id, title: c.title, ...v });
      }
    }
  } finally {
    agent.close();
  }
  return results;
}

/**
 * Adds `bindery up FILE… [--for P] [--kubevirt-cr F] [--check] [--json] [--state-dir D]`.
 * @param program - the root command
 * @param io - where output goes
 */
export function registerUp(program: Command, io: CliIo): void {
  program
    .command('up')
    .description(
      'boot the VMs of KubeVirt/Virtink manifests with the network they ask for, on this machine (needs root)',
    )
    .argument('<files...>', 'manifests (YAML/JSON): VMs, the KubeVirt CR, NADs')
    .addOption(
      new Option('--for <platform>', 'control plane (default: from the manifests)').choices([
        'kubevirt',
        'virtink',
      ]),
    )
    .option('--kubevirt-cr <file>', 'the KubeVirt CR, or a JSON patch of it (binding plugins)')
    .option('--kubevirt-version <v>', 'KubeVirt release whose rules apply (v1.0–v1.9)')
    .option('--check', 'prove the network from inside the guest, print a verdict, tear down')
    .option('--json', 'print one JSON object at the end instead of progress and tables')
    .option('--state-dir <dir>', 'where runs keep their state', DEFAULT_UP_STATE_DIR)
    .addOption(
      new Option('--accel <accel>', 'QEMU accelerator (auto: kvm when /dev/kvm opens)')
        .choices(['tcg', 'kvm', 'auto'])
        .default('tcg'),
    )
    .action(async (files: string[], opts: UpOpts) => {
      const json = opts.json === true;
      const progress = new Progress({
        mode: json ? 'silent' : process.stdout.isTTY ? 'tty' : 'plain',
        write: (t) => io.out(t),
        now: () => performance.now(),
      });
      const ticker =
        process.stdout.isTTY && !json ? setInterval(() => progress.tick(), 250) : undefined;
      ticker?.unref();
      const made: RunState[] = [];
      const abort = new AbortController();
      // Ctrl-C: the running step stops at its next check or wait, `up` tears down what it made
      // (its in-memory state, newer than the file) and exits 130.
      const onSignal = (sig: NodeJS.Signals): void => {
        if (abort.signal.aborted) return;
        io.err(`bindery: ${sig}: tearing down\n`);
        abort.abort();
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      try {
        await upAndCheck();
      } catch (e) {
        if (!abort.signal.aborted) throw e;
        for (const s of made) await downVm(opts.stateDir, s.vm, s).catch(() => {});
        io.err('bindery: interrupted; everything up made is gone\n');
        io.setExitCode?.(130);
      } finally {
        if (ticker) clearInterval(ticker);
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }

      async function upAndCheck(): Promise<void> {
        progress.start('validate', files.join(' '));
        const platform = opts.for ?? (await guessPlatform(files));
        let plans: LoadedPlan[];
        try {
          plans = await loadPlans(
            files,
            {
              for: platform,
              naming: 'hashed',
              command: 'up',
              nothingDone: 'nothing created',
              ...(opts.kubevirtCr !== undefined ? { kubevirtCr: opts.kubevirtCr } : {}),
              ...(opts.kubevirtVersion !== undefined
                ? { kubevirtVersion: opts.kubevirtVersion }
                : {}),
            },
            io,
          );
        } catch (e) {
          progress.fail('validate');
          throw e;
        }
        progress.done('validate', platform);
        progress.start('plan');
        const keys = plans.map(vmKey);
        const dup = keys.find((k, i) => keys.indexOf(k) !== i);
        if (dup !== undefined) {
          progress.fail('plan');
          throw new BinderyError(
            ErrorCode.Up,
            `two VMs named ${dup}; bindery up keys runs by VM name`,
          );
        }
        progress.done('plan', plans.map((p) => `${p.plan.namespace}/${p.plan.vmName}`).join(', '));
        const states: RunState[] = [];
        for (const lp of plans) {
          const s = await upVm(lp, {
            stateRoot: opts.stateDir,
            progress,
            accel: opts.accel,
            signal: abort.signal,
            onState: (st) => made.push(st),
          });
          states.push(s);
        }
        const rows = states.flatMap(rowsOf);
        if (opts.check !== true) {
          if (json)
            io.out(
              JSON.stringify({ ok: true, steps: progress.summary(), vms: states }, null, 2) + '\n',
            );
          else
            io.out(
              '\n' +
                statusTable(rows) +
                `\nbindery exec VM -- CMD runs a command in the guest; bindery down VM stops it.\n`,
            );
          return;
        }
        if (!json) io.out('\n' + statusTable(rows) + '\n');
        const checks: Record<string, CheckResult[]> = {};
        try {
          for (const s of states) {
            if (abort.signal.aborted) throw new BinderyError(ErrorCode.Up, 'interrupted');
            checks[s.vm] = await runChecks(s);
            if (!json)
              for (const c of checks[s.vm]!)
                io.out(`${c.ok ? 'PASS' : 'FAIL'}  ${s.vm}: ${c.title} — ${c.detail}\n`);
          }
        } finally {
          for (const s of states) await downVm(opts.stateDir, s.vm);
        }
        const verdict = overall(Object.values(checks).flat());
        if (json)
          io.out(
            JSON.stringify(
              { ok: verdict.ok, steps: progress.summary(), vms: states, checks },
              null,
              2,
            ) + '\n',
          );
        else io.out(`${verdict.line}\n`);
        if (!verdict.ok) io.setExitCode?.(1);
      }
    });
}
