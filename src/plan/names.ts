// Link names of a binding in the pod: pod interface, tap, bridge (KubeVirt and Virtink schemes).
import { createHash } from 'node:crypto';

/** KubeVirt's primary pod interface (`PrimaryPodInterfaceName`). */
export const PRIMARY_POD_INTERFACE = 'eth0';

/** How KubeVirt names secondary pod interfaces. */
export type PodInterfaceNaming = 'hashed' | 'ordinal';

/**
 * KubeVirt's hashed secondary pod interface name: `pod` + the first 11 hex digits of
 * sha256(network name), e.g. `blue` → `pod16477688c0e` (11 digits so a `-nic` suffix fits in
 * the 15-character limit; `pkg/network/namescheme`).
 * @param networkName - the VMI network name (`spec.networks[].name`)
 * @returns the pod interface name
 */
export function hashedPodInterfaceName(networkName: string): string {
  return 'pod' + createHash('sha256').update(networkName).digest('hex').slice(0, 11);
}

/**
 * KubeVirt's legacy ordinal name for the `ordinal`-th secondary network: `net1`, `net2`, ….
 * @param ordinal - 1-based position among the secondary (non-default Multus) networks
 * @returns `net<ordinal>`
 */
export function ordinalPodInterfaceName(ordinal: number): string {
  return `net${ordinal}`;
}

/**
 * KubeVirt's tap name for a pod interface: `tap0` for the primary, otherwise `tap` + the
 * pod interface name without its first three characters (`pkg/network/link/names.go`).
 * @param podInterfaceName - `eth0`, `pod…`, `net…`
 * @returns the tap device name
 */
export function kubevirtTapName(podInterfaceName: string): string {
  if (podInterfaceName === PRIMARY_POD_INTERFACE) return 'tap0';
  return 'tap' + podInterfaceName.slice(3);
}

/**
 * KubeVirt's in-pod bridge name: `k6t-` + the pod interface name without a `pod` prefix,
 * e.g. `k6t-eth0`, `k6t-16477688c0e`.
 * @param podInterfaceName - the pod interface the bridge serves
 * @returns the bridge name
 */
export function kubevirtBridgeName(podInterfaceName: string): string {
  return 'k6t-' + trimPodPrefix(podInterfaceName);
}

/**
 * The name KubeVirt gives the pod link when it enslaves it to a bridge: `<trimmed>-nic`.
 * @param podInterfaceName - the original pod interface name
 * @returns e.g. `eth0-nic`
 */
export function kubevirtRenamedPodInterface(podInterfaceName: string): string {
  return trimPodPrefix(podInterfaceName) + '-nic';
}

function trimPodPrefix(name: string): string {
  return name.startsWith('pod') ? name.slice(3) : name;
}

/**
 * Virtink's pod link for the network at `index` in `spec.networks`: `eth0` for the pod network,
 * `net<index>` for Multus (the index counts the pod network too).
 * @param kind - the network source
 * @param index - 0-based position in `spec.networks`
 * @returns the link name
 */
export function virtinkLinkName(kind: 'pod' | 'multus', index: number): string {
  return kind === 'pod' ? 'eth0' : `net${index}`;
}

/** Virtink's bridge for a link: `br-<link>`. */
export function virtinkBridgeName(link: string): string {
  return `br-${link}`;
}

/** Virtink's tap for a link: `tap-<link>`. */
export function virtinkTapName(link: string): string {
  return `tap-${link}`;
}

/**
 * The link-local address Virtink puts on a bridge-mode bridge so dnsmasq can bind:
 * `169.254.(200+i).1/30`, with `i` the network's index in `spec.networks`.
 * @param index - 0-based position in `spec.networks`
 * @returns the address with prefix
 */
export function virtinkBridgeAddress(index: number): string {
  return `169.254.${200 + index}.1/30`;
}
