// The comparison loop, table and JSON record shared by the TCP and UDP benches: workloads ×
// setups × repetitions, every sample kept (a number, 'n/a', or { failed: reason }).
//
// Order: each repetition runs workload by workload, the setups in turn (a different one first
// each time), so a burst of other work on this 2-core machine does not land on one setup only.
// A setup that cannot be built fails all its cells for that repetition (with the reason); a
// translator that exits fails the rest of its repetition and is started afresh (new namespaces)
// at the next one; a workload that failed once for a setup is not repeated for it (it would only
// cost its time-out again) but counts as failed in every later repetition, saying so. A cell
// shows the median of the successful samples and "ok/n" (successful of those taken), or
// "failed" with the first reason; the notes and the JSON keep every reason. A workload runs on
// the columns it names (`Workload.kinds`), by default every column but the extra ones
// (peers.ts EXTRA_KINDS); a cell it does not run on shows "—".
//
// Targets (issue 17): each bench lists its targets (`TargetSpec`: a ratio of two columns on a
// row, or one column against a bound); `checkTargets` says met / missed with the numbers, the
// table's last column and `printTargets` show them, and the JSON keeps them (`targets`).
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Lab } from '../test/lab/lab.js';
import { EXTRA_KINDS, type Kind, type Peer } from './peers.js';
import { errText, exitReason, firstLine, makeSetupRetry, type Setup } from './setups.js';
import { median } from './stats.js';

/** One measurement: a number, 'n/a' (does not apply), or { failed: reason }. */
export type Value = number | 'n/a' | { readonly failed: string };

/** A table row. */
export interface RowSpec {
  readonly key: string;
  readonly name: string;
  readonly unit: string;
  readonly lowerIsBetter: boolean;
  /** Printed in a second table (e.g. iperf3's sender retransmits), not the main one. */
  readonly secondary?: boolean;
}

/** A row with every setup's samples, the value shown, and how many samples succeeded. */
export interface RowResult extends RowSpec {
  readonly samples: Record<Kind, Value[]>;
  /** Median of the numeric samples; else 'n/a' or the first failure. */
  readonly value: Record<Kind, Value>;
  /** Numeric samples per setup. */
  readonly ok: Record<Kind, number>;
  /** Samples that apply ('n/a' excluded): ok plus failed. */
  readonly n: Record<Kind, number>;
}

/** A workload: fills some rows; a throw fails all its rows for that setup and repetition. */
export interface Workload {
  readonly name: string;
  readonly rows: readonly string[];
  /** The columns it runs on; default every column but EXTRA_KINDS. */
  readonly kinds?: readonly Kind[];
  run(lab: Lab, s: Setup, note: (msg: string) => void): Promise<Record<string, Value>>;
}

/** What a bench run produced (also what its JSON file holds). */
export interface MatrixResult {
  readonly meta: Record<string, unknown>;
  readonly kinds: readonly Kind[];
  /** Each setup's program and version (column headings come from here). */
  readonly peers: Partial<Record<Kind, Peer>>;
  readonly rows: RowResult[];
  readonly notes: string[];
  /** The targets checked (those whose row was run). */
  readonly targets?: readonly TargetCheck[];
}

/** Whether a workload runs on a column. */
export function runsOn(w: Workload, k: Kind): boolean {
  return w.kinds !== undefined ? w.kinds.includes(k) : !EXTRA_KINDS.includes(k);
}

/** The chosen columns some chosen workload runs on (the others would only show "—"). */
export function usedKinds(kinds: readonly Kind[], workloads: readonly Workload[]): Kind[] {
  return kinds.filter((k) => workloads.some((w) => runsOn(w, k)));
}

/** The value shown: median of the numeric samples; else n/a or the first failure. */
export function summarize(vs: readonly Value[]): Value {
  if (vs.length === 0) return 'n/a';
  const nums = vs.filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  if (nums.length > 0) return median(nums);
  if (vs.length > 0 && vs.every((v) => v === 'n/a')) return 'n/a';
  return vs.find((v): v is { failed: string } => typeof v === 'object') ?? { failed: 'no samples' };
}

/**
 * Runs every workload `reps` times against each setup.
 *
 * @param lab - Owns every setup (the caller tears it down).
 * @param o - log: prefix of progress lines; peers: what each setup runs.
 * @returns Per-row samples and medians, and the notes (every failure in full).
 */
export async function runMatrix(
  lab: Lab,
  o: {
    readonly log: string;
    readonly reps: number;
    readonly kinds: readonly Kind[];
    readonly peers: ReadonlyMap<Kind, Peer>;
    readonly rows: readonly RowSpec[];
    readonly workloads: readonly Workload[];
    /** Run the bindery columns under `node --cpu-prof`, profiles into this directory. */
    readonly profDir?: string;
  },
): Promise<{ rows: RowResult[]; notes: string[] }> {
  const { kinds, reps } = o;
  const samples = new Map<string, Record<Kind, Value[]>>(
    o.rows.map((r) => [r.key, Object.fromEntries(kinds.map((k) => [k, []])) as never]),
  );
  const notes: string[] = [];
  const setups = new Map<Kind, Setup>();
  /** Workloads that failed once, per setup: not repeated. */
  const gaveUp = new Map<string, string>();
  const exitNoted = new Set<Setup>();
  for (let rep = 0; rep < reps; rep++) {
    const setupFailure = new Map<Kind, string>();
    for (const kind of kinds) {
      const s = setups.get(kind);
      if (s !== undefined && exitReason(s) === undefined) continue;
      if (s !== undefined && !exitNoted.has(s)) {
        exitNoted.add(s);
        notes.push(`${kind}, end of repetition ${rep}: ${exitReason(s)}; started afresh`);
      }
      console.error(`  ${o.log}: starting ${kind}`);
      try {
        const prof = kind.startsWith('bindery') ? o.profDir : undefined;
        setups.set(kind, await makeSetupRetry(lab, o.peers.get(kind)!, prof, o.log));
      } catch (e) {
        setupFailure.set(kind, `setup: ${firstLine(e)}`);
        notes.push(`${kind}, repetition ${rep + 1}, setup: ${errText(e)}`);
        setups.delete(kind);
      }
    }
    const order = kinds.map((_, i) => kinds[(i + rep) % kinds.length]!);
    for (const w of o.workloads) {
      console.error(`  ${o.log}: repetition ${rep + 1}/${reps}, ${w.name}`);
      for (const kind of order) {
        if (!runsOn(w, kind)) continue;
        const s = setups.get(kind);
        const put = (key: string, v: Value): void => {
          samples.get(key)![kind].push(v);
        };
        const failAll = (reason: string): void => {
          for (const k of w.rows) put(k, { failed: reason });
        };
        const dead = s === undefined ? setupFailure.get(kind) : exitReason(s);
        if (dead !== undefined || s === undefined) {
          if (s !== undefined && !exitNoted.has(s)) {
            exitNoted.add(s);
            notes.push(
              `${kind}, repetition ${rep + 1}: ${dead}; the rest of this repetition fails, the next one starts it afresh`,
            );
          }
          failAll(dead ?? 'no setup');
          continue;
        }
        const skipped = gaveUp.get(`${kind}/${w.name}`);
        if (skipped !== undefined) {
          failAll(skipped);
          continue;
        }
        const note = (msg: string): void => {
          notes.push(`${kind}, ${w.name}, repetition ${rep + 1}: ${msg}`);
        };
        try {
          const out = await w.run(lab, s, note);
          for (const k of w.rows) put(k, out[k] ?? { failed: 'not measured' });
        } catch (e) {
          const reason = exitReason(s) ?? firstLine(e);
          failAll(reason);
          note(`failed: ${errText(e)}`);
          if (exitReason(s) === undefined) {
            gaveUp.set(`${kind}/${w.name}`, `not run again: rep ${rep + 1} failed: ${reason}`);
          }
        }
      }
    }
  }
  const rows = o.rows.map((spec): RowResult => {
    const perKind = samples.get(spec.key)!;
    const per = <T>(f: (vs: Value[]) => T): Record<Kind, T> =>
      Object.fromEntries(kinds.map((k) => [k, f(perKind[k])])) as Record<Kind, T>;
    return {
      ...spec,
      samples: perKind,
      value: per(summarize),
      ok: per((vs) => vs.filter((v) => typeof v === 'number' && Number.isFinite(v)).length),
      n: per((vs) => vs.filter((v) => v !== 'n/a').length),
    };
  });
  return { rows, notes };
}

/** Machine facts every record carries (other work on 2 cores skews every column). */
export function machineMeta(started: Date, loadStart: number[]): Record<string, unknown> {
  return {
    started: started.toISOString(),
    finished: new Date().toISOString(),
    kernel: release(),
    loadavgStart: loadStart,
    loadavgEnd: loadavg(),
    cpus: cpus().length,
    node: process.version,
  };
}

export function fmtNum(v: number): string {
  if (!Number.isFinite(v)) return 'n/a';
  if (Number.isInteger(v)) return String(v);
  return v >= 100 ? v.toFixed(0) : v.toFixed(2);
}

export function fmtValue(v: Value): string {
  if (typeof v === 'number') return fmtNum(v);
  if (v === 'n/a') return 'n/a';
  const r = `failed: ${v.failed}`;
  return r.length > 40 ? `${r.slice(0, 39)}…` : r;
}

/** A cell: the median and ok/n (successful of taken), or the failure with 0/n. */
function cell(r: RowResult, k: Kind): string {
  if ((r.samples[k] ?? []).length === 0) return '—';
  const v = r.value[k];
  const n = r.n[k] ?? 0;
  if (v === 'n/a' || n === 0) return fmtValue(v);
  const count = `${r.ok[k]}/${n}`;
  return typeof v === 'number' ? `${fmtNum(v)} ${count}` : `${count} ${fmtValue(v)}`;
}

export function ratio(a: Value | undefined, b: Value | undefined): number | undefined {
  return typeof a === 'number' && typeof b === 'number' && b !== 0 ? a / b : undefined;
}

/**
 * The ratio columns, when both columns are in the run: bindery against each pasta and veth,
 * and bindery with threads against its one thread.
 */
const RATIOS: readonly { head: string; num: Kind; of: Kind }[] = [
  { head: 'b/deb', num: 'bindery', of: 'pasta' },
  { head: 'b/up', num: 'bindery', of: 'pasta-upstream' },
  { head: 'b/veth', num: 'bindery', of: 'veth' },
  { head: 't/b', num: 'bindery-threads', of: 'bindery' },
];

/**
 * Prints one table: a column per setup (headed by its label, which names pasta's version),
 * then bindery's ratios to Debian's pasta, upstream pasta and veth, then an optional last column.
 *
 * @param title - Heading.
 * @param res - The run.
 * @param o - rows: which rows; ratios: print ratio columns; last: the extra column.
 */
export function printMatrix(
  title: string,
  res: MatrixResult,
  o: {
    readonly rows: readonly RowResult[];
    readonly ratios?: boolean;
    readonly last?: { readonly head: string; cell(r: RowResult): string };
  },
): void {
  const label = (k: Kind): string => res.peers[k]?.label ?? k;
  const ratios =
    (o.ratios ?? true)
      ? RATIOS.filter((x) => res.kinds.includes(x.num) && res.kinds.includes(x.of))
      : [];
  const header = [
    'workload',
    ...res.kinds.map(label),
    ...ratios.map((x) => x.head),
    ...(o.last ? [o.last.head] : []),
  ];
  const lines = o.rows.map((r) => {
    const cells = [`${r.name} (${r.unit})`, ...res.kinds.map((k) => cell(r, k))];
    for (const x of ratios) {
      const q = ratio(r.value[x.num], r.value[x.of]);
      cells.push(q === undefined ? '—' : q.toFixed(2));
    }
    if (o.last) cells.push(o.last.cell(r));
    return cells;
  });
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const lastLeft = o.last !== undefined;
  const row = (cells: string[]): string =>
    cells
      .map((c, i) =>
        i === 0 || (lastLeft && i === cells.length - 1)
          ? c.padEnd(widths[i]!)
          : c.padStart(widths[i]!),
      )
      .join('  ')
      .trimEnd();
  console.log(`\n${title}`);
  console.log(row(header));
  for (const l of lines) console.log(row(l));
}

/** Prints what each column ran (versions) and the ratio legend, under the first table. */
export function printLegend(res: MatrixResult): void {
  console.log(
    '(cells: median of the successful samples, then successful/taken; a failed cell gives the ' +
      'first reason, the notes give all; ' +
      'b/deb, b/up, b/veth = bindery ÷ Debian pasta, upstream (newest) pasta, veth' +
      (res.kinds.includes('bindery-threads') ? '; t/b = bindery with threads ÷ bindery' : '') +
      '; "—": the row does not run on that column)',
  );
  for (const k of res.kinds) {
    const p = res.peers[k];
    if (p === undefined) continue;
    const why = p.unavailable !== undefined ? ` — UNAVAILABLE: ${p.unavailable}` : '';
    console.log(`  ${p.label}: ${p.version || '(no version)'}${why}`);
  }
  const la = (x: unknown): string =>
    Array.isArray(x) ? x.map((v) => Number(v).toFixed(2)).join(' ') : '?';
  console.log(
    `(load average at start ${la(res.meta.loadavgStart)}, at end ${la(res.meta.loadavgEnd)}; ` +
      `${String(res.meta.cpus)} CPUs: other work on the machine skews every column)`,
  );
}

export function printNotes(notes: readonly string[]): void {
  if (notes.length === 0) return;
  console.log('\nnotes:');
  for (const n of notes) console.log(`  - ${n.split('\n').slice(0, 4).join('\n    ')}`);
}

/**
 * Writes a run as JSON to <dir>/<prefix>-<ISO start>.json; dir is BINDERY_BENCH_RESULTS_DIR or
 * bench/results/ (which holds real runs only: point smoke runs elsewhere).
 *
 * @returns The file's path.
 */
export function writeJson(prefix: string, res: { readonly meta: Record<string, unknown> }): string {
  const dir =
    process.env.BINDERY_BENCH_RESULTS_DIR || fileURLToPath(new URL('./results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  const stamp = String(res.meta.started)
    .replace(/:/g, '-')
    .replace(/\.\d+Z$/, 'Z');
  const path = join(dir, `${prefix}-${stamp}.json`);
  writeFileSync(path, `${JSON.stringify(res, null, 2)}\n`);
  return path;
}

/** The peers of a run as a plain record (for the JSON). */
export function peerRecord(peers: ReadonlyMap<Kind, Peer>): Partial<Record<Kind, Peer>> {
  return Object.fromEntries(peers);
}

/** One target of issue 17: `kind`'s value on `row`, ÷ `of`'s (a ratio) or alone (a bound). */
export interface TargetSpec {
  readonly row: string;
  /** What is promised, e.g. 'TCP RR median ≤ 1.0× newest pasta'. */
  readonly text: string;
  /** The table cell's short form, e.g. '≤1.0× up'. */
  readonly short: string;
  readonly kind: Kind;
  /** The column divided by; absent: `kind`'s value itself is held to the bound (row's unit). */
  readonly of?: Kind;
  readonly op: '<=' | '>=';
  readonly bound: number;
}

/** A target checked against a run. `met` is undefined when a value is missing or failed. */
export interface TargetCheck extends TargetSpec {
  readonly value: Value;
  readonly versus?: Value;
  /** value ÷ versus, or value for a bound. */
  readonly measured?: number;
  readonly met: boolean | undefined;
  /** The numbers, e.g. 'bindery 148 µs ÷ pasta 2026_07_24 114 µs = 1.30×'. */
  readonly detail: string;
}

/**
 * Checks every target whose row and columns were run.
 *
 * @param res - The run (rows, columns, peers for the labels).
 * @param specs - The bench's targets.
 */
export function checkTargets(
  res: Pick<MatrixResult, 'kinds' | 'rows' | 'peers'>,
  specs: readonly TargetSpec[],
): TargetCheck[] {
  const label = (k: Kind): string => res.peers[k]?.label ?? k;
  const out: TargetCheck[] = [];
  for (const t of specs) {
    const row = res.rows.find((r) => r.key === t.row);
    const cols = t.of !== undefined ? [t.kind, t.of] : [t.kind];
    if (row === undefined || !cols.every((k) => res.kinds.includes(k))) continue;
    if (cols.every((k) => (row.samples[k] ?? []).length === 0)) continue;
    const value = row.value[t.kind] ?? 'n/a';
    const versus = t.of !== undefined ? (row.value[t.of] ?? 'n/a') : undefined;
    const show = (k: Kind, v: Value): string =>
      typeof v === 'number'
        ? `${label(k)} ${fmtNum(v)} ${row.unit}`
        : `${label(k)} ${v === 'n/a' ? 'n/a' : `failed (${v.failed})`}`;
    let measured: number | undefined;
    let detail: string;
    if (t.of === undefined) {
      measured = typeof value === 'number' ? value : undefined;
      detail = show(t.kind, value);
    } else {
      measured = ratio(value, versus);
      detail = `${show(t.kind, value)} ÷ ${show(t.of, versus!)}${measured !== undefined ? ` = ${measured.toFixed(2)}×` : ''}`;
    }
    const met =
      measured === undefined
        ? undefined
        : t.op === '<='
          ? measured <= t.bound
          : measured >= t.bound;
    out.push({ ...t, value, ...(versus !== undefined ? { versus } : {}), measured, met, detail });
  }
  return out;
}

const verdict = (met: boolean | undefined): string =>
  met === undefined ? 'no data' : met ? 'met' : 'MISSED';

/** The table's last column: the targets on a row, short. */
export function targetCell(checks: readonly TargetCheck[]): (r: RowResult) => string {
  return (r) =>
    checks
      .filter((c) => c.row === r.key)
      .map((c) => `${c.short} ${verdict(c.met)}`)
      .join('; ');
}

/** Prints the targets block: one line per target, met / MISSED / no data, with the numbers. */
export function printTargets(title: string, checks: readonly TargetCheck[]): void {
  if (checks.length === 0) return;
  const count = (m: boolean | undefined): number => checks.filter((c) => c.met === m).length;
  console.log(
    `\n${title}: ${count(true)} met, ${count(false)} missed, ${count(undefined)} without data`,
  );
  for (const c of checks) {
    console.log(`  ${verdict(c.met).padEnd(7)} ${c.text}: ${c.detail}`);
  }
}
