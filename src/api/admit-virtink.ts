// Virtink admission: ValidateVM's network rules (facts-virtink §1) plus the checks Virtink lacks, as field errors.
//
// Messages follow Kubernetes field errors as Virtink returns them (`Required value`,
// `Duplicate value: "x"`, `Invalid value: "x": detail`, `Forbidden: detail`), without the path.
// Rules marked (bindery) are not made by Virtink and their messages say so.
//
// Every code, its rule and its source (facts-virtink sections) are listed in docs/errors.md
// ("Virtink admission codes"); a test keeps `VirtinkCode` and that table in step.
import type {
  FieldError,
  VirtinkInterface,
  VirtinkNetwork,
  VirtinkVirtualMachine,
} from './types.js';
import { VIRTINK_BINDING_METHODS } from './types.js';
import { parseCidr, parseMac } from './syntax.js';

const P = 'BINDERY_ADM_VT_';

/** Stable codes of Virtink admission errors. */
export const VirtinkCode = {
  IfaceNameDuplicate: `${P}IFACE_NAME_DUPLICATE`,
  IfaceNameRequired: `${P}IFACE_NAME_REQUIRED`,
  MacRequired: `${P}MAC_REQUIRED`,
  MacInvalid: `${P}MAC_INVALID`,
  BindingMultiple: `${P}BINDING_MULTIPLE`,
  BindingRequired: `${P}BINDING_REQUIRED`,
  MasqCidrRequired: `${P}MASQ_CIDR_REQUIRED`,
  MasqCidrInvalid: `${P}MASQ_CIDR_INVALID`,
  MasqCidrTooSmall: `${P}MASQ_CIDR_TOO_SMALL`,
  VhostUserRequirements: `${P}VHOSTUSER_REQUIREMENTS`,
  NetNameDuplicate: `${P}NET_NAME_DUPLICATE`,
  NetNameRequired: `${P}NET_NAME_REQUIRED`,
  NetSourceMultiple: `${P}NET_SOURCE_MULTIPLE`,
  NetSourceRequired: `${P}NET_SOURCE_REQUIRED`,
  MultusNameRequired: `${P}MULTUS_NAME_REQUIRED`,
  UpdateForbidden: `${P}UPDATE_FORBIDDEN`,
  IfaceNoNetwork: `${P}IFACE_NO_NETWORK`,
  NetNoInterface: `${P}NET_NO_INTERFACE`,
  MasqNotPod: `${P}MASQ_NOT_POD`,
  DeviceNotMultus: `${P}DEVICE_NOT_MULTUS`,
  PodNetMultiple: `${P}POD_NET_MULTIPLE`,
  VdpaNumQueues: `${P}VDPA_NUM_QUEUES`,
  MasqMultiple: `${P}MASQ_MULTIPLE`,
  MasqCidrIPv6: `${P}MASQ_CIDR_IPV6`,
} as const;

const NOT_VALIDATED = 'bindery check; Virtink does not validate this';

/**
 * Validates a Virtink VM (after defaulting) like `ValidateVM`, plus bindery's checks of what
 * Virtink leaves open. All errors at once; never throws.
 */
export function admitVirtinkVm(vm: VirtinkVirtualMachine): FieldError[] {
  const errs: FieldError[] = [];
  const interfaces = vm.spec.instance.interfaces ?? [];
  const networks = vm.spec.networks ?? [];
  const ip = (i: number, f?: string): string => `spec.instance.interfaces[${i}]${f ? '.' + f : ''}`;
  const np = (i: number, f?: string): string => `spec.networks[${i}]${f ? '.' + f : ''}`;
  const instance = vm.spec.instance;
  const vhostUserOk =
    instance.cpu?.dedicatedCPUPlacement === true && instance.memory?.hugepages !== undefined;

  const ifaceNames = new Set<string>();
  interfaces.forEach((iface, i) => {
    if (iface.name === '')
      errs.push({
        path: ip(i, 'name'),
        code: VirtinkCode.IfaceNameRequired,
        message: 'Required value',
      });
    else if (ifaceNames.has(iface.name))
      errs.push({
        path: ip(i, 'name'),
        code: VirtinkCode.IfaceNameDuplicate,
        message: `Duplicate value: ${JSON.stringify(iface.name)}`,
      });
    ifaceNames.add(iface.name);

    const mac = iface.mac ?? '';
    if (mac === '')
      errs.push({ path: ip(i, 'mac'), code: VirtinkCode.MacRequired, message: 'Required value' });
    const parsed = parseMac(mac);
    if ('error' in parsed)
      errs.push({
        path: ip(i, 'mac'),
        code: VirtinkCode.MacInvalid,
        message: `Invalid value: ${JSON.stringify(mac)}: ${parsed.error}`,
      });

    let first: (typeof VIRTINK_BINDING_METHODS)[number] | undefined;
    for (const m of VIRTINK_BINDING_METHODS) {
      if (iface[m] === undefined) continue;
      if (first === undefined) first = m;
      else
        errs.push({
          path: ip(i, m),
          code: VirtinkCode.BindingMultiple,
          message: 'Forbidden: may not specify more than 1 binding method',
        });
    }
    if (first === undefined)
      errs.push({
        path: ip(i),
        code: VirtinkCode.BindingRequired,
        message: 'Required value: at least 1 binding method is required',
      });
    if (first === 'masquerade') errs.push(...cidrErrors(iface, ip(i, 'masquerade.cidr')));
    if (first === 'vhostUser' && !vhostUserOk)
      errs.push({
        path: ip(i, 'vhostUser'),
        code: VirtinkCode.VhostUserRequirements,
        message:
          'Forbidden: may not use vhost-user interface without dedicated CPU placement and hugepages',
      });
  });

  const netNames = new Set<string>();
  networks.forEach((n, i) => {
    if (n.name === '')
      errs.push({
        path: np(i, 'name'),
        code: VirtinkCode.NetNameRequired,
        message: 'Required value',
      });
    else if (netNames.has(n.name))
      errs.push({
        path: np(i, 'name'),
        code: VirtinkCode.NetNameDuplicate,
        message: `Duplicate value: ${JSON.stringify(n.name)}`,
      });
    netNames.add(n.name);
    let count = 0;
    for (const s of ['pod', 'multus'] as const) {
      if (n[s] === undefined) continue;
      count++;
      if (count > 1)
        errs.push({
          path: np(i, s),
          code: VirtinkCode.NetSourceMultiple,
          message: 'Forbidden: may not specify more than 1 network source',
        });
    }
    if (count === 0)
      errs.push({
        path: np(i),
        code: VirtinkCode.NetSourceRequired,
        message: 'Required value: at least 1 network source is required',
      });
    if (n.multus && n.multus.networkName === '')
      errs.push({
        path: np(i, 'multus.networkName'),
        code: VirtinkCode.MultusNameRequired,
        message: 'Required value',
      });
  });

  // bindery's checks
  const netByName = new Map<string, VirtinkNetwork>();
  for (const n of networks) if (!netByName.has(n.name)) netByName.set(n.name, n);
  const podCount = networks.filter((n) => n.pod !== undefined).length;
  if (podCount > 1)
    errs.push({
      path: 'spec.networks',
      code: VirtinkCode.PodNetMultiple,
      message: `more than one pod network (${NOT_VALIDATED}; the pod has one eth0)`,
    });
  interfaces.forEach((iface, i) => {
    const net = netByName.get(iface.name);
    if (!net) {
      errs.push({
        path: ip(i, 'name'),
        code: VirtinkCode.IfaceNoNetwork,
        message: `interface "${iface.name}" has no network of the same name (${NOT_VALIDATED}; its prerunner silently ignores the interface)`,
      });
      return;
    }
    if (iface.masquerade && !net.pod)
      errs.push({
        path: ip(i, 'masquerade'),
        code: VirtinkCode.MasqNotPod,
        message: `masquerade is only allowed to connect to the pod network (${NOT_VALIDATED}, although its docs say so)`,
      });
    for (const m of ['sriov', 'vdpa', 'vhostUser'] as const) {
      if (iface[m] !== undefined && net.pod !== undefined)
        errs.push({
          path: ip(i, m),
          code: VirtinkCode.DeviceNotMultus,
          message: `${m} needs a multus network: the device comes from the CNI's network-status (${NOT_VALIDATED})`,
        });
    }
  });
  interfaces.forEach((iface, i) => {
    if (iface.vdpa && !(typeof iface.vdpa.numQueues === 'number' && iface.vdpa.numQueues >= 1))
      errs.push({
        path: ip(i, 'vdpa.numQueues'),
        code: VirtinkCode.VdpaNumQueues,
        message: `Invalid value: ${iface.vdpa.numQueues ?? 0}: must be at least 1; Cloud Hypervisor would get num_queues 0 (${NOT_VALIDATED})`,
      });
  });
  const masq = interfaces
    .map((iface, i) => ({ iface, i }))
    .filter((x) => x.iface.masquerade !== undefined);
  masq.slice(1).forEach(({ i }) =>
    errs.push({
      path: ip(i, 'masquerade'),
      code: VirtinkCode.MasqMultiple,
      message: `only one masquerade interface per VM: each adds an init container named enable-ip-forward and the API server rejects the duplicate (${NOT_VALIDATED})`,
    }),
  );
  networks.forEach((n, i) => {
    if (!interfaces.some((x) => x.name === n.name))
      errs.push({
        path: np(i, 'name'),
        code: VirtinkCode.NetNoInterface,
        message: `network "${n.name}" has no interface of the same name (${NOT_VALIDATED}; its controller fails with "interface not found for network: ${n.name}")`,
      });
  });
  return errs;
}

function cidrErrors(iface: VirtinkInterface, path: string): FieldError[] {
  const cidr = iface.masquerade?.cidr ?? '';
  if (cidr === '') return [{ path, code: VirtinkCode.MasqCidrRequired, message: 'Required value' }];
  const c = parseCidr(cidr);
  const q = JSON.stringify(cidr);
  if ('error' in c)
    return [
      { path, code: VirtinkCode.MasqCidrInvalid, message: `Invalid value: ${q}: ${c.error}` },
      {
        path,
        code: VirtinkCode.MasqCidrInvalid,
        message: `Invalid value: ${q}: must specify subnet`,
      },
    ];
  if (c.family === 4 && c.prefix > 30)
    return [
      {
        path,
        code: VirtinkCode.MasqCidrTooSmall,
        message: `Invalid value: ${q}: must contain at least 4 IPs`,
      },
    ];
  if (c.family === 6)
    return [
      {
        path,
        code: VirtinkCode.MasqCidrIPv6,
        message: `Invalid value: ${q}: masquerade needs an IPv4 subnet: its NAT and DHCP are IPv4 only (${NOT_VALIDATED})`,
      },
    ];
  return [];
}

function withoutMutable(vm: VirtinkVirtualMachine): unknown {
  const { runPolicy: _r, extra, instance, ...rest } = vm.spec;
  const { volumes: _v, ...extraRest } = extra ?? {};
  const { extra: iExtra, ...instRest } = instance;
  const { disks: _d, ...iExtraRest } = iExtra ?? {};
  return { ...rest, extra: extraRest, instance: { ...instRest, extra: iExtraRest } };
}

function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    x && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(
          Object.entries(x as Record<string, unknown>)
            .filter(([, y]) => y !== undefined)
            .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : x,
  );
}

/**
 * `ValidateVMUpdate`: the spec is immutable except runPolicy, volumes and instance.disks
 * (compare after defaulting the new VM with the old one's MACs).
 */
export function admitVirtinkVmUpdate(
  old: VirtinkVirtualMachine,
  vm: VirtinkVirtualMachine,
): FieldError[] {
  const errs = admitVirtinkVm(vm);
  if (canonical(withoutMutable(old)) !== canonical(withoutMutable(vm)))
    errs.push({
      path: 'spec',
      code: VirtinkCode.UpdateForbidden,
      message: 'Forbidden: VM spec may not be updated except runPolicy, volumes, instance.disks',
    });
  return errs;
}

/** Virtink's `Migratable` condition for a VM. */
export interface VirtinkMigratability {
  readonly migratable: boolean;
  readonly reason?: string;
  readonly message?: string;
}

/** `calculateMigratableCondition` (facts-virtink §4): whether Virtink would let the VM migrate. */
export function virtinkMigratable(vm: VirtinkVirtualMachine): VirtinkMigratability {
  const interfaces = vm.spec.instance.interfaces ?? [];
  const networks = vm.spec.networks ?? [];
  if (vm.spec.instance.cpu?.dedicatedCPUPlacement)
    return { migratable: false, reason: 'CPUNotMigratable' };
  for (const iface of interfaces) {
    const net = networks.find((n) => n.name === iface.name);
    if (net?.pod && iface.bridge)
      return {
        migratable: false,
        reason: 'InterfaceNotMigratable',
        message: 'migration is disabled when VM has a bridged interface to the pod network',
      };
    if (iface.sriov)
      return {
        migratable: false,
        reason: 'InterfaceNotMigratable',
        message: 'migration is disabled when VM has a SR-IOV interface',
      };
    if (iface.vhostUser)
      return {
        migratable: false,
        reason: 'InterfaceNotMigratable',
        message: 'migration is disable when VM has a vhost-user interface',
      };
  }
  const volumes = vm.spec.extra?.['volumes'];
  if (
    Array.isArray(volumes) &&
    volumes.some(
      (v) =>
        typeof v === 'object' && v !== null && ('containerRootfs' in v || 'containerDisk' in v),
    )
  )
    return { migratable: false, reason: 'VolumeNotMigratable' };
  const fs = vm.spec.instance.extra?.['fileSystems'];
  if (Array.isArray(fs) && fs.length > 0)
    return { migratable: false, reason: 'FileSystemNotMigratable' };
  return { migratable: true };
}
