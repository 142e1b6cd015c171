// Tests of `bindery install-cni`: the copied runtime runs through its own loader, reinstalls replace, bad sources leave nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { CNI_PLUGIN_NAME, installCni } from './install-cni.js';

/** The C libraries (and loader) this Node links, as `ldd` lists them. */
function nodeLibraries(): string[] {
  const out = execFileSync('ldd', [process.execPath], { encoding: 'utf8' });
  return [...out.matchAll(/(\/\S+)\s+\(0x/g)].map((m) => m[1]!);
}

/** A runtime dir like the image's: this machine's node, its libraries, a stand-in app. */
function fakeRuntime(root: string, withLoader = true): string {
  const from = join(root, 'from');
  mkdirSync(join(from, 'lib'), { recursive: true });
  mkdirSync(join(from, 'app', 'bin'), { recursive: true });
  copyFileSync(process.execPath, join(from, 'node'));
  for (const lib of nodeLibraries()) {
    if (!withLoader && basename(lib).startsWith('ld-linux')) continue;
    copyFileSync(lib, join(from, 'lib', basename(lib)));
  }
  writeFileSync(
    join(from, 'app', 'bin', 'bindery-cni.js'),
    [
      "const maps = require('node:fs').readFileSync('/proc/self/maps', 'utf8');",
      "const libc = maps.split('\\n').map((l) => l.split(/\\s+/)[5]).find((p) => /libc\\.so/.test(p ?? ''));",
      'process.stdout.write(JSON.stringify({ argv: process.argv.slice(2), cmd: process.env.CNI_COMMAND, libc }));',
      '',
    ].join('\n'),
  );
  return from;
}

test('install-cni: the launcher runs the copied node through the copied loader', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'bdy-install-cni-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const from = fakeRuntime(root);
  const to = join(root, 'cni-bin');
  mkdirSync(to);
  const first = await installCni({ from, to, version: '9.9.9' });
  assert.equal(first.launcher, join(to, CNI_PLUGIN_NAME));
  assert.match(first.loader, /^ld-linux/);
  assert.deepEqual(first.removed, []);
  const out = execFileSync(first.launcher, ['a', 'b c'], {
    encoding: 'utf8',
    env: { CNI_COMMAND: 'VERSION', PATH: '/nonexistent' },
  });
  const reply = JSON.parse(out) as { argv: string[]; cmd: string; libc: string };
  assert.deepEqual(reply.argv, ['a', 'b c']);
  assert.equal(reply.cmd, 'VERSION');
  // The process runs on the copied C library, not the machine's.
  assert.ok(reply.libc.startsWith(join(to, 'bindery') + '/'), reply.libc);

  const second = await installCni({ from, to, version: '9.9.9' });
  assert.notEqual(second.runtime, first.runtime);
  assert.deepEqual(second.removed, [basename(first.runtime)]);
  assert.deepEqual(readdirSync(join(to, 'bindery')), [basename(second.runtime)]);
  assert.deepEqual(readdirSync(to).sort(), ['bindery', CNI_PLUGIN_NAME]);
});

test('install-cni: a runtime without its loader is refused and leaves the bin dir as it was', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'bdy-install-cni-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const from = fakeRuntime(root, false);
  const to = join(root, 'cni-bin');
  mkdirSync(to);
  await assert.rejects(installCni({ from, to, version: '1' }), {
    code: 'BINDERY_ERR_INSTALL',
    message: /no dynamic loader/,
  });
  await assert.rejects(installCni({ from: join(root, 'nope'), to, version: '1' }), {
    code: 'BINDERY_ERR_INSTALL',
    message: /the Node binary not found/,
  });
  assert.deepEqual(readdirSync(to), []);
});
