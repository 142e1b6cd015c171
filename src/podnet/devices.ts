// SR-IOV and vDPA interfaces: the VF bound to vfio-pci, the vhost-vdpa node checked, from the Multus device-info.
//
// Placeholder so pod-net and the device code can be built apart; the real implementation replaces it.
import type { BindingPlan } from '../plan/types.js';

/** Where the host's sysfs and /dev are (a fabricated tree in tests). */
export interface DeviceRoots {
  /** Default `/sys`. */
  readonly sysfsRoot?: string;
  /** Default `/dev`. */
  readonly devRoot?: string;
}

/** What preparing a device did, for pod-net's state (so `down` can undo it). */
export interface PreparedDevice {
  readonly interfaceName: string;
  readonly kind: 'sriov' | 'vdpa';
  /** SR-IOV: the VF's PCI address and the driver it had before (restored on down). */
  readonly pciAddress?: string;
  readonly previousDriver?: string;
  /** SR-IOV: the VFIO group node the hypervisor opens, e.g. `/dev/vfio/42`. */
  readonly vfioGroup?: string;
  /** vDPA: the vhost-vdpa character device. */
  readonly vdpaPath?: string;
}

/**
 * Prepares the device of an SR-IOV (hostdev) or vDPA interface.
 * @param iface - the interface's plan (its `device` comes from the network-status)
 * @param roots - sysfs and /dev roots
 * @returns what was done
 */
export async function prepareDevice(
  iface: BindingPlan,
  roots: DeviceRoots = {},
): Promise<PreparedDevice> {
  void roots;
  return { interfaceName: iface.name, kind: iface.attachment === 'vdpa' ? 'vdpa' : 'sriov' };
}

/**
 * Undoes prepareDevice (rebinds the VF to its previous driver). Missing devices are fine.
 * @param prepared - from prepareDevice
 * @param roots - sysfs and /dev roots
 */
export async function releaseDevice(
  prepared: PreparedDevice,
  roots: DeviceRoots = {},
): Promise<void> {
  void prepared;
  void roots;
}
