// Tests of the bundled guest's QEMU argv.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BinderyError } from '../errors.js';
import { guestQemuArgs } from './qemu-args.js';
import type { GuestQemuOptions } from './qemu-args.js';

const base: GuestQemuOptions = {
  kernel: '/boot/vmlinuz-6.1.0-57-amd64',
  initrd: '/var/cache/bindery/guest/initrd.cpio',
  hostname: 'vm1',
  agentSocket: '/run/bindery/vm1/agent.sock',
  qmpSocket: '/run/bindery/vm1/qmp.sock',
  serialLog: '/run/bindery/vm1/serial.log',
  nics: [
    { kind: 'stream', socketPath: '/run/bindery/vm1/passt.sock', mac: '52:54:00:00:00:01' },
    { kind: 'tap', ifname: 'tap0', mac: '52:54:00:00:00:02', mtu: 1450 },
  ],
};

/** The value following `flag`'s i-th occurrence. */
function values(args: string[], flag: string): string[] {
  return args.flatMap((a, i) => (a === flag ? [args[i + 1]!] : []));
}

test('argv: accelerator, kernel, console, NICs, agent, QMP', () => {
  const a = guestQemuArgs(base);
  assert.deepEqual(values(a, '-accel'), ['tcg']);
  assert.deepEqual(values(a, '-m'), ['256']);
  for (const f of ['-nodefaults', '-no-user-config', '-nographic']) assert.ok(a.includes(f), f);
  assert.deepEqual(values(a, '-kernel'), [base.kernel]);
  assert.deepEqual(values(a, '-initrd'), [base.initrd]);
  assert.deepEqual(values(a, '-append'), ['console=ttyS0 panic=-1 quiet bindery.hostname=vm1']);
  assert.deepEqual(values(a, '-serial'), ['chardev:serial0']);
  assert.deepEqual(values(a, '-netdev'), [
    'stream,id=n0,server=off,addr.type=unix,addr.path=/run/bindery/vm1/passt.sock',
    'tap,id=n1,ifname=tap0,script=no,downscript=no,vhost=off',
  ]);
  assert.deepEqual(values(a, '-device'), [
    'virtio-net-pci,netdev=n0,mac=52:54:00:00:00:01',
    'virtio-net-pci,netdev=n1,mac=52:54:00:00:00:02,host_mtu=1450',
    'virtio-serial-pci,id=vser0',
    'virtserialport,bus=vser0.0,chardev=agent0,name=org.bindery.agent',
  ]);
  assert.deepEqual(values(a, '-chardev'), [
    'file,id=serial0,path=/run/bindery/vm1/serial.log',
    'socket,id=agent0,path=/run/bindery/vm1/agent.sock,server=on,wait=off',
  ]);
  assert.deepEqual(values(a, '-qmp'), ['unix:/run/bindery/vm1/qmp.sock,server=on,wait=off']);
  // Every -netdev precedes its -device.
  assert.ok(a.indexOf('-netdev') < a.indexOf('-device'));
});

test('argv: kvm and memory', () => {
  const a = guestQemuArgs({ ...base, accel: 'kvm', memMb: 512, nics: [] });
  assert.deepEqual(values(a, '-accel'), ['kvm']);
  assert.deepEqual(values(a, '-m'), ['512']);
  assert.deepEqual(values(a, '-netdev'), []);
});

test('argv: values QEMU would misparse are refused', () => {
  const bad: GuestQemuOptions[] = [
    { ...base, hostname: 'has space' },
    { ...base, hostname: 'under_score' },
    { ...base, agentSocket: '/tmp/a,b.sock' },
    { ...base, serialLog: '' },
    { ...base, nics: [{ kind: 'tap', ifname: 'tap,0', mac: '52:54:00:00:00:02' }] },
    { ...base, nics: [{ kind: 'stream', socketPath: '/s', mac: '52:54:00:00:00' }] },
  ];
  for (const o of bad) assert.throws(() => guestQemuArgs(o), BinderyError, JSON.stringify(o));
});
