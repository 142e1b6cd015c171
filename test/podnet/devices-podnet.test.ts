// pod-net with SR-IOV and vDPA interfaces: VFs bound to vfio-pci and back through podNetUp/podNetDown and the CLI, against a fabricated sysfs and /dev (test/lab/fake-sysfs.ts), and what the hypervisor is given.
//
// The pod namespace is real (nothing may change in it: these interfaces are the hypervisor's
// business); the host's PCI devices are fabricated, with a fake kernel rebinding drivers.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HOST, Lab, labSkipReason, type Netns } from '../lab/lab.js';
import { fakeHost, FakeKernel, type FakeHost } from '../lab/fake-sysfs.js';
import { loadPlans, type LoadedPlan } from '../../src/cli/plan-input.js';
import { BinderyError, ErrorCode } from '../../src/errors.js';
import { podNetDown, podNetUp, type PodNetState } from '../../src/podnet/index.js';
import type { PreparedDevice } from '../../src/podnet/devices.js';
import { renderCloudHypervisor } from '../../src/render/cloud-hypervisor.js';
import { renderMinimalDomain } from '../../src/render/domain-xml.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FIX = join(ROOT, 'test/fixtures/manifests');
const VIRTINK = join(FIX, 'podnet-virtink-sriov-vdpa.yaml');
const VIRTINK_STATUS = join(FIX, 'podnet-virtink-sriov-vdpa.network-status.json');
const KUBEVIRT = join(FIX, 'podnet-kubevirt-sriov.yaml');
const KUBEVIRT_STATUS = join(FIX, 'podnet-kubevirt-sriov.network-status.json');
/** The VF and vDPA node the network-status fixtures report. */
const VF = '0000:81:01.2';
const VDPA = 'vhost-vdpa-3';
const GROUP = '42';
const skip = labSkipReason();
const SILENT = { out: () => {}, err: () => {} };

interface Pod {
  readonly lab: Lab;
  readonly ns: Netns;
  readonly dir: string;
  readonly state: string;
  readonly host: FakeHost;
}

/** A pod namespace and a fabricated host whose VF is on iavf, with a fake kernel. */
async function pod(t: TestContext, opts: { vdpaNode?: boolean } = {}): Promise<Pod> {
  const lab = await Lab.create(t);
  const ns = await lab.namespace('pod');
  const dir = await lab.tmpDir();
  const host = fakeHost(join(dir, 'host'), {
    drivers: ['iavf', 'vfio-pci'],
    vfs: [{ addr: VF, driver: 'iavf', group: GROUP }],
    vdpa: (opts.vdpaNode ?? true) ? [VDPA] : [],
  });
  const k = new FakeKernel(host.sysfs);
  lab.defer(() => k.stop());
  return { lab, ns, dir, state: join(dir, 'state'), host };
}

async function load(
  file: string,
  platform: 'kubevirt' | 'virtink',
  status?: string,
): Promise<LoadedPlan> {
  const plans = await loadPlans(
    [file],
    {
      for: platform,
      naming: 'hashed',
      command: 'test',
      nothingDone: '-',
      ...(status !== undefined ? { networkStatus: status } : {}),
    },
    SILENT,
  );
  return plans[0]!;
}

const noAddressServer = {
  startAddressServer: (): Promise<number> =>
    Promise.reject(new Error('an SR-IOV/vDPA plan starts no address server')),
};

function up(p: Pod, l: LoadedPlan) {
  return podNetUp({
    plan: l.plan,
    paths: l.paths,
    interfaceIndex: l.interfaceIndex,
    netns: p.ns,
    stateDir: p.state,
    resolvConf: '/dev/null',
    sysfsRoot: p.host.sysfs,
    devRoot: p.host.dev,
    deps: noAddressServer,
  });
}

/** The namespace's links, addresses and routes (which these interfaces must not touch). */
async function nsFacts(p: Pod): Promise<string> {
  return [
    await p.lab.ip(p.ns, ['-j', 'addr', 'show']),
    await p.lab.ip(p.ns, ['-j', 'route', 'show', 'table', 'all']),
  ].join('\n');
}

function readState(dir: string): PodNetState {
  return JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as PodNetState;
}

/** The devices the state says `up` prepared (the undos `down` runs). */
function prepared(s: PodNetState): Array<{ prepared: PreparedDevice; roots?: unknown }> {
  return s.done.flatMap((d) =>
    d.undo.flatMap((a) =>
      a.kind === 'release-device'
        ? [{ prepared: a.prepared as PreparedDevice, roots: a.roots }]
        : [],
    ),
  );
}

function assertVfBack(p: Pod): void {
  assert.equal(p.host.driverOf(VF), 'iavf');
  assert.equal(p.host.override(VF).trim(), '');
}

test(
  'Virtink SR-IOV + vDPA: up binds the VF to vfio-pci and records it, CH config right, down gives it back',
  { skip },
  async (t) => {
    const p = await pod(t);
    const l = await load(VIRTINK, 'virtink', VIRTINK_STATUS);
    const before = await nsFacts(p);
    const r = await up(p, l);
    assert.equal(r.alreadyUp, false);
    assert.deepEqual(r.warnings, []);
    assert.deepEqual(
      r.interfaces.map((i) => [i.name, i.path, i.podInterface, i.pciAddress, i.vdpaPath]),
      [
        ['sriov', 'spec.instance.interfaces[0]', 'net0', VF, undefined],
        ['vdpa1', 'spec.instance.interfaces[1]', 'net1', undefined, `/dev/${VDPA}`],
      ],
    );
    assert.ok(r.interfaces.every((i) => i.addressServerPid === undefined));
    assert.equal(p.host.driverOf(VF), 'vfio-pci');
    assert.equal(p.host.override(VF), 'vfio-pci');
    assert.equal(await nsFacts(p), before);

    const s = readState(r.stateDir);
    assert.equal(s.complete, true);
    assert.deepEqual(s.addressServers, []);
    assert.deepEqual(prepared(s), [
      {
        prepared: {
          interfaceName: 'sriov',
          kind: 'sriov',
          pciAddress: VF,
          previousDriver: 'iavf',
          reboundToVfio: true,
          iommuGroup: GROUP,
          vfioGroup: join(p.host.dev, 'vfio', GROUP),
        },
        roots: p.host.roots,
      },
      {
        prepared: {
          interfaceName: 'vdpa1',
          kind: 'vdpa',
          vdpaPath: `/dev/${VDPA}`,
          numQueues: 9,
          iommu: true,
        },
        roots: p.host.roots,
      },
    ]);

    // What virt-prerunner gives Cloud Hypervisor for this plan (facts-virtink §2).
    const ch = renderCloudHypervisor(l.plan);
    assert.deepEqual(ch.warnings, []);
    assert.deepEqual(ch.config.net, undefined);
    assert.deepEqual(ch.config.devices, [{ id: 'sriov', path: `/sys/bus/pci/devices/${VF}` }]);
    assert.deepEqual(ch.config.vdpa, [
      { id: 'vdpa1', path: `/dev/${VDPA}`, num_queues: 9, iommu: true },
    ]);

    assert.equal((await up(p, l)).alreadyUp, true);
    assert.deepEqual(await podNetDown({ netns: p.ns, stateDir: p.state }), {
      wasUp: true,
      warnings: [],
    });
    assertVfBack(p);
    assert.equal(existsSync(r.stateDir), false);
    assert.equal(await nsFacts(p), before);
  },
);

test(
  'missing device-info: an error naming the interface, nothing touched; a failing device rolls the VF back',
  { skip },
  async (t) => {
    const p = await pod(t, { vdpaNode: false });
    // The vDPA entry without its device-info.
    const status = JSON.parse(readFileSync(VIRTINK_STATUS, 'utf8')) as Array<
      Record<string, unknown>
    >;
    const partial = join(p.dir, 'partial-status.json');
    await writeFile(
      partial,
      JSON.stringify(
        status.map((e) => (e['interface'] === 'net1' ? { ...e, 'device-info': undefined } : e)),
      ),
    );
    for (const s of [partial, undefined]) {
      await assert.rejects(up(p, await load(VIRTINK, 'virtink', s)), (e) => {
        assert.ok(e instanceof BinderyError);
        assert.equal(e.code, ErrorCode.DeviceInfoMissing);
        assert.match(
          e.message,
          s === undefined
            ? /^spec\.instance\.interfaces\[0\]: interface 'sriov': no device-info for network default\/mellanox-sriov-25g \(pod interface net0\)/
            : /^spec\.instance\.interfaces\[1\]: interface 'vdpa1': no device-info for network default\/offload-ovn1 \(pod interface net1\) in the network-status: the vhost-vdpa device is unknown$/,
        );
        return true;
      });
      assertVfBack(p);
      assert.equal(existsSync(p.state), false);
    }

    // Device-info, but no vhost-vdpa node: the VF was already moved, and goes back.
    await assert.rejects(up(p, await load(VIRTINK, 'virtink', VIRTINK_STATUS)), (e: Error) => {
      assert.match(
        e.message,
        /^spec\.instance\.interfaces\[1\]: prepare device of vdpa1: interface 'vdpa1': the vDPA device \/dev\/vhost-vdpa-3 .* does not exist; rolled back$/,
      );
      return true;
    });
    assertVfBack(p);
    assert.equal(existsSync(join(p.state, p.ns)), false);
  },
);

function cli(p: Pod, args: string[]) {
  return p.lab.exec(HOST, ['node', join(ROOT, 'bin/bindery.js'), ...args], { timeoutMs: 60_000 });
}

test(
  'KubeVirt SR-IOV through the CLI: up (device roots, --json with the domain devices), <hostdev> validates, down without roots gives the VF back',
  { skip: skip ?? (!existsSync(join(ROOT, 'dist/cli/main.js')) && 'npm run build first') },
  async (t) => {
    const p = await pod(t);
    const common = ['--netns', p.ns, '--state-dir', p.state, '--resolv-conf', '/dev/null'];
    const roots = ['--sysfs-root', p.host.sysfs, '--dev-root', p.host.dev];

    // No network-status: refused before anything is touched.
    const none = await cli(p, ['pod-net', 'up', KUBEVIRT, ...common, ...roots]);
    assert.equal(none.code, 1);
    assert.match(
      none.stderr,
      /^bindery: spec\.template\.spec\.domain\.devices\.interfaces\[0\]: interface 'vf': no device-info for network default\/sriov-net \(pod interface podc70d6cef7d4\).*\(BINDERY_ERR_DEVICE_INFO_MISSING\)$/m,
    );
    assertVfBack(p);

    const args = ['pod-net', 'up', KUBEVIRT, ...common, ...roots];
    const r = await cli(p, [...args, '--network-status', KUBEVIRT_STATUS, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as {
      alreadyUp: boolean;
      interfaces: Array<{ name: string; pciAddress?: string }>;
      hypervisor: { domainDevicesXml?: string };
    };
    assert.equal(out.alreadyUp, false);
    assert.deepEqual(
      out.interfaces.map((i) => [i.name, i.pciAddress]),
      [['vf', VF]],
    );
    assert.match(
      out.hypervisor.domainDevicesXml ?? '',
      /<hostdev mode="subsystem" type="pci" managed="no">\s*<source>\s*<address domain="0x0000" bus="0x81" slot="0x01" function="0x2"\/>/,
    );
    assert.equal(p.host.driverOf(VF), 'vfio-pci');
    const [dev] = prepared(readState(join(p.state, p.ns)));
    assert.equal(dev?.prepared.previousDriver, 'iavf');

    const again = await cli(p, [...args, '--network-status', KUBEVIRT_STATUS]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /default\/vm-sriov already up/);
    assert.match(
      again.stdout,
      /vf \(sriov\) on podc70d6cef7d4: SR-IOV VF 0000:81:01\.2 on vfio-pci/,
    );

    // The whole domain for this plan is one libvirt accepts (KubeVirt's <hostdev>, facts-kubevirt §6).
    const l = await load(KUBEVIRT, 'kubevirt', KUBEVIRT_STATUS);
    const file = join(p.dir, 'domain.xml');
    await writeFile(file, renderMinimalDomain(l.plan));
    const v = await p.lab.exec(HOST, ['virt-xml-validate', file, 'domain']);
    if (v.code === 127 || /ENOENT|not found/.test(v.stderr))
      t.diagnostic('virt-xml-validate not installed: domain XML not validated');
    else assert.equal(v.code, 0, `${v.stdout}${v.stderr}\n${readFileSync(file, 'utf8')}`);

    // down is not told the roots: the state remembers where the VF was prepared.
    const d = await cli(p, ['pod-net', 'down', '--netns', p.ns, '--state-dir', p.state]);
    assert.equal(d.code, 0, d.stderr);
    assert.equal(d.stderr, '');
    assertVfBack(p);
    assert.equal(existsSync(join(p.state, p.ns)), false);
  },
);
