// Tests of the Cloud Hypervisor network config rendered for Virtink VMs (seed 002's examples).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planVirtink, type PlanOptions } from '../plan/plan.js';
import type { VmNetworkPlan } from '../plan/types.js';
import type {
  VirtinkInterface,
  VirtinkNetwork,
  NetworkAttachmentDefinition,
} from '../api/types.js';
import { renderCloudHypervisor } from './cloud-hypervisor.js';
import { nad, virtinkVm } from '../../test/fixtures/render/manifests.js';

function plan(
  ifaces: VirtinkInterface[],
  nets: VirtinkNetwork[],
  options?: PlanOptions,
  nads?: NetworkAttachmentDefinition[],
): VmNetworkPlan {
  const r = planVirtink({
    vm: virtinkVm(ifaces, nets),
    ...(options ? { options } : {}),
    ...(nads ? { nads } : {}),
  });
  if (!r.ok) assert.fail(JSON.stringify(r.errors));
  return r.plan;
}

test('bridge on the pod network: net[{id, tap: tap-eth0, mac, mtu}]', () => {
  const out = renderCloudHypervisor(
    plan([{ name: 'pod', bridge: {}, mac: '52:54:00:dd:0d:5b' }], [{ name: 'pod', pod: {} }], {
      mtu: 1450,
    }),
  );
  assert.deepEqual(out.config, {
    net: [{ id: 'pod', tap: 'tap-eth0', mac: '52:54:00:dd:0d:5b', mtu: 1450 }],
  });
  assert.deepEqual(out.warnings, []);
});

test('masquerade and a multus bridge: taps named after eth0 and net<i>', () => {
  const out = renderCloudHypervisor(
    plan(
      [
        { name: 'pod', masquerade: {}, mac: '52:54:00:00:00:01' },
        { name: 'ovs', bridge: {}, mac: '52:54:00:00:00:02' },
      ],
      [
        { name: 'pod', pod: {} },
        { name: 'ovs', multus: { networkName: 'ovs-br1' } },
      ],
    ),
  );
  assert.deepEqual(out.config.net, [
    { id: 'pod', tap: 'tap-eth0', mac: '52:54:00:00:00:01' },
    { id: 'ovs', tap: 'tap-net1', mac: '52:54:00:00:00:02' },
  ]);
});

test('SR-IOV and vDPA from the network-status (seed 002 vDPA example)', () => {
  const p = plan(
    [
      { name: 'pod', bridge: {}, mac: '52:54:00:00:00:01' },
      { name: 'vdpa1', vdpa: { numQueues: 9, iommu: false }, mac: '52:54:00:00:00:02' },
      { name: 'vdpa2', vdpa: { numQueues: 9, iommu: false }, mac: '52:54:00:00:00:03' },
      { name: 'sriov', sriov: {}, mac: '52:54:00:00:00:04' },
    ],
    [
      { name: 'pod', pod: {} },
      { name: 'vdpa1', multus: { networkName: 'offload-ovn1' } },
      { name: 'vdpa2', multus: { networkName: 'offload-ovn2' } },
      { name: 'sriov', multus: { networkName: 'mellanox-sriov-25g' } },
    ],
    {
      networkStatus: [
        { interface: 'net1', 'device-info': { type: 'vdpa', vdpa: { path: '/dev/vhost-vdpa-1' } } },
        { interface: 'net2', 'device-info': { type: 'vdpa', vdpa: { path: '/dev/vhost-vdpa-2' } } },
        {
          interface: 'net3',
          'device-info': { type: 'pci', pci: { 'pci-address': '0000:58:01.2' } },
        },
      ],
    },
  );
  const out = renderCloudHypervisor(p);
  assert.deepEqual(out.config.vdpa, [
    { id: 'vdpa1', path: '/dev/vhost-vdpa-1', num_queues: 9, iommu: false },
    { id: 'vdpa2', path: '/dev/vhost-vdpa-2', num_queues: 9, iommu: false },
  ]);
  assert.deepEqual(out.config.devices, [
    { id: 'sriov', path: '/sys/bus/pci/devices/0000:58:01.2' },
  ]);
  assert.deepEqual(out.warnings, []);
});

test('SR-IOV without a network-status: left out with a warning', () => {
  const out = renderCloudHypervisor(
    plan([{ name: 'sriov', sriov: {} }], [{ name: 'sriov', multus: { networkName: 'vf' } }]),
  );
  assert.deepEqual(out.config, {});
  assert.match(out.warnings[0] ?? '', /interface 'sriov'.*network-status/);
});

test('vhost-user: vhost_user, Server mode, socket from the NAD, shared memory', () => {
  const out = renderCloudHypervisor(
    plan(
      [{ name: 'dpdk', vhostUser: {}, mac: '52:54:00:00:00:09' }],
      [{ name: 'dpdk', multus: { networkName: 'ovn-dpdk' } }],
      { mtu: 1500 },
      [nad('ovn-dpdk', { type: 'kube-ovn', vhost_user_socket_name: 'vhost.sock' })],
    ),
  );
  assert.deepEqual(out.config, {
    net: [
      {
        id: 'dpdk',
        mac: '52:54:00:00:00:09',
        mtu: 1500,
        vhost_user: true,
        vhost_mode: 'Server',
        vhost_socket: '/var/run/vhost-user/vhost.sock',
      },
    ],
    memory: { shared: true },
  });
});
