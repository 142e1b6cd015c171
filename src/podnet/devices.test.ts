// Tests of SR-IOV/vDPA device preparation against fabricated sysfs and /dev trees (test/lab/fake-sysfs.ts); pod-net and the rendered configs: test/podnet/devices-podnet.test.ts.
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BinderyError, ErrorCode } from '../errors.js';
import { planKubeVirt, planVirtink, type NetworkStatusEntry } from '../plan/plan.js';
import { hashedPodInterfaceName } from '../plan/names.js';
import type { BindingPlan, VmNetworkPlan } from '../plan/types.js';
import { kubevirtVm, virtinkVm } from '../../test/fixtures/render/manifests.js';
import {
  fakeHost,
  FakeKernel,
  mknodChar,
  type FakeHost,
  type FakeHostOptions,
} from '../../test/lab/fake-sysfs.js';
import {
  devPath,
  parsePciAddress,
  pciPaths,
  prepareDevice,
  releaseDevice,
  restoreWrites,
  vfioBindWrites,
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

/** A fabricated host in its own subdirectory of the suite's temp dir. */
function host(opts: FakeHostOptions): FakeHost {
  return fakeHost(join(base, `h${++n}`), opts);
}

/** A fake kernel for the host, stopped after the test. */
function kernel(h: FakeHost): FakeKernel {
  const k = new FakeKernel(h.sysfs);
  kernels.push(k);
  return k;
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
  const k = kernel(h);
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
  const k = kernel(h);
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
  kernel(h);
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
  kernel(h);
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
