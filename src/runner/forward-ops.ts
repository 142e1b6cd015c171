// Runtime forwards on the control socket: forwards.show / add / delete / clear change -t/-u on a running translator.
//
// The translator's specs are held here as text in passt's grammar (formatPortSpec), in order;
// every change re-plans both protocols and the translators reconcile their sockets with the
// plan (flow/tcp applyForwards, flow/udp applyForwards): sockets of removed forwards close,
// new ones open, flows already open are not touched. A change that cannot be applied (e.g. a
// port already in use) is rolled back and answered with the error. Changes run one at a time.
import { BinderyError, ErrorCode } from '../errors.js';
import { formatPortSpec, parsePortSpec, type PortSpec } from '../usernet/fwd/portspec.js';
import type { ControlServer } from './control.js';
import type { ControlContext } from './control-ops.js';

type Proto = 'tcp' | 'udp';

/** What forwards.* take: spec texts per protocol (add, delete) or which protocols (clear). */
interface ForwardArgs {
  readonly tcp?: readonly string[];
  readonly udp?: readonly string[];
}

function specsOf(args: unknown, proto: Proto): PortSpec[] {
  const a = (args ?? {}) as ForwardArgs;
  const v = a[proto];
  if (v === undefined) return [];
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string'))
    throw new BinderyError(ErrorCode.Control, `${proto} must be a list of port specs`);
  return v.map((t) => {
    const r = parsePortSpec(t);
    if (!r.ok) throw new BinderyError(ErrorCode.Control, r.error);
    return r.spec;
  });
}

/**
 * Registers forwards.show, forwards.add, forwards.delete and forwards.clear.
 *
 * - show → `{ tcp: string[], udp: string[], sockets: { tcp, udp } }`
 * - add `{ tcp?: string[], udp?: string[] }` → show's answer; appends the specs (later specs
 *   win per port, as on the command line)
 * - delete `{ tcp?, udp? }` → show's answer; removes specs equal to the given ones (error if
 *   one is not there)
 * - clear `{ tcp?: true, udp?: true }` (neither: both) → show's answer
 */
export function registerForwardOps(server: ControlServer, ctx: ControlContext): void {
  const state: Record<Proto, PortSpec[]> = {
    tcp: ctx.opts.tcpPorts.filter((s) => s.mode !== 'none'),
    udp: ctx.opts.udpPorts.filter((s) => s.mode !== 'none'),
  };
  let queue: Promise<unknown> = Promise.resolve();
  const show = () => {
    const t = ctx.translators();
    return {
      tcp: state.tcp.map(formatPortSpec),
      udp: state.udp.map(formatPortSpec),
      sockets: { tcp: t?.tcpTranslator.listeners ?? 0, udp: t?.udpTranslator.sockets ?? 0 },
    };
  };
  const change = (fn: (next: Record<Proto, PortSpec[]>) => void) => {
    const run = async () => {
      const t = ctx.translators();
      if (!t) throw new BinderyError(ErrorCode.Control, 'the translator has not started yet');
      const next = { tcp: [...state.tcp], udp: [...state.udp] };
      fn(next);
      try {
        await t.setForwards(next.tcp, next.udp);
      } catch (e) {
        await t.setForwards(state.tcp, state.udp).catch(() => {});
        throw e instanceof BinderyError
          ? e
          : new BinderyError(ErrorCode.Control, (e as Error).message, { cause: e });
      }
      state.tcp = next.tcp;
      state.udp = next.udp;
      ctx.logger.info(
        `forwards now: -t ${state.tcp.map(formatPortSpec).join(' ') || 'none'} -u ${state.udp.map(formatPortSpec).join(' ') || 'none'}`,
      );
      return show();
    };
    const p = queue.then(run, run);
    queue = p.catch(() => {});
    return p;
  };
  server.handle('forwards.show', () => show());
  server.handle('forwards.add', (args) => {
    const add = { tcp: specsOf(args, 'tcp'), udp: specsOf(args, 'udp') };
    return change((next) => {
      next.tcp.push(...add.tcp);
      next.udp.push(...add.udp);
    });
  });
  server.handle('forwards.delete', (args) => {
    const del = { tcp: specsOf(args, 'tcp'), udp: specsOf(args, 'udp') };
    return change((next) => {
      for (const proto of ['tcp', 'udp'] as const)
        for (const d of del[proto]) {
          const text = formatPortSpec(d);
          const i = next[proto].findIndex((s) => formatPortSpec(s) === text);
          if (i < 0)
            throw new BinderyError(
              ErrorCode.Control,
              `no ${proto} forward '${text}' (have: ${next[proto].map(formatPortSpec).join(' ') || 'none'})`,
            );
          next[proto].splice(i, 1);
        }
    });
  });
  server.handle('forwards.clear', (args) => {
    const a = (args ?? {}) as { tcp?: unknown; udp?: unknown };
    const both = a.tcp !== true && a.udp !== true;
    return change((next) => {
      if (both || a.tcp === true) next.tcp = [];
      if (both || a.udp === true) next.udp = [];
    });
  });
}
