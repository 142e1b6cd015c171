// Unit tests of the bench matrix's pure parts: which columns a workload runs on, the cell
// summary, and the issue 17 target checks (ratios, bounds, missing values).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  checkTargets,
  summarize,
  targetCell,
  usedKinds,
  type RowResult,
  type TargetSpec,
  type Value,
  type Workload,
} from './matrix.js';
import type { Kind } from './peers.js';

const w = (kinds?: readonly Kind[]): Workload => ({
  name: 'w',
  rows: ['x'],
  ...(kinds !== undefined ? { kinds } : {}),
  run: () => Promise.resolve({}),
});

/** A row with one sample per column given. */
function row(key: string, unit: string, vals: Partial<Record<Kind, Value>>): RowResult {
  const kinds = Object.keys(vals) as Kind[];
  const rec = <T>(f: (v: Value) => T): Record<Kind, T> =>
    Object.fromEntries(kinds.map((k) => [k, f(vals[k]!)])) as Record<Kind, T>;
  return {
    key,
    name: key,
    unit,
    lowerIsBetter: false,
    samples: rec((v) => [v]),
    value: rec((v) => v),
    ok: rec((v) => (typeof v === 'number' ? 1 : 0)),
    n: rec(() => 1),
  };
}

test('a workload runs on every column but the threads one unless it names its columns', () => {
  const all: Kind[] = ['bindery', 'bindery-threads', 'pasta-upstream'];
  assert.deepEqual(usedKinds(all, [w()]), ['bindery', 'pasta-upstream']);
  assert.deepEqual(usedKinds(all, [w(), w(['bindery-threads'])]), all);
  assert.deepEqual(usedKinds(all, [w(['pasta-upstream'])]), ['pasta-upstream']);
});

test('summarize: median of the numbers; n/a for no samples; else the first failure', () => {
  assert.equal(summarize([3, 1, { failed: 'x' }, 2]), 2);
  assert.equal(summarize([]), 'n/a');
  assert.deepEqual(summarize([{ failed: 'a' }, { failed: 'b' }]), { failed: 'a' });
});

const specs: TargetSpec[] = [
  {
    row: 'rr',
    text: 'rr ≤ 1.0× up',
    short: '≤1.0× up',
    kind: 'bindery',
    of: 'pasta-upstream',
    op: '<=',
    bound: 1,
  },
  {
    row: 'bulk',
    text: 'threads ≥ 1.5×',
    short: '≥1.5× 1 thread',
    kind: 'bindery-threads',
    of: 'bindery',
    op: '>=',
    bound: 1.5,
  },
  { row: 'rss', text: 'rss ≤ 48 MiB', short: '≤48 MiB', kind: 'bindery', op: '<=', bound: 49152 },
  { row: 'absent', text: 'not run', short: '', kind: 'bindery', op: '<=', bound: 1 },
];

test('targets: ratios and bounds met or missed, failures give no verdict, absent rows none', () => {
  const kinds: Kind[] = ['bindery', 'bindery-threads', 'pasta-upstream'];
  const rows = [
    row('rr', 'µs', { bindery: 150, 'pasta-upstream': 100, 'bindery-threads': 'n/a' }),
    row('bulk', 'Gbit/s', { bindery: 4, 'bindery-threads': { failed: 'does not shard' } }),
    row('rss', 'kB', { bindery: 40000 }),
  ];
  const got = checkTargets({ kinds, rows, peers: {} }, specs);
  assert.deepEqual(
    got.map((c) => [c.row, c.met, c.measured]),
    [
      ['rr', false, 1.5],
      ['bulk', undefined, undefined],
      ['rss', true, 40000],
    ],
  );
  assert.equal(got[0]!.detail, 'bindery 150 µs ÷ pasta-upstream 100 µs = 1.50×');
  assert.match(got[1]!.detail, /bindery-threads failed \(does not shard\)/);
  assert.equal(targetCell(got)(rows[0]!), '≤1.0× up MISSED');
  assert.equal(targetCell(got)(rows[1]!), '≥1.5× 1 thread no data');
});

test('targets: a column left out of the run checks nothing', () => {
  const rows = [row('rr', 'µs', { bindery: 90 })];
  assert.deepEqual(checkTargets({ kinds: ['bindery'], rows, peers: {} }, specs), []);
});
