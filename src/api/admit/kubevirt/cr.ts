// bindery's checks of a KubeVirt CR's network configuration; KubeVirt validates none of its binding map (facts-kubevirt §1, §2).
import type { KubeVirtBindingPlugin, KubeVirtCR } from '../../types.js';
import {
  NETWORK_GATES,
  atLeast,
  formatKubeVirtVersion,
  type KubeVirtVersion,
} from '../../kubevirt-config.js';
import { isDnsSubdomain, isQuantity } from '../../syntax.js';
import { each, rule, type Node, type Rule } from '../rules.js';
import { KubeVirtCode } from './codes.js';

/** The subject of the CR rules: a KubeVirt CR checked for one release. */
export interface CrContext {
  readonly cr: KubeVirtCR;
  readonly version: KubeVirtVersion;
  readonly versionText: string;
}

export function crContext(cr: KubeVirtCR, version: KubeVirtVersion): CrContext {
  return { cr, version, versionText: formatKubeVirtVersion(version) };
}

type CrRule<T> = Rule<CrContext, T>;

const BASE = 'spec.configuration.network';
const BINDERY = '(bindery check; KubeVirt does not validate the KubeVirt CR binding map)';

const network = (ctx: CrContext) => ctx.cr.spec.configuration?.network;

/** One entry of `spec.configuration.network.binding`. */
interface PluginItem {
  readonly name: string;
  readonly plugin: KubeVirtBindingPlugin;
  readonly path: string;
}

const pluginItems = (ctx: CrContext): PluginItem[] =>
  Object.entries(network(ctx)?.binding ?? {}).map(([name, plugin]) => ({
    name,
    plugin,
    path: `${BASE}.binding[${name}]`,
  }));

const networkRules: readonly CrRule<unknown>[] = [
  rule(
    KubeVirtCode.CrDefaultIface,
    'defaultNetworkInterface not bridge/masquerade/slirp',
    (ctx: CrContext) => {
      const dni = network(ctx)?.defaultNetworkInterface;
      return dni !== undefined && dni !== '' && !['bridge', 'masquerade', 'slirp'].includes(dni)
        ? {
            path: `${BASE}.defaultNetworkInterface`,
            message: `defaultNetworkInterface "${dni}" is not one of bridge, masquerade, slirp (bindery check; KubeVirt fails every VMI that needs the default interface)`,
          }
        : undefined;
    },
  ),
  rule(KubeVirtCode.CrPermitSlirpRemoved, 'permitSlirpInterface set on v1.3+', (ctx: CrContext) =>
    network(ctx)?.permitSlirpInterface !== undefined && atLeast(ctx.version, 1, 3)
      ? {
          path: `${BASE}.permitSlirpInterface`,
          message: `permitSlirpInterface was removed in v1.3 (validating for ${ctx.versionText}) (bindery check)`,
        }
      : undefined,
  ),
];

function nadRefOk(nad: string): boolean {
  const parts = nad.split('/');
  return parts.length <= 2 && parts.every((x) => isDnsSubdomain(x));
}

const pluginRules: readonly CrRule<PluginItem>[] = [
  rule(
    KubeVirtCode.CrBindingNadRef,
    'networkAttachmentDefinition not `name` or `ns/name`',
    (_ctx, { plugin, path }) => {
      const nad = plugin.networkAttachmentDefinition;
      return nad !== undefined && nad !== '' && !nadRefOk(nad)
        ? {
            path: `${path}.networkAttachmentDefinition`,
            message: `networkAttachmentDefinition "${nad}" is not "<name>" or "<namespace>/<name>" ${BINDERY}`,
          }
        : undefined;
    },
  ),
  rule(
    KubeVirtCode.CrBindingAttachmentType,
    'domainAttachmentType not tap/managedTap (managedTap v1.4+)',
    (ctx, { plugin, path }) => {
      const dat = plugin.domainAttachmentType;
      if (dat === undefined || dat === '') return undefined;
      if (dat !== 'tap' && dat !== 'managedTap')
        return {
          path: `${path}.domainAttachmentType`,
          message: `domainAttachmentType "${dat}" is not one of tap, managedTap ${BINDERY}`,
        };
      if (dat === 'managedTap' && !atLeast(ctx.version, 1, 4))
        return {
          path: `${path}.domainAttachmentType`,
          message: `domainAttachmentType managedTap exists from v1.4 (validating for ${ctx.versionText}) ${BINDERY}`,
        };
      return undefined;
    },
  ),
  rule(
    KubeVirtCode.CrBindingMigrationMethod,
    'migration.method not link-refresh',
    (_ctx, { plugin, path }) => {
      const method = plugin.migration?.method;
      return method !== undefined && method !== '' && method !== 'link-refresh'
        ? {
            path: `${path}.migration.method`,
            message: `migration method "${method}" is not link-refresh (the only method KubeVirt defines; use {} for none) ${BINDERY}`,
          }
        : undefined;
    },
  ),
  rule(
    KubeVirtCode.CrBindingDownwardApi,
    'downwardAPI not device-info',
    (_ctx, { plugin, path }) => {
      const dapi = plugin.downwardAPI;
      return dapi !== undefined && dapi !== '' && dapi !== 'device-info'
        ? {
            path: `${path}.downwardAPI`,
            message: `downwardAPI "${dapi}" is not device-info ${BINDERY}`,
          }
        : undefined;
    },
  ),
];

/** One quantity of a plugin's computeResourceOverhead. */
interface QuantityItem {
  readonly path: string;
  readonly quantity: string;
}

function overheadItems(_ctx: CrContext, { plugin, path }: PluginItem): QuantityItem[] {
  const overhead = plugin.computeResourceOverhead;
  return (['requests', 'limits'] as const).flatMap((kind) =>
    Object.entries(overhead?.[kind] ?? {}).map(([res, quantity]) => ({
      path: `${path}.computeResourceOverhead.${kind}[${res}]`,
      quantity,
    })),
  );
}

const overheadRule: CrRule<QuantityItem> = rule(
  KubeVirtCode.CrBindingOverhead,
  'a malformed computeResourceOverhead quantity',
  (_ctx, { path, quantity }) =>
    isQuantity(quantity)
      ? undefined
      : { path, message: `quantity "${quantity}" is malformed ${BINDERY}` },
);

const noVnicRule: CrRule<PluginItem> = rule(
  KubeVirtCode.CrBindingNoVnic,
  'a plugin with neither sidecarImage nor domainAttachmentType',
  (_ctx, { name, plugin, path }) =>
    !plugin.sidecarImage && !plugin.domainAttachmentType
      ? {
          path,
          message: `binding plugin "${name}" has neither sidecarImage nor domainAttachmentType, so nothing would create its vNIC ${BINDERY}`,
        }
      : undefined,
);

/** A listed feature gate. */
interface GateItem {
  readonly gate: string;
  readonly i: number;
}

const gateItems = (ctx: CrContext): GateItem[] =>
  (ctx.cr.spec.configuration?.developerConfiguration?.featureGates ?? []).map((gate, i) => ({
    gate,
    i,
  }));

const gateGaRule: CrRule<GateItem> = rule(
  KubeVirtCode.CrGateGa,
  '(warning) a listed gate that is GA (always on) at this version',
  (ctx, { gate, i }) => {
    const info = NETWORK_GATES[gate];
    return info?.ga !== undefined && ctx.version.minor >= info.ga
      ? {
          path: `spec.configuration.developerConfiguration.featureGates[${i}]`,
          message: `feature gate ${gate} is GA since v1.${info.ga} and always on; listing it has no effect`,
          severity: 'warning',
        }
      : undefined;
  },
);

/** The KubeVirt CR rules, in the order they report. */
export const crNodes: readonly Node<CrContext, unknown>[] = [
  ...networkRules,
  each('binding plugins', pluginItems, [
    ...pluginRules,
    each('computeResourceOverhead quantities', overheadItems, [overheadRule]),
    noVnicRule,
  ]),
  each('feature gates', gateItems, [gateGaRule]),
];
