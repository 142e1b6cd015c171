// KubeVirt admission: the VMI network rules of virt-api (facts-kubevirt §2) plus bindery's own checks, as field errors.
//
// The rules live in `admit/kubevirt/` grouped as KubeVirt groups its webhook checks (network
// source, binding, interface, interface fields, DRA, removed bindings, create admitter, KubeVirt
// CR), and run from one ordered registry (`admit/kubevirt/registry.ts`). Every code, its rule
// and its source are listed in docs/errors.md ("KubeVirt admission"); a test keeps the registry
// and that table in step. Paths are relative to the VMI spec (`spec` for a VMI,
// `spec.template.spec` for a VM). This module keeps the entry points other layers call.
import type {
  FieldError,
  KubeVirtCR,
  KubeVirtVirtualMachine,
  KubeVirtVirtualMachineInstance,
  KubeVirtVmiSpec,
} from './types.js';
import type { KubeVirtClusterConfig, KubeVirtVersion } from './kubevirt-config.js';
import { runRules } from './admit/rules.js';
import { ALLOW_POD_BRIDGE_MIGRATION_ANNOTATION, KubeVirtCode } from './admit/kubevirt/codes.js';
import { vmiContext } from './admit/kubevirt/context.js';
import { crContext } from './admit/kubevirt/cr.js';
import { kubevirtRegistry } from './admit/kubevirt/registry.js';

export {
  ALLOW_POD_BRIDGE_MIGRATION_ANNOTATION,
  KubeVirtCode,
  RESERVED_BRIDGE_MAC,
} from './admit/kubevirt/codes.js';

/**
 * Validates a VMI spec (after defaulting) as virt-api does on creation: `Validator.Validate()`
 * and `ValidateCreation()` plus the VMI-level network rules, all errors at once. `prefix` is
 * the spec's path. Never throws.
 */
export function admitKubeVirtVmiSpec(
  spec: KubeVirtVmiSpec,
  config: KubeVirtClusterConfig,
  prefix = 'spec',
): FieldError[] {
  const ctx = vmiContext(spec, config, prefix);
  return runRules(kubevirtRegistry.vmi, ctx, undefined);
}

/** Admission of a KubeVirt VirtualMachine (after defaulting): its template's VMI spec. */
export function admitKubeVirtVm(
  vm: KubeVirtVirtualMachine,
  config: KubeVirtClusterConfig,
): FieldError[] {
  return admitKubeVirtVmiSpec(vm.spec.template.spec, config, 'spec.template.spec');
}

/** Admission of a KubeVirt VirtualMachineInstance (after defaulting). */
export function admitKubeVirtVmi(
  vmi: KubeVirtVirtualMachineInstance,
  config: KubeVirtClusterConfig,
): FieldError[] {
  return admitKubeVirtVmiSpec(vmi.spec, config, 'spec');
}

/**
 * `VerifyVMIMigratable`: why the VMI cannot migrate, or undefined. Migratable pod-network
 * interfaces are masquerade, passtBinding, bridge with the allow annotation, and plugins whose
 * registration has `migration` (even empty). Not an admission rule; used for migration plans.
 */
export function kubevirtMigrationBlocker(
  spec: KubeVirtVmiSpec,
  annotations: Readonly<Record<string, string>>,
  config: KubeVirtClusterConfig,
  prefix = 'spec',
): FieldError | undefined {
  const networks = spec.networks ?? [];
  const pod = networks.find((n) => n.pod !== undefined);
  if (!pod) return undefined;
  const interfaces = spec.domain.devices.interfaces ?? [];
  const idx = interfaces.findIndex((i) => i.name === pod.name);
  const iface = interfaces[idx];
  if (!iface) return undefined;
  if (iface.masquerade || iface.passtBinding) return undefined;
  if (iface.bridge && annotations[ALLOW_POD_BRIDGE_MIGRATION_ANNOTATION] !== undefined)
    return undefined;
  if (iface.binding && config.bindings[iface.binding.name]?.migration !== undefined)
    return undefined;
  return {
    path: `${prefix}.domain.devices.interfaces[${idx}]`,
    code: KubeVirtCode.NotMigratable,
    message:
      'cannot migrate VMI which does not use masquerade or a migratable plugin to connect to the pod network',
  };
}

/**
 * bindery's checks of a KubeVirt CR's network configuration (KubeVirt validates none of the
 * binding map). `version` decides which attachment types exist. Never throws.
 */
export function admitKubeVirtCR(cr: KubeVirtCR, version: KubeVirtVersion): FieldError[] {
  return runRules(kubevirtRegistry.cr, crContext(cr, version), undefined);
}
