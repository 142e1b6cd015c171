// Tests of the pod mutations: Multus JSON, binding NAD entry, sidecars, overhead, resources, volumes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planKubeVirt, planVirtink } from '../plan/plan.js';
import type { VmNetworkPlan } from '../plan/types.js';
import { renderLauncherPod, renderPod, renderVirtinkPod } from './launcher-pod.js';
import {
  kubevirtCr,
  kubevirtVm,
  nad,
  seedPasstPlugin,
  seedPasstVm,
  virtinkVm,
} from '../../test/fixtures/render/manifests.js';

type Obj = Record<string, unknown>;
interface PodShape {
  metadata: { annotations?: Record<string, string>; labels: Record<string, string> };
  spec: { containers: Obj[]; initContainers?: Obj[]; volumes?: Obj[]; nodeSelector?: Obj };
}

function ok(r: ReturnType<typeof planKubeVirt>): VmNetworkPlan {
  if (!r.ok) assert.fail(JSON.stringify(r.errors));
  return r.plan;
}

function pod(p: VmNetworkPlan): PodShape {
  return renderPod(p).pod as unknown as PodShape;
}

test('seed passt VM: binding NAD entry, one sidecar, --hook-sidecars 1, 500Mi', () => {
  const p = pod(
    ok(planKubeVirt({ vm: seedPasstVm, kubevirt: kubevirtCr({ passt: seedPasstPlugin }) })),
  );
  const nets = JSON.parse(
    p.metadata.annotations?.['k8s.v1.cni.cncf.io/networks'] ?? 'null',
  ) as unknown;
  assert.deepEqual(nets, [
    { name: 'netbindingpasst', namespace: 'default', 'cni-args': { logicNetworkName: 'passtnet' } },
  ]);
  const [compute, sidecar, ...rest] = p.spec.containers;
  assert.equal(rest.length, 0);
  assert.ok(compute && sidecar);
  assert.equal(compute['name'], 'compute');
  const cmd = compute['command'] as string[];
  assert.deepEqual(cmd.slice(cmd.indexOf('--hook-sidecars')), ['--hook-sidecars', '1']);
  assert.deepEqual(compute['resources'], { requests: { memory: '500Mi' } });
  assert.deepEqual(compute['volumeMounts'], [
    { name: 'hook-sidecar-sockets', mountPath: '/var/run/kubevirt-hooks' },
  ]);
  assert.deepEqual(sidecar, {
    name: 'hook-sidecar-0',
    image: 'quay.io/kubevirt/network-passt-binding:20231205_29a16d5c9',
    imagePullPolicy: 'IfNotPresent',
    env: [
      { name: 'CONTAINER_NAME', value: 'hook-sidecar-0' },
      { name: 'NETWORK_BINDING_PLUGIN_NAME', value: 'passt' },
    ],
    volumeMounts: [
      {
        name: 'hook-sidecar-sockets',
        mountPath: '/var/run/kubevirt-hooks',
        subPath: 'hook-sidecar-0',
      },
    ],
    securityContext: { runAsUser: 107, capabilities: { drop: ['ALL'] } },
  });
  assert.deepEqual(p.spec.volumes, [{ name: 'hook-sidecar-sockets', emptyDir: {} }]);
});

test('secondary networks: elements in spec order, interface names, MAC, binding entry after its network', () => {
  const vm = kubevirtVm(
    [
      { name: 'default', masquerade: {} },
      { name: 'blue', bridge: {}, macAddress: '02:00:00:00:00:0b' },
      { name: 'red', binding: { name: 'mybind' } },
    ],
    [
      { name: 'default', pod: {} },
      { name: 'blue', multus: { networkName: 'br-blue' } },
      { name: 'red', multus: { networkName: 'other/red-net' } },
    ],
    { namespace: 'vms' },
  );
  const cr = kubevirtCr({
    mybind: { networkAttachmentDefinition: 'bind-nad', domainAttachmentType: 'tap' },
  });
  const p = pod(ok(planKubeVirt({ vm, kubevirt: cr })));
  const a = p.metadata.annotations ?? {};
  assert.equal(
    a['k8s.v1.cni.cncf.io/networks'],
    JSON.stringify([
      { name: 'br-blue', namespace: 'vms', mac: '02:00:00:00:00:0b', interface: 'pod16477688c0e' },
      { name: 'red-net', namespace: 'other', interface: 'podb1f51a511f1' },
      { name: 'bind-nad', namespace: 'vms', 'cni-args': { logicNetworkName: 'red' } },
    ]),
  );
  assert.equal(a['traffic.sidecar.istio.io/kubevirtInterfaces'], 'k6t-eth0');
  assert.equal(a['istio.io/reroute-virtual-interfaces'], 'k6t-eth0');
  // No sidecar image: no sidecar, no --hook-sidecars.
  assert.equal(p.spec.containers.length, 1);
  assert.ok(!(p.spec.containers[0]!['command'] as string[]).includes('--hook-sidecars'));
});

test('multus default network and Istio label', () => {
  const vm = kubevirtVm(
    [{ name: 'main', bridge: {} }],
    [{ name: 'main', multus: { networkName: 'ovn-primary', default: true } }],
    { annotations: { 'sidecar.istio.io/inject': 'false' } },
  );
  const p = pod(ok(planKubeVirt({ vm })));
  assert.equal(p.metadata.annotations?.['v1.multus-cni.io/default-network'], 'ovn-primary');
  assert.equal(p.metadata.annotations?.['k8s.v1.cni.cncf.io/networks'], undefined);
  assert.equal(p.metadata.labels['sidecar.istio.io/inject'], 'false');
});

test('sidecars: annotation sidecars first, one per distinct plugin, device-info mounts', () => {
  const vm = kubevirtVm(
    [
      { name: 'default', binding: { name: 'passt' } },
      { name: 'a', binding: { name: 'dev' } },
      { name: 'b', binding: { name: 'dev' } },
    ],
    [
      { name: 'default', pod: {} },
      { name: 'a', multus: { networkName: 'na' } },
      { name: 'b', multus: { networkName: 'nb' } },
    ],
    {
      annotations: {
        'hooks.kubevirt.io/hookSidecars':
          '[{"image":"example.com/hook:1","args":["--version","v1alpha3"]}]',
      },
    },
  );
  const cr = kubevirtCr(
    {
      passt: seedPasstPlugin,
      dev: {
        sidecarImage: 'example.com/dev:2',
        downwardAPI: 'device-info',
        computeResourceOverhead: { requests: { memory: '12Mi' } },
      },
    },
    { imagePullPolicy: 'Always', featureGates: ['Root'] },
  );
  const p = pod(ok(planKubeVirt({ vm, kubevirt: cr })));
  const names = p.spec.containers.map((c) => c['name']);
  assert.deepEqual(names, ['compute', 'hook-sidecar-0', 'hook-sidecar-1', 'hook-sidecar-2']);
  const [compute, hook, passt, dev] = p.spec.containers as [Obj, Obj, Obj, Obj];
  assert.deepEqual(hook['args'], ['--version', 'v1alpha3']);
  assert.deepEqual(hook['env'], [{ name: 'CONTAINER_NAME', value: 'hook-sidecar-0' }]);
  assert.equal(passt['imagePullPolicy'], 'Always');
  assert.equal(passt['securityContext'], undefined); // Root gate
  assert.deepEqual(dev['env'], [
    { name: 'CONTAINER_NAME', value: 'hook-sidecar-2' },
    { name: 'NETWORK_BINDING_PLUGIN_NAME', value: 'dev' },
  ]);
  assert.deepEqual((dev['volumeMounts'] as Obj[])[1], {
    name: 'network-info-annotation',
    mountPath: '/etc/podinfo',
  });
  const cmd = compute['command'] as string[];
  assert.equal(cmd[cmd.indexOf('--hook-sidecars') + 1], '3');
  assert.deepEqual(compute['resources'], { requests: { memory: '512Mi' } });
  assert.deepEqual(p.spec.volumes?.[1], {
    name: 'network-info-annotation',
    downwardAPI: {
      items: [
        {
          path: 'network-info',
          fieldRef: { fieldPath: "metadata.annotations['kubevirt.io/network-info']" },
        },
      ],
    },
  });
});

test('SR-IOV: +1 request and limit per interface of the NAD resourceName, downward API volume', () => {
  const vm = kubevirtVm(
    [
      { name: 'default', masquerade: {} },
      { name: 'vf1', sriov: {} },
      { name: 'vf2', sriov: {} },
    ],
    [
      { name: 'default', pod: {} },
      { name: 'vf1', multus: { networkName: 'sriov-a' } },
      { name: 'vf2', multus: { networkName: 'sriov-a' } },
    ],
  );
  const nads = [nad('sriov-a', { type: 'sriov' }, { resourceName: 'intel.com/sriov_vfio' })];
  const r = renderLauncherPod(ok(planKubeVirt({ vm, nads })));
  const p = r.pod as unknown as PodShape;
  assert.deepEqual(p.spec.containers[0]!['resources'], {
    requests: { 'intel.com/sriov_vfio': '2' },
    limits: { 'intel.com/sriov_vfio': '2' },
  });
  assert.deepEqual(
    p.spec.volumes?.map((v) => v['name']),
    ['network-info-annotation'],
  );
  assert.deepEqual(r.warnings, []);
  // Without the NAD bindery cannot know the resource: a warning.
  const w = renderLauncherPod(ok(planKubeVirt({ vm })));
  assert.equal(w.warnings.length, 2);
});

test('Virtink: Multus elements with net<i>, resources, NETWORK_STATUS, one ip-forward init container', () => {
  const r = planVirtink({
    vm: virtinkVm(
      [
        { name: 'pod', masquerade: {}, mac: '52:54:00:00:00:01' },
        { name: 'sriov', sriov: {}, mac: '52:54:00:00:00:02' },
        { name: 'pod2', masquerade: {}, mac: '52:54:00:00:00:03' },
      ],
      [
        { name: 'pod', pod: {} },
        { name: 'sriov', multus: { networkName: 'mellanox-sriov-25g' } },
        { name: 'pod2', multus: { networkName: 'other' } },
      ],
    ),
    nads: [
      nad(
        'mellanox-sriov-25g',
        { type: 'sriov' },
        { resourceName: 'intel.com/mellanox_SRIOV_25G' },
      ),
    ],
  });
  assert.ok(r.ok);
  const out = renderVirtinkPod(r.plan);
  const p = out.pod as unknown as PodShape;
  assert.equal(
    p.metadata.annotations?.['k8s.v1.cni.cncf.io/networks'],
    JSON.stringify([
      { name: 'mellanox-sriov-25g', mac: '52:54:00:00:00:02', interface: 'net1' },
      { name: 'other', mac: '52:54:00:00:00:03', interface: 'net2' },
    ]),
  );
  const c = p.spec.containers[0]!;
  assert.equal(c['name'], 'cloud-hypervisor');
  assert.deepEqual(c['resources'], {
    requests: { 'intel.com/mellanox_SRIOV_25G': '1' },
    limits: { 'intel.com/mellanox_SRIOV_25G': '1' },
  });
  assert.deepEqual(c['env'], [
    {
      name: 'NETWORK_STATUS',
      valueFrom: {
        fieldRef: { fieldPath: "metadata.annotations['k8s.v1.cni.cncf.io/network-status']" },
      },
    },
  ]);
  assert.deepEqual(
    p.spec.initContainers?.map((i) => i['name']),
    ['enable-ip-forward'],
  );
  assert.equal(p.metadata.labels['virtink.io/vm.name'], 'ubuntu');
});

test('Virtink vhost-user: kube-ovn and userspace plumbing, unsupported CNI warns', () => {
  const mk = (type: string) => {
    const r = planVirtink({
      vm: virtinkVm(
        [{ name: 'd', vhostUser: {}, mac: '52:54:00:00:00:09' }],
        [{ name: 'd', multus: { networkName: 'ovn-dpdk' } }],
      ),
      nads: [
        nad('ovn-dpdk', {
          type,
          vhost_user_socket_volume_name: 'vu',
          vhost_user_socket_name: 's.sock',
        }),
      ],
    });
    assert.ok(r.ok);
    return renderVirtinkPod(r.plan);
  };
  const ovn = mk('kube-ovn').pod as unknown as PodShape;
  assert.deepEqual(ovn.spec.nodeSelector, { 'ovn.kubernetes.io/ovs_dp_type': 'userspace' });
  assert.equal(
    ovn.metadata.annotations?.['ovn-dpdk.default.ovn.kubernetes.io/mac_address'],
    '52:54:00:00:00:09',
  );
  assert.deepEqual(ovn.spec.volumes, [{ name: 'vu', emptyDir: {} }]);
  const env = ovn.spec.containers[0]!['env'] as Obj[];
  assert.deepEqual(env.slice(1), [
    { name: 'VHOST_USER_SOCKET', value: '/var/run/vhost-user/s.sock' },
    { name: 'NET_TYPE', value: 'kube-ovn' },
  ]);
  const us = mk('userspace').pod as unknown as PodShape;
  assert.deepEqual(us.spec.volumes, [
    { name: 'vu', hostPath: { path: '/usr/local/var/run/openvswitch/' } },
  ]);
  assert.match(mk('ovs').warnings[0] ?? '', /CNI plugin ovs is not supported for vhost-user/);
});
