// SR-IOV and vDPA interfaces: the VF bound to vfio-pci, the vhost-vdpa node checked, from the Multus device-info.
//
// Theory of operation. The CNI (SR-IOV CNI, a vDPA-capable fork) reports the device it gave the
// pod in the Multus network-status; the plan carries it as `device` (facts-virtink §2 "SR-IOV",
// "vDPA"; facts-kubevirt, network-info). Nothing is set up in the pod's network namespace for
// these interfaces: the hypervisor opens the device itself, so all that is left is to make the
// device usable and to fail clearly when it is not.
//
// SR-IOV (the kernel's documented sysfs interface, Documentation/ABI/testing/sysfs-bus-pci):
//   1. `<sysfs>/bus/pci/devices/<BDF>` must exist; its `driver` symlink names the bound driver.
//   2. Not on vfio-pci yet: write `vfio-pci` to `driver_override`, the BDF to `driver/unbind`
//      (when bound), then the BDF to `<sysfs>/bus/pci/drivers_probe`; the kernel then binds the
//      device to the overriding driver. vfio-pci probes synchronously, but `driver` is re-read
//      up to a deadline so a driver that probes asynchronously (or a test standing in for the
//      kernel) is seen too.
//   3. The `iommu_group` symlink names the group; `<dev>/vfio/<group>` is the node the
//      hypervisor opens (the SR-IOV device plugin mounts it into the pod) and must be a
//      character device.
// Release undoes 2: clear `driver_override`, unbind from vfio-pci, write the BDF to
// `<sysfs>/bus/pci/drivers/<previous>/bind`. A device that has gone away is not an error.
//
// vDPA: the CNI reports `/dev/vhost-vdpa-N`; it must be a character device under the /dev root.
// `numQueues`/`iommu` come from the plan and are only passed on to the renderers.
//
// The path and write-list helpers are pure; `prepareDevice`/`releaseDevice` do the file I/O.
import { constants as fsc } from 'node:fs';
import { readlink, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { BinderyError, ErrorCode } from '../errors.js';
import type { BindingPlan } from '../plan/types.js';

/** Where the host's sysfs and /dev are (a fabricated tree in tests). */
export interface DeviceRoots {
  /** Default `/sys`. */
  readonly sysfsRoot?: string;
  /** Default `/dev`. */
  readonly devRoot?: string;
  /** How long to wait for the kernel to show a (re)bound driver; default 5000 ms. */
  readonly bindTimeoutMs?: number;
}

/** What preparing a device did, for pod-net's state (so `down` can undo it). */
export interface PreparedDevice {
  readonly interfaceName: string;
  readonly kind: 'sriov' | 'vdpa';
  /** SR-IOV: the VF's PCI address and the driver it had before (restored on down). */
  readonly pciAddress?: string;
  readonly previousDriver?: string;
  /** SR-IOV: true when prepareDevice moved the VF to vfio-pci (false: it already was). */
  readonly reboundToVfio?: boolean;
  /** SR-IOV: the IOMMU group number. */
  readonly iommuGroup?: string;
  /** SR-IOV: the VFIO group node the hypervisor opens, e.g. `/dev/vfio/42`. */
  readonly vfioGroup?: string;
  /** vDPA: the vhost-vdpa character device (as the CNI reported it). */
  readonly vdpaPath?: string;
  /** vDPA: the queue count and IOMMU flag the hypervisor is given (from the plan). */
  readonly numQueues?: number;
  readonly iommu?: boolean;
}

/** The driver SR-IOV VFs must be bound to for VFIO passthrough. */
export const VFIO_DRIVER = 'vfio-pci';

const DEFAULT_SYSFS = '/sys';
const DEFAULT_DEV = '/dev';
const DEFAULT_BIND_TIMEOUT_MS = 5000;

// ---- pure helpers ------------------------------------------------------------------------

/**
 * Checks and normalises a PCI address as Linux names devices in sysfs (`DDDD:BB:SS.F`, lower
 * case; the domain may be longer than four digits on some hosts).
 * @param s - the address as reported
 * @returns the normalised address, or undefined when it is not one (it is used in paths)
 */
export function parsePciAddress(s: string): string | undefined {
  const m = /^([0-9a-f]{4,8}):([0-9a-f]{2}):([0-1][0-9a-f])\.([0-7])$/i.exec(s.trim());
  return m ? s.trim().toLowerCase() : undefined;
}

/** The sysfs files of one PCI device that binding touches. */
export interface PciPaths {
  readonly device: string;
  readonly driverLink: string;
  readonly driverOverride: string;
  readonly iommuGroupLink: string;
  readonly driversProbe: string;
  /** `<sysfs>/bus/pci/drivers/<name>/<bind|unbind>`. */
  readonly driverFile: (driver: string, file: 'bind' | 'unbind') => string;
}

/**
 * The sysfs paths of a PCI device.
 * @param sysfsRoot - the sysfs mount (`/sys`)
 * @param address - a normalised PCI address
 * @returns its paths
 */
export function pciPaths(sysfsRoot: string, address: string): PciPaths {
  const device = join(sysfsRoot, 'bus/pci/devices', address);
  return {
    device,
    driverLink: join(device, 'driver'),
    driverOverride: join(device, 'driver_override'),
    iommuGroupLink: join(device, 'iommu_group'),
    driversProbe: join(sysfsRoot, 'bus/pci/drivers_probe'),
    driverFile: (driver, file) => join(sysfsRoot, 'bus/pci/drivers', driver, file),
  };
}

/** One write to a sysfs attribute, and why. */
export interface SysfsWrite {
  readonly path: string;
  readonly value: string;
  readonly step: string;
}

/**
 * The writes that move a device to vfio-pci (empty when it is already there).
 * @param p - the device's paths
 * @param address - its PCI address
 * @param current - its current driver, undefined when unbound
 * @returns the writes, in order
 */
export function vfioBindWrites(
  p: PciPaths,
  address: string,
  current: string | undefined,
): SysfsWrite[] {
  if (current === VFIO_DRIVER) return [];
  return [
    { path: p.driverOverride, value: VFIO_DRIVER, step: 'set driver_override' },
    ...(current !== undefined
      ? [{ path: p.driverFile(current, 'unbind'), value: address, step: `unbind from ${current}` }]
      : []),
    { path: p.driversProbe, value: address, step: 'probe' },
  ];
}

/**
 * The writes that give a device back to its previous driver.
 * @param p - the device's paths
 * @param address - its PCI address
 * @param current - its current driver, undefined when unbound
 * @param previous - the driver it had before prepareDevice, undefined when it had none
 * @returns the writes, in order
 */
export function restoreWrites(
  p: PciPaths,
  address: string,
  current: string | undefined,
  previous: string | undefined,
): SysfsWrite[] {
  // A newline clears driver_override (the kernel strips it and treats empty as "none").
  const out: SysfsWrite[] = [
    { path: p.driverOverride, value: '\n', step: 'clear driver_override' },
  ];
  if (current === previous) return out;
  if (current !== undefined)
    out.push({
      path: p.driverFile(current, 'unbind'),
      value: address,
      step: `unbind from ${current}`,
    });
  if (previous !== undefined)
    out.push({ path: p.driverFile(previous, 'bind'), value: address, step: `bind to ${previous}` });
  return out;
}

/**
 * Where a /dev path of the host is under the given /dev root (`/dev/vhost-vdpa-0` →
 * `<devRoot>/vhost-vdpa-0`).
 * @param path - an absolute path under /dev
 * @param devRoot - the /dev root
 * @returns the mapped path, or undefined when `path` is not a plain path under /dev
 */
export function devPath(path: string, devRoot: string): string | undefined {
  if (!path.startsWith('/dev/')) return undefined;
  const rest = path.slice('/dev/'.length);
  if (rest === '' || rest.split('/').some((c) => c === '' || c === '.' || c === '..'))
    return undefined;
  return join(devRoot, rest);
}

function networkLabel(iface: BindingPlan): string {
  return iface.network.kind === 'multus'
    ? `${iface.network.nad.namespace}/${iface.network.nad.name}`
    : 'pod';
}

/**
 * Why an SR-IOV (hostdev) or vDPA interface cannot be prepared for want of device-info (pure:
 * pod-net checks every interface before it touches anything).
 * @param iface - the interface's plan
 * @returns the message (starting `interface 'NAME':`), or undefined when its device is known
 *   or it has no host device
 */
export function missingDeviceInfo(iface: BindingPlan): string | undefined {
  const what =
    iface.attachment === 'hostdev' && iface.device?.pciAddress === undefined
      ? "the SR-IOV VF's PCI address"
      : iface.attachment === 'vdpa' && iface.device?.vdpaPath === undefined
        ? 'the vhost-vdpa device'
        : undefined;
  return what === undefined
    ? undefined
    : `interface '${iface.name}': no device-info for network ${networkLabel(iface)} (pod interface ${iface.podInterfaceName}) in the network-status: ${what} is unknown`;
}

// ---- I/O edge ----------------------------------------------------------------------------

function errnoOf(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}

async function linkBase(path: string): Promise<string | undefined> {
  try {
    return basename(await readlink(path));
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') return undefined;
    throw e;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (e) {
    if (errnoOf(e) === 'ENOENT' || errnoOf(e) === 'ENOTDIR') return false;
    throw e;
  }
}

async function isCharDevice(path: string): Promise<boolean | undefined> {
  try {
    return (await stat(path)).isCharacterDevice();
  } catch (e) {
    if (errnoOf(e) === 'ENOENT' || errnoOf(e) === 'ENOTDIR') return undefined;
    throw e;
  }
}

async function applyWrites(iface: string, address: string, writes: SysfsWrite[]): Promise<void> {
  for (const w of writes) {
    try {
      // No O_CREAT: sysfs attributes exist or the step is wrong (a missing driver, say).
      await writeFile(w.path, w.value, { flag: fsc.O_WRONLY | fsc.O_TRUNC });
    } catch (e) {
      throw new BinderyError(
        ErrorCode.DeviceBind,
        `interface '${iface}': SR-IOV VF ${address}: ${w.step} failed (write ${w.path}: ${errnoOf(e) ?? String(e)})`,
        { cause: e },
      );
    }
  }
}

async function waitForDriver(
  driverLink: string,
  want: string | undefined,
  timeoutMs: number,
): Promise<string | undefined> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const now = await linkBase(driverLink);
    if (now === want || Date.now() >= end) return now;
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function prepareSriov(
  iface: BindingPlan,
  sysfs: string,
  dev: string,
  timeoutMs: number,
): Promise<PreparedDevice> {
  const raw = iface.device?.pciAddress;
  if (raw === undefined)
    throw new BinderyError(ErrorCode.DeviceInfoMissing, missingDeviceInfo(iface) ?? '');
  const address = parsePciAddress(raw);
  if (address === undefined)
    throw new BinderyError(
      ErrorCode.DeviceMissing,
      `interface '${iface.name}': the network-status reports '${raw}', which is not a PCI address`,
    );
  const p = pciPaths(sysfs, address);
  if (!(await exists(p.device)))
    throw new BinderyError(
      ErrorCode.DeviceMissing,
      `interface '${iface.name}': SR-IOV VF ${address} not found (${p.device} does not exist)`,
    );
  const previous = await linkBase(p.driverLink);
  await applyWrites(iface.name, address, vfioBindWrites(p, address, previous));
  const now = await waitForDriver(p.driverLink, VFIO_DRIVER, timeoutMs);
  if (now !== VFIO_DRIVER)
    throw new BinderyError(
      ErrorCode.DeviceBind,
      `interface '${iface.name}': SR-IOV VF ${address} is bound to ${now ?? 'no driver'} after the probe, not ${VFIO_DRIVER} (is the vfio-pci module loaded?)`,
    );
  const group = await linkBase(p.iommuGroupLink);
  if (group === undefined)
    throw new BinderyError(
      ErrorCode.DeviceBind,
      `interface '${iface.name}': SR-IOV VF ${address} has no IOMMU group (${p.iommuGroupLink}); is the IOMMU enabled?`,
    );
  const node = join(dev, 'vfio', group);
  const isChar = await isCharDevice(node);
  if (isChar !== true)
    throw new BinderyError(
      ErrorCode.DeviceMissing,
      `interface '${iface.name}': the VFIO group node ${node} of VF ${address} ${isChar === undefined ? 'does not exist' : 'is not a character device'}`,
    );
  return {
    interfaceName: iface.name,
    kind: 'sriov',
    pciAddress: address,
    ...(previous !== undefined ? { previousDriver: previous } : {}),
    reboundToVfio: previous !== VFIO_DRIVER,
    iommuGroup: group,
    vfioGroup: node,
  };
}

async function prepareVdpa(iface: BindingPlan, dev: string): Promise<PreparedDevice> {
  const reported = iface.device?.vdpaPath;
  if (reported === undefined)
    throw new BinderyError(ErrorCode.DeviceInfoMissing, missingDeviceInfo(iface) ?? '');
  const node = devPath(reported, dev);
  if (node === undefined)
    throw new BinderyError(
      ErrorCode.DeviceMissing,
      `interface '${iface.name}': the network-status reports vDPA device '${reported}', which is not a path under /dev`,
    );
  const isChar = await isCharDevice(node);
  if (isChar !== true)
    throw new BinderyError(
      ErrorCode.DeviceMissing,
      `interface '${iface.name}': the vDPA device ${reported} (${node}) ${isChar === undefined ? 'does not exist' : 'is not a character device'}`,
    );
  return {
    interfaceName: iface.name,
    kind: 'vdpa',
    vdpaPath: reported,
    numQueues: iface.vdpa?.numQueues ?? 1,
    iommu: iface.vdpa?.iommu ?? false,
  };
}

/**
 * Prepares the device of an SR-IOV (hostdev) or vDPA interface.
 * @param iface - the interface's plan (its `device` comes from the network-status)
 * @param roots - sysfs and /dev roots
 * @returns what was done
 * @throws BinderyError DeviceInfoMissing, DeviceMissing or DeviceBind, naming the interface
 */
export async function prepareDevice(
  iface: BindingPlan,
  roots: DeviceRoots = {},
): Promise<PreparedDevice> {
  const sysfs = roots.sysfsRoot ?? DEFAULT_SYSFS;
  const dev = roots.devRoot ?? DEFAULT_DEV;
  if (iface.attachment === 'vdpa') return prepareVdpa(iface, dev);
  if (iface.attachment === 'hostdev')
    return prepareSriov(iface, sysfs, dev, roots.bindTimeoutMs ?? DEFAULT_BIND_TIMEOUT_MS);
  throw new BinderyError(
    ErrorCode.DeviceMissing,
    `interface '${iface.name}': attachment '${iface.attachment}' has no host device to prepare`,
  );
}

/**
 * Undoes prepareDevice (rebinds the VF to its previous driver). Missing devices are fine.
 * @param prepared - from prepareDevice
 * @param roots - sysfs and /dev roots
 * @throws BinderyError DeviceBind when the VF exists but cannot be given back
 */
export async function releaseDevice(
  prepared: PreparedDevice,
  roots: DeviceRoots = {},
): Promise<void> {
  if (prepared.kind !== 'sriov' || prepared.pciAddress === undefined) return;
  if (prepared.reboundToVfio === false) return; // it was on vfio-pci before us: leave it
  const address = prepared.pciAddress;
  const p = pciPaths(roots.sysfsRoot ?? DEFAULT_SYSFS, address);
  if (!(await exists(p.device))) return;
  const current = await linkBase(p.driverLink);
  await applyWrites(
    prepared.interfaceName,
    address,
    restoreWrites(p, address, current, prepared.previousDriver),
  );
  const now = await waitForDriver(
    p.driverLink,
    prepared.previousDriver,
    roots.bindTimeoutMs ?? DEFAULT_BIND_TIMEOUT_MS,
  );
  if (now !== prepared.previousDriver)
    throw new BinderyError(
      ErrorCode.DeviceBind,
      `interface '${prepared.interfaceName}': SR-IOV VF ${address} is bound to ${now ?? 'no driver'} after release, not ${prepared.previousDriver ?? 'no driver'}`,
    );
}
