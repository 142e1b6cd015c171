// KubeVirt validateInterfacesFields (netiface.go, facts-kubevirt §2): name, model, MAC, PCI, ports, portRanges, DHCP.
//
// The per-interface step is a tree: the interface's own fields, then a loop over its ports
// (pod network only), then its portRanges and their overlaps, then its DHCP options; so the
// errors come out interface by interface, port by port, as KubeVirt's loops produce them.
import type { KubeVirtInterface } from '../../types.js';
import { KUBEVIRT_MODELS } from '../../types.js';
import { atLeast, gateEnabled } from '../../kubevirt-config.js';
import { isPciAddress, isValidPortName, parseIPv4, parseMac } from '../../syntax.js';
import { each, rule } from '../rules.js';
import { KubeVirtCode } from './codes.js';
import {
  fieldSince,
  type IfaceItem,
  type VmiContext,
  type VmiNode,
  type VmiRule,
} from './context.js';

type Port = NonNullable<KubeVirtInterface['ports']>[number];
type PortRange = NonNullable<KubeVirtInterface['portRanges']>[number];
type PrivateOption = NonNullable<
  NonNullable<KubeVirtInterface['dhcpOptions']>['privateOptions']
>[number];

interface PortItem {
  readonly port: Port;
  readonly j: number;
  readonly ports: readonly Port[];
  /** The port's path. */
  readonly path: string;
}
interface RangeItem {
  readonly range: PortRange;
  readonly path: string;
}
interface OverlapItem {
  readonly proto: string;
  readonly a: { start: number; end: number };
  readonly b: { start: number; end: number };
  readonly path: string;
}
interface Indexed<T> {
  readonly value: T;
  readonly path: string;
}

const onPod = (x: IfaceItem): boolean => x.net?.pod !== undefined;
const namePath = (ctx: VmiContext, x: IfaceItem): string => ctx.ifacePath(x.i, 'name');

/** portRanges as the release knows them: undefined before v1.9. */
function ranges(ctx: VmiContext, x: IfaceItem): readonly PortRange[] | undefined {
  return atLeast(ctx.version, 1, 9) ? x.iface.portRanges : undefined;
}

/** A portRange's protocol as KubeVirt buckets it: "" counts as TCP. */
const rangeProto = (r: PortRange): string => (r.protocol === '' ? 'TCP' : r.protocol);
const isTcpUdp = (p: string | undefined): boolean => p === 'TCP' || p === 'UDP';

/** Go's `ParseIP(s).To4() != nil` also accepts `::ffff:a.b.c.d`. */
function isV4MappedV6(s: string): boolean {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(s);
  return m !== null && parseIPv4(m[1] ?? '') !== undefined;
}

const ownFieldRules: readonly VmiRule<IfaceItem>[] = [
  rule(KubeVirtCode.IfaceNameFormat, 'interface name not ^[A-Za-z0-9-_]+$', (ctx, x) =>
    /^[A-Za-z0-9\-_]+$/.test(x.iface.name)
      ? undefined
      : {
          path: namePath(ctx, x),
          message:
            'Network interface name can only contain alphabetical characters, numbers, dashes (-) or underscores (_)',
        },
  ),
  rule(KubeVirtCode.ModelUnsupported, 'a model outside the list', (ctx, x) =>
    x.iface.model && !(KUBEVIRT_MODELS as readonly string[]).includes(x.iface.model)
      ? {
          path: ctx.ifacePath(x.i, 'model'),
          message: `interface ${namePath(ctx, x)} uses model ${x.iface.model} that is not supported.`,
        }
      : undefined,
  ),
  rule(KubeVirtCode.MacMalformed, 'a MAC net.ParseMAC rejects', (ctx, x) =>
    x.iface.macAddress && 'error' in parseMac(x.iface.macAddress)
      ? {
          path: ctx.ifacePath(x.i, 'macAddress'),
          message: `interface ${namePath(ctx, x)} has malformed MAC address (${x.iface.macAddress}).`,
        }
      : undefined,
  ),
  rule(KubeVirtCode.MacTooLong, 'a MAC longer than 6 bytes', (ctx, x) => {
    const m = x.iface.macAddress ? parseMac(x.iface.macAddress) : undefined;
    return m && 'bytes' in m && m.bytes.length > 6
      ? {
          path: ctx.ifacePath(x.i, 'macAddress'),
          message: `interface ${namePath(ctx, x)} has MAC address (${x.iface.macAddress}) that is too long.`,
        }
      : undefined;
  }),
  rule(KubeVirtCode.PciMalformed, 'a malformed PCI address', (ctx, x) =>
    x.iface.pciAddress && !isPciAddress(x.iface.pciAddress)
      ? {
          path: ctx.ifacePath(x.i, 'pciAddress'),
          message: `interface ${namePath(ctx, x)} has malformed PCI address (${x.iface.pciAddress}).`,
        }
      : undefined,
  ),
  fieldSince<IfaceItem>(
    '(bindery) portRanges before v1.9',
    9,
    (x) => x.iface.portRanges,
    (ctx, x) => ctx.ifacePath(x.i, 'portRanges'),
    'portRanges do not exist',
  ),
  rule(KubeVirtCode.PortRangesGate, 'portRanges without the PortRangesSpec gate', (ctx, x) =>
    ranges(ctx, x) && !gateEnabled(ctx.config, 'PortRangesSpec')
      ? {
          path: namePath(ctx, x),
          message:
            'portRanges is specified on interface but the PortRangesSpec feature gate is not enabled',
        }
      : undefined,
  ),
  rule(KubeVirtCode.PortsAndRanges, 'both ports and portRanges (pod network)', (ctx, x) =>
    onPod(x) && x.iface.ports && ranges(ctx, x)
      ? {
          path: namePath(ctx, x),
          message: `Cannot define both ports and portRanges on interface ${namePath(ctx, x)}`,
        }
      : undefined,
  ),
];

/** Ports are checked only on the pod network, as in KubeVirt. */
function portItems(ctx: VmiContext, x: IfaceItem): PortItem[] {
  const ports = onPod(x) ? (x.iface.ports ?? []) : [];
  return ports.map((port, j) => ({ port, j, ports, path: `${ctx.ifacePath(x.i, 'ports')}[${j}]` }));
}

const portRules: readonly VmiRule<PortItem>[] = [
  rule(KubeVirtCode.PortNameDuplicate, 'a duplicate port name', (_ctx, p) =>
    p.port.name && p.ports.slice(0, p.j).some((q) => q.name === p.port.name)
      ? { path: `${p.path}.name`, message: `Duplicate name of the port: ${p.port.name}` }
      : undefined,
  ),
  rule(KubeVirtCode.PortNameInvalid, 'a port name not an IANA_SVC_NAME', (_ctx, p) =>
    p.port.name && !isValidPortName(p.port.name)
      ? { path: `${p.path}.name`, message: `Invalid name of the port: ${p.port.name}` }
      : undefined,
  ),
  rule(KubeVirtCode.PortRequired, 'port 0', (_ctx, p) =>
    p.port.port === 0 ? { path: p.path, message: 'Port field is mandatory.' } : undefined,
  ),
  rule(KubeVirtCode.PortRange, 'port <0 or ≥65536', (_ctx, p) =>
    p.port.port < 0 || p.port.port >= 65536
      ? { path: p.path, message: 'Port field must be in range 0 < x < 65536.' }
      : undefined,
  ),
  rule(KubeVirtCode.PortProtocol, 'port protocol not ""/TCP/UDP', (_ctx, p) =>
    p.port.protocol && !isTcpUdp(p.port.protocol)
      ? { path: `${p.path}.protocol`, message: 'Unknown protocol, only TCP or UDP allowed' }
      : undefined,
  ),
];

/** portRanges checks run on the pod network only (and from v1.9). */
const rangesChecked = (ctx: VmiContext, x: IfaceItem): readonly PortRange[] | undefined =>
  onPod(x) ? ranges(ctx, x) : undefined;

const portRangesRules: readonly VmiRule<IfaceItem>[] = [
  rule(KubeVirtCode.PortRangesNotMasq, 'portRanges on a non-masquerade interface', (ctx, x) =>
    rangesChecked(ctx, x) && !x.iface.masquerade
      ? {
          path: namePath(ctx, x),
          message: `portRanges are only supported on masquerade interfaces (${namePath(ctx, x)})`,
        }
      : undefined,
  ),
  rule(KubeVirtCode.PortRangesMax, 'more than 10 portRanges', (ctx, x) =>
    (rangesChecked(ctx, x)?.length ?? 0) > 10
      ? {
          path: ctx.ifacePath(x.i, 'portRanges'),
          message: 'No more than 10 portRanges are allowed',
        }
      : undefined,
  ),
];

function rangeItems(ctx: VmiContext, x: IfaceItem): RangeItem[] {
  return (rangesChecked(ctx, x) ?? []).map((range, j) => ({
    range,
    path: `${ctx.ifacePath(x.i, 'portRanges')}[${j}]`,
  }));
}

const rangeRules: readonly VmiRule<RangeItem>[] = [
  rule(KubeVirtCode.PortRangeProtocol, 'portRange protocol not TCP/UDP ("" is TCP)', (_ctx, r) =>
    isTcpUdp(rangeProto(r.range))
      ? undefined
      : { path: `${r.path}.protocol`, message: 'Unknown protocol, only TCP or UDP allowed' },
  ),
  rule(KubeVirtCode.PortRangeStart, 'portRange start outside 0<x<65536', (_ctx, r) =>
    r.range.start <= 0 || r.range.start >= 65536
      ? { path: `${r.path}.start`, message: 'Start must be a valid port number, 0 < x < 65536' }
      : undefined,
  ),
  rule(KubeVirtCode.PortRangeEnd, 'portRange end outside 0<x<65536', (_ctx, r) =>
    r.range.end <= 0 || r.range.end >= 65536
      ? { path: `${r.path}.end`, message: 'End must be a valid port number, 0 < x < 65536' }
      : undefined,
  ),
  rule(KubeVirtCode.PortRangeOrder, 'portRange start > end', (_ctx, r) =>
    r.range.start > r.range.end
      ? { path: `${r.path}.start`, message: 'Start must be less than or equal to end' }
      : undefined,
  ),
];

/** Every pair of ranges of one protocol, protocols in sorted order, pairs in spec order. */
function rangePairs(ctx: VmiContext, x: IfaceItem): OverlapItem[] {
  const byProto = new Map<string, { start: number; end: number }[]>();
  for (const r of rangesChecked(ctx, x) ?? []) {
    const proto = rangeProto(r);
    const list = byProto.get(proto) ?? [];
    list.push({ start: r.start, end: r.end });
    byProto.set(proto, list);
  }
  const out: OverlapItem[] = [];
  const path = ctx.ifacePath(x.i, 'portRanges');
  for (const [proto, list] of [...byProto].sort(([p], [q]) => p.localeCompare(q)))
    list.forEach((a, k) => list.slice(k + 1).forEach((b) => out.push({ proto, a, b, path })));
  return out;
}

const overlapRule: VmiRule<OverlapItem> = rule(
  KubeVirtCode.PortRangeOverlap,
  'overlapping portRanges of one protocol',
  (_ctx, { proto, a, b, path }) =>
    a.start <= b.end && b.start <= a.end
      ? {
          path,
          message: `${proto} portRanges [${a.start}-${a.end}] and [${b.start}-${b.end}] overlap`,
        }
      : undefined,
);

const privateOptions = (x: IfaceItem): readonly PrivateOption[] =>
  x.iface.dhcpOptions ? (x.iface.dhcpOptions.privateOptions ?? []) : [];

function indexed<T>(all: readonly T[], base: string): Indexed<T>[] {
  return all.map((value, j) => ({ value, path: `${base}[${j}]` }));
}

const dhcpPrivateDuplicateRule: VmiRule<IfaceItem> = rule(
  KubeVirtCode.DhcpPrivateDuplicate,
  'duplicate DHCP private options',
  (ctx, x) => {
    const priv = privateOptions(x);
    return new Set(priv.map((o) => o.option)).size < priv.length
      ? {
          path: ctx.ifacePath(x.i, 'dhcpOptions.privateOptions'),
          message: 'Found Duplicates: you have provided duplicate DHCPPrivateOptions',
        }
      : undefined;
  },
);

const dhcpPrivateRangeRule: VmiRule<Indexed<PrivateOption>> = rule(
  KubeVirtCode.DhcpPrivateRange,
  'a DHCP private option outside 224–254',
  (_ctx, o) =>
    o.value.option >= 224 && o.value.option <= 254
      ? undefined
      : {
          path: `${o.path}.option`,
          message: 'provided DHCPPrivateOptions are out of range, must be in range 224 to 254',
        },
);

const dhcpNtpRule: VmiRule<Indexed<string>> = rule(
  KubeVirtCode.DhcpNtp,
  'a DHCP NTP server not IPv4',
  (_ctx, s) =>
    parseIPv4(s.value) || isV4MappedV6(s.value)
      ? undefined
      : { path: s.path, message: 'NTP servers must be a list of valid IPv4 addresses.' },
);

/** validateInterfacesFields: the rules run on each interface, in KubeVirt's order. */
export const interfaceFieldNodes: readonly VmiNode<IfaceItem>[] = [
  ...ownFieldRules,
  each('ports (pod network only)', portItems, portRules),
  ...portRangesRules,
  each('portRanges (pod network only, v1.9+)', rangeItems, rangeRules),
  each('portRange pairs', rangePairs, [overlapRule]),
  dhcpPrivateDuplicateRule,
  each(
    'DHCP private options',
    (ctx: VmiContext, x: IfaceItem) =>
      indexed(privateOptions(x), ctx.ifacePath(x.i, 'dhcpOptions.privateOptions')),
    [dhcpPrivateRangeRule],
  ),
  each(
    'DHCP NTP servers',
    (ctx: VmiContext, x: IfaceItem) =>
      indexed(x.iface.dhcpOptions?.ntpServers ?? [], ctx.ifacePath(x.i, 'dhcpOptions.ntpServers')),
    [dhcpNtpRule],
  ),
];
