// The files `bindery render` writes for one VM network plan: pod mutation, domain XML or CH config, nftables, the plan.
import { Document } from 'yaml';
import type { VmNetworkPlan } from '../plan/types.js';
import { renderPod } from './launcher-pod.js';
import { renderDomainNetwork } from './domain-xml.js';
import { renderCloudHypervisor } from './cloud-hypervisor.js';
import { buildNftRuleset, nftJson, nftText } from './nftables.js';

/** One output file of `render`. */
export interface Artefact {
  readonly name: string;
  readonly content: string;
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
