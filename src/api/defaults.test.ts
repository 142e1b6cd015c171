// Tests of KubeVirt and Virtink defaulting: default pod network, model, CIDRs, MAC generation, bridge, masquerade cidr.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  DefaultCode,
  defaultKubeVirtVm,
  defaultKubeVirtVmiSpec,
  defaultVirtinkVm,
  generateVirtinkMac,
  seededRandom,
} from './defaults.js';
import { kubevirtClusterConfig, parseKubeVirtVersion } from './kubevirt-config.js';
import { parseMac } from './syntax.js';
import type { KubeVirtCR, KubeVirtVmiSpec, VirtinkVirtualMachine } from './types.js';

function crWith(network: Record<string, unknown>): KubeVirtCR {
  return {
    apiVersion: 'kubevirt.io/v1',
    kind: 'KubeVirt',
    metadata: {},
    spec: { configuration: { network } },
  };
}

const emptySpec: KubeVirtVmiSpec = { domain: { devices: {} } };

test('KubeVirt: no interfaces and no networks get the pod network and a bridge interface', () => {
  const r = defaultKubeVirtVmiSpec(emptySpec, kubevirtClusterConfig(undefined));
  assert.deepEqual(r.errors, []);
  assert.deepEqual(r.value.networks, [
    { name: 'default', pod: { vmNetworkCIDR: '10.0.2.0/24', vmIPv6NetworkCIDR: 'fd10:0:2::/120' } },
  ]);
  assert.deepEqual(r.value.domain.devices.interfaces, [
    { name: 'default', bridge: {}, model: 'virtio' },
  ]);
});

test('KubeVirt: defaultNetworkInterface masquerade gives a masquerade interface', () => {
  const r = defaultKubeVirtVmiSpec(
    emptySpec,
    kubevirtClusterConfig(crWith({ defaultNetworkInterface: 'masquerade' })),
  );
  assert.deepEqual(r.value.domain.devices.interfaces, [
    { name: 'default', masquerade: {}, model: 'virtio' },
  ]);
});

test('KubeVirt: a bridge default with bridge on the pod network not permitted fails', () => {
  const r = defaultKubeVirtVmiSpec(
    emptySpec,
    kubevirtClusterConfig(crWith({ permitBridgeInterfaceOnPodNetwork: false })),
  );
  assert.deepEqual(r.errors, [
    {
      path: 'spec.domain.devices.interfaces',
      code: DefaultCode.BridgeNotPermitted,
      message: 'bridge interface is not enabled in kubevirt-config',
    },
  ]);
});

test('KubeVirt: a slirp default fails from v1.3, needs permitSlirpInterface before', () => {
  const cr = crWith({ defaultNetworkInterface: 'slirp' });
  const v19 = defaultKubeVirtVmiSpec(emptySpec, kubevirtClusterConfig(cr));
  assert.equal(v19.errors[0]?.message, 'slirp interface is deprecated as of v1.3');
  const v12 = parseKubeVirtVersion('v1.2');
  assert.ok(v12);
  assert.equal(
    defaultKubeVirtVmiSpec(emptySpec, kubevirtClusterConfig(cr, v12)).errors[0]?.code,
    DefaultCode.Slirp,
  );
  const permitted = crWith({ defaultNetworkInterface: 'slirp', permitSlirpInterface: true });
  const ok = defaultKubeVirtVmiSpec(emptySpec, kubevirtClusterConfig(permitted, v12));
  assert.deepEqual(ok.errors, []);
  assert.deepEqual(ok.value.domain.devices.interfaces?.[0], {
    name: 'default',
    slirp: {},
    model: 'virtio',
  });
  const unknown = defaultKubeVirtVmiSpec(
    emptySpec,
    kubevirtClusterConfig(crWith({ defaultNetworkInterface: 'tap' })),
  );
  assert.equal(unknown.errors[0]?.code, DefaultCode.Unknown);
});

test('KubeVirt: autoattachPodInterface false adds nothing; given interfaces are kept', () => {
  const r = defaultKubeVirtVmiSpec(
    { domain: { devices: { autoattachPodInterface: false } } },
    kubevirtClusterConfig(undefined),
  );
  assert.deepEqual(r.value.networks, []);
  assert.deepEqual(r.value.domain.devices.interfaces, []);
  const given = defaultKubeVirtVmiSpec(
    {
      domain: {
        devices: {
          interfaces: [{ name: 'a', masquerade: {}, model: 'e1000', ports: [{ port: 80 }] }],
        },
      },
      networks: [{ name: 'a', pod: { vmNetworkCIDR: '10.1.0.0/24' } }],
    },
    kubevirtClusterConfig(undefined),
  );
  assert.deepEqual(given.value.domain.devices.interfaces, [
    { name: 'a', masquerade: {}, model: 'e1000', ports: [{ port: 80, protocol: 'TCP' }] },
  ]);
  assert.deepEqual(given.value.networks, [
    { name: 'a', pod: { vmNetworkCIDR: '10.1.0.0/24', vmIPv6NetworkCIDR: 'fd10:0:2::/120' } },
  ]);
});

test('KubeVirt VM: errors are located under spec.template.spec and the namespace defaults', () => {
  const r = defaultKubeVirtVm(
    {
      apiVersion: 'kubevirt.io/v1',
      kind: 'VirtualMachine',
      metadata: { name: 'x' },
      spec: { template: { spec: emptySpec } },
    },
    kubevirtClusterConfig(crWith({ permitBridgeInterfaceOnPodNetwork: false })),
  );
  assert.equal(r.errors[0]?.path, 'spec.template.spec.domain.devices.interfaces');
  assert.equal(r.value.metadata.namespace, 'default');
});

function vvm(
  interfaces: NonNullable<VirtinkVirtualMachine['spec']['instance']['interfaces']>,
): VirtinkVirtualMachine {
  return {
    apiVersion: 'virt.virtink.smartx.com/v1alpha1',
    kind: 'VirtualMachine',
    metadata: {},
    spec: { instance: { interfaces } },
  };
}

test('Virtink: MAC 52:54:00 + 3 random bytes, deterministic with a seed', () => {
  const a = defaultVirtinkVm(vvm([{ name: 'pod' }, { name: 'x', masquerade: {} }]), {
    random: seededRandom('vm-1'),
  });
  const b = defaultVirtinkVm(vvm([{ name: 'pod' }, { name: 'x', masquerade: {} }]), {
    random: seededRandom('vm-1'),
  });
  assert.deepEqual(a, b);
  const macs = (a.spec.instance.interfaces ?? []).map((i) => i.mac ?? '');
  for (const m of macs) assert.match(m, /^52:54:00(:[0-9a-f]{2}){3}$/);
  assert.notEqual(macs[0], macs[1]);
  const c = defaultVirtinkVm(vvm([{ name: 'pod' }]), { random: seededRandom('vm-2') });
  assert.notEqual(c.spec.instance.interfaces?.[0]?.mac, macs[0]);
  assert.equal(
    generateVirtinkMac(() => Uint8Array.of(0xdd, 0x0d, 0x5b)),
    '52:54:00:dd:0d:5b',
  );
});

test('Virtink: bridge by default, masquerade cidr 10.0.2.0/30, MACs kept on update', () => {
  const old = vvm([{ name: 'pod', mac: '52:54:00:dd:0d:5b', bridge: {} }]);
  const r = defaultVirtinkVm(
    vvm([
      { name: 'pod' },
      { name: 'm', masquerade: {} },
      { name: 'n', masquerade: { cidr: '10.9.0.0/29' } },
    ]),
    {
      random: seededRandom('x'),
      old,
    },
  );
  const [p, m, n] = r.spec.instance.interfaces ?? [];
  assert.deepEqual(p, { name: 'pod', mac: '52:54:00:dd:0d:5b', bridge: {} });
  assert.deepEqual(m?.masquerade, { cidr: '10.0.2.0/30' });
  assert.equal(m?.bridge, undefined);
  assert.deepEqual(n?.masquerade, { cidr: '10.9.0.0/29' });
  assert.equal(r.metadata.namespace, 'default');
});

test('property: generated MACs always parse as 6-byte MACs with the 52:54:00 prefix', () => {
  fc.assert(
    fc.property(fc.string(), (seed) => {
      const mac = generateVirtinkMac(seededRandom(seed));
      const p = parseMac(mac);
      return 'bytes' in p && p.bytes.length === 6 && mac.startsWith('52:54:00:');
    }),
  );
});
