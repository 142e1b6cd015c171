// KubeVirt interface rules: link state (admit.go) and names tying networks to interfaces (netiface.go), facts-kubevirt §2.
import { rule } from '../rules.js';
import { KubeVirtCode } from './codes.js';
import { defaultNetwork, type IfaceItem, type NetItem, type VmiRule } from './context.js';

const isLinkState = (st: string): boolean => st === 'up' || st === 'down';

/** validateInterfaceStateValue (admit.go), per interface. */
export const stateRules: readonly VmiRule<IfaceItem>[] = [
  rule(KubeVirtCode.StateUnsupported, 'state not ""/up/down/absent', (ctx, { iface, i }) => {
    const st = iface.state ?? '';
    return st !== '' && st !== 'absent' && !isLinkState(st)
      ? {
          path: ctx.ifacePath(i, 'state'),
          message: `logical ${iface.name} interface state value is unsupported: ${st}`,
        }
      : undefined;
  }),
  rule(KubeVirtCode.StateLinkSriov, 'up/down on SR-IOV', (ctx, { iface, i }) => {
    const st = iface.state ?? '';
    return iface.sriov && isLinkState(st)
      ? {
          path: ctx.ifacePath(i, 'state'),
          message: `"${iface.name}" interface's state "${st}" is not supported for SR-IOV NICs`,
        }
      : undefined;
  }),
  rule(
    KubeVirtCode.StateAbsentNotBridge,
    'absent on a non-bridge interface',
    (ctx, { iface, i }) =>
      iface.state === 'absent' && !iface.bridge
        ? {
            path: ctx.ifacePath(i, 'state'),
            message: `"${iface.name}" interface's state "absent" is supported only for bridge binding`,
          }
        : undefined,
  ),
  rule(KubeVirtCode.StateAbsentDefaultNet, 'absent on the default network', (ctx, { iface, i }) =>
    iface.state === 'absent' && defaultNetwork(ctx.networks)?.name === iface.name
      ? {
          path: ctx.ifacePath(i, 'state'),
          message: `"${iface.name}" interface's state "absent" is not supported on default networks`,
        }
      : undefined,
  ),
];

/** validateNetworkNameUnique (netiface.go), per network. */
export const networkNameUniqueRule: VmiRule<NetItem> = rule(
  KubeVirtCode.NetNameDuplicate,
  'a duplicate network name',
  (ctx, { net, i }) =>
    ctx.networks.slice(0, i).some((n) => n.name === net.name)
      ? {
          path: ctx.netPath(i, 'name'),
          message: `Network with name "${net.name}" already exists, every network must have a unique name`,
        }
      : undefined,
);

/** validateNetworksAssignedToInterfaces (netiface.go), per network. */
export const networkAssignedRule: VmiRule<NetItem> = rule(
  KubeVirtCode.NetNoInterface,
  'a network without an interface',
  (ctx, { net, i }) =>
    ctx.interfaces.some((x) => x.name === net.name)
      ? undefined
      : {
          path: ctx.netPath(i, 'name'),
          message: `${ctx.netPath(i, 'name')} '${net.name}' not found.`,
        },
);

/** validateInterfaceNameUnique (netiface.go), per interface. */
export const interfaceNameUniqueRule: VmiRule<IfaceItem> = rule(
  KubeVirtCode.IfaceNameDuplicate,
  'a duplicate interface name',
  (ctx, { iface, i }) =>
    ctx.interfaces.slice(0, i).some((x) => x.name === iface.name)
      ? {
          path: ctx.ifacePath(i, 'name'),
          message: 'Only one interface can be connected to one specific network',
        }
      : undefined,
);

/** validateInterfacesAssignedToNetworks (netiface.go), per interface. */
export const interfaceAssignedRule: VmiRule<IfaceItem> = rule(
  KubeVirtCode.IfaceNoNetwork,
  'an interface without a network',
  (ctx, { iface, i, net }) =>
    net === undefined
      ? {
          path: ctx.ifacePath(i, 'name'),
          message: `${ctx.ifacePath(i, 'name')} '${iface.name}' not found.`,
        }
      : undefined,
);
