// The pod-net planner: from a VM's network plan and what the pod namespace holds now, the ordered steps (each with its undo) that build the in-pod bridges, taps, NAT and address servers.
//
// Theory of operation. Pure: no I/O, randomness passed in. Every step is plain JSON data so
// that the applier (apply.ts) can record each done step's undo in the state file and `down`
// (or a rollback) can run the undos in reverse order, even from another process. Undos are
// written to be idempotent (`replace`, deletes of things only bindery created), because a
// rollback may run an undo whose step half happened.
//
// What gets built mirrors the control planes (facts-kubevirt.md §6, facts-virtink.md §2):
// - bridge / managedTap: the pod link loses its addresses, is renamed (`eth0-nic`), gets a new
//   MAC and joins a bridge with a tap; a dummy under the old name keeps the old MAC, MTU and
//   addresses (CNI CHECK). The guest takes the pod's address by DHCP from the address server.
// - masquerade: a bridge holding the NAT gateway, a tap on it, forwarding, nftables NAT.
// - plugin `tap`: a tap joined to the untouched pod link by two tc mirred redirects (Kata
//   Containers' tcfilter model).
// - SR-IOV / vDPA: nothing in the namespace; the device is prepared (devices.ts). An interface
//   whose device-info is missing stops the plan before anything is done.
import type { AddressRoute4, AddressServerConfig } from './address-config.js';
import { BinderyError, ErrorCode } from '../errors.js';
import type { BindingPlan, VmNetworkPlan } from '../plan/types.js';
import { buildNftRuleset, nftJson } from '../render/nftables.js';
import type { DiscoveredLink, LinkAddress } from './iproute.js';
import { routeArgs } from './iproute.js';
import { missingDeviceInfo, type DeviceRoots } from './devices.js';
import type { ResolvConf } from './resolv.js';

/** KubeVirt's unprivileged virt-launcher user (qemu), owner of the taps it opens. */
export const KUBEVIRT_QEMU_UID = 107;
/** KubeVirt's masquerade bridge MAC. */
export const KUBEVIRT_MASQUERADE_BRIDGE_MAC = '02:00:00:00:00:00';
/** The link-local address pod-net gives a bridge serving IPv6, so RAs have a known source. */
export const ROUTER_LINK_LOCAL = 'fe80::1';

/** The address server part pod-net decides; the applier adds netns and the file paths. */
export type AddressServerPlan = Omit<AddressServerConfig, 'leaseFile' | 'pidFile' | 'logFile'>;

/** One thing the applier does (or undoes). Plain JSON. */
export type Action =
  /** A command (ip, tc, bridge) in the namespace; `fallback` runs when it fails. */
  | {
      readonly kind: 'cmd';
      readonly argv: readonly string[];
      readonly fallback?: readonly string[];
    }
  /** Set a sysctl (slashed key); the applier records the old value and undoes to it. */
  | { readonly kind: 'sysctl'; readonly key: string; readonly value: string }
  /** Load a ruleset with `nft -j -f -`; undo deletes exactly `tables`. */
  | {
      readonly kind: 'nft';
      readonly json: unknown;
      readonly tables: ReadonlyArray<{ readonly family: string; readonly name: string }>;
    }
  | {
      readonly kind: 'nft-delete';
      readonly tables: ReadonlyArray<{ readonly family: string; readonly name: string }>;
    }
  /** Write the config and start the address server; undo stops it. */
  | { readonly kind: 'address-server'; readonly config: AddressServerPlan }
  | { readonly kind: 'stop-address-server'; readonly pid: number; readonly device: string }
  /** Prepare an SR-IOV/vDPA device (devices.ts); undo releases it. */
  | { readonly kind: 'prepare-device'; readonly iface: BindingPlan }
  /** `roots`: the sysfs and /dev it was prepared under, so `down` releases it there. */
  | { readonly kind: 'release-device'; readonly prepared: unknown; readonly roots?: DeviceRoots };

/** One step: what it does, its undo, and whose (a field path) it is. */
export interface Step {
  /** The field path of the interface the step serves (or of the first one, for VM-wide steps). */
  readonly path: string;
  readonly action: Action;
  /** Undo of a plain command step; the applier derives the undo of the stateful actions. */
  readonly undo: readonly Action[];
}

/** What `up` prints about one interface. */
export interface InterfaceSummary {
  readonly name: string;
  readonly path: string;
  /** `bridge`, `masquerade`, `plugin tap`, … or why nothing was done. */
  readonly binding: string;
  readonly podInterface: string;
  readonly bridge?: string;
  readonly tap?: string;
  /** The address the guest gets by DHCP, with prefix. */
  readonly guestAddress?: string;
  readonly guestAddress6?: string;
  readonly guestMac?: string;
  /** The device the address server serves, when there is one. */
  readonly addressServer?: string;
  readonly skipped?: string;
  /** SR-IOV: the VF (bound to vfio-pci by `up`), from the network-status. */
  readonly pciAddress?: string;
  /** vDPA: the vhost-vdpa device, from the network-status. */
  readonly vdpaPath?: string;
}

/** Everything the planner looks at. */
export interface PodNetPlanInput {
  readonly plan: VmNetworkPlan;
  /** The namespace path (goes into the address server config). */
  readonly netns: string;
  /** Field path of each interface, by interface name. */
  readonly paths: ReadonlyMap<string, string>;
  /** Index of each interface in the spec's interface list, by name (KubeVirt's fake bridge IP). */
  readonly interfaceIndex: ReadonlyMap<string, number>;
  /** The pod links the plan names, as found; missing: absent from the map. */
  readonly links: ReadonlyMap<string, DiscoveredLink>;
  /** Every link name in the namespace. */
  readonly existingLinks: readonly string[];
  /** Every nft table, as `family name`. */
  readonly existingTables: readonly string[];
  readonly resolv: ResolvConf;
  /** Random bytes (MACs); injected so the planner stays pure. */
  readonly random: (n: number) => Uint8Array;
}

/** The planner's answer. */
export interface PodNetSteps {
  readonly steps: readonly Step[];
  readonly interfaces: readonly InterfaceSummary[];
}

const cmd = (...argv: string[]): Action => ({ kind: 'cmd', argv });

/** The step that creates a bridge with a fixed MAC and MTU (undo: delete it). */
function addBridge(path: string, bridge: string, mac: string, mtu: string): Step {
  return {
    path,
    action: cmd('ip', 'link', 'add', 'name', bridge, 'address', mac, 'mtu', mtu, 'type', 'bridge'),
    undo: [cmd('ip', 'link', 'del', 'dev', bridge)],
  };
}

function hex(b: number): string {
  return b.toString(16).padStart(2, '0');
}

/** A random locally administered unicast MAC. */
export function randomMac(random: (n: number) => Uint8Array): string {
  const b = random(6);
  b[0] = (b[0]! & 0xfc) | 0x02;
  return [...b].map(hex).join(':');
}

/** A random MAC with the same OUI (first three bytes) as `mac`, as Virtink's SpoofMacSameVendor. */
export function sameVendorMac(mac: string, random: (n: number) => Uint8Array): string {
  const tail = [...random(3)].map(hex);
  const next = [...mac.split(':').slice(0, 3), ...tail].join(':');
  return next.toLowerCase() === mac.toLowerCase() ? randomMac(random) : next;
}

function fail(path: string, message: string): never {
  throw new BinderyError(ErrorCode.PodNet, `${path}: ${message}`);
}

function addrArgs(op: 'add' | 'replace' | 'del', a: LinkAddress, dev: string): string[] {
  return [
    'ip',
    'addr',
    op,
    `${a.local}/${a.prefixLength}`,
    'dev',
    dev,
    ...(a.family === 6 && op !== 'del' ? ['nodad'] : []),
  ];
}

/** Undo that puts a pod link back as discovered: up (if it was), addresses, non-kernel routes. */
function restoreLink(link: DiscoveredLink): Action[] {
  // Down first: when it comes up again its IPv6 link-local is derived from the restored MAC.
  return [
    cmd('ip', 'link', 'set', 'dev', link.name, 'down'),
    ...(link.up ? [cmd('ip', 'link', 'set', 'dev', link.name, 'up')] : []),
    ...link.addresses.map((a) => cmd(...addrArgs('replace', a, link.name))),
    ...link.routes
      .filter((r) => r.protocol !== 'kernel')
      .map((r) => cmd('ip', ...routeArgs(r, link.name))),
  ];
}

/** DHCPv4 routes of a pod link: its non-default routes, then the default(s) (option 121 order). */
export function dhcpRoutes(link: DiscoveredLink): AddressRoute4[] {
  const v4 = link.routes.filter((r) => r.family === 4);
  const toRoute = (r: (typeof v4)[number]): AddressRoute4 => ({
    dst: r.dst === 'default' ? '0.0.0.0/0' : r.dst.includes('/') ? r.dst : `${r.dst}/32`,
    via: r.gateway ?? '0.0.0.0',
  });
  return [
    ...v4.filter((r) => r.dst !== 'default').map(toRoute),
    ...v4.filter((r) => r.dst === 'default').map(toRoute),
  ];
}

function tapOwner(plan: VmNetworkPlan): string[] {
  if (plan.platform !== 'kubevirt' || plan.root) return [];
  return ['user', String(KUBEVIRT_QEMU_UID), 'group', String(KUBEVIRT_QEMU_UID)];
}

function bindingLabel(i: BindingPlan): string {
  if (i.binding.kind === 'core') return i.binding.method;
  return `plugin ${i.binding.plugin.name} (${i.binding.plugin.domainAttachmentType ?? 'sidecar'})`;
}

/**
 * Plans the steps that plumb `input.plan` into the pod namespace.
 * @param input - the plan, the namespace's current links and tables, resolv.conf, randomness
 * @returns the steps and a summary per interface
 * @throws BinderyError (PodNet) whose message starts with the interface's field path, for a
 *   missing pod link, a taken name, or a taken nft table; (DeviceInfoMissing) for an SR-IOV or
 *   vDPA interface without device-info
 */
export function planPodNetSteps(input: PodNetPlanInput): PodNetSteps {
  const { plan, random } = input;
  const steps: Step[] = [];
  const late: Step[] = [];
  const summaries: InterfaceSummary[] = [];
  const taken = new Set(input.existingLinks);
  const claim = (path: string, name: string, what: string): void => {
    if (taken.has(name))
      fail(path, `${what} ${name} already exists in the pod namespace (not made by bindery)`);
    taken.add(name);
  };
  const dns = input.resolv;
  const sysctlsDone = new Set<string>();
  const sysctl = (path: string, key: string, value: string): void => {
    if (sysctlsDone.has(key)) return;
    sysctlsDone.add(key);
    steps.push({ path, action: { kind: 'sysctl', key, value }, undo: [] });
  };
  // Masquerade interfaces as they will be plumbed (IPv6 only where the pod link has it).
  const masqueraded: BindingPlan[] = [];
  let firstMasqPath: string | undefined;

  for (const iface of plan.interfaces) {
    const path = input.paths.get(iface.name) ?? iface.name;
    const base = { name: iface.name, path, binding: bindingLabel(iface) };
    const podIf = iface.podInterfaceName;
    if (iface.state !== 'up') {
      summaries.push({ ...base, podInterface: podIf, skipped: `state ${iface.state}` });
      continue;
    }
    if (iface.attachment === 'hostdev' || iface.attachment === 'vdpa') {
      const missing = missingDeviceInfo(iface);
      if (missing !== undefined)
        throw new BinderyError(ErrorCode.DeviceInfoMissing, `${path}: ${missing}`);
      steps.push({ path, action: { kind: 'prepare-device', iface }, undo: [] });
      summaries.push({
        ...base,
        podInterface: podIf,
        ...(iface.device?.pciAddress !== undefined ? { pciAddress: iface.device.pciAddress } : {}),
        ...(iface.device?.vdpaPath !== undefined ? { vdpaPath: iface.device.vdpaPath } : {}),
      });
      continue;
    }
    if (iface.attachment !== 'tap') {
      summaries.push({
        ...base,
        podInterface: podIf,
        skipped: `attachment ${iface.attachment}: nothing to plumb in the pod`,
      });
      continue;
    }
    const link = input.links.get(podIf);
    if (!link) fail(path, `pod link ${podIf} does not exist in the pod namespace`);
    const tap = iface.tapName;
    if (tap === undefined) fail(path, 'the plan names no tap device');
    const mtu = String(link.mtu);
    const v4 = link.addresses.find((a) => a.family === 4);
    const has6 = link.addresses.some((a) => a.family === 6);
    const defaultV4 = link.routes.find((r) => r.family === 4 && r.dst === 'default');
    const owner = tapOwner(plan);
    const isCore = iface.binding.kind === 'core';
    const method = iface.binding.kind === 'core' ? iface.binding.method : undefined;
    const attachType =
      iface.binding.kind === 'plugin' ? iface.binding.plugin.domainAttachmentType : undefined;

    /** Adds the tap; without a master it gets a MAC of its own, returned. */
    const addTap = (master: string | undefined): string | undefined => {
      claim(path, tap, 'tap');
      steps.push({
        path,
        action: cmd('ip', 'tuntap', 'add', 'dev', tap, 'mode', 'tap', ...owner),
        undo: [cmd('ip', 'link', 'del', 'dev', tap)],
      });
      const ownMac = master === undefined ? randomMac(random) : undefined;
      const tapMac = ownMac !== undefined ? ['address', ownMac] : [];
      steps.push({
        path,
        action: cmd(
          'ip',
          'link',
          'set',
          'dev',
          tap,
          ...tapMac,
          'mtu',
          mtu,
          ...(master !== undefined ? ['master', master] : []),
          'up',
        ),
        undo: [],
      });
      return ownMac;
    };

    if ((isCore && method === 'bridge') || attachType === 'managedTap') {
      // managedTap: KubeVirt expects the binding plugin's CNI to have built this; bindery is
      // that plugin here, so it builds the same bridge as core bridge and (below) also starts
      // the address server the plugin would run.
      const bridge = iface.bridgeName;
      const renamed = iface.renamedPodInterfaceName;
      if (bridge === undefined || renamed === undefined)
        fail(path, 'the plan names no bridge or renamed pod link');
      claim(path, bridge, 'bridge');
      claim(path, renamed, 'link name');
      const bridgeMac = randomMac(random);
      let bridgeAddr: string | undefined;
      if (plan.platform === 'virtink') bridgeAddr = iface.bridgeAddress;
      else if (v4) bridgeAddr = `169.254.75.1${input.interfaceIndex.get(iface.name) ?? 0}/32`;
      // KubeVirt copies the bridge's MAC to the port; Virtink spoofs one of the same vendor.
      const nicMac = plan.platform === 'virtink' ? sameVendorMac(link.mac, random) : bridgeMac;
      // The stand-in under the pod link's old name: its MAC, MTU and (below) addresses.
      const standIn = (type: string): string[] => [
        'ip',
        'link',
        'add',
        'name',
        podIf,
        'address',
        link.mac,
        'mtu',
        mtu,
        'type',
        type,
      ];
      steps.push(
        addBridge(path, bridge, bridgeMac, mtu),
        ...(bridgeAddr !== undefined
          ? [{ path, action: cmd('ip', 'addr', 'add', bridgeAddr, 'dev', bridge), undo: [] }]
          : []),
        { path, action: cmd('ip', 'link', 'set', 'dev', bridge, 'up'), undo: [] },
        // Addresses go before the link goes down (down drops IPv6 addresses by itself). The
        // first of these steps carries the undo that puts the link back as it was.
        ...[
          ...link.addresses.map((a) => cmd(...addrArgs('del', a, podIf))),
          cmd('ip', 'link', 'set', 'dev', podIf, 'down'),
        ].map((action, n) => ({ path, action, undo: n === 0 ? restoreLink(link) : [] })),
        {
          path,
          action: cmd('ip', 'link', 'set', 'dev', podIf, 'name', renamed),
          undo: [cmd('ip', 'link', 'set', 'dev', renamed, 'name', podIf)],
        },
        {
          path,
          action: cmd('ip', 'link', 'set', 'dev', renamed, 'address', nicMac),
          undo: [cmd('ip', 'link', 'set', 'dev', renamed, 'address', link.mac)],
        },
      );
      sysctl(path, `net/ipv6/conf/${renamed}/disable_ipv6`, '1');
      steps.push(
        {
          path,
          action: cmd('ip', 'link', 'set', 'dev', renamed, 'master', bridge),
          undo: [cmd('ip', 'link', 'set', 'dev', renamed, 'nomaster')],
        },
        {
          path,
          action: cmd('bridge', 'link', 'set', 'dev', renamed, 'learning', 'off'),
          undo: [],
        },
        { path, action: cmd('ip', 'link', 'set', 'dev', renamed, 'up'), undo: [] },
        {
          path,
          // Kernels built without CONFIG_DUMMY have ifb, the nearest thing: a standalone link
          // that holds addresses and carries nothing.
          action: { kind: 'cmd', argv: standIn('dummy'), fallback: standIn('ifb') },
          undo: [cmd('ip', 'link', 'del', 'dev', podIf)],
        },
        ...link.addresses.map((a) => ({
          path,
          action: cmd(...addrArgs('add', a, podIf)),
          undo: [],
        })),
        { path, action: cmd('ip', 'link', 'set', 'dev', podIf, 'up'), undo: [] },
      );
      addTap(bridge);
      if (plan.platform === 'kubevirt' && v4) sysctl(path, 'net/ipv4/conf/all/arp_ignore', '1');
      // Virtink's prerunner gives the VM NIC the pod link's MAC whatever the spec says
      // (facts-virtink.md §2); KubeVirt the spec MAC, else the pod link's.
      const guestMac = plan.platform === 'virtink' ? link.mac : (iface.mac ?? link.mac);
      const serverAddress = bridgeAddr?.split('/')[0];
      if (v4 && serverAddress !== undefined)
        late.push({
          path,
          action: {
            kind: 'address-server',
            config: {
              netns: input.netns,
              device: bridge,
              serverMac: bridgeMac,
              clientMac: guestMac,
              mtu: link.mtu,
              search: dns.search,
              v4: {
                address: v4.local,
                prefixLength: v4.prefixLength,
                ...(defaultV4?.gateway !== undefined ? { router: defaultV4.gateway } : {}),
                serverAddress,
                routes: dhcpRoutes(link),
                dns: dns.nameservers4,
              },
            },
          },
          undo: [],
        });
      summaries.push({
        ...base,
        podInterface: podIf,
        bridge,
        tap,
        guestMac,
        ...(v4 ? { guestAddress: `${v4.local}/${v4.prefixLength}` } : {}),
        ...(v4 && serverAddress !== undefined ? { addressServer: bridge } : {}),
      });
      continue;
    }

    if (isCore && method === 'masquerade') {
      const bridge = iface.bridgeName;
      const m = iface.masquerade;
      if (bridge === undefined || m === undefined)
        fail(path, 'the plan names no bridge or masquerade subnet');
      claim(path, bridge, 'bridge');
      const m6 = has6 ? m.ipv6 : undefined;
      const bridgeMac =
        plan.platform === 'kubevirt' ? KUBEVIRT_MASQUERADE_BRIDGE_MAC : randomMac(random);
      steps.push(addBridge(path, bridge, bridgeMac, mtu));
      if (m6) {
        // A fixed link-local, so the address server knows where its RAs come from.
        steps.push(
          {
            path,
            action: cmd('ip', 'link', 'set', 'dev', bridge, 'addrgenmode', 'none'),
            undo: [],
          },
          {
            path,
            action: cmd('ip', 'addr', 'add', `${ROUTER_LINK_LOCAL}/64`, 'dev', bridge, 'nodad'),
            undo: [],
          },
        );
      }
      steps.push({
        path,
        action: cmd('ip', 'addr', 'add', `${m.ipv4.gateway}/${m.ipv4.prefixLength}`, 'dev', bridge),
        undo: [],
      });
      if (m6)
        steps.push({
          path,
          action: cmd(
            'ip',
            'addr',
            'add',
            `${m6.gateway}/${m6.prefixLength}`,
            'dev',
            bridge,
            'nodad',
          ),
          undo: [],
        });
      if (plan.platform === 'kubevirt') sysctl(path, `net/ipv4/conf/${bridge}/route_localnet`, '1');
      steps.push({ path, action: cmd('ip', 'link', 'set', 'dev', bridge, 'up'), undo: [] });
      addTap(bridge);
      sysctl(path, 'net/ipv4/ip_forward', '1');
      if (m6) sysctl(path, 'net/ipv6/conf/all/forwarding', '1');
      masqueraded.push(m6 ? iface : { ...iface, masquerade: { ipv4: m.ipv4 } });
      firstMasqPath ??= path;
      // Virtink's dnsmasq serves only the spec MAC (dhcp-host); KubeVirt's server anyone.
      const clientMac = plan.platform === 'virtink' ? iface.mac : undefined;
      late.push({
        path,
        action: {
          kind: 'address-server',
          config: {
            netns: input.netns,
            device: bridge,
            serverMac: bridgeMac,
            ...(clientMac !== undefined ? { clientMac } : {}),
            mtu: link.mtu,
            search: dns.search,
            v4: {
              address: m.ipv4.guest,
              prefixLength: m.ipv4.prefixLength,
              router: m.ipv4.gateway,
              serverAddress: m.ipv4.gateway,
              routes: [],
              dns: dns.nameservers4,
            },
            ...(m6
              ? {
                  v6: {
                    address: m6.guest,
                    onLinkPrefix: m6.cidr,
                    routerLinkLocal: ROUTER_LINK_LOCAL,
                    dns: dns.nameservers6,
                  },
                }
              : {}),
          },
        },
        undo: [],
      });
      summaries.push({
        ...base,
        podInterface: podIf,
        bridge,
        tap,
        guestAddress: `${m.ipv4.guest}/${m.ipv4.prefixLength}`,
        ...(m6 ? { guestAddress6: `${m6.guest}/${m6.prefixLength}` } : {}),
        ...(iface.mac !== undefined ? { guestMac: iface.mac } : {}),
        addressServer: bridge,
      });
      continue;
    }

    if (attachType === 'tap') {
      // The pod link keeps its addresses; every frame arriving on one side leaves by the other
      // (Kata Containers' tcfilter model), so the guest must use the pod link's MAC.
      const tapMac = addTap(undefined) ?? link.mac;
      // matchall where the kernel has it, else u32 matching every packet (what Kata's
      // tcfilter installs; kernels without CONFIG_NET_CLS_MATCHALL still have u32).
      const redirect = (from: string, to: string): Action => {
        const head = ['tc', 'filter', 'add', 'dev', from, 'parent', 'ffff:', 'protocol', 'all'];
        const act = ['action', 'mirred', 'egress', 'redirect', 'dev', to];
        return {
          kind: 'cmd',
          argv: [...head, 'matchall', ...act],
          fallback: [...head, 'u32', 'match', 'u8', '0', '0', ...act],
        };
      };
      steps.push(
        {
          path,
          action: cmd('tc', 'qdisc', 'add', 'dev', podIf, 'ingress'),
          undo: [cmd('tc', 'qdisc', 'del', 'dev', podIf, 'ingress')],
        },
        { path, action: cmd('tc', 'qdisc', 'add', 'dev', tap, 'ingress'), undo: [] },
        { path, action: redirect(podIf, tap), undo: [] },
        { path, action: redirect(tap, podIf), undo: [] },
      );
      const guestMac = iface.mac ?? link.mac;
      // The tap has no address. Option 54 only has to name an address the guest can send
      // to: the pod's gateway (its requests reach the server through the redirect anyway),
      // else the pod address itself.
      if (v4)
        late.push({
          path,
          action: {
            kind: 'address-server',
            config: {
              netns: input.netns,
              device: tap,
              serverMac: tapMac,
              clientMac: guestMac,
              mtu: link.mtu,
              search: dns.search,
              v4: {
                address: v4.local,
                prefixLength: v4.prefixLength,
                ...(defaultV4?.gateway !== undefined ? { router: defaultV4.gateway } : {}),
                serverAddress: defaultV4?.gateway ?? v4.local,
                routes: dhcpRoutes(link),
                dns: dns.nameservers4,
              },
            },
          },
          undo: [],
        });
      summaries.push({
        ...base,
        podInterface: podIf,
        tap,
        guestMac,
        ...(v4 ? { guestAddress: `${v4.local}/${v4.prefixLength}`, addressServer: tap } : {}),
      });
      continue;
    }
    fail(path, `bindery cannot plumb a ${bindingLabel(iface)} interface with a tap`);
  }

  if (masqueraded.length > 0 && firstMasqPath !== undefined) {
    const podIPv4 = input.links
      .get(masqueraded[0]!.podInterfaceName)
      ?.addresses.find((a) => a.family === 4)?.local;
    const rs = buildNftRuleset({
      ...plan,
      interfaces: masqueraded,
      ...(plan.podIPv4 === undefined && podIPv4 !== undefined ? { podIPv4 } : {}),
    });
    if (rs) {
      const tables = rs.tables.map((t) => ({ family: t.family, name: t.name }));
      for (const t of tables)
        if (input.existingTables.includes(`${t.family} ${t.name}`))
          fail(
            firstMasqPath,
            `nftables table ${t.family} ${t.name} already exists in the pod namespace (not made by bindery)`,
          );
      steps.push({
        path: firstMasqPath,
        action: { kind: 'nft', json: nftJson(rs), tables },
        undo: [],
      });
    }
  }
  return { steps: [...steps, ...late], interfaces: summaries };
}
