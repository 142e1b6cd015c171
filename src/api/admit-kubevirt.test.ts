// Tests of KubeVirt admission: every rule with an accepting and a rejecting VMI spec, and the KubeVirt CR checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  KubeVirtCode,
  admitKubeVirtCR,
  admitKubeVirtVmiSpec,
  kubevirtMigrationBlocker,
} from './admit-kubevirt.js';
import { kubevirtClusterConfig, parseKubeVirtVersion } from './kubevirt-config.js';
import type { KubeVirtClusterConfig } from './kubevirt-config.js';
import type {
  KubeVirtBindingPlugin,
  KubeVirtCR,
  KubeVirtInterface,
  KubeVirtNetwork,
  KubeVirtVmiSpec,
} from './types.js';

interface Cfg {
  version?: string;
  gates?: string[];
  bindings?: Record<string, KubeVirtBindingPlugin>;
  permitBridge?: boolean;
  permitSlirp?: boolean;
}

function cfg(c: Cfg = {}): KubeVirtClusterConfig {
  const version = parseKubeVirtVersion(c.version ?? 'v1.9');
  assert.ok(version);
  const cr: KubeVirtCR = {
    apiVersion: 'kubevirt.io/v1',
    kind: 'KubeVirt',
    metadata: {},
    spec: {
      configuration: {
        developerConfiguration: { featureGates: c.gates ?? [] },
        network: {
          ...(c.permitBridge !== undefined
            ? { permitBridgeInterfaceOnPodNetwork: c.permitBridge }
            : {}),
          ...(c.permitSlirp !== undefined ? { permitSlirpInterface: c.permitSlirp } : {}),
          binding: c.bindings ?? {},
        },
      },
    },
  };
  return kubevirtClusterConfig(cr, version);
}

function spec(
  interfaces: KubeVirtInterface[],
  networks: KubeVirtNetwork[],
  more: Partial<KubeVirtVmiSpec> = {},
): KubeVirtVmiSpec {
  return { domain: { devices: { interfaces } }, networks, ...more };
}

const pod = (name = 'default'): KubeVirtNetwork => ({ name, pod: {} });
const multus = (name: string, extra: Partial<KubeVirtNetwork['multus']> = {}): KubeVirtNetwork => ({
  name,
  multus: { networkName: `nad-${name}`, ...extra },
});
const masq = (name = 'default', extra: Partial<KubeVirtInterface> = {}): KubeVirtInterface => ({
  name,
  masquerade: {},
  ...extra,
});
const bridge = (name: string, extra: Partial<KubeVirtInterface> = {}): KubeVirtInterface => ({
  name,
  bridge: {},
  ...extra,
});
const sriov = (name: string, extra: Partial<KubeVirtInterface> = {}): KubeVirtInterface => ({
  name,
  sriov: {},
  ...extra,
});

interface Input {
  spec: KubeVirtVmiSpec;
  config?: Cfg;
}

interface Case {
  code: string;
  path?: string;
  reject: Input;
  accept: Input;
}

const passtPlugin: KubeVirtBindingPlugin = {
  sidecarImage: 'quay.io/kubevirt/network-passt-binding:x',
  networkAttachmentDefinition: 'default/netbindingpasst',
};

const draClaims = { extra: { resourceClaims: [{ name: 'c1' }, { name: 'c2' }] } };

const cases: Case[] = [
  {
    code: KubeVirtCode.PodNetMultiple,
    path: 'spec.interfaces',
    reject: { spec: spec([masq('a'), bridge('b')], [pod('a'), pod('b')]) },
    accept: { spec: spec([masq('a'), bridge('b')], [pod('a'), multus('b')]) },
  },
  {
    code: KubeVirtCode.MultusDefaultMultiple,
    path: 'spec.networks',
    reject: {
      spec: spec(
        [bridge('a'), bridge('b')],
        [multus('a', { default: true }), multus('b', { default: true })],
      ),
    },
    accept: {
      spec: spec([bridge('a'), bridge('b')], [multus('a', { default: true }), multus('b')]),
    },
  },
  {
    code: KubeVirtCode.PodAndMultusDefault,
    path: 'spec.networks',
    reject: { spec: spec([masq('a'), bridge('b')], [pod('a'), multus('b', { default: true })]) },
    accept: { spec: spec([masq('a'), bridge('b')], [pod('a'), multus('b')]) },
  },
  {
    code: KubeVirtCode.NetSourceNone,
    path: 'spec.networks[0]',
    reject: { spec: spec([bridge('x')], [{ name: 'x' }]) },
    accept: { spec: spec([bridge('x')], [multus('x')]) },
  },
  {
    code: KubeVirtCode.NetSourceMultiple,
    path: 'spec.networks[0]',
    reject: { spec: spec([masq('x')], [{ name: 'x', pod: {}, multus: { networkName: 'n' } }]) },
    accept: { spec: spec([masq('x')], [pod('x')]) },
  },
  {
    code: KubeVirtCode.MultusNameRequired,
    path: 'spec.networks[0]',
    reject: { spec: spec([bridge('x')], [{ name: 'x', multus: { networkName: '' } }]) },
    accept: { spec: spec([bridge('x')], [multus('x')]) },
  },
  {
    code: KubeVirtCode.StateUnsupported,
    path: 'spec.domain.devices.interfaces[0].state',
    reject: { spec: spec([masq('default', { state: 'sleeping' })], [pod()]) },
    accept: { spec: spec([masq('default', { state: 'down' })], [pod()]) },
  },
  {
    code: KubeVirtCode.StateLinkSriov,
    path: 'spec.domain.devices.interfaces[1].state',
    reject: { spec: spec([masq(), sriov('s', { state: 'up' })], [pod(), multus('s')]) },
    accept: { spec: spec([masq(), sriov('s')], [pod(), multus('s')]) },
  },
  {
    code: KubeVirtCode.StateAbsentNotBridge,
    path: 'spec.domain.devices.interfaces[1].state',
    reject: { spec: spec([masq(), sriov('s', { state: 'absent' })], [pod(), multus('s')]) },
    accept: { spec: spec([masq(), bridge('s', { state: 'absent' })], [pod(), multus('s')]) },
  },
  {
    code: KubeVirtCode.StateAbsentDefaultNet,
    path: 'spec.domain.devices.interfaces[0].state',
    reject: { spec: spec([bridge('default', { state: 'absent' })], [pod()]) },
    accept: { spec: spec([bridge('default')], [pod()]) },
  },
  {
    code: KubeVirtCode.BindingCount,
    path: 'spec.domain.devices.interfaces[0]',
    reject: { spec: spec([{ name: 'default', bridge: {}, masquerade: {} }], [pod()]) },
    accept: { spec: spec([masq()], [pod()]) },
  },
  {
    code: KubeVirtCode.MasqNotPod,
    path: 'spec.domain.devices.interfaces[0].name',
    reject: { spec: spec([masq('m')], [multus('m')]) },
    accept: { spec: spec([masq('m')], [pod('m')]) },
  },
  {
    code: KubeVirtCode.MasqReservedMac,
    path: 'spec.domain.devices.interfaces[0].macAddress',
    reject: { spec: spec([masq('default', { macAddress: '02-00-00-00-00-00' })], [pod()]) },
    accept: { spec: spec([masq('default', { macAddress: '02:00:00:00:00:01' })], [pod()]) },
  },
  {
    code: KubeVirtCode.BridgePodNotPermitted,
    path: 'spec.domain.devices.interfaces[0].name',
    reject: { spec: spec([bridge('default')], [pod()]), config: { permitBridge: false } },
    accept: { spec: spec([bridge('default')], [pod()]), config: { permitBridge: true } },
  },
  {
    code: KubeVirtCode.BindingPluginsGate,
    path: 'spec.domain.devices.interfaces[0].binding',
    reject: {
      spec: spec([{ name: 'default', binding: { name: 'passt' } }], [pod()]),
      config: { version: 'v1.4', bindings: { passt: passtPlugin } },
    },
    accept: {
      spec: spec([{ name: 'default', binding: { name: 'passt' } }], [pod()]),
      config: {
        version: 'v1.4',
        gates: ['NetworkBindingPlugins'],
        bindings: { passt: passtPlugin },
      },
    },
  },
  {
    code: KubeVirtCode.BindingUnregistered,
    path: 'spec.domain.devices.interfaces[0].binding',
    reject: {
      spec: spec([{ name: 'default', binding: { name: 'pasta' } }], [pod()]),
      config: { bindings: { passt: passtPlugin } },
    },
    accept: {
      spec: spec([{ name: 'default', binding: { name: 'passt' } }], [pod()]),
      config: { bindings: { passt: passtPlugin } },
    },
  },
  {
    code: KubeVirtCode.FieldUnavailable,
    path: 'spec.domain.devices.interfaces[0].passtBinding',
    reject: {
      spec: spec([{ name: 'default', passtBinding: {} }], [pod()]),
      config: { version: 'v1.7', gates: ['PasstBinding'] },
    },
    accept: {
      spec: spec([{ name: 'default', passtBinding: {} }], [pod()]),
      config: { version: 'v1.8', gates: ['PasstBinding'] },
    },
  },
  {
    code: KubeVirtCode.PasstBindingGate,
    path: 'spec.domain.devices.interfaces[0].name',
    reject: { spec: spec([{ name: 'default', passtBinding: {} }], [pod()]) },
    accept: {
      spec: spec([{ name: 'default', passtBinding: {} }], [pod()]),
      config: { gates: ['PasstBinding'] },
    },
  },
  {
    code: KubeVirtCode.PasstBindingNotPod,
    path: 'spec.domain.devices.interfaces[0].name',
    reject: {
      spec: spec([{ name: 'p', passtBinding: {} }], [multus('p')]),
      config: { gates: ['PasstBinding'] },
    },
    accept: {
      spec: spec([{ name: 'p', passtBinding: {} }], [pod('p')]),
      config: { gates: ['PasstBinding'] },
    },
  },
  {
    code: KubeVirtCode.PasstGate,
    reject: { spec: spec([{ name: 'default', passt: {} }], [pod()]), config: { version: 'v1.2' } },
    accept: {
      spec: spec([{ name: 'default', passt: {} }], [pod()]),
      config: { version: 'v1.2', gates: ['Passt'] },
    },
  },
  {
    code: KubeVirtCode.PasstNotPod,
    reject: {
      spec: spec([{ name: 'p', passt: {} }], [multus('p')]),
      config: { version: 'v1.2', gates: ['Passt'] },
    },
    accept: {
      spec: spec([{ name: 'p', passt: {} }], [pod('p')]),
      config: { version: 'v1.2', gates: ['Passt'] },
    },
  },
  {
    code: KubeVirtCode.PasstSingle,
    reject: {
      spec: spec([{ name: 'p', passt: {} }, bridge('b')], [pod('p'), multus('b')]),
      config: { version: 'v1.2', gates: ['Passt'] },
    },
    accept: {
      spec: spec([{ name: 'p', passt: {} }], [pod('p')]),
      config: { version: 'v1.2', gates: ['Passt'] },
    },
  },
  {
    code: KubeVirtCode.MacvtapGate,
    reject: {
      spec: spec([{ name: 'm', macvtap: {} }], [multus('m')]),
      config: { version: 'v1.2' },
    },
    accept: {
      spec: spec([{ name: 'm', macvtap: {} }], [multus('m')]),
      config: { version: 'v1.2', gates: ['Macvtap'] },
    },
  },
  {
    code: KubeVirtCode.MacvtapNotMultus,
    reject: {
      spec: spec([{ name: 'm', macvtap: {} }], [pod('m')]),
      config: { version: 'v1.2', gates: ['Macvtap'] },
    },
    accept: {
      spec: spec([{ name: 'm', macvtap: {} }], [multus('m')]),
      config: { version: 'v1.2', gates: ['Macvtap'] },
    },
  },
  {
    code: KubeVirtCode.SlirpNotPod,
    reject: {
      spec: spec([{ name: 's', slirp: {} }], [multus('s')]),
      config: { version: 'v1.2', permitSlirp: true },
    },
    accept: {
      spec: spec([{ name: 's', slirp: {} }], [pod('s')]),
      config: { version: 'v1.2', permitSlirp: true },
    },
  },
  {
    code: KubeVirtCode.SlirpNotPermitted,
    reject: { spec: spec([{ name: 's', slirp: {} }], [pod('s')]), config: { version: 'v1.2' } },
    accept: {
      spec: spec([{ name: 's', slirp: {} }], [pod('s')]),
      config: { version: 'v1.2', permitSlirp: true },
    },
  },
  {
    code: KubeVirtCode.NetNameDuplicate,
    path: 'spec.networks[1].name',
    reject: { spec: spec([masq('a')], [pod('a'), multus('a')]) },
    accept: { spec: spec([masq('a')], [pod('a')]) },
  },
  {
    code: KubeVirtCode.DraGate,
    path: 'spec.networks',
    reject: {
      spec: spec(
        [sriov('d')],
        [{ name: 'd', resourceClaim: { claimName: 'c1', requestName: 'r' } }],
        draClaims,
      ),
    },
    accept: {
      spec: spec(
        [sriov('d')],
        [{ name: 'd', resourceClaim: { claimName: 'c1', requestName: 'r' } }],
        draClaims,
      ),
      config: { gates: ['NetworkDevicesWithDRA'] },
    },
  },
  {
    code: KubeVirtCode.DraSriovRequired,
    reject: {
      spec: spec(
        [bridge('d')],
        [{ name: 'd', resourceClaim: { claimName: 'c1', requestName: 'r' } }],
        draClaims,
      ),
      config: { gates: ['NetworkDevicesWithDRA'] },
    },
    accept: {
      spec: spec(
        [sriov('d')],
        [{ name: 'd', resourceClaim: { claimName: 'c1', requestName: 'r' } }],
        draClaims,
      ),
      config: { gates: ['NetworkDevicesWithDRA'] },
    },
  },
  {
    code: KubeVirtCode.DraClaimNameRequired,
    path: 'spec.networks[0].resourceClaim.claimName',
    reject: {
      spec: spec([sriov('d')], [{ name: 'd', resourceClaim: { requestName: 'r' } }], draClaims),
      config: { gates: ['NetworkDevicesWithDRA'] },
    },
    accept: {
      spec: spec(
        [sriov('d')],
        [{ name: 'd', resourceClaim: { claimName: 'c1', requestName: 'r' } }],
        draClaims,
      ),
      config: { gates: ['NetworkDevicesWithDRA'] },
    },
  },
  {
    code: KubeVirtCode.DraRequestNameRequired,
    path: 'spec.networks[0].resourceClaim.requestName',
    reject: {
      spec: spec([sriov('d')], [{ name: 'd', resourceClaim: { claimName: 'c1' } }], draClaims),
      config: { gates: ['NetworkDevicesWithDRA'] },
    },
    accept: {
      spec: spec(
        [sriov('d')],
        [{ name: 'd', resourceClaim: { claimName: 'c1', requestName: 'r' } }],
        draClaims,
      ),
      config: { gates: ['NetworkDevicesWithDRA'] },
    },
  },
  {
    code: KubeVirtCode.DraClaimNotFound,
    path: 'spec.networks[0].resourceClaim.claimName',
    reject: {
      spec: spec(
        [sriov('d')],
        [{ name: 'd', resourceClaim: { claimName: 'c9', requestName: 'r' } }],
        draClaims,
      ),
      config: { gates: ['NetworkDevicesWithDRA'] },
    },
    accept: {
      spec: spec(
        [sriov('d')],
        [{ name: 'd', resourceClaim: { claimName: 'c2', requestName: 'r' } }],
        draClaims,
      ),
      config: { gates: ['NetworkDevicesWithDRA'] },
    },
  },
  {
    code: KubeVirtCode.DraDuplicate,
    path: 'spec.networks[1]',
    reject: {
      spec: spec(
        [sriov('d'), sriov('e')],
        [
          { name: 'd', resourceClaim: { claimName: 'c1', requestName: 'r' } },
          { name: 'e', resourceClaim: { claimName: 'c1', requestName: 'r' } },
        ],
        draClaims,
      ),
      config: { gates: ['NetworkDevicesWithDRA'] },
    },
    accept: {
      spec: spec(
        [sriov('d'), sriov('e')],
        [
          { name: 'd', resourceClaim: { claimName: 'c1', requestName: 'r' } },
          { name: 'e', resourceClaim: { claimName: 'c1', requestName: 'r2' } },
        ],
        draClaims,
      ),
      config: { gates: ['NetworkDevicesWithDRA'] },
    },
  },
  {
    code: KubeVirtCode.DraMultusMix,
    path: 'spec.networks',
    reject: {
      spec: spec(
        [sriov('d'), bridge('m')],
        [{ name: 'd', resourceClaim: { claimName: 'c1', requestName: 'r' } }, multus('m')],
        draClaims,
      ),
      config: { gates: ['NetworkDevicesWithDRA'] },
    },
    accept: {
      spec: spec(
        [sriov('d'), masq('m')],
        [{ name: 'd', resourceClaim: { claimName: 'c1', requestName: 'r' } }, pod('m')],
        draClaims,
      ),
      config: { gates: ['NetworkDevicesWithDRA'] },
    },
  },
  {
    code: KubeVirtCode.NetNoInterface,
    path: 'spec.networks[1].name',
    reject: { spec: spec([masq()], [pod(), multus('lonely')]) },
    accept: { spec: spec([masq(), bridge('lonely')], [pod(), multus('lonely')]) },
  },
  {
    code: KubeVirtCode.IfaceNameDuplicate,
    path: 'spec.domain.devices.interfaces[1].name',
    reject: { spec: spec([masq(), masq()], [pod()]) },
    accept: { spec: spec([masq()], [pod()]) },
  },
  {
    code: KubeVirtCode.IfaceNoNetwork,
    path: 'spec.domain.devices.interfaces[1].name',
    reject: { spec: spec([masq(), bridge('nowhere')], [pod()]) },
    accept: { spec: spec([masq(), bridge('somewhere')], [pod(), multus('somewhere')]) },
  },
  {
    code: KubeVirtCode.IfaceNameFormat,
    path: 'spec.domain.devices.interfaces[0].name',
    reject: { spec: spec([masq('a.b')], [pod('a.b')]) },
    accept: { spec: spec([masq('a-b_C9')], [pod('a-b_C9')]) },
  },
  {
    code: KubeVirtCode.ModelUnsupported,
    path: 'spec.domain.devices.interfaces[0].model',
    reject: { spec: spec([masq('default', { model: 'virtio-net' })], [pod()]) },
    accept: { spec: spec([masq('default', { model: 'e1000e' })], [pod()]) },
  },
  {
    code: KubeVirtCode.MacMalformed,
    path: 'spec.domain.devices.interfaces[0].macAddress',
    reject: { spec: spec([masq('default', { macAddress: 'de:ad:00:00:be' })], [pod()]) },
    accept: { spec: spec([masq('default', { macAddress: 'DE-AD-00-00-BE-AF' })], [pod()]) },
  },
  {
    code: KubeVirtCode.MacTooLong,
    path: 'spec.domain.devices.interfaces[0].macAddress',
    reject: { spec: spec([masq('default', { macAddress: '02:00:5e:10:00:00:00:01' })], [pod()]) },
    accept: { spec: spec([masq('default', { macAddress: 'de:ad:00:00:be:af' })], [pod()]) },
  },
  {
    code: KubeVirtCode.PciMalformed,
    path: 'spec.domain.devices.interfaces[0].pciAddress',
    reject: { spec: spec([masq('default', { pciAddress: '0000:81:01.10' })], [pod()]) },
    accept: { spec: spec([masq('default', { pciAddress: '0000:81:01.1' })], [pod()]) },
  },
  {
    code: KubeVirtCode.PortNameDuplicate,
    path: 'spec.domain.devices.interfaces[0].ports[1].name',
    reject: {
      spec: spec(
        [
          masq('default', {
            ports: [
              { name: 'http', port: 80 },
              { name: 'http', port: 8080 },
            ],
          }),
        ],
        [pod()],
      ),
    },
    accept: {
      spec: spec(
        [
          masq('default', {
            ports: [
              { name: 'http', port: 80 },
              { name: 'alt', port: 8080 },
            ],
          }),
        ],
        [pod()],
      ),
    },
  },
  {
    code: KubeVirtCode.PortNameInvalid,
    path: 'spec.domain.devices.interfaces[0].ports[0].name',
    reject: { spec: spec([masq('default', { ports: [{ name: 'HTTP', port: 80 }] })], [pod()]) },
    accept: { spec: spec([masq('default', { ports: [{ name: 'http-1', port: 80 }] })], [pod()]) },
  },
  {
    code: KubeVirtCode.PortRequired,
    path: 'spec.domain.devices.interfaces[0].ports[0]',
    reject: { spec: spec([masq('default', { ports: [{ port: 0 }] })], [pod()]) },
    accept: { spec: spec([masq('default', { ports: [{ port: 1 }] })], [pod()]) },
  },
  {
    code: KubeVirtCode.PortRange,
    path: 'spec.domain.devices.interfaces[0].ports[0]',
    reject: { spec: spec([masq('default', { ports: [{ port: 65536 }] })], [pod()]) },
    accept: { spec: spec([masq('default', { ports: [{ port: 65535 }] })], [pod()]) },
  },
  {
    code: KubeVirtCode.PortProtocol,
    path: 'spec.domain.devices.interfaces[0].ports[0].protocol',
    reject: { spec: spec([masq('default', { ports: [{ port: 53, protocol: 'udp' }] })], [pod()]) },
    accept: { spec: spec([masq('default', { ports: [{ port: 53, protocol: 'UDP' }] })], [pod()]) },
  },
  {
    code: KubeVirtCode.PortRangesGate,
    path: 'spec.domain.devices.interfaces[0].name',
    reject: {
      spec: spec(
        [masq('default', { portRanges: [{ protocol: 'TCP', start: 80, end: 90 }] })],
        [pod()],
      ),
    },
    accept: {
      spec: spec(
        [masq('default', { portRanges: [{ protocol: 'TCP', start: 80, end: 90 }] })],
        [pod()],
      ),
      config: { gates: ['PortRangesSpec'] },
    },
  },
  {
    code: KubeVirtCode.PortsAndRanges,
    reject: {
      spec: spec(
        [
          masq('default', {
            ports: [{ port: 22 }],
            portRanges: [{ protocol: 'TCP', start: 80, end: 90 }],
          }),
        ],
        [pod()],
      ),
      config: { gates: ['PortRangesSpec'] },
    },
    accept: {
      spec: spec(
        [masq('default', { portRanges: [{ protocol: 'TCP', start: 80, end: 90 }] })],
        [pod()],
      ),
      config: { gates: ['PortRangesSpec'] },
    },
  },
  {
    code: KubeVirtCode.PortRangesNotMasq,
    reject: {
      spec: spec(
        [bridge('default', { portRanges: [{ protocol: 'TCP', start: 80, end: 90 }] })],
        [pod()],
      ),
      config: { gates: ['PortRangesSpec'] },
    },
    accept: {
      spec: spec(
        [masq('default', { portRanges: [{ protocol: 'TCP', start: 80, end: 90 }] })],
        [pod()],
      ),
      config: { gates: ['PortRangesSpec'] },
    },
  },
  {
    code: KubeVirtCode.PortRangesMax,
    path: 'spec.domain.devices.interfaces[0].portRanges',
    reject: {
      spec: spec(
        [
          masq('default', {
            portRanges: Array.from({ length: 11 }, (_, k) => ({
              protocol: 'TCP',
              start: 100 * (k + 1),
              end: 100 * (k + 1) + 10,
            })),
          }),
        ],
        [pod()],
      ),
      config: { gates: ['PortRangesSpec'] },
    },
    accept: {
      spec: spec(
        [
          masq('default', {
            portRanges: Array.from({ length: 10 }, (_, k) => ({
              protocol: 'TCP',
              start: 100 * (k + 1),
              end: 100 * (k + 1) + 10,
            })),
          }),
        ],
        [pod()],
      ),
      config: { gates: ['PortRangesSpec'] },
    },
  },
  {
    code: KubeVirtCode.PortRangeProtocol,
    path: 'spec.domain.devices.interfaces[0].portRanges[0].protocol',
    reject: {
      spec: spec(
        [masq('default', { portRanges: [{ protocol: 'SCTP', start: 80, end: 90 }] })],
        [pod()],
      ),
      config: { gates: ['PortRangesSpec'] },
    },
    accept: {
      spec: spec(
        [masq('default', { portRanges: [{ protocol: 'UDP', start: 80, end: 90 }] })],
        [pod()],
      ),
      config: { gates: ['PortRangesSpec'] },
    },
  },
  {
    code: KubeVirtCode.PortRangeStart,
    path: 'spec.domain.devices.interfaces[0].portRanges[0].start',
    reject: {
      spec: spec(
        [masq('default', { portRanges: [{ protocol: 'TCP', start: 0, end: 90 }] })],
        [pod()],
      ),
      config: { gates: ['PortRangesSpec'] },
    },
    accept: {
      spec: spec(
        [masq('default', { portRanges: [{ protocol: 'TCP', start: 1, end: 90 }] })],
        [pod()],
      ),
      config: { gates: ['PortRangesSpec'] },
    },
  },
  {
    code: KubeVirtCode.PortRangeEnd,
    path: 'spec.domain.devices.interfaces[0].portRanges[0].end',
    reject: {
      spec: spec(
        [masq('default', { portRanges: [{ protocol: 'TCP', start: 80, end: 70000 }] })],
        [pod()],
      ),
      config: { gates: ['PortRangesSpec'] },
    },
    accept: {
      spec: spec(
        [masq('default', { portRanges: [{ protocol: 'TCP', start: 80, end: 65535 }] })],
        [pod()],
      ),
      config: { gates: ['PortRangesSpec'] },
    },
  },
  {
    code: KubeVirtCode.PortRangeOrder,
    path: 'spec.domain.devices.interfaces[0].portRanges[0].start',
    reject: {
      spec: spec(
        [masq('default', { portRanges: [{ protocol: 'TCP', start: 90, end: 80 }] })],
        [pod()],
      ),
      config: { gates: ['PortRangesSpec'] },
    },
    accept: {
      spec: spec(
        [masq('default', { portRanges: [{ protocol: 'TCP', start: 80, end: 80 }] })],
        [pod()],
      ),
      config: { gates: ['PortRangesSpec'] },
    },
  },
  {
    code: KubeVirtCode.PortRangeOverlap,
    path: 'spec.domain.devices.interfaces[0].portRanges',
    reject: {
      spec: spec(
        [
          masq('default', {
            portRanges: [
              { protocol: 'TCP', start: 80, end: 90 },
              { protocol: '', start: 90, end: 95 },
            ],
          }),
        ],
        [pod()],
      ),
      config: { gates: ['PortRangesSpec'] },
    },
    accept: {
      spec: spec(
        [
          masq('default', {
            portRanges: [
              { protocol: 'TCP', start: 80, end: 90 },
              { protocol: 'UDP', start: 90, end: 95 },
            ],
          }),
        ],
        [pod()],
      ),
      config: { gates: ['PortRangesSpec'] },
    },
  },
  {
    code: KubeVirtCode.DhcpPrivateDuplicate,
    reject: {
      spec: spec(
        [
          masq('default', {
            dhcpOptions: {
              privateOptions: [
                { option: 240, value: 'a' },
                { option: 240, value: 'b' },
              ],
            },
          }),
        ],
        [pod()],
      ),
    },
    accept: {
      spec: spec(
        [
          masq('default', {
            dhcpOptions: {
              privateOptions: [
                { option: 240, value: 'a' },
                { option: 241, value: 'b' },
              ],
            },
          }),
        ],
        [pod()],
      ),
    },
  },
  {
    code: KubeVirtCode.DhcpPrivateRange,
    reject: {
      spec: spec(
        [masq('default', { dhcpOptions: { privateOptions: [{ option: 223, value: 'a' }] } })],
        [pod()],
      ),
    },
    accept: {
      spec: spec(
        [masq('default', { dhcpOptions: { privateOptions: [{ option: 254, value: 'a' }] } })],
        [pod()],
      ),
    },
  },
  {
    code: KubeVirtCode.DhcpNtp,
    path: 'spec.domain.devices.interfaces[0].dhcpOptions.ntpServers[1]',
    reject: {
      spec: spec(
        [masq('default', { dhcpOptions: { ntpServers: ['10.0.0.1', 'fd00::1'] } })],
        [pod()],
      ),
    },
    accept: {
      spec: spec(
        [masq('default', { dhcpOptions: { ntpServers: ['10.0.0.1', '192.0.2.7'] } })],
        [pod()],
      ),
    },
  },
  {
    code: KubeVirtCode.DiscontinuedSlirp,
    path: 'spec.domain.devices.interfaces[0].slirp',
    reject: { spec: spec([{ name: 'default', slirp: {} }], [pod()]), config: { version: 'v1.3' } },
    accept: {
      spec: spec([{ name: 'default', slirp: {} }], [pod()]),
      config: { version: 'v1.2', permitSlirp: true },
    },
  },
  {
    code: KubeVirtCode.DiscontinuedPasst,
    path: 'spec.domain.devices.interfaces[0].passt',
    reject: { spec: spec([{ name: 'default', passt: {} }], [pod()]) },
    accept: {
      spec: spec([{ name: 'default', passt: {} }], [pod()]),
      config: { version: 'v1.2', gates: ['Passt'] },
    },
  },
  {
    code: KubeVirtCode.DiscontinuedMacvtap,
    path: 'spec.domain.devices.interfaces[0].macvtap',
    reject: { spec: spec([{ name: 'm', macvtap: {} }], [multus('m')]) },
    accept: {
      spec: spec([{ name: 'm', macvtap: {} }], [multus('m')]),
      config: { version: 'v1.2', gates: ['Macvtap'] },
    },
  },
  {
    code: KubeVirtCode.BootOrderInvalid,
    path: 'spec.domain.devices.interfaces[0].bootOrder',
    reject: { spec: spec([masq('default', { bootOrder: 0 })], [pod()]) },
    accept: { spec: spec([masq('default', { bootOrder: 1 })], [pod()]) },
  },
  {
    code: KubeVirtCode.BootOrderDuplicate,
    path: 'spec.domain.devices.interfaces[0].bootOrder',
    reject: {
      spec: {
        domain: {
          devices: {
            disks: [{ name: 'root', bootOrder: 1 }],
            interfaces: [masq('default', { bootOrder: 1 })],
          },
        },
        networks: [pod()],
      },
    },
    accept: {
      spec: {
        domain: {
          devices: {
            disks: [{ name: 'root', bootOrder: 1 }],
            interfaces: [masq('default', { bootOrder: 2 })],
          },
        },
        networks: [pod()],
      },
    },
  },
  {
    code: KubeVirtCode.ProbeNeedsPodNetwork,
    path: 'spec.readinessProbe.httpGet',
    reject: {
      spec: spec([bridge('m')], [multus('m')], { readinessProbe: { httpGet: { port: 80 } } }),
    },
    accept: { spec: spec([masq()], [pod()], { readinessProbe: { httpGet: { port: 80 } } }) },
  },
  {
    code: KubeVirtCode.ArrayLimit,
    path: 'spec.domain.devices.interfaces',
    reject: {
      spec: spec(
        Array.from({ length: 257 }, (_, k) => bridge(`n${k}`)),
        Array.from({ length: 257 }, (_, k) => multus(`n${k}`)),
      ),
      config: { version: 'v1.0' },
    },
    accept: {
      spec: spec(
        Array.from({ length: 256 }, (_, k) => bridge(`n${k}`)),
        Array.from({ length: 256 }, (_, k) => multus(`n${k}`)),
      ),
      config: { version: 'v1.0' },
    },
  },
];

for (const c of cases) {
  test(`KubeVirt rule ${c.code}: rejects the bad spec, accepts the good one`, () => {
    const bad = admitKubeVirtVmiSpec(c.reject.spec, cfg(c.reject.config), 'spec');
    const hit = bad.filter((e) => e.code === c.code);
    assert.ok(hit.length > 0, `expected ${c.code}, got ${JSON.stringify(bad, null, 1)}`);
    if (c.path)
      assert.ok(
        hit.some((e) => e.path === c.path),
        `path ${c.path}: ${JSON.stringify(hit)}`,
      );
    for (const e of hit) assert.ok(e.message.length > 0 && !e.message.includes('\n'));
    const good = admitKubeVirtVmiSpec(c.accept.spec, cfg(c.accept.config), 'spec');
    assert.deepEqual(good, [], `accepting spec for ${c.code}`);
  });
}

test('every KubeVirt VMI admission code has a case', () => {
  const vmiCodes = Object.values(KubeVirtCode).filter(
    (c) => !c.includes('_CR_') && c !== KubeVirtCode.NotMigratable,
  );
  const covered = new Set(cases.map((c) => c.code));
  assert.deepEqual(
    vmiCodes.filter((c) => !covered.has(c)),
    [],
  );
});

test('KubeVirt messages keep their gist and paths are prefixed for VMs', () => {
  const errs = admitKubeVirtVmiSpec(spec([masq('m')], [multus('m')]), cfg(), 'spec.template.spec');
  assert.deepEqual(errs, [
    {
      path: 'spec.template.spec.domain.devices.interfaces[0].name',
      code: KubeVirtCode.MasqNotPod,
      message: 'Masquerade interface only implemented with pod network',
    },
  ]);
  const nf = admitKubeVirtVmiSpec(spec([masq()], [pod(), multus('x')]), cfg(), 'spec');
  assert.equal(nf[0]?.message, "spec.networks[1].name 'x' not found.");
});

test('ports are only checked on the pod network, as in KubeVirt', () => {
  const errs = admitKubeVirtVmiSpec(
    spec([masq(), bridge('m', { ports: [{ port: 0, protocol: 'sctp' }] })], [pod(), multus('m')]),
    cfg(),
  );
  assert.deepEqual(errs, []);
});

test('NetworkBindingPlugins is GA from v1.5: no gate needed', () => {
  const s = spec([{ name: 'default', binding: { name: 'passt' } }], [pod()]);
  assert.deepEqual(
    admitKubeVirtVmiSpec(s, cfg({ version: 'v1.5', bindings: { passt: passtPlugin } })),
    [],
  );
  const v10 = admitKubeVirtVmiSpec(s, cfg({ version: 'v1.0', bindings: { passt: passtPlugin } }));
  assert.deepEqual(
    v10.map((e) => e.code),
    [KubeVirtCode.FieldUnavailable],
  );
});

test('all errors are reported at once', () => {
  const errs = admitKubeVirtVmiSpec(
    spec(
      [
        { name: 'a.b', bridge: {}, masquerade: {}, model: 'x', macAddress: 'nope' },
        masq('m', { ports: [{ port: 0 }] }),
      ],
      [pod('a.b'), { name: 'm' }],
    ),
    cfg({ permitBridge: false }),
  );
  const codes = new Set(errs.map((e) => e.code));
  for (const c of [
    KubeVirtCode.BindingCount,
    KubeVirtCode.BridgePodNotPermitted,
    KubeVirtCode.IfaceNameFormat,
    KubeVirtCode.ModelUnsupported,
    KubeVirtCode.MacMalformed,
    KubeVirtCode.NetSourceNone,
    KubeVirtCode.MasqNotPod,
  ])
    assert.ok(codes.has(c), c);
});

test('migration blocker follows VerifyVMIMigratable', () => {
  const config = cfg({
    bindings: { passt: { ...passtPlugin, migration: {} }, other: passtPlugin },
  });
  assert.equal(kubevirtMigrationBlocker(spec([masq()], [pod()]), {}, config), undefined);
  assert.equal(
    kubevirtMigrationBlocker(spec([{ name: 'default', passtBinding: {} }], [pod()]), {}, config),
    undefined,
  );
  const br = spec([bridge('default')], [pod()]);
  assert.equal(kubevirtMigrationBlocker(br, {}, config)?.code, KubeVirtCode.NotMigratable);
  assert.equal(
    kubevirtMigrationBlocker(
      br,
      { 'kubevirt.io/allow-pod-bridge-network-live-migration': '' },
      config,
    ),
    undefined,
  );
  assert.equal(
    kubevirtMigrationBlocker(
      spec([{ name: 'default', binding: { name: 'passt' } }], [pod()]),
      {},
      config,
    ),
    undefined,
  );
  assert.match(
    kubevirtMigrationBlocker(
      spec([{ name: 'default', binding: { name: 'other' } }], [pod()]),
      {},
      config,
    )?.message ?? '',
    /cannot migrate VMI which does not use masquerade or a migratable plugin/,
  );
  assert.equal(kubevirtMigrationBlocker(spec([bridge('m')], [multus('m')]), {}, config), undefined);
});

// ---------------------------------------------------------------------------------------------
// KubeVirt CR (bindery checks)

function cr(
  network: NonNullable<NonNullable<KubeVirtCR['spec']['configuration']>['network']>,
  gates: string[] = [],
): KubeVirtCR {
  return {
    apiVersion: 'kubevirt.io/v1',
    kind: 'KubeVirt',
    metadata: {},
    spec: { configuration: { network, developerConfiguration: { featureGates: gates } } },
  };
}

const v19 = { major: 1, minor: 9 };
const v13 = { major: 1, minor: 3 };

const crCases: {
  code: string;
  path: string;
  reject: KubeVirtCR;
  accept: KubeVirtCR;
  version?: { major: number; minor: number };
}[] = [
  {
    code: KubeVirtCode.CrDefaultIface,
    path: 'spec.configuration.network.defaultNetworkInterface',
    reject: cr({ defaultNetworkInterface: 'passt' }),
    accept: cr({ defaultNetworkInterface: 'masquerade' }),
  },
  {
    code: KubeVirtCode.CrPermitSlirpRemoved,
    path: 'spec.configuration.network.permitSlirpInterface',
    reject: cr({ permitSlirpInterface: true }),
    accept: cr({}),
  },
  {
    code: KubeVirtCode.CrBindingNadRef,
    path: 'spec.configuration.network.binding[passt].networkAttachmentDefinition',
    reject: cr({ binding: { passt: { ...passtPlugin, networkAttachmentDefinition: 'a/b/c' } } }),
    accept: cr({
      binding: { passt: { ...passtPlugin, networkAttachmentDefinition: 'netbindingpasst' } },
    }),
  },
  {
    code: KubeVirtCode.CrBindingAttachmentType,
    path: 'spec.configuration.network.binding[mv].domainAttachmentType',
    reject: cr({ binding: { mv: { domainAttachmentType: 'managedTap' } } }),
    accept: cr({ binding: { mv: { domainAttachmentType: 'tap' } } }),
    version: v13,
  },
  {
    code: KubeVirtCode.CrBindingMigrationMethod,
    path: 'spec.configuration.network.binding[passt].migration.method',
    reject: cr({ binding: { passt: { ...passtPlugin, migration: { method: 'live' } } } }),
    accept: cr({ binding: { passt: { ...passtPlugin, migration: { method: 'link-refresh' } } } }),
  },
  {
    code: KubeVirtCode.CrBindingDownwardApi,
    path: 'spec.configuration.network.binding[passt].downwardAPI',
    reject: cr({ binding: { passt: { ...passtPlugin, downwardAPI: 'pod-info' } } }),
    accept: cr({ binding: { passt: { ...passtPlugin, downwardAPI: 'device-info' } } }),
  },
  {
    code: KubeVirtCode.CrBindingOverhead,
    path: 'spec.configuration.network.binding[passt].computeResourceOverhead.requests[memory]',
    reject: cr({
      binding: {
        passt: { ...passtPlugin, computeResourceOverhead: { requests: { memory: '500 MiB' } } },
      },
    }),
    accept: cr({
      binding: {
        passt: { ...passtPlugin, computeResourceOverhead: { requests: { memory: '500Mi' } } },
      },
    }),
  },
  {
    code: KubeVirtCode.CrBindingNoVnic,
    path: 'spec.configuration.network.binding[cni-only]',
    reject: cr({ binding: { 'cni-only': { networkAttachmentDefinition: 'x' } } }),
    accept: cr({
      binding: { 'cni-only': { networkAttachmentDefinition: 'x', domainAttachmentType: 'tap' } },
    }),
  },
  {
    code: KubeVirtCode.CrGateGa,
    path: 'spec.configuration.developerConfiguration.featureGates[0]',
    reject: cr({}, ['NetworkBindingPlugins']),
    accept: cr({}, ['PasstBinding']),
  },
];

for (const c of crCases) {
  test(`KubeVirt CR rule ${c.code}: rejects the bad CR, accepts the good one`, () => {
    const bad = admitKubeVirtCR(c.reject, c.version ?? v19);
    const hit = bad.filter((e) => e.code === c.code);
    assert.ok(
      hit.some((e) => e.path === c.path),
      JSON.stringify(bad),
    );
    if (c.code !== KubeVirtCode.CrGateGa)
      assert.ok(
        hit.every((e) => e.message.includes('bindery check')),
        JSON.stringify(hit),
      );
    assert.deepEqual(admitKubeVirtCR(c.accept, c.version ?? v19), []);
  });
}

test('every KubeVirt CR code has a case', () => {
  const crCodes = Object.values(KubeVirtCode).filter((c) => c.includes('_CR_'));
  const covered = new Set(crCases.map((c) => c.code));
  assert.deepEqual(
    crCodes.filter((c) => !covered.has(c)),
    [],
  );
});

test('the GA gate note is only a warning', () => {
  const errs = admitKubeVirtCR(cr({}, ['NetworkBindingPlugins']), v19);
  assert.equal(errs[0]?.severity, 'warning');
  assert.deepEqual(admitKubeVirtCR(cr({}, ['NetworkBindingPlugins']), { major: 1, minor: 4 }), []);
});
