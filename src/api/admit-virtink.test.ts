// Tests of Virtink admission: every rule with an accepting and a rejecting VM, updates and migratability.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  VirtinkCode,
  admitVirtinkVm,
  admitVirtinkVmUpdate,
  virtinkMigratable,
} from './admit-virtink.js';
import type {
  VirtinkInstance,
  VirtinkInterface,
  VirtinkNetwork,
  VirtinkVirtualMachine,
} from './types.js';

const MAC = '52:54:00:12:34:56';

function vm(
  interfaces: VirtinkInterface[],
  networks: VirtinkNetwork[],
  instance: Partial<VirtinkInstance> = {},
): VirtinkVirtualMachine {
  return {
    apiVersion: 'virt.virtink.smartx.com/v1alpha1',
    kind: 'VirtualMachine',
    metadata: { name: 'vm', namespace: 'default' },
    spec: { instance: { interfaces, ...instance }, networks },
  };
}

let macSeq = 0x10;
const nextMac = (): string => `52:54:00:00:00:${(macSeq++ & 0xff).toString(16).padStart(2, '0')}`;
const bridge = (name = 'pod', extra: Partial<VirtinkInterface> = {}): VirtinkInterface => ({
  name,
  mac: nextMac(),
  bridge: {},
  ...extra,
});
const masq = (name = 'pod', cidr = '10.0.2.0/30'): VirtinkInterface => ({
  name,
  mac: nextMac(),
  masquerade: { cidr },
});
const pod = (name = 'pod'): VirtinkNetwork => ({ name, pod: {} });
const multus = (name: string): VirtinkNetwork => ({ name, multus: { networkName: `nad-${name}` } });

const dedicated: Partial<VirtinkInstance> = {
  cpu: { dedicatedCPUPlacement: true },
  memory: { size: '1Gi', hugepages: { pageSize: '2Mi' } },
};

interface Case {
  code: string;
  path: string;
  reject: VirtinkVirtualMachine;
  accept: VirtinkVirtualMachine;
  bindery?: boolean;
}

const cases: Case[] = [
  {
    code: VirtinkCode.IfaceNameDuplicate,
    path: 'spec.instance.interfaces[1].name',
    reject: vm([bridge('a'), bridge('a')], [multus('a')]),
    accept: vm([bridge('a'), bridge('b')], [multus('a'), multus('b')]),
  },
  {
    code: VirtinkCode.IfaceNameRequired,
    path: 'spec.instance.interfaces[0].name',
    reject: vm([bridge('')], []),
    accept: vm([bridge('pod')], [pod()]),
  },
  {
    code: VirtinkCode.MacRequired,
    path: 'spec.instance.interfaces[0].mac',
    reject: vm([{ name: 'pod', bridge: {} }], [pod()]),
    accept: vm([bridge()], [pod()]),
  },
  {
    code: VirtinkCode.MacInvalid,
    path: 'spec.instance.interfaces[0].mac',
    reject: vm([bridge('pod', { mac: '01:1c:ba:0a:45:8' })], [pod()]),
    accept: vm([bridge('pod', { mac: '01-1C-BA-0A-45-80' })], [pod()]),
  },
  {
    code: VirtinkCode.BindingMultiple,
    path: 'spec.instance.interfaces[0].masquerade',
    reject: vm([{ ...bridge(), masquerade: { cidr: '10.0.2.0/30' } }], [pod()]),
    accept: vm([masq()], [pod()]),
  },
  {
    code: VirtinkCode.BindingRequired,
    path: 'spec.instance.interfaces[0]',
    reject: vm([{ name: 'pod', mac: MAC }], [pod()]),
    accept: vm([{ name: 'pod', mac: MAC, bridge: {} }], [pod()]),
  },
  {
    code: VirtinkCode.MasqCidrRequired,
    path: 'spec.instance.interfaces[0].masquerade.cidr',
    reject: vm([masq('pod', '')], [pod()]),
    accept: vm([masq('pod', '10.0.2.0/30')], [pod()]),
  },
  {
    code: VirtinkCode.MasqCidrInvalid,
    path: 'spec.instance.interfaces[0].masquerade.cidr',
    reject: vm([masq('pod', '10.0.2.0')], [pod()]),
    accept: vm([masq('pod', '192.168.0.0/24')], [pod()]),
  },
  {
    code: VirtinkCode.MasqCidrTooSmall,
    path: 'spec.instance.interfaces[0].masquerade.cidr',
    reject: vm([masq('pod', '10.0.2.0/31')], [pod()]),
    accept: vm([masq('pod', '10.0.2.0/30')], [pod()]),
  },
  {
    code: VirtinkCode.VhostUserRequirements,
    path: 'spec.instance.interfaces[0].vhostUser',
    reject: vm([{ name: 'ovs', mac: MAC, vhostUser: {} }], [multus('ovs')]),
    accept: vm([{ name: 'ovs', mac: MAC, vhostUser: {} }], [multus('ovs')], dedicated),
  },
  {
    code: VirtinkCode.NetNameDuplicate,
    path: 'spec.networks[1].name',
    reject: vm([bridge('a')], [multus('a'), multus('a')]),
    accept: vm([bridge('a')], [multus('a')]),
  },
  {
    code: VirtinkCode.NetNameRequired,
    path: 'spec.networks[0].name',
    reject: vm([], [{ name: '', pod: {} }]),
    accept: vm([bridge('pod')], [pod()]),
  },
  {
    code: VirtinkCode.NetSourceMultiple,
    path: 'spec.networks[0].multus',
    reject: vm([bridge()], [{ name: 'pod', pod: {}, multus: { networkName: 'x' } }]),
    accept: vm([bridge()], [pod()]),
  },
  {
    code: VirtinkCode.NetSourceRequired,
    path: 'spec.networks[0]',
    reject: vm([bridge()], [{ name: 'pod' }]),
    accept: vm([bridge()], [pod()]),
  },
  {
    code: VirtinkCode.MultusNameRequired,
    path: 'spec.networks[0].multus.networkName',
    reject: vm([bridge('m')], [{ name: 'm', multus: { networkName: '' } }]),
    accept: vm([bridge('m')], [multus('m')]),
  },
  {
    code: VirtinkCode.IfaceNoNetwork,
    path: 'spec.instance.interfaces[1].name',
    reject: vm([bridge(), bridge('orphan')], [pod()]),
    accept: vm([bridge(), bridge('adopted')], [pod(), multus('adopted')]),
    bindery: true,
  },
  {
    code: VirtinkCode.NetNoInterface,
    path: 'spec.networks[1].name',
    reject: vm([bridge()], [pod(), multus('lonely')]),
    accept: vm([bridge(), bridge('lonely')], [pod(), multus('lonely')]),
    bindery: true,
  },
  {
    code: VirtinkCode.MasqNotPod,
    path: 'spec.instance.interfaces[0].masquerade',
    reject: vm([masq('m')], [multus('m')]),
    accept: vm([masq('m')], [pod('m')]),
    bindery: true,
  },
  {
    code: VirtinkCode.DeviceNotMultus,
    path: 'spec.instance.interfaces[0].sriov',
    reject: vm([{ name: 'pod', mac: MAC, sriov: {} }], [pod()]),
    accept: vm([{ name: 's', mac: MAC, sriov: {} }], [multus('s')]),
    bindery: true,
  },
  {
    code: VirtinkCode.PodNetMultiple,
    path: 'spec.networks',
    reject: vm([bridge('a'), masq('b')], [pod('a'), pod('b')]),
    accept: vm([bridge('a'), masq('b')], [multus('a'), pod('b')]),
    bindery: true,
  },
  {
    code: VirtinkCode.VdpaNumQueues,
    path: 'spec.instance.interfaces[0].vdpa.numQueues',
    reject: vm([{ name: 'v', mac: MAC, vdpa: { iommu: false } }], [multus('v')]),
    accept: vm([{ name: 'v', mac: MAC, vdpa: { numQueues: 9, iommu: false } }], [multus('v')]),
    bindery: true,
  },
  {
    code: VirtinkCode.MasqMultiple,
    path: 'spec.instance.interfaces[1].masquerade',
    reject: vm([masq('pod'), masq('b')], [pod(), pod('b')]),
    accept: vm([masq('pod'), bridge('b')], [pod(), multus('b')]),
    bindery: true,
  },
  {
    code: VirtinkCode.MasqCidrIPv6,
    path: 'spec.instance.interfaces[0].masquerade.cidr',
    reject: vm([masq('pod', 'fd10:0:2::/120')], [pod()]),
    accept: vm([masq('pod', '10.0.2.0/29')], [pod()]),
    bindery: true,
  },
];

for (const c of cases) {
  test(`Virtink rule ${c.code}: rejects the bad VM, accepts the good one`, () => {
    const bad = admitVirtinkVm(c.reject);
    const hit = bad.filter((e) => e.code === c.code);
    assert.ok(
      hit.some((e) => e.path === c.path),
      `${c.path}: ${JSON.stringify(bad, null, 1)}`,
    );
    if (c.bindery) assert.ok(hit.every((e) => e.message.includes('bindery check')));
    assert.deepEqual(admitVirtinkVm(c.accept), [], `accepting VM for ${c.code}`);
  });
}

test('Virtink rule UPDATE_FORBIDDEN: interfaces are immutable, runPolicy is not', () => {
  const old = vm([bridge('pod', { mac: MAC })], [pod()]);
  const changed = vm([{ name: 'pod', mac: MAC, masquerade: { cidr: '10.0.2.0/30' } }], [pod()]);
  const errs = admitVirtinkVmUpdate(old, changed);
  assert.deepEqual(
    errs.map((e) => [e.path, e.code]),
    [['spec', VirtinkCode.UpdateForbidden]],
  );
  const policy = { ...old, spec: { ...old.spec, runPolicy: 'Halted' } };
  assert.deepEqual(admitVirtinkVmUpdate(old, policy), []);
});

test('every Virtink admission code has a case', () => {
  const covered = new Set([...cases.map((c) => c.code), VirtinkCode.UpdateForbidden]);
  assert.deepEqual(
    Object.values(VirtinkCode).filter((c) => !covered.has(c)),
    [],
  );
});

test('Virtink messages read like its field errors', () => {
  const errs = admitVirtinkVm(vm([masq('pod', '10.0.2.0/31'), bridge('pod')], [pod()]));
  assert.ok(
    errs.some(
      (e) =>
        e.path === 'spec.instance.interfaces[0].masquerade.cidr' &&
        e.message === 'Invalid value: "10.0.2.0/31": must contain at least 4 IPs',
    ),
  );
  assert.ok(errs.some((e) => e.message === 'Duplicate value: "pod"'));
  const mac = admitVirtinkVm(vm([bridge('pod', { mac: '01:1c:ba:0a:45:8' })], [pod()]));
  assert.equal(
    mac[0]?.message,
    'Invalid value: "01:1c:ba:0a:45:8": address 01:1c:ba:0a:45:8: invalid MAC address',
  );
  const empty = admitVirtinkVm(vm([{ name: 'pod', bridge: {} }], [pod()]));
  assert.deepEqual(
    empty.map((e) => e.code),
    [VirtinkCode.MacRequired, VirtinkCode.MacInvalid],
  );
  const bad = admitVirtinkVm(vm([masq('pod', 'nope')], [pod()]));
  assert.deepEqual(
    bad.map((e) => e.message),
    [
      'Invalid value: "nope": invalid CIDR address: nope',
      'Invalid value: "nope": must specify subnet',
    ],
  );
});

test('Virtink migratability follows calculateMigratableCondition', () => {
  assert.equal(virtinkMigratable(vm([masq()], [pod()])).migratable, true);
  assert.equal(virtinkMigratable(vm([bridge('m')], [multus('m')])).migratable, true);
  assert.deepEqual(virtinkMigratable(vm([bridge()], [pod()])), {
    migratable: false,
    reason: 'InterfaceNotMigratable',
    message: 'migration is disabled when VM has a bridged interface to the pod network',
  });
  assert.equal(
    virtinkMigratable(vm([{ name: 's', mac: MAC, sriov: {} }], [multus('s')])).message,
    'migration is disabled when VM has a SR-IOV interface',
  );
  assert.equal(
    virtinkMigratable(vm([{ name: 'v', mac: MAC, vhostUser: {} }], [multus('v')], dedicated))
      .reason,
    'CPUNotMigratable',
  );
  assert.equal(
    virtinkMigratable(vm([{ name: 'v', mac: MAC, vdpa: { numQueues: 1 } }], [multus('v')]))
      .migratable,
    true,
  );
});
