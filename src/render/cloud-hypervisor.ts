// Cloud Hypervisor VM config (net, devices, vdpa, shared memory) for a Virtink VM's network.
import type { VmNetworkPlan } from '../plan/types.js';
import { vhostUserSocket } from './domain-xml.js';

/** Cloud Hypervisor `NetConfig` (the fields Virtink sets). */
export interface ChNetConfig {
  readonly id: string;
  readonly tap?: string;
  readonly mac?: string;
  readonly mtu?: number;
  readonly vhost_user?: boolean;
  readonly vhost_mode?: 'Server' | 'Client';
  readonly vhost_socket?: string;
}

/** Cloud Hypervisor `DeviceConfig`: a VFIO device by sysfs path. */
export interface ChDeviceConfig {
  readonly id: string;
  readonly path: string;
}

/** Cloud Hypervisor `VdpaConfig`. */
export interface ChVdpaConfig {
  readonly id: string;
  readonly path: string;
  readonly num_queues: number;
  readonly iommu: boolean;
}

/**
 * The network part of a Cloud Hypervisor `VmConfig`, to be merged into the VM's config:
 * `memory.shared` is set when a vhost-user NIC needs it; the memory size stays with the VM.
 */
export interface ChNetworkConfig {
  readonly net?: readonly ChNetConfig[];
  readonly devices?: readonly ChDeviceConfig[];
  readonly vdpa?: readonly ChVdpaConfig[];
  readonly memory?: { readonly shared: true };
}

/** The rendered config and what could not be rendered. */
export interface ChRender {
  readonly config: ChNetworkConfig;
  readonly warnings: readonly string[];
}

/**
 * Renders the Cloud Hypervisor network config of a plan, as virt-prerunner fills it:
 * bridge/masquerade → `net[{id, tap: tap-<link>, mac, mtu}]`; SR-IOV →
 * `devices[{id, path: /sys/bus/pci/devices/<BDF>}]`; vDPA → `vdpa[{id, num_queues, iommu, path}]`;
 * vhost-user → `net[{id, mac, mtu, vhost_user, vhost_mode: Server, vhost_socket}]` plus shared memory.
 * SR-IOV and vDPA devices need the network-status; without it they are left out with a warning
 * (Virtink skips them silently).
 * @param plan - the VM's network plan
 * @returns the config fragment and warnings
 */
export function renderCloudHypervisor(plan: VmNetworkPlan): ChRender {
  const net: ChNetConfig[] = [];
  const devices: ChDeviceConfig[] = [];
  const vdpa: ChVdpaConfig[] = [];
  const warnings: string[] = [];
  let shared = false;
  for (const i of plan.interfaces) {
    if (i.state === 'absent') continue;
    const macMtu = {
      ...(i.mac !== undefined ? { mac: i.mac } : {}),
      ...(i.mtu !== undefined ? { mtu: i.mtu } : {}),
    };
    switch (i.attachment) {
      case 'tap':
        net.push({ id: i.name, tap: i.tapName ?? i.podInterfaceName, ...macMtu });
        break;
      case 'hostdev':
        if (i.device?.pciAddress !== undefined)
          devices.push({ id: i.name, path: `/sys/bus/pci/devices/${i.device.pciAddress}` });
        else
          warnings.push(
            `interface '${i.name}': SR-IOV device needs the VF PCI address from the pod's network-status (--network-status)`,
          );
        break;
      case 'vdpa':
        if (i.device?.vdpaPath !== undefined)
          vdpa.push({
            id: i.name,
            path: i.device.vdpaPath,
            num_queues: i.vdpa?.numQueues ?? 1,
            iommu: i.vdpa?.iommu ?? false,
          });
        else
          warnings.push(
            `interface '${i.name}': vDPA device needs the vhost-vdpa path from the pod's network-status (--network-status)`,
          );
        break;
      case 'vhostuser': {
        shared = true;
        const socket = vhostUserSocket(i);
        if (socket === undefined)
          warnings.push(`interface '${i.name}': vhost-user socket path is not in the NAD config`);
        net.push({
          id: i.name,
          ...macMtu,
          vhost_user: true,
          vhost_mode: 'Server',
          ...(socket !== undefined ? { vhost_socket: socket } : {}),
        });
        break;
      }
      case 'passt':
      case 'sidecar':
        warnings.push(`interface '${i.name}': ${i.attachment} bindings do not exist in Virtink`);
        break;
    }
  }
  return {
    config: {
      ...(net.length > 0 ? { net } : {}),
      ...(devices.length > 0 ? { devices } : {}),
      ...(vdpa.length > 0 ? { vdpa } : {}),
      ...(shared ? { memory: { shared: true as const } } : {}),
    },
    warnings,
  };
}
