// Unit tests of `bindery migrate`'s summary text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { migrateSummary } from './migrate.js';

test('the summary: pods, times, one row per interface, warnings', () => {
  const text = migrateSummary({
    vm: 'vm',
    keepIp: true,
    source: { pod: 'bdy-up-vm-pod-aaaaaa', podIPv4: '10.244.1.2' },
    target: { pod: 'bdy-up-vm-pod-bbbbbb', podIPv4: '10.244.1.2' },
    migrationMs: 700,
    stopMs: 66,
    networkDowntimeMs: 404,
    contToAnswerMs: 290,
    probe: { urls: ['http://10.244.1.2/'], answers: 151 },
    interfaces: [
      {
        name: 'passtnet',
        method: 'link-refresh',
        action: 'none',
        note: 'sticky IP',
        ipv4Before: '10.244.1.2/24',
        ipv4After: '10.244.1.2/24',
      },
    ],
    handover: [{ flows: 3, bytesQueued: 4096, freezeMs: 41.6 }],
    at: { completed: 1, cont: 2 },
    warnings: ['passtnet: TCP hand-over: no --repair-path'],
  });
  assert.match(text, /^target pod\s+bdy-up-vm-pod-bbbbbb \(10\.244\.1\.2, kept\)$/m);
  assert.match(text, /^VM stopped\s+66 ms$/m);
  assert.match(
    text,
    /^network downtime\s+404 ms \(probe: 151 answers from http:\/\/10\.244\.1\.2\/\)$/m,
  );
  assert.match(text, /^new address after cont\s+-$/m);
  assert.match(
    text,
    /^passtnet\s+link-refresh\s+none\s+10\.244\.1\.2\/24\s+10\.244\.1\.2\/24\s+sticky IP$/m,
  );
  assert.match(text, /^TCP hand-over\s+3 flows, 4096 bytes queued, frozen 42 ms$/m);
  assert.match(text, /^warning: passtnet: TCP hand-over: no --repair-path$/m);
});
