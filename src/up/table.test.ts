// Unit tests of the `bindery up` tables.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { portsText, renderTable, statusTable } from './table.js';

test('renderTable: columns padded to the widest cell, last column not padded', () => {
  assert.equal(renderTable(['A', 'BB'], [['xxx', 'y'], ['z']]), 'A    BB\nxxx  y\nz\n');
});

test('statusTable: one row per interface, blanks as -', () => {
  const t = statusTable([
    {
      vm: 'vm1',
      name: 'eth0',
      binding: 'passt',
      ipv4: '10.244.1.2/24',
      mac: '52:54:00:00:00:01',
      ports: '80/tcp',
      pid: 'passt 42',
      reach: 'ip netns exec n curl http://10.244.1.2/',
    },
  ]);
  const [head, row] = t.split('\n');
  assert.match(
    head!,
    /^VM\s+IFACE\s+BINDING\s+GUEST IPV4\s+GUEST IPV6\s+MAC\s+PORTS\s+PID\s+REACH$/,
  );
  assert.match(row!, /^vm1\s+eth0\s+passt\s+10\.244\.1\.2\/24\s+-\s+52:54/);
  assert.equal(head!.indexOf('GUEST IPV6'), row!.indexOf('-  '));
});

test('portsText', () => {
  assert.equal(portsText([], true), 'all');
  assert.equal(portsText([], false), '-');
  assert.equal(
    portsText(
      [
        { protocol: 'TCP', port: 80 },
        { protocol: 'UDP', port: 53 },
      ],
      true,
    ),
    '80/tcp, 53/udp',
  );
});
