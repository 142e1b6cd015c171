// The kubelet path: a private containerd (Debian's, CRI plugin, runc) runs a conflist bridge + host-local → bindery-cni, driven over CRI gRPC as a kubelet drives it.
//
// Each case starts its own containerd with root, state, sockets, CNI bin and conf dirs in a lab
// temp dir, inside a lab network namespace (`nsenter --net`, so its mount namespace stays the
// host's and the pod netns it bind-mounts under /run/netns is visible to the test): the bridge
// `cni-bdy…` the bridge plugin makes, and the host side of every veth, live only in that lab
// namespace. host-local keeps its leases in the temp dir. The pause image is built here, offline:
// an OCI layout with a busybox-static rootfs whose entrypoint is `/bin/sleep`, imported with
// `ctr images import`. Teardown (also on failure): containerd and its shims killed by PID, their
// mounts undone, the pod netns containerd reported removed by name, the lab namespace and dirs.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import {
  copyFile,
  mkdir,
  readFile,
  readdir,
  rm,
  rmdir,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { HOST, Lab, labSkipReason } from '../lab/lab.js';
import type { LabProcess } from '../lab/lab.js';
import { execCommand } from '../lab/proc.js';
import { waitFor } from '../lab/wait.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PROTO = fileURLToPath(new URL('./cri/api.proto', import.meta.url));
const PAUSE_IMAGE = 'localhost/bindery-pause:1';
const SUBNET = '10.250.77.0/24';
/** libcni's result cache (containerd 1.6 sets no other). */
const CNI_CACHE = '/var/lib/cni/results';

function skipReason(): string | false {
  const why = labSkipReason();
  if (why !== undefined) return why;
  for (const p of ['/usr/bin/containerd', '/usr/bin/ctr', '/usr/sbin/runc', '/usr/bin/busybox'])
    if (!existsSync(p)) return `containerd, runc and busybox-static needed (${p} missing)`;
  for (const p of ['bridge', 'host-local', 'loopback'])
    if (!existsSync(`/usr/lib/cni/${p}`)) return 'containernetworking-plugins needed';
  if (!existsSync(join(ROOT, 'dist/cni/main.js'))) return 'npm run build first';
  return false;
}
const skip = skipReason();

// ------------------------------------------------------------------------------------------
// CRI client

interface CriClient {
  call<T>(method: string, req: Record<string, unknown>, timeoutMs?: number): Promise<T>;
  close(): void;
}

function criClient(socket: string): CriClient {
  const def = protoLoader.loadSync(PROTO, {
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
  });
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    runtime: {
      v1: {
        RuntimeService: grpc.ServiceClientConstructor;
        ImageService: grpc.ServiceClientConstructor;
      };
    };
  };
  const client = new pkg.runtime.v1.RuntimeService(
    `unix://${socket}`,
    grpc.credentials.createInsecure(),
  );
  const images = new pkg.runtime.v1.ImageService(
    `unix://${socket}`,
    grpc.credentials.createInsecure(),
  );
  return {
    call<T>(method: string, req: Record<string, unknown>, timeoutMs = 60_000): Promise<T> {
      return new Promise((resolve, reject) => {
        const c = method === 'ImageStatus' ? images : client;
        const fn = c[method] as (
          r: unknown,
          o: grpc.CallOptions,
          cb: (e: grpc.ServiceError | null, v: T) => void,
        ) => void;
        fn.call(c, req, { deadline: Date.now() + timeoutMs }, (e, v) =>
          e ? reject(e) : resolve(v),
        );
      });
    },
    close: () => {
      client.close();
      images.close();
    },
  };
}

interface SandboxStatus {
  status: {
    id: string;
    state: string;
    network: { ip: string; additional_ips: Array<{ ip: string }> } | null;
  };
  info: Record<string, string>;
}

// ------------------------------------------------------------------------------------------
// The pause image, built offline

function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

/**
 * Writes an OCI image archive (`oci-layout`, `index.json`, blobs) whose single layer is a
 * busybox-static rootfs and whose entrypoint is `/bin/sleep 100000`.
 */
async function buildPauseImage(lab: Lab, dir: string): Promise<string> {
  const rootfs = join(dir, 'rootfs');
  await mkdir(join(rootfs, 'bin'), { recursive: true });
  await copyFile('/usr/bin/busybox', join(rootfs, 'bin/busybox'));
  await symlink('busybox', join(rootfs, 'bin/sleep'));
  await symlink('busybox', join(rootfs, 'bin/sh'));
  const layerTar = join(dir, 'layer.tar');
  await lab.run(HOST, [
    'tar',
    '--numeric-owner',
    '--owner=0',
    '--group=0',
    '-C',
    rootfs,
    '-cf',
    layerTar,
    '.',
  ]);
  const layer = await readFile(layerTar);
  const layout = join(dir, 'layout');
  const blobs = join(layout, 'blobs/sha256');
  await mkdir(blobs, { recursive: true });
  const blob = async (b: Buffer): Promise<{ digest: string; size: number }> => {
    const h = sha256(b);
    await writeFile(join(blobs, h), b);
    return { digest: `sha256:${h}`, size: b.length };
  };
  const layerRef = await blob(layer);
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Entrypoint: ['/bin/sleep', '100000'], Env: ['PATH=/bin'] },
      rootfs: { type: 'layers', diff_ids: [layerRef.digest] },
    }),
  );
  const configRef = await blob(config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...configRef },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layerRef }],
    }),
  );
  const manifestRef = await blob(manifest);
  await writeFile(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(
    join(layout, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          ...manifestRef,
          annotations: {
            'io.containerd.image.name': PAUSE_IMAGE,
            'org.opencontainers.image.ref.name': '1',
          },
        },
      ],
    }),
  );
  const archive = join(dir, 'pause.tar');
  await lab.run(HOST, ['tar', '-C', layout, '-cf', archive, '.']);
  return archive;
}

// ------------------------------------------------------------------------------------------
// A private containerd in a lab namespace

interface Node {
  readonly lab: Lab;
  readonly dir: string;
  readonly nodeNs: string;
  readonly cri: CriClient;
  readonly stateDir: string;
  readonly logFile: string;
  readonly bridge: string;
  readonly containerd: LabProcess;
  /** Pod netns paths containerd reported; removed at teardown if still there. */
  readonly podNetns: Set<string>;
  /** Sandbox ids RunPodSandbox returned (their CNI cache entries and shim sockets go at teardown). */
  readonly sandboxes: Set<string>;
}

function conflist(
  dir: string,
  bridge: string,
  plugin: Record<string, unknown>,
): Record<string, unknown> {
  return {
    cniVersion: '1.0.0',
    name: 'bdy-pods',
    plugins: [
      {
        type: 'bridge',
        bridge,
        isGateway: true,
        ipMasq: false,
        ipam: {
          type: 'host-local',
          dataDir: join(dir, 'ipam'),
          ranges: [[{ subnet: SUBNET }]],
          routes: [{ dst: '0.0.0.0/0' }],
        },
      },
      { type: 'bindery-cni', capabilities: { portMappings: true }, ...plugin },
    ],
  };
}

/**
 * The PIDs of what the containerd at `socket` started: its shims (their command line names the
 * socket) and the shims' children (the sandboxes' processes), children first.
 */
async function ownPids(socket: string): Promise<number[]> {
  const shims: number[] = [];
  const parent = new Map<number, number>();
  for (const d of await readdir('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const cmd = (await readFile(`/proc/${d}/cmdline`, 'utf8')).split('\0');
      if (cmd[0]?.endsWith('containerd-shim-runc-v2') && cmd.includes(socket))
        shims.push(Number(d));
      const stat = await readFile(`/proc/${d}/stat`, 'utf8');
      parent.set(Number(d), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone
    }
  }
  const children = [...parent].filter(([, pp]) => shims.includes(pp)).map(([pid]) => pid);
  return [...children, ...shims];
}

async function startNode(t: TestContext, plugin: Record<string, unknown>): Promise<Node> {
  const lab = await Lab.create(t);
  const dir = await lab.tmpDir();
  const nodeNs = await lab.namespace('node');
  const stateDir = join(dir, 'bindery-state');
  const logFile = join(dir, 'bindery-cni.log');
  const bridge = `cni-bdy${process.pid.toString(36)}`.slice(0, 15);
  const binDir = join(dir, 'cni-bin');
  const confDir = join(dir, 'cni-conf');
  await mkdir(binDir);
  await mkdir(confDir);
  for (const p of ['bridge', 'host-local', 'loopback'])
    await symlink(`/usr/lib/cni/${p}`, join(binDir, p));
  await symlink(join(ROOT, 'bin/bindery-cni.js'), join(binDir, 'bindery-cni'));
  await writeFile(
    join(confDir, '10-bindery.conflist'),
    JSON.stringify(conflist(dir, bridge, { stateDir, logFile, ...plugin }), null, 2),
  );
  const socket = join(dir, 'containerd.sock');
  const config = `version = 2
root = "${dir}/root"
state = "${dir}/state"
[grpc]
  address = "${socket}"
[ttrpc]
  address = "${socket}.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "${dir}/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${PAUSE_IMAGE}"
  restrict_oom_score_adj = true
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "native"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "${dir}/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "${binDir}"
    conf_dir = "${confDir}"
    max_conf_num = 1
`;
  await writeFile(join(dir, 'config.toml'), config);
  const podNetns = new Set<string>();
  const sandboxes = new Set<string>();

  // Teardown, registered before anything starts: shims and containerd by PID, mounts, pod netns.
  const live: { containerd?: LabProcess; cri?: CriClient } = {};
  // Dirs containerd 1.6 and libcni make outside their configured paths (shim sockets, the CNI
  // result cache): removed again when they were not there before and are empty.
  const outside = [
    '/run/containerd/s',
    '/run/containerd/runc/k8s.io',
    '/run/containerd/runc',
    '/run/containerd',
    '/var/lib/cni/results',
    '/var/lib/cni',
  ];
  const made = outside.filter((d) => !existsSync(d));
  lab.defer(async () => {
    live.cri?.close();
    // The sandboxes' processes and their shims, then containerd.
    for (const pid of await ownPids(socket)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await live.containerd?.kill('SIGKILL', 5000);
    // The lab refuses new commands once teardown began: run these directly.
    const mounts = (await readFile('/proc/self/mounts', 'utf8'))
      .split('\n')
      .map((l) => l.split(' ')[1]?.replace(/\\040/g, ' '))
      .filter((m): m is string => m !== undefined && m.startsWith(dir + '/'))
      .sort((a, b) => b.length - a.length);
    for (const m of mounts) await execCommand(['umount', '-l', m], { timeoutMs: 10_000 });
    for (const p of podNetns)
      if (existsSync(p))
        await execCommand(['ip', 'netns', 'del', p.slice(p.lastIndexOf('/') + 1)], {
          timeoutMs: 10_000,
        });
    for (const id of sandboxes) {
      // libcni's result cache and the shim's socket (containerd 1.6: /run/containerd/s/
      // sha256(<address>/<namespace>/<id>)), both by name.
      for (const f of existsSync(CNI_CACHE) ? await readdir(CNI_CACHE) : [])
        if (f.includes(`-${id}-`)) await rm(join(CNI_CACHE, f), { force: true });
      const hash = createHash('sha256').update(`${socket}/k8s.io/${id}`).digest('hex');
      await rm(join('/run/containerd/s', hash), { force: true });
    }
    for (const d of made) await rmdir(d).catch(() => undefined);
  });

  const path = `${dirname(process.execPath)}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`;
  const containerd = lab.spawn(
    HOST,
    [
      'nsenter',
      `--net=/run/netns/${nodeNs}`,
      '--',
      'containerd',
      '--config',
      join(dir, 'config.toml'),
    ],
    {
      env: { PATH: path },
      label: 'containerd',
    },
  );
  live.containerd = containerd;
  await waitFor(
    () => existsSync(socket) || containerd.exitStatus !== undefined,
    30_000,
    'containerd socket',
  );
  if (containerd.exitStatus !== undefined)
    throw new Error(`containerd exited: ${containerd.output.slice(-2000)}`);
  const pause = await buildPauseImage(lab, join(dir, 'image'));
  await lab.run(
    HOST,
    ['ctr', '--address', socket, '-n', 'k8s.io', 'images', 'import', '--no-unpack', pause],
    {
      timeoutMs: 60_000,
    },
  );
  const cri = criClient(socket);
  live.cri = cri;
  // ctr's import reaches the CRI plugin's image cache through an event, later on a busy machine:
  // until it has, RunPodSandbox would try to pull the pause image from a registry.
  const end = Date.now() + 60_000;
  for (;;) {
    const st = await cri.call<{ image: { id: string } | null }>('ImageStatus', {
      image: { image: PAUSE_IMAGE },
    });
    if (st.image !== null && st.image.id !== '') break;
    if (Date.now() > end) throw new Error(`the CRI plugin never saw ${PAUSE_IMAGE} after import`);
    await new Promise((res) => setTimeout(res, 100));
  }
  return { lab, dir, nodeNs, cri, stateDir, logFile, bridge, containerd, podNetns, sandboxes };
}

// ------------------------------------------------------------------------------------------
// Pods

function sandboxConfig(name: string, logDir: string): Record<string, unknown> {
  return {
    config: {
      metadata: { name, uid: `uid-${name}`, namespace: 'default', attempt: 0 },
      hostname: name,
      log_directory: logDir,
      port_mappings: [
        { protocol: 'TCP', container_port: 80, host_port: 8080 },
        { protocol: 'UDP', container_port: 53, host_port: 5353 },
      ],
      labels: { app: 'bindery-test' },
      annotations: { 'kubevirt.io/domain': name },
      linux: {
        security_context: { namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } },
      },
    },
  };
}

interface LogLine {
  msg: string;
  env?: Record<string, string>;
  config?: Record<string, unknown>;
  result?: Record<string, unknown>;
  undone?: string[];
}

async function transcript(file: string): Promise<LogLine[]> {
  if (!existsSync(file)) return [];
  return (await readFile(file, 'utf8'))
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as LogLine);
}

function netnsOf(status: SandboxStatus): string {
  const info = JSON.parse(status.info.info ?? '{}') as {
    runtimeSpec?: { linux?: { namespaces?: Array<{ type: string; path?: string }> } };
  };
  const ns = info.runtimeSpec?.linux?.namespaces?.find((n) => n.type === 'network')?.path;
  assert.ok(ns, 'PodSandboxStatus names the pod network namespace');
  return ns;
}

async function runCheck(
  node: Node,
  netns: string,
  id: string,
  prevResult: unknown,
  plugin: Record<string, unknown>,
) {
  const conf = { ...conflist(node.dir, node.bridge, { stateDir: node.stateDir, ...plugin }) };
  const entry = (conf.plugins as Array<Record<string, unknown>>)[1]!;
  const stdin = { cniVersion: conf.cniVersion, name: conf.name, ...entry, prevResult };
  return node.lab.exec(HOST, [join(node.dir, 'cni-bin/bindery-cni')], {
    input: JSON.stringify(stdin),
    env: {
      CNI_COMMAND: 'CHECK',
      CNI_CONTAINERID: id,
      CNI_NETNS: netns,
      CNI_IFNAME: 'eth0',
      CNI_PATH: join(node.dir, 'cni-bin'),
    },
  });
}

async function podLifecycle(t: TestContext, plugin: Record<string, unknown>): Promise<void> {
  const node = await startNode(t, plugin);
  const { lab, cri } = node;
  const version = await cri.call<{ runtime_name: string; runtime_api_version: string }>('Version', {
    version: 'v1',
  });
  assert.equal(version.runtime_name, 'containerd');
  assert.equal(version.runtime_api_version, 'v1');

  const logDir = join(node.dir, 'pods');
  await mkdir(logDir);
  const { pod_sandbox_id: id } = await cri.call<{ pod_sandbox_id: string }>(
    'RunPodSandbox',
    sandboxConfig('vmi-bdy', logDir),
    120_000,
  );
  node.sandboxes.add(id);
  const status = await cri.call<SandboxStatus>('PodSandboxStatus', {
    pod_sandbox_id: id,
    verbose: true,
  });
  assert.equal(status.status.state, 'SANDBOX_READY');
  const netns = netnsOf(status);
  node.podNetns.add(netns);
  assert.match(netns, /^\/var\/run\/netns\/cni-/);

  // What containerd sent bindery-cni, and what bindery-cni answered.
  const log = await transcript(node.logFile);
  const addReq = log.find((l) => l.msg === 'request' && l.env?.CNI_COMMAND === 'ADD');
  assert.ok(addReq, 'containerd ran bindery-cni ADD');
  t.diagnostic(
    `containerd → bindery-cni ADD: ${JSON.stringify({ env: addReq.env, config: addReq.config })}`,
  );
  assert.equal(addReq.env?.CNI_CONTAINERID, id);
  assert.equal(addReq.env?.CNI_NETNS, netns);
  assert.equal(addReq.env?.CNI_IFNAME, 'eth0');
  assert.match(addReq.env?.CNI_ARGS ?? '', /K8S_POD_NAME=vmi-bdy/);
  assert.deepEqual((addReq.config?.runtimeConfig as Record<string, unknown>).portMappings, [
    { HostPort: 8080, ContainerPort: 80, Protocol: 'tcp', HostIP: '' },
    { HostPort: 5353, ContainerPort: 53, Protocol: 'udp', HostIP: '' },
  ]);
  const prev = addReq.config?.prevResult as { ips: Array<{ address: string }> };
  const added = log.find((l) => l.msg === 'ADD done');
  assert.ok(added?.result, 'ADD answered a result');

  // The IP containerd reports is the bridge plugin's, and it is on eth0 in the pod.
  const podIp = prev.ips[0]!.address.split('/')[0];
  assert.equal(status.status.network?.ip, podIp);
  const nsName = netns.slice(netns.lastIndexOf('/') + 1);
  const addr = JSON.parse(
    await lab.run(HOST, ['ip', '-n', nsName, '-j', 'addr', 'show', 'dev', 'eth0']),
  ) as Array<{
    addr_info: Array<{ local: string }>;
  }>;
  assert.ok(addr[0]!.addr_info.some((a) => a.local === podIp));

  // The pod namespace as the binding needs it.
  const sysctls = (
    await lab.run(HOST, [
      'nsenter',
      `--net=${netns}`,
      'sysctl',
      '-n',
      'net.ipv4.ip_unprivileged_port_start',
      'net.ipv4.ping_group_range',
    ])
  )
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s+/).join(' '));
  assert.deepEqual(sysctls, ['0', '107 107']);
  const links = (
    JSON.parse(await lab.run(HOST, ['ip', '-n', nsName, '-j', '-d', 'link', 'show'])) as Array<{
      ifname: string;
      linkinfo?: { info_kind?: string };
    }>
  ).map((l) => `${l.ifname}:${l.linkinfo?.info_kind ?? ''}`);
  const state = JSON.parse(
    await readFile(join(node.stateDir, `${id}-eth0.json`), 'utf8'),
  ) as Record<string, unknown>;
  if (plugin.binding === 'tap') {
    assert.ok(links.includes('tap0:tun'), `tap0 in the pod: ${links.join(' ')}`);
    const ifaces = added.result.interfaces as Array<{ name: string; sandbox?: string }>;
    assert.deepEqual(ifaces.at(-1), { ...ifaces.at(-1), name: 'tap0', sandbox: netns });
  } else {
    assert.ok(!links.some((l) => l.startsWith('tap')));
    assert.deepEqual(added.result, { ...prev, cniVersion: '1.0.0' }, 'passt: prevResult passed on');
    assert.deepEqual(state.passtOptions, ['-t', '80', '-u', '53']);
  }
  // The bridge lives in the lab's node namespace, not the host's.
  await lab.run(HOST, ['ip', '-n', node.nodeNs, 'link', 'show', 'dev', node.bridge]);
  assert.notEqual((await lab.exec(HOST, ['ip', 'link', 'show', 'dev', node.bridge])).code, 0);

  // CHECK: containerd does not run it on its own; run the plugin as a runtime would.
  const check = await runCheck(node, netns, id, added.result, plugin);
  assert.equal(check.code, 0, check.stdout + check.stderr);

  // Stop: containerd runs DEL (in reverse order), bindery's state goes; then remove.
  await cri.call('StopPodSandbox', { pod_sandbox_id: id });
  const after = await transcript(node.logFile);
  const del = after.find((l) => l.msg === 'DEL done');
  assert.ok(del, 'containerd ran bindery-cni DEL on StopPodSandbox');
  if (plugin.binding === 'tap')
    assert.ok(del.undone?.includes('deleted tap tap0'), JSON.stringify(del));
  assert.deepEqual(await readdir(node.stateDir), []);
  await cri.call('RemovePodSandbox', { pod_sandbox_id: id });
  await waitFor(() => !existsSync(netns), 10_000, `${netns} removed`);
  await lab.run(HOST, ['ip', '-n', node.nodeNs, 'link', 'show', 'dev', node.bridge]);
}

test(
  'kubelet path: containerd runs bridge + host-local → bindery-cni (passt)',
  { skip, timeout: 300_000 },
  async (t) => {
    await podLifecycle(t, { binding: 'passt' });
  },
);

test(
  'kubelet path: containerd runs bridge + host-local → bindery-cni (tap)',
  { skip, timeout: 300_000 },
  async (t) => {
    await podLifecycle(t, { binding: 'tap' });
  },
);

test(
  "kubelet path: a bad bindery-cni config fails RunPodSandbox with bindery-cni's error",
  { skip, timeout: 300_000 },
  async (t) => {
    const before = new Set(existsSync('/var/run/netns') ? await readdir('/var/run/netns') : []);
    const node = await startNode(t, { binding: 'slirp' });
    const logDir = join(node.dir, 'pods');
    await mkdir(logDir);
    await assert.rejects(
      node.cri.call('RunPodSandbox', sandboxConfig('vmi-bad', logDir), 120_000),
      (e: grpc.ServiceError) => {
        assert.match(e.details, /bindery-cni/);
        assert.match(e.details, /unknown binding "slirp"/);
        t.diagnostic(`RunPodSandbox error: ${e.details}`);
        return true;
      },
    );
    // Nothing left behind: no state, no new pod netns.
    assert.ok(!existsSync(node.stateDir) || (await readdir(node.stateDir)).length === 0);
    const now = existsSync('/var/run/netns') ? await readdir('/var/run/netns') : [];
    const leaked = now.filter((n) => n.startsWith('cni-') && !before.has(n));
    for (const n of leaked) node.podNetns.add(`/var/run/netns/${n}`);
    assert.deepEqual(leaked, []);
  },
);
