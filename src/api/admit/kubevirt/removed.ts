// KubeVirt's removed core bindings (slirp, macvtap, old passt): their rules before v1.3, and discontinued.go from v1.3.
import { atLeast, gateEnabled } from '../../kubevirt-config.js';
import { rule } from '../rules.js';
import { KubeVirtCode } from './codes.js';
import type { IfaceItem, VmiContext, VmiRule } from './context.js';

const before13 = (ctx: VmiContext): boolean => !atLeast(ctx.version, 1, 3);

/**
 * The rules of the old core bindings while they existed (<v1.3: passt.go, macvtap.go, slirp.go
 * of v1.0–v1.2); part of validateInterfaceBinding, per interface.
 */
export const oldCoreBindingRules: readonly VmiRule<IfaceItem>[] = [
  rule(KubeVirtCode.PasstGate, 'old core passt without the Passt gate (<v1.3)', (ctx, x) =>
    before13(ctx) && x.iface.passt && !gateEnabled(ctx.config, 'Passt')
      ? { path: ctx.ifacePath(x.i, 'name'), message: 'Passt feature gate is not enabled' }
      : undefined,
  ),
  rule(KubeVirtCode.PasstNotPod, 'old core passt on a non-pod network (<v1.3)', (ctx, x) =>
    before13(ctx) && x.iface.passt && x.net?.pod === undefined
      ? {
          path: ctx.ifacePath(x.i, 'name'),
          message: 'Passt interface only implemented with pod network',
        }
      : undefined,
  ),
  rule(KubeVirtCode.PasstSingle, 'old core passt not the only interface (<v1.3)', (ctx, x) =>
    before13(ctx) && x.iface.passt && ctx.interfaces.length > 1
      ? {
          path: ctx.ifacePath(x.i, 'name'),
          message: 'Passt interface is only supported as the single interface of the VMI',
        }
      : undefined,
  ),
  rule(KubeVirtCode.MacvtapGate, 'macvtap without the Macvtap gate (<v1.3)', (ctx, x) =>
    before13(ctx) && x.iface.macvtap && !gateEnabled(ctx.config, 'Macvtap')
      ? { path: ctx.ifacePath(x.i, 'name'), message: 'Macvtap feature gate is not enabled' }
      : undefined,
  ),
  rule(KubeVirtCode.MacvtapNotMultus, 'macvtap on a non-multus network (<v1.3)', (ctx, x) =>
    before13(ctx) && x.iface.macvtap && x.net && !x.net.multus
      ? {
          path: ctx.ifacePath(x.i, 'name'),
          message: 'Macvtap interface only implemented with Multus network',
        }
      : undefined,
  ),
  rule(KubeVirtCode.SlirpNotPod, 'slirp on a non-pod network (<v1.3)', (ctx, x) =>
    before13(ctx) && x.iface.slirp && x.net && !x.net.pod
      ? {
          path: ctx.ifacePath(x.i, 'name'),
          message: 'Slirp interface only implemented with pod network',
        }
      : undefined,
  ),
  rule(KubeVirtCode.SlirpNotPermitted, 'slirp without permitSlirpInterface (<v1.3)', (ctx, x) =>
    before13(ctx) && x.iface.slirp && x.net?.pod && !ctx.config.permitSlirpInterface
      ? {
          path: ctx.ifacePath(x.i, 'name'),
          message: 'Slirp interface is not enabled in kubevirt-config',
        }
      : undefined,
  ),
];

/** ValidateCreation's validateDiscontinuedBindings (discontinued.go, v1.3+), per interface. */
export const discontinuedRules: readonly VmiRule<IfaceItem>[] = [
  rule(KubeVirtCode.DiscontinuedSlirp, 'slirp on creation (v1.3+)', (ctx, { iface, i }) =>
    !before13(ctx) && iface.slirp
      ? {
          path: ctx.ifacePath(i, 'slirp'),
          message: 'Slirp interface support has been discontinued since v1.3',
        }
      : undefined,
  ),
  rule(KubeVirtCode.DiscontinuedPasst, 'core passt on creation (v1.3+)', (ctx, { iface, i }) =>
    !before13(ctx) && iface.passt
      ? {
          path: ctx.ifacePath(i, 'passt'),
          message: 'Passt network binding has been discontinued since v1.3',
        }
      : undefined,
  ),
  rule(KubeVirtCode.DiscontinuedMacvtap, 'macvtap on creation (v1.3+)', (ctx, { iface, i }) =>
    !before13(ctx) && iface.macvtap
      ? {
          path: ctx.ifacePath(i, 'macvtap'),
          message: 'Macvtap network binding has been discontinued since v1.3',
        }
      : undefined,
  ),
];
