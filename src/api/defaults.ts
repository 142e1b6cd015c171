// Defaulting as KubeVirt's and Virtink's mutating webhooks do it (facts-kubevirt §1, facts-virtink §1).
import { createHash } from 'node:crypto';
import { atLeast, type KubeVirtClusterConfig } from './kubevirt-config.js';
import type {
  FieldError,
  KubeVirtInterface,
  KubeVirtNetwork,
  KubeVirtVirtualMachine,
  KubeVirtVirtualMachineInstance,
  KubeVirtVmiSpec,
  VirtinkInterface,
  VirtinkVirtualMachine,
} from './types.js';

/** KubeVirt's default IPv4 masquerade subnet (`vmNetworkCIDR`). */
export const KUBEVIRT_DEFAULT_VM_CIDR = '10.0.2.0/24';
/** KubeVirt's default IPv6 masquerade subnet (`vmIPv6NetworkCIDR`). */
export const KUBEVIRT_DEFAULT_VM_IPV6_CIDR = 'fd10:0:2::/120';
/** Virtink's default masquerade subnet. */
export const VIRTINK_DEFAULT_MASQUERADE_CIDR = '10.0.2.0/30';
/** The OUI Virtink uses for generated MACs. */
export const VIRTINK_MAC_PREFIX = '52:54:00';
/** The namespace of objects that do not name one. */
export const DEFAULT_NAMESPACE = 'default';

/** Stable codes of defaulting failures (KubeVirt's mutator refuses the object). */
export const DefaultCode = {
  /** defaultNetworkInterface is bridge but bridge on the pod network is not permitted. */
  BridgeNotPermitted: 'BINDERY_ADM_KV_DEFAULT_BRIDGE_NOT_PERMITTED',
  /** defaultNetworkInterface is slirp (discontinued in v1.3, or not permitted before). */
  Slirp: 'BINDERY_ADM_KV_DEFAULT_SLIRP',
  /** defaultNetworkInterface is none of bridge, masquerade, slirp. */
  Unknown: 'BINDERY_ADM_KV_DEFAULT_IFACE_UNKNOWN',
} as const;

/** A source of random bytes: returns `n` bytes. Pass one in; defaulting never uses a hidden one. */
export type RandomSource = (n: number) => Uint8Array;

/**
 * A deterministic random source: SHA-256 of `seed` and a counter. The same seed gives the
 * same bytes, so generated MACs are reproducible.
 */
export function seededRandom(seed: string): RandomSource {
  let counter = 0;
  let pool: number[] = [];
  return (n) => {
    while (pool.length < n) {
      const h = createHash('sha256').update(`${seed}\0${counter++}`).digest();
      pool = pool.concat([...h]);
    }
    const out = Uint8Array.from(pool.slice(0, n));
    pool = pool.slice(n);
    return out;
  };
}

// ---------------------------------------------------------------------------------------------
// KubeVirt

/** A defaulted object plus the reasons KubeVirt's mutator would refuse it (empty when fine). */
export interface Defaulted<T> {
  readonly value: T;
  readonly errors: readonly FieldError[];
}

function withPrefix(prefix: string, path: string): string {
  return prefix === '' ? path : `${prefix}.${path}`;
}

/**
 * Defaults a VMI spec: the pod network and its interface when there are none (per
 * `defaultNetworkInterface`, unless `autoattachPodInterface: false`), model `virtio`, port and
 * port-range protocol `TCP`, and the pod network's IPv4/IPv6 CIDRs. `prefix` is the spec's
 * path (`spec` for a VMI, `spec.template.spec` for a VM).
 */
export function defaultKubeVirtVmiSpec(
  spec: KubeVirtVmiSpec,
  config: KubeVirtClusterConfig,
  prefix = 'spec',
): Defaulted<KubeVirtVmiSpec> {
  const errors: FieldError[] = [];
  let interfaces: readonly KubeVirtInterface[] = spec.domain.devices.interfaces ?? [];
  let networks: readonly KubeVirtNetwork[] = spec.networks ?? [];
  const auto = spec.domain.devices.autoattachPodInterface !== false;
  if (auto && interfaces.length === 0 && networks.length === 0) {
    const path = withPrefix(prefix, 'domain.devices.interfaces');
    const method = config.defaultNetworkInterface;
    if (method === 'bridge') {
      if (!config.permitBridgeInterfaceOnPodNetwork)
        errors.push({
          path,
          code: DefaultCode.BridgeNotPermitted,
          message: 'bridge interface is not enabled in kubevirt-config',
        });
    } else if (method === 'slirp') {
      if (atLeast(config.version, 1, 3))
        errors.push({
          path,
          code: DefaultCode.Slirp,
          message: 'slirp interface is deprecated as of v1.3',
        });
      else if (!config.permitSlirpInterface)
        errors.push({
          path,
          code: DefaultCode.Slirp,
          message: 'slirp interface is not enabled in kubevirt-config',
        });
    } else if (method !== 'masquerade') {
      errors.push({
        path,
        code: DefaultCode.Unknown,
        message: `defaultNetworkInterface "${method}" is not one of bridge, masquerade, slirp`,
      });
    }
    if (errors.length === 0) {
      interfaces = [{ name: 'default', [method]: {} }];
      networks = [{ name: 'default', pod: {} }];
    }
  }
  const defaultedInterfaces = interfaces.map((i): KubeVirtInterface => ({
    ...i,
    model: i.model || 'virtio',
    ...(i.ports ? { ports: i.ports.map((p) => ({ ...p, protocol: p.protocol || 'TCP' })) } : {}),
    ...(i.portRanges
      ? { portRanges: i.portRanges.map((r) => ({ ...r, protocol: r.protocol || 'TCP' })) }
      : {}),
  }));
  const defaultedNetworks = networks.map((n): KubeVirtNetwork =>
    n.pod
      ? {
          ...n,
          pod: {
            ...n.pod,
            vmNetworkCIDR: n.pod.vmNetworkCIDR || KUBEVIRT_DEFAULT_VM_CIDR,
            vmIPv6NetworkCIDR: n.pod.vmIPv6NetworkCIDR || KUBEVIRT_DEFAULT_VM_IPV6_CIDR,
          },
        }
      : n,
  );
  const value: KubeVirtVmiSpec = {
    ...spec,
    domain: {
      ...spec.domain,
      devices: { ...spec.domain.devices, interfaces: defaultedInterfaces },
    },
    networks: defaultedNetworks,
  };
  return { value, errors };
}

/** Defaults a KubeVirt VirtualMachine's template (paths under `spec.template.spec`). */
export function defaultKubeVirtVm(
  vm: KubeVirtVirtualMachine,
  config: KubeVirtClusterConfig,
): Defaulted<KubeVirtVirtualMachine> {
  const r = defaultKubeVirtVmiSpec(vm.spec.template.spec, config, 'spec.template.spec');
  return {
    value: {
      ...vm,
      metadata: { ...vm.metadata, namespace: vm.metadata.namespace || DEFAULT_NAMESPACE },
      spec: { ...vm.spec, template: { ...vm.spec.template, spec: r.value } },
    },
    errors: r.errors,
  };
}

/** Defaults a KubeVirt VirtualMachineInstance (paths under `spec`). */
export function defaultKubeVirtVmi(
  vmi: KubeVirtVirtualMachineInstance,
  config: KubeVirtClusterConfig,
): Defaulted<KubeVirtVirtualMachineInstance> {
  const r = defaultKubeVirtVmiSpec(vmi.spec, config, 'spec');
  return {
    value: {
      ...vmi,
      metadata: { ...vmi.metadata, namespace: vmi.metadata.namespace || DEFAULT_NAMESPACE },
      spec: r.value,
    },
    errors: r.errors,
  };
}

// ---------------------------------------------------------------------------------------------
// Virtink

/** `52:54:00` plus three bytes from `random`, lower case, colon separated (Go `HardwareAddr`). */
export function generateVirtinkMac(random: RandomSource): string {
  const b = random(3);
  const hex = [...b.slice(0, 3)].map((x) => x.toString(16).padStart(2, '0'));
  while (hex.length < 3) hex.push('00');
  return `${VIRTINK_MAC_PREFIX}:${hex.join(':')}`;
}

function hasVirtinkMethod(i: VirtinkInterface): boolean {
  return (
    i.bridge !== undefined ||
    i.masquerade !== undefined ||
    i.sriov !== undefined ||
    i.vdpa !== undefined ||
    i.vhostUser !== undefined
  );
}

/** Options of Virtink defaulting. */
export interface VirtinkDefaultOptions {
  /** Random bytes for MACs; use {@link seededRandom} for reproducible output. */
  readonly random: RandomSource;
  /** On update: the stored VM, whose MACs are kept by interface name. */
  readonly old?: VirtinkVirtualMachine;
}

/**
 * Defaults a Virtink VM like `MutateVM`: a MAC for every interface without one (the old VM's
 * MAC of the same name on update, else generated), `bridge: {}` when no binding method is set,
 * masquerade `cidr` `10.0.2.0/30`. Virtink's defaulting cannot fail.
 */
export function defaultVirtinkVm(
  vm: VirtinkVirtualMachine,
  opts: VirtinkDefaultOptions,
): VirtinkVirtualMachine {
  const oldMacs = new Map<string, string>();
  for (const i of opts.old?.spec.instance.interfaces ?? []) if (i.mac) oldMacs.set(i.name, i.mac);
  const interfaces = (vm.spec.instance.interfaces ?? []).map((i): VirtinkInterface => {
    let out: VirtinkInterface = i;
    if (!out.mac) out = { ...out, mac: oldMacs.get(out.name) ?? generateVirtinkMac(opts.random) };
    if (!hasVirtinkMethod(out)) out = { ...out, bridge: {} };
    if (out.masquerade && !out.masquerade.cidr)
      out = { ...out, masquerade: { ...out.masquerade, cidr: VIRTINK_DEFAULT_MASQUERADE_CIDR } };
    return out;
  });
  return {
    ...vm,
    metadata: { ...vm.metadata, namespace: vm.metadata.namespace || DEFAULT_NAMESPACE },
    spec: { ...vm.spec, instance: { ...vm.spec.instance, interfaces } },
  };
}
