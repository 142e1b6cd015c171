// `bindery forwards PATH` and `bindery fwd-rules up|down`: runtime forwards over the control socket, and the all-ports rule of a pod namespace.
import type { Command } from 'commander';
import type { CliIo } from '../main.js';
import { UsageError } from '../../errors.js';
import { controlRequest } from '../../runner/control.js';
import { fwdRulesDown, fwdRulesUp } from '../../runner/fwd-rules.js';
import { parsePortSpec } from '../../usernet/fwd/portspec.js';

const collect = (v: string, prev: string[]) => [...prev, v];

interface ForwardsOpts {
  add?: boolean;
  delete?: boolean;
  show?: boolean;
  clear?: boolean;
  tcpPorts: string[];
  udpPorts: string[];
  json?: boolean;
}

function checkSpecs(texts: readonly string[]): void {
  for (const t of texts) {
    const r = parsePortSpec(t);
    if (!r.ok) throw new UsageError(r.error);
  }
}

/** What forwards.* answer. */
interface Shown {
  tcp: string[];
  udp: string[];
  sockets: { tcp: number; udp: number };
}

/** Adds `bindery forwards` and `bindery fwd-rules`. */
export function registerForwards(program: Command, io: CliIo): void {
  program
    .command('forwards')
    .description("show or change a running translator's -t/-u forwards through its control socket")
    .argument('<path>', 'the control socket (-c/--conf-path of bindery passt)')
    .option('--add', 'add the -t/-u specs')
    .option('--delete', 'remove the -t/-u specs (as shown by --show)')
    .option('--show', 'print the forwards (the default)')
    .option('--clear', 'remove every forward (of -t and/or -u when given alone: `-t none`)')
    .option('-t, --tcp-ports <spec>', 'a TCP port spec, passt grammar (repeatable)', collect, [])
    .option('-u, --udp-ports <spec>', 'a UDP port spec, passt grammar (repeatable)', collect, [])
    .option('--json', 'print the answer as JSON')
    .action(async (path: string, o: ForwardsOpts) => {
      const actions = (['add', 'delete', 'show', 'clear'] as const).filter((a) => o[a] === true);
      if (actions.length > 1)
        throw new UsageError(`forwards: give one of --add, --delete, --show, --clear`);
      const action = actions[0] ?? 'show';
      checkSpecs([...o.tcpPorts, ...o.udpPorts]);
      const specs = {
        ...(o.tcpPorts.length > 0 ? { tcp: o.tcpPorts } : {}),
        ...(o.udpPorts.length > 0 ? { udp: o.udpPorts } : {}),
      };
      if ((action === 'add' || action === 'delete') && o.tcpPorts.length + o.udpPorts.length === 0)
        throw new UsageError(`forwards: --${action} needs -t SPEC or -u SPEC`);
      if (action === 'show' && o.tcpPorts.length + o.udpPorts.length > 0)
        throw new UsageError('forwards: --show takes no -t/-u (did you mean --add?)');
      const args =
        action === 'clear'
          ? {
              ...(o.tcpPorts.length > 0 ? { tcp: true } : {}),
              ...(o.udpPorts.length > 0 ? { udp: true } : {}),
            }
          : specs;
      const r = (await controlRequest(path, `forwards.${action}`, args)) as Shown;
      if (o.json === true) {
        io.out(JSON.stringify(r) + '\n');
        return;
      }
      io.out(
        `tcp: ${r.tcp.join(' ') || 'none'}\nudp: ${r.udp.join(' ') || 'none'}\nsockets: ${r.sockets.tcp} tcp, ${r.sockets.udp} udp\n`,
      );
    });

  program
    .command('fwd-rules')
    .description(
      'install (up) or remove (down) the all-ports nftables rule in a pod network namespace (needs CAP_NET_ADMIN there)',
    )
    .argument('<action>', 'up or down')
    .requiredOption('--netns <ns>', 'the namespace: a name under /run/netns or a path')
    .option('-t, --tcp-ports <spec>', 'a TCP port spec, passt grammar (repeatable)', collect, [])
    .option('-u, --udp-ports <spec>', 'a UDP port spec, passt grammar (repeatable)', collect, [])
    .option('--tcp-listen <port>', 'the translator-side TCP port (default 47998)')
    .option('--udp-listen <port>', 'the translator-side UDP port (default 47998)')
    .option(
      '--marker-dir <dir>',
      'where the translator finds the marker (default /run/bindery/fwd)',
    )
    .action(
      async (
        action: string,
        o: {
          netns: string;
          tcpPorts: string[];
          udpPorts: string[];
          tcpListen?: string;
          udpListen?: string;
          markerDir?: string;
        },
      ) => {
        if (action !== 'up' && action !== 'down')
          throw new UsageError(`fwd-rules: action must be up or down, not '${action}'`);
        const dir = o.markerDir ?? process.env['BINDERY_FWD_DIR'];
        if (action === 'down') {
          await fwdRulesDown(o.netns, dir);
          io.out(`fwd-rules: removed from ${o.netns}\n`);
          return;
        }
        const port = (v: string | undefined, what: string) => {
          if (v === undefined) return undefined;
          if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 65535)
            throw new UsageError(`fwd-rules: ${what} must be a port, not '${v}'`);
          return Number(v);
        };
        const parse = (texts: string[]) =>
          texts
            .map((text) => {
              const r = parsePortSpec(text);
              if (!r.ok) throw new UsageError(r.error);
              return { text, spec: r.spec };
            })
            .filter((t) => t.spec.mode !== 'none');
        const tcp = parse(o.tcpPorts);
        const udp = parse(o.udpPorts);
        if (tcp.length + udp.length === 0)
          throw new UsageError('fwd-rules: up needs -t SPEC and/or -u SPEC');
        const tcpPort = port(o.tcpListen, '--tcp-listen');
        const udpPort = port(o.udpListen, '--udp-listen');
        const marker = await fwdRulesUp({
          netns: o.netns,
          tcp,
          udp,
          ...(tcpPort !== undefined ? { tcpPort } : {}),
          ...(udpPort !== undefined ? { udpPort } : {}),
          ...(dir !== undefined ? { dir } : {}),
        });
        io.out(`fwd-rules: installed in ${o.netns} (marker ${marker})\n`);
      },
    );
}
