// libvirt domain XML for a VM's network: one <interface>/<hostdev> per binding and <memoryBacking>.
import { create } from 'xmlbuilder2';
import type { BindingPlan, VmNetworkPlan } from '../plan/types.js';
import { ISTIO_RESERVED_PORTS } from './nftables.js';

/** Where passt writes its log in virt-launcher (the KubeVirt passt sidecar's `logFile`). */
export const PASST_LOG_FILE = '/var/run/kubevirt/passt.log';

/** Choices the facts leave to the deployment. */
export interface DomainRenderOptions {
  /**
   * Render passt interfaces as `<interface type='vhostuser'>` (KubeVirt's sidecar since
   * 2025-04 and the core `passtBinding`; needs libvirt ≥ 11.1 and passt ≥ 2025_02_17) with a
   * shared memfd `<memoryBacking>`. Default false: `<interface type='user'>`, which libvirt
   * accepts since 9.0 and which the sidecar images up to 2025-04 (the seed's) generate.
   */
  readonly passtVhostUser?: boolean;
}

/** The rendered network part of a domain. */
export interface DomainNetworkXml {
  /** A `<devices>` element holding the interfaces and host devices, pretty-printed. */
  readonly devicesXml: string;
  /** The `<memoryBacking>` element when a vhost-user vNIC needs shared memory. */
  readonly memoryBackingXml?: string;
  /** Interfaces bindery could not render fully (e.g. a device known only at run time). */
  readonly warnings: readonly string[];
}

type XMLBuilder = ReturnType<typeof create>;

const XML_OPTS = { prettyPrint: true, headless: true, indent: '  ' } as const;

/**
 * Renders the network devices of a plan as libvirt domain XML.
 * - bridge, masquerade, plugin `tap`/`managedTap`: `<interface type='ethernet'>` on the tap;
 * - passt (core or the passt sidecar): `<interface type='user'|'vhostuser'>` with
 *   `<backend type='passt'/>` and `<portForward>` (Istio ports excluded);
 * - SR-IOV: `<hostdev>` on the VF from the network-status; vDPA: `<interface type='vdpa'>`;
 * - other sidecar plugins: a comment, as only the sidecar knows its vNIC.
 * @param plan - the VM's network plan
 * @param opts - rendering choices
 * @returns the `<devices>` XML, the `<memoryBacking>` XML when needed, and warnings
 */
export function renderDomainNetwork(
  plan: VmNetworkPlan,
  opts: DomainRenderOptions = {},
): DomainNetworkXml {
  const doc = create().ele('devices');
  const warnings = appendNetworkDevices(doc, plan, opts);
  const mb = needsSharedMemory(plan, opts) ? memoryBackingXml() : undefined;
  return {
    devicesXml: doc.end(XML_OPTS) + '\n',
    ...(mb !== undefined ? { memoryBackingXml: mb } : {}),
    warnings,
  };
}

/**
 * A minimal complete domain around the plan's network devices, for schema validation
 * (`virt-xml-validate FILE domain`) and as a starting point for hand-written domains.
 * @param plan - the VM's network plan
 * @param opts - rendering choices
 * @returns the domain XML document
 */
export function renderMinimalDomain(plan: VmNetworkPlan, opts: DomainRenderOptions = {}): string {
  const dom = create({ version: '1.0' }).ele('domain', { type: 'kvm' });
  dom.ele('name').txt(plan.vmName || 'vm');
  dom.ele('memory', { unit: 'KiB' }).txt('1048576');
  if (needsSharedMemory(plan, opts)) appendMemoryBacking(dom);
  dom.ele('os').ele('type', { arch: 'x86_64' }).txt('hvm');
  appendNetworkDevices(dom.ele('devices'), plan, opts);
  return dom.end({ prettyPrint: true, indent: '  ' }) + '\n';
}

function needsSharedMemory(plan: VmNetworkPlan, opts: DomainRenderOptions): boolean {
  return active(plan).some(
    (i) => i.attachment === 'vhostuser' || (i.attachment === 'passt' && !!opts.passtVhostUser),
  );
}

function memoryBackingXml(): string {
  const mb = create().ele('memoryBacking');
  mb.ele('source', { type: 'memfd' });
  mb.ele('access', { mode: 'shared' });
  return mb.end(XML_OPTS) + '\n';
}

function appendMemoryBacking(parent: XMLBuilder): void {
  const mb = parent.ele('memoryBacking');
  mb.ele('source', { type: 'memfd' });
  mb.ele('access', { mode: 'shared' });
}

function active(plan: VmNetworkPlan): BindingPlan[] {
  return plan.interfaces.filter((i) => i.state !== 'absent');
}

function appendNetworkDevices(
  parent: XMLBuilder,
  plan: VmNetworkPlan,
  opts: DomainRenderOptions,
): string[] {
  const warnings: string[] = [];
  for (const i of active(plan)) {
    switch (i.attachment) {
      case 'tap':
        tapInterface(parent, i, plan);
        break;
      case 'passt':
        passtInterface(parent, i, plan, opts);
        break;
      case 'hostdev':
        if (i.device?.pciAddress === undefined) {
          comment(parent, ` SR-IOV interface '${i.name}': VF PCI address known only at run time `);
          warnings.push(
            `interface '${i.name}': SR-IOV <hostdev> needs the VF PCI address from the pod's network-status (--network-status)`,
          );
        } else if (!hostdev(parent, i, i.device.pciAddress)) {
          warnings.push(`interface '${i.name}': malformed VF PCI address '${i.device.pciAddress}'`);
        }
        break;
      case 'vdpa':
        if (i.device?.vdpaPath === undefined) {
          comment(parent, ` vDPA interface '${i.name}': device known only at run time `);
          warnings.push(
            `interface '${i.name}': vDPA <interface> needs the vhost-vdpa device from the pod's network-status (--network-status)`,
          );
        } else {
          const e = parent.ele('interface', { type: 'vdpa' });
          guestAddress(e, i);
          e.ele('source', { dev: i.device.vdpaPath });
          common(e, i, plan, false);
        }
        break;
      case 'vhostuser': {
        const socket = vhostUserSocket(i);
        if (socket === undefined) {
          comment(parent, ` vhost-user interface '${i.name}': socket known only at run time `);
          warnings.push(`interface '${i.name}': vhost-user socket path is not in the NAD config`);
        } else {
          const e = parent.ele('interface', { type: 'vhostuser' });
          guestAddress(e, i);
          e.ele('source', { type: 'unix', path: socket, mode: 'server' });
          common(e, i, plan, false);
        }
        break;
      }
      case 'sidecar': {
        const p = i.binding.kind === 'plugin' ? i.binding.plugin : undefined;
        comment(
          parent,
          p?.sidecarImage
            ? ` interface '${i.name}' is defined by the sidecar of binding plugin '${p.name}' `
            : ` interface '${i.name}': binding plugin '${p?.name ?? '?'}' has no sidecar and no domain attachment `,
        );
        break;
      }
    }
  }
  return warnings;
}

/** Adds an XML comment; `--` (not allowed in comments) is split. */
function comment(parent: XMLBuilder, text: string): void {
  parent.com(text.replace(/-(?=-)/g, '- '));
}

/**
 * The libvirt model for a spec model: virtio becomes `virtio-non-transitional` (or
 * `virtio-transitional` with `useVirtioTransitional`); others pass through.
 */
export function domainModel(model: string, transitional: boolean): string {
  if (model !== 'virtio') return model;
  return transitional ? 'virtio-transitional' : 'virtio-non-transitional';
}

/** Parses `DDDD:BB:SS.F` into libvirt address attributes. */
export function pciAttributes(addr: string): Record<string, string> | undefined {
  const m = /^([0-9a-fA-F]{4}):([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-7])$/.exec(addr);
  if (!m) return undefined;
  return {
    type: 'pci',
    domain: `0x${m[1]!.toLowerCase()}`,
    bus: `0x${m[2]!.toLowerCase()}`,
    slot: `0x${m[3]!.toLowerCase()}`,
    function: `0x${m[4]}`,
  };
}

function guestAddress(e: XMLBuilder, i: BindingPlan): void {
  if (i.pciAddress === undefined) return;
  const a = pciAttributes(i.pciAddress);
  if (a) e.ele('address', a);
}

/** Model, MAC, MTU, boot order, link state, alias, rom, ACPI in KubeVirt's marshalling order. */
function common(e: XMLBuilder, i: BindingPlan, plan: VmNetworkPlan, romOff: boolean): void {
  e.ele('model', { type: domainModel(i.model, plan.useVirtioTransitional) });
  if (i.mac !== undefined) e.ele('mac', { address: i.mac });
  if (i.mtu !== undefined) e.ele('mtu', { size: String(i.mtu) });
  if (i.bootOrder !== undefined) e.ele('boot', { order: String(i.bootOrder) });
  if (i.state === 'down') e.ele('link', { state: 'down' });
  e.ele('alias', { name: `ua-${i.name}` });
  if (romOff && i.bootOrder === undefined) e.ele('rom', { enabled: 'no' });
  if (i.acpiIndex !== undefined && i.acpiIndex > 0) e.ele('acpi', { index: String(i.acpiIndex) });
}

function tapInterface(parent: XMLBuilder, i: BindingPlan, plan: VmNetworkPlan): void {
  const e = parent.ele('interface', { type: 'ethernet' });
  guestAddress(e, i);
  e.ele('target', { dev: i.tapName ?? i.podInterfaceName, managed: 'no' });
  common(e, i, plan, true);
}

function passtInterface(
  parent: XMLBuilder,
  i: BindingPlan,
  plan: VmNetworkPlan,
  opts: DomainRenderOptions,
): void {
  const e = parent.ele('interface', { type: opts.passtVhostUser ? 'vhostuser' : 'user' });
  guestAddress(e, i);
  e.ele('source', { dev: i.podInterfaceName });
  e.ele('model', { type: domainModel(i.model, plan.useVirtioTransitional) });
  if (i.mac !== undefined) e.ele('mac', { address: i.mac });
  if (i.state === 'down') e.ele('link', { state: 'down' });
  e.ele('alias', { name: `ua-${i.name}` });
  if (i.acpiIndex !== undefined && i.acpiIndex > 0) e.ele('acpi', { index: String(i.acpiIndex) });
  e.ele('backend', { type: 'passt', logFile: PASST_LOG_FILE });
  for (const pf of passtPortForwards(i, plan.istio)) {
    const p = e.ele('portForward', { proto: pf.proto });
    for (const r of pf.ranges)
      p.ele(
        'range',
        r.exclude ? { start: String(r.start), exclude: 'yes' } : { start: String(r.start) },
      );
  }
}

/** One `<portForward>` element: protocol and ranges (a start port, or an excluded one). */
export interface PasstPortForward {
  readonly proto: 'tcp' | 'udp';
  readonly ranges: ReadonlyArray<{ readonly start: number; readonly exclude?: boolean }>;
}

/**
 * KubeVirt's `generatePortForward`: Istio's reserved ports excluded from tcp, each declared
 * port as a range; no ports at all forwards everything (`tcp` and `udp` with no ranges). Quirk
 * kept: with Istio and no ports only the tcp element is emitted.
 * @param i - the interface
 * @param istio - whether Istio injection is on
 * @returns the portForward elements in order
 */
export function passtPortForwards(i: BindingPlan, istio: boolean): PasstPortForward[] {
  const tcp: Array<{ start: number; exclude?: boolean }> = [];
  const udp: Array<{ start: number }> = [];
  if (istio) for (const p of ISTIO_RESERVED_PORTS) tcp.push({ start: p, exclude: true });
  for (const p of i.ports) (p.protocol === 'UDP' ? udp : tcp).push({ start: p.port });
  if (i.ports.length === 0 && !istio)
    return [
      { proto: 'tcp', ranges: [] },
      { proto: 'udp', ranges: [] },
    ];
  const out: PasstPortForward[] = [];
  if (tcp.length > 0) out.push({ proto: 'tcp', ranges: tcp });
  if (udp.length > 0) out.push({ proto: 'udp', ranges: udp });
  return out;
}

function hostdev(parent: XMLBuilder, i: BindingPlan, vfAddress: string): boolean {
  const src = pciAttributes(vfAddress);
  if (!src) return false;
  const e = parent.ele('hostdev', { mode: 'subsystem', type: 'pci', managed: 'no' });
  e.ele('source').ele('address', {
    domain: src['domain']!,
    bus: src['bus']!,
    slot: src['slot']!,
    function: src['function']!,
  });
  if (i.bootOrder !== undefined) e.ele('boot', { order: String(i.bootOrder) });
  e.ele('alias', { name: `ua-sriov-${i.name}` });
  guestAddress(e, i);
  return true;
}

/** The vhost-user socket path a Virtink vhost-user NAD declares, if any. */
export function vhostUserSocket(i: BindingPlan): string | undefined {
  if (i.network.kind !== 'multus') return undefined;
  const name = i.network.cniConfig?.['vhost_user_socket_name'];
  if (typeof name !== 'string' || name === '') return undefined;
  return `/var/run/vhost-user/${name}`;
}
