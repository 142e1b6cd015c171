// `bindery render`: what a cluster would run for a VM's network (pod mutation, domain XML, CH config, nft).
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Option, type Command } from 'commander';
import { parseDocument, Document } from 'yaml';
import { BinderyError, ErrorCode, UsageError } from '../../errors.js';
import type { CliIo } from '../main.js';
import { loadManifests } from '../../api/load.js';
import { seededRandom } from '../../api/defaults.js';
import { locate, validateManifests } from '../../api/validate.js';
import {
  NEWEST_KUBEVIRT_VERSION,
  parseKubeVirtVersion,
  type KubeVirtVersion,
} from '../../api/kubevirt-config.js';
import type { Diagnostic, LoadedManifest } from '../../api/types.js';
import { formatDiagnostic } from './validate.js';
import {
  planKubeVirt,
  planVirtink,
  type NetworkStatusEntry,
  type PlanOptions,
  type PlanResult,
} from '../../plan/plan.js';
import type { VmNetworkPlan } from '../../plan/types.js';
import { renderPod } from '../../render/launcher-pod.js';
import { renderDomainNetwork } from '../../render/domain-xml.js';
import { renderCloudHypervisor } from '../../render/cloud-hypervisor.js';
import { buildNftRuleset, nftJson, nftText } from '../../render/nftables.js';

/** One output file of `render`. */
export interface Artefact {
  readonly name: string;
  readonly content: string;
}

interface RenderOpts {
  for: 'kubevirt' | 'virtink';
  out: string;
  kubevirtVersion?: string;
  kubevirtCr?: string;
  naming: 'hashed' | 'ordinal';
  mtu?: string;
  podIp?: string;
  networkStatus?: string;
  passtVhostUser?: boolean;
}

/** Code of a JSON patch operation that cannot be applied. */
const PATCH_CODE = 'BINDERY_RENDER_PATCH';
/** Code of a VM of the other platform than `--for`. */
const PLATFORM_CODE = 'BINDERY_RENDER_PLATFORM';
/** Code of an input without any VM to render. */
const NO_VM_CODE = 'BINDERY_RENDER_NO_VM';

const KUBEVIRT_CR_BASE = {
  apiVersion: 'kubevirt.io/v1',
  kind: 'KubeVirt',
  metadata: { name: 'kubevirt', namespace: 'kubevirt' },
  spec: {},
};

/** A JSON patch (`kubectl patch --type=json`) operation, as the seed documents register plugins. */
interface PatchOp {
  readonly op: string;
  readonly path: string;
  readonly value?: unknown;
}

function isPatch(v: unknown): v is PatchOp[] {
  return (
    Array.isArray(v) &&
    v.length > 0 &&
    v.every((o) => o !== null && typeof o === 'object' && typeof (o as PatchOp).op === 'string')
  );
}

/**
 * Applies a JSON patch (RFC 6902 `add`/`replace`/`remove`, missing parents created) to a
 * KubeVirt CR object.
 * @param target - the CR as plain JSON (mutated)
 * @param ops - the patch
 * @returns one message per operation that could not be applied, with its index
 */
export function applyJsonPatch(
  target: Record<string, unknown>,
  ops: readonly PatchOp[],
): Array<{ index: number; message: string }> {
  const errors: Array<{ index: number; message: string }> = [];
  ops.forEach((op, index) => {
    if (typeof op.path !== 'string' || !op.path.startsWith('/')) {
      errors.push({ index, message: `path "${String(op.path)}" is not a JSON pointer` });
      return;
    }
    if (op.op !== 'add' && op.op !== 'replace' && op.op !== 'remove') {
      errors.push({ index, message: `op "${op.op}" is not supported (add, replace, remove)` });
      return;
    }
    const keys = op.path
      .slice(1)
      .split('/')
      .map((k) => k.replace(/~1/g, '/').replace(/~0/g, '~'));
    let node: unknown = target;
    for (let j = 0; j < keys.length - 1; j++) {
      const k = keys[j]!;
      const parent = node as Record<string, unknown>;
      if (Array.isArray(parent)) {
        node = parent[Number(k)];
      } else {
        if (parent[k] === undefined || parent[k] === null)
          parent[k] = /^(-|\d+)$/.test(keys[j + 1]!) ? [] : {};
        node = parent[k];
      }
      if (node === null || typeof node !== 'object') {
        errors.push({ index, message: `path "${op.path}" goes through a non-object at "${k}"` });
        return;
      }
    }
    const last = keys[keys.length - 1]!;
    if (Array.isArray(node)) {
      const arr = node as unknown[];
      const i = last === '-' ? arr.length : Number(last);
      if (!Number.isInteger(i) || i < 0 || i > arr.length) {
        errors.push({ index, message: `array index "${last}" is out of range in "${op.path}"` });
        return;
      }
      if (op.op === 'remove') arr.splice(i, 1);
      else if (op.op === 'replace') arr[i] = op.value;
      else arr.splice(i, 0, op.value);
      return;
    }
    const obj = node as Record<string, unknown>;
    if (op.op === 'remove') delete obj[last];
    else obj[last] = op.value;
  });
  return errors;
}

async function readInput(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    throw new BinderyError(ErrorCode.Input, `${file}: cannot read (${code})`, { cause: e });
  }
}

function parseNetworkStatus(text: string, file: string): NetworkStatusEntry[] {
  const doc = parseDocument(text);
  const v: unknown = doc.errors.length === 0 ? doc.toJS() : undefined;
  if (!Array.isArray(v) || !v.every((e) => e !== null && typeof e === 'object'))
    throw new BinderyError(
      ErrorCode.Input,
      `${file}: not a Multus network-status list (the JSON of k8s.v1.cni.cncf.io/network-status)`,
    );
  return v as NetworkStatusEntry[];
}

function yamlText(obj: unknown, comment: string): string {
  const doc = new Document(obj);
  doc.commentBefore = comment;
  return doc.toString({ lineWidth: 0 });
}

/**
 * Renders the artefacts of one plan, named as `render --out` writes them.
 * @param plan - the VM's network plan
 * @param passtVhostUser - render passt vNICs as vhost-user
 * @returns the artefacts and the renderers' warnings
 */
export function renderArtefacts(
  plan: VmNetworkPlan,
  passtVhostUser = false,
): { artefacts: Artefact[]; warnings: string[] } {
  const artefacts: Artefact[] = [];
  const warnings: string[] = [];
  const pod = renderPod(plan);
  warnings.push(...pod.warnings);
  const podName = plan.platform === 'kubevirt' ? 'launcher-pod.yaml' : 'vm-pod.yaml';
  artefacts.push({
    name: podName,
    content: yamlText(
      pod.pod,
      ` bindery: what the network bindings of ${plan.namespace}/${plan.vmName} add to its ${plan.platform === 'kubevirt' ? 'virt-launcher' : 'VM'} pod.\n Resource values are amounts added to the container, not totals.`,
    ),
  });
  if (plan.platform === 'kubevirt') {
    const dom = renderDomainNetwork(plan, { passtVhostUser });
    warnings.push(...dom.warnings);
    artefacts.push({ name: 'domain-interfaces.xml', content: dom.devicesXml });
    if (dom.memoryBackingXml !== undefined)
      artefacts.push({ name: 'domain-memory-backing.xml', content: dom.memoryBackingXml });
  } else {
    const ch = renderCloudHypervisor(plan);
    warnings.push(...ch.warnings);
    artefacts.push({
      name: 'cloud-hypervisor.json',
      content: JSON.stringify(ch.config, null, 2) + '\n',
    });
  }
  const rs = buildNftRuleset(plan);
  if (rs) {
    artefacts.push({
      name: 'nftables.nft',
      content: nftText(rs, [
        `bindery: masquerade NAT of ${plan.namespace}/${plan.vmName} (${plan.platform}); load with nft -f`,
      ]),
    });
    artefacts.push({ name: 'nftables.json', content: JSON.stringify(nftJson(rs), null, 2) + '\n' });
  }
  artefacts.push({ name: 'plan.json', content: JSON.stringify(plan, null, 2) + '\n' });
  return { artefacts, warnings };
}

/**
 * Adds `bindery render FILE… --for kubevirt|virtink --out DIR|-` to the program.
 * @param program - the root command
 * @param io - where output goes
 */
export function registerRender(program: Command, io: CliIo): void {
  program
    .command('render')
    .description(
      'render what the cluster would run for each VM: pod mutation, libvirt interfaces or Cloud Hypervisor net config, nftables',
    )
    .argument(
      '<files...>',
      'manifests (YAML/JSON): VMs, the KubeVirt CR or a JSON patch of it, NADs',
    )
    .addOption(
      new Option('--for <platform>', 'control plane')
        .choices(['kubevirt', 'virtink'])
        .makeOptionMandatory(),
    )
    .requiredOption('--out <dir>', "output directory, or '-' for stdout")
    .option('--kubevirt-version <v>', 'KubeVirt release whose rules apply (v1.0–v1.9)')
    .option(
      '--kubevirt-cr <file>',
      'the KubeVirt CR, or a JSON patch of it (binding plugins, gates)',
    )
    .addOption(
      new Option('--naming <scheme>', 'KubeVirt secondary pod interface names')
        .choices(['hashed', 'ordinal'])
        .default('hashed'),
    )
    .option('--mtu <n>', 'pod link MTU for tap vNICs')
    .option('--pod-ip <addr>', "pod IPv4 address (Istio's output DNAT also matches it)")
    .option('--network-status <file>', 'Multus network-status JSON (SR-IOV/vDPA devices)')
    .option('--passt-vhost-user', "render passt vNICs as type='vhostuser' (libvirt >= 11.1)")
    .action(async (files: string[], opts: RenderOpts) => {
      await runRender(files, opts, io);
    });
}

async function runRender(files: string[], opts: RenderOpts, io: CliIo): Promise<void> {
  let version: KubeVirtVersion = NEWEST_KUBEVIRT_VERSION;
  if (opts.kubevirtVersion !== undefined) {
    const v = parseKubeVirtVersion(opts.kubevirtVersion);
    if (!v)
      throw new UsageError(`--kubevirt-version: "${opts.kubevirtVersion}" is not v1.0 … v1.9`);
    version = v;
  }
  let mtu: number | undefined;
  if (opts.mtu !== undefined) {
    mtu = Number(opts.mtu);
    if (!/^\d+$/.test(opts.mtu) || mtu < 68 || mtu > 65535)
      throw new UsageError(`--mtu: "${opts.mtu}" is not an MTU (68–65535)`);
  }
  if (opts.podIp !== undefined && !/^\d{1,3}(\.\d{1,3}){3}$/.test(opts.podIp))
    throw new UsageError(`--pod-ip: "${opts.podIp}" is not an IPv4 address`);
  const networkStatus =
    opts.networkStatus !== undefined
      ? parseNetworkStatus(await readInput(opts.networkStatus), opts.networkStatus)
      : undefined;
  const planOptions: PlanOptions = {
    podInterfaceNaming: opts.naming,
    ...(mtu !== undefined ? { mtu } : {}),
    ...(opts.podIp !== undefined ? { podIPv4: opts.podIp } : {}),
    ...(networkStatus ? { networkStatus } : {}),
  };
  const wantKubeVirt = opts.for === 'kubevirt';

  // Load every file (the --kubevirt-cr one first); JSON patches of the CR are collected apart.
  const diagnostics: Diagnostic[] = [];
  let manifests: LoadedManifest[] = [];
  const patches: Array<{ file: string; ops: PatchOp[] }> = [];
  const inputs =
    opts.kubevirtCr !== undefined
      ? [opts.kubevirtCr, ...files.filter((f) => f !== opts.kubevirtCr)]
      : files;
  for (const file of inputs) {
    const text = await readInput(file);
    const asYaml = parseDocument(text);
    const v: unknown = asYaml.errors.length === 0 ? asYaml.toJS() : undefined;
    if (isPatch(v)) {
      patches.push({ file, ops: v });
      continue;
    }
    const r = loadManifests(text, file);
    diagnostics.push(...r.diagnostics);
    manifests.push(...r.manifests);
  }
  let patchedFile: string | undefined;
  if (patches.length > 0) {
    const first = manifests.find((m) => m.type === 'kubevirt-cr');
    const base = JSON.parse(JSON.stringify(first?.object ?? KUBEVIRT_CR_BASE)) as Record<
      string,
      unknown
    >;
    for (const p of patches)
      for (const e of applyJsonPatch(base, p.ops))
        diagnostics.push({
          file: p.file,
          path: `[${e.index}]`,
          message: e.message,
          code: PATCH_CODE,
          severity: 'error',
        });
    const file = [...(first ? [first.source.file] : []), ...patches.map((p) => p.file)].join('+');
    patchedFile = file;
    const r = loadManifests(JSON.stringify(base), file);
    // Lines of the serialised patch result mean nothing to the user: drop them.
    for (const { line: _line, ...d } of r.diagnostics) diagnostics.push(d);
    manifests = [...r.manifests, ...manifests.filter((m) => m !== first)];
  }

  // The wrong platform's VMs are errors; a CR is ignored for Virtink.
  const kept: LoadedManifest[] = [];
  for (const m of manifests) {
    const isKv = m.type === 'kubevirt-vm' || m.type === 'kubevirt-vmi';
    if ((isKv && !wantKubeVirt) || (m.type === 'virtink-vm' && wantKubeVirt)) {
      diagnostics.push(
        ...locate(m, [
          {
            path: 'apiVersion',
            code: PLATFORM_CODE,
            message: `${m.object.kind} ${m.object.apiVersion} is ${isKv ? 'a KubeVirt' : 'a Virtink'} object; render --for ${opts.for} takes ${wantKubeVirt ? 'kubevirt.io/v1' : 'virt.virtink.smartx.com/v1alpha1'}`,
          },
        ]),
      );
      continue;
    }
    if (m.type === 'kubevirt-cr' && !wantKubeVirt) {
      diagnostics.push(
        ...locate(m, [
          {
            path: 'kind',
            code: PLATFORM_CODE,
            message: 'the KubeVirt CR is ignored with --for virtink',
            severity: 'warning',
          },
        ]),
      );
      continue;
    }
    kept.push(m);
  }

  // Defaulting and admission exactly as `validate` does; Virtink MACs from a fixed seed so
  // that the same input renders the same output.
  const result = validateManifests(kept, {
    kubevirtVersion: version,
    random: seededRandom('bindery render'),
  });
  for (const d of result.diagnostics) {
    // Lines of the serialised patch result mean nothing to the user: drop them.
    if (d.file !== patchedFile) diagnostics.push(d);
    else {
      const { line: _line, ...rest } = d;
      diagnostics.push(rest);
    }
  }
  const vms = result.defaulted.filter(
    (m) => m.type === 'kubevirt-vm' || m.type === 'kubevirt-vmi' || m.type === 'virtink-vm',
  );
  const errorsSoFar = diagnostics.some((d) => d.severity === 'error');
  if (!errorsSoFar && vms.length === 0)
    diagnostics.push({
      file: files.join(', '),
      path: '',
      code: NO_VM_CODE,
      message: `no ${wantKubeVirt ? 'KubeVirt VirtualMachine or VirtualMachineInstance' : 'Virtink VirtualMachine'} in the input`,
      severity: 'error',
    });

  // Plan every VM that passed admission.
  const cr = kept.find((m) => m.type === 'kubevirt-cr');
  const nads = kept.flatMap((m) => (m.type === 'nad' ? [m.object] : []));
  const failed = new Set(diagnostics.filter((d) => d.severity === 'error').map((d) => d.file));
  const plans: Array<{ plan: VmNetworkPlan; file: string }> = [];
  for (const m of vms) {
    if (failed.has(m.source.file)) continue;
    let r: PlanResult;
    if (m.type === 'virtink-vm') r = planVirtink({ vm: m.object, nads, options: planOptions });
    else if (m.type === 'kubevirt-vm' || m.type === 'kubevirt-vmi')
      r = planKubeVirt({
        vm: m.object,
        ...(cr?.type === 'kubevirt-cr' ? { kubevirt: cr.object } : {}),
        nads,
        options: planOptions,
      });
    else continue;
    if (r.ok) plans.push({ plan: r.plan, file: m.source.file });
    else diagnostics.push(...locate(m, r.errors));
  }

  const errors = diagnostics.filter((d) => d.severity === 'error').length;
  for (const d of diagnostics) io.err(formatDiagnostic(d) + '\n');
  if (errors > 0) {
    const warnings = diagnostics.length - errors;
    throw new BinderyError(
      ErrorCode.Input,
      `render: ${errors} error${errors === 1 ? '' : 's'}${warnings ? `, ${warnings} warning${warnings === 1 ? '' : 's'}` : ''} in the input; nothing written`,
    );
  }

  // Render and write.
  const many = plans.length > 1;
  const outputs: Artefact[] = [];
  for (const { plan, file } of plans) {
    const r = renderArtefacts(plan, opts.passtVhostUser === true);
    for (const w of r.warnings)
      io.err(`${file}: ${plan.namespace}/${plan.vmName}: warning: ${w}\n`);
    const prefix = many ? `${plan.namespace}-${plan.vmName}/` : '';
    for (const a of r.artefacts) outputs.push({ name: prefix + a.name, content: a.content });
  }
  if (opts.out === '-') {
    for (const a of outputs) io.out(`--- ${a.name}\n${a.content}`);
    return;
  }
  try {
    for (const a of outputs) {
      const path = join(opts.out, a.name);
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, a.content);
    }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    throw new BinderyError(ErrorCode.Input, `${opts.out}: cannot write (${code})`, { cause: e });
  }
  io.out(`rendered ${outputs.length} files to ${opts.out}\n`);
}
