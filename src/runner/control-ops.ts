// The operations a running translator answers on its control socket, registered in one place.
//
// Each group of operations lives beside the state it touches and is registered here with the
// context it needs; `bindery forwards`, `bindery flows`, `bindery migrate` and the tests are the
// clients (runner/control.ts `controlRequest`).
import { binderyVersion } from '../version.js';
import type { PasstOptions } from '../usernet/conf.js';
import type { PasstDaemon } from '../usernet/passt.js';
import type { Logger } from 'pino';
import type { ControlServer } from './control.js';
import type { FlowTranslators } from './passt.js';
import type { SwitchableLink } from '../usernet/link/switchable.js';
import { registerMigrateOps } from './migrate-ops.js';
import type { CaptureManager } from './capture.js';
import { registerObserveOps } from './observe-ops.js';
import { registerForwardOps } from './forward-ops.js';
import { registerMemoryOps } from './memory-ops.js';

/** What the operations may reach in a serving translator. */
export interface ControlContext {
  readonly opts: PasstOptions;
  readonly daemon: PasstDaemon;
  /** The L4 translators (undefined until the daemon started them). */
  translators(): FlowTranslators | undefined;
  readonly logger: Logger;
  readonly pid: number;
  /** The --tap link, which a hand-over detaches and attaches (runner/migrate-ops.ts). */
  readonly guestLink?: SwitchableLink;
  /** The packet capture (capture.* operations); undefined: those operations are not offered. */
  readonly capture?: CaptureManager;
  /** The guest link's own counters (vhost-user: per-queue frames), shown by `counters`. */
  linkCounters?(): unknown;
  /** With --threads: shard 0's link counters and the worker shards' counters (runner/shards.ts). */
  shards?(): Promise<unknown>;
}

/**
 * Registers every control operation on `server`.
 *
 * Base operations: `ping` → `{ version, pid, protocol }`, `ops` → the operation names,
 * `counters` → the daemon, TCP translator, flow-table, (vhost-user) guest link and (--threads)
 * shard counters.
 */
export function registerControlOps(server: ControlServer, ctx: ControlContext): void {
  server.handle('ping', () => ({ version: binderyVersion(), pid: ctx.pid }));
  server.handle('ops', () => server.operations);
  server.handle('counters', async () => {
    const t = ctx.translators();
    return {
      daemon: ctx.daemon.counters,
      services: ctx.daemon.serviceCounters,
      tcp: t?.tcpTranslator.counters,
      flows: { active: ctx.daemon.table.size, ...ctx.daemon.table.counters },
      control: server.counters,
      ...(ctx.linkCounters ? { link: ctx.linkCounters() } : {}),
      ...(ctx.shards ? { shards: await ctx.shards() } : {}),
    };
  });
  registerMigrateOps(server, ctx);
  registerObserveOps(server, ctx);
  registerForwardOps(server, ctx);
  registerMemoryOps(server, ctx);
}
