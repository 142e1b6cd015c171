// BindingPlan: the resolved network binding of every VM interface, as pure data for the renderers.

/** Which control plane the plan was made for. */
export type Platform = 'kubevirt' | 'virtink';

/**
 * A core binding method.
 * - KubeVirt: `bridge`, `masquerade`, `sriov`, `passt` (the v1.8+ core `passtBinding`).
 * - Virtink: `bridge`, `masquerade`, `sriov`, `vdpa`, `vhostUser`.
 */
export type CoreMethod = 'bridge' | 'masquerade' | 'sriov' | 'passt' | 'vdpa' | 'vhostUser';

/** A NetworkAttachmentDefinition reference with its namespace resolved. */
export interface NadRef {
  readonly namespace: string;
  readonly name: string;
}

/** How a binding plugin's vNIC reaches the domain when no sidecar defines it. */
export type DomainAttachmentType = 'tap' | 'managedTap';

/** A binding plugin registered in the KubeVirt CR (`spec.configuration.network.binding[name]`). */
export interface PluginRegistration {
  /** The key in the `binding` map. */
  readonly name: string;
  readonly sidecarImage?: string;
  /** The binding NAD, namespace resolved against the VMI's namespace. */
  readonly networkAttachmentDefinition?: NadRef;
  readonly domainAttachmentType?: DomainAttachmentType;
  /** Present (even empty) means the plugin is migratable; `method` is optional. */
  readonly migration?: { readonly method?: string };
  readonly downwardAPI?: 'device-info';
  /** `computeResourceOverhead.requests.memory` as written (a Kubernetes quantity). */
  readonly memoryOverhead?: string;
  /**
   * True when the sidecar is KubeVirt's passt sidecar (plugin name `passt` or an image named
   * `network-passt-binding`) or bindery's own image (whose sidecar renders passt by default),
   * so bindery can render the domain interface.
   */
  readonly passtSidecar: boolean;
}

/** The binding of one interface: a core method or a registered plugin. */
export type Binding =
  | { readonly kind: 'core'; readonly method: CoreMethod }
  | { readonly kind: 'plugin'; readonly plugin: PluginRegistration };

/** Where an interface's network comes from. */
export type NetworkSource =
  | { readonly kind: 'pod' }
  | {
      readonly kind: 'multus';
      readonly nad: NadRef;
      /** KubeVirt `multus.default: true`: replaces the pod network. */
      readonly default: boolean;
      /** The NAD's `k8s.v1.cni.cncf.io/resourceName` annotation, when the NAD was given. */
      readonly resourceName?: string;
      /** The NAD's CNI `type` (top-level or first plugin), when the NAD was given. */
      readonly cniType?: string;
      /** The NAD's parsed CNI config, when the NAD was given and its config is JSON. */
      readonly cniConfig?: Readonly<Record<string, unknown>>;
    };

/** One address family of a masquerade (NAT) subnet: the pod-side gateway and the guest. */
export interface MasqueradeFamily {
  /** The subnet as written, e.g. `10.0.2.0/24`. */
  readonly cidr: string;
  readonly prefixLength: number;
  /** First host address: the in-pod bridge, the guest's default gateway. */
  readonly gateway: string;
  /** Second host address: the guest. */
  readonly guest: string;
}

/** The NAT subnets of a masquerade binding. */
export interface MasqueradeAddresses {
  readonly ipv4: MasqueradeFamily;
  /** KubeVirt only: used when the pod has global IPv6. */
  readonly ipv6?: MasqueradeFamily;
}

/** A declared port (KubeVirt `ports[]`); the protocol is upper case. */
export interface PortPlan {
  readonly name?: string;
  readonly protocol: 'TCP' | 'UDP';
  readonly port: number;
}

/** A declared port range (KubeVirt `portRanges[]`, masquerade only). */
export interface PortRangePlan {
  readonly protocol: 'TCP' | 'UDP';
  readonly start: number;
  readonly end: number;
}

/** How the interface behaves under live migration. */
export interface MigrationPlan {
  /** Whether this interface allows the VM to migrate. */
  readonly migratable: boolean;
  /**
   * What happens on the target: `link-refresh` (link down/up through the device-update API),
   * `passt-repair` (TCP_REPAIR hand-over of passt's sockets), or another plugin-declared method.
   */
  readonly method?: string;
  /** Why the interface blocks migration, in the control plane's words. */
  readonly reason?: string;
}

/** A device the CNI reported in the Multus network-status (known only when it was given). */
export interface DeviceInfo {
  /** Host PCI address of an SR-IOV VF, e.g. `0000:81:01.2`. */
  readonly pciAddress?: string;
  /** vhost-vdpa character device, e.g. `/dev/vhost-vdpa-0`. */
  readonly vdpaPath?: string;
}

/** How the interface reaches the hypervisor. */
export type Attachment =
  /** A tap device in the pod (bridge, masquerade, plugin tap/managedTap). */
  | 'tap'
  /** libvirt starts passt on the pod interface (`<backend type='passt'/>`). */
  | 'passt'
  /** A VFIO PCI passthrough device. */
  | 'hostdev'
  /** A vhost-vdpa device. */
  | 'vdpa'
  /** A vhost-user socket (Virtink kube-ovn/userspace DPDK). */
  | 'vhostuser'
  /** A binding plugin's sidecar defines the vNIC; bindery cannot know its XML. */
  | 'sidecar';

/** The resolved binding of one VM interface. */
export interface BindingPlan {
  /** The logical name shared by the interface and its network. */
  readonly name: string;
  /** Position of the network in `spec.networks` (Virtink names links by it). */
  readonly networkIndex: number;
  readonly binding: Binding;
  readonly network: NetworkSource;
  readonly attachment: Attachment;
  /** `absent` interfaces are planned but left out of the pod and the domain (KubeVirt). */
  readonly state: 'up' | 'down' | 'absent';
  /** The pod's link for this network: `eth0`, `pod<hash11>`, `net<N>`. */
  readonly podInterfaceName: string;
  /** The tap the hypervisor opens (tap attachments only). */
  readonly tapName?: string;
  /** The in-pod bridge (bridge, masquerade, managedTap). */
  readonly bridgeName?: string;
  /** The renamed pod link enslaved to the bridge (`eth0-nic`), for bridge-style bindings. */
  readonly renamedPodInterfaceName?: string;
  /** Virtink bridge mode: the link-local address dnsmasq binds on the bridge. */
  readonly bridgeAddress?: string;
  readonly masquerade?: MasqueradeAddresses;
  /** The guest MAC, when the spec (or defaulting) gave one. */
  readonly mac?: string;
  /** The vNIC MTU, when known (the pod link MTU). */
  readonly mtu?: number;
  /** The interface model as written in the spec (`virtio`, `e1000`, …). */
  readonly model: string;
  readonly ports: readonly PortPlan[];
  readonly portRanges: readonly PortRangePlan[];
  /** Guest PCI address from the spec. */
  readonly pciAddress?: string;
  readonly bootOrder?: number;
  readonly acpiIndex?: number;
  readonly migration: MigrationPlan;
  /** Memory this binding adds to the compute container (a quantity), counted once per plugin. */
  readonly memoryOverhead?: string;
  /** Virtink vDPA parameters. */
  readonly vdpa?: { readonly numQueues: number; readonly iommu: boolean };
  /** The device the CNI reported, when a network-status was supplied. */
  readonly device?: DeviceInfo;
}

/** A hook sidecar from the VMI annotation `hooks.kubevirt.io/hookSidecars`. */
export interface AnnotationSidecar {
  readonly image: string;
  readonly imagePullPolicy?: string;
  readonly command?: readonly string[];
  readonly args?: readonly string[];
}

/** The network plan of one VM: its interfaces plus the VM-wide facts the renderers need. */
export interface VmNetworkPlan {
  readonly platform: Platform;
  readonly vmName: string;
  readonly namespace: string;
  /** The VMI annotations (KubeVirt) or VM annotations (Virtink) as given. */
  readonly annotations: Readonly<Record<string, string>>;
  /** Every interface in `spec.networks` order. */
  readonly interfaces: readonly BindingPlan[];
  /** VMI annotation `sidecar.istio.io/inject: "true"`. */
  readonly istio: boolean;
  /** `spec.domain.devices.useVirtioTransitional`. */
  readonly useVirtioTransitional: boolean;
  /** The KubeVirt CR `spec.imagePullPolicy` for binding sidecars (default `IfNotPresent`). */
  readonly imagePullPolicy: string;
  /** Sidecars from the VMI annotation; they come before the plugin sidecars. */
  readonly annotationSidecars: readonly AnnotationSidecar[];
  /** Whether virt-launcher runs as root (KubeVirt `Root` feature gate); default false. */
  readonly root: boolean;
  /** Sum of the network memory overheads (a quantity), undefined when there is none. */
  readonly memoryOverhead?: string;
  /** The pod's IPv4 address, when known (Istio output DNAT also matches it). */
  readonly podIPv4?: string;
  /** Whether the VM may migrate as far as its interfaces are concerned. */
  readonly migration: MigrationPlan;
}
