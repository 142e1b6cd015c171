// Manifests → network plans: what `bindery render` and `bindery pod-net` share (loading, CR patches, validation, planning), printing diagnostics as `bindery validate` does.
import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import { BinderyError, ErrorCode, UsageError } from '../errors.js';
import type { CliIo } from './main.js';
import { loadManifests } from '../api/load.js';
import { seededRandom } from '../api/defaults.js';
import { locate, validateManifests } from '../api/validate.js';
import {
  NEWEST_KUBEVIRT_VERSION,
  parseKubeVirtVersion,
  type KubeVirtVersion,
} from '../api/kubevirt-config.js';
import type { Diagnostic, LoadedManifest } from '../api/types.js';
import { formatDiagnostic } from './commands/validate.js';
import {
  planKubeVirt,
  planVirtink,
  type NetworkStatusEntry,
  type PlanOptions,
  type PlanResult,
} from '../plan/plan.js';
import type { VmNetworkPlan } from '../plan/types.js';
import { applyJsonPatch, isJsonPatch, type PatchOp } from '../api/json-patch.js';

/** What to load and how to plan it. */
export interface PlanInputOptions {
  readonly for: 'kubevirt' | 'virtink';
  readonly kubevirtVersion?: string;
  readonly kubevirtCr?: string;
  readonly naming: 'hashed' | 'ordinal';
  readonly mtu?: number;
  readonly podIp?: string;
  /** A Multus network-status JSON file. */
  readonly networkStatus?: string;
  /** The command, for messages (`render`, `pod-net up`). */
  readonly command: string;
  /** What the final error says was not done (`nothing written`). */
  readonly nothingDone: string;
}

/** One VM's plan, where it came from, and where its interfaces are in the manifest. */
export interface LoadedPlan {
  readonly plan: VmNetworkPlan;
  readonly file: string;
  /** Field path of each interface by name (`spec.template.spec.domain.devices.interfaces[0]`). */
  readonly paths: ReadonlyMap<string, string>;
  /** Position of each interface in the spec's interface list, by name. */
  readonly interfaceIndex: ReadonlyMap<string, number>;
}

/** Code of a JSON patch operation that cannot be applied. */
const PATCH_CODE = 'BINDERY_RENDER_PATCH';
/** Code of a VM of the other platform than `--for`. */
const PLATFORM_CODE = 'BINDERY_RENDER_PLATFORM';
/** Code of an input without any VM. */
const NO_VM_CODE = 'BINDERY_RENDER_NO_VM';

const KUBEVIRT_CR_BASE = {
  apiVersion: 'kubevirt.io/v1',
  kind: 'KubeVirt',
  metadata: { name: 'kubevirt', namespace: 'kubevirt' },
  spec: {},
};

export async function readInput(file: string): Promise<string> {
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

function interfacePaths(m: LoadedManifest): Pick<LoadedPlan, 'paths' | 'interfaceIndex'> {
  let base: string;
  let list: ReadonlyArray<{ readonly name: string }>;
  if (m.type === 'kubevirt-vm') {
    base = 'spec.template.spec.domain.devices.interfaces';
    list = m.object.spec.template.spec.domain.devices.interfaces ?? [];
  } else if (m.type === 'kubevirt-vmi') {
    base = 'spec.domain.devices.interfaces';
    list = m.object.spec.domain.devices.interfaces ?? [];
  } else if (m.type === 'virtink-vm') {
    base = 'spec.instance.interfaces';
    list = m.object.spec.instance.interfaces ?? [];
  } else return { paths: new Map(), interfaceIndex: new Map() };
  return {
    paths: new Map(list.map((i, n) => [i.name, `${base}[${n}]`])),
    interfaceIndex: new Map(list.map((i, n) => [i.name, n])),
  };
}

/**
 * Loads manifests (the --kubevirt-cr file first; JSON patches of the CR applied), validates
 * them as `bindery validate` does and plans every VM. Diagnostics go to `io.err`.
 * @param files - the manifest files
 * @param opts - platform, CR, naming, run-time facts
 * @param io - where diagnostics go
 * @returns one plan per VM
 * @throws UsageError for a bad --kubevirt-version; BinderyError (Input) when any error was found
 */
export async function loadPlans(
  files: readonly string[],
  opts: PlanInputOptions,
  io: CliIo,
): Promise<LoadedPlan[]> {
  let version: KubeVirtVersion = NEWEST_KUBEVIRT_VERSION;
  if (opts.kubevirtVersion !== undefined) {
    const v = parseKubeVirtVersion(opts.kubevirtVersion);
    if (!v)
      throw new UsageError(`--kubevirt-version: "${opts.kubevirtVersion}" is not v1.0 … v1.9`);
    version = v;
  }
  const networkStatus =
    opts.networkStatus !== undefined
      ? parseNetworkStatus(await readInput(opts.networkStatus), opts.networkStatus)
      : undefined;
  const planOptions: PlanOptions = {
    podInterfaceNaming: opts.naming,
    ...(opts.mtu !== undefined ? { mtu: opts.mtu } : {}),
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
            message: `${m.object.kind} ${m.object.apiVersion} is ${isKv ? 'a KubeVirt' : 'a Virtink'} object; ${opts.command} --for ${opts.for} takes ${wantKubeVirt ? 'kubevirt.io/v1' : 'virt.virtink.smartx.com/v1alpha1'}`,
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
  const plans: LoadedPlan[] = [];
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
    if (r.ok) plans.push({ plan: r.plan, file: m.source.file, ...interfacePaths(m) });
    else diagnostics.push(...locate(m, r.errors));
  }

  const errors = diagnostics.filter((d) => d.severity === 'error').length;
  for (const d of diagnostics) io.err(formatDiagnostic(d) + '\n');
  if (errors > 0) {
    const warnings = diagnostics.length - errors;
    throw new BinderyError(
      ErrorCode.Input,
      `${opts.command}: ${errors} error${errors === 1 ? '' : 's'}${warnings ? `, ${warnings} warning${warnings === 1 ? '' : 's'}` : ''} in the input; ${opts.nothingDone}`,
    );
  }

  return plans;
}
