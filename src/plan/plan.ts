// Plans a VM's network: manifests (VM, KubeVirt CR binding registry, NADs) → one BindingPlan per interface.
import type {
  FieldError,
  KubeVirtBindingPlugin,
  KubeVirtCR,
  KubeVirtInterface,
  KubeVirtVirtualMachine,
  KubeVirtVirtualMachineInstance,
  KubeVirtVmiSpec,
  NetworkAttachmentDefinition,
  VirtinkVirtualMachine,
} from '../api/types.js';
import { formatMac, parseMac } from '../wire/common.js';
import {
  KUBEVIRT_DEFAULT_CIDR4,
  KUBEVIRT_DEFAULT_CIDR6,
  VIRTINK_DEFAULT_CIDR,
  masqueradeFamily,
} from './addresses.js';
import {
  PRIMARY_POD_INTERFACE,
  hashedPodInterfaceName,
  kubevirtBridgeName,
  kubevirtRenamedPodInterface,
  kubevirtTapName,
  ordinalPodInterfaceName,
  virtinkBridgeAddress,
  virtinkBridgeName,
  virtinkLinkName,
  virtinkTapName,
  type PodInterfaceNaming,
} from './names.js';
import { addQuantities, formatQuantity, parseQuantity } from './quantity.js';
import type {
  AnnotationSidecar,
  Attachment,
  Binding,
  BindingPlan,
  CoreMethod,
  DeviceInfo,
  MasqueradeAddresses,
  MigrationPlan,
  NadRef,
  NetworkSource,
  PluginRegistration,
  PortPlan,
  PortRangePlan,
  VmNetworkPlan,
} from './types.js';

/** The fixed memory overhead of KubeVirt's core passt binding (`passtComputeMemoryOverheadWhenAllPortsAreForwarded`). */
export const PASST_CORE_MEMORY_OVERHEAD = '250Mi';
/** The VMI annotation that lets a pod-network bridge interface migrate. */
export const ALLOW_BRIDGE_MIGRATION_ANNOTATION =
  'kubevirt.io/allow-pod-bridge-network-live-migration';
/** The VMI annotation listing extra hook sidecars. */
export const HOOK_SIDECARS_ANNOTATION = 'hooks.kubevirt.io/hookSidecars';

/** One entry of Multus' `k8s.v1.cni.cncf.io/network-status` annotation (the fields read). */
export interface NetworkStatusEntry {
  readonly name?: string;
  readonly interface?: string;
  readonly mac?: string;
  readonly default?: boolean;
  readonly 'device-info'?: {
    readonly type?: string;
    readonly pci?: { readonly 'pci-address'?: string };
    readonly vdpa?: { readonly path?: string; readonly 'pci-address'?: string };
  };
}

/** Facts about the pod that only exist at run time, when the caller knows them. */
export interface PlanOptions {
  /** KubeVirt secondary pod interface naming: `hashed` (default, newer) or legacy `ordinal`. */
  readonly podInterfaceNaming?: PodInterfaceNaming;
  /** The pod link MTU, used for tap vNICs. */
  readonly mtu?: number;
  /** The pod's IPv4 address (Istio output DNAT matches it too). */
  readonly podIPv4?: string;
  /** Multus network-status entries: SR-IOV VF PCI addresses and vDPA devices. */
  readonly networkStatus?: readonly NetworkStatusEntry[];
}

/** A KubeVirt VM (or VMI) with the cluster objects it refers to. */
export interface KubeVirtPlanInput {
  readonly vm: KubeVirtVirtualMachine | KubeVirtVirtualMachineInstance;
  /** The KubeVirt CR (binding plugin registry, pull policy, gates); optional. */
  readonly kubevirt?: KubeVirtCR;
  readonly nads?: readonly NetworkAttachmentDefinition[];
  readonly options?: PlanOptions;
}

/** A Virtink VM with the NADs it refers to. */
export interface VirtinkPlanInput {
  readonly vm: VirtinkVirtualMachine;
  readonly nads?: readonly NetworkAttachmentDefinition[];
  readonly options?: PlanOptions;
}

/** A plan, or the field errors that stopped it. */
export type PlanResult =
  | { readonly ok: true; readonly plan: VmNetworkPlan }
  | { readonly ok: false; readonly errors: readonly FieldError[] };

/** Codes of planning errors (problems admission does not catch). */
export const PlanErrorCode = {
  UnknownPlugin: 'BINDERY_PLAN_UNKNOWN_BINDING_PLUGIN',
  BadCidr: 'BINDERY_PLAN_BAD_CIDR',
  Discontinued: 'BINDERY_PLAN_DISCONTINUED_BINDING',
  BadAnnotation: 'BINDERY_PLAN_BAD_ANNOTATION',
  TooManyNetworks: 'BINDERY_PLAN_TOO_MANY_NETWORKS',
} as const;

function splitNad(ref: string, defaultNamespace: string): NadRef {
  const slash = ref.indexOf('/');
  return slash < 0
    ? { namespace: defaultNamespace, name: ref }
    : { namespace: ref.slice(0, slash), name: ref.slice(slash + 1) };
}

function findNad(
  nads: readonly NetworkAttachmentDefinition[],
  ref: NadRef,
): NetworkAttachmentDefinition | undefined {
  return nads.find((n) => n.namespace === ref.namespace && n.name === ref.name);
}

function cniTypeOf(cfg: Readonly<Record<string, unknown>> | undefined): string | undefined {
  if (!cfg) return undefined;
  if (typeof cfg['type'] === 'string') return cfg['type'];
  const plugins = cfg['plugins'];
  if (Array.isArray(plugins)) {
    const first: unknown = plugins[0];
    if (
      first &&
      typeof first === 'object' &&
      typeof (first as Record<string, unknown>)['type'] === 'string'
    )
      return (first as Record<string, string>)['type'];
  }
  return undefined;
}

function multusSource(
  nads: readonly NetworkAttachmentDefinition[],
  ref: NadRef,
  isDefault: boolean,
): NetworkSource {
  const nad = findNad(nads, ref);
  const cniType = cniTypeOf(nad?.config);
  return {
    kind: 'multus',
    nad: ref,
    default: isDefault,
    ...(nad?.resourceName !== undefined ? { resourceName: nad.resourceName } : {}),
    ...(cniType !== undefined ? { cniType } : {}),
    ...(nad?.config !== undefined ? { cniConfig: nad.config } : {}),
  };
}

function normalMac(mac: string | undefined): string | undefined {
  if (mac === undefined || mac === '') return undefined;
  const m = parseMac(mac);
  return m ? formatMac(m) : mac;
}

function deviceFor(
  status: readonly NetworkStatusEntry[] | undefined,
  podIface: string,
): DeviceInfo | undefined {
  const e = status?.find((s) => s.interface === podIface);
  const di = e?.['device-info'];
  if (!di) return undefined;
  const pci = di.pci?.['pci-address'];
  const vdpa = di.vdpa?.path;
  if (pci === undefined && vdpa === undefined) return undefined;
  return {
    ...(pci !== undefined ? { pciAddress: pci } : {}),
    ...(vdpa !== undefined ? { vdpaPath: vdpa } : {}),
  };
}

function ports(iface: KubeVirtInterface): PortPlan[] {
  const out: PortPlan[] = [];
  for (const p of iface.ports ?? []) {
    const proto = (p.protocol ?? '').toUpperCase();
    const protocol = proto === 'UDP' ? 'UDP' : proto === '' || proto === 'TCP' ? 'TCP' : undefined;
    if (protocol === undefined) continue;
    out.push({ ...(p.name !== undefined ? { name: p.name } : {}), protocol, port: p.port });
  }
  return out;
}

function portRanges(iface: KubeVirtInterface): PortRangePlan[] {
  const out: PortRangePlan[] = [];
  for (const r of iface.portRanges ?? []) {
    const proto = r.protocol.toUpperCase();
    if (proto !== 'TCP' && proto !== 'UDP') continue;
    out.push({ protocol: proto, start: r.start, end: r.end });
  }
  return out;
}

/**
 * True when a plugin's image is bindery's own (repository's last path segment `bindery`, e.g.
 * `localhost/bindery:0.1.0` or `registry.example/x/bindery@sha256:…`). KubeVirt starts a binding
 * sidecar with no arguments, and bindery's image then runs `bindery sidecar`, whose attachment
 * without flags is passt (`<backend type='passt'/>`), so its vNIC is known too.
 */
export function isBinderyImage(image: string): boolean {
  const noDigest = image.split('@')[0] ?? '';
  const lastSlash = noDigest.lastIndexOf('/');
  const colon = noDigest.lastIndexOf(':');
  const repo = colon > lastSlash ? noDigest.slice(0, colon) : noDigest;
  return repo.slice(lastSlash + 1) === 'bindery';
}

/** True when a plugin's sidecar renders the passt vNIC: KubeVirt's passt sidecar or bindery's. */
export function isPasstSidecar(name: string, plugin: KubeVirtBindingPlugin): boolean {
  const image = plugin.sidecarImage;
  return (
    image !== undefined &&
    image !== '' &&
    (name === 'passt' || /network-passt-binding/.test(image) || isBinderyImage(image))
  );
}

function registration(
  name: string,
  plugin: KubeVirtBindingPlugin,
  vmNamespace: string,
): PluginRegistration {
  const dat = plugin.domainAttachmentType;
  const mem = plugin.computeResourceOverhead?.requests?.['memory'];
  return {
    name,
    ...(plugin.sidecarImage ? { sidecarImage: plugin.sidecarImage } : {}),
    ...(plugin.networkAttachmentDefinition
      ? { networkAttachmentDefinition: splitNad(plugin.networkAttachmentDefinition, vmNamespace) }
      : {}),
    ...(dat === 'tap' || dat === 'managedTap' ? { domainAttachmentType: dat } : {}),
    ...(plugin.migration !== undefined
      ? {
          migration:
            plugin.migration.method !== undefined ? { method: plugin.migration.method } : {},
        }
      : {}),
    ...(plugin.downwardAPI === 'device-info' ? { downwardAPI: 'device-info' as const } : {}),
    ...(mem !== undefined ? { memoryOverhead: mem } : {}),
    passtSidecar: isPasstSidecar(name, plugin),
  };
}

function sumQuantities(terms: readonly string[]): string | undefined {
  const qs = terms.map((t) => parseQuantity(t)).filter((q) => q !== undefined);
  if (qs.length === 0) return undefined;
  return formatQuantity(addQuantities(qs));
}

function vmMigration(ifaces: readonly BindingPlan[]): MigrationPlan {
  const blocker = ifaces.find((i) => i.state !== 'absent' && !i.migration.migratable);
  return blocker
    ? {
        migratable: false,
        ...(blocker.migration.reason ? { reason: blocker.migration.reason } : {}),
      }
    : { migratable: true };
}

function parseAnnotationSidecars(
  text: string | undefined,
  path: string,
  errors: FieldError[],
): AnnotationSidecar[] {
  if (text === undefined || text.trim() === '') return [];
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    errors.push({
      path,
      code: PlanErrorCode.BadAnnotation,
      message: `${HOOK_SIDECARS_ANNOTATION} is not a JSON list of sidecars`,
    });
    return [];
  }
  if (!Array.isArray(v)) {
    errors.push({
      path,
      code: PlanErrorCode.BadAnnotation,
      message: `${HOOK_SIDECARS_ANNOTATION} is not a JSON list of sidecars`,
    });
    return [];
  }
  const out: AnnotationSidecar[] = [];
  const strs = (x: unknown) =>
    Array.isArray(x) && x.every((s) => typeof s === 'string') ? (x as string[]) : undefined;
  v.forEach((s: unknown, idx) => {
    const o = (s ?? {}) as Record<string, unknown>;
    const image = typeof o['image'] === 'string' ? o['image'] : '';
    const command = strs(o['command']);
    const args = strs(o['args']);
    if (image === '' && o['configMap'] === undefined) {
      errors.push({
        path: `${path}[${idx}].image`,
        code: PlanErrorCode.BadAnnotation,
        message: 'hook sidecar needs an image',
      });
      return;
    }
    out.push({
      image: image === '' ? 'quay.io/kubevirt/sidecar-shim' : image,
      ...(typeof o['imagePullPolicy'] === 'string'
        ? { imagePullPolicy: o['imagePullPolicy'] }
        : {}),
      ...(command ? { command } : {}),
      ...(args ? { args } : {}),
    });
  });
  return out;
}

/**
 * Plans a KubeVirt VM's (or VMI's) network: for each network in `spec.networks` with a matching
 * interface, the binding (core method or registered plugin), pod interface name (`eth0`,
 * `pod`+sha256[:11] or `net<N>`), tap/bridge names, masquerade addresses, MAC, MTU, ports,
 * migration and memory overhead. Expects defaulted, admitted manifests; reports what admission
 * leaves to virt-controller (an unregistered plugin, an unusable CIDR) as field errors.
 * @param input - the VM, the KubeVirt CR, the NADs and run-time facts
 * @returns the plan or the errors
 */
export function planKubeVirt(input: KubeVirtPlanInput): PlanResult {
  const { vm, kubevirt, nads = [], options = {} } = input;
  const isVm = vm.kind === 'VirtualMachine';
  const spec: KubeVirtVmiSpec = isVm ? vm.spec.template.spec : vm.spec;
  const specPath = isVm ? 'spec.template.spec' : 'spec';
  const vmiMeta = isVm ? (vm.spec.template.metadata ?? {}) : vm.metadata;
  const metaPath = isVm ? 'spec.template.metadata' : 'metadata';
  const namespace = vm.metadata.namespace ?? 'default';
  const vmName = vm.metadata.name ?? vm.metadata.generateName ?? 'vm';
  const annotations = { ...(vmiMeta.annotations ?? {}) };
  const netConf = kubevirt?.spec.configuration?.network;
  const registry = netConf?.binding ?? {};
  const errors: FieldError[] = [];
  const interfaces = spec.domain.devices.interfaces ?? [];
  const networks = spec.networks ?? [];
  const naming = options.podInterfaceNaming ?? 'hashed';
  const istio = annotations['sidecar.istio.io/inject'] === 'true';
  const plans: BindingPlan[] = [];
  let ordinal = 0;

  networks.forEach((net, netIdx) => {
    const ifIdx = interfaces.findIndex((i) => i.name === net.name);
    const iface = interfaces[ifIdx];
    if (!iface) return;
    const ifPath = `${specPath}.domain.devices.interfaces[${ifIdx}]`;
    const netPath = `${specPath}.networks[${netIdx}]`;

    // Network source and pod interface name.
    let network: NetworkSource;
    let podIface: string;
    if (net.multus) {
      const ref = splitNad(net.multus.networkName, namespace);
      const isDefault = net.multus.default === true;
      network = multusSource(nads, ref, isDefault);
      if (isDefault) podIface = PRIMARY_POD_INTERFACE;
      else {
        ordinal++;
        podIface =
          naming === 'ordinal'
            ? ordinalPodInterfaceName(ordinal)
            : hashedPodInterfaceName(net.name);
      }
    } else if (net.pod) {
      network = { kind: 'pod' };
      podIface = PRIMARY_POD_INTERFACE;
    } else {
      return; // resourceClaim (DRA) or no source: nothing bindery renders
    }
    const onPod = network.kind === 'pod';

    // Binding.
    let binding: Binding;
    if (iface.binding) {
      const reg = registry[iface.binding.name];
      if (!reg) {
        errors.push({
          path: `${ifPath}.binding.name`,
          code: PlanErrorCode.UnknownPlugin,
          message: `unable to find the network binding plugin '${iface.binding.name}' in Kubevirt configuration`,
        });
        return;
      }
      binding = { kind: 'plugin', plugin: registration(iface.binding.name, reg, namespace) };
    } else {
      let method: CoreMethod | undefined;
      if (iface.bridge) method = 'bridge';
      else if (iface.masquerade) method = 'masquerade';
      else if (iface.sriov) method = 'sriov';
      else if (iface.passtBinding) method = 'passt';
      else if (iface.slirp || iface.macvtap || iface.passt) {
        const which = iface.slirp
          ? 'Slirp interface support'
          : iface.macvtap
            ? 'Macvtap network binding'
            : 'Passt network binding';
        errors.push({
          path: `${ifPath}.${iface.slirp ? 'slirp' : iface.macvtap ? 'macvtap' : 'passt'}`,
          code: PlanErrorCode.Discontinued,
          message: `${which} has been discontinued since v1.3`,
        });
        return;
      } else method = netConf?.defaultNetworkInterface === 'masquerade' ? 'masquerade' : 'bridge';
      binding = { kind: 'core', method };
    }

    // Attachment and link names.
    let attachment: Attachment;
    let tapName: string | undefined;
    let bridgeName: string | undefined;
    let renamed: string | undefined;
    if (binding.kind === 'core') {
      switch (binding.method) {
        case 'bridge':
          attachment = 'tap';
          tapName = kubevirtTapName(podIface);
          bridgeName = kubevirtBridgeName(podIface);
          renamed = kubevirtRenamedPodInterface(podIface);
          break;
        case 'masquerade':
          attachment = 'tap';
          tapName = kubevirtTapName(podIface);
          bridgeName = kubevirtBridgeName(podIface);
          break;
        case 'sriov':
          attachment = 'hostdev';
          break;
        default:
          attachment = 'passt';
      }
    } else {
      const p = binding.plugin;
      if (p.domainAttachmentType === 'tap' || p.domainAttachmentType === 'managedTap') {
        attachment = 'tap';
        tapName = kubevirtTapName(podIface);
        if (p.domainAttachmentType === 'managedTap') {
          bridgeName = kubevirtBridgeName(podIface);
          renamed = kubevirtRenamedPodInterface(podIface);
        }
      } else attachment = p.passtSidecar ? 'passt' : 'sidecar';
    }

    // Masquerade addresses.
    let masquerade: MasqueradeAddresses | undefined;
    if (binding.kind === 'core' && binding.method === 'masquerade' && net.pod) {
      const c4 = net.pod.vmNetworkCIDR || KUBEVIRT_DEFAULT_CIDR4;
      const c6 = net.pod.vmIPv6NetworkCIDR || KUBEVIRT_DEFAULT_CIDR6;
      const v4 = masqueradeFamily(c4, 4);
      const v6 = masqueradeFamily(c6, 6);
      if ('error' in v4)
        errors.push({
          path: `${netPath}.pod.vmNetworkCIDR`,
          code: PlanErrorCode.BadCidr,
          message: v4.error,
        });
      if ('error' in v6)
        errors.push({
          path: `${netPath}.pod.vmIPv6NetworkCIDR`,
          code: PlanErrorCode.BadCidr,
          message: v6.error,
        });
      if ('error' in v4 || 'error' in v6) return;
      masquerade = { ipv4: v4, ipv6: v6 };
    }

    // Migration.
    let migration: MigrationPlan = { migratable: true };
    if (onPod) {
      const blocked: MigrationPlan = {
        migratable: false,
        reason:
          'cannot migrate VMI which does not use masquerade or a migratable plugin to connect to the pod network',
      };
      if (binding.kind === 'plugin') {
        const m = binding.plugin.migration;
        migration = m ? { migratable: true, ...(m.method ? { method: m.method } : {}) } : blocked;
      } else if (binding.method === 'passt')
        migration = { migratable: true, method: 'passt-repair' };
      else if (binding.method === 'bridge')
        migration =
          ALLOW_BRIDGE_MIGRATION_ANNOTATION in annotations ? { migratable: true } : blocked;
      else if (binding.method !== 'masquerade') migration = blocked;
    }

    // Memory overhead.
    const memoryOverhead =
      binding.kind === 'plugin'
        ? binding.plugin.memoryOverhead
        : binding.method === 'passt'
          ? PASST_CORE_MEMORY_OVERHEAD
          : undefined;

    const state = iface.state === 'absent' ? 'absent' : iface.state === 'down' ? 'down' : 'up';
    const mac = normalMac(iface.macAddress);
    const device =
      attachment === 'hostdev' ? deviceFor(options.networkStatus, podIface) : undefined;
    plans.push({
      name: net.name,
      networkIndex: netIdx,
      binding,
      network,
      attachment,
      state,
      podInterfaceName: podIface,
      ...(tapName !== undefined ? { tapName } : {}),
      ...(bridgeName !== undefined ? { bridgeName } : {}),
      ...(renamed !== undefined ? { renamedPodInterfaceName: renamed } : {}),
      ...(masquerade ? { masquerade } : {}),
      ...(mac !== undefined ? { mac } : {}),
      ...(attachment === 'tap' && options.mtu !== undefined ? { mtu: options.mtu } : {}),
      model: iface.model ?? 'virtio',
      ports: ports(iface),
      portRanges: portRanges(iface),
      ...(iface.pciAddress ? { pciAddress: iface.pciAddress } : {}),
      ...(iface.bootOrder !== undefined ? { bootOrder: iface.bootOrder } : {}),
      ...(iface.acpiIndex !== undefined ? { acpiIndex: iface.acpiIndex } : {}),
      migration,
      ...(memoryOverhead !== undefined ? { memoryOverhead } : {}),
      ...(device ? { device } : {}),
    });
  });

  const annotationSidecars = parseAnnotationSidecars(
    annotations[HOOK_SIDECARS_ANNOTATION],
    `${metaPath}.annotations[${HOOK_SIDECARS_ANNOTATION}]`,
    errors,
  );
  if (errors.length > 0) return { ok: false, errors };

  // Overhead: once per distinct plugin, plus the core passt binding.
  const seen = new Set<string>();
  const terms: string[] = [];
  for (const p of plans) {
    if (p.state === 'absent' || p.memoryOverhead === undefined) continue;
    const key = p.binding.kind === 'plugin' ? `plugin:${p.binding.plugin.name}` : `core:${p.name}`;
    if (seen.has(key)) continue;
    seen.add(key);
    terms.push(p.memoryOverhead);
  }
  const memoryOverhead = sumQuantities(terms);
  const gates = kubevirt?.spec.configuration?.developerConfiguration?.featureGates ?? [];
  return {
    ok: true,
    plan: {
      platform: 'kubevirt',
      vmName,
      namespace,
      annotations,
      interfaces: plans,
      istio,
      useVirtioTransitional: spec.domain.devices.useVirtioTransitional === true,
      imagePullPolicy: kubevirt?.spec.imagePullPolicy ?? 'IfNotPresent',
      annotationSidecars,
      root: gates.includes('Root'),
      ...(memoryOverhead !== undefined ? { memoryOverhead } : {}),
      ...(options.podIPv4 !== undefined ? { podIPv4: options.podIPv4 } : {}),
      migration: vmMigration(plans),
    },
  };
}

/**
 * Plans a Virtink VM's network (`cmd/virt-prerunner`, `buildVMPod`): links `eth0`/`net<i>`,
 * `br-<link>`/`tap-<link>`, bridge-mode link-local `169.254.(200+i).1/30`, masquerade gateway
 * and guest from the CIDR (default `10.0.2.0/30`), SR-IOV/vDPA devices from the
 * network-status, vhost-user from the NAD, and Virtink's migratability rules.
 * @param input - the VM, the NADs and run-time facts
 * @returns the plan or the errors
 */
export function planVirtink(input: VirtinkPlanInput): PlanResult {
  const { vm, nads = [], options = {} } = input;
  const namespace = vm.metadata.namespace ?? 'default';
  const vmName = vm.metadata.name ?? vm.metadata.generateName ?? 'vm';
  const interfaces = vm.spec.instance.interfaces ?? [];
  const networks = vm.spec.networks ?? [];
  const errors: FieldError[] = [];
  const plans: BindingPlan[] = [];

  networks.forEach((net, netIdx) => {
    const ifIdx = interfaces.findIndex((i) => i.name === net.name);
    const iface = interfaces[ifIdx];
    if (!iface) return;
    const ifPath = `spec.instance.interfaces[${ifIdx}]`;
    let network: NetworkSource;
    if (net.multus)
      network = multusSource(nads, { namespace, name: net.multus.networkName }, false);
    else if (net.pod) network = { kind: 'pod' };
    else return;
    const link = virtinkLinkName(network.kind, netIdx);
    const method: CoreMethod = iface.bridge
      ? 'bridge'
      : iface.masquerade
        ? 'masquerade'
        : iface.sriov
          ? 'sriov'
          : iface.vdpa
            ? 'vdpa'
            : iface.vhostUser
              ? 'vhostUser'
              : 'bridge';
    let attachment: Attachment = 'tap';
    let masquerade: MasqueradeAddresses | undefined;
    let bridgeAddress: string | undefined;
    if (method === 'masquerade') {
      const cidr = iface.masquerade?.cidr || VIRTINK_DEFAULT_CIDR;
      const v4 = masqueradeFamily(cidr, 4);
      if ('error' in v4) {
        errors.push({
          path: `${ifPath}.masquerade.cidr`,
          code: PlanErrorCode.BadCidr,
          message: v4.error,
        });
        return;
      }
      masquerade = { ipv4: v4 };
    } else if (method === 'bridge') {
      if (netIdx > 55) {
        errors.push({
          path: `spec.networks[${netIdx}]`,
          code: PlanErrorCode.TooManyNetworks,
          message: 'bridge mode supports networks at index 0 to 55 only (169.254.(200+i).1/30)',
        });
        return;
      }
      bridgeAddress = virtinkBridgeAddress(netIdx);
    } else if (method === 'sriov') attachment = 'hostdev';
    else if (method === 'vdpa') attachment = 'vdpa';
    else if (method === 'vhostUser') attachment = 'vhostuser';

    let migration: MigrationPlan = { migratable: true };
    if (network.kind === 'pod' && method === 'bridge')
      migration = {
        migratable: false,
        reason: 'migration is disabled when VM has a bridged interface to the pod network',
      };
    else if (method === 'sriov')
      migration = {
        migratable: false,
        reason: 'migration is disabled when VM has a SR-IOV interface',
      };
    else if (method === 'vhostUser')
      migration = {
        migratable: false,
        reason: 'migration is disable when VM has a vhost-user interface',
      };

    const mac = normalMac(iface.mac);
    const device =
      attachment === 'hostdev' || attachment === 'vdpa'
        ? deviceFor(options.networkStatus, link)
        : undefined;
    const tap = attachment === 'tap';
    plans.push({
      name: net.name,
      networkIndex: netIdx,
      binding: { kind: 'core', method },
      network,
      attachment,
      state: 'up',
      podInterfaceName: link,
      ...(tap ? { tapName: virtinkTapName(link), bridgeName: virtinkBridgeName(link) } : {}),
      ...(method === 'bridge' ? { renamedPodInterfaceName: `${link}-nic` } : {}),
      ...(bridgeAddress !== undefined ? { bridgeAddress } : {}),
      ...(masquerade ? { masquerade } : {}),
      ...(mac !== undefined ? { mac } : {}),
      ...((tap || attachment === 'vhostuser') && options.mtu !== undefined
        ? { mtu: options.mtu }
        : {}),
      model: 'virtio',
      ports: [],
      portRanges: [],
      migration,
      ...(method === 'vdpa'
        ? { vdpa: { numQueues: iface.vdpa?.numQueues || 1, iommu: iface.vdpa?.iommu === true } }
        : {}),
      ...(device ? { device } : {}),
    });
  });
  if (errors.length > 0) return { ok: false, errors };
  return {
    ok: true,
    plan: {
      platform: 'virtink',
      vmName,
      namespace,
      annotations: { ...(vm.metadata.annotations ?? {}) },
      interfaces: plans,
      istio: false,
      useVirtioTransitional: false,
      imagePullPolicy: 'IfNotPresent',
      annotationSidecars: [],
      root: false,
      migration: vmMigration(plans),
    },
  };
}
