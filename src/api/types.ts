// Manifest types after parsing and defaulting: KubeVirt, the KubeVirt CR, NADs and Virtink VMs.
//
// Field names are the JSON names of the upstream APIs (facts-kubevirt §1, facts-virtink §1).
// Only the network-relevant parts of a VM are typed field by field; the rest of a spec is
// kept as written (`unknown`) so that nothing the user wrote is lost.

/** An empty object such as `bridge: {}`. */
export type Empty = Readonly<Record<string, never>>;

/** A field error from loading or admission: where, a stable code, and what is wrong. */
export interface FieldError {
  /** Field path in the manifest, e.g. `spec.template.spec.domain.devices.interfaces[0].binding`. */
  readonly path: string;
  /** Stable code, `BINDERY_ADM_…` for admission, `BINDERY_LOAD_…` for loading. */
  readonly code: string;
  /** One line, the gist of what KubeVirt or Virtink would say. */
  readonly message: string;
  /** Absent means `error`; warnings do not make a manifest invalid. */
  readonly severity?: 'error' | 'warning';
}

/** A problem found in an input file (loading or admission), located in the file. */
export interface Diagnostic extends FieldError {
  readonly file: string;
  /** 1-based line, when known. */
  readonly line?: number;
  /** Unknown fields and bad values are errors (like `kubectl --validate=strict`). */
  readonly severity: 'error' | 'warning';
}

/** Kubernetes object metadata (only what bindery reads; other fields are kept in `extra`). */
export interface ObjectMeta {
  readonly name?: string;
  readonly generateName?: string;
  readonly namespace?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
  /** Any other metadata field (uid, resourceVersion, …), kept as written. */
  readonly extra?: Readonly<Record<string, unknown>>;
}

// ---------------------------------------------------------------------------------------------
// KubeVirt (kubevirt.io/v1)

/** Interface models KubeVirt accepts (`Interface.model`). */
export const KUBEVIRT_MODELS = [
  'e1000',
  'e1000e',
  'igb',
  'ne2k_pci',
  'pcnet',
  'rtl8139',
  'virtio',
] as const;

/** `Interface.ports[]`: protocol TCP|UDP (default TCP), port required. */
export interface KubeVirtPort {
  readonly name?: string;
  /** As written; admission accepts only `""`, `TCP`, `UDP`. Defaulting sets `TCP` when empty. */
  readonly protocol?: string;
  readonly port: number;
}

/** `Interface.portRanges[]` (alpha, gate `PortRangesSpec`, masquerade only). */
export interface KubeVirtPortRange {
  readonly protocol: string;
  readonly start: number;
  readonly end: number;
}

/** `dhcpOptions.privateOptions[]`: option 224–254. */
export interface KubeVirtDhcpPrivateOption {
  readonly option: number;
  readonly value: string;
}

/** `Interface.dhcpOptions`. */
export interface KubeVirtDhcpOptions {
  /** DHCP option 67. */
  readonly bootFileName?: string;
  /** DHCP option 66. */
  readonly tftpServerName?: string;
  /** DHCP option 42, IPv4 only. */
  readonly ntpServers?: readonly string[];
  readonly privateOptions?: readonly KubeVirtDhcpPrivateOption[];
}

/** The inline binding methods of a KubeVirt interface (`InterfaceBindingMethod`). */
export interface KubeVirtBindingMethod {
  readonly bridge?: Empty;
  readonly masquerade?: Empty;
  readonly sriov?: Empty;
  /** The core passt binding (v1.8+, gate `PasstBinding`). */
  readonly passtBinding?: Empty;
  /** Deprecated, discontinued in v1.3. */
  readonly slirp?: Empty;
  /** Deprecated, discontinued in v1.3. */
  readonly macvtap?: Empty;
  /** Deprecated core passt, discontinued in v1.3 (not the plugin). */
  readonly passt?: Empty;
}

/** The names of the inline binding methods, in KubeVirt's order. */
export const KUBEVIRT_BINDING_METHODS = [
  'bridge',
  'masquerade',
  'sriov',
  'passtBinding',
  'slirp',
  'macvtap',
  'passt',
] as const;

/** One of {@link KUBEVIRT_BINDING_METHODS}. */
export type KubeVirtBindingMethodName = (typeof KUBEVIRT_BINDING_METHODS)[number];

/** A KubeVirt VMI interface (`spec.domain.devices.interfaces[]`). */
export interface KubeVirtInterface extends KubeVirtBindingMethod {
  /** Required; must match a network. */
  readonly name: string;
  /** Default `virtio` (after defaulting always set). */
  readonly model?: string;
  /** A binding plugin registered in the KubeVirt CR. */
  readonly binding?: { readonly name: string };
  readonly ports?: readonly KubeVirtPort[];
  readonly portRanges?: readonly KubeVirtPortRange[];
  /** e.g. `de:ad:00:00:be:af` or `DE-AD-00-00-BE-AF`. */
  readonly macAddress?: string;
  readonly bootOrder?: number;
  /** e.g. `0000:81:01.10`. */
  readonly pciAddress?: string;
  readonly dhcpOptions?: KubeVirtDhcpOptions;
  readonly tag?: string;
  readonly acpiIndex?: number;
  /** `""`, `up`, `down` or `absent` (as written; admission rejects anything else). */
  readonly state?: string;
}

/** `Network.pod`. */
export interface KubeVirtPodNetwork {
  /** Default `10.0.2.0/24` (set by defaulting). */
  readonly vmNetworkCIDR?: string;
  /** Default `fd10:0:2::/120` (set by defaulting). */
  readonly vmIPv6NetworkCIDR?: string;
}

/** `Network.multus`. */
export interface KubeVirtMultusNetwork {
  /** `<name>` or `<namespace>/<name>` of a NetworkAttachmentDefinition. */
  readonly networkName: string;
  /** `true` replaces the pod network (`v1.multus-cni.io/default-network`). */
  readonly default?: boolean;
}

/** `Network.resourceClaim` (DRA, alpha gate `NetworkDevicesWithDRA`). */
export interface KubeVirtResourceClaimNetwork {
  readonly claimName?: string;
  readonly requestName?: string;
}

/** A KubeVirt network (`spec.networks[]`); exactly one source must be set. */
export interface KubeVirtNetwork {
  readonly name: string;
  readonly pod?: KubeVirtPodNetwork;
  readonly multus?: KubeVirtMultusNetwork;
  readonly resourceClaim?: KubeVirtResourceClaimNetwork;
}

/** A disk, as far as bindery reads it (boot order is shared with interfaces). */
export interface KubeVirtDisk {
  readonly name: string;
  readonly bootOrder?: number;
  /** Every other disk field, kept as written. */
  readonly extra?: Readonly<Record<string, unknown>>;
}

/** `spec.domain.devices` (network-relevant fields typed; the rest kept in `extra`). */
export interface KubeVirtDevices {
  readonly interfaces?: readonly KubeVirtInterface[];
  readonly disks?: readonly KubeVirtDisk[];
  /** Default true: a pod network and interface are added when none are given. */
  readonly autoattachPodInterface?: boolean;
  readonly useVirtioTransitional?: boolean;
  readonly networkInterfaceMultiqueue?: boolean;
  /** Every other devices field, kept as written. */
  readonly extra?: Readonly<Record<string, unknown>>;
}

/** `spec.domain`. */
export interface KubeVirtDomain {
  readonly devices: KubeVirtDevices;
  /** Every other domain field (cpu, memory, resources, firmware, …), kept as written. */
  readonly extra?: Readonly<Record<string, unknown>>;
}

/** A readiness or liveness probe (only the handler kinds are read). */
export interface KubeVirtProbe {
  readonly httpGet?: unknown;
  readonly tcpSocket?: unknown;
  readonly exec?: unknown;
  readonly guestAgentPing?: unknown;
  /** Every other probe field, kept as written. */
  readonly extra?: Readonly<Record<string, unknown>>;
}

/** `VirtualMachineInstanceSpec` (network-relevant fields typed). */
export interface KubeVirtVmiSpec {
  readonly domain: KubeVirtDomain;
  readonly networks?: readonly KubeVirtNetwork[];
  readonly readinessProbe?: KubeVirtProbe;
  readonly livenessProbe?: KubeVirtProbe;
  readonly hostname?: string;
  readonly subdomain?: string;
  /** Every other VMI spec field (volumes, nodeSelector, …), kept as written. */
  readonly extra?: Readonly<Record<string, unknown>>;
}

/** `kubevirt.io/v1` VirtualMachineInstance. */
export interface KubeVirtVirtualMachineInstance {
  readonly apiVersion: string;
  readonly kind: 'VirtualMachineInstance';
  readonly metadata: ObjectMeta;
  readonly spec: KubeVirtVmiSpec;
}

/** `kubevirt.io/v1` VirtualMachine: a VMI template plus run strategy. */
export interface KubeVirtVirtualMachine {
  readonly apiVersion: string;
  readonly kind: 'VirtualMachine';
  readonly metadata: ObjectMeta;
  readonly spec: {
    readonly running?: boolean;
    readonly runStrategy?: string;
    readonly template: {
      readonly metadata?: ObjectMeta;
      readonly spec: KubeVirtVmiSpec;
    };
    /** Every other VM spec field (dataVolumeTemplates, instancetype, …), kept as written. */
    readonly extra?: Readonly<Record<string, unknown>>;
  };
}

/** `migration` of a binding plugin: present (even `{}`) means migratable. */
export interface KubeVirtBindingMigration {
  /** `link-refresh` is the only method KubeVirt defines. */
  readonly method?: string;
}

/** A binding plugin in the KubeVirt CR (`spec.configuration.network.binding[name]`). */
export interface KubeVirtBindingPlugin {
  readonly sidecarImage?: string;
  /** `<name>` or `<namespace>/<name>`; without a namespace, the VMI's. */
  readonly networkAttachmentDefinition?: string;
  /** `tap` or `managedTap` (v1.4+); as written. */
  readonly domainAttachmentType?: string;
  readonly migration?: KubeVirtBindingMigration;
  /** Only `device-info` is defined; as written. */
  readonly downwardAPI?: string;
  /** Only `requests.memory` is used by KubeVirt. Quantities as strings. */
  readonly computeResourceOverhead?: {
    readonly requests?: Readonly<Record<string, string>>;
    readonly limits?: Readonly<Record<string, string>>;
  };
}

/** `spec.configuration.network` of the KubeVirt CR. */
export interface KubeVirtNetworkConfiguration {
  /** `bridge` (default), `masquerade`, or deprecated `slirp`; as written. */
  readonly defaultNetworkInterface?: string;
  /** Removed in v1.3. */
  readonly permitSlirpInterface?: boolean;
  /** Default true. */
  readonly permitBridgeInterfaceOnPodNetwork?: boolean;
  readonly binding?: Readonly<Record<string, KubeVirtBindingPlugin>>;
}

/** `spec.configuration.developerConfiguration` (only the gates are read). */
export interface KubeVirtDeveloperConfiguration {
  readonly featureGates?: readonly string[];
  readonly disabledFeatureGates?: readonly string[];
  /** Every other field, kept as written. */
  readonly extra?: Readonly<Record<string, unknown>>;
}

/** The `KubeVirt` custom resource (only network configuration and gates are typed). */
export interface KubeVirtCR {
  readonly apiVersion: string;
  readonly kind: 'KubeVirt';
  readonly metadata: ObjectMeta;
  readonly spec: {
    /** Pull policy of binding sidecars; default `IfNotPresent`. */
    readonly imagePullPolicy?: string;
    readonly configuration?: {
      readonly network?: KubeVirtNetworkConfiguration;
      readonly developerConfiguration?: KubeVirtDeveloperConfiguration;
      /** Every other configuration field, kept as written. */
      readonly extra?: Readonly<Record<string, unknown>>;
    };
    /** Every other spec field, kept as written. */
    readonly extra?: Readonly<Record<string, unknown>>;
  };
}

// ---------------------------------------------------------------------------------------------
// Multus (k8s.cni.cncf.io/v1)

/** The NAD annotation naming the device-plugin resource (SR-IOV VFs). */
export const RESOURCE_NAME_ANNOTATION = 'k8s.v1.cni.cncf.io/resourceName';

/** `k8s.cni.cncf.io/v1` NetworkAttachmentDefinition, with its config parsed. */
export interface NetworkAttachmentDefinition {
  readonly apiVersion: string;
  readonly kind: 'NetworkAttachmentDefinition';
  readonly metadata: ObjectMeta;
  readonly spec: { readonly config?: string };
  /** `metadata.namespace`, `default` when absent. */
  readonly namespace: string;
  /** `metadata.name`. */
  readonly name: string;
  /** `spec.config` parsed as JSON, when it is a JSON object. */
  readonly config?: Readonly<Record<string, unknown>>;
  /** The annotation `k8s.v1.cni.cncf.io/resourceName`, when present. */
  readonly resourceName?: string;
}

// ---------------------------------------------------------------------------------------------
// Virtink (virt.virtink.smartx.com/v1alpha1)

/** `masquerade: {cidr}`; defaulting sets `10.0.2.0/30`. */
export interface VirtinkMasquerade {
  readonly cidr?: string;
}

/** `vdpa: {numQueues, iommu}`. */
export interface VirtinkVdpa {
  readonly numQueues?: number;
  readonly iommu?: boolean;
}

/** The inline binding methods of a Virtink interface. */
export interface VirtinkBindingMethod {
  readonly bridge?: Empty;
  readonly masquerade?: VirtinkMasquerade;
  readonly sriov?: Empty;
  readonly vdpa?: VirtinkVdpa;
  readonly vhostUser?: Empty;
}

/** The names of Virtink's binding methods, in Virtink's order. */
export const VIRTINK_BINDING_METHODS = [
  'bridge',
  'masquerade',
  'sriov',
  'vdpa',
  'vhostUser',
] as const;

/** One of {@link VIRTINK_BINDING_METHODS}. */
export type VirtinkBindingMethodName = (typeof VIRTINK_BINDING_METHODS)[number];

/** A Virtink interface (`spec.instance.interfaces[]`). */
export interface VirtinkInterface extends VirtinkBindingMethod {
  readonly name: string;
  /** After defaulting always set (`52:54:00:xx:xx:xx`). */
  readonly mac?: string;
}

/** A Virtink network (`spec.networks[]`): `pod: {}` or `multus: {networkName}`. */
export interface VirtinkNetwork {
  readonly name: string;
  readonly pod?: Empty;
  readonly multus?: { readonly networkName: string };
}

/** `spec.instance` (network-relevant fields typed). */
export interface VirtinkInstance {
  readonly interfaces?: readonly VirtinkInterface[];
  readonly cpu?: {
    readonly sockets?: number;
    readonly coresPerSocket?: number;
    readonly dedicatedCPUPlacement?: boolean;
    /** Every other cpu field, kept as written. */
    readonly extra?: Readonly<Record<string, unknown>>;
  };
  readonly memory?: {
    readonly size?: string;
    readonly hugepages?: { readonly pageSize?: string };
    /** Every other memory field, kept as written. */
    readonly extra?: Readonly<Record<string, unknown>>;
  };
  /** Every other instance field (kernel, disks, fileSystems, …), kept as written. */
  readonly extra?: Readonly<Record<string, unknown>>;
}

/** `virt.virtink.smartx.com/v1alpha1` VirtualMachine. */
export interface VirtinkVirtualMachine {
  readonly apiVersion: string;
  readonly kind: 'VirtualMachine';
  readonly metadata: ObjectMeta;
  readonly spec: {
    readonly instance: VirtinkInstance;
    readonly networks?: readonly VirtinkNetwork[];
    readonly runPolicy?: string;
    /** Every other spec field (volumes, resources, probes, …), kept as written. */
    readonly extra?: Readonly<Record<string, unknown>>;
  };
}

// ---------------------------------------------------------------------------------------------
// Node workloads (the DaemonSet that installs a binding's CNI plugin)

/** A container's volume mount (the fields bindery checks). */
export interface K8sVolumeMount {
  readonly name: string;
  readonly mountPath: string;
  readonly readOnly?: boolean;
  /** Every other mount field (subPath, mountPropagation, …), kept as written. */
  readonly extra?: Readonly<Record<string, unknown>>;
}

/** A container of a pod template (the fields bindery checks). */
export interface K8sContainer {
  readonly name: string;
  readonly image?: string;
  readonly command?: readonly string[];
  readonly args?: readonly string[];
  readonly volumeMounts?: readonly K8sVolumeMount[];
  /** Every other container field (env, resources, securityContext, …), kept as written. */
  readonly extra?: Readonly<Record<string, unknown>>;
}

/** A pod volume: bindery types `hostPath`, the rest is kept as written. */
export interface K8sVolume {
  readonly name: string;
  readonly hostPath?: { readonly path: string; readonly type?: string };
  readonly extra?: Readonly<Record<string, unknown>>;
}

/** `apps/v1` DaemonSet, read for the checks the API server makes on a pod template. */
export interface DaemonSet {
  readonly apiVersion: string;
  readonly kind: 'DaemonSet';
  readonly metadata: ObjectMeta;
  readonly spec: {
    readonly selector?: {
      readonly matchLabels?: Readonly<Record<string, string>>;
      readonly extra?: Readonly<Record<string, unknown>>;
    };
    readonly template: {
      readonly metadata?: ObjectMeta;
      readonly spec: {
        readonly initContainers?: readonly K8sContainer[];
        readonly containers?: readonly K8sContainer[];
        readonly volumes?: readonly K8sVolume[];
        readonly extra?: Readonly<Record<string, unknown>>;
      };
    };
    readonly extra?: Readonly<Record<string, unknown>>;
  };
}

// ---------------------------------------------------------------------------------------------
// Loaded documents

/** API group/versions bindery reads. */
export const API_VERSIONS = {
  kubevirt: 'kubevirt.io/v1',
  nad: 'k8s.cni.cncf.io/v1',
  virtink: 'virt.virtink.smartx.com/v1alpha1',
  apps: 'apps/v1',
} as const;

/** Where a document came from. */
export interface SourceInfo {
  readonly file: string;
  /** 0-based index of the document in its file. */
  readonly document: number;
  /** 1-based line where the document starts. */
  readonly line?: number;
  /** 1-based line of each field path in the document (paths as in {@link FieldError}). */
  readonly lines: ReadonlyMap<string, number>;
}

/** A parsed manifest, tagged by what it is. */
export type Manifest =
  | { readonly type: 'kubevirt-vm'; readonly object: KubeVirtVirtualMachine }
  | { readonly type: 'kubevirt-vmi'; readonly object: KubeVirtVirtualMachineInstance }
  | { readonly type: 'kubevirt-cr'; readonly object: KubeVirtCR }
  | { readonly type: 'nad'; readonly object: NetworkAttachmentDefinition }
  | { readonly type: 'virtink-vm'; readonly object: VirtinkVirtualMachine }
  | { readonly type: 'daemonset'; readonly object: DaemonSet };

/** A manifest plus where it came from. */
export type LoadedManifest = Manifest & { readonly source: SourceInfo };

/** The result of loading one file: every document that parsed, and every problem found. */
export interface LoadResult {
  readonly manifests: readonly LoadedManifest[];
  readonly diagnostics: readonly Diagnostic[];
}
