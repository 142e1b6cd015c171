// Tests of manifest loading: seeds, kinds, types, unknown fields, positions, go-yaml leniency, and never throwing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { lineOf, loadManifests, relaxQuotedIndentation } from './load.js';
import { LoadCode } from './decode.js';
import { validateManifests } from './validate.js';
import { seededRandom } from './defaults.js';
import type { Diagnostic } from './types.js';

const FIX = new URL('../../test/fixtures/manifests/', import.meta.url);
const fixture = (name: string): string => readFileSync(new URL(name, FIX), 'utf8');

function only(diags: readonly Diagnostic[], code: string): Diagnostic[] {
  return diags.filter((d) => d.code === code);
}

test('the seed manifests load without problems', () => {
  const passt = loadManifests(fixture('seed-passt-binding.yaml'), 'seed-passt-binding.yaml');
  assert.deepEqual(passt.diagnostics, []);
  assert.deepEqual(
    passt.manifests.map((m) => m.type),
    ['nad', 'kubevirt-vm'],
  );
  const nad = passt.manifests[0];
  assert.ok(nad?.type === 'nad');
  assert.equal(nad.object.namespace, 'default');
  assert.equal(nad.object.name, 'netbindingpasst');
  assert.deepEqual(nad.object.config?.['plugins'], [{ type: 'kubevirt-passt-binding' }]);
  const vm = passt.manifests[1];
  assert.ok(vm?.type === 'kubevirt-vm');
  const iface = vm.object.spec.template.spec.domain.devices.interfaces?.[0];
  assert.deepEqual(iface, {
    name: 'passtnet',
    binding: { name: 'passt' },
    ports: [{ name: 'http', port: 80, protocol: 'TCP' }],
  });
  assert.deepEqual(vm.object.spec.template.spec.domain.devices.extra, { rng: {} });
  assert.ok(vm.object.spec.template.spec.extra?.['volumes']);

  const cr = loadManifests(fixture('seed-binding-plugins-kubevirt-cr.yaml'), 'cr.yaml');
  assert.deepEqual(cr.diagnostics, []);
  const c = cr.manifests[0];
  assert.ok(c?.type === 'kubevirt-cr');
  assert.deepEqual(
    c.object.spec.configuration?.network?.binding?.['passt']?.computeResourceOverhead,
    {
      requests: { memory: '500Mi' },
    },
  );

  const vt = loadManifests(fixture('seed-virtink.yaml'), 'seed-virtink.yaml');
  assert.deepEqual(vt.diagnostics, []);
  assert.equal(vt.manifests.filter((m) => m.type === 'virtink-vm').length, 6);
  const sriovNad = vt.manifests.find(
    (m) => m.type === 'nad' && m.object.name === 'mellanox-sriov-25g',
  );
  assert.ok(sriovNad?.type === 'nad');
  assert.equal(sriovNad.object.resourceName, 'intel.com/mellanox_SRIOV_25G');
  const vdpa = vt.manifests.at(-1);
  assert.ok(vdpa?.type === 'virtink-vm');
  assert.deepEqual(vdpa.object.spec.instance.interfaces?.[1], {
    name: 'vdpa1',
    vdpa: { numQueues: 9, iommu: false },
  });
});

test('broken YAML gives one-line errors with file and line', () => {
  const r = loadManifests('apiVersion: v1\nkind: [\n  broken: "x\n', 'bad.yaml');
  assert.equal(r.manifests.length, 0);
  assert.ok(r.diagnostics.length > 0);
  for (const d of r.diagnostics) {
    assert.equal(d.file, 'bad.yaml');
    assert.equal(d.code, LoadCode.Syntax);
    assert.equal(typeof d.line, 'number');
    assert.ok(!d.message.includes('\n'));
  }
  const dup = loadManifests(
    'apiVersion: kubevirt.io/v1\nkind: KubeVirt\nkind: KubeVirt\n',
    'dup.yaml',
  );
  assert.equal(dup.diagnostics[0]?.code, LoadCode.Syntax);
  assert.equal(dup.diagnostics[0]?.line, 3);
  // A mapping as a key (`? {…}`) would be stringified with its newlines into a field name.
  const complex = loadManifests(
    'apiVersion: kubevirt.io/v1\nkind: VirtualMachine\nspec:\n  ? template:\n      a: 1\n  : x\n',
    'key.yaml',
  );
  assert.equal(complex.manifests.length, 0);
  assert.deepEqual(
    complex.diagnostics.map((d) => [d.code, d.line, d.message]),
    [[LoadCode.Syntax, 4, 'invalid map key: a mapping or sequence cannot be a key']],
  );
});

test('unknown kinds and missing apiVersion are errors at the right path', () => {
  const r = loadManifests(
    'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n---\nkind: VirtualMachine\n---\napiVersion: kubevirt.io/v2\nkind: VirtualMachine\n',
    'k.yaml',
  );
  assert.deepEqual(
    r.diagnostics.map((d) => [d.path, d.code, d.line]),
    [
      ['kind', LoadCode.Kind, 2],
      ['apiVersion', LoadCode.Required, 6],
      ['kind', LoadCode.Kind, 9],
    ],
  );
  assert.match(r.diagnostics[0]?.message ?? '', /unsupported kind "ConfigMap" in apiVersion "v1"/);
});

const vmHead = `apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata:
  name: t
spec:
  template:
    spec:
      domain:
        devices:
          interfaces:
`;

test('wrong types are errors with the field path and line', () => {
  const text =
    vmHead +
    `          - name: default
            masquerade: []
            ports:
            - port: "80"
      networks:
      - name: default
        pod: {}
`;
  const r = loadManifests(text, 'types.yaml');
  assert.equal(r.manifests.length, 0);
  assert.deepEqual(
    r.diagnostics.map((d) => [d.path, d.code, d.line, d.message]),
    [
      [
        'spec.template.spec.domain.devices.interfaces[0].masquerade',
        LoadCode.Type,
        12,
        'expected object, got array […]',
      ],
      [
        'spec.template.spec.domain.devices.interfaces[0].ports[0].port',
        LoadCode.Type,
        14,
        'expected integer, got string "80"',
      ],
    ],
  );
});

test('unknown fields: errors where bindery models the object, warnings where it does not', () => {
  const text =
    vmHead +
    `          - name: default
            masquerade: {}
            mtu: 9000
          blockMultiQueue: true
          sparkles: true
      networks:
      - name: default
        pod: {}
`;
  const r = loadManifests(text, 'u.yaml');
  assert.deepEqual(
    r.diagnostics.map((d) => [d.path, d.severity, d.line]),
    [
      ['spec.template.spec.domain.devices.interfaces[0].mtu', 'error', 13],
      ['spec.template.spec.domain.devices.sparkles', 'warning', 15],
    ],
  );
  assert.equal(r.manifests.length, 0, 'a document with an error is left out');
  const warnOnly = loadManifests(text.replace('            mtu: 9000\n', ''), 'u.yaml');
  assert.equal(warnOnly.manifests.length, 1);
  const m = warnOnly.manifests[0];
  assert.ok(m?.type === 'kubevirt-vm');
  assert.deepEqual(m.object.spec.template.spec.domain.devices.extra, {
    blockMultiQueue: true,
    sparkles: true,
  });
});

test('JSON, v1 List, nulls, empty files and NAD configs', () => {
  const json = JSON.stringify({
    apiVersion: 'v1',
    kind: 'List',
    items: [
      {
        apiVersion: 'virt.virtink.smartx.com/v1alpha1',
        kind: 'VirtualMachine',
        metadata: { name: 'a' },
        spec: {
          instance: { interfaces: [{ name: 'pod', bridge: null }] },
          networks: [{ name: 'pod', pod: {} }],
        },
      },
      {
        apiVersion: 'k8s.cni.cncf.io/v1',
        kind: 'NetworkAttachmentDefinition',
        metadata: { name: 'n' },
        spec: { config: '{"type": ' },
      },
    ],
  });
  const r = loadManifests(json, 'list.json');
  assert.equal(r.manifests.length, 1);
  const vm = r.manifests[0];
  assert.ok(vm?.type === 'virtink-vm');
  assert.deepEqual(vm.object.spec.instance.interfaces, [{ name: 'pod' }]);
  assert.deepEqual(
    r.diagnostics.map((d) => [d.path, d.code]),
    [['items[1].spec.config', LoadCode.NadConfig]],
  );
  assert.deepEqual(
    loadManifests('# nothing here\n', 'empty.yaml').diagnostics.map((d) => d.code),
    [LoadCode.Empty],
  );
  assert.deepEqual(
    loadManifests('---\n', 'e2.yaml').diagnostics.map((d) => d.code),
    [LoadCode.Empty],
  );
  const scalar = loadManifests('42\n', 's.yaml');
  assert.equal(scalar.diagnostics[0]?.code, LoadCode.Type);
});

test('lineOf falls back to the nearest ancestor and reads bracketed map keys', () => {
  const r = loadManifests(fixture('seed-passt-kubevirt-cr.yaml'), 'cr.yaml');
  const m = r.manifests[0];
  assert.ok(m);
  assert.equal(lineOf(m.source, 'spec.configuration.network.binding[passt].sidecarImage'), 19);
  assert.equal(lineOf(m.source, 'spec.configuration.network.binding[passt].nothing'), 17);
  assert.equal(lineOf(m.source, ''), 5);
});

test('go-yaml leniency: quoted scalars may continue at the parent indentation', () => {
  const text =
    "spec:\n  config: '{\n    \"a\": 1\n  }'\nnext: |\n  it's 'plain'\n  x\nother: don't\n";
  const relaxed = relaxQuotedIndentation(text);
  assert.equal(relaxed.split('\n').length, text.split('\n').length);
  assert.equal(relaxed.split('\n')[3], "   }'");
  assert.equal(relaxed.split('\n').slice(4).join('\n'), text.split('\n').slice(4).join('\n'));
  const valid = fixture('seed-virtink.yaml');
  assert.equal(relaxQuotedIndentation(valid), valid);
});

test('property: random text never throws and every problem is one located line', () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 400 }), (s) => {
      const r = loadManifests(s, 'f.yaml');
      return r.diagnostics.every((d) => d.file === 'f.yaml' && !d.message.includes('\n'));
    }),
    { numRuns: 300 },
  );
});

test('property: mutated seed manifests never throw', () => {
  const seeds = [
    fixture('seed-passt-binding.yaml'),
    fixture('seed-virtink.yaml'),
    fixture('seed-binding-plugins-kubevirt-cr.yaml'),
  ];
  fc.assert(
    fc.property(
      fc.constantFrom(...seeds),
      fc.array(fc.tuple(fc.nat(), fc.nat({ max: 8 }), fc.string({ maxLength: 6 })), {
        maxLength: 6,
      }),
      (seed, edits) => {
        let s = seed;
        for (const [at, del, ins] of edits) {
          const i = at % (s.length + 1);
          s = s.slice(0, i) + ins + s.slice(i + del);
        }
        const r = loadManifests(s, 'm.yaml');
        return r.diagnostics.every((d) => !d.message.includes('\n'));
      },
    ),
    { numRuns: 300 },
  );
});

test('property: arbitrary JSON values shaped like manifests never throw', () => {
  const kinds = fc.constantFrom(
    ['kubevirt.io/v1', 'VirtualMachine'],
    ['kubevirt.io/v1', 'VirtualMachineInstance'],
    ['kubevirt.io/v1', 'KubeVirt'],
    ['k8s.cni.cncf.io/v1', 'NetworkAttachmentDefinition'],
    ['virt.virtink.smartx.com/v1alpha1', 'VirtualMachine'],
  );
  fc.assert(
    fc.property(kinds, fc.jsonValue({ maxDepth: 6 }), ([apiVersion, kind], spec) => {
      const r = loadManifests(
        JSON.stringify({ apiVersion, kind, metadata: { name: 'x' }, spec }),
        'j.json',
      );
      const v = validateManifests(r.manifests, { random: seededRandom('j') });
      return Array.isArray(r.diagnostics) && Array.isArray(v.diagnostics);
    }),
    { numRuns: 300 },
  );
  for (const spec of [
    { domain: {} },
    { domain: { devices: {} } },
    { template: { spec: { domain: {} } } },
    { instance: {} },
    {},
  ]) {
    for (const [apiVersion, kind] of [
      ['kubevirt.io/v1', 'VirtualMachineInstance'],
      ['kubevirt.io/v1', 'VirtualMachine'],
      ['virt.virtink.smartx.com/v1alpha1', 'VirtualMachine'],
      ['kubevirt.io/v1', 'KubeVirt'],
    ]) {
      const r = loadManifests(JSON.stringify({ apiVersion, kind, spec }), 'e.json');
      validateManifests(r.manifests, { random: seededRandom('e') });
    }
  }
  assert.equal(only([], 'x').length, 0);
});
