// Tests of whole-input validation: the seed examples are valid, CR selection, and random manifests never throw.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { loadManifests } from './load.js';
import { seededRandom } from './defaults.js';
import { CR_MULTIPLE_CODE, validateManifests } from './validate.js';
import { KUBEVIRT_VERSIONS } from './kubevirt-config.js';
import { KubeVirtCode } from './admit-kubevirt.js';
import type { LoadedManifest } from './types.js';

const FIX = new URL('../../test/fixtures/manifests/', import.meta.url);
const load = (...names: string[]): LoadedManifest[] =>
  names.flatMap((n) => {
    const r = loadManifests(readFileSync(new URL(n, FIX), 'utf8'), n);
    assert.deepEqual(r.diagnostics, [], n);
    return [...r.manifests];
  });
const random = seededRandom('validate-test');

test('seed 000: the passt VM with its NAD and KubeVirt CR is valid', () => {
  const r = validateManifests(load('seed-passt-kubevirt-cr.yaml', 'seed-passt-binding.yaml'), {
    random,
  });
  assert.deepEqual(
    r.diagnostics.filter((d) => d.severity === 'error'),
    [],
  );
  assert.ok(r.kubevirt.bindings['passt']);
  const vm = r.defaulted.find((m) => m.type === 'kubevirt-vm');
  assert.ok(vm?.type === 'kubevirt-vm');
  assert.equal(vm.object.spec.template.spec.domain.devices.interfaces?.[0]?.model, 'virtio');
  assert.equal(vm.object.metadata.namespace, 'default');
});

test('seed 001: the binding-plugin example is valid on every release with binding plugins', () => {
  for (const v of KUBEVIRT_VERSIONS.filter((k) => k.minor >= 3)) {
    const r = validateManifests(
      load('seed-binding-plugins-kubevirt-cr.yaml', 'seed-binding-plugins.yaml'),
      { random, kubevirtVersion: v },
    );
    assert.deepEqual(
      r.diagnostics.filter((d) => d.severity === 'error'),
      [],
      `v1.${v.minor}`,
    );
  }
});

test('seed 002: every Virtink example is valid', () => {
  const r = validateManifests(load('seed-virtink.yaml'), { random });
  assert.deepEqual(r.diagnostics, []);
  const vms = r.defaulted.filter((m) => m.type === 'virtink-vm');
  assert.equal(vms.length, 6);
  const vdpa = vms.at(-1);
  assert.ok(vdpa?.type === 'virtink-vm');
  assert.deepEqual(vdpa.object.spec.instance.interfaces?.[0]?.bridge, {});
  const masq = vms[3];
  assert.ok(masq?.type === 'virtink-vm');
  assert.deepEqual(masq.object.spec.instance.interfaces?.[0]?.masquerade, { cidr: '10.0.2.0/30' });
});

test('without the CR the passt VM fails with a located, bindery-marked error', () => {
  const r = validateManifests(load('seed-passt-binding.yaml'), { random });
  assert.deepEqual(
    r.diagnostics.map((d) => [d.file, d.line, d.path, d.code]),
    [
      [
        'seed-passt-binding.yaml',
        42,
        'spec.template.spec.domain.devices.interfaces[0].binding',
        KubeVirtCode.BindingUnregistered,
      ],
    ],
  );
});

test('a second KubeVirt CR is an error; the first one is used', () => {
  const ms = load('seed-passt-kubevirt-cr.yaml', 'seed-binding-plugins-kubevirt-cr.yaml');
  const r = validateManifests(ms, { random });
  assert.deepEqual(
    r.diagnostics.filter((d) => d.code === CR_MULTIPLE_CODE).map((d) => d.file),
    ['seed-binding-plugins-kubevirt-cr.yaml'],
  );
  assert.equal(r.kubevirt.bindings['passt']?.computeResourceOverhead, undefined);
});

test('missing names decode to Go zero values and admission reports them', () => {
  const text = JSON.stringify({
    apiVersion: 'virt.virtink.smartx.com/v1alpha1',
    kind: 'VirtualMachine',
    spec: { instance: { interfaces: [{ bridge: {} }] }, networks: [{ multus: {} }] },
  });
  const loaded = loadManifests(text, 'z.json');
  assert.deepEqual(loaded.diagnostics, []);
  const r = validateManifests(loaded.manifests, { random });
  const got = r.diagnostics.map((d) => [d.path, d.code]);
  for (const want of [
    ['spec.instance.interfaces[0].name', 'BINDERY_ADM_VT_IFACE_NAME_REQUIRED'],
    ['spec.networks[0].name', 'BINDERY_ADM_VT_NET_NAME_REQUIRED'],
    ['spec.networks[0].multus.networkName', 'BINDERY_ADM_VT_MULTUS_NAME_REQUIRED'],
  ])
    assert.ok(
      got.some(([p, c]) => p === want[0] && c === want[1]),
      JSON.stringify(got),
    );
});

const ifaceArb = fc.record(
  {
    name: fc.constantFrom('default', 'a', 'b', '', 'x.y'),
    bridge: fc.constant({}),
    masquerade: fc.constant({}),
    sriov: fc.constant({}),
    passtBinding: fc.constant({}),
    slirp: fc.constant({}),
    binding: fc.record({ name: fc.constantFrom('passt', 'nope', '') }),
    macAddress: fc.constantFrom('02:00:00:00:00:00', 'de:ad:00:00:be:af', 'bad'),
    model: fc.constantFrom('virtio', 'e1000', 'bogus'),
    ports: fc.array(
      fc.record({
        name: fc.constantFrom('http', 'BAD', ''),
        port: fc.integer({ min: -5, max: 70000 }),
        protocol: fc.constantFrom('TCP', 'udp', ''),
      }),
      { maxLength: 3 },
    ),
    portRanges: fc.array(
      fc.record({
        protocol: fc.constantFrom('TCP', 'UDP', 'x', ''),
        start: fc.integer({ min: -1, max: 70000 }),
        end: fc.integer({ min: -1, max: 70000 }),
      }),
      { maxLength: 3 },
    ),
    state: fc.constantFrom('', 'up', 'down', 'absent', 'weird'),
    bootOrder: fc.integer({ min: -1, max: 3 }),
    pciAddress: fc.constantFrom('0000:81:01.1', 'nope'),
    dhcpOptions: fc.record({
      ntpServers: fc.array(fc.constantFrom('10.0.0.1', 'x'), { maxLength: 2 }),
      privateOptions: fc.array(
        fc.record({ option: fc.integer({ min: 200, max: 260 }), value: fc.string() }),
        { maxLength: 2 },
      ),
    }),
  },
  { requiredKeys: [] },
);
const netArb = fc.record(
  {
    name: fc.constantFrom('default', 'a', 'b', ''),
    pod: fc.record({ vmNetworkCIDR: fc.constantFrom('10.0.2.0/24', 'bad') }, { requiredKeys: [] }),
    multus: fc.record(
      { networkName: fc.constantFrom('nad', 'ns/nad', ''), default: fc.boolean() },
      { requiredKeys: [] },
    ),
    resourceClaim: fc.record(
      { claimName: fc.constantFrom('c', ''), requestName: fc.constantFrom('r', '') },
      { requiredKeys: [] },
    ),
  },
  { requiredKeys: [] },
);
const vtIfaceArb = fc.record(
  {
    name: fc.constantFrom('pod', 'a', ''),
    mac: fc.constantFrom('52:54:00:00:00:01', '', 'zz'),
    bridge: fc.constant({}),
    masquerade: fc.record(
      { cidr: fc.constantFrom('10.0.2.0/30', '10.0.2.0/31', 'fd00::/64', 'x', '') },
      { requiredKeys: [] },
    ),
    sriov: fc.constant({}),
    vdpa: fc.record(
      { numQueues: fc.integer({ min: -1, max: 9 }), iommu: fc.boolean() },
      { requiredKeys: [] },
    ),
    vhostUser: fc.constant({}),
  },
  { requiredKeys: [] },
);
const vtNetArb = fc.record(
  {
    name: fc.constantFrom('pod', 'a', ''),
    pod: fc.constant({}),
    multus: fc.record({ networkName: fc.constantFrom('n', '') }),
  },
  { requiredKeys: [] },
);

test('property: random KubeVirt and Virtink manifests never throw, at every release', () => {
  fc.assert(
    fc.property(
      fc.array(ifaceArb, { maxLength: 4 }),
      fc.array(netArb, { maxLength: 4 }),
      fc.array(vtIfaceArb, { maxLength: 4 }),
      fc.array(vtNetArb, { maxLength: 4 }),
      fc.subarray([
        'NetworkBindingPlugins',
        'PasstBinding',
        'PortRangesSpec',
        'NetworkDevicesWithDRA',
        'Passt',
        'Macvtap',
      ]),
      fc.constantFrom(...KUBEVIRT_VERSIONS),
      (ifaces, nets, vtIfaces, vtNets, gates, version) => {
        const docs = [
          {
            apiVersion: 'kubevirt.io/v1',
            kind: 'KubeVirt',
            metadata: { name: 'kv' },
            spec: {
              configuration: {
                developerConfiguration: { featureGates: gates },
                network: { binding: { passt: { sidecarImage: 'img', migration: {} } } },
              },
            },
          },
          {
            apiVersion: 'kubevirt.io/v1',
            kind: 'VirtualMachineInstance',
            metadata: { name: 'vmi' },
            spec: { domain: { devices: { interfaces: ifaces } }, networks: nets },
          },
          {
            apiVersion: 'virt.virtink.smartx.com/v1alpha1',
            kind: 'VirtualMachine',
            metadata: { name: 'vt' },
            spec: { instance: { interfaces: vtIfaces }, networks: vtNets },
          },
        ];
        const text = docs.map((d) => JSON.stringify(d)).join('\n---\n');
        const loaded = loadManifests(text, 'r.yaml');
        const r = validateManifests(loaded.manifests, { random, kubevirtVersion: version });
        return [...loaded.diagnostics, ...r.diagnostics].every(
          (d) => d.file === 'r.yaml' && d.code.startsWith('BINDERY_') && !d.message.includes('\n'),
        );
      },
    ),
    { numRuns: 400 },
  );
});
