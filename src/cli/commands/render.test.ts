// End-to-end tests of `bindery render`: the seed documents through run(), output files, errors.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { XMLParser } from 'fast-xml-parser';
import { run, type CliIo } from '../main.js';

const RUN = process.env.BINDERY_RUN_ID ?? 'dev';
const FIX = fileURLToPath(new URL('../../../test/fixtures/render/', import.meta.url));
const fx = (name: string) => join(FIX, name);

function capture(): CliIo & { stdout: string; stderr: string } {
  const io = {
    stdout: '',
    stderr: '',
    out(t: string) {
      io.stdout += t;
    },
    err(t: string) {
      io.stderr += t;
    },
  };
  return io;
}

let tmp = '';
let n = 0;
before(() => {
  tmp = mkdtempSync(join(tmpdir(), `bindery-lab-${RUN}-render-`));
});
after(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});
const outDir = () => join(tmp, `out${n++}`);

type Obj = Record<string, unknown>;
interface Pod {
  metadata: { annotations?: Record<string, string> };
  spec: { containers: Obj[]; volumes?: Obj[] };
}

/** No line of stderr looks like a stack frame, and every line is one problem. */
function assertNoStack(stderr: string): void {
  assert.doesNotMatch(stderr, /^\s+at /m);
  assert.doesNotMatch(stderr, /Error:/);
}

test('seed passt VM + seed CR patch with overhead: NAD entry, sidecar, 500Mi, interface XML', async () => {
  const io = capture();
  const dir = outDir();
  const code = await run(
    [
      'render',
      fx('passt-vm.yaml'),
      fx('passt-cr-patch-overhead.json'),
      '--for',
      'kubevirt',
      '--out',
      dir,
    ],
    io,
  );
  assert.equal(code, 0, io.stderr);
  assert.equal(io.stderr, '');
  assert.deepEqual(readdirSync(dir).sort(), [
    'domain-interfaces.xml',
    'launcher-pod.yaml',
    'plan.json',
  ]);

  const pod = parseYaml(readFileSync(join(dir, 'launcher-pod.yaml'), 'utf8')) as Pod;
  const networks = JSON.parse(
    pod.metadata.annotations?.['k8s.v1.cni.cncf.io/networks'] ?? '',
  ) as unknown;
  assert.deepEqual(networks, [
    { name: 'netbindingpasst', namespace: 'default', 'cni-args': { logicNetworkName: 'passtnet' } },
  ]);
  const [compute, sidecar] = pod.spec.containers as [Obj, Obj];
  const cmd = compute['command'] as string[];
  assert.equal(cmd[cmd.indexOf('--hook-sidecars') + 1], '1');
  assert.deepEqual(compute['resources'], { requests: { memory: '500Mi' } });
  assert.equal(sidecar['name'], 'hook-sidecar-0');
  assert.equal(sidecar['image'], 'quay.io/kubevirt/network-passt-binding:20231205_29a16d5c9');
  assert.deepEqual(sidecar['env'], [
    { name: 'CONTAINER_NAME', value: 'hook-sidecar-0' },
    { name: 'NETWORK_BINDING_PLUGIN_NAME', value: 'passt' },
  ]);
  assert.deepEqual(sidecar['volumeMounts'], [
    {
      name: 'hook-sidecar-sockets',
      mountPath: '/var/run/kubevirt-hooks',
      subPath: 'hook-sidecar-0',
    },
  ]);

  const xml = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '' }).parse(
    readFileSync(join(dir, 'domain-interfaces.xml'), 'utf8'),
  ) as { devices: { interface: Obj } };
  const i = xml.devices.interface;
  assert.equal(i['type'], 'user');
  assert.deepEqual(i['source'], { dev: 'eth0' });
  assert.deepEqual(i['backend'], { type: 'passt', logFile: '/var/run/kubevirt/passt.log' });
  assert.deepEqual(i['model'], { type: 'virtio-non-transitional' });
  assert.deepEqual(i['alias'], { name: 'ua-passtnet' });
  assert.deepEqual(i['portForward'], { proto: 'tcp', range: { start: '80' } });

  // The file itself, wrapped in a minimal complete domain, passes libvirt's schema.
  if (spawnSync('virt-xml-validate', ['--help']).error === undefined) {
    const devices = readFileSync(join(dir, 'domain-interfaces.xml'), 'utf8');
    const file = join(tmp, 'seed-domain.xml');
    writeFileSync(
      file,
      `<domain type="kvm"><name>seed</name><memory unit="KiB">1048576</memory><os><type arch="x86_64">hvm</type></os>${devices}</domain>\n`,
    );
    const r = spawnSync('virt-xml-validate', [file, 'domain'], { encoding: 'utf8' });
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  }
});

test('seed 000 CR patch (no overhead declared) and seed 001 VM (no ports): forward everything', async () => {
  const io = capture();
  const code = await run(
    [
      'render',
      fx('passt-vm-run-strategy.yaml'),
      fx('passt-cr-patch.json'),
      fx('feature-gate-patch.json'),
      '--for',
      'kubevirt',
      '--out',
      '-',
    ],
    io,
  );
  assert.equal(code, 0, io.stderr);
  const parts = io.stdout.split(/^--- /m).filter((s) => s !== '');
  assert.deepEqual(
    parts.map((p) => p.split('\n')[0]),
    ['launcher-pod.yaml', 'domain-interfaces.xml', 'plan.json'],
  );
  const pod = parseYaml(parts[0]!.slice(parts[0]!.indexOf('\n') + 1)) as Pod;
  assert.equal((pod.spec.containers[0] as Obj)['resources'], undefined);
  assert.equal(pod.spec.containers.length, 2);
  assert.match(parts[1]!, /<portForward proto="tcp"\/>\s*<portForward proto="udp"\/>/);
});

test('the binding NAD of seed 000 is accepted alongside (NAD of the binding, not of a network)', async () => {
  const io = capture();
  const code = await run(
    [
      'render',
      fx('passt-vm.yaml'),
      fx('passt-cr-patch.json'),
      fx('netbindingpasst-nad.yaml'),
      '--for',
      'kubevirt',
      '--out',
      outDir(),
    ],
    io,
  );
  // The seed writes the NAD's config as a multi-line single-quoted scalar whose last line is
  // indented like its key, as kubectl accepts.
  assert.equal(code, 0, io.stderr);
  assert.equal(io.stderr, '');
  assertNoStack(io.stderr);
});

test('a broken seed CR patch (missing comma): one located line per problem, exit 1', async () => {
  const io = capture();
  const code = await run(
    [
      'render',
      fx('passt-vm.yaml'),
      fx('passt-cr-patch-missing-comma.json'),
      '--for',
      'kubevirt',
      '--out',
      outDir(),
    ],
    io,
  );
  assert.equal(code, 1);
  assertNoStack(io.stderr);
  const lines = io.stderr.trim().split('\n');
  assert.ok(lines.length >= 2);
  assert.match(
    lines[0]!,
    /^\S*passt-cr-patch-missing-comma\.json:\d+: .*Missing , between flow map items/,
  );
  // Then the consequence: the VM's plugin is not registered. Every line is located.
  for (const l of lines.slice(0, -1)) assert.match(l, /^\S+\.(json|yaml):\d+: /);
  assert.match(lines.at(-1)!, /^bindery: render: \d+ errors? in the input; nothing written/);
});

test('an unregistered plugin: the virt-controller error with file, line and path', async () => {
  const io = capture();
  const code = await run(
    ['render', fx('passt-vm.yaml'), '--for', 'kubevirt', '--out', outDir()],
    io,
  );
  assert.equal(code, 1);
  assertNoStack(io.stderr);
  assert.match(
    io.stderr,
    /passt-vm\.yaml:\d+: spec\.template\.spec\.domain\.devices\.interfaces\[0\]\.binding(\.name)?: .*passt/,
  );
});

test('admission errors are printed like validate and stop the render', async () => {
  const dir = outDir();
  const vm = join(tmp, 'masq-on-multus.yaml');
  writeFileSync(
    vm,
    [
      'apiVersion: kubevirt.io/v1',
      'kind: VirtualMachineInstance',
      'metadata: {name: bad}',
      'spec:',
      '  domain:',
      '    devices:',
      '      interfaces:',
      '      - name: blue',
      '        masquerade: {}',
      '  networks:',
      '  - name: blue',
      '    multus: {networkName: br-blue}',
      '',
    ].join('\n'),
  );
  const io = capture();
  assert.equal(await run(['render', vm, '--for', 'kubevirt', '--out', dir], io), 1);
  assertNoStack(io.stderr);
  assert.match(
    io.stderr,
    /masq-on-multus\.yaml:\d+: spec\.domain\.devices\.interfaces\[0\].*: Masquerade interface only implemented with pod network/,
  );
  assert.equal(existsSync(dir), false);
});

test('KubeVirt masquerade: nftables text and JSON files', async () => {
  const vm = join(tmp, 'masq.yaml');
  writeFileSync(
    vm,
    [
      'apiVersion: kubevirt.io/v1',
      'kind: VirtualMachineInstance',
      'metadata: {name: masq, namespace: vms}',
      'spec:',
      '  domain:',
      '    devices:',
      '      interfaces: [{name: default, masquerade: {}, ports: [{port: 22}]}]',
      '  networks: [{name: default, pod: {}}]',
      '',
    ].join('\n'),
  );
  const dir = outDir();
  const io = capture();
  assert.equal(
    await run(['render', vm, '--for', 'kubevirt', '--out', dir, '--mtu', '1450'], io),
    0,
    io.stderr,
  );
  assert.deepEqual(readdirSync(dir).sort(), [
    'domain-interfaces.xml',
    'launcher-pod.yaml',
    'nftables.json',
    'nftables.nft',
    'plan.json',
  ]);
  assert.match(
    readFileSync(join(dir, 'nftables.nft'), 'utf8'),
    /add rule ip nat KUBEVIRT_PREINBOUND tcp dport \{ 22 \} counter dnat to 10\.0\.2\.2/,
  );
  const json = JSON.parse(readFileSync(join(dir, 'nftables.json'), 'utf8')) as {
    nftables: unknown[];
  };
  assert.ok(json.nftables.length > 10);
  assert.match(readFileSync(join(dir, 'domain-interfaces.xml'), 'utf8'), /<mtu size="1450"\/>/);
  const pod = parseYaml(readFileSync(join(dir, 'launcher-pod.yaml'), 'utf8')) as Pod;
  assert.equal(pod.metadata.annotations?.['istio.io/reroute-virtual-interfaces'], 'k6t-eth0');
});

test('the Virtink examples of seed 002 render', async () => {
  for (const f of [
    'virtink-pod-bridge.yaml',
    'virtink-ovs.yaml',
    'virtink-masquerade.yaml',
    'virtink-sriov.yaml',
    'virtink-vdpa.yaml',
  ]) {
    const dir = outDir();
    const io = capture();
    const code = await run(['render', fx(f), '--for', 'virtink', '--out', dir], io);
    assert.equal(code, 0, `${f}: ${io.stderr}`);
    assertNoStack(io.stderr);
    const ch = JSON.parse(readFileSync(join(dir, 'cloud-hypervisor.json'), 'utf8')) as Obj;
    assert.ok(existsSync(join(dir, 'vm-pod.yaml')));
    if (f === 'virtink-masquerade.yaml') {
      assert.ok(existsSync(join(dir, 'nftables.nft')));
      assert.deepEqual((ch['net'] as Obj[])[0]!['tap'], 'tap-eth0');
    }
    if (f === 'virtink-sriov.yaml') {
      const pod = parseYaml(readFileSync(join(dir, 'vm-pod.yaml'), 'utf8')) as Pod;
      assert.deepEqual((pod.spec.containers[0] as Obj)['resources'], {
        requests: { 'intel.com/mellanox_SRIOV_25G': '1' },
        limits: { 'intel.com/mellanox_SRIOV_25G': '1' },
      });
      assert.match(
        io.stderr,
        /^\S*virtink-sriov\.yaml: default\/vm: warning: interface 'sriov': SR-IOV device needs the VF PCI address/m,
      );
    }
  }
});

test('seed 002 vDPA with a network-status: Cloud Hypervisor vdpa devices', async () => {
  const dir = outDir();
  const io = capture();
  const code = await run(
    [
      'render',
      fx('virtink-vdpa.yaml'),
      '--for',
      'virtink',
      '--network-status',
      fx('virtink-network-status.json'),
      '--out',
      dir,
    ],
    io,
  );
  assert.equal(code, 0, io.stderr);
  assert.equal(io.stderr, '');
  const ch = JSON.parse(readFileSync(join(dir, 'cloud-hypervisor.json'), 'utf8')) as {
    vdpa: Obj[];
    net: Obj[];
  };
  assert.deepEqual(
    ch.vdpa.map((v) => [v['id'], v['path'], v['num_queues'], v['iommu']]),
    [
      ['vdpa1', '/dev/vhost-vdpa-1', 9, false],
      ['vdpa2', '/dev/vhost-vdpa-2', 9, false],
    ],
  );
  assert.match(String(ch.net[0]!['mac']), /^52:54:00(:[0-9a-f]{2}){3}$/);
});

test('the wrong platform, no VM, an unreadable file: one line each, exit 1', async () => {
  let io = capture();
  assert.equal(
    await run(
      ['render', fx('virtink-masquerade.yaml'), '--for', 'kubevirt', '--out', outDir()],
      io,
    ),
    1,
  );
  assert.match(
    io.stderr,
    /virtink-masquerade\.yaml:\d+: apiVersion: VirtualMachine virt\.virtink\.smartx\.com\/v1alpha1 is a Virtink object/,
  );
  io = capture();
  assert.equal(
    await run(['render', fx('passt-cr-patch.json'), '--for', 'kubevirt', '--out', outDir()], io),
    1,
  );
  assert.match(io.stderr, /no KubeVirt VirtualMachine or VirtualMachineInstance in the input/);
  io = capture();
  assert.equal(
    await run(['render', join(tmp, 'nope.yaml'), '--for', 'kubevirt', '--out', '-'], io),
    1,
  );
  assert.equal(io.stderr.trim().split('\n').length, 1);
  assert.match(io.stderr, /nope\.yaml: cannot read \(ENOENT\)/);
  assertNoStack(io.stderr);
});

test('usage errors: exit 2 with one line', async () => {
  for (const argv of [
    ['render', fx('passt-vm.yaml'), '--out', '-'],
    ['render', fx('passt-vm.yaml'), '--for', 'ovirt', '--out', '-'],
    ['render', fx('passt-vm.yaml'), '--for', 'kubevirt'],
    ['render', fx('passt-vm.yaml'), '--for', 'kubevirt', '--out', '-', '--mtu', 'big'],
    ['render', fx('passt-vm.yaml'), '--for', 'kubevirt', '--out', '-', '--kubevirt-version', '2.0'],
    ['render', '--for', 'kubevirt', '--out', '-'],
  ]) {
    const io = capture();
    assert.equal(await run(argv, io), 2, `${argv.join(' ')}: ${io.stderr}`);
    assert.equal(io.stderr.trim().split('\n').length, 1, io.stderr);
    assert.match(io.stderr, /^bindery: /);
  }
});

test('several VMs go to one folder each', async () => {
  const dir = outDir();
  const io = capture();
  const code = await run(
    [
      'render',
      fx('passt-vm.yaml'),
      fx('passt-cr-patch.json'),
      join(tmp, 'masq.yaml'),
      '--for',
      'kubevirt',
      '--out',
      dir,
    ],
    io,
  );
  assert.equal(code, 0, io.stderr);
  assert.deepEqual(readdirSync(dir).sort(), ['default-vm-net-binding-passt', 'vms-masq']);
});
