// The one registry of KubeVirt admission rules: the VMI steps in virt-api's order, and the KubeVirt CR checks.
//
// The VMI registry follows `Validator.Validate()` (pkg/network/admitter, facts-kubevirt §2),
// steps 1–11, then `ValidateCreation()`'s discontinued bindings, then vmi-create-admitter.go.
// Each step is a group; a step that loops over networks or interfaces is a group over them,
// so errors come out step by step, item by item, rule by rule — the order virt-api reports.
// The codes are documented in docs/errors.md; a test keeps the two in step.
import { each, listRules, step, type Node } from '../rules.js';
import { bindingRules, passtBindingRules, pluginRules } from './binding.js';
import { crNodes, type CrContext } from './cr.js';
import { interfaceItems, networkItems, type VmiContext } from './context.js';
import { draNodes } from './dra.js';
import { interfaceFieldNodes } from './fields.js';
import {
  interfaceAssignedRule,
  interfaceNameUniqueRule,
  networkAssignedRule,
  networkNameUniqueRule,
  stateRules,
} from './interface.js';
import { discontinuedRules, oldCoreBindingRules } from './removed.js';
import { networkSourceRules, singlePodNetworkRules } from './source.js';
import { arrayLimitNodes, createAdmitterNodes } from './vmi.js';

/** The VMI spec rules (after defaulting), in the order virt-api reports them. */
const vmiRules: readonly Node<VmiContext, unknown>[] = [
  step('arrayLenMax (v1.0)', arrayLimitNodes),
  step('1. validateSinglePodNetwork', singlePodNetworkRules),
  each(
    '2, 3. validateSingleNetworkSource, validateMultusNetworkSource',
    networkItems,
    networkSourceRules,
  ),
  each('4. validateInterfaceStateValue', interfaceItems, stateRules),
  each('5. validateInterfaceBinding (+ the core bindings removed in v1.3)', interfaceItems, [
    ...bindingRules,
    ...pluginRules,
    ...passtBindingRules,
    ...oldCoreBindingRules,
  ]),
  each('6. validateNetworkNameUnique', networkItems, [networkNameUniqueRule]),
  step('7. validateNetworkDevicesWithDRA', draNodes),
  each('8. validateNetworksAssignedToInterfaces', networkItems, [networkAssignedRule]),
  each('9. validateInterfaceNameUnique', interfaceItems, [interfaceNameUniqueRule]),
  each('10. validateInterfacesAssignedToNetworks', interfaceItems, [interfaceAssignedRule]),
  each('11. validateInterfacesFields', interfaceItems, interfaceFieldNodes),
  each('ValidateCreation: validateDiscontinuedBindings', interfaceItems, discontinuedRules),
  step('vmi-create-admitter', createAdmitterNodes),
];

/** Every KubeVirt admission rule: the VMI spec rules and the KubeVirt CR rules. */
export const kubevirtRegistry: {
  readonly vmi: readonly Node<VmiContext, unknown>[];
  readonly cr: readonly Node<CrContext, unknown>[];
} = { vmi: vmiRules, cr: crNodes };

/** The codes the registry can report, each once, in registry order. */
export function kubevirtAdmissionCodes(): string[] {
  const all = [...listRules(kubevirtRegistry.vmi), ...listRules(kubevirtRegistry.cr)];
  return [...new Set(all.map((r) => r.code))];
}
