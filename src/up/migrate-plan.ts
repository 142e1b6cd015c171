// The pure parts of `bindery migrate`: the migration gate, each interface's method, the switch-over order, QMP's query-migrate, and the network downtime from probe timestamps.
import type { VmNetworkPlan } from '../plan/types.js';

/** The steps of `migrate`, in order. */
export const MIGRATE_STEPS = [
  'gate',
  'pod',
  'bindings',
  'target',
  'migrate',
  'switch',
  'network',
  'cleanup',
] as const;
export type MigrateStep = (typeof MIGRATE_STEPS)[number];

/** What happens to one interface after the memory has moved. */
export interface InterfaceAction {
  readonly name: string;
  /** The binding's migration method as the plan has it (`link-refresh`, `passt-repair`, …). */
  readonly method?: string;
  /** What `migrate` does: QMP set_link down/up on the target, or nothing. */
  readonly action: 'link-refresh' | 'none';
  /** Why, for the report. */
  readonly note: string;
}

/** Whether the VM may migrate, and what each interface gets afterwards. */
export type Gate =
  | { readonly ok: true; readonly actions: readonly InterfaceAction[] }
  | { readonly ok: false; readonly reason: string };

/**
 * The migration gate (KubeVirt `VerifyVMIMigratable`, Virtink's `Migratable` condition, as the
 * plan recorded them) and each interface's method after the switch-over.
 *
 * KubeVirt: masquerade keeps 10.0.2.2 (nothing to do); a plugin with `migration.method:
 * link-refresh` gets QMP set_link down/up so the guest renews its lease from the target pod;
 * `passt-repair` (core passtBinding) and a plugin with `migration: {}` get nothing from the
 * platform; bridge (allowed by annotation) gets nothing, so the guest keeps the source pod's
 * address. Virtink does nothing network-wise after a migration (facts-virtink §4).
 * With a sticky IP (`keepIp`) the guest's address stays right, so no interface is refreshed.
 * @param plan - the VM's plan
 * @param keepIp - the target pod gets the source pod's IP
 */
export function migrationGate(plan: VmNetworkPlan, keepIp: boolean): Gate {
  if (!plan.migration.migratable)
    return { ok: false, reason: plan.migration.reason ?? 'the VM is not migratable' };
  const actions: InterfaceAction[] = [];
  for (const i of plan.interfaces) {
    if (i.state === 'absent') continue;
    const method = i.migration.method;
    const base = { name: i.name, ...(method !== undefined ? { method } : {}) };
    const masq = i.binding.kind === 'core' && i.binding.method === 'masquerade';
    const bridge = i.binding.kind === 'core' && i.binding.method === 'bridge';
    if (keepIp)
      actions.push({ ...base, action: 'none', note: 'sticky IP: the guest keeps a right address' });
    else if (method === 'link-refresh')
      actions.push({
        ...base,
        action: 'link-refresh',
        note: 'link down/up on the target: the guest renews DHCP and gets the target pod address',
      });
    else if (masq)
      actions.push({
        ...base,
        action: 'none',
        note: 'masquerade: the guest keeps its NAT address',
      });
    else if (bridge)
      actions.push({
        ...base,
        action: 'none',
        note: 'bridge: nothing is done, the guest keeps the source pod address (use --keep-ip)',
      });
    else
      actions.push({
        ...base,
        action: 'none',
        note: `${method ?? 'no method'}: nothing is done on the target`,
      });
  }
  return { ok: true, actions };
}

/** What the switch-over does, in order, once the memory has moved and the source is paused. */
export type SwitchAction = 'withdraw' | 'handover' | 'route' | 'cont';

/**
 * The switch-over order. With a sticky IP and passt interfaces: the node's routes to the pod IP
 * are withdrawn (blackholed) first — a socket in repair mode still acknowledges what reaches
 * it, and that data would be lost (runner/handover.ts) — then the translators hand their TCP
 * flows over, then the routes lead to the target veth. With a sticky IP alone the routes move.
 * Then the target runs (`cont`).
 */
export function switchActions(keepIp: boolean, passtInterfaces: number): SwitchAction[] {
  if (!keepIp) return ['cont'];
  if (passtInterfaces === 0) return ['route', 'cont'];
  return ['withdraw', 'handover', 'route', 'cont'];
}

/** QMP `query-migrate` as `migrate` needs it. */
export interface MigrateStatus {
  /** `none`, `setup`, `active`, `completed`, `failed`, `cancelled`, … */
  readonly status: string;
  readonly totalMs?: number;
  /** The time the VM was stopped (QMP `downtime`, completed migrations only). */
  readonly downtimeMs?: number;
  readonly error?: string;
  /** Bytes of RAM transferred. */
  readonly transferred?: number;
}

/** Reads a `query-migrate` return value. */
export function parseQueryMigrate(v: unknown): MigrateStatus {
  const o = v !== null && typeof v === 'object' ? (v as Record<string, unknown>) : {};
  const num = (x: unknown): number | undefined => (typeof x === 'number' ? x : undefined);
  const ram =
    o['ram'] !== null && typeof o['ram'] === 'object' ? (o['ram'] as Record<string, unknown>) : {};
  const total = num(o['total-time']);
  const down = num(o['downtime']);
  const transferred = num(ram['transferred']);
  return {
    status: typeof o['status'] === 'string' ? o['status'] : 'none',
    ...(total !== undefined ? { totalMs: total } : {}),
    ...(down !== undefined ? { downtimeMs: down } : {}),
    ...(typeof o['error-desc'] === 'string' ? { error: o['error-desc'] } : {}),
    ...(transferred !== undefined ? { transferred } : {}),
  };
}

/** Whether a migration status is final. */
export function migrateFinished(st: MigrateStatus): boolean {
  return st.status === 'completed' || st.status === 'failed' || st.status === 'cancelled';
}

/** The network downtime a probe saw. */
export interface ProbeGap {
  /** The longest time between two successive answers, in ms. */
  readonly gapMs: number;
  /** When it began (the last answer before it). */
  readonly from: number;
  /** When it ended (the first answer after it). */
  readonly to: number;
}

/**
 * The longest gap between successive answers that spans `around` (a moment inside the outage,
 * e.g. when the source stopped): the network downtime the migration caused. A gap elsewhere
 * (load on the machine) is not counted. Undefined when there was no answer before or after.
 * @param answers - times the guest answered (any order, ms)
 * @param around - a time the outage includes
 */
export function networkDowntime(answers: readonly number[], around: number): ProbeGap | undefined {
  const t = [...answers].sort((a, b) => a - b);
  const after = t.findIndex((x) => x > around);
  if (after <= 0) return undefined;
  const from = t[after - 1]!;
  const to = t[after]!;
  return { gapMs: to - from, from, to };
}
