// The progress of `bindery up` and `bindery migrate` (pure rendering, injected clock and writer): a step list redrawn in place on a terminal, plain lines otherwise, silence for --json.

/** The steps of `up`, in order. */
export const STEPS = ['validate', 'plan', 'pod', 'bindings', 'boot', 'dhcp', 'ready'] as const;
export type Step = (typeof STEPS)[number];

type StepState = {
  state: 'pending' | 'running' | 'done' | 'failed';
  start?: number;
  end?: number;
  note?: string;
};

/** Where progress goes. */
export interface ProgressSink {
  readonly mode: 'tty' | 'plain' | 'silent';
  write(text: string): void;
  /** Milliseconds since some fixed origin. */
  now(): number;
}

const secs = (ms: number): string => `${(ms / 1000).toFixed(1)}s`;

/** A step list (`up`'s unless given); `start`/`done`/`fail` update it and write what the mode calls for. */
export class Progress<S extends string = Step> {
  private readonly steps: Map<S, StepState>;
  private drawn = 0;
  private readonly t0: number;
  private readonly order: readonly S[];

  constructor(
    private readonly sink: ProgressSink,
    order?: readonly S[],
  ) {
    this.order = order ?? (STEPS as readonly string[] as readonly S[]);
    this.steps = new Map(this.order.map((s) => [s, { state: 'pending' }]));
    this.t0 = sink.now();
  }

  /** Step `s` begins (with a note, e.g. the VM). */
  start(s: S, note?: string): void {
    const st = this.steps.get(s)!;
    st.state = 'running';
    st.start = this.sink.now();
    if (note !== undefined) st.note = note;
    if (this.sink.mode === 'plain')
      this.sink.write(`[${secs(st.start - this.t0)}] ${s}: ${note ?? '…'}\n`);
    this.redraw();
  }

  /** Step `s` finished. */
  done(s: S, note?: string): void {
    this.finish(s, 'done', note);
  }

  /** Step `s` failed. */
  fail(s: S, note?: string): void {
    this.finish(s, 'failed', note);
  }

  /** The step running now, if any. */
  running(): S | undefined {
    return this.order.find((s) => this.steps.get(s)!.state === 'running');
  }

  /** Each step's state and duration (for --json). */
  summary(): Array<{ step: S; state: string; ms?: number; note?: string }> {
    return this.order.map((step) => {
      const st = this.steps.get(step)!;
      return {
        step,
        state: st.state,
        ...(st.start !== undefined && st.end !== undefined
          ? { ms: Math.round(st.end - st.start) }
          : {}),
        ...(st.note !== undefined ? { note: st.note } : {}),
      };
    });
  }

  private finish(s: S, state: 'done' | 'failed', note?: string): void {
    const st = this.steps.get(s)!;
    st.state = state;
    st.start ??= this.sink.now();
    st.end = this.sink.now();
    if (note !== undefined) st.note = note;
    if (this.sink.mode === 'plain')
      this.sink.write(
        `[${secs(st.end - this.t0)}] ${s}: ${state === 'done' ? 'done' : 'FAILED'} in ${secs(st.end - st.start)}${note !== undefined ? ` (${note})` : ''}\n`,
      );
    this.redraw();
  }

  private redraw(): void {
    if (this.sink.mode !== 'tty') return;
    const lines = renderSteps(this.summaryAt(this.sink.now()));
    const up = this.drawn > 0 ? `\x1b[${this.drawn}A` : '';
    this.sink.write(up + lines.map((l) => `\x1b[2K${l}\n`).join(''));
    this.drawn = lines.length;
  }

  private summaryAt(now: number): Array<{ step: S; st: StepState; now: number }> {
    return this.order.map((step) => ({ step, st: this.steps.get(step)!, now }));
  }

  /** Redraws with the running step's time advanced (call on a timer on a terminal). */
  tick(): void {
    if (this.running() !== undefined) this.redraw();
  }
}

/** The lines of the step list. */
export function renderSteps(
  rows: ReadonlyArray<{ step: string; st: StepState; now: number }>,
): string[] {
  return rows.map(({ step, st, now }) => {
    const mark = { pending: ' ', running: '…', done: '✓', failed: '✗' }[st.state];
    const time = st.start === undefined ? '' : secs((st.end ?? now) - st.start).padStart(7);
    return `${mark} ${step.padEnd(9)}${time}${st.note !== undefined ? `  ${st.note}` : ''}`.trimEnd();
  });
}
