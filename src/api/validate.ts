// Validation of loaded manifests as a cluster would: pick the KubeVirt CR, default, admit, locate every error.
import { admitKubeVirtCR, admitKubeVirtVm, admitKubeVirtVmi } from './admit-kubevirt.js';
import { admitVirtinkVm } from './admit-virtink.js';
import {
  defaultKubeVirtVm,
  defaultKubeVirtVmi,
  defaultVirtinkVm,
  type RandomSource,
} from './defaults.js';
import {
  NEWEST_KUBEVIRT_VERSION,
  kubevirtClusterConfig,
  type KubeVirtClusterConfig,
  type KubeVirtVersion,
} from './kubevirt-config.js';
import { lineOf } from './load.js';
import { checkDaemonSet } from './workload.js';
import type { Diagnostic, FieldError, KubeVirtCR, LoadedManifest } from './types.js';

/** Code of a second KubeVirt CR in the input (bindery uses the first). */
export const CR_MULTIPLE_CODE = 'BINDERY_ADM_KV_CR_MULTIPLE';

/** Options of {@link validateManifests}. */
export interface ValidateOptions {
  /** The KubeVirt release whose rules apply; default the newest in the facts. */
  readonly kubevirtVersion?: KubeVirtVersion;
  /** Random bytes for Virtink's MAC defaulting (its value never changes the verdict). */
  readonly random: RandomSource;
}

/** What {@link validateManifests} found. */
export interface ValidationResult {
  /** Every error and warning, located in its file. */
  readonly diagnostics: readonly Diagnostic[];
  /** The manifests after defaulting (those whose defaulting succeeded), in input order. */
  readonly defaulted: readonly LoadedManifest[];
  /** The KubeVirt configuration KubeVirt manifests were judged by. */
  readonly kubevirt: KubeVirtClusterConfig;
}

/** Locates field errors of one manifest in its file. */
export function locate(m: LoadedManifest, errors: readonly FieldError[]): Diagnostic[] {
  return errors.map((e) => {
    const line = lineOf(m.source, e.path);
    return {
      path: e.path,
      code: e.code,
      message: e.message,
      file: m.source.file,
      severity: e.severity ?? 'error',
      ...(line !== undefined ? { line } : {}),
    };
  });
}

/**
 * Validates manifests together: the first KubeVirt CR among them configures KubeVirt (KubeVirt's
 * defaults when there is none), each VM/VMI is defaulted and admitted, Virtink VMs likewise;
 * DaemonSets get the API server's pod-template checks; NetworkAttachmentDefinitions are only
 * loaded. Never throws.
 */
export function validateManifests(
  manifests: readonly LoadedManifest[],
  opts: ValidateOptions,
): ValidationResult {
  const version = opts.kubevirtVersion ?? NEWEST_KUBEVIRT_VERSION;
  const diagnostics: Diagnostic[] = [];
  const defaulted: LoadedManifest[] = [];
  let cr: { object: KubeVirtCR; file: string } | undefined;
  for (const m of manifests) {
    if (m.type !== 'kubevirt-cr') continue;
    if (cr === undefined) {
      cr = { object: m.object, file: m.source.file };
      diagnostics.push(...locate(m, admitKubeVirtCR(m.object, version)));
    } else {
      diagnostics.push(
        ...locate(m, [
          {
            path: 'kind',
            code: CR_MULTIPLE_CODE,
            message: `more than one KubeVirt CR given; bindery uses the first (in ${cr.file})`,
          },
        ]),
      );
    }
  }
  const config = kubevirtClusterConfig(cr?.object, version);
  for (const m of manifests) {
    switch (m.type) {
      case 'kubevirt-vm': {
        const d = defaultKubeVirtVm(m.object, config);
        diagnostics.push(...locate(m, d.errors));
        if (d.errors.length > 0) break;
        defaulted.push({ ...m, object: d.value });
        diagnostics.push(...locate(m, admitKubeVirtVm(d.value, config)));
        break;
      }
      case 'kubevirt-vmi': {
        const d = defaultKubeVirtVmi(m.object, config);
        diagnostics.push(...locate(m, d.errors));
        if (d.errors.length > 0) break;
        defaulted.push({ ...m, object: d.value });
        diagnostics.push(...locate(m, admitKubeVirtVmi(d.value, config)));
        break;
      }
      case 'virtink-vm': {
        const value = defaultVirtinkVm(m.object, { random: opts.random });
        defaulted.push({ ...m, object: value });
        diagnostics.push(...locate(m, admitVirtinkVm(value)));
        break;
      }
      case 'daemonset':
        defaulted.push(m);
        diagnostics.push(...locate(m, checkDaemonSet(m.object)));
        break;
      default:
        defaulted.push(m);
    }
  }
  return { diagnostics, defaulted, kubevirt: config };
}
