// The image builds offline (scripts/build-image.sh, buildah from scratch) and runs under podman: --version, the passt drop-in, the sidecar by default, install-cni.
//
// Everything lives in a private storage (--root/--runroot in a temporary directory, the vfs
// driver: no overlay mounts to leak), removed afterwards; containers run with no network.
// podman 4.3 here needs runc (crun refuses the hybrid cgroup setup), cgroupfs and explicit
// ulimits (no CAP_SYS_RESOURCE to raise them to podman's defaults), facts-peers.md.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runId } from '../lab/lab.js';
import { waitFor } from '../lab/wait.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const version = (
  JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }
).version;
const IMAGE = `localhost/bindery:${version}`;

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end (the deadline only bounds a hung run), never rejecting. */
function run(
  cmd: string,
  args: readonly string[],
  opts: { env?: NodeJS.ProcessEnv; input?: string; cwd?: string } = {},
): Promise<Ran> {
  return new Promise((resolve) => {
    const child = execFile(
      cmd,
      args,
      {
        cwd: opts.cwd ?? ROOT,
        env: opts.env ?? process.env,
        timeout: 120_000,
        maxBuffer: 16 << 20,
        encoding: 'utf8',
      },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
        resolve({ code, stdout, stderr });
      },
    );
    // A command that exits without reading its stdin makes the write fail with EPIPE: that is
    // its business (its exit status says how it went), not an uncaught error of the test.
    child.stdin?.on('error', () => {});
    child.stdin?.end(opts.input ?? '');
  });
}

test('the image builds offline and runs bindery, the passt drop-in, the sidecar and install-cni', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), `bdy-${runId}-image-`));
  const storage = [
    '--root',
    join(dir, 'root'),
    '--runroot',
    join(dir, 'run'),
    '--storage-driver',
    'vfs',
  ];
  const podman = [
    ...storage,
    '--cgroup-manager',
    'cgroupfs',
    '--runtime',
    'runc',
    '--events-backend',
    'none',
  ];
  const runArgs = [
    'run',
    '--rm',
    '--network',
    'none',
    '--ulimit',
    'nofile=1024:1024',
    '--ulimit',
    'nproc=1024:1024',
  ];
  const names: string[] = [];
  t.after(async () => {
    for (const n of names) await run('podman', [...podman, 'rm', '--force', '--time', '0', n]);
    await run('buildah', [...storage, 'rm', '--all']);
    rmSync(dir, { recursive: true, force: true });
  });

  // Build, and write the OCI archive a registry-less cluster would load.
  const archive = join(dir, 'bindery.oci.tar');
  const built = await run('scripts/build-image.sh', ['--archive', archive], {
    env: { ...process.env, BUILDAH_GLOBAL_ARGS: storage.join(' ') },
  });
  assert.equal(built.code, 0, built.stderr);
  assert.equal(built.stdout.trim(), IMAGE);
  const listing = await run('tar', ['-tf', archive]);
  assert.match(listing.stdout, /^index\.json$/m);

  // bindery --version, as the host's build prints it.
  const host = await run(process.execPath, ['bin/bindery.js', '--version']);
  assert.equal(host.code, 0);
  const ver = await run('podman', [...podman, ...runArgs, IMAGE, '--version']);
  assert.equal(ver.code, 0, ver.stderr);
  assert.equal(ver.stdout, host.stdout);

  // The passt drop-in is `bindery passt` with the same argv: the same answers as on the host.
  for (const argv of [['--version'], ['--help']]) {
    const h = await run(process.execPath, ['bin/bindery.js', 'passt', ...argv]);
    const c = await run('podman', [...podman, ...runArgs, '--entrypoint', 'passt', IMAGE, ...argv]);
    assert.deepEqual(
      { code: c.code, stdout: c.stdout, stderr: c.stderr },
      { code: h.code, stdout: h.stdout, stderr: h.stderr },
      `passt ${argv.join(' ')}`,
    );
  }

  // With no arguments (as KubeVirt starts a binding sidecar) the image serves the hook socket,
  // named after NETWORK_BINDING_PLUGIN_NAME, and stops cleanly on SIGTERM.
  const hooks = join(dir, 'hooks');
  mkdirSync(hooks);
  const name = `bdy-${runId}-sidecar-${randomBytes(3).toString('hex')}`;
  names.push(name);
  const sidecar = spawn(
    'podman',
    [
      ...podman,
      ...runArgs,
      '--name',
      name,
      '--env',
      'NETWORK_BINDING_PLUGIN_NAME=bindery-passt',
      '--volume',
      `${hooks}:/var/run/kubevirt-hooks`,
      IMAGE,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  sidecar.stderr.setEncoding('utf8').on('data', (d: string) => (log += d));
  const exited = new Promise<number | null>((r) => sidecar.on('close', (code) => r(code)));
  const socket = join(hooks, 'bindery-bindery-passt.sock');
  await waitFor(
    () => existsSync(socket),
    60_000,
    () => `the sidecar's socket (log: ${log})`,
    50,
  );
  const killed = await run('podman', [...podman, 'kill', '--signal', 'TERM', name]);
  assert.equal(killed.code, 0, killed.stderr);
  assert.equal(await exited, 0, log);
  assert.match(log, /"msg":"sidecar stopped"/);
  assert.equal(existsSync(socket), false);

  // install-cni into a directory standing for the host's /opt/cni/bin; the launcher then runs
  // on this machine with the image's runtime.
  const cniBin = join(dir, 'cni-bin');
  mkdirSync(cniBin);
  const inst = await run('podman', [
    ...podman,
    ...runArgs,
    '--volume',
    `${cniBin}:/host/opt/cni/bin`,
    IMAGE,
    'install-cni',
    '--to',
    '/host/opt/cni/bin',
  ]);
  assert.equal(inst.code, 0, inst.stderr);
  const launcher = join(cniBin, 'bindery-cni');
  const reply = await run(launcher, [], {
    env: { CNI_COMMAND: 'VERSION', PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
    input: '{"cniVersion":"1.0.0"}',
  });
  assert.equal(reply.code, 0, reply.stderr + reply.stdout);
  const v = JSON.parse(reply.stdout) as { supportedVersions: string[] };
  assert.ok(v.supportedVersions.includes('1.0.0'), reply.stdout);
});
