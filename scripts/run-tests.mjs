// Test driver: runs every *.test.ts under the given folders with node's test runner (via tsx),
// fails the run if any lab namespace or temp dir of ours was left behind, and closes with one
// line `N passed, N failed, N skipped`.
//
// BINDERY_NO_SKIP=1 (set by .ci/run) turns every skip into a failure of the run, except those
// whose reason starts with a prefix listed under "Skipped tests" in README.md: CI proves that
// every suite ran.
import { spawnSync, execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';

const roots = process.argv.slice(2);
if (roots.length === 0) roots.push('src', 'test');

function walk(dir, out) {
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir).sort()) {
    if (name === 'node_modules' || name === 'dist' || name === 'fixtures') continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

/** The skip-reason prefixes README.md allows: "- `prefix` …" items under "### Skipped tests". */
function allowedSkips() {
  const readme = readFileSync(fileURLToPath(new URL('../README.md', import.meta.url)), 'utf8');
  const m = /^### Skipped tests\n([\s\S]*?)(?=^#)/m.exec(readme + '\n#');
  if (!m) return [];
  return [...m[1].matchAll(/^- `([^`]+)`/gm)].map((x) => x[1]);
}

const files = roots.flatMap((r) => walk(r, []));
if (files.length === 0) {
  console.error('run-tests: no test files found under ' + roots.join(', '));
  process.exit(1);
}

// Every lab object a test creates carries this run id, so the leftover check below only looks at
// what this run made (other runs on the same machine are left alone).
const runId = process.env.BINDERY_RUN_ID ?? Math.random().toString(36).slice(2, 8);
const concurrency = process.env.BINDERY_TEST_CONCURRENCY ?? '2';
const countsFile = join(tmpdir(), `bindery-test-counts-${runId}-${process.pid}.jsonl`);
const res = spawnSync(
  process.execPath,
  [
    '--import',
    'tsx',
    '--test',
    `--test-concurrency=${concurrency}`,
    // Per file: the QEMU TCP suite streams 1 GiB four times under TCG (~15 min alone).
    '--test-timeout=2400000',
    // What node would show by itself, and our counts beside it.
    `--test-reporter=${process.stdout.isTTY ? 'spec' : 'tap'}`,
    '--test-reporter-destination=stdout',
    `--test-reporter=${fileURLToPath(new URL('./test-counts.mjs', import.meta.url))}`,
    `--test-reporter-destination=${countsFile}`,
    ...files,
  ],
  { stdio: 'inherit', env: { ...process.env, BINDERY_RUN_ID: runId } },
);

let ok = res.status === 0;
const results = existsSync(countsFile)
  ? readFileSync(countsFile, 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l))
  : [];
rmSync(countsFile, { force: true });
const count = (outcome) => results.filter((r) => r.outcome === outcome).length;
const passed = count('passed');
const failed = count('failed');
const skipped = results.filter((r) => r.outcome === 'skipped');
if (results.length === 0) {
  console.error('run-tests: the test runner reported no tests');
  ok = false;
}
if (failed > 0) ok = false;

if (skipped.length > 0) {
  const allowed = allowedSkips();
  const strict = process.env.BINDERY_NO_SKIP === '1';
  const unexpected = skipped.filter((s) => !allowed.some((p) => (s.reason ?? '').startsWith(p)));
  for (const s of skipped) {
    const bad = strict && unexpected.includes(s);
    console.error(
      `run-tests: ${bad ? 'unexpected skip' : 'skipped'}: ${s.file ?? '?'}: ${s.name}: ${s.reason || '(no reason given)'}`,
    );
  }
  if (strict && unexpected.length > 0) {
    console.error(
      `run-tests: BINDERY_NO_SKIP=1 and ${unexpected.length} skip(s) not listed under "Skipped tests" in README.md`,
    );
    ok = false;
  }
}

// Leftover check: lab namespaces are named bdy-<runId>-*, lab temp dirs bindery-lab-<runId>-*.
let leftovers = [];
try {
  const ns = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  leftovers = ns
    .split('\n')
    .map((l) => l.split(' ')[0])
    .filter((n) => n && n.startsWith(`bdy-${runId}-`));
} catch {
  // no iproute2: nothing could have been created either
}
const tmpLeft = readdirSync(tmpdir()).filter((n) => n.startsWith(`bindery-lab-${runId}-`));
if (leftovers.length > 0 || tmpLeft.length > 0) {
  console.error(
    `run-tests: left behind after the tests: namespaces [${leftovers.join(', ')}] temp dirs [${tmpLeft.join(', ')}]`,
  );
  for (const n of leftovers) spawnSync('ip', ['netns', 'del', n]);
  ok = false;
}
console.log(`${passed} passed, ${failed} failed, ${skipped.length} skipped`);
process.exit(ok ? 0 : (res.status ?? 1) || 1);
