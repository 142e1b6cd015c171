// Control operations that let operators see into a running translator: `flows.list` and `capture.start|stop|status`.
//
//   flows.list      {proto?: "tcp"|"udp"|"icmp"}                → {flows: FlowRow[]} (usernet/flow/view.ts)
//   capture.start   {path: "/abs/file.pcap", maxBytes?, maxFrames?} → CaptureStatus (runner/capture.ts)
//   capture.stop    {}                                          → CaptureStatus of the capture stopped
//   capture.status  {}                                          → CaptureStatus ({active:false} if none)
//
// Arguments are checked here; bad ones are answered with BINDERY_ERR_CONTROL naming the
// operation and the argument, and change nothing.
import { isAbsolute } from 'node:path';
import { BinderyError, ErrorCode } from '../errors.js';
import { flowRow, rowIsProto, type FlowProto, type FlowRow } from '../usernet/flow/view.js';
import type { ControlServer } from './control.js';
import type { ControlContext } from './control-ops.js';
import type { CaptureStatus } from './capture.js';

const PROTOS: readonly FlowProto[] = ['tcp', 'udp', 'icmp'];

function bad(op: string, message: string): BinderyError {
  return new BinderyError(ErrorCode.Control, `${op}: ${message}`);
}

/** The args as an object whose keys are all in `known`. */
function argsOf(op: string, args: unknown, known: readonly string[]): Record<string, unknown> {
  if (typeof args !== 'object' || args === null || Array.isArray(args))
    throw bad(op, 'args must be a JSON object');
  const a = args as Record<string, unknown>;
  for (const k of Object.keys(a))
    if (!known.includes(k))
      throw bad(op, `unknown argument "${k}" (known: ${known.join(', ') || 'none'})`);
  return a;
}

function positiveInt(op: string, a: Record<string, unknown>, k: string): number | undefined {
  const v = a[k];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0)
    throw bad(op, `"${k}" must be a positive integer`);
  return v;
}

const NONE: CaptureStatus = { active: false, frames: 0, bytes: 0, dropped: 0 };

/** Registers flows.list and, when the context has a capture, capture.*. */
export function registerObserveOps(server: ControlServer, ctx: ControlContext): void {
  server.handle('flows.list', (args) => {
    const a = argsOf('flows.list', args, ['proto']);
    const proto = a['proto'];
    if (proto !== undefined && !PROTOS.includes(proto as FlowProto))
      throw bad('flows.list', `"proto" must be one of ${PROTOS.join(', ')}`);
    const d = ctx.daemon;
    const now = d.now();
    const flows: FlowRow[] = [];
    for (const f of d.table.all()) {
      const r = flowRow(f, d.table.describe(f), now);
      if (proto === undefined || rowIsProto(r, proto as FlowProto)) flows.push(r);
    }
    return { flows };
  });
  const capture = ctx.capture;
  if (capture === undefined) return;
  server.handle('capture.start', async (args) => {
    const a = argsOf('capture.start', args, ['path', 'maxBytes', 'maxFrames']);
    const path = a['path'];
    if (typeof path !== 'string' || path === '' || path.includes('\0'))
      throw bad('capture.start', '"path" must be a file name');
    if (!isAbsolute(path))
      throw bad(
        'capture.start',
        `"path" must be absolute (the translator's directory is not yours)`,
      );
    const maxBytes = positiveInt('capture.start', a, 'maxBytes');
    const maxFrames = positiveInt('capture.start', a, 'maxFrames');
    const st = await capture.start({
      path,
      ...(maxBytes !== undefined ? { maxBytes } : {}),
      ...(maxFrames !== undefined ? { maxFrames } : {}),
    });
    ctx.logger.info(`capture started to ${path}`);
    return st;
  });
  server.handle('capture.stop', async (args) => {
    argsOf('capture.stop', args, []);
    const st = await capture.stop();
    if (st?.path !== undefined)
      ctx.logger.info(`capture to ${st.path} stopped: ${st.frames} frames, ${st.bytes} bytes`);
    return st ?? NONE;
  });
  server.handle('capture.status', (args) => {
    argsOf('capture.status', args, []);
    return capture.status() ?? NONE;
  });
}
