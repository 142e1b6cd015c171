// `bindery render`: what a cluster would run for a VM's network (pod mutation, domain XML, CH config, nft).
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Option, type Command } from 'commander';
import { parseDocument } from 'yaml';
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
import { renderArtefacts, type Artefact } from '../../render/artefacts.js';
import { applyJsonPatch, isJsonPatch, type PatchOp } from '../../api/json-patch.js';

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
    if (isJsonPatch(v)) {
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
