// The hook sidecar against a foreign client: two `bindery sidecar` processes, Debian's python3-grpcio as virt-launcher.
//
// Needs `npm run build` (runs bin/bindery.js), protoc and /usr/bin/python3 with python3-grpcio
// and python3-protobuf (scripts/setup-debian.sh). Root is not needed. The Python stubs are
// generated from proto/ at test time, so the client speaks the protocol from the same files
// with another gRPC implementation (C-core) and another protobuf runtime.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { XMLParser } from 'fast-xml-parser';
import { TMPDIR_PREFIX } from '../lab/lab.js';
import { waitFor } from '../lab/wait.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'bin', 'bindery.js');
const CLIENT = join(ROOT, 'test', 'sidecar', 'hook_client.py');
const FIXTURES = join(ROOT, 'test', 'fixtures', 'sidecar');
const PYTHON = '/usr/bin/python3';

let dir = '';
const children: ChildProcess[] = [];

before(() => {
  assert.ok(
    existsSync(join(ROOT, 'dist', 'cli', 'main.js')),
    'dist/ missing: run `npm run build` first',
  );
  dir = mkdtempSync(join(tmpdir(), `${TMPDIR_PREFIX}sidecar-`));
  const stubs = join(dir, 'stubs');
  mkdirSync(stubs);
  const protos = [
    'info/api_info',
    'v1alpha1/api_v1alpha1',
    'v1alpha2/api_v1alpha2',
    'v1alpha3/api_v1alpha3',
  ].map((p) => `kubevirt/hooks/${p}.proto`);
  const r = spawnSync('protoc', ['-I', join(ROOT, 'proto'), `--python_out=${stubs}`, ...protos], {
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, `protoc: ${r.error?.message ?? ''}${r.stderr}`);
});

after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Sidecar {
  readonly proc: ChildProcess;
  readonly socket: string;
  /** Resolves with the exit code (or signal name) once its output is all read. */
  readonly exited: Promise<number | string>;
  log(): string;
}

function startSidecar(socketDir: string, args: readonly string[], socketName: string): Sidecar {
  const proc = spawn(process.execPath, [BIN, 'sidecar', '--socket-dir', socketDir, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NETWORK_BINDING_PLUGIN_NAME: '' },
  });
  children.push(proc);
  let out = '';
  proc.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  proc.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | string>((resolve) =>
    proc.on('close', (code, sig) => resolve(code ?? sig ?? -1)),
  );
  return { proc, socket: join(socketDir, socketName), exited, log: () => out };
}

function withDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise<T>((_, reject) => {
      t = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]);
}

function runClient(
  plan: object,
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const planFile = join(dir, `plan-${Date.now()}.json`);
  writeFileSync(planFile, JSON.stringify(plan));
  const p = spawn(PYTHON, [CLIENT, join(dir, 'stubs'), planFile], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(p);
  let stdout = '';
  let stderr = '';
  p.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  p.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  return withDeadline(
    new Promise((resolve) => p.on('close', (status) => resolve({ status, stdout, stderr }))),
    60_000,
    'the python hook client',
  );
}

interface Transcript {
  sidecars: Array<{
    socket: string;
    version: string;
    info: {
      name: string;
      hookPoints: Array<{ name: string; priority: number }>;
      versions: string[];
    };
  }>;
  malformed: Array<{ socket: string; code: string; details?: string }>;
  preCloudInitIso: Array<{ socket: string; cloudInitNoCloudSource: string; cloudInitData: string }>;
  chain: string[];
  domain: string;
  shutdown: string[];
}

const xml = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  isArray: (n) => ['interface', 'portForward', 'range'].includes(n),
});

test('virt-launcher-style client (python3-grpcio) discovers two sidecars, chains OnDefineDomain, shuts them down', async () => {
  const hooks = join(dir, 'hooks');
  // As in the compute container: each sidecar owns one subdirectory (its subPath mount).
  const passt = startSidecar(
    join(hooks, 'hook-sidecar-0'),
    ['--vhost-user', '--name', 'bindery-passt'],
    'bindery-passt.sock',
  );
  const tap = startSidecar(
    join(hooks, 'hook-sidecar-1'),
    ['--binding', 'mytap', '--attachment', 'tap', '--name', 'bindery-mytap'],
    'bindery-mytap.sock',
  );
  // Skipped as virt-launcher skips them: a directory inside a sidecar's subdirectory and a
  // file at the top level (only non-directory entries of first-level subdirectories count).
  mkdirSync(join(hooks, 'hook-sidecar-1', 'nested'), { recursive: true });
  writeFileSync(join(hooks, 'top-level-file'), '');

  const r = await runClient({
    hooksDir: hooks,
    expected: 2,
    vmi: join(FIXTURES, 'vmi.json'),
    domain: join(FIXTURES, 'domain.xml'),
    malformedDomain: '<domain><devices></domain>',
    timeoutSeconds: 30,
  });
  assert.equal(
    r.status,
    0,
    `client failed: ${r.stderr}\n--- sidecars:\n${passt.log()}${tap.log()}`,
  );
  const t = JSON.parse(r.stdout) as Transcript;

  // Info: name, hook points, versions; the client picked the newest.
  const byName = new Map(t.sidecars.map((s) => [s.info.name, s]));
  assert.deepEqual([...byName.keys()].sort(), ['bindery-mytap', 'bindery-passt']);
  for (const s of t.sidecars) {
    assert.deepEqual(s.info.hookPoints, [
      { name: 'OnDefineDomain', priority: 0 },
      { name: 'Shutdown', priority: 0 },
    ]);
    assert.deepEqual(s.info.versions, ['v1alpha1', 'v1alpha2', 'v1alpha3']);
    assert.equal(s.version, 'v1alpha3');
  }
  assert.equal(byName.get('bindery-passt')!.socket, passt.socket);
  assert.equal(byName.get('bindery-mytap')!.socket, tap.socket);

  // A malformed domain: INVALID_ARGUMENT with the parser's message; both kept serving.
  for (const m of t.malformed) {
    assert.equal(m.code, 'INVALID_ARGUMENT', JSON.stringify(m));
    assert.match(
      m.details ?? '',
      /^domain XML: line 1, column \d+: Expected closing tag 'devices'/,
    );
  }
  assert.equal(t.malformed.length, 2);
  // PreCloudInitIso echoes its input.
  assert.deepEqual(
    t.preCloudInitIso.map((p) => [p.cloudInitNoCloudSource, p.cloudInitData]),
    [
      ['{"userData":"x"}', '#cloud-config\n'],
      ['{"userData":"x"}', '#cloud-config\n'],
    ],
  );

  // The chain: equal priorities, so by name (bindery-mytap, then bindery-passt).
  assert.deepEqual(t.chain, [tap.socket, passt.socket]);
  const dom = (xml.parse(t.domain) as { domain: Record<string, unknown> }).domain;
  const devices = dom['devices'] as { interface: Array<Record<string, unknown>> };
  const alias = (i: Record<string, unknown>) => (i['alias'] as Record<string, string>)['@name'];
  assert.deepEqual(devices.interface.map(alias), ['ua-blue', 'ua-default']);
  const [blue, def] = devices.interface;
  assert.equal(blue!['@type'], 'ethernet');
  assert.deepEqual(blue!['target'], { '@dev': 'tap16477688c0e', '@managed': 'no' });
  assert.deepEqual(blue!['mtu'], { '@size': '1400' });
  assert.equal(def!['@type'], 'vhostuser');
  assert.deepEqual(def!['source'], { '@dev': 'eth0' });
  assert.deepEqual(def!['backend'], {
    '@type': 'passt',
    '@logFile': '/var/run/kubevirt/passt.log',
  });
  assert.deepEqual(def!['mac'], { '@address': '02:00:00:0a:0b:0c' });
  assert.deepEqual(def!['portForward'], [
    { '@proto': 'tcp', range: [{ '@start': '80' }, { '@start': '443' }] },
    { '@proto': 'udp', range: [{ '@start': '53' }] },
  ]);
  assert.deepEqual(dom['memoryBacking'], {
    source: { '@type': 'memfd' },
    access: { '@mode': 'shared' },
  });
  // Everything else as virt-launcher wrote it.
  const original = readFileSync(join(FIXTURES, 'domain.xml'), 'utf8');
  const rest = (text: string) => {
    const d = { ...(xml.parse(text) as { domain: Record<string, unknown> }).domain };
    delete d['memoryBacking'];
    d['devices'] = { ...(d['devices'] as object), interface: undefined };
    return d;
  };
  assert.deepEqual(rest(t.domain), rest(original));
  assert.match(t.domain, /<qemu:env name="BINDERY_TEST" value="it's kept"\/>/);
  assert.match(t.domain, /<!-- generated by virt-launcher; hook sidecars run next -->/);

  // Shutdown: both answered, exited 0, sockets gone.
  assert.deepEqual(t.shutdown, [tap.socket, passt.socket]);
  assert.deepEqual(
    await withDeadline(Promise.all([passt.exited, tap.exited]), 15_000, 'the sidecars to exit'),
    [0, 0],
    `${passt.log()}${tap.log()}`,
  );
  assert.equal(existsSync(passt.socket), false, 'passt socket removed');
  assert.equal(existsSync(tap.socket), false, 'tap socket removed');
  // Logs are pino JSON lines; the client's authority is localhost.
  const lines = passt
    .log()
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.ok(lines.some((l) => l['msg'] === 'Info' && l['authority'] === 'localhost'));
  assert.ok(lines.some((l) => l['msg'] === 'OnDefineDomain' && l['level'] === 30));
  assert.ok(lines.some((l) => l['code'] === 'BINDERY_ERR_HOOK_INPUT' && l['level'] === 50));
  assert.equal(lines[lines.length - 1]!['msg'], 'sidecar stopped');
});

test('SIGTERM stops a sidecar cleanly (exit 0, socket removed); a stale socket is replaced', async () => {
  const sockDir = join(dir, 'hooks-term', 'hook-sidecar-0');
  const first = startSidecar(sockDir, ['--binding', 'passt'], 'bindery-passt.sock');
  await waitFor(
    () => first.log().includes('sidecar serving'),
    15_000,
    () => `serving: ${first.log()}`,
  );
  first.proc.kill('SIGKILL'); // leaves its socket file behind
  assert.equal(await withDeadline(first.exited, 15_000, 'SIGKILL'), 'SIGKILL');
  assert.ok(existsSync(first.socket), 'a killed sidecar leaves its socket');

  const second = startSidecar(sockDir, ['--binding', 'passt'], 'bindery-passt.sock');
  await waitFor(
    () => second.log().includes('sidecar serving'),
    15_000,
    () => `serving: ${second.log()}`,
  );
  second.proc.kill('SIGTERM');
  assert.equal(await withDeadline(second.exited, 15_000, 'SIGTERM exit'), 0, second.log());
  assert.equal(existsSync(second.socket), false);
  assert.match(second.log(), /"msg":"signal: stopping"/);
});

test('bad usage exits 2 with one line; a file in the way of the socket exits 1', async () => {
  const bad = startSidecar(join(dir, 'u'), ['--attachment', 'tap', '--vhost-user'], 'x.sock');
  assert.equal(await withDeadline(bad.exited, 15_000, 'usage exit'), 2);
  assert.match(bad.log(), /^bindery: --vhost-user applies to --attachment passt only\n$/);
  const blockDir = join(dir, 'blocked');
  mkdirSync(blockDir);
  writeFileSync(join(blockDir, 'bindery-passt.sock'), 'not a socket');
  const blocked = startSidecar(blockDir, [], 'bindery-passt.sock');
  assert.equal(await withDeadline(blocked.exited, 15_000, 'error exit'), 1);
  assert.match(blocked.log(), /exists and is not a socket.*BINDERY_ERR_LISTEN/);
});
