// Tests of the rule runner: codes come from the rule, and errors come out in the registry's nested-loop order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { each, listRules, rule, runRules, step, type Node } from './rules.js';

interface Ctx {
  readonly rows: readonly (readonly number[])[];
}

const odd = rule('ODD', 'odd cell', (_c: Ctx, x: { v: number; path: string }) =>
  x.v % 2 === 1 ? { path: x.path, message: `odd ${x.v}` } : undefined,
);
const big = rule('BIG', 'big cell', (_c: Ctx, x: { v: number; path: string }) =>
  x.v > 2 ? { path: x.path, message: `big ${x.v}`, severity: 'warning' } : undefined,
);
const empty = rule('EMPTY', 'empty table', (c: Ctx) =>
  c.rows.length === 0 ? { path: 'rows', message: 'no rows' } : undefined,
);
const short = rule('SHORT', 'short row', (_c: Ctx, r: { row: readonly number[]; i: number }) =>
  r.row.length < 2 ? { path: `rows[${r.i}]`, message: 'short' } : undefined,
);

const registry: readonly Node<Ctx, unknown>[] = [
  step('whole table', [empty]),
  each('rows', (c: Ctx) => c.rows.map((row, i) => ({ row, i })), [
    short,
    each(
      'cells',
      (_c: Ctx, r: { row: readonly number[]; i: number }) =>
        r.row.map((v, j) => ({ v, path: `rows[${r.i}][${j}]` })),
      [odd, big],
    ),
  ]),
];

test('runRules stamps each rule code and keeps nested-loop order', () => {
  const errs = runRules(registry, { rows: [[1, 3], [4]] }, undefined);
  assert.deepEqual(errs, [
    { path: 'rows[0][0]', code: 'ODD', message: 'odd 1' },
    { path: 'rows[0][1]', code: 'ODD', message: 'odd 3' },
    { path: 'rows[0][1]', code: 'BIG', message: 'big 3', severity: 'warning' },
    { path: 'rows[1]', code: 'SHORT', message: 'short' },
    { path: 'rows[1][0]', code: 'BIG', message: 'big 4', severity: 'warning' },
  ]);
  assert.deepEqual(runRules(registry, { rows: [] }, undefined), [
    { path: 'rows', code: 'EMPTY', message: 'no rows' },
  ]);
  assert.deepEqual(runRules(registry, { rows: [[2, 2]] }, undefined), []);
});

test('listRules walks groups depth-first in order', () => {
  assert.deepEqual(
    listRules(registry).map((r) => r.code),
    ['EMPTY', 'SHORT', 'ODD', 'BIG'],
  );
});
