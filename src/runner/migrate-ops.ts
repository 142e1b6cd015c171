// The hand-over operations of a translator's control socket: migrate.export (source) and migrate.import (target) of TCP flows.
//
// migrate.export `{ file?, detach? }`: stops serving guest TCP, exports every established flow
// (usernet/flow/tcp/migrate.ts, through the repair helper at --repair-path), detaches the tap
// (unless `detach: false`) so the target can attach it, and returns the state — inline as
// `state` (JSON, byte strings in base64), or, with `file`, written there (mode 0600; a state
// holds up to a few MB per flow, more than a control line takes) — with the counts.
// migrate.import `{ state } | { file }`: checks the whole state first (a malformed one changes
// nothing), adopts the guest's MAC, restores the flows, then attaches the tap if it was not
// (--migrate-target) and announces us to the guest (ARP/NDP, as at start).
// UDP and ICMP flows are not handed over.
import { readFile, writeFile } from 'node:fs/promises';
import { BinderyError, ErrorCode } from '../errors.js';
import { formatMac, parseMac } from '../wire/common.js';
import {
  decodeHandoverState,
  encodeHandoverState,
  HANDOVER_STATE_VERSION,
} from '../usernet/flow/tcp/migrate-state.js';
import { nativeTcpRepair, type TcpRepair } from '../usernet/host/repair.js';
import type { ControlServer } from './control.js';
import type { ControlContext } from './control-ops.js';

/** What migrate.export answers. */
export interface ExportAnswer {
  readonly flows: number;
  /** Bytes of queued data in the state (socket queues and the translator's own). */
  readonly bytesQueued: number;
  readonly dropped: number;
  readonly detached: boolean;
  readonly file?: string;
  readonly state?: unknown;
}

/** What migrate.import answers. */
export interface ImportAnswer {
  readonly imported: number;
  readonly failed: string[];
  readonly attached: boolean;
}

function argsObject(args: unknown): Record<string, unknown> {
  if (args === undefined || args === null) return {};
  if (typeof args !== 'object' || Array.isArray(args))
    throw new BinderyError(ErrorCode.Migrate, 'arguments must be an object');
  return args as Record<string, unknown>;
}

function optString(o: Record<string, unknown>, k: string): string | undefined {
  const v = o[k];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v === '')
    throw new BinderyError(ErrorCode.Migrate, `${k} must be a non-empty string`);
  return v;
}

/**
 * Registers migrate.export and migrate.import.
 *
 * @param repairOf - Makes the repair operations for a helper path (tests may replace it).
 */
export function registerMigrateOps(
  server: ControlServer,
  ctx: ControlContext,
  repairOf: (path: string) => TcpRepair = nativeTcpRepair,
): void {
  const repair = (): TcpRepair => {
    const p = ctx.opts.repairPath;
    if (p === undefined)
      throw new BinderyError(
        ErrorCode.Migrate,
        'no --repair-path: TCP flows cannot be handed over',
      );
    return repairOf(p);
  };
  const tcp = () => {
    // Shards 1… hold flows this thread cannot export or import (runner/shards.ts).
    if ((ctx.opts.threads ?? 1) > 1)
      throw new BinderyError(
        ErrorCode.Migrate,
        'flows cannot be handed over with --threads above 1',
      );
    const t = ctx.translators();
    if (!t) throw new BinderyError(ErrorCode.Migrate, 'the translators are not running');
    return t.tcpTranslator;
  };

  server.handle('migrate.export', async (args): Promise<ExportAnswer> => {
    const o = argsObject(args);
    const file = optString(o, 'file');
    if (o.detach !== undefined && typeof o.detach !== 'boolean')
      throw new BinderyError(ErrorCode.Migrate, 'detach must be a boolean');
    const r = repair();
    const t = tcp();
    const mac = ctx.daemon.guestMac;
    const t0 = performance.now();
    const res = t.exportFlows(r);
    const dumpMs = performance.now() - t0;
    const state = {
      version: HANDOVER_STATE_VERSION,
      guestMac: mac.every((b) => b === 0xff) ? null : formatMac(mac),
      flows: res.flows,
    };
    let bytesQueued = 0;
    for (const f of res.flows)
      bytesQueued += f.host.sendQueue.length + f.host.recvQueue.length + f.guest.pending.length;
    const json = encodeHandoverState(state);
    let detached = false;
    if (o.detach !== false && ctx.guestLink?.attached === true) {
      await ctx.guestLink.detach();
      detached = true;
    }
    if (file !== undefined) await writeFile(file, JSON.stringify(json), { mode: 0o600 });
    ctx.logger.info(
      `migrate.export: ${res.flows.length} TCP flows (${bytesQueued} bytes queued), ${res.dropped} dropped${detached ? ', tap detached' : ''}; dump ${dumpMs.toFixed(1)} ms, total ${(performance.now() - t0).toFixed(1)} ms`,
    );
    if (file !== undefined) {
      return { flows: res.flows.length, bytesQueued, dropped: res.dropped, detached, file };
    }
    return { flows: res.flows.length, bytesQueued, dropped: res.dropped, detached, state: json };
  });

  server.handle('migrate.import', async (args): Promise<ImportAnswer> => {
    const o = argsObject(args);
    const file = optString(o, 'file');
    const t0 = performance.now();
    let raw: unknown = o.state;
    if (file !== undefined) {
      if (raw !== undefined)
        throw new BinderyError(ErrorCode.Migrate, 'give either state or file, not both');
      try {
        raw = JSON.parse(await readFile(file, 'utf8'));
      } catch (e) {
        throw new BinderyError(ErrorCode.Migrate, `cannot read ${file}: ${(e as Error).message}`);
      }
    }
    const state = decodeHandoverState(raw);
    const r = state.flows.length > 0 ? repair() : undefined;
    const t = tcp();
    if (state.guestMac !== null) {
      const mac = parseMac(state.guestMac);
      if (mac) ctx.daemon.adoptGuestMac(mac);
    }
    const t1 = performance.now();
    const res = r ? t.importFlows(r, state.flows) : { imported: 0, failed: [] };
    const restoreMs = performance.now() - t1;
    let attached = false;
    if (ctx.guestLink && !ctx.guestLink.attached) {
      ctx.guestLink.attach();
      ctx.daemon.linkUp();
      attached = true;
    }
    ctx.logger.info(
      `migrate.import: ${res.imported} TCP flows restored, ${res.failed.length} failed${attached ? ', tap attached' : ''}; restore ${restoreMs.toFixed(1)} ms, total ${(performance.now() - t0).toFixed(1)} ms`,
    );
    for (const f of res.failed) ctx.logger.warn(`migrate.import: ${f}`);
    return { imported: res.imported, failed: res.failed, attached };
  });
}
