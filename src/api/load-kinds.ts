// Decoders for each manifest kind bindery reads, and the apiVersion/kind dispatch that picks one.
import {
  LoadCode,
  any,
  bool,
  child,
  empty,
  index,
  int,
  isRecord,
  list,
  obj,
  quantity,
  record,
  str,
} from './decode.js';
import type { Decoder, DecodeContext } from './decode.js';
import {
  API_VERSIONS,
  RESOURCE_NAME_ANNOTATION,
  type DaemonSet,
  type K8sContainer,
  type K8sVolume,
  type K8sVolumeMount,
  type KubeVirtBindingPlugin,
  type KubeVirtCR,
  type KubeVirtInterface,
  type KubeVirtNetwork,
  type KubeVirtVirtualMachine,
  type KubeVirtVirtualMachineInstance,
  type KubeVirtVmiSpec,
  type Manifest,
  type NetworkAttachmentDefinition,
  type ObjectMeta,
  type VirtinkInterface,
  type VirtinkNetwork,
  type VirtinkVirtualMachine,
} from './types.js';

// ---------------------------------------------------------------------------------------------
// Decoders per kind

const stringMap: Decoder<Record<string, string>> = record(str);

const metadata = obj<ObjectMeta>(
  {
    name: str,
    generateName: str,
    namespace: str,
    labels: stringMap,
    annotations: stringMap,
  },
  {
    passthrough: [
      'uid',
      'resourceVersion',
      'generation',
      'creationTimestamp',
      'deletionTimestamp',
      'deletionGracePeriodSeconds',
      'finalizers',
      'ownerReferences',
      'managedFields',
      'selfLink',
    ],
  },
);

const kvPort = obj({ name: str, protocol: str, port: int }, { zero: { port: 0 } });
const kvPortRange = obj(
  { protocol: str, start: int, end: int },
  { zero: { protocol: '', start: 0, end: 0 } },
);
const kvDhcpOptions = obj({
  bootFileName: str,
  tftpServerName: str,
  ntpServers: list(str),
  privateOptions: list(obj({ option: int, value: str }, { zero: { option: 0, value: '' } })),
});

const kvInterface = obj<KubeVirtInterface>(
  {
    name: str,
    model: str,
    bridge: empty,
    masquerade: empty,
    sriov: empty,
    passtBinding: empty,
    slirp: empty,
    macvtap: empty,
    passt: empty,
    binding: obj({ name: str }, { zero: { name: '' } }),
    ports: list(kvPort),
    portRanges: list(kvPortRange),
    macAddress: str,
    bootOrder: int,
    pciAddress: str,
    dhcpOptions: kvDhcpOptions,
    tag: str,
    acpiIndex: int,
    state: str,
  },
  { zero: { name: '' } },
);

const kvNetwork = obj<KubeVirtNetwork>(
  {
    name: str,
    pod: obj({ vmNetworkCIDR: str, vmIPv6NetworkCIDR: str }),
    multus: obj({ networkName: str, default: bool }, { zero: { networkName: '' } }),
    resourceClaim: obj({ claimName: str, requestName: str }),
  },
  { zero: { name: '' } },
);

const kvDisk = obj(
  { name: str, bootOrder: int },
  {
    zero: { name: '' },
    passthrough: [
      'disk',
      'lun',
      'cdrom',
      'serial',
      'dedicatedIOThread',
      'cache',
      'io',
      'tag',
      'blockSize',
      'shareable',
      'errorPolicy',
    ],
  },
);

const kvDevices = obj(
  {
    interfaces: list(kvInterface),
    disks: list(kvDisk),
    autoattachPodInterface: bool,
    useVirtioTransitional: bool,
    networkInterfaceMultiqueue: bool,
  },
  {
    unknown: 'warning',
    passthrough: [
      'disableHotplug',
      'watchdog',
      'inputs',
      'autoattachGraphicsDevice',
      'autoattachSerialConsole',
      'logSerialConsole',
      'autoattachMemBalloon',
      'autoattachInputDevice',
      'autoattachVSOCK',
      'rng',
      'blockMultiQueue',
      'gpus',
      'downwardMetrics',
      'panicDevices',
      'filesystems',
      'hostDevices',
      'clientPassthrough',
      'sound',
      'tpm',
      'video',
    ],
  },
);

const kvDomain = obj(
  { devices: kvDevices },
  {
    zero: { devices: {} },
    unknown: 'warning',
    passthrough: [
      'resources',
      'cpu',
      'memory',
      'machine',
      'firmware',
      'clock',
      'features',
      'ioThreadsPolicy',
      'ioThreads',
      'chassis',
      'launchSecurity',
      'rebootPolicy',
    ],
  },
);

const kvProbe = obj(
  { httpGet: any, tcpSocket: any, exec: any, guestAgentPing: any },
  {
    passthrough: [
      'initialDelaySeconds',
      'timeoutSeconds',
      'periodSeconds',
      'successThreshold',
      'failureThreshold',
    ],
  },
);

const kvVmiSpec: Decoder<KubeVirtVmiSpec> = (v, path, cx) => {
  const spec = obj<KubeVirtVmiSpec>(
    {
      domain: kvDomain,
      networks: list(kvNetwork),
      readinessProbe: kvProbe,
      livenessProbe: kvProbe,
      hostname: str,
      subdomain: str,
    },
    {
      unknown: 'warning',
      required: ['domain'],
      passthrough: [
        'priorityClassName',
        'nodeSelector',
        'affinity',
        'schedulerName',
        'tolerations',
        'topologySpreadConstraints',
        'evictionStrategy',
        'startStrategy',
        'terminationGracePeriodSeconds',
        'volumes',
        'dnsPolicy',
        'dnsConfig',
        'accessCredentials',
        'architecture',
        'resourceClaims',
        'utilityVolumes',
      ],
    },
  )(v, path, cx);
  if (spec && !spec.domain) return { ...spec, domain: { devices: {} } };
  return spec;
};

const kubevirtVm = obj<KubeVirtVirtualMachine>(
  {
    apiVersion: str,
    kind: str,
    metadata,
    spec: obj(
      {
        running: bool,
        runStrategy: str,
        template: obj({ metadata, spec: kvVmiSpec }, { required: ['spec'] }),
      },
      {
        unknown: 'warning',
        required: ['template'],
        passthrough: ['instancetype', 'preference', 'dataVolumeTemplates', 'updateVolumesStrategy'],
      },
    ),
  },
  { required: ['spec'], passthrough: ['status'] },
);

const kubevirtVmi = obj<KubeVirtVirtualMachineInstance>(
  { apiVersion: str, kind: str, metadata, spec: kvVmiSpec },
  { required: ['spec'], passthrough: ['status'] },
);

const bindingPlugin = obj<KubeVirtBindingPlugin>({
  sidecarImage: str,
  networkAttachmentDefinition: str,
  domainAttachmentType: str,
  migration: obj({ method: str }),
  downwardAPI: str,
  computeResourceOverhead: obj({ requests: record(quantity), limits: record(quantity) }),
});

const kubevirtCR = obj<KubeVirtCR>(
  {
    apiVersion: str,
    kind: str,
    metadata,
    spec: obj(
      {
        imagePullPolicy: str,
        configuration: obj(
          {
            network: obj({
              defaultNetworkInterface: str,
              permitSlirpInterface: bool,
              permitBridgeInterfaceOnPodNetwork: bool,
              binding: record(bindingPlugin),
            }),
            developerConfiguration: obj(
              { featureGates: list(str), disabledFeatureGates: list(str) },
              {
                unknown: 'warning',
                passthrough: [
                  'pvcTolerateLessSpaceUpFrontPercentage',
                  'minimumReservePVCBytes',
                  'memoryOvercommit',
                  'nodeSelectors',
                  'useEmulation',
                  'cpuAllocationRatio',
                  'minimumClusterTSCFrequency',
                  'diskVerification',
                  'logVerbosity',
                  'clusterProfiler',
                ],
              },
            ),
          },
          { unknown: 'warning' },
        ),
      },
      { unknown: 'warning' },
    ),
  },
  { passthrough: ['status'] },
);

const nadRaw = obj<{
  apiVersion: string;
  kind: string;
  metadata?: ObjectMeta;
  spec?: { config?: string };
}>(
  { apiVersion: str, kind: str, metadata, spec: obj({ config: str }) },
  { passthrough: ['status'] },
);

const vtInterface = obj<VirtinkInterface>(
  {
    name: str,
    mac: str,
    bridge: empty,
    masquerade: obj({ cidr: str }),
    sriov: empty,
    vdpa: obj({ numQueues: int, iommu: bool }),
    vhostUser: empty,
  },
  { zero: { name: '' } },
);

const vtNetwork = obj<VirtinkNetwork>(
  {
    name: str,
    pod: empty,
    multus: obj({ networkName: str }, { zero: { networkName: '' } }),
  },
  { zero: { name: '' } },
);

const virtinkVm = obj<VirtinkVirtualMachine>(
  {
    apiVersion: str,
    kind: str,
    metadata,
    spec: obj(
      {
        instance: obj(
          {
            interfaces: list(vtInterface),
            cpu: obj(
              { sockets: int, coresPerSocket: int, dedicatedCPUPlacement: bool },
              { unknown: 'warning', passthrough: ['numaNodes'] },
            ),
            memory: obj(
              { size: quantity, hugepages: obj({ pageSize: quantity }) },
              { unknown: 'warning' },
            ),
          },
          { unknown: 'warning', passthrough: ['kernel', 'disks', 'fileSystems', 'gpus'] },
        ),
        networks: list(vtNetwork),
        runPolicy: str,
      },
      {
        unknown: 'warning',
        required: ['instance'],
        passthrough: [
          'nodeSelector',
          'affinity',
          'tolerations',
          'resources',
          'livenessProbe',
          'readinessProbe',
          'volumes',
        ],
      },
    ),
  },
  { required: ['spec'], passthrough: ['status'] },
);

// DaemonSet (apps/v1): the pod template fields bindery checks are typed; the Kubernetes schema's
// other fields pass through; anything else in a container or mount is an error (strict, as
// `kubectl --validate=strict`), elsewhere a warning.

const k8sVolumeMount = obj<K8sVolumeMount>(
  { name: str, mountPath: str, readOnly: bool },
  {
    zero: { name: '', mountPath: '' },
    passthrough: ['subPath', 'subPathExpr', 'mountPropagation', 'recursiveReadOnly'],
  },
);

const k8sContainer = obj<K8sContainer>(
  {
    name: str,
    image: str,
    command: list(str),
    args: list(str),
    volumeMounts: list(k8sVolumeMount),
  },
  {
    zero: { name: '' },
    passthrough: [
      'workingDir',
      'ports',
      'envFrom',
      'env',
      'resources',
      'resizePolicy',
      'restartPolicy',
      'volumeDevices',
      'livenessProbe',
      'readinessProbe',
      'startupProbe',
      'lifecycle',
      'terminationMessagePath',
      'terminationMessagePolicy',
      'imagePullPolicy',
      'securityContext',
      'stdin',
      'stdinOnce',
      'tty',
    ],
  },
);

const k8sVolume = obj<K8sVolume>(
  { name: str, hostPath: obj({ path: str, type: str }, { zero: { path: '' } }) },
  {
    zero: { name: '' },
    passthrough: [
      'emptyDir',
      'configMap',
      'secret',
      'projected',
      'downwardAPI',
      'persistentVolumeClaim',
      'csi',
      'ephemeral',
      'image',
    ],
    unknown: 'warning',
  },
);

const k8sPodSpec = obj(
  {
    initContainers: list(k8sContainer),
    containers: list(k8sContainer),
    volumes: list(k8sVolume),
  },
  {
    unknown: 'warning',
    passthrough: [
      'restartPolicy',
      'terminationGracePeriodSeconds',
      'activeDeadlineSeconds',
      'dnsPolicy',
      'nodeSelector',
      'serviceAccountName',
      'serviceAccount',
      'automountServiceAccountToken',
      'nodeName',
      'hostNetwork',
      'hostPID',
      'hostIPC',
      'shareProcessNamespace',
      'securityContext',
      'imagePullSecrets',
      'hostname',
      'subdomain',
      'affinity',
      'schedulerName',
      'tolerations',
      'hostAliases',
      'priorityClassName',
      'priority',
      'dnsConfig',
      'readinessGates',
      'runtimeClassName',
      'enableServiceLinks',
      'preemptionPolicy',
      'overhead',
      'topologySpreadConstraints',
      'setHostnameAsFQDN',
      'os',
      'hostUsers',
      'schedulingGates',
      'resourceClaims',
      'resources',
      'ephemeralContainers',
    ],
  },
);

const daemonSet = obj<DaemonSet>(
  {
    apiVersion: str,
    kind: str,
    metadata,
    spec: obj(
      {
        selector: obj(
          { matchLabels: stringMap },
          { unknown: 'warning', passthrough: ['matchExpressions'] },
        ),
        template: obj({ metadata, spec: k8sPodSpec }, { required: ['spec'] }),
      },
      {
        required: ['selector', 'template'],
        passthrough: ['updateStrategy', 'minReadySeconds', 'revisionHistoryLimit'],
      },
    ),
  },
  { required: ['spec'], passthrough: ['status'] },
);

// ---------------------------------------------------------------------------------------------
// Dispatch

const KIND_LIST =
  'KubeVirt VirtualMachine/VirtualMachineInstance/KubeVirt (kubevirt.io/v1), ' +
  'NetworkAttachmentDefinition (k8s.cni.cncf.io/v1), DaemonSet (apps/v1), ' +
  'Virtink VirtualMachine (virt.virtink.smartx.com/v1alpha1), and v1 List';

const KUBEVIRT_GROUP_VERSIONS = new Set([API_VERSIONS.kubevirt, 'kubevirt.io/v1alpha3']);

function decodeNad(
  v: unknown,
  path: string,
  cx: DecodeContext,
): NetworkAttachmentDefinition | undefined {
  const raw = nadRaw(v, path, cx);
  if (!raw) return undefined;
  const meta = raw.metadata ?? {};
  const spec = raw.spec ?? {};
  let config: Record<string, unknown> | undefined;
  if (spec.config !== undefined && spec.config.trim() !== '') {
    try {
      const parsed: unknown = JSON.parse(spec.config);
      if (isRecord(parsed)) config = parsed;
      else
        cx.error(
          child(path, 'spec.config'),
          LoadCode.NadConfig,
          'CNI config must be a JSON object',
        );
    } catch (e) {
      const msg = e instanceof Error ? e.message.split('\n')[0] : String(e);
      cx.error(
        child(path, 'spec.config'),
        LoadCode.NadConfig,
        `CNI config is not valid JSON: ${msg}`,
      );
    }
  }
  const resourceName = meta.annotations?.[RESOURCE_NAME_ANNOTATION];
  return {
    apiVersion: raw.apiVersion,
    kind: 'NetworkAttachmentDefinition',
    metadata: meta,
    spec,
    namespace: meta.namespace || 'default',
    name: meta.name ?? '',
    ...(config ? { config } : {}),
    ...(resourceName !== undefined ? { resourceName } : {}),
  };
}

/** Decodes one object by apiVersion/kind; `List` items are decoded one by one. */
export function dispatch(
  v: unknown,
  path: string,
  cx: DecodeContext,
  out: { manifest: Manifest; path: string }[],
): void {
  if (!isRecord(v)) {
    cx.error(
      path,
      LoadCode.Type,
      `expected an object with apiVersion and kind, got ${v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v}`,
    );
    return;
  }
  const apiVersion = v['apiVersion'];
  const kind = v['kind'];
  if (typeof apiVersion !== 'string' || apiVersion === '') {
    cx.error(child(path, 'apiVersion'), LoadCode.Required, 'apiVersion not set');
    return;
  }
  if (typeof kind !== 'string' || kind === '') {
    cx.error(child(path, 'kind'), LoadCode.Required, 'kind not set');
    return;
  }
  const before = cx.problems.length;
  const ok = (): boolean => !cx.problems.slice(before).some((p) => p.severity === 'error');
  if (apiVersion === 'v1' && kind === 'List') {
    const items = v['items'];
    if (!Array.isArray(items)) {
      cx.error(child(path, 'items'), LoadCode.Type, 'expected array');
      return;
    }
    items.forEach((item, i) => dispatch(item, index(child(path, 'items'), i), cx, out));
    return;
  }
  if (KUBEVIRT_GROUP_VERSIONS.has(apiVersion) && kind === 'VirtualMachine') {
    const o = kubevirtVm(v, path, cx);
    if (o && ok())
      out.push({
        manifest: { type: 'kubevirt-vm', object: { ...o, kind, metadata: o.metadata ?? {} } },
        path,
      });
    return;
  }
  if (KUBEVIRT_GROUP_VERSIONS.has(apiVersion) && kind === 'VirtualMachineInstance') {
    const o = kubevirtVmi(v, path, cx);
    if (o && ok())
      out.push({
        manifest: { type: 'kubevirt-vmi', object: { ...o, kind, metadata: o.metadata ?? {} } },
        path,
      });
    return;
  }
  if (KUBEVIRT_GROUP_VERSIONS.has(apiVersion) && kind === 'KubeVirt') {
    const o = kubevirtCR(v, path, cx);
    if (o && ok())
      out.push({
        manifest: {
          type: 'kubevirt-cr',
          object: { ...o, kind, metadata: o.metadata ?? {}, spec: o.spec ?? {} },
        },
        path,
      });
    return;
  }
  if (apiVersion === API_VERSIONS.nad && kind === 'NetworkAttachmentDefinition') {
    const o = decodeNad(v, path, cx);
    if (o && ok()) out.push({ manifest: { type: 'nad', object: o }, path });
    return;
  }
  if (apiVersion === API_VERSIONS.apps && kind === 'DaemonSet') {
    const o = daemonSet(v, path, cx);
    if (o && ok())
      out.push({
        manifest: { type: 'daemonset', object: { ...o, kind, metadata: o.metadata ?? {} } },
        path,
      });
    return;
  }
  if (apiVersion === API_VERSIONS.virtink && kind === 'VirtualMachine') {
    const o = virtinkVm(v, path, cx);
    if (o && ok())
      out.push({
        manifest: { type: 'virtink-vm', object: { ...o, kind, metadata: o.metadata ?? {} } },
        path,
      });
    return;
  }
  cx.error(
    child(path, 'kind'),
    LoadCode.Kind,
    `unsupported kind "${kind}" in apiVersion "${apiVersion}"; bindery reads ${KIND_LIST}`,
  );
}
