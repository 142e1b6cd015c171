// Tests of the planner: bindings, pod interface names, addresses, migration and overhead per platform.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  isBinderyImage,
  isPasstSidecar,
  planKubeVirt,
  planVirtink,
  type PlanResult,
} from './plan.js';
import type { BindingPlan, VmNetworkPlan } from './types.js';
import {
  kubevirtCr,
  kubevirtVm,
  nad,
  seedPasstPlugin,
  seedPasstVm,
  virtinkVm,
} from '../../test/fixtures/render/manifests.js';

function ok(r: PlanResult): VmNetworkPlan {
  if (!r.ok) assert.fail(JSON.stringify(r.errors));
  return r.plan;
}

function iface(p: VmNetworkPlan, name: string): BindingPlan {
  const i = p.interfaces.find((x) => x.name === name);
  assert.ok(i, `no interface ${name}`);
  return i;
}

test('seed passt VM: plugin binding, eth0, passt attachment, link-refresh, 500Mi', () => {
  const p = ok(planKubeVirt({ vm: seedPasstVm, kubevirt: kubevirtCr({ passt: seedPasstPlugin }) }));
  assert.equal(p.platform, 'kubevirt');
  assert.equal(p.vmName, 'vm-net-binding-passt');
  const i = iface(p, 'passtnet');
  assert.equal(i.binding.kind, 'plugin');
  assert.ok(i.binding.kind === 'plugin');
  assert.equal(i.binding.plugin.name, 'passt');
  assert.deepEqual(i.binding.plugin.networkAttachmentDefinition, {
    namespace: 'default',
    name: 'netbindingpasst',
  });
  assert.equal(i.binding.plugin.passtSidecar, true);
  assert.equal(i.attachment, 'passt');
  assert.equal(i.podInterfaceName, 'eth0');
  assert.equal(i.tapName, undefined);
  assert.deepEqual(i.ports, [{ name: 'http', protocol: 'TCP', port: 80 }]);
  assert.deepEqual(i.migration, { migratable: true, method: 'link-refresh' });
  assert.equal(p.memoryOverhead, '500Mi');
  assert.equal(p.migration.migratable, true);
});

test("bindery's own sidecar image renders passt, whatever the plugin is called", () => {
  for (const image of [
    'localhost/bindery:0.1.0',
    'bindery',
    'registry.example:5000/team/bindery@sha256:' + '0'.repeat(64),
    'registry.example:5000/bindery:v1',
  ])
    assert.equal(isBinderyImage(image), true, image);
  for (const image of ['localhost/bindery-cni:1', 'bindery.example/other:1', 'x/notbindery'])
    assert.equal(isBinderyImage(image), false, image);
  assert.equal(isPasstSidecar('bindery-passt', { sidecarImage: 'localhost/bindery:0.1.0' }), true);
  assert.equal(isPasstSidecar('bindery-passt', { sidecarImage: 'localhost/other:0.1.0' }), false);
  assert.equal(isPasstSidecar('bindery-tap', { domainAttachmentType: 'tap' }), false);
});

test('an unregistered plugin is a field error with the virt-controller message', () => {
  const r = planKubeVirt({ vm: seedPasstVm, kubevirt: kubevirtCr({}) });
  assert.ok(!r.ok);
  assert.deepEqual(
    r.errors.map((e) => [e.path, e.message]),
    [
      [
        'spec.template.spec.domain.devices.interfaces[0].binding.name',
        "unable to find the network binding plugin 'passt' in Kubevirt configuration",
      ],
    ],
  );
});

test('masquerade on the pod network: k6t-eth0, tap0, 10.0.2.1/2 and fd10:0:2::1/2', () => {
  const vm = kubevirtVm([{ name: 'default', masquerade: {} }], [{ name: 'default', pod: {} }]);
  const i = iface(ok(planKubeVirt({ vm, options: { mtu: 1450 } })), 'default');
  assert.equal(i.attachment, 'tap');
  assert.equal(i.tapName, 'tap0');
  assert.equal(i.bridgeName, 'k6t-eth0');
  assert.equal(i.renamedPodInterfaceName, undefined);
  assert.equal(i.mtu, 1450);
  assert.deepEqual(i.masquerade?.ipv4, {
    cidr: '10.0.2.0/24',
    prefixLength: 24,
    gateway: '10.0.2.1',
    guest: '10.0.2.2',
  });
  assert.equal(i.masquerade?.ipv6?.gateway, 'fd10:0:2::1');
  assert.equal(i.masquerade?.ipv6?.guest, 'fd10:0:2::2');
  assert.equal(i.migration.migratable, true);
});

test('masquerade with a custom CIDR, and a CIDR that is too small', () => {
  const vm = kubevirtVm(
    [{ name: 'default', masquerade: {} }],
    [{ name: 'default', pod: { vmNetworkCIDR: '192.168.50.0/28' } }],
  );
  const i = iface(ok(planKubeVirt({ vm })), 'default');
  assert.equal(i.masquerade?.ipv4.gateway, '192.168.50.1');
  assert.equal(i.masquerade?.ipv4.guest, '192.168.50.2');
  const bad = kubevirtVm(
    [{ name: 'default', masquerade: {} }],
    [{ name: 'default', pod: { vmNetworkCIDR: '10.0.0.0/31' } }],
  );
  const r = planKubeVirt({ vm: bad });
  assert.ok(!r.ok);
  assert.equal(r.errors[0]?.path, 'spec.template.spec.networks[0].pod.vmNetworkCIDR');
});

test('secondary networks: hashed names by default, net<N> in ordinal mode, NAD namespace', () => {
  const vm = kubevirtVm(
    [
      { name: 'default', masquerade: {} },
      { name: 'blue', bridge: {}, macAddress: 'DE-AD-00-00-BE-AF' },
      { name: 'red', sriov: {} },
    ],
    [
      { name: 'default', pod: {} },
      { name: 'blue', multus: { networkName: 'br-blue' } },
      { name: 'red', multus: { networkName: 'sriov/red-net' } },
    ],
    { namespace: 'vms' },
  );
  const nads = [
    nad('red-net', { type: 'sriov' }, { namespace: 'sriov', resourceName: 'intel.com/vf' }),
  ];
  const p = ok(planKubeVirt({ vm, nads }));
  const blue = iface(p, 'blue');
  assert.equal(blue.podInterfaceName, 'pod16477688c0e');
  assert.equal(blue.tapName, 'tap16477688c0e');
  assert.equal(blue.bridgeName, 'k6t-16477688c0e');
  assert.equal(blue.renamedPodInterfaceName, '16477688c0e-nic');
  assert.equal(blue.mac, 'de:ad:00:00:be:af');
  assert.deepEqual(blue.network, {
    kind: 'multus',
    nad: { namespace: 'vms', name: 'br-blue' },
    default: false,
  });
  const red = iface(p, 'red');
  assert.equal(red.podInterfaceName, 'podb1f51a511f1');
  assert.equal(red.attachment, 'hostdev');
  assert.ok(red.network.kind === 'multus');
  assert.equal(red.network.resourceName, 'intel.com/vf');
  assert.equal(red.network.cniType, 'sriov');

  const legacy = ok(planKubeVirt({ vm, nads, options: { podInterfaceNaming: 'ordinal' } }));
  assert.equal(iface(legacy, 'blue').podInterfaceName, 'net1');
  assert.equal(iface(legacy, 'blue').tapName, 'tap1');
  assert.equal(iface(legacy, 'red').podInterfaceName, 'net2');
});

test('multus default network is eth0; SR-IOV device from the network-status', () => {
  const vm = kubevirtVm(
    [
      { name: 'main', bridge: {} },
      { name: 'vf', sriov: {} },
    ],
    [
      { name: 'main', multus: { networkName: 'ovn', default: true } },
      { name: 'vf', multus: { networkName: 'sriov-net' } },
    ],
  );
  const p = ok(
    planKubeVirt({
      vm,
      options: {
        networkStatus: [
          {
            name: 'default/sriov-net',
            interface: hashedPodName('vf'),
            'device-info': { type: 'pci', pci: { 'pci-address': '0000:81:01.2' } },
          },
        ],
      },
    }),
  );
  assert.equal(iface(p, 'main').podInterfaceName, 'eth0');
  assert.equal(iface(p, 'main').tapName, 'tap0');
  assert.deepEqual(iface(p, 'vf').device, { pciAddress: '0000:81:01.2' });
});

function hashedPodName(n: string): string {
  // Independent of names.ts: the scheme is documented in the facts.
  return 'pod' + createHashHex(n).slice(0, 11);
}
function createHashHex(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

test('core passtBinding: passt attachment, 250Mi, passt-repair migration', () => {
  const vm = kubevirtVm([{ name: 'default', passtBinding: {} }], [{ name: 'default', pod: {} }]);
  const p = ok(planKubeVirt({ vm }));
  const i = iface(p, 'default');
  assert.equal(i.attachment, 'passt');
  assert.equal(i.memoryOverhead, '250Mi');
  assert.equal(i.migration.method, 'passt-repair');
  assert.equal(p.memoryOverhead, '250Mi');
});

test('overhead is summed once per distinct plugin', () => {
  const vm = kubevirtVm(
    [
      { name: 'a', binding: { name: 'p1' } },
      { name: 'b', binding: { name: 'p1' } },
      { name: 'c', binding: { name: 'p2' } },
    ],
    [
      { name: 'a', pod: {} },
      { name: 'b', multus: { networkName: 'nb' } },
      { name: 'c', multus: { networkName: 'nc' } },
    ],
  );
  const cr = kubevirtCr({
    p1: { sidecarImage: 'x/p1', computeResourceOverhead: { requests: { memory: '100Mi' } } },
    p2: {
      domainAttachmentType: 'managedTap',
      computeResourceOverhead: { requests: { memory: '28Mi' } },
    },
  });
  const p = ok(planKubeVirt({ vm, kubevirt: cr }));
  assert.equal(p.memoryOverhead, '128Mi');
  assert.equal(iface(p, 'a').attachment, 'sidecar');
  const c = iface(p, 'c');
  assert.equal(c.attachment, 'tap');
  assert.equal(c.bridgeName, kubevirtBridge(c.podInterfaceName));
  // p1 has no migration on the pod network: the VM cannot migrate.
  assert.equal(p.migration.migratable, false);
  assert.match(p.migration.reason ?? '', /cannot migrate VMI/);
});

function kubevirtBridge(pod: string): string {
  return 'k6t-' + pod.slice(3);
}

test('bridge on the pod network migrates only with the allow annotation', () => {
  const nets = [{ name: 'default', pod: {} }];
  const ifs = [{ name: 'default', bridge: {} }];
  assert.equal(ok(planKubeVirt({ vm: kubevirtVm(ifs, nets) })).migration.migratable, false);
  const allowed = kubevirtVm(ifs, nets, {
    annotations: { 'kubevirt.io/allow-pod-bridge-network-live-migration': '' },
  });
  assert.equal(ok(planKubeVirt({ vm: allowed })).migration.migratable, true);
});

test('no binding method falls back to the CR default interface; absent interfaces are kept', () => {
  const vm = kubevirtVm(
    [{ name: 'default' }, { name: 'gone', bridge: {}, state: 'absent' }],
    [
      { name: 'default', pod: {} },
      { name: 'gone', multus: { networkName: 'x' } },
    ],
  );
  const cr = kubevirtCr({});
  const masq = {
    ...cr,
    spec: { configuration: { network: { defaultNetworkInterface: 'masquerade' } } },
  };
  const p = ok(planKubeVirt({ vm, kubevirt: masq }));
  const d = iface(p, 'default');
  assert.ok(d.binding.kind === 'core' && d.binding.method === 'masquerade');
  assert.equal(iface(p, 'gone').state, 'absent');
});

test('hook sidecar annotation: parsed, and malformed JSON is a field error', () => {
  const nets = [{ name: 'default', pod: {} }];
  const ifs = [{ name: 'default', masquerade: {} }];
  const good = kubevirtVm(ifs, nets, {
    annotations: {
      'hooks.kubevirt.io/hookSidecars':
        '[{"args":["--version","v1alpha2"],"image":"quay.io/kubevirt/sidecar-shim:v1.3.0"}]',
    },
  });
  const p = ok(planKubeVirt({ vm: good }));
  assert.deepEqual(p.annotationSidecars, [
    { image: 'quay.io/kubevirt/sidecar-shim:v1.3.0', args: ['--version', 'v1alpha2'] },
  ]);
  const bad = kubevirtVm(ifs, nets, { annotations: { 'hooks.kubevirt.io/hookSidecars': '[{' } });
  const r = planKubeVirt({ vm: bad });
  assert.ok(!r.ok);
  assert.equal(
    r.errors[0]?.path,
    'spec.template.metadata.annotations[hooks.kubevirt.io/hookSidecars]',
  );
});

test('Virtink: eth0/net<i>, br-/tap- names, bridge address, masquerade /30, migratability', () => {
  const vm = virtinkVm(
    [
      { name: 'pod', masquerade: { cidr: '10.0.2.0/30' }, mac: '52:54:00:aa:bb:cc' },
      { name: 'ovs', bridge: {}, mac: '52:54:00:aa:bb:cd' },
      { name: 'sriov', sriov: {}, mac: '52:54:00:aa:bb:ce' },
      { name: 'vdpa1', vdpa: { numQueues: 9, iommu: false }, mac: '52:54:00:aa:bb:cf' },
    ],
    [
      { name: 'pod', pod: {} },
      { name: 'ovs', multus: { networkName: 'ovs-br1' } },
      { name: 'sriov', multus: { networkName: 'mellanox-sriov-25g' } },
      { name: 'vdpa1', multus: { networkName: 'offload-ovn1' } },
    ],
  );
  const p = ok(
    planVirtink({
      vm,
      nads: [
        nad(
          'mellanox-sriov-25g',
          { cniVersion: '0.3.1', type: 'sriov' },
          { resourceName: 'intel.com/mellanox_SRIOV_25G' },
        ),
      ],
      options: {
        networkStatus: [
          { interface: 'net2', 'device-info': { pci: { 'pci-address': '0000:58:01.2' } } },
          { interface: 'net3', 'device-info': { vdpa: { path: '/dev/vhost-vdpa-0' } } },
        ],
      },
    }),
  );
  const pod = iface(p, 'pod');
  assert.equal(pod.podInterfaceName, 'eth0');
  assert.equal(pod.tapName, 'tap-eth0');
  assert.equal(pod.bridgeName, 'br-eth0');
  assert.equal(pod.masquerade?.ipv4.gateway, '10.0.2.1');
  assert.equal(pod.masquerade?.ipv4.guest, '10.0.2.2');
  assert.equal(pod.masquerade?.ipv6, undefined);
  const ovs = iface(p, 'ovs');
  assert.equal(ovs.podInterfaceName, 'net1');
  assert.equal(ovs.bridgeAddress, '169.254.201.1/30');
  assert.equal(ovs.renamedPodInterfaceName, 'net1-nic');
  const sriov = iface(p, 'sriov');
  assert.equal(sriov.attachment, 'hostdev');
  assert.deepEqual(sriov.device, { pciAddress: '0000:58:01.2' });
  assert.ok(sriov.network.kind === 'multus');
  assert.equal(sriov.network.resourceName, 'intel.com/mellanox_SRIOV_25G');
  assert.deepEqual(iface(p, 'vdpa1').vdpa, { numQueues: 9, iommu: false });
  assert.deepEqual(iface(p, 'vdpa1').device, { vdpaPath: '/dev/vhost-vdpa-0' });
  assert.equal(p.migration.migratable, false);
  assert.equal(p.migration.reason, 'migration is disabled when VM has a SR-IOV interface');
});

test('Virtink: bridge on the pod network blocks migration; masquerade alone does not', () => {
  const bridge = virtinkVm([{ name: 'pod', bridge: {} }], [{ name: 'pod', pod: {} }]);
  const b = ok(planVirtink({ vm: bridge }));
  assert.equal(b.migration.migratable, false);
  assert.equal(iface(b, 'pod').bridgeAddress, '169.254.200.1/30');
  const masq = virtinkVm([{ name: 'pod', masquerade: {} }], [{ name: 'pod', pod: {} }]);
  const m = ok(planVirtink({ vm: masq }));
  assert.equal(m.migration.migratable, true);
  assert.equal(iface(m, 'pod').masquerade?.ipv4.cidr, '10.0.2.0/30');
});
