// A guest-link decorator that loses, delays and reorders frames, like `tc netem` on the guest's interface.
//
// Why: kernels without sch_netem (this project's CI machines have none) still need loss and
// reordering on the guest link to test TCP recovery, and a QEMU stream socket has no qdisc at all.
// `bindery passt` wraps its link in this when BINDERY_IMPAIR is set (see `parseImpairSpec`).
//
// Model, per direction (to the guest and from the guest), per frame, with a seeded PRNG so a run
// can be repeated: drop with probability `loss`; otherwise deliver after `delayMs`, or, with
// probability `reorder`, after `delayMs + reorderMs` so later frames overtake it. Frames due at
// the same time keep their order. Back-pressure is not propagated: `send` always accepts (a
// netem queue does the same up to its limit) and frames the inner link refuses are counted.
import type { GuestLink } from './types.js';

/** What to do to frames, each direction. */
export interface ImpairOptions {
  /** Probability in [0, 1] that a frame is dropped. */
  readonly loss: number;
  /** Probability in [0, 1] that a frame is held back by `reorderMs`. */
  readonly reorder: number;
  /** Delay added to every frame, ms. */
  readonly delayMs: number;
  /** Extra delay of a reordered frame, ms. */
  readonly reorderMs: number;
  /** PRNG seed. */
  readonly seed: number;
}

/** Timers for the decorator (the daemon's Clock satisfies it). */
export interface ImpairClock {
  now(): number;
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
}

/** What the decorator did, each direction. */
export interface ImpairCounters {
  dropped: number;
  reordered: number;
  delivered: number;
  /** Frames the inner link refused (no guest, or its buffer full). */
  refused: number;
}

/**
 * Parses BINDERY_IMPAIR: comma-separated `key=value` with keys loss and reorder (percent),
 * delay and reorder-delay (ms, reorder-delay defaults to max(delay, 10)), seed (integer).
 *
 * @param spec - e.g. "loss=1,reorder=1,delay=20,seed=7"
 * @returns the options, or a one-line reason
 */
export function parseImpairSpec(spec: string): ImpairOptions | string {
  let loss = 0;
  let reorder = 0;
  let delayMs = 0;
  let reorderMs: number | undefined;
  let seed = 1;
  for (const part of spec.split(',')) {
    if (part.trim() === '') continue;
    const m = /^\s*([a-z-]+)\s*=\s*([0-9.]+)\s*$/.exec(part);
    if (!m) return `bad BINDERY_IMPAIR item "${part}" (want key=number)`;
    const v = Number(m[2]);
    if (!Number.isFinite(v)) return `bad number in BINDERY_IMPAIR item "${part}"`;
    switch (m[1]) {
      case 'loss':
      case 'reorder':
        if (v > 100) return `BINDERY_IMPAIR ${m[1]} is a percentage (0-100), got ${v}`;
        if (m[1] === 'loss') loss = v / 100;
        else reorder = v / 100;
        break;
      case 'delay':
        delayMs = v;
        break;
      case 'reorder-delay':
        reorderMs = v;
        break;
      case 'seed':
        seed = Math.trunc(v);
        break;
      default:
        return `unknown BINDERY_IMPAIR key "${m[1]}" (loss, reorder, delay, reorder-delay, seed)`;
    }
  }
  return { loss, reorder, delayMs, reorderMs: reorderMs ?? Math.max(delayMs, 10), seed };
}

/** mulberry32: a small, fast, seedable PRNG returning [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Pending {
  readonly due: number;
  readonly seq: number;
  readonly frame: Uint8Array;
  /** The frame's `trusted` mark from the inner link (see GuestLink.onFrames). */
  readonly trusted: number;
}

/** One direction: a delay line with loss and reordering. */
class DelayLine {
  readonly counters: ImpairCounters = { dropped: 0, reordered: 0, delivered: 0, refused: 0 };
  private queue: Pending[] = [];
  private seq = 0;
  private timer: unknown;
  private closed = false;

  constructor(
    private readonly opts: ImpairOptions,
    private readonly clock: ImpairClock,
    private readonly random: () => number,
    private readonly deliver: (frames: Uint8Array[], trusted?: Uint8Array) => boolean,
    /** Copy the frames that wait (their memory is reused by the link after the call). */
    private readonly copyQueued = false,
  ) {}

  push(frames: readonly Uint8Array[], trustedIn?: Uint8Array): void {
    if (this.closed) return;
    const now = this.clock.now();
    const immediate: Uint8Array[] = [];
    const immediateTrusted: number[] = [];
    for (let i = 0; i < frames.length; i++) {
      const frame = frames[i]!;
      const trusted = trustedIn?.[i] ?? 0;
      if (this.random() < this.opts.loss) {
        this.counters.dropped++;
        continue;
      }
      let due = now + this.opts.delayMs;
      if (this.random() < this.opts.reorder) {
        this.counters.reordered++;
        due += this.opts.reorderMs;
      } else if (due <= now && this.queue.length === 0) {
        immediate.push(frame);
        immediateTrusted.push(trusted);
        continue;
      }
      this.queue.push({
        due,
        seq: this.seq++,
        frame: this.copyQueued ? frame.slice() : frame,
        trusted,
      });
    }
    if (immediate.length > 0) this.out(immediate, Uint8Array.from(immediateTrusted));
    this.arm();
  }

  close(): void {
    this.closed = true;
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
    this.timer = undefined;
    this.queue = [];
  }

  private out(frames: Uint8Array[], trusted: Uint8Array): void {
    this.counters.delivered += frames.length;
    if (!this.deliver(frames, trusted)) this.counters.refused += frames.length;
  }

  private arm(): void {
    if (this.timer !== undefined || this.queue.length === 0 || this.closed) return;
    let first = Infinity;
    for (const p of this.queue) first = Math.min(first, p.due);
    this.timer = this.clock.setTimer(
      () => {
        this.timer = undefined;
        this.flush();
      },
      Math.max(0, first - this.clock.now()),
    );
  }

  private flush(): void {
    const now = this.clock.now();
    const due = this.queue.filter((p) => p.due <= now);
    if (due.length > 0) {
      this.queue = this.queue.filter((p) => p.due > now);
      due.sort((a, b) => a.due - b.due || a.seq - b.seq);
      this.out(
        due.map((p) => p.frame),
        Uint8Array.from(due.map((p) => p.trusted)),
      );
    }
    this.arm();
  }
}

/** A GuestLink with impairment, and what it did. */
export interface ImpairedLink extends GuestLink {
  readonly impairCounters: { readonly toGuest: ImpairCounters; readonly fromGuest: ImpairCounters };
}

/**
 * Wraps `link` so frames both ways are lost, delayed and reordered per `opts`.
 *
 * @param link - The real guest link (owned by the wrapper from now on).
 * @param opts - From parseImpairSpec.
 * @param clock - Timers (the daemon's clock).
 * @returns The impaired link; closing it closes `link`.
 */
export function impairLink(link: GuestLink, opts: ImpairOptions, clock: ImpairClock): ImpairedLink {
  const random = seededRandom(opts.seed);
  const toGuest = new DelayLine(opts, clock, random, (f) => link.send(f));
  let listener: ((frames: Uint8Array[], trusted?: Uint8Array) => void) | undefined;
  const fromGuest = new DelayLine(
    opts,
    clock,
    random,
    (f, trusted) => {
      listener?.(f, trusted);
      return true;
    },
    link.framesTransient === true,
  );
  link.onFrames((frames, trusted) => fromGuest.push(frames, trusted));
  return {
    kind: link.kind,
    // Frames wait in the delay line without their send flags: checksums are always complete.
    checksumOffload: false,
    // Frames that are not held back come straight from the inner link's memory.
    framesTransient: link.framesTransient === true,
    impairCounters: { toGuest: toGuest.counters, fromGuest: fromGuest.counters },
    send(frames) {
      toGuest.push(frames);
      return true;
    },
    onFrames(l) {
      listener = l;
    },
    onDrain(l) {
      link.onDrain(l);
    },
    close() {
      toGuest.close();
      fromGuest.close();
      return link.close();
    },
  };
}
