// Rate-limited warnings: at most N per kind per window, and a "suppressed K" summary for the rest. Pure (time passed in).
//
// Each kind has its own window, started by its first warning. Within a window the first
// `perWindow` warnings are emitted and the rest only counted. The count of the suppressed ones
// is reported once, as a summary, when the window has ended: either by the next warning of the
// kind (check() returns it) or by a periodic `due()` (the caller's timer), whichever comes first.

/** The verdict on one warning. */
export interface WarnVerdict {
  /** Emit this warning. */
  readonly emit: boolean;
  /** Warnings of this kind suppressed in the window that just ended (0: nothing to report). */
  readonly suppressed: number;
}

interface Window {
  start: number;
  count: number;
  suppressed: number;
}

/**
 * Decides which warnings are emitted.
 *
 * @example
 * const lim = new WarnLimiter(10, 60_000);
 * const v = lim.check('bad-checksum', now);
 * if (v.suppressed > 0) log.warn(`suppressed ${v.suppressed} bad-checksum warnings`);
 * if (v.emit) log.warn('guest sent a frame with a bad checksum');
 */
export class WarnLimiter {
  private readonly windows = new Map<string, Window>();

  /**
   * @param perWindow - Warnings emitted per kind per window.
   * @param windowMs - The window's length.
   */
  constructor(
    readonly perWindow = 10,
    readonly windowMs = 60_000,
  ) {}

  /** One warning of `kind` at `nowMs`. */
  check(kind: string, nowMs: number): WarnVerdict {
    let w = this.windows.get(kind);
    let suppressed = 0;
    if (w !== undefined && nowMs - w.start >= this.windowMs) {
      suppressed = w.suppressed;
      w = undefined;
    }
    if (w === undefined) {
      w = { start: nowMs, count: 0, suppressed: 0 };
      this.windows.set(kind, w);
    }
    if (w.count < this.perWindow) {
      w.count++;
      return { emit: true, suppressed };
    }
    w.suppressed++;
    return { emit: false, suppressed };
  }

  /**
   * Ends the windows that are over at `nowMs` and returns the kinds that suppressed warnings in
   * them, with how many (each reported once).
   */
  due(nowMs: number): Array<{ kind: string; suppressed: number }> {
    const out: Array<{ kind: string; suppressed: number }> = [];
    for (const [kind, w] of this.windows) {
      if (nowMs - w.start < this.windowMs) continue;
      this.windows.delete(kind);
      if (w.suppressed > 0) out.push({ kind, suppressed: w.suppressed });
    }
    return out;
  }
}
