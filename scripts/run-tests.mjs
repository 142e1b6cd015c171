// Test driver: runs every *.test.ts under the given folders with node's test runner (via tsx),
// then fails the run if any lab namespace or temp dir of ours was left behind.
import { spawnSync, execFileSync } from 'node:child_process';
import { readdirSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';

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

const files = roots.flatMap((r) => walk(r, []));
if (files.length === 0) {
  console.error('run-tests: no test files found under ' + roots.join(', '));
  process.exit(1);
}

// Every lab object a test creates carries this run id, so the leftover check below only looks at
// what this run made (other runs on the same machine are left alone).
const runId = process.env.BINDERY_RUN_ID ?? Math.random().toString(36).slice(2, 8);
const concurrency = process.env.BINDERY_TEST_CONCURRENCY ?? '2';
const res = spawnSync(
  process.execPath,
  [
    '--import',
    'tsx',
    '--test',
    `--test-concurrency=${concurrency}`,
    // Per file: the QEMU TCP suite streams 1 GiB four times under TCG (~15 min alone).
    '--test-timeout=2400000',
    ...files,
  ],
  { stdio: 'inherit', env: { ...process.env, BINDERY_RUN_ID: runId } },
);

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
  process.exit(1);
}
process.exit(res.status ?? 1);
