// Hands every established guest TCP connection over from one translator to another in a pod with the same IP (live migration with a sticky pod IP).
//
// The source exports (migrate.export: stops serving guest TCP, dumps the flows through the
// repair helper, detaches its tap), the target imports (migrate.import: restores the host
// sockets with TCP_REPAIR, rebuilds the flows, attaches the tap). The state travels in a file
// of a private temporary directory (a state can be larger than a control-socket line).
// The caller's part: start the target (with --repair-path, and --migrate-target when the tap is
// handed over); before calling, stop the pod address from reaching the source (withdraw its
// route): a socket in repair mode still acknowledges what arrives, and that data would be lost
// (usernet/flow/tcp/migrate.ts); after it returns, route the address to the target. UDP and ICMP flows do
// not move; flows in a handshake or closing are dropped (usernet/flow/tcp/migrate.ts).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BinderyError, ErrorCode } from '../errors.js';
import { controlRequest } from './control.js';
import type { ExportAnswer, ImportAnswer } from './migrate-ops.js';

export interface HandoverOptions {
  sourceControl: string;
  targetControl: string;
  log?: (m: string) => void;
}

export interface HandoverReport {
  flows: number;
  bytesQueued: number;
  freezeMs: number;
}

/** Control requests of a hand-over may move megabytes through the kernel: generous deadlines. */
const STEP_TIMEOUT_MS = 60_000;

/**
 * Moves the TCP flows of the translator at `sourceControl` to the one at `targetControl`.
 *
 * @returns the flows moved, the queued bytes they carried and how long guest TCP was frozen
 *   (from the export request to the import's answer).
 * @throws BinderyError (Migrate) when the export or the import fails; after a failed import
 *   the flows are lost (the source has already let go of them).
 */
export async function handOverTcp(o: HandoverOptions): Promise<HandoverReport> {
  const log = o.log ?? (() => {});
  const dir = await mkdtemp(join(tmpdir(), 'bindery-handover-'));
  const file = join(dir, 'state.json');
  try {
    const t0 = performance.now();
    const ex = (await controlRequest(
      o.sourceControl,
      'migrate.export',
      { file },
      { timeoutMs: STEP_TIMEOUT_MS },
    )) as ExportAnswer;
    log(
      `exported ${ex.flows} TCP flows (${ex.bytesQueued} bytes queued, ${ex.dropped} dropped) from ${o.sourceControl}`,
    );
    const im = (await controlRequest(
      o.targetControl,
      'migrate.import',
      { file },
      { timeoutMs: STEP_TIMEOUT_MS },
    )) as ImportAnswer;
    const freezeMs = performance.now() - t0;
    log(`imported ${im.imported} TCP flows into ${o.targetControl} (${freezeMs.toFixed(1)} ms)`);
    for (const f of im.failed) log(`not restored: ${f}`);
    if (im.imported < ex.flows && im.failed.length > 0)
      throw new BinderyError(
        ErrorCode.Migrate,
        `${ex.flows - im.imported} of ${ex.flows} TCP flows were not restored: ${im.failed.join('; ')}`,
      );
    return { flows: im.imported, bytesQueued: ex.bytesQueued, freezeMs };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
