// Tests of the DaemonSet checks: what the API server refuses is reported at its field, a sound DaemonSet passes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadManifests } from './load.js';
import { validateManifests } from './validate.js';

const base = `apiVersion: apps/v1
kind: DaemonSet
metadata: {name: ds, namespace: kube-system}
spec:
  selector: {matchLabels: {app: x}}
  template:
    metadata: {labels: {app: x}}
    spec:
      containers:
        - name: c
          image: img
          volumeMounts: [{name: bin, mountPath: /host/bin}]
      volumes: [{name: bin, hostPath: {path: /opt/cni/bin}}]
`;

function diagnostics(text: string): string[] {
  const l = loadManifests(text, 'ds.yaml');
  const v = validateManifests(l.manifests, { random: (n) => new Uint8Array(n) });
  return [...l.diagnostics, ...v.diagnostics].map((d) => `${d.path}: ${d.message} [${d.code}]`);
}

test('a sound DaemonSet has no diagnostics', () => {
  assert.deepEqual(diagnostics(base), []);
});

test('selector, mounts, names and paths are checked as the API server does', () => {
  const bad = base
    .replace('labels: {app: x}', 'labels: {app: y}')
    .replace('{name: bin, mountPath: /host/bin}', '{name: nope, mountPath: host/bin}')
    .replace('path: /opt/cni/bin', 'path: opt/cni/bin')
    .replace('- name: c', '- name: C_1');
  assert.deepEqual(diagnostics(bad), [
    'spec.template.metadata.labels: `selector` does not match template `labels` [BINDERY_LOAD_WORKLOAD]',
    'spec.template.spec.volumes[0].hostPath.path: Invalid value: "opt/cni/bin": must be an absolute path [BINDERY_LOAD_WORKLOAD]',
    `spec.template.spec.containers[0].name: Invalid value: "C_1": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-' [BINDERY_LOAD_WORKLOAD]`,
    'spec.template.spec.containers[0].volumeMounts[0].name: Not found: "nope" [BINDERY_LOAD_WORKLOAD]',
    'spec.template.spec.containers[0].volumeMounts[0].mountPath: Invalid value: "host/bin": must be an absolute path [BINDERY_LOAD_WORKLOAD]',
  ]);
});

test('an unknown container field is an error, an empty selector and no containers too', () => {
  const typo = base.replace('image: img', 'image: img\n          comand: [x]');
  assert.deepEqual(diagnostics(typo), [
    'spec.template.spec.containers[0].comand: unknown field "comand" [BINDERY_LOAD_UNKNOWN_FIELD]',
  ]);
  const empty = base
    .replace('selector: {matchLabels: {app: x}}', 'selector: {}')
    .replace(/containers:[\s\S]*?volumes:/, 'containers: []\n      volumes:');
  assert.deepEqual(diagnostics(empty), [
    'spec.selector: empty selector is invalid for daemonset [BINDERY_LOAD_WORKLOAD]',
    'spec.template.spec.containers: Required value [BINDERY_LOAD_WORKLOAD]',
  ]);
});
