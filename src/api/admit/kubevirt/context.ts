// What the KubeVirt VMI rules see: the spec, the cluster config, field paths, and the items their loops visit.
import type { KubeVirtInterface, KubeVirtNetwork, KubeVirtVmiSpec } from '../../types.js';
import {
  atLeast,
  formatKubeVirtVersion,
  type KubeVirtClusterConfig,
  type KubeVirtVersion,
} from '../../kubevirt-config.js';
import { rule, type Node, type Rule } from '../rules.js';
import { KubeVirtCode } from './codes.js';

/** The subject of the VMI rules: a VMI spec (after defaulting) under a path prefix. */
export interface VmiContext {
  readonly spec: KubeVirtVmiSpec;
  readonly config: KubeVirtClusterConfig;
  readonly version: KubeVirtVersion;
  /** `version` as text, for messages. */
  readonly versionText: string;
  readonly networks: readonly KubeVirtNetwork[];
  readonly interfaces: readonly KubeVirtInterface[];
  /** The first network of each name. */
  readonly netByName: ReadonlyMap<string, KubeVirtNetwork>;
  /** `p` under the spec's prefix (`spec`, `spec.template.spec`, or none). */
  at(p: string): string;
  /** Path of interface `i`, or of its field `f`. */
  ifacePath(i: number, f?: string): string;
  /** Path of network `i`, or of its field `f`. */
  netPath(i: number, f?: string): string;
}

/** A network and its index in `spec.networks`. */
export interface NetItem {
  readonly net: KubeVirtNetwork;
  readonly i: number;
}

/** An interface, its index, and the network of the same name (if any). */
export interface IfaceItem {
  readonly iface: KubeVirtInterface;
  readonly i: number;
  readonly net: KubeVirtNetwork | undefined;
}

export type VmiRule<T> = Rule<VmiContext, T>;
export type VmiNode<T> = Node<VmiContext, T>;

/**
 * A bindery check (FieldUnavailable) for a field KubeVirt v1.`minor` brought: an item that
 * uses it (`used`) under an older release is refused at `path`; `what` opens the message
 * ("portRanges do not exist").
 */
export function fieldSince<T>(
  title: string,
  minor: number,
  used: (item: T) => unknown,
  path: (ctx: VmiContext, item: T) => string,
  what: string,
): VmiRule<T> {
  return rule(KubeVirtCode.FieldUnavailable, title, (ctx: VmiContext, x: T) =>
    used(x) && !atLeast(ctx.version, 1, minor)
      ? {
          path: path(ctx, x),
          message: `${what} before KubeVirt v1.${minor} (validating for ${ctx.versionText}) (bindery check; the field is unknown to this release)`,
        }
      : undefined,
  );
}

export function vmiContext(
  spec: KubeVirtVmiSpec,
  config: KubeVirtClusterConfig,
  prefix: string,
): VmiContext {
  const at = (p: string): string => (prefix === '' ? p : `${prefix}.${p}`);
  const networks = spec.networks ?? [];
  const netByName = new Map<string, KubeVirtNetwork>();
  for (const n of networks) if (!netByName.has(n.name)) netByName.set(n.name, n);
  return {
    spec,
    config,
    version: config.version,
    versionText: formatKubeVirtVersion(config.version),
    networks,
    interfaces: spec.domain.devices.interfaces ?? [],
    netByName,
    at,
    ifacePath: (i, f) => at(`domain.devices.interfaces[${i}]${f ? '.' + f : ''}`),
    netPath: (i, f) => at(`networks[${i}]${f ? '.' + f : ''}`),
  };
}

/** The networks, each with its index. */
export function networkItems(ctx: VmiContext): NetItem[] {
  return ctx.networks.map((net, i) => ({ net, i }));
}

/** The interfaces, each with its index and network. */
export function interfaceItems(ctx: VmiContext): IfaceItem[] {
  return ctx.interfaces.map((iface, i) => ({ iface, i, net: ctx.netByName.get(iface.name) }));
}

/** The VMI's default network: the pod network or the multus default. */
export function defaultNetwork(networks: readonly KubeVirtNetwork[]): KubeVirtNetwork | undefined {
  return networks.find((n) => n.pod !== undefined || n.multus?.default === true);
}
