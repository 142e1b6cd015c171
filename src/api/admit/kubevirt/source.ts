// KubeVirt network-source rules (pkg/network/admitter/netsource.go, facts-kubevirt §2): pod and multus sources.
import type { KubeVirtNetwork } from '../../types.js';
import { rule } from '../rules.js';
import { KubeVirtCode } from './codes.js';
import { fieldSince, type NetItem, type VmiContext, type VmiRule } from './context.js';

function sourceCount(n: KubeVirtNetwork): number {
  return (
    (n.pod !== undefined ? 1 : 0) +
    (n.multus !== undefined ? 1 : 0) +
    (n.resourceClaim !== undefined ? 1 : 0)
  );
}

const podNets = (ctx: VmiContext): number => ctx.networks.filter((n) => n.pod !== undefined).length;
const multusDefaults = (ctx: VmiContext): number =>
  ctx.networks.filter((n) => n.multus?.default === true).length;

/** validateSinglePodNetwork, on the whole spec. */
export const singlePodNetworkRules: readonly VmiRule<unknown>[] = [
  rule(KubeVirtCode.PodNetMultiple, 'more than one `pod` network', (ctx: VmiContext) =>
    podNets(ctx) > 1
      ? {
          path: ctx.at('interfaces'),
          message: `more than one interface is connected to a pod network in ${ctx.at('interfaces')}`,
        }
      : undefined,
  ),
  rule(
    KubeVirtCode.MultusDefaultMultiple,
    'more than one multus `default: true`',
    (ctx: VmiContext) =>
      multusDefaults(ctx) > 1
        ? { path: ctx.at('networks'), message: 'Multus CNI should only have one default network' }
        : undefined,
  ),
  rule(
    KubeVirtCode.PodAndMultusDefault,
    'a pod network together with a multus default',
    (ctx: VmiContext) =>
      podNets(ctx) > 0 && multusDefaults(ctx) > 0
        ? {
            path: ctx.at('networks'),
            message: 'Pod network cannot be defined when Multus default network is defined',
          }
        : undefined,
  ),
];

/** validateSingleNetworkSource and validateMultusNetworkSource, per network. */
export const networkSourceRules: readonly VmiRule<NetItem>[] = [
  rule(KubeVirtCode.NetSourceNone, 'a network with no source', (ctx, { net, i }) =>
    sourceCount(net) === 0
      ? { path: ctx.netPath(i), message: 'should have a network type' }
      : undefined,
  ),
  rule(KubeVirtCode.NetSourceMultiple, 'a network with more than one source', (ctx, { net, i }) =>
    sourceCount(net) > 1
      ? { path: ctx.netPath(i), message: 'should have only one network type' }
      : undefined,
  ),
  rule(KubeVirtCode.MultusNameRequired, 'multus with an empty networkName', (ctx, { net, i }) =>
    net.multus && net.multus.networkName === ''
      ? { path: ctx.netPath(i), message: 'CNI delegating plugin must have a networkName' }
      : undefined,
  ),
  fieldSince<NetItem>(
    '(bindery) a resourceClaim network before v1.9',
    9,
    (x) => x.net.resourceClaim,
    (ctx, x) => ctx.netPath(x.i, 'resourceClaim'),
    'resourceClaim networks do not exist',
  ),
];
