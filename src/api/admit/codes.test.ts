// Tests that the admission rule registry and the code tables of docs/errors.md agree, both ways.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { KubeVirtCode } from '../admit-kubevirt.js';
import { VirtinkCode } from '../admit-virtink.js';
import { DefaultCode } from '../defaults.js';
import { listRules } from './rules.js';
import { kubevirtAdmissionCodes, kubevirtRegistry } from './kubevirt/registry.js';

const doc = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');

/** The rows of the table under `## heading`: each row's cells, without the header rows. */
function tableRows(heading: string): string[][] {
  const start = doc.indexOf(`\n## ${heading}\n`);
  assert.ok(start >= 0, `docs/errors.md has a "## ${heading}" section`);
  const end = doc.indexOf('\n## ', start + 1);
  const section = doc.slice(start, end < 0 ? undefined : end);
  return section
    .split('\n')
    .filter((l) => l.startsWith('| `'))
    .map((l) =>
      l
        .slice(1, -1)
        .split(/(?<!\\)\|/)
        .map((c) => c.trim()),
    );
}

const code = (cell: string | undefined): string => /^`([A-Z0-9_]+)`$/.exec(cell ?? '')?.[1] ?? '';
const sorted = (xs: Iterable<string>): string[] => [...xs].sort();

const kvRows = tableRows('KubeVirt admission codes');
const kvDocumented = (stage: string): string[] =>
  sorted(kvRows.filter((r) => r[1] === stage).map((r) => code(r[0])));

test('docs/errors.md: the KubeVirt table has one well-formed row per code', () => {
  assert.ok(kvRows.length > 0);
  const codes = kvRows.map((r) => code(r[0]));
  for (const [k, r] of kvRows.entries()) {
    assert.match(codes[k] ?? '', /^BINDERY_ADM_KV_[A-Z0-9_]+$/, `row ${JSON.stringify(r)}`);
    assert.equal(r.length, 4, `row ${JSON.stringify(r)} has code, stage, rule, source`);
    assert.ok(
      ['vmi', 'cr', 'defaulting', 'migration'].includes(r[1] ?? ''),
      `stage of ${codes[k]}`,
    );
    assert.ok((r[2] ?? '').length > 0 && (r[3] ?? '').length > 0, `rule and source of ${codes[k]}`);
  }
  assert.deepEqual(
    codes.filter((c, k) => codes.indexOf(c) !== k),
    [],
    'duplicate rows',
  );
});

test('every registered VMI rule code is documented as stage vmi, and the reverse', () => {
  const registered = new Set(listRules(kubevirtRegistry.vmi).map((r) => r.code));
  assert.deepEqual(sorted(registered), kvDocumented('vmi'));
});

test('every registered KubeVirt CR rule code is documented as stage cr, and the reverse', () => {
  const registered = new Set(listRules(kubevirtRegistry.cr).map((r) => r.code));
  assert.deepEqual(sorted(registered), kvDocumented('cr'));
});

test('defaulting and migration codes are documented with their stage', () => {
  assert.deepEqual(kvDocumented('defaulting'), sorted(Object.values(DefaultCode)));
  assert.deepEqual(kvDocumented('migration'), [KubeVirtCode.NotMigratable]);
});

test('every KubeVirtCode is either registered or the migration code, and documented', () => {
  const registered = new Set(kubevirtAdmissionCodes());
  const documented = new Set(kvRows.map((r) => code(r[0])));
  for (const c of Object.values(KubeVirtCode)) {
    assert.ok(documented.has(c), `${c} is in docs/errors.md`);
    assert.ok(registered.has(c) || c === KubeVirtCode.NotMigratable, `${c} has a rule`);
  }
  const known = new Set<string>([...Object.values(KubeVirtCode), ...Object.values(DefaultCode)]);
  assert.deepEqual(
    [...documented].filter((c) => !known.has(c)),
    [],
    'documented codes no code defines',
  );
});

test('every registered rule has a one-line title', () => {
  for (const r of [...listRules(kubevirtRegistry.vmi), ...listRules(kubevirtRegistry.cr)])
    assert.ok(r.title.length > 0 && !r.title.includes('\n'), `title of ${r.code}`);
});

test('docs/errors.md: the Virtink table lists exactly the VirtinkCode codes', () => {
  const rows = tableRows('Virtink admission codes');
  for (const r of rows) assert.equal(r.length, 3, `row ${JSON.stringify(r)}`);
  assert.deepEqual(sorted(rows.map((r) => code(r[0]))), sorted(Object.values(VirtinkCode)));
});
