// KubeVirt vmi-create-admitter.go rules (facts-kubevirt §2): list length limits (v1.0), boot order, probes.
import { atLeast } from '../../kubevirt-config.js';
import { each, rule } from '../rules.js';
import { KubeVirtCode } from './codes.js';
import type { VmiContext, VmiNode, VmiRule } from './context.js';

/** A list `arrayLenMax` bounds in v1.0. */
interface ListItem {
  readonly path: string;
  readonly length: number;
}

/** v1.0 bounded both lists to 256 (`arrayLenMax`); later releases do not. */
function limitedLists(ctx: VmiContext): ListItem[] {
  if (atLeast(ctx.version, 1, 1)) return [];
  return [
    { path: ctx.at('networks'), length: ctx.networks.length },
    { path: ctx.at('domain.devices.interfaces'), length: ctx.interfaces.length },
  ];
}

export const arrayLimitNodes: readonly VmiNode<unknown>[] = [
  each('networks and interfaces (v1.0)', limitedLists, [
    rule(KubeVirtCode.ArrayLimit, 'more than 256 networks or interfaces (v1.0 only)', (_ctx, l) =>
      l.length > 256
        ? { path: l.path, message: `${l.path} list exceeds the 256 element limit in length` }
        : undefined,
    ),
  ]),
];

/** A bootable device: disks first, then interfaces, as virt-api walks them. */
interface BootItem {
  readonly order: number | undefined;
  readonly device: string;
  /** Orders of the devices before this one. */
  readonly before: readonly (number | undefined)[];
}

function bootItems(ctx: VmiContext): BootItem[] {
  const devices = [
    ...(ctx.spec.domain.devices.disks ?? []).map((d, i) => ({
      order: d.bootOrder,
      device: ctx.at(`domain.devices.disks[${i}]`),
    })),
    ...ctx.interfaces.map((f, i) => ({
      order: f.bootOrder,
      device: ctx.at(`domain.devices.interfaces[${i}]`),
    })),
  ];
  const orders = devices.map((d) => d.order);
  return devices.map((d, k) => ({ ...d, before: orders.slice(0, k) }));
}

const bootRules: readonly VmiRule<BootItem>[] = [
  rule(KubeVirtCode.BootOrderInvalid, 'bootOrder < 1 (interfaces and disks)', (_ctx, b) =>
    b.order !== undefined && b.order < 1
      ? {
          path: `${b.device}.bootOrder`,
          message: `${b.device} must have a boot order > 0, if supplied`,
        }
      : undefined,
  ),
  rule(KubeVirtCode.BootOrderDuplicate, 'a bootOrder shared by two devices', (_ctx, b) =>
    b.order !== undefined && !(b.order < 1) && b.before.includes(b.order)
      ? {
          path: `${b.device}.bootOrder`,
          message: `Boot order for ${b.device}.bootOrder already set for a different device.`,
        }
      : undefined,
  ),
];

/** A probe handler that needs the pod network, when there is none. */
interface ProbeItem {
  readonly path: string;
}

function probeItems(ctx: VmiContext): ProbeItem[] {
  if (ctx.networks.some((n) => n.pod !== undefined)) return [];
  const out: ProbeItem[] = [];
  for (const probeName of ['readinessProbe', 'livenessProbe'] as const) {
    const probe = ctx.spec[probeName];
    for (const handler of ['httpGet', 'tcpSocket'] as const)
      if (probe?.[handler] !== undefined) out.push({ path: ctx.at(`${probeName}.${handler}`) });
  }
  return out;
}

export const createAdmitterNodes: readonly VmiNode<unknown>[] = [
  each('bootable devices (disks, then interfaces)', bootItems, bootRules),
  each('probe handlers', probeItems, [
    rule(
      KubeVirtCode.ProbeNeedsPodNetwork,
      'an httpGet/tcpSocket probe without a pod network',
      (_ctx, p: ProbeItem) => ({
        path: p.path,
        message: `${p.path} is only allowed if the Pod Network is attached`,
      }),
    ),
  ]),
];
