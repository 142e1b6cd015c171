// Unit tests of the pure parts of `bindery migrate`: the gate, the methods, the switch-over order, query-migrate, the downtime.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { BindingPlan, VmNetworkPlan } from '../plan/types.js';
import {
  migrateFinished,
  migrationGate,
  networkDowntime,
  parseQueryMigrate,
  switchActions,
} from './migrate-plan.js';

const KV_REFUSAL =
  'cannot migrate VMI which does not use masquerade or a migratable plugin to connect to the pod network';

function iface(name: string, over: Partial<BindingPlan>): BindingPlan {
  return {
    name,
    networkIndex: 0,
    binding: { kind: 'core', method: 'masquerade' },
    network: { kind: 'pod' },
    attachment: 'tap',
    state: 'up',
    podInterfaceName: 'eth0',
    model: 'virtio',
    ports: [],
    portRanges: [],
    migration: { migratable: true },
    ...over,
  };
}

function plan(
  interfaces: BindingPlan[],
  migration: VmNetworkPlan['migration'] = { migratable: true },
): VmNetworkPlan {
  return {
    platform: 'kubevirt',
    vmName: 'vm',
    namespace: 'default',
    annotations: {},
    interfaces,
    istio: false,
    useVirtioTransitional: false,
    imagePullPolicy: 'IfNotPresent',
    annotationSidecars: [],
    root: false,
    migration,
  };
}

const passtPlugin = iface('passtnet', {
  binding: {
    kind: 'plugin',
    plugin: { name: 'passt', migration: { method: 'link-refresh' }, passtSidecar: true },
  },
  attachment: 'passt',
  migration: { migratable: true, method: 'link-refresh' },
});

test('a refused VM: the platform message, nothing else', () => {
  const g = migrationGate(
    plan([iface('default', { binding: { kind: 'core', method: 'bridge' } })], {
      migratable: false,
      reason: KV_REFUSAL,
    }),
    false,
  );
  assert.deepEqual(g, { ok: false, reason: KV_REFUSAL });
});

test('link-refresh for a plugin that declares it; masquerade and bridge get nothing', () => {
  const g = migrationGate(
    plan([
      passtPlugin,
      iface('masq', {}),
      iface('br', { binding: { kind: 'core', method: 'bridge' } }),
      iface('gone', { state: 'absent' }),
    ]),
    false,
  );
  assert.ok(g.ok);
  assert.deepEqual(
    g.actions.map((a) => [a.name, a.method, a.action]),
    [
      ['passtnet', 'link-refresh', 'link-refresh'],
      ['masq', undefined, 'none'],
      ['br', undefined, 'none'],
    ],
  );
  assert.match(g.actions[2]!.note, /keeps the source pod address/);
});

test('a sticky IP refreshes nothing', () => {
  const g = migrationGate(plan([passtPlugin]), true);
  assert.ok(g.ok);
  assert.equal(g.actions[0]!.action, 'none');
});

test('switch-over order: withdraw, hand-over, route, cont with a sticky IP; only cont otherwise', () => {
  assert.deepEqual(switchActions(false, 1), ['cont']);
  // The route is withdrawn before the hand-over (a socket in repair mode still ACKs data).
  assert.deepEqual(switchActions(true, 1), ['withdraw', 'handover', 'route', 'cont']);
  assert.deepEqual(switchActions(true, 0), ['route', 'cont']);
});

test('query-migrate: status, times, bytes, error', () => {
  const done = parseQueryMigrate({
    status: 'completed',
    'total-time': 1322,
    downtime: 104,
    ram: { transferred: 98_000_000 },
  });
  assert.deepEqual(done, {
    status: 'completed',
    totalMs: 1322,
    downtimeMs: 104,
    transferred: 98_000_000,
  });
  assert.ok(migrateFinished(done));
  const failed = parseQueryMigrate({ status: 'failed', 'error-desc': 'Unable to write' });
  assert.deepEqual(failed, { status: 'failed', error: 'Unable to write' });
  assert.ok(migrateFinished(failed));
  assert.ok(!migrateFinished(parseQueryMigrate({ status: 'active' })));
  assert.deepEqual(parseQueryMigrate(undefined), { status: 'none' });
});

test('network downtime: the gap around the switch-over, not another one', () => {
  // 10 ms answers, a 120 ms stall at 100 (load), the outage 300→750, completed at 400.
  const answers = [0, 10, 20, 100, 220, 230, 300, 750, 760, 770];
  assert.deepEqual(networkDowntime(answers, 400), { gapMs: 450, from: 300, to: 750 });
  assert.deepEqual(networkDowntime([...answers].reverse(), 400), {
    gapMs: 450,
    from: 300,
    to: 750,
  });
  assert.deepEqual(networkDowntime(answers, 150), { gapMs: 120, from: 100, to: 220 });
  assert.equal(networkDowntime([500, 600], 400), undefined, 'no answer before');
  assert.equal(networkDowntime([100, 200], 400), undefined, 'no answer after');
});
