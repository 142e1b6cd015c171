// Which of a plan's interfaces `bindery up` can bring up, and how (pure): passt through `bindery passt`, taps through pod-net.
import type { BindingPlan, VmNetworkPlan } from '../plan/types.js';

/** How one interface is brought up. */
export type UpMethod = 'passt' | 'podnet';

/** The binding's name as the table shows it. */
export function bindingName(i: BindingPlan): string {
  return i.binding.kind === 'core' ? i.binding.method : i.binding.plugin.name;
}

/**
 * The interfaces `up` brings up with their method, or the reasons it cannot.
 * Absent interfaces are left out. Only the pod network is there (no Multus networks), and only
 * bindings that end in a stream socket or a tap (no SR-IOV, vDPA, vhost-user, unknown sidecars).
 * @param plan - the VM's plan
 * @param paths - field path of each interface, for messages
 */
export function upInterfaces(
  plan: VmNetworkPlan,
  paths: ReadonlyMap<string, string>,
):
  | { ok: true; interfaces: Array<{ iface: BindingPlan; method: UpMethod }> }
  | { ok: false; errors: string[] } {
  const errors: string[] = [];
  const out: Array<{ iface: BindingPlan; method: UpMethod }> = [];
  for (const i of plan.interfaces) {
    if (i.state === 'absent') continue;
    const where = paths.get(i.name) ?? i.name;
    if (i.network.kind !== 'pod') {
      errors.push(
        `${where}: network from NAD ${i.network.nad.namespace}/${i.network.nad.name}: bindery up builds only the pod network`,
      );
      continue;
    }
    if (i.attachment === 'passt') out.push({ iface: i, method: 'passt' });
    else if (i.attachment === 'tap') out.push({ iface: i, method: 'podnet' });
    else
      errors.push(
        `${where}: binding ${bindingName(i)} attaches as ${i.attachment}; bindery up runs passt and tap bindings only`,
      );
  }
  if (out.length === 0 && errors.length === 0) errors.push('the VM has no interface to bring up');
  return errors.length > 0 ? { ok: false, errors } : { ok: true, interfaces: out };
}

/** `bindery passt` port options for declared ports; all ports of a protocol when none are declared. */
export function passtPortArgs(ports: BindingPlan['ports']): string[] {
  if (ports.length === 0) return ['-t', 'all', '-u', 'all'];
  const of = (p: 'TCP' | 'UDP'): string[] =>
    ports.filter((x) => x.protocol === p).map((x) => String(x.port));
  const t = of('TCP');
  const u = of('UDP');
  return [
    ...(t.length > 0 ? ['-t', t.join(',')] : []),
    ...(u.length > 0 ? ['-u', u.join(',')] : []),
  ];
}

/** Whether the guest's TCP :80 is reachable at the pod's address from the node. */
export function forwardsHttp(i: BindingPlan): boolean {
  const masqOrPasst =
    i.attachment === 'passt' || (i.binding.kind === 'core' && i.binding.method === 'masquerade');
  if (!masqOrPasst) return true;
  if (i.ports.length === 0 && i.portRanges.length === 0) return true;
  return (
    i.ports.some((p) => p.protocol === 'TCP' && p.port === 80) ||
    i.portRanges.some((r) => r.protocol === 'TCP' && r.start <= 80 && r.end >= 80)
  );
}
