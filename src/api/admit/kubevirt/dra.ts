// KubeVirt validateNetworkDevicesWithDRA (dra.go, facts-kubevirt §2): resourceClaim networks (v1.9+).
import type { KubeVirtResourceClaimNetwork, KubeVirtVmiSpec } from '../../types.js';
import { atLeast, gateEnabled } from '../../kubevirt-config.js';
import { each, rule } from '../rules.js';
import { KubeVirtCode } from './codes.js';
import { networkItems, type NetItem, type VmiContext, type VmiNode } from './context.js';

/** The rules apply from v1.9 when some network is a resourceClaim. */
const applies = (ctx: VmiContext): boolean =>
  atLeast(ctx.version, 1, 9) && ctx.networks.some((n) => n.resourceClaim !== undefined);
const gateOn = (ctx: VmiContext): boolean => gateEnabled(ctx.config, 'NetworkDevicesWithDRA');
/** The per-network and mixing rules run only with the gate on. */
const checked = (ctx: VmiContext): boolean => applies(ctx) && gateOn(ctx);

function resourceClaimNames(spec: KubeVirtVmiSpec): Set<string> {
  const out = new Set<string>();
  const rc = spec.extra?.['resourceClaims'];
  if (Array.isArray(rc))
    for (const c of rc)
      if (typeof c === 'object' && c !== null && typeof (c as { name?: unknown }).name === 'string')
        out.add((c as { name: string }).name);
  return out;
}

/** A resourceClaim network with both names set. */
interface ClaimItem extends NetItem {
  readonly claim: KubeVirtResourceClaimNetwork;
}

const claimKey = (c: KubeVirtResourceClaimNetwork | undefined): string | undefined =>
  c?.claimName && c.requestName ? `${c.claimName}/${c.requestName}` : undefined;

function claimItems(ctx: VmiContext): ClaimItem[] {
  if (!checked(ctx)) return [];
  return networkItems(ctx).flatMap((x) =>
    x.net.resourceClaim ? [{ ...x, claim: x.net.resourceClaim }] : [],
  );
}

export const draNodes: readonly VmiNode<unknown>[] = [
  rule(
    KubeVirtCode.DraGate,
    'a resourceClaim network without the NetworkDevicesWithDRA gate',
    (ctx: VmiContext) =>
      applies(ctx) && !gateOn(ctx)
        ? {
            path: ctx.at('networks'),
            message: 'NetworkDevicesWithDRA feature gate is not enabled in kubevirt-config',
          }
        : undefined,
  ),
  each('resourceClaim networks', claimItems, [
    rule(
      KubeVirtCode.DraSriovRequired,
      'a resourceClaim network whose interface is not SR-IOV',
      (ctx: VmiContext, x: ClaimItem) => {
        const iface = ctx.interfaces.find((f) => f.name === x.net.name);
        return iface && !iface.sriov
          ? {
              path: ctx.at('domain.devices.interfaces'),
              message: `DRA network "${x.net.name}" requires an SR-IOV interface binding`,
            }
          : undefined;
      },
    ),
    rule(
      KubeVirtCode.DraClaimNameRequired,
      'a resourceClaim without claimName',
      (ctx: VmiContext, x: ClaimItem) =>
        x.claim.claimName
          ? undefined
          : {
              path: ctx.netPath(x.i, 'resourceClaim.claimName'),
              message: 'claimName is required for DRA network',
            },
    ),
    rule(
      KubeVirtCode.DraRequestNameRequired,
      'a resourceClaim without requestName',
      (ctx: VmiContext, x: ClaimItem) =>
        x.claim.requestName
          ? undefined
          : {
              path: ctx.netPath(x.i, 'resourceClaim.requestName'),
              message: 'requestName is required for DRA network',
            },
    ),
    rule(
      KubeVirtCode.DraClaimNotFound,
      'a claimName not in spec.resourceClaims',
      (ctx: VmiContext, x: ClaimItem) =>
        claimKey(x.claim) !== undefined &&
        !resourceClaimNames(ctx.spec).has(x.claim.claimName ?? '')
          ? {
              path: ctx.netPath(x.i, 'resourceClaim.claimName'),
              message: `network references resourceClaim "${x.claim.claimName}" which is not defined in spec.resourceClaims`,
            }
          : undefined,
    ),
    rule(
      KubeVirtCode.DraDuplicate,
      'a duplicate claimName/requestName',
      (ctx: VmiContext, x: ClaimItem) => {
        const k = claimKey(x.claim);
        if (k === undefined) return undefined;
        return ctx.networks.slice(0, x.i).some((n) => claimKey(n.resourceClaim) === k)
          ? {
              path: ctx.netPath(x.i),
              message: `duplicate claimName/requestName combination "${k}"`,
            }
          : undefined;
      },
    ),
  ]),
  rule(
    KubeVirtCode.DraMultusMix,
    'multus and resourceClaim networks together',
    (ctx: VmiContext) =>
      checked(ctx) && ctx.networks.some((n) => n.multus !== undefined)
        ? {
            path: ctx.at('networks'),
            message:
              'mixing Multus and DRA resourceClaim networks in the same VMI is not supported',
          }
        : undefined,
  ),
];
