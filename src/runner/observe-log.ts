// The translator's structured log lines about flows and guest misbehaviour: flow open/close at debug level, rate-limited warnings for bad guest frames.
//
// Flow lines come from the flow table's observer (installed only when debug is enabled, so a
// quieter log costs nothing per flow): `flow open` with the protocol, direction and both sides,
// `flow close` with the same plus bytes each way, duration and the close reason (the table's
// `closed`/`expired` and the owner's finer `why`: fin, guest-reset, host-reset, refused, idle,
// retries, keepalive, link-down, shutdown).
//
// Guest misbehaviour (malformed or truncated frames, bad checksums, unsupported EtherTypes or
// options, L4 protocols nobody handles) is logged as warnings of one line each, at most
// WARN_PER_MINUTE per kind per minute; the rest are counted and reported as `suppressed K`
// (runner/ratelimit.ts). The frame is summarised (EtherType, addresses, protocol) only for the
// lines actually written.
import type { Logger } from 'pino';
import type { FlowObserver } from '../usernet/flow/table.js';
import { flowRow, type FlowRow } from '../usernet/flow/view.js';
import type { GuestErrorKind } from '../usernet/passt.js';
import { formatIpv4, formatIpv6, formatMac } from '../wire/common.js';
import { WarnLimiter } from './ratelimit.js';

/** Warnings per kind per minute. */
export const WARN_PER_MINUTE = 10;

/** The fields of a flow's log lines that name it and its two sides. */
function sides(r: FlowRow): Record<string, unknown> {
  return {
    id: r.id,
    proto: r.protocol,
    dir: r.direction,
    guest: r.guest,
    guestPeer: r.guestPeer,
    host: r.host,
  };
}

/** The observer that logs each flow's open and close at debug level. */
export function flowLogObserver(logger: Logger, now: () => number): FlowObserver {
  return {
    opened(flow) {
      const r = flowRow(flow, { state: '' }, now());
      logger.debug(sides(r), 'flow open');
    },
    closed(flow, reason, why) {
      const r = flowRow(flow, { state: '' }, now());
      logger.debug(
        {
          ...sides(r),
          bytesFromGuest: r.bytesFromGuest,
          bytesToGuest: r.bytesToGuest,
          durationMs: r.ageMs,
          reason: why ?? reason,
        },
        'flow close',
      );
    },
  };
}

const WHAT: Readonly<Record<GuestErrorKind, string>> = {
  truncated: 'a truncated frame',
  malformed: 'a malformed frame',
  'bad-checksum': 'a frame with a bad checksum',
  unsupported: 'a frame with an unsupported protocol or option',
  unhandled: 'a frame of a protocol nothing handles',
};

/** A short description of a guest frame for a warning (never throws on any bytes). */
export function frameSummary(f: Uint8Array): Record<string, string | number> {
  const out: Record<string, string | number> = { len: f.length };
  if (f.length < 14) return out;
  out['src'] = formatMac(f.subarray(6, 12));
  let et = (f[12]! << 8) | f[13]!;
  let off = 14;
  if (et === 0x8100 && f.length >= 18) {
    et = (f[16]! << 8) | f[17]!;
    off = 18;
  }
  out['ethertype'] = `0x${et.toString(16).padStart(4, '0')}`;
  if (et === 0x0800 && f.length >= off + 20) {
    out['ipSrc'] = formatIpv4(f.subarray(off + 12, off + 16));
    out['ipDst'] = formatIpv4(f.subarray(off + 16, off + 20));
    out['proto'] = f[off + 9]!;
  } else if (et === 0x86dd && f.length >= off + 40) {
    out['ipSrc'] = formatIpv6(f.subarray(off + 8, off + 24));
    out['ipDst'] = formatIpv6(f.subarray(off + 24, off + 40));
    out['proto'] = f[off + 6]!;
  }
  return out;
}

/** The daemon's `onGuestError`: rate-limited warnings, and `due()` for the periodic summary. */
export interface GuestErrorReporter {
  report(kind: GuestErrorKind, frame: Uint8Array): void;
  /** Logs the summaries of windows that ended (call every so often). */
  due(): void;
}

/** A reporter that warns through `logger`, at most `perMinute` per kind per minute. */
export function guestErrorReporter(
  logger: Logger,
  now: () => number,
  perMinute = WARN_PER_MINUTE,
): GuestErrorReporter {
  const lim = new WarnLimiter(perMinute, 60_000);
  const summary = (kind: string, n: number): void =>
    logger.warn(
      { kind, suppressed: n },
      `guest misbehaviour: suppressed ${n} more ${kind} warnings`,
    );
  return {
    report(kind, frame) {
      const v = lim.check(kind, now());
      if (v.suppressed > 0) summary(kind, v.suppressed);
      if (v.emit) logger.warn({ kind, ...frameSummary(frame) }, `guest sent ${WHAT[kind]}`);
    },
    due() {
      for (const d of lim.due(now())) summary(d.kind, d.suppressed);
    },
  };
}
