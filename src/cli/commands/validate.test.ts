// Tests of `bindery validate`: exit codes 0/1/2 and one `FILE:LINE: PATH: MESSAGE [CODE]` line per problem.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '../main.js';

const FIX = fileURLToPath(new URL('../../../test/fixtures/manifests/', import.meta.url));

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await run(args, { out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err };
}

test('validate: the seed examples are valid (exit 0)', async () => {
  const passt = await cli([
    'validate',
    join(FIX, 'seed-passt-binding.yaml'),
    '--kubevirt-cr',
    join(FIX, 'seed-passt-kubevirt-cr.yaml'),
  ]);
  assert.equal(passt.code, 0, passt.out + passt.err);
  assert.match(passt.out, /warning: feature gate NetworkBindingPlugins is GA since v1\.5/);
  assert.match(passt.err, /3 manifests valid/);
  const virtink = await cli(['validate', join(FIX, 'seed-virtink.yaml')]);
  assert.equal(virtink.code, 0);
  assert.equal(virtink.out, '');
  const sameFile = await cli([
    'validate',
    join(FIX, 'seed-binding-plugins-kubevirt-cr.yaml'),
    join(FIX, 'seed-binding-plugins.yaml'),
    '--kubevirt-version',
    'v1.4',
  ]);
  assert.equal(sameFile.code, 0, sameFile.out);
});

test('validate: every error is one line with file, line, path, message and code (exit 1)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bindery-validate-'));
  try {
    const vm = join(dir, 'vm.yaml');
    writeFileSync(
      vm,
      `apiVersion: kubevirt.io/v1
kind: VirtualMachineInstance
metadata:
  name: bad
spec:
  domain:
    devices:
      interfaces:
      - name: default
        masquerade: {}
        macAddress: 02:00:00:00:00:00
      - name: sec
        masquerade: {}
  networks:
  - name: default
    pod: {}
  - name: sec
    multus:
      networkName: other
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: c
---
apiVersion: virt.virtink.smartx.com/v1alpha1
kind: VirtualMachine
spec:
  instance:
    interfaces:
    - name: pod
      masquerade: {cidr: 10.0.2.0/31}
  networks:
  - name: pod
    pod: {}
`,
    );
    const broken = join(dir, 'broken.yaml');
    writeFileSync(broken, 'apiVersion: kubevirt.io/v1\nkind: VirtualMachine\nspec: [\n');
    const types = join(dir, 'types.json');
    writeFileSync(
      types,
      JSON.stringify({
        apiVersion: 'virt.virtink.smartx.com/v1alpha1',
        kind: 'VirtualMachine',
        spec: { instance: { interfaces: [{ name: 'pod', vdpa: { numQueues: 'nine' } }] } },
      }),
    );
    const r = await cli(['validate', vm, broken, types, join(dir, 'missing.yaml')]);
    assert.equal(r.code, 1);
    const lines = r.out.trimEnd().split('\n');
    assert.deepEqual(lines, [
      `${vm}:11: spec.domain.devices.interfaces[0].macAddress: The requested MAC address is reserved for the in-pod bridge. Please choose another one. [BINDERY_ADM_KV_MASQ_RESERVED_MAC]`,
      `${vm}:12: spec.domain.devices.interfaces[1].name: Masquerade interface only implemented with pod network [BINDERY_ADM_KV_MASQ_NOT_POD]`,
      `${vm}:22: kind: unsupported kind "ConfigMap" in apiVersion "v1"; bindery reads KubeVirt VirtualMachine/VirtualMachineInstance/KubeVirt (kubevirt.io/v1), NetworkAttachmentDefinition (k8s.cni.cncf.io/v1), DaemonSet (apps/v1), Virtink VirtualMachine (virt.virtink.smartx.com/v1alpha1), and v1 List [BINDERY_LOAD_KIND]`,
      `${vm}:32: spec.instance.interfaces[0].masquerade.cidr: Invalid value: "10.0.2.0/31": must contain at least 4 IPs [BINDERY_ADM_VT_MASQ_CIDR_TOO_SMALL]`,
      ...lines.slice(4, -2),
      `${types}:1: spec.instance.interfaces[0].vdpa.numQueues: expected integer, got string "nine" [BINDERY_LOAD_TYPE]`,
      `${join(dir, 'missing.yaml')}: (document): cannot read file: no such file [BINDERY_ERR_INPUT]`,
    ]);
    const brokenLines = lines.slice(4, -2);
    assert.ok(brokenLines.length >= 1);
    for (const l of brokenLines)
      assert.match(
        l,
        new RegExp(
          `^${broken.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+: \\(document\\): .* \\[BINDERY_LOAD_SYNTAX\\]$`,
        ),
      );
    assert.match(r.err, /^bindery: \d+ errors\n$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('validate: --kubevirt-version selects the release rules', async () => {
  const args = [
    'validate',
    join(FIX, 'seed-passt-binding.yaml'),
    '--kubevirt-cr',
    join(FIX, 'seed-passt-kubevirt-cr.yaml'),
  ];
  const v10 = await cli([...args, '--kubevirt-version', '1.0']);
  assert.equal(v10.code, 1);
  assert.match(v10.out, /\[BINDERY_ADM_KV_FIELD_UNAVAILABLE\]/);
  const v13 = await cli([...args, '--kubevirt-version', 'v1.3.2']);
  assert.equal(v13.code, 0, v13.out);
  assert.equal(v13.out, '');
});

test('validate: usage errors exit 2', async () => {
  const none = await cli(['validate']);
  assert.equal(none.code, 2);
  const badVersion = await cli([
    'validate',
    join(FIX, 'seed-virtink.yaml'),
    '--kubevirt-version',
    'v2.0',
  ]);
  assert.equal(badVersion.code, 2);
  assert.match(badVersion.err, /^bindery: --kubevirt-version: "v2\.0" is not a KubeVirt release/);
});

test('validate: a --kubevirt-cr file without a CR is an error', async () => {
  const r = await cli([
    'validate',
    join(FIX, 'seed-virtink.yaml'),
    '--kubevirt-cr',
    join(FIX, 'seed-virtink.yaml'),
  ]);
  assert.equal(r.code, 1);
  assert.match(r.out, /no KubeVirt CR .* \[BINDERY_LOAD_NO_CR\]/);
});
