// What a VM's network bindings add to its pod: Multus annotations, hook sidecars, volumes, resources.
import type { BindingPlan, NadRef, VmNetworkPlan } from '../plan/types.js';

/** Multus' pod annotation listing the secondary networks. */
export const MULTUS_NETWORKS_ANNOTATION = 'k8s.v1.cni.cncf.io/networks';
/** Multus' annotation replacing the cluster default network. */
export const MULTUS_DEFAULT_NETWORK_ANNOTATION = 'v1.multus-cni.io/default-network';
/** Multus' status annotation, read back by the downward API. */
export const MULTUS_NETWORK_STATUS_ANNOTATION = 'k8s.v1.cni.cncf.io/network-status';
/** Istio: interfaces whose traffic the sidecar should intercept (deprecated form). */
export const ISTIO_KUBEVIRT_INTERFACES_ANNOTATION = 'traffic.sidecar.istio.io/kubevirtInterfaces';
/** Istio: interfaces whose traffic the sidecar should intercept. */
export const ISTIO_REROUTE_ANNOTATION = 'istio.io/reroute-virtual-interfaces';
/** The Istio injection switch (a VMI annotation, copied to a pod label). */
export const ISTIO_INJECT_ANNOTATION = 'sidecar.istio.io/inject';
/** The annotation virt-controller fills with device info for SR-IOV/device-info interfaces. */
export const NETWORK_INFO_ANNOTATION = 'kubevirt.io/network-info';
/** The emptyDir that holds each hook sidecar's socket directory. */
export const HOOK_SOCKETS_VOLUME = 'hook-sidecar-sockets';
/** Where compute and sidecars mount the hook socket volume. */
export const HOOK_SOCKETS_DIR = '/var/run/kubevirt-hooks';
/** The downward-API volume carrying `kubevirt.io/network-info`. */
export const NETWORK_INFO_VOLUME = 'network-info-annotation';
/** Where the network-info volume is mounted. */
export const NETWORK_INFO_DIR = '/etc/podinfo';
/** virt-launcher's non-root UID. */
export const NON_ROOT_UID = 107;

/** One element of the Multus networks annotation, in the Go struct's field order. */
export interface NetworkSelectionElement {
  readonly name: string;
  readonly namespace?: string;
  readonly mac?: string;
  readonly interface?: string;
  readonly 'cni-args'?: Readonly<Record<string, unknown>>;
}

/** A rendered pod mutation: the Pod-shaped object plus what could not be rendered. */
export interface PodRender {
  /**
   * A Pod manifest holding only what the network bindings contribute. Resource values are
   * amounts added to the main container (memory overhead, device resources), not totals.
   */
  readonly pod: Record<string, unknown>;
  /** The Multus selection elements (also in the annotation), for inspection. */
  readonly networks: readonly NetworkSelectionElement[];
  readonly warnings: readonly string[];
}

/**
 * Renders the pod mutation for a plan of either platform.
 * @param plan - the VM's network plan
 * @returns the pod object and warnings
 */
export function renderPod(plan: VmNetworkPlan): PodRender {
  return plan.platform === 'kubevirt' ? renderLauncherPod(plan) : renderVirtinkPod(plan);
}

function active(plan: VmNetworkPlan): BindingPlan[] {
  return plan.interfaces.filter((i) => i.state !== 'absent');
}

function nadElement(nad: NadRef): { name: string; namespace: string } {
  return { name: nad.name, namespace: nad.namespace };
}

/**
 * The Multus networks annotation elements KubeVirt builds (`pkg/network/multus/annotation.go`):
 * in spec network order, one element per secondary Multus network (`interface` = pod interface
 * name, `mac` when requested), and right after it, for a plugin with a NAD, the binding NAD
 * element `{name, namespace, cni-args: {logicNetworkName}}`.
 * @param plan - a KubeVirt plan
 * @returns the elements
 */
export function kubevirtMultusNetworks(plan: VmNetworkPlan): NetworkSelectionElement[] {
  const out: NetworkSelectionElement[] = [];
  for (const i of active(plan)) {
    if (i.network.kind === 'multus' && !i.network.default) {
      out.push({
        ...nadElement(i.network.nad),
        ...(i.mac !== undefined ? { mac: i.mac } : {}),
        interface: i.podInterfaceName,
      });
    }
    if (i.binding.kind === 'plugin' && i.binding.plugin.networkAttachmentDefinition) {
      out.push({
        ...nadElement(i.binding.plugin.networkAttachmentDefinition),
        'cni-args': { logicNetworkName: i.name },
      });
    }
  }
  return out;
}

type Obj = Record<string, unknown>;

function addResource(res: Map<string, number>, name: string): void {
  res.set(name, (res.get(name) ?? 0) + 1);
}

/**
 * The virt-launcher pod mutation of a KubeVirt plan: Multus/default-network/Istio annotations,
 * one `hook-sidecar-<i>` per annotation sidecar and per distinct plugin with a sidecar image
 * (env `CONTAINER_NAME`, `NETWORK_BINDING_PLUGIN_NAME`; socket dir via `subPath`),
 * `--hook-sidecars N` on compute, the summed memory overhead, +1 of each NAD `resourceName`,
 * and the `network-info-annotation` downward-API volume for SR-IOV and device-info plugins.
 * @param plan - a KubeVirt plan
 * @returns the pod mutation
 */
export function renderLauncherPod(plan: VmNetworkPlan): PodRender {
  const warnings: string[] = [];
  const ifaces = active(plan);
  const annotations: Record<string, string> = {};
  const labels: Record<string, string> = {
    'kubevirt.io': 'virt-launcher',
    'vm.kubevirt.io/name': plan.vmName,
  };
  const inject = plan.annotations[ISTIO_INJECT_ANNOTATION];
  if (inject !== undefined) labels[ISTIO_INJECT_ANNOTATION] = inject;

  const networks = kubevirtMultusNetworks(plan);
  if (networks.length > 0) annotations[MULTUS_NETWORKS_ANNOTATION] = JSON.stringify(networks);
  for (const i of ifaces)
    if (i.network.kind === 'multus' && i.network.default)
      annotations[MULTUS_DEFAULT_NETWORK_ANNOTATION] = formatNad(i.network.nad, plan.namespace);
  const masq = ifaces.find((i) => i.binding.kind === 'core' && i.binding.method === 'masquerade');
  if (masq) {
    const bridge = masq.bridgeName ?? 'k6t-eth0';
    annotations[ISTIO_KUBEVIRT_INTERFACES_ANNOTATION] = bridge;
    annotations[ISTIO_REROUTE_ANNOTATION] = bridge;
  }

  // Device-info consumers: SR-IOV interfaces and plugins with downwardAPI: device-info.
  const sriov = ifaces.some((i) => i.binding.kind === 'core' && i.binding.method === 'sriov');
  const deviceInfoPlugins = new Set(
    ifaces.flatMap((i) =>
      i.binding.kind === 'plugin' && i.binding.plugin.downwardAPI === 'device-info'
        ? [i.binding.plugin.name]
        : [],
    ),
  );
  const downward = sriov || deviceInfoPlugins.size > 0;

  // Sidecars: annotation sidecars first, then one per distinct plugin with an image.
  const sidecars: Obj[] = [];
  const securityContext: Obj | undefined = plan.root
    ? undefined
    : { runAsUser: NON_ROOT_UID, capabilities: { drop: ['ALL'] } };
  const sidecar = (
    image: string,
    pullPolicy: string,
    extraEnv: Obj[],
    extra: Obj,
    podinfo: boolean,
  ) => {
    const name = `hook-sidecar-${sidecars.length}`;
    const mounts: Obj[] = [
      { name: HOOK_SOCKETS_VOLUME, mountPath: HOOK_SOCKETS_DIR, subPath: name },
    ];
    if (podinfo) mounts.push({ name: NETWORK_INFO_VOLUME, mountPath: NETWORK_INFO_DIR });
    sidecars.push({
      name,
      image,
      imagePullPolicy: pullPolicy,
      ...extra,
      env: [{ name: 'CONTAINER_NAME', value: name }, ...extraEnv],
      volumeMounts: mounts,
      ...(securityContext ? { securityContext } : {}),
    });
  };
  for (const s of plan.annotationSidecars)
    sidecar(
      s.image,
      s.imagePullPolicy ?? plan.imagePullPolicy,
      [],
      {
        ...(s.command ? { command: [...s.command] } : {}),
        ...(s.args ? { args: [...s.args] } : {}),
      },
      false,
    );
  const seenPlugins = new Set<string>();
  for (const i of ifaces) {
    if (i.binding.kind !== 'plugin') continue;
    const p = i.binding.plugin;
    if (seenPlugins.has(p.name)) continue;
    seenPlugins.add(p.name);
    if (!p.sidecarImage) continue;
    sidecar(
      p.sidecarImage,
      plan.imagePullPolicy,
      [{ name: 'NETWORK_BINDING_PLUGIN_NAME', value: p.name }],
      {},
      deviceInfoPlugins.has(p.name),
    );
  }

  // Compute: --hook-sidecars, memory overhead, device resources, mounts.
  const requests: Record<string, string> = {};
  const limits: Record<string, string> = {};
  if (plan.memoryOverhead !== undefined) requests['memory'] = plan.memoryOverhead;
  const devRes = new Map<string, number>();
  for (const i of ifaces)
    if (i.network.kind === 'multus' && i.network.resourceName)
      addResource(devRes, i.network.resourceName);
  for (const [r, n] of devRes) {
    requests[r] = String(n);
    limits[r] = String(n);
  }
  const computeMounts: Obj[] = [];
  if (sidecars.length > 0)
    computeMounts.push({ name: HOOK_SOCKETS_VOLUME, mountPath: HOOK_SOCKETS_DIR });
  if (downward) computeMounts.push({ name: NETWORK_INFO_VOLUME, mountPath: NETWORK_INFO_DIR });
  const command = [
    '/usr/bin/virt-launcher-monitor',
    '--name',
    plan.vmName,
    '--namespace',
    plan.namespace,
  ];
  if (sidecars.length > 0) command.push('--hook-sidecars', String(sidecars.length));
  const compute: Obj = { name: 'compute', command };
  if (Object.keys(requests).length > 0 || Object.keys(limits).length > 0)
    compute['resources'] = {
      ...(Object.keys(requests).length > 0 ? { requests } : {}),
      ...(Object.keys(limits).length > 0 ? { limits } : {}),
    };
  if (computeMounts.length > 0) compute['volumeMounts'] = computeMounts;

  const volumes: Obj[] = [];
  if (sidecars.length > 0) volumes.push({ name: HOOK_SOCKETS_VOLUME, emptyDir: {} });
  if (downward)
    volumes.push({
      name: NETWORK_INFO_VOLUME,
      downwardAPI: {
        items: [
          {
            path: 'network-info',
            fieldRef: { fieldPath: `metadata.annotations['${NETWORK_INFO_ANNOTATION}']` },
          },
        ],
      },
    });

  for (const i of ifaces)
    if (i.binding.kind === 'core' && i.binding.method === 'sriov' && i.network.kind === 'multus')
      if (!i.network.resourceName)
        warnings.push(
          `interface '${i.name}': SR-IOV network '${formatNad(i.network.nad, plan.namespace)}' has no k8s.v1.cni.cncf.io/resourceName (NAD not given or not annotated), so no device is requested`,
        );

  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName: `virt-launcher-${plan.vmName}-`,
      namespace: plan.namespace,
      labels,
      ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
    },
    spec: {
      containers: [compute, ...sidecars],
      ...(volumes.length > 0 ? { volumes } : {}),
    },
  };
  return { pod, networks, warnings };
}

function formatNad(nad: NadRef, vmNamespace: string): string {
  return nad.namespace === vmNamespace ? nad.name : `${nad.namespace}/${nad.name}`;
}

/**
 * The VM pod mutation of a Virtink plan (`buildVMPod`): the Multus annotation
 * `[{name, interface: net<i>, mac}]` (NADs from the VM's namespace), +1 request and limit of
 * each NAD `resourceName`, the `NETWORK_STATUS` downward-API env, one privileged
 * `enable-ip-forward` init container when any interface masquerades (Virtink adds one per
 * interface under the same name, which the API server rejects), and the vhost-user plumbing.
 * @param plan - a Virtink plan
 * @returns the pod mutation
 */
export function renderVirtinkPod(plan: VmNetworkPlan): PodRender {
  const warnings: string[] = [];
  const ifaces = active(plan);
  const networks: NetworkSelectionElement[] = [];
  const annotations: Record<string, string> = {};
  const env: Obj[] = [];
  const mounts: Obj[] = [];
  const volumes: Obj[] = [];
  const nodeSelector: Record<string, string> = {};
  const devRes = new Map<string, number>();
  let multus = false;
  for (const i of ifaces) {
    if (i.network.kind !== 'multus') continue;
    multus = true;
    networks.push({
      name: i.network.nad.name,
      ...(i.mac !== undefined ? { mac: i.mac } : {}),
      interface: i.podInterfaceName,
    });
    if (i.network.resourceName) addResource(devRes, i.network.resourceName);
    if (i.binding.kind === 'core' && i.binding.method === 'vhostUser') {
      const cfg = i.network.cniConfig ?? {};
      const type = i.network.cniType;
      const volName =
        typeof cfg['vhost_user_socket_volume_name'] === 'string'
          ? cfg['vhost_user_socket_volume_name']
          : 'vhost-user';
      const sock =
        typeof cfg['vhost_user_socket_name'] === 'string' ? cfg['vhost_user_socket_name'] : '';
      if (type === 'kube-ovn') {
        nodeSelector['ovn.kubernetes.io/ovs_dp_type'] = 'userspace';
        if (i.mac !== undefined)
          annotations[
            `${i.network.nad.name}.${i.network.nad.namespace}.ovn.kubernetes.io/mac_address`
          ] = i.mac;
        volumes.push({ name: volName, emptyDir: {} });
        mounts.push({ name: volName, mountPath: '/var/run/vhost-user' });
        env.push({ name: 'VHOST_USER_SOCKET', value: `/var/run/vhost-user/${sock}` });
        env.push({ name: 'NET_TYPE', value: 'kube-ovn' });
      } else if (type === 'userspace') {
        volumes.push({
          name: volName,
          hostPath: { path: '/usr/local/var/run/openvswitch/' },
        });
        mounts.push({ name: volName, mountPath: '/var/run/vhost-user' });
        env.push({
          name: 'USERSPACE_CONFIGURATION_DATA',
          valueFrom: {
            fieldRef: { fieldPath: "metadata.annotations['userspace/configuration-data']" },
          },
        });
        env.push({ name: 'NET_TYPE', value: 'userspace' });
      } else {
        warnings.push(
          `interface '${i.name}': CNI plugin ${type ?? '(unknown: NAD not given)'} is not supported for vhost-user`,
        );
      }
    }
  }
  if (networks.length > 0) annotations[MULTUS_NETWORKS_ANNOTATION] = JSON.stringify(networks);
  if (multus)
    env.unshift({
      name: 'NETWORK_STATUS',
      valueFrom: {
        fieldRef: { fieldPath: `metadata.annotations['${MULTUS_NETWORK_STATUS_ANNOTATION}']` },
      },
    });
  const requests: Record<string, string> = {};
  for (const [r, n] of devRes) requests[r] = String(n);
  const container: Obj = { name: 'cloud-hypervisor' };
  if (devRes.size > 0) container['resources'] = { requests, limits: { ...requests } };
  if (env.length > 0) container['env'] = env;
  if (mounts.length > 0) container['volumeMounts'] = mounts;
  const masq = ifaces.some((i) => i.binding.kind === 'core' && i.binding.method === 'masquerade');
  const spec: Obj = {};
  if (masq)
    spec['initContainers'] = [
      {
        name: 'enable-ip-forward',
        command: ['sysctl', '-w', 'net.ipv4.ip_forward=1'],
        securityContext: { privileged: true },
      },
    ];
  spec['containers'] = [container];
  if (volumes.length > 0) spec['volumes'] = volumes;
  if (Object.keys(nodeSelector).length > 0) spec['nodeSelector'] = nodeSelector;
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName: `vm-${plan.vmName}-`,
      namespace: plan.namespace,
      labels: { 'virtink.io/vm.name': plan.vmName },
      ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
    },
    spec,
  };
  return { pod, networks, warnings };
}
