// Tests of SR-IOV/vDPA device preparation against fabricated sysfs and /dev trees, and the configs rendered for them.
//
// The fabricated sysfs has the attributes the kernel has, but nothing happens when they are
// written; a small fake kernel (inotify watches on drivers_probe and the drivers' bind/unbind
// files) plays the kernel's part: it moves the `driver` symlink the way the real one does. The
// code under test writes exactly the files it writes on a real host and then re-reads `driver`.
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  watch,
  writeFileSync,
  type FSWatcher,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { BinderyError, ErrorCode } from '../errors.js';
import { planKubeVirt, planVirtink, type NetworkStatusEntry } from '../plan/plan.js';
import { hashedPodInterfaceName } from '../plan/names.js';
import type { BindingPlan, VmNetworkPlan } from '../plan/types.js';
import { renderCloudHypervisor } from '../render/cloud-hypervisor.js';
import { renderMinimalDomain } from '../render/domain-xml.js';
import { kubevirtVm, virtinkVm } from '../../test/fixtures/render/manifests.js';
import {
  devPath,
  parsePciAddress,
  pciPaths,
  prepareDevice,
  releaseDevice,
  restoreWrites,
  vfioBindWrites,
  type DeviceRoots,
} from './devices.js';

const RUN = process.env.BINDERY_RUN_ID ?? 'dev';
const VF = '0000:81:01.2';
const GROUP = '42';

let base = '';
let n = 0;
const kernels: FakeKernel[] = [];
before(() => {
  base = mkdtempSync(join(tmpdir(), `bindery-lab-${RUN}-devices-`));
});
afterEach(() => {
  for (const k of kernels.splice(0)) k.stop();
});
after(() => {
  if (base) rmSync(base, { recursive: true, force: true });
});

// ---- the fabricated host -------------------------------------------------------------------

interface Host {
  readonly roots: Required<Pick<DeviceRoots, 'sysfsRoot' | 'devRoot'>> & DeviceRoots;
  readonly sysfs: string;
  readonly dev: string;
  driverOf(addr: string): string | undefined;
  override(addr: string): string;
}

/** A sysfs with the given drivers and VFs (each bound to a driver or not) and a /dev. */
function host(opts: {
  drivers: string[];
  vfs: Array<{ addr: string; driver?: string; group?: string }>;
  groupNode?: 'char' | 'file' | 'none';
}): Host {
  const root = join(base, `h${++n}`);
  const sysfs = join(root, 'sys');
  const dev = join(root, 'dev');
  mkdirSync(join(sysfs, 'bus/pci/devices'), { recursive: true });
  mkdirSync(join(dev, 'vfio'), { recursive: true });
  writeFileSync(join(sysfs, 'bus/pci/drivers_probe'), '');
  for (const d of opts.drivers) {
    mkdirSync(join(sysfs, 'bus/pci/drivers', d), { recursive: true });
    writeFileSync(join(sysfs, 'bus/pci/drivers', d, 'bind'), '');
    writeFileSync(join(sysfs, 'bus/pci/drivers', d, 'unbind'), '');
  }
  for (const vf of opts.vfs) {
    const d = join(sysfs, 'bus/pci/devices', vf.addr);
    mkdirSync(d);
    writeFileSync(join(d, 'driver_override'), '');
    if (vf.driver) symlinkSync(join(sysfs, 'bus/pci/drivers', vf.driver), join(d, 'driver'));
    if (vf.group) {
      const g = join(sysfs, 'kernel/iommu_groups', vf.group);
      mkdirSync(g, { recursive: true });
      symlinkSync(g, join(d, 'iommu_group'));
      const node = join(dev, 'vfio', vf.group);
      if ((opts.groupNode ?? 'char') === 'char') mknodChar(node);
      else if (opts.groupNode === 'file') writeFileSync(node, '');
    }
  }
  const devDir = (a: string): string => join(sysfs, 'bus/pci/devices', a);
  return {
    roots: { sysfsRoot: sysfs, devRoot: dev },
    sysfs,
    dev,
    driverOf: (a) =>
      existsSync(join(devDir(a), 'driver')) ? link(join(devDir(a), 'driver')) : undefined,
    override: (a) => readFileSync(join(devDir(a), 'driver_override'), 'utf8'),
  };
}

function link(p: string): string {
  return basename(readlinkSync(p));
}

/** A real character device node (major 1, minor 3: the same device as /dev/null). */
function mknodChar(path: string): void {
  const r = spawnSync('mknod', [path, 'c', '1', '3'], { encoding: 'utf8' });
  assert.equal(r.status, 0, `mknod ${path}: ${r.stderr}`);
}

/**
 * Plays the kernel's PCI core for a fabricated sysfs: `drivers_probe` binds a device to its
 * driver_override (when that driver exists), `drivers/<d>/unbind` drops a device bound to d,
 * `drivers/<d>/bind` binds it to d. Writes from the code under test arrive as inotify events.
 */
class FakeKernel {
  private readonly watchers: FSWatcher[] = [];
  readonly log: string[] = [];
  constructor(private readonly sysfs: string) {
    const drivers = join(sysfs, 'bus/pci/drivers');
    this.on(join(sysfs, 'bus/pci/drivers_probe'), (addr) => {
      const o = readFileSync(join(this.dev(addr), 'driver_override'), 'utf8').trim();
      if (o !== '' && existsSync(join(drivers, o))) this.bindTo(addr, o);
      this.log.push(`probe ${addr}`);
    });
    for (const d of existsSync(drivers) ? readdirSync(drivers) : []) {
      this.on(join(drivers, d, 'unbind'), (addr) => {
        const l = join(this.dev(addr), 'driver');
        if (existsSync(l) && link(l) === d) unlinkSync(l);
        this.log.push(`unbind ${d} ${addr}`);
      });
      this.on(join(drivers, d, 'bind'), (addr) => {
        this.bindTo(addr, d);
        this.log.push(`bind ${d} ${addr}`);
      });
    }
    kernels.push(this);
  }
  private dev(addr: string): string {
    return join(this.sysfs, 'bus/pci/devices', addr);
  }
  private bindTo(addr: string, d: string): void {
    const l = join(this.dev(addr), 'driver');
    if (existsSync(l)) unlinkSync(l);
    symlinkSync(join(this.sysfs, 'bus/pci/drivers', d), l);
  }
  private on(file: string, act: (addr: string) => void): void {
    this.watchers.push(
      watch(file, () => {
        const addr = readFileSync(file, 'utf8').trim();
        if (addr === '' || !existsSync(this.dev(addr))) return; // mid-write (truncated) or unknown
        act(addr);
      }),
    );
  }
  stop(): void {
    for (const w of this.watchers) w.close();
  }
}

// ---- plans -------------------------------------------------------------------------------

function kubevirtSriovPlan(status: NetworkStatusEntry[] | undefined): VmNetworkPlan {
  const r = planKubeVirt({
    vm: kubevirtVm(
      [
        { name: 'default', masquerade: {} },
        { name: 'vf', sriov: {}, macAddress: '52:54:00:12:34:57' },
      ],
      [
        { name: 'default', pod: {} },
        { name: 'vf', multus: { networkName: 'sriov-net' } },
      ],
    ),
    ...(status ? { options: { networkStatus: status } } : {}),
  });
  if (!r.ok) assert.fail(JSON.stringify(r.errors));
  return r.plan;
}

function virtinkPlan(status: NetworkStatusEntry[] | undefined): VmNetworkPlan {
  const r = planVirtink({
    vm: virtinkVm(
      [
        { name: 'pod', masquerade: {}, mac: '52:54:00:12:34:56' },
        { name: 'sriov', sriov: {}, mac: '52:54:00:12:34:57' },
        { name: 'vdpa1', vdpa: { numQueues: 9, iommu: true }, mac: '52:54:00:12:34:58' },
      ],
      [
        { name: 'pod', pod: {} },
        { name: 'sriov', multus: { networkName: 'mellanox-sriov-25g' } },
        { name: 'vdpa1', multus: { networkName: 'offload-ovn1' } },
      ],
    ),
    ...(status ? { options: { networkStatus: status } } : {}),
  });
  if (!r.ok) assert.fail(JSON.stringify(r.errors));
  return r.plan;
}

const virtinkStatus: NetworkStatusEntry[] = [
  { interface: 'net1', 'device-info': { type: 'pci', pci: { 'pci-address': VF } } },
  { interface: 'net2', 'device-info': { type: 'vdpa', vdpa: { path: '/dev/vhost-vdpa-3' } } },
];

function iface(p: VmNetworkPlan, name: string): BindingPlan {
  const i = p.interfaces.find((x) => x.name === name);
  assert.ok(i, name);
  return i;
}

function rejectsWith(code: ErrorCode, re: RegExp): (e: unknown) => boolean {
  return (e) => {
    assert.ok(e instanceof BinderyError, String(e));
    assert.equal(e.code, code, e.message);
    assert.match(e.message, re);
    return true;
  };
}

// ---- pure helpers ------------------------------------------------------------------------

test('parsePciAddress: sysfs names only (they become paths)', () => {
  assert.equal(parsePciAddress('0000:81:01.2'), '0000:81:01.2');
  assert.equal(parsePciAddress('0000:5E:1F.7'), '0000:5e:1f.7');
  assert.equal(parsePciAddress('10000:00:02.0'), '10000:00:02.0');
  for (const bad of [
    '',
    '81:01.2',
    '0000:81:01.8',
    '0000:81:20.0',
    '../../0000:81:01.2',
    '0000:81:01.2/..',
  ])
    assert.equal(parsePciAddress(bad), undefined, bad);
});

test('devPath maps /dev paths under the root and refuses others', () => {
  assert.equal(devPath('/dev/vhost-vdpa-0', '/tmp/d'), '/tmp/d/vhost-vdpa-0');
  for (const bad of ['/dev/', '/dev/../etc/passwd', 'vhost-vdpa-0', '/sys/x', '/dev//x'])
    assert.equal(devPath(bad, '/tmp/d'), undefined, bad);
});

test('vfioBindWrites / restoreWrites: the sysfs write order', () => {
  const p = pciPaths('/sys', VF);
  assert.deepEqual(vfioBindWrites(p, VF, 'vfio-pci'), []);
  assert.deepEqual(
    vfioBindWrites(p, VF, 'mlx5_core').map((w) => [w.path, w.value]),
    [
      [`/sys/bus/pci/devices/${VF}/driver_override`, 'vfio-pci'],
      ['/sys/bus/pci/drivers/mlx5_core/unbind', VF],
      ['/sys/bus/pci/drivers_probe', VF],
    ],
  );
  assert.deepEqual(
    vfioBindWrites(p, VF, undefined).map((w) => w.path),
    [`/sys/bus/pci/devices/${VF}/driver_override`, '/sys/bus/pci/drivers_probe'],
  );
  assert.deepEqual(
    restoreWrites(p, VF, 'vfio-pci', 'mlx5_core').map((w) => [w.path, w.value]),
    [
      [`/sys/bus/pci/devices/${VF}/driver_override`, '\n'],
      ['/sys/bus/pci/drivers/vfio-pci/unbind', VF],
      ['/sys/bus/pci/drivers/mlx5_core/bind', VF],
    ],
  );
});

// ---- SR-IOV against a fabricated sysfs ---------------------------------------------------

test('SR-IOV: a VF on another driver is moved to vfio-pci and given back on release', async () => {
  const h = host({
    drivers: ['iavf', 'vfio-pci'],
    vfs: [{ addr: VF, driver: 'iavf', group: GROUP }],
  });
  const k = new FakeKernel(h.sysfs);
  const i = iface(virtinkPlan(virtinkStatus), 'sriov');
  const prepared = await prepareDevice(i, h.roots);
  assert.deepEqual(prepared, {
    interfaceName: 'sriov',
    kind: 'sriov',
    pciAddress: VF,
    previousDriver: 'iavf',
    reboundToVfio: true,
    iommuGroup: GROUP,
    vfioGroup: join(h.dev, 'vfio', GROUP),
  });
  assert.equal(h.driverOf(VF), 'vfio-pci');
  assert.equal(h.override(VF), 'vfio-pci');
  // A write can show up as two events (truncate, write): compare the first of each.
  const unbound = k.log.indexOf(`unbind iavf ${VF}`);
  assert.ok(unbound >= 0 && unbound < k.log.indexOf(`probe ${VF}`), k.log.join(', '));

  await releaseDevice(prepared, h.roots);
  assert.equal(h.driverOf(VF), 'iavf');
  assert.equal(h.override(VF).trim(), '');
});

test('SR-IOV: a VF already on vfio-pci is left alone, also on release', async () => {
  const h = host({
    drivers: ['iavf', 'vfio-pci'],
    vfs: [{ addr: VF, driver: 'vfio-pci', group: GROUP }],
  });
  const k = new FakeKernel(h.sysfs);
  const i = iface(
    kubevirtSriovPlan([
      { interface: hashedPodInterfaceName('vf'), 'device-info': { pci: { 'pci-address': VF } } },
    ]),
    'vf',
  );
  const prepared = await prepareDevice(i, h.roots);
  assert.equal(prepared.previousDriver, 'vfio-pci');
  assert.equal(prepared.reboundToVfio, false);
  assert.equal(h.override(VF), '');
  await releaseDevice(prepared, h.roots);
  assert.equal(h.driverOf(VF), 'vfio-pci');
  assert.equal(h.override(VF), '');
  assert.deepEqual(k.log, []);
});

test('SR-IOV: an unbound VF is probed onto vfio-pci and left unbound on release', async () => {
  const h = host({ drivers: ['vfio-pci'], vfs: [{ addr: VF, group: GROUP }] });
  new FakeKernel(h.sysfs);
  const prepared = await prepareDevice(iface(virtinkPlan(virtinkStatus), 'sriov'), h.roots);
  assert.equal(prepared.previousDriver, undefined);
  assert.equal(h.driverOf(VF), 'vfio-pci');
  await releaseDevice(prepared, h.roots);
  assert.equal(h.driverOf(VF), undefined);
});

test('SR-IOV: no device-info in the network-status is a clear error', async () => {
  const h = host({ drivers: ['vfio-pci'], vfs: [] });
  await assert.rejects(
    prepareDevice(iface(virtinkPlan(undefined), 'sriov'), h.roots),
    rejectsWith(
      ErrorCode.DeviceInfoMissing,
      /interface 'sriov': no device-info for network default\/mellanox-sriov-25g \(pod interface net1\) in the network-status/,
    ),
  );
});

test('SR-IOV: a VF missing from sysfs is DeviceMissing naming the interface', async () => {
  const h = host({ drivers: ['vfio-pci'], vfs: [{ addr: '0000:81:01.3', group: GROUP }] });
  await assert.rejects(
    prepareDevice(iface(virtinkPlan(virtinkStatus), 'sriov'), h.roots),
    rejectsWith(ErrorCode.DeviceMissing, /interface 'sriov': SR-IOV VF 0000:81:01\.2 not found/),
  );
});

test('SR-IOV: the VFIO group node missing, or not a character device', async () => {
  for (const groupNode of ['none', 'file'] as const) {
    const h = host({
      drivers: ['iavf', 'vfio-pci'],
      vfs: [{ addr: VF, driver: 'vfio-pci', group: GROUP }],
      groupNode,
    });
    await assert.rejects(
      prepareDevice(iface(virtinkPlan(virtinkStatus), 'sriov'), h.roots),
      rejectsWith(
        ErrorCode.DeviceMissing,
        groupNode === 'none'
          ? /interface 'sriov': the VFIO group node .*\/vfio\/42 of VF 0000:81:01\.2 does not exist/
          : /interface 'sriov': the VFIO group node .*\/vfio\/42 .* is not a character device/,
      ),
    );
  }
});

test('SR-IOV: no IOMMU group is DeviceBind', async () => {
  const h = host({ drivers: ['vfio-pci'], vfs: [{ addr: VF, driver: 'vfio-pci' }] });
  await assert.rejects(
    prepareDevice(iface(virtinkPlan(virtinkStatus), 'sriov'), h.roots),
    rejectsWith(
      ErrorCode.DeviceBind,
      /interface 'sriov': SR-IOV VF 0000:81:01\.2 has no IOMMU group/,
    ),
  );
});

test('SR-IOV: vfio-pci not loaded (no driver binds after the probe) is DeviceBind', async () => {
  const h = host({ drivers: ['iavf'], vfs: [{ addr: VF, driver: 'iavf', group: GROUP }] });
  new FakeKernel(h.sysfs);
  await assert.rejects(
    prepareDevice(iface(virtinkPlan(virtinkStatus), 'sriov'), { ...h.roots, bindTimeoutMs: 300 }),
    rejectsWith(
      ErrorCode.DeviceBind,
      /interface 'sriov': SR-IOV VF 0000:81:01\.2 is bound to no driver after the probe, not vfio-pci/,
    ),
  );
});

test('SR-IOV release: a VF that has gone away is fine', async () => {
  const h = host({ drivers: ['vfio-pci'], vfs: [] });
  await releaseDevice(
    {
      interfaceName: 'sriov',
      kind: 'sriov',
      pciAddress: VF,
      previousDriver: 'iavf',
      reboundToVfio: true,
    },
    h.roots,
  );
});

// ---- vDPA against a fabricated /dev -------------------------------------------------------

test('vDPA: the vhost-vdpa node is a character device; numQueues/iommu from the plan', async () => {
  const h = host({ drivers: [], vfs: [] });
  mknodChar(join(h.dev, 'vhost-vdpa-3'));
  const prepared = await prepareDevice(iface(virtinkPlan(virtinkStatus), 'vdpa1'), h.roots);
  assert.deepEqual(prepared, {
    interfaceName: 'vdpa1',
    kind: 'vdpa',
    vdpaPath: '/dev/vhost-vdpa-3',
    numQueues: 9,
    iommu: true,
  });
  await releaseDevice(prepared, h.roots); // nothing to undo
});

test('vDPA: missing node, a regular file, no device-info', async () => {
  const h = host({ drivers: [], vfs: [] });
  const i = iface(virtinkPlan(virtinkStatus), 'vdpa1');
  await assert.rejects(
    prepareDevice(i, h.roots),
    rejectsWith(
      ErrorCode.DeviceMissing,
      /interface 'vdpa1': the vDPA device \/dev\/vhost-vdpa-3 .* does not exist/,
    ),
  );
  writeFileSync(join(h.dev, 'vhost-vdpa-3'), '');
  await assert.rejects(
    prepareDevice(i, h.roots),
    rejectsWith(ErrorCode.DeviceMissing, /interface 'vdpa1': .* is not a character device/),
  );
  await assert.rejects(
    prepareDevice(iface(virtinkPlan(undefined), 'vdpa1'), h.roots),
    rejectsWith(
      ErrorCode.DeviceInfoMissing,
      /interface 'vdpa1': no device-info for network default\/offload-ovn1 \(pod interface net2\)/,
    ),
  );
});

// ---- what the hypervisor is given for such a plan ----------------------------------------

test('Cloud Hypervisor config for the prepared devices: devices[].path and vdpa[]', async () => {
  const h = host({
    drivers: ['iavf', 'vfio-pci'],
    vfs: [{ addr: VF, driver: 'iavf', group: GROUP }],
  });
  new FakeKernel(h.sysfs);
  mknodChar(join(h.dev, 'vhost-vdpa-3'));
  const plan = virtinkPlan(virtinkStatus);
  const sriov = await prepareDevice(iface(plan, 'sriov'), h.roots);
  const vdpa = await prepareDevice(iface(plan, 'vdpa1'), h.roots);
  const out = renderCloudHypervisor(plan);
  assert.deepEqual(out.warnings, []);
  assert.deepEqual(out.config.devices, [
    { id: 'sriov', path: `/sys/bus/pci/devices/${sriov.pciAddress}` },
  ]);
  assert.deepEqual(out.config.vdpa, [
    { id: 'vdpa1', path: vdpa.vdpaPath, num_queues: vdpa.numQueues, iommu: vdpa.iommu },
  ]);
  await releaseDevice(sriov, h.roots);
});

const canValidate = spawnSync('virt-xml-validate', ['--help']).error === undefined;

test(
  'domain XML for a KubeVirt SR-IOV interface: <hostdev> on the VF, accepted by virt-xml-validate',
  { skip: !canValidate && 'virt-xml-validate not installed' },
  async () => {
    const h = host({
      drivers: ['iavf', 'vfio-pci'],
      vfs: [{ addr: VF, driver: 'iavf', group: GROUP }],
    });
    new FakeKernel(h.sysfs);
    const plan = kubevirtSriovPlan([
      { interface: hashedPodInterfaceName('vf'), 'device-info': { pci: { 'pci-address': VF } } },
    ]);
    const prepared = await prepareDevice(iface(plan, 'vf'), h.roots);
    const xml = renderMinimalDomain(plan);
    assert.match(
      xml,
      /<hostdev mode="subsystem" type="pci" managed="no">\s*<source>\s*<address domain="0x0000" bus="0x81" slot="0x01" function="0x2"\/>/,
    );
    const file = join(base, 'sriov-domain.xml');
    writeFileSync(file, xml);
    const r = spawnSync('virt-xml-validate', [file, 'domain'], { encoding: 'utf8' });
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}\n${xml}`);
    await releaseDevice(prepared, h.roots);
  },
);
