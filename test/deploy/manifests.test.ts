// The deployment in deploy/: `bindery validate` accepts it, the CR's bindings plan as passt/tap/managedTap, and the files agree with each other.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { loadManifests } from '../../src/api/load.js';
import { validateManifests } from '../../src/api/validate.js';
import { applyJsonPatch, isJsonPatch } from '../../src/api/json-patch.js';
import type { KubeVirtCR, LoadedManifest, Manifest } from '../../src/api/types.js';
import { planKubeVirt } from '../../src/plan/plan.js';
import type { BindingPlan } from '../../src/plan/types.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DEPLOY = join(ROOT, 'deploy');
const yamlFiles = readdirSync(DEPLOY)
  .filter((f) => f.endsWith('.yaml'))
  .sort()
  .map((f) => join('deploy', f));
const version = (
  JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }
).version;
const noRandom = (n: number): Uint8Array => new Uint8Array(n);

function load(files: readonly string[]): LoadedManifest[] {
  return files.flatMap((f) => {
    const r = loadManifests(readFileSync(join(ROOT, f), 'utf8'), f);
    assert.deepEqual(r.diagnostics, [], `${f} loads without diagnostics`);
    return [...r.manifests];
  });
}

type ObjectOf = { [M in Manifest as M['type']]: M['object'] };

function only<K extends keyof ObjectOf>(ms: readonly LoadedManifest[], type: K): ObjectOf[K][] {
  return ms.flatMap((m) => (m.type === type ? [m.object as ObjectOf[K]] : []));
}

test('bindery validate accepts every manifest in deploy/ with no diagnostic', async () => {
  assert.deepEqual(yamlFiles, [
    'deploy/daemonset.yaml',
    'deploy/example-vm.yaml',
    'deploy/kubevirt-cr-patch.yaml',
    'deploy/nads.yaml',
  ]);
  const r = await run(process.execPath, ['bin/bindery.js', 'validate', ...yamlFiles], {
    cwd: ROOT,
  });
  assert.equal(r.stdout, '', 'no diagnostics');
  assert.match(r.stderr, /^bindery: 7 manifests valid\n$/);
  // Also with the CR given apart, as an admin checking a VM against the patched cluster would.
  const r2 = await run(
    process.execPath,
    [
      'bin/bindery.js',
      'validate',
      '--kubevirt-cr',
      'deploy/kubevirt-cr-patch.yaml',
      'deploy/example-vm.yaml',
    ],
    { cwd: ROOT },
  );
  assert.equal(r2.stdout, '');
});

test('every KubeVirt release from v1.4 accepts the deployment; before v1.5 with the gate patch', () => {
  const ms = load(yamlFiles);
  for (const minor of [5, 6, 7, 8, 9]) {
    const r = validateManifests(ms, { kubevirtVersion: { major: 1, minor }, random: noRandom });
    assert.deepEqual(r.diagnostics, [], `v1.${minor}`);
  }
  const v14 = { kubevirtVersion: { major: 1, minor: 4 }, random: noRandom };
  // v1.4 without the gate: the binding plugin framework is off.
  const without = validateManifests(ms, v14);
  assert.ok(
    without.diagnostics.some((d) => /Binding plugins feature gate is not enabled/.test(d.message)),
    JSON.stringify(without.diagnostics),
  );
  // With deploy/kubevirt-cr-gate-patch.json applied to a CR that has a gate list.
  const ops: unknown = JSON.parse(
    readFileSync(join(DEPLOY, 'kubevirt-cr-gate-patch.json'), 'utf8'),
  );
  assert.ok(isJsonPatch(ops));
  const patched = ms.map((m) => {
    if (m.type !== 'kubevirt-cr') return m;
    const cr = structuredClone(m.object) as unknown as Record<string, unknown> & KubeVirtCR;
    const spec = cr.spec as { configuration: Record<string, unknown> };
    spec.configuration['developerConfiguration'] = { featureGates: ['LiveMigration'] };
    assert.deepEqual(applyJsonPatch(cr, ops), []);
    return { ...m, object: cr };
  });
  assert.deepEqual(validateManifests(patched, v14).diagnostics, []);
  // v1.3 has no managedTap (why the README says v1.4).
  const v13 = validateManifests(patched, { ...v14, kubevirtVersion: { major: 1, minor: 3 } });
  assert.ok(v13.diagnostics.some((d) => /managedTap exists from v1.4/.test(d.message)));
});

test("the CR's bindings plan the example VM as passt, tap and managedTap", () => {
  const ms = load(yamlFiles);
  const v = validateManifests(ms, { random: noRandom });
  const vm = only(v.defaulted, 'kubevirt-vm')[0];
  const cr = only(ms, 'kubevirt-cr')[0];
  assert.ok(vm && cr);
  const r = planKubeVirt({ vm, kubevirt: cr, nads: only(ms, 'nad') });
  if (!r.ok) assert.fail(JSON.stringify(r.errors));
  const by = new Map(r.plan.interfaces.map((i) => [i.name, i]));
  const plugin = (i: BindingPlan | undefined) => {
    assert.ok(i && i.binding.kind === 'plugin');
    return i.binding.plugin;
  };

  const passt = by.get('default');
  assert.equal(passt?.attachment, 'passt');
  assert.equal(passt.podInterfaceName, 'eth0');
  assert.deepEqual(passt.ports, [{ name: 'http', protocol: 'TCP', port: 80 }]);
  assert.deepEqual(passt.migration, { migratable: true, method: 'link-refresh' });
  const p = plugin(passt);
  assert.equal(p.name, 'bindery-passt');
  assert.equal(p.sidecarImage, `localhost/bindery:${version}`);
  assert.equal(p.passtSidecar, true);
  assert.deepEqual(p.networkAttachmentDefinition, { namespace: 'default', name: 'bindery-passt' });

  const tap = by.get('lan-tap');
  assert.equal(tap?.attachment, 'tap');
  assert.equal(plugin(tap).domainAttachmentType, 'tap');
  assert.match(tap.tapName ?? '', /^tap[0-9a-f]{11}$/);
  assert.equal(tap.bridgeName, undefined);

  const managed = by.get('lan-managed');
  assert.equal(managed?.attachment, 'tap');
  assert.equal(plugin(managed).domainAttachmentType, 'managedTap');
  assert.ok(managed.bridgeName?.startsWith('k6t-'));
  assert.ok(managed.renamedPodInterfaceName?.endsWith('-nic'));

  // One plugin with an overhead, counted once; the VM can migrate.
  assert.equal(r.plan.memoryOverhead, '256Mi');
  assert.equal(r.plan.migration.migratable, true);
  // No binding uses a host device, so none asks for device-info.
  assert.ok([p, plugin(tap), plugin(managed)].every((x) => x.downwardAPI === undefined));
});

test('the CR, the NADs and the DaemonSet agree: NAD names, CNI type and binding, image', () => {
  const ms = load(yamlFiles);
  const cr = only(ms, 'kubevirt-cr')[0];
  const bindings = cr?.spec.configuration?.network?.binding ?? {};
  const nads = new Map(only(ms, 'nad').map((n) => [`${n.namespace}/${n.name}`, n]));
  const want: Record<string, string> = {
    'bindery-passt': 'passt',
    'bindery-tap': 'tap',
    'bindery-managedtap': 'managedTap',
  };
  assert.deepEqual(Object.keys(bindings).sort(), Object.keys(want).sort());
  for (const [name, reg] of Object.entries(bindings)) {
    const nad = nads.get(reg.networkAttachmentDefinition ?? '');
    assert.ok(nad, `${name}: its NAD ${reg.networkAttachmentDefinition} is in deploy/`);
    assert.deepEqual(nad.config, {
      cniVersion: '1.0.0',
      name: nad.name,
      plugins: [{ type: 'bindery-cni', binding: want[name] }],
    });
  }
  const ds = only(ms, 'daemonset')[0];
  const c = ds?.spec.template.spec.containers?.[0];
  assert.ok(c);
  assert.equal(c.image, bindings['bindery-passt']?.sidecarImage);
  assert.deepEqual(c.command, ['/usr/local/bin/bindery']);
  const to = c.args?.[c.args.indexOf('--to') + 1];
  assert.ok(c.volumeMounts?.some((m) => m.mountPath === to));
});
