// KubeVirt binding rules (binding.go, passt.go; facts-kubevirt §2): one binding per interface and where each may go.
import type { KubeVirtInterface } from '../../types.js';
import { atLeast, gateEnabled, type KubeVirtVersion } from '../../kubevirt-config.js';
import { parseMac } from '../../syntax.js';
import { rule } from '../rules.js';
import { KubeVirtCode } from './codes.js';
import { fieldSince, type IfaceItem, type VmiRule } from './context.js';

/** Binding methods set on `i`; the core ones removed in v1.3 count before it. */
function bindingCount(i: KubeVirtInterface, version: KubeVirtVersion): number {
  const core = [i.bridge, i.masquerade, i.sriov, i.passtBinding, i.binding];
  const old = atLeast(version, 1, 3) ? [] : [i.slirp, i.macvtap, i.passt];
  return [...core, ...old].filter((x) => x !== undefined).length;
}

/** `02:00:00:00:00:00`, the in-pod bridge's MAC (RESERVED_BRIDGE_MAC), in any spelling. */
function isReservedBridgeMac(mac: string): boolean {
  const m = parseMac(mac);
  return 'bytes' in m && m.bytes.length === 6 && m.bytes.every((b, k) => b === (k === 0 ? 2 : 0));
}

const onPod = (x: IfaceItem): boolean => x.net?.pod !== undefined;

/** validateInterfaceBinding (binding.go), per interface. */
export const bindingRules: readonly VmiRule<IfaceItem>[] = [
  rule(
    KubeVirtCode.BindingCount,
    'not exactly one of bridge/masquerade/sriov/passtBinding/binding',
    (ctx, { iface, i }) =>
      bindingCount(iface, ctx.version) !== 1
        ? {
            path: ctx.ifacePath(i),
            message: `logical ${iface.name} interface must have exactly one binding method or binding plugin`,
          }
        : undefined,
  ),
  rule(KubeVirtCode.MasqNotPod, 'masquerade on a non-pod network', (ctx, x) =>
    x.iface.masquerade && !onPod(x)
      ? {
          path: ctx.ifacePath(x.i, 'name'),
          message: 'Masquerade interface only implemented with pod network',
        }
      : undefined,
  ),
  rule(
    KubeVirtCode.MasqReservedMac,
    'masquerade with MAC 02:00:00:00:00:00',
    (ctx, { iface, i }) =>
      iface.masquerade && iface.macAddress && isReservedBridgeMac(iface.macAddress)
        ? {
            path: ctx.ifacePath(i, 'macAddress'),
            message:
              'The requested MAC address is reserved for the in-pod bridge. Please choose another one.',
          }
        : undefined,
  ),
  rule(
    KubeVirtCode.BridgePodNotPermitted,
    'bridge on the pod network with permitBridgeInterfaceOnPodNetwork=false',
    (ctx, x) =>
      x.iface.bridge && onPod(x) && !ctx.config.permitBridgeInterfaceOnPodNetwork
        ? {
            path: ctx.ifacePath(x.i, 'name'),
            message: 'Bridge on pod network configuration is not enabled under kubevirt-config',
          }
        : undefined,
  ),
];

/** Network binding plugins (`binding: {name}`), per interface. */
export const pluginRules: readonly VmiRule<IfaceItem>[] = [
  fieldSince<IfaceItem>(
    '(bindery) `binding` before v1.1',
    1,
    (x) => x.iface.binding,
    (ctx, x) => ctx.ifacePath(x.i, 'binding'),
    'network binding plugins do not exist',
  ),
  rule(
    KubeVirtCode.BindingPluginsGate,
    '`binding` without the NetworkBindingPlugins gate (v1.1–v1.4 only)',
    (ctx, { iface, i }) =>
      iface.binding &&
      atLeast(ctx.version, 1, 1) &&
      !gateEnabled(ctx.config, 'NetworkBindingPlugins')
        ? {
            path: ctx.ifacePath(i, 'binding'),
            message: 'Binding plugins feature gate is not enabled',
          }
        : undefined,
  ),
  rule(
    KubeVirtCode.BindingUnregistered,
    '(bindery) `binding.name` not registered in the KubeVirt CR',
    (ctx, { iface, i }) => {
      if (!iface.binding || !atLeast(ctx.version, 1, 1)) return undefined;
      const name = iface.binding.name;
      if (Object.hasOwn(ctx.config.bindings, name)) return undefined;
      return {
        path: ctx.ifacePath(i, 'binding'),
        message: `couldn't find configuration for network binding: ${name} (bindery check; KubeVirt admits this and virt-controller fails later; register it under spec.configuration.network.binding of the KubeVirt CR${ctx.config.fromCR ? '' : ', none was given: use --kubevirt-cr'})`,
      };
    },
  ),
];

/** The core passtBinding (passt.go), per interface. */
export const passtBindingRules: readonly VmiRule<IfaceItem>[] = [
  fieldSince<IfaceItem>(
    '(bindery) passtBinding before v1.8',
    8,
    (x) => x.iface.passtBinding,
    (ctx, x) => ctx.ifacePath(x.i, 'passtBinding'),
    'the core passtBinding does not exist',
  ),
  rule(
    KubeVirtCode.PasstBindingGate,
    'passtBinding without the PasstBinding gate',
    (ctx, { iface, i }) =>
      iface.passtBinding && atLeast(ctx.version, 1, 8) && !gateEnabled(ctx.config, 'PasstBinding')
        ? { path: ctx.ifacePath(i, 'name'), message: 'PasstBinding feature gate is not enabled' }
        : undefined,
  ),
  rule(KubeVirtCode.PasstBindingNotPod, 'passtBinding on a non-pod network', (ctx, x) =>
    x.iface.passtBinding && atLeast(ctx.version, 1, 8) && !onPod(x)
      ? {
          path: ctx.ifacePath(x.i, 'name'),
          message: 'PasstBinding interface only implemented with pod network',
        }
      : undefined,
  ),
];
