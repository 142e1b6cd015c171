// The scheduler of the in-memory kernel (memory.ts): host-side work queued and run on an explicit flush.
//
// Nothing in the in-memory kernel happens behind the test's back: work that a real kernel would
// do "later" (a connect finishing, a datagram crossing, a reply, readiness reported to a poller,
// a scripted peer's callbacks) is queued here and runs only in flush(), in the order it was
// queued; readiness sources (the TCP pollers) are asked after the queued work. settle() lets the
// translators' microtasks run (one setImmediate turn: no timers, no sleeps) and flushes again
// until nothing is left.

/** Something that may report readiness on a flush (the TCP pollers). */
export interface ReadySource {
  /** Reports what is ready; true if anything was reported. */
  deliver(): boolean;
  /** Whether deliver() would report something. */
  pending(): boolean;
}

/** The queue of host-side work and readiness sources. */
export class MemoryKernel {
  private tasks: (() => void)[] = [];
  private readonly sources: ReadySource[] = [];
  /** Flushes run so far. */
  flushes = 0;

  /** Queues host-side work for the next flush. */
  post(fn: () => void): void {
    this.tasks.push(fn);
  }

  /** Adds a readiness source, asked on every flush after the queued work. */
  addSource(s: ReadySource): void {
    this.sources.push(s);
  }

  /** Whether a flush has anything to do. */
  get busy(): boolean {
    return this.tasks.length > 0 || this.sources.some((s) => s.pending());
  }

  /**
   * Runs the work queued so far (work it queues waits for the next flush), then delivers
   * readiness.
   *
   * @returns whether anything ran or was delivered.
   */
  flush(): boolean {
    this.flushes++;
    const tasks = this.tasks;
    this.tasks = [];
    for (const t of tasks) t();
    let did = tasks.length > 0;
    for (const s of this.sources) if (s.deliver()) did = true;
    return did;
  }

  /**
   * Alternates the callers' microtasks and setImmediate callbacks with flushes until neither
   * side has work left.
   *
   * @param maxRounds - flushes allowed before giving up (something keeps itself busy)
   * @returns the number of flushes that did something
   * @throws Error when still busy after maxRounds
   */
  async settle(maxRounds = 10_000): Promise<number> {
    let n = 0;
    for (let i = 0; i < maxRounds; i++) {
      await new Promise<void>((r) => setImmediate(r));
      if (!this.busy) return n;
      if (this.flush()) n++;
    }
    throw new Error(`the memory kernel did not settle in ${maxRounds} rounds`);
  }
}

/** An Error with a symbolic errno, like the native shim's SyscallError. */
export function errnoError(errno: string, syscall: string, what: string): Error {
  const text: Record<string, string> = {
    EADDRINUSE: 'Address already in use',
    ECONNREFUSED: 'Connection refused',
    EACCES: 'Permission denied',
    EBADF: 'Bad file descriptor',
    ENETUNREACH: 'Network is unreachable',
    EMFILE: 'Too many open files',
  };
  return Object.assign(new Error(`${syscall} ${what} (${text[errno] ?? errno})`), {
    errno,
    code: errno,
    syscall,
  });
}

/** Loopback of a family. */
export const loopback = (family: 4 | 6): string => (family === 4 ? '127.0.0.1' : '::1');

/** Family of an address in text. */
export const familyOf = (addr: string): 4 | 6 => (addr.includes(':') ? 6 : 4);

/** Whether a socket bound to `bound` receives what is sent to `dest` (same family or '::'). */
export function addrMatches(bound: string, dest: string): boolean {
  if (bound === dest) return true;
  if (bound === '::') return true;
  return bound === '0.0.0.0' && familyOf(dest) === 4;
}

/** Whether two bind addresses overlap (the same port cannot be bound on both). */
export function addrsOverlap(a: string, b: string): boolean {
  return addrMatches(a, b) || addrMatches(b, a);
}
