// The hook sidecar's OnDefineDomain as a pure function: VMI JSON + domain XML → domain XML with the binding's interfaces.
//
// Theory of operation:
// - virt-launcher hands every hook sidecar the domain it is about to define (XML) and the VMI
//   (JSON), and feeds each sidecar's answer to the next (facts-kubevirt.md §4). A sidecar must
//   change only what its binding owns, so the domain goes through a DOM round trip
//   (xmlbuilder2, whitespace-only text kept) that keeps unknown elements, attributes,
//   namespaces (`xmlns:qemu`), comments, CDATA, processing instructions and order. The text is
//   first checked by fast-xml-parser's validator, which is strict where xmlbuilder2's lexer is
//   lenient (mismatched or unclosed tags, repeated attributes).
// - The VMI is decoded by the manifest loader (src/api) and planned by `planKubeVirt` with a
//   KubeVirt CR made in memory: the sidecar's own binding is registered with the attachment it
//   was started for (`passt`, `tap`, `managedTap`); every other plugin the VMI names is
//   registered as an opaque sidecar plugin so that its interfaces plan without being touched.
//   Unknown VMI fields (a newer KubeVirt's) are dropped with a note instead of failing.
// - Each interface bound to the binding (state not `absent`) is rendered by
//   `renderDomainNetwork` (src/render/domain-xml.ts) and replaces the `<interface>` whose
//   `<alias name='ua-NAME'/>` matches, in place, or is appended after the last `<interface>`,
//   as KubeVirt's passt sidecar does (§5). A `<mac>` the replaced element had and the new one
//   lacks is kept (virt-launcher fills it from the pod link); so is `<mtu>` for `ethernet`.
// - The pod link comes from the VMI status (`status.interfaces[].podInterfaceName`) when the
//   status has it, as the passt sidecar reads it; otherwise from the plan's naming scheme.
// - vhost-user passt needs guest memory another process can map: a missing `<memoryBacking>`
//   becomes `<memoryBacking><source type='memfd'/><access mode='shared'/></memoryBacking>`; an
//   existing one gets the missing `<access mode='shared'/>` and `<source type='memfd'/>`; an
//   access mode other than `shared` is an error, as in KubeVirt's sidecar.
// - Every problem with the input is a `BinderyError(HookInput)` with a message that names the
//   part at fault; the server answers it with gRPC INVALID_ARGUMENT.
import { XMLValidator } from 'fast-xml-parser';
import { create } from 'xmlbuilder2';
import { BinderyError, ErrorCode } from '../errors.js';
import { loadManifests } from '../api/load.js';
import { LoadCode } from '../api/decode.js';
import type {
  KubeVirtBindingPlugin,
  KubeVirtCR,
  KubeVirtVirtualMachineInstance,
} from '../api/types.js';
import { planKubeVirt } from '../plan/plan.js';
import { kubevirtTapName } from '../plan/names.js';
import type { BindingPlan, VmNetworkPlan } from '../plan/types.js';
import { renderDomainNetwork } from './domain-xml.js';

/** How the sidecar's binding reaches the domain. */
export type HookAttachment = 'passt' | 'tap' | 'managedTap';

/** What the sidecar was started for. */
export interface DomainHookOptions {
  /** The binding plugin name (the key in the KubeVirt CR's `network.binding`). */
  readonly binding: string;
  readonly attachment: HookAttachment;
  /** passt only: `<interface type='vhostuser'>` with shared memfd memory instead of `type='user'`. */
  readonly vhostUser?: boolean;
}

/** The mutated domain and what was done to it. */
export interface DomainHookResult {
  readonly domainXml: string;
  /** `replaced ua-NAME`, `appended ua-NAME`, `added memoryBacking`, … in order. */
  readonly changes: readonly string[];
  /** Things the caller should log: dropped unknown VMI fields, no interface for the binding. */
  readonly notes: readonly string[];
}

function invalid(message: string): BinderyError {
  return new BinderyError(ErrorCode.HookInput, message);
}

// ---------------------------------------------------------------------------------------------
// The VMI

/** A decoded VMI and the pod link names its status reports. */
export interface HookVmi {
  readonly vmi: KubeVirtVirtualMachineInstance;
  /** `status.interfaces[].name` → `podInterfaceName`. */
  readonly podInterfaceNames: ReadonlyMap<string, string>;
  /** Unknown fields that were dropped. */
  readonly dropped: readonly string[];
}

/** Splits a loader path (`a.b[0].c`, `m[key]`) into steps. */
function pathSteps(path: string): string[] | undefined {
  const steps: string[] = [];
  const re = /([^.[\]]+)|\[([^\]]*)\]/g;
  let m: RegExpExecArray | null;
  let consumed = 0;
  while ((m = re.exec(path)) !== null) {
    steps.push(m[1] ?? m[2] ?? '');
    consumed += m[0].length;
  }
  consumed += (path.match(/\./g) ?? []).length;
  return consumed === path.length && steps.length > 0 ? steps : undefined;
}

/** Deletes the value at `steps` in `root`; false when the path does not lead anywhere. */
function deletePath(root: unknown, steps: readonly string[]): boolean {
  let cur: unknown = root;
  for (let i = 0; i < steps.length - 1; i++) {
    if (cur === null || typeof cur !== 'object') return false;
    cur = (cur as Record<string, unknown>)[steps[i]!];
  }
  if (cur === null || typeof cur !== 'object' || Array.isArray(cur)) return false;
  const last = steps[steps.length - 1]!;
  if (!(last in cur)) return false;
  delete (cur as Record<string, unknown>)[last];
  return true;
}

/**
 * Decodes the VMI JSON virt-launcher sends with the manifest loader. Fields the loader does not
 * know are dropped (and listed); any other problem is an error.
 * @param json - the VMI as JSON text
 * @returns the typed VMI, the status' pod link names and the dropped fields
 * @throws BinderyError(HookInput) when the text is not a VMI
 */
export function decodeHookVmi(json: string): HookVmi {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (e) {
    throw invalid(`VMI: not JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    throw invalid('VMI: not a JSON object');
  const obj = raw as Record<string, unknown>;
  obj['apiVersion'] ??= 'kubevirt.io/v1';
  obj['kind'] ??= 'VirtualMachineInstance';
  if (obj['kind'] !== 'VirtualMachineInstance')
    throw invalid(`VMI: kind is ${JSON.stringify(obj['kind'])}, not VirtualMachineInstance`);
  const podInterfaceNames = new Map<string, string>();
  const status = obj['status'];
  if (status !== null && typeof status === 'object') {
    const ifs = (status as Record<string, unknown>)['interfaces'];
    if (Array.isArray(ifs))
      for (const i of ifs as unknown[]) {
        if (i === null || typeof i !== 'object') continue;
        const { name, podInterfaceName } = i as Record<string, unknown>;
        if (typeof name === 'string' && typeof podInterfaceName === 'string' && podInterfaceName)
          podInterfaceNames.set(name, podInterfaceName);
      }
  }
  const dropped: string[] = [];
  // Each round drops the unknown fields the loader reported; a field inside a dropped one is
  // reported only in a later round, so a few rounds are allowed.
  for (let round = 0; round < 8; round++) {
    const r = loadManifests(JSON.stringify(obj), 'vmi');
    const errors = r.diagnostics.filter((d) => d.severity === 'error');
    const unknown = errors.filter((d) => d.code === LoadCode.UnknownField);
    if (errors.length === 0) {
      const m = r.manifests[0];
      if (r.manifests.length !== 1 || m?.type !== 'kubevirt-vmi')
        throw invalid('VMI: not one VirtualMachineInstance');
      return { vmi: m.object, podInterfaceNames, dropped };
    }
    if (unknown.length < errors.length) {
      const e = errors.find((d) => d.code !== LoadCode.UnknownField)!;
      const more = errors.length - unknown.length - 1;
      throw invalid(
        `VMI: ${e.path ? `${e.path}: ` : ''}${e.message}${more > 0 ? ` (and ${more} more)` : ''}`,
      );
    }
    for (const u of unknown) {
      const steps = pathSteps(u.path);
      if (!steps || !deletePath(obj, steps)) throw invalid(`VMI: ${u.path}: ${u.message}`);
      dropped.push(u.path);
    }
  }
  throw invalid('VMI: too many unknown fields');
}

/** Plugin names the VMI's interfaces use. */
function pluginNames(vmi: KubeVirtVirtualMachineInstance): string[] {
  const names = new Set<string>();
  for (const i of vmi.spec.domain.devices.interfaces ?? [])
    if (i.binding?.name !== undefined) names.add(i.binding.name);
  return [...names];
}

/** The KubeVirt CR the sidecar's registration implies (other plugins as opaque sidecars). */
function registryFor(vmi: KubeVirtVirtualMachineInstance, opts: DomainHookOptions): KubeVirtCR {
  const binding: Record<string, KubeVirtBindingPlugin> = {};
  for (const n of pluginNames(vmi)) binding[n] = { sidecarImage: 'unknown' };
  binding[opts.binding] =
    opts.attachment === 'passt'
      ? { sidecarImage: 'bindery' }
      : { domainAttachmentType: opts.attachment };
  return {
    apiVersion: 'kubevirt.io/v1',
    kind: 'KubeVirt',
    metadata: { name: 'kubevirt', namespace: 'kubevirt' },
    spec: { configuration: { network: { binding } } },
  };
}

/**
 * Plans the VMI and keeps the interfaces of the sidecar's binding, with the attachment and the
 * pod link the sidecar uses.
 * @param vmi - the decoded VMI
 * @param opts - the sidecar's binding
 * @returns the whole plan and the binding's interfaces (not `absent`)
 * @throws BinderyError(HookInput) when the VMI does not plan
 */
export function planHookInterfaces(
  vmi: HookVmi,
  opts: DomainHookOptions,
): { plan: VmNetworkPlan; interfaces: BindingPlan[] } {
  const r = planKubeVirt({ vm: vmi.vmi, kubevirt: registryFor(vmi.vmi, opts) });
  if (!r.ok) {
    const e = r.errors[0]!;
    throw invalid(`VMI: ${e.path}: ${e.message}`);
  }
  const interfaces: BindingPlan[] = [];
  for (const i of r.plan.interfaces) {
    if (i.state === 'absent') continue;
    if (i.binding.kind !== 'plugin' || i.binding.plugin.name !== opts.binding) continue;
    const pod = vmi.podInterfaceNames.get(i.name) ?? i.podInterfaceName;
    interfaces.push({
      ...i,
      podInterfaceName: pod,
      ...(opts.attachment === 'passt'
        ? { attachment: 'passt' as const }
        : { attachment: 'tap' as const, tapName: kubevirtTapName(pod) }),
    });
  }
  return { plan: r.plan, interfaces };
}

// ---------------------------------------------------------------------------------------------
// The domain: a minimal structural view of the DOM xmlbuilder2 builds

interface DomAttr {
  readonly name: string;
  value: string;
}

interface DomNode {
  readonly nodeType: number;
  readonly attributes?: { readonly length: number; item(i: number): DomAttr | null };
  readonly nodeName: string;
  readonly childNodes: ArrayLike<DomNode>;
  readonly parentNode: DomNode | null;
  readonly previousSibling: DomNode | null;
  readonly nextSibling: DomNode | null;
  data?: string;
  getAttribute?(name: string): string | null;
  setAttribute?(name: string, value: string): void;
  insertBefore(node: DomNode, ref: DomNode | null): DomNode;
  replaceChild(node: DomNode, old: DomNode): DomNode;
  removeChild(node: DomNode): DomNode;
  appendChild(node: DomNode): DomNode;
}

interface DomDocument extends DomNode {
  readonly documentElement: DomNode | null;
  importNode(node: DomNode, deep: boolean): DomNode;
  createTextNode(data: string): DomNode;
  createElement(name: string): DomNode;
}

const ELEMENT = 1;
const TEXT = 3;

function elements(parent: DomNode, name?: string): DomNode[] {
  const out: DomNode[] = [];
  for (let i = 0; i < parent.childNodes.length; i++) {
    const c = parent.childNodes[i]!;
    if (c.nodeType === ELEMENT && (name === undefined || c.nodeName === name)) out.push(c);
  }
  return out;
}

function attr(e: DomNode, name: string): string | undefined {
  return e.getAttribute?.(name) ?? undefined;
}

/** The indentation of `e`: the last line of the whitespace-only text node before it. */
function indentOf(e: DomNode): string | undefined {
  const p = e.previousSibling;
  if (p?.nodeType !== TEXT || p.data === undefined || !/^\s*$/.test(p.data)) return undefined;
  const nl = p.data.lastIndexOf('\n');
  return nl < 0 ? undefined : p.data.slice(nl + 1);
}

/** The indentation for a new child of `parent`: a sibling's, else the parent's plus two spaces. */
function childIndent(parent: DomNode): string {
  for (const c of elements(parent)) {
    const i = indentOf(c);
    if (i !== undefined) return i;
  }
  return (indentOf(parent) ?? '') + '  ';
}

/** Shifts the whitespace inside `e` (rendered with its tag at `from`) to start at `to`. */
function reindent(e: DomNode, from: string, to: string): void {
  const walk = (n: DomNode): void => {
    for (let i = 0; i < n.childNodes.length; i++) {
      const c = n.childNodes[i]!;
      if (c.nodeType === TEXT && c.data !== undefined && /^\s*$/.test(c.data))
        c.data = c.data.replace(new RegExp(`\n${from}`, 'g'), `\n${to}`);
      else if (c.nodeType === ELEMENT) walk(c);
    }
  };
  walk(e);
}

/**
 * Inserts `e` into `parent` after `after` (or, when undefined, as the last element), with the
 * line break and indentation its siblings have. `e` is rendered with its tag indented by `from`.
 */
function insertElement(
  doc: DomDocument,
  parent: DomNode,
  e: DomNode,
  after: DomNode | undefined,
  from: string,
): void {
  const indent = childIndent(parent);
  reindent(e, from, indent);
  const pretty =
    elements(parent).some((c) => indentOf(c) !== undefined) || !parent.childNodes.length;
  if (after) {
    const ref = after.nextSibling;
    if (pretty) parent.insertBefore(doc.createTextNode(`\n${indent}`), ref);
    parent.insertBefore(e, ref);
    return;
  }
  // Last element: before the trailing whitespace (the line of the closing tag), if any.
  const last = parent.childNodes[parent.childNodes.length - 1];
  const trailing =
    last?.nodeType === TEXT && last.data !== undefined && /^\s*$/.test(last.data)
      ? last
      : undefined;
  if (trailing) {
    parent.insertBefore(doc.createTextNode(`\n${indent}`), trailing);
    parent.insertBefore(e, trailing);
  } else if (pretty) {
    parent.appendChild(doc.createTextNode(`\n${indent}`));
    parent.appendChild(e);
    parent.appendChild(doc.createTextNode(`\n${indent.slice(2)}`));
  } else parent.appendChild(e);
}

/** Parses XML text (already validated) into a DOM, keeping whitespace-only text. */
function parseDom(xml: string): DomDocument {
  return parseBuilder(xml).node as unknown as DomDocument;
}

function parseBuilder(xml: string): ReturnType<typeof create> {
  return create({ skipWhitespaceOnlyText: false }, xml);
}

/**
 * What XML 1.0 asks of a parser before the DOM sees the text, and xmlbuilder2's lexer does not
 * do: line ends become LF (§2.11), and literal tab/CR/LF inside attribute values become spaces
 * (§3.3.3; character references such as `&#xA;` stay what they mean). The text is well-formed
 * (validated) here, so a scan that skips comments, CDATA, PIs and the DOCTYPE finds every tag.
 */
function normalizeXmlText(xml: string): string {
  const text = xml.replace(/\r\n?/g, '\n');
  const skips: Array<[string, string]> = [
    ['<!--', '-->'],
    ['<![CDATA[', ']]>'],
    ['<?', '?>'],
  ];
  let out = '';
  let i = 0;
  while (i < text.length) {
    const lt = text.indexOf('<', i);
    if (lt < 0) {
      out += text.slice(i);
      break;
    }
    out += text.slice(i, lt);
    const skip = skips.find(([open]) => text.startsWith(open, lt));
    if (skip || text.startsWith('<!', lt)) {
      const close = skip
        ? skip[1]
        : text.includes('[', lt) && text.indexOf('[', lt) < text.indexOf('>', lt)
          ? ']>'
          : '>';
      const end = text.indexOf(close, lt + 2);
      const stop = end < 0 ? text.length : end + close.length;
      out += text.slice(lt, stop);
      i = stop;
      continue;
    }
    let quote = '';
    let j = lt;
    for (; j < text.length; j++) {
      const c = text[j]!;
      if (quote) {
        if (c === quote) quote = '';
        out += quote && (c === '\t' || c === '\n') ? ' ' : c;
        continue;
      }
      out += c;
      if (c === '"' || c === "'") quote = c;
      else if (c === '>') break;
    }
    i = j + 1;
  }
  return out;
}

/** Parses the domain and checks that its root is `<domain>`. */
function parseDomain(xml: string): { doc: DomDocument; xb: ReturnType<typeof create> } {
  if (xml.trim() === '') throw invalid('domain XML: empty');
  const v = XMLValidator.validate(xml);
  if (v !== true)
    throw invalid(`domain XML: line ${v.err.line}, column ${v.err.col}: ${v.err.msg}`);
  let xb: ReturnType<typeof create>;
  try {
    xb = parseBuilder(normalizeXmlText(xml));
  } catch (e) {
    throw invalid(`domain XML: ${e instanceof Error ? e.message : String(e)}`);
  }
  const doc = xb.node as unknown as DomDocument;
  const roots = elements(doc);
  if (roots.length !== 1) throw invalid(`domain XML: ${roots.length} root elements`);
  if (roots[0]!.nodeName !== 'domain')
    throw invalid(`domain XML: the root element is <${roots[0]!.nodeName}>, not <domain>`);
  return { doc, xb };
}

/** The rendered `<interface>` of one planned interface, as an element of `doc`. */
function renderedInterface(
  doc: DomDocument,
  plan: VmNetworkPlan,
  i: BindingPlan,
  opts: DomainHookOptions,
): DomNode {
  const r = renderDomainNetwork(
    { ...plan, interfaces: [i] },
    { passtVhostUser: opts.attachment === 'passt' && opts.vhostUser === true },
  );
  const devices = elements(parseDom(r.devicesXml))[0];
  const e = devices ? elements(devices, 'interface')[0] : undefined;
  if (!e) throw new Error(`rendering interface '${i.name}' produced no <interface>`);
  return doc.importNode(e, true);
}

/**
 * Keeps `<address>` and `<mac>` (and for `ethernet` `<mtu>`) of the replaced element when the
 * new one lacks them: virt-launcher (or an earlier sidecar) filled them from the pod link or
 * placed the device, and the guest should see the same NIC.
 */
function carryOver(doc: DomDocument, old: DomNode, e: DomNode): void {
  const names = attr(e, 'type') === 'ethernet' ? ['address', 'mac', 'mtu'] : ['address', 'mac'];
  for (const n of names) {
    if (elements(e, n).length > 0) continue;
    const was = elements(old, n)[0];
    if (!was) continue;
    // Where KubeVirt marshals them: <address> first, <mac>/<mtu> after <model>.
    const anchor =
      n === 'address'
        ? undefined
        : elements(e)
            .filter((x) => x.nodeName === 'model' || x.nodeName === 'mac')
            .pop();
    const copy = doc.importNode(was, true);
    if (anchor) insertElement(doc, e, copy, anchor, '    ');
    else insertFirst(doc, e, copy);
  }
}

/** Inserts `child` as the first element of `e`, on its own line when `e`'s children are. */
function insertFirst(doc: DomDocument, e: DomNode, child: DomNode): void {
  const first = elements(e)[0];
  if (!first) return insertElement(doc, e, child, undefined, '    ');
  const indent = indentOf(first);
  e.insertBefore(child, first);
  if (indent !== undefined) e.insertBefore(doc.createTextNode(`\n${indent}`), first);
}

/** Makes guest memory shareable (memfd, shared access) for vhost-user. */
function shareMemory(doc: DomDocument, domain: DomNode, changes: string[]): void {
  let mb = elements(domain, 'memoryBacking')[0];
  if (!mb) {
    const fresh = elements(
      parseDom(
        "<x>\n  <memoryBacking>\n    <source type='memfd'/>\n    <access mode='shared'/>\n  </memoryBacking>\n</x>",
      ),
    )[0]!;
    mb = doc.importNode(elements(fresh, 'memoryBacking')[0]!, true);
    const memory = elements(domain).filter((e) =>
      ['memory', 'currentMemory', 'maxMemory'].includes(e.nodeName),
    );
    insertElement(doc, domain, mb, memory[memory.length - 1] ?? elements(domain, 'name')[0], '  ');
    changes.push('added memoryBacking (memfd, shared)');
    return;
  }
  const access = elements(mb, 'access')[0];
  if (access) {
    const mode = attr(access, 'mode');
    if (mode !== 'shared')
      throw invalid(
        `domain XML: memoryBacking access mode is '${mode ?? ''}'; vhost-user passt needs 'shared'`,
      );
  } else {
    const a = doc.createElement('access');
    a.setAttribute?.('mode', 'shared');
    insertElement(doc, mb, a, undefined, '');
    changes.push('memoryBacking: added access mode shared');
  }
  if (elements(mb, 'source').length === 0) {
    const s = doc.createElement('source');
    s.setAttribute?.('type', 'memfd');
    insertElement(doc, mb, s, undefined, '');
    changes.push('memoryBacking: added source memfd');
  }
}

/**
 * Serializes the DOM keeping characters the DOM serializer would write raw where a parser
 * normalises them: tab, CR and LF in attribute values (read back as spaces) and CR in text
 * (read back as LF). They are swapped for markers that cannot occur in the input before
 * `end()` and written as character references after, as Go's encoding/xml writes them.
 */
function serialize(root: DomNode, input: string, end: () => string): string {
  let nonce = 0;
  while (input.includes(`\uE000${nonce}\uE001`)) nonce++;
  const refs: Record<string, string> = { '\t': '&#x9;', '\n': '&#xA;', '\r': '&#xD;' };
  const mark = (c: string): string => `\uE000${nonce}\uE001${c.charCodeAt(0)}\uE002`;
  let marked = false;
  const walk = (n: DomNode): void => {
    const attrs = n.attributes;
    for (let i = 0; attrs && i < attrs.length; i++) {
      const a = attrs.item(i)!;
      if (/[\t\n\r]/.test(a.value)) {
        a.value = a.value.replace(/[\t\n\r]/g, mark);
        marked = true;
      }
    }
    for (let i = 0; i < n.childNodes.length; i++) {
      const c = n.childNodes[i]!;
      if (c.nodeType === ELEMENT) walk(c);
      else if (c.nodeType === TEXT && c.data?.includes('\r')) {
        c.data = c.data.replace(/\r/g, mark);
        marked = true;
      }
    }
  };
  walk(root);
  const out = end();
  if (!marked) return out;
  return out.replace(
    new RegExp(`\uE000${nonce}\uE001(\\d+)\uE002`, 'g'),
    (_m, code: string) => refs[String.fromCharCode(Number(code))] ?? '',
  );
}

/**
 * OnDefineDomain of bindery's hook sidecar (see the theory of operation).
 * @param domainXml - the domain virt-launcher (or the previous sidecar) produced
 * @param vmiJson - the VMI as JSON
 * @param opts - the sidecar's binding and attachment
 * @returns the mutated domain, the changes made and notes to log
 * @throws BinderyError(HookInput) when the domain or the VMI is malformed or does not fit
 */
export function onDefineDomain(
  domainXml: string,
  vmiJson: string,
  opts: DomainHookOptions,
): DomainHookResult {
  const vmi = decodeHookVmi(vmiJson);
  const { doc, xb } = parseDomain(domainXml);
  const domain = elements(doc)[0]!;
  const notes = vmi.dropped.map((p) => `VMI: dropped unknown field ${p}`);
  const { plan, interfaces } = planHookInterfaces(vmi, opts);
  const changes: string[] = [];
  if (interfaces.length === 0)
    notes.push(`no interface of the VMI uses binding '${opts.binding}'; domain left unchanged`);
  else {
    let devices = elements(domain, 'devices')[0];
    if (!devices) {
      devices = doc.createElement('devices');
      insertElement(doc, domain, devices, undefined, '');
      changes.push('added devices');
    }
    for (const i of interfaces) {
      const alias = `ua-${i.name}`;
      const e = renderedInterface(doc, plan, i, opts);
      const existing = elements(devices, 'interface').find((x) =>
        elements(x, 'alias').some((a) => attr(a, 'name') === alias),
      );
      if (existing) {
        carryOver(doc, existing, e);
        const indent = indentOf(existing);
        if (indent !== undefined) reindent(e, '  ', indent);
        devices.replaceChild(e, existing);
        changes.push(`replaced interface ${alias}`);
      } else {
        const ifs = elements(devices, 'interface');
        insertElement(doc, devices, e, ifs[ifs.length - 1], '  ');
        changes.push(`appended interface ${alias}`);
      }
    }
    if (opts.attachment === 'passt' && opts.vhostUser === true) shareMemory(doc, domain, changes);
  }
  const declared = /^\s*<\?xml[\s?]/.test(domainXml);
  const out = serialize(domain, domainXml, () =>
    xb.end({ headless: !declared, prettyPrint: false }),
  );
  return { domainXml: out, changes, notes };
}
