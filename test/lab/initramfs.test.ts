// Tests of the guest initramfs builder: the newc writer (checked with cpio itself) and module load order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import {
  findGuestKernel,
  moduleLoadOrder,
  moduleName,
  newcArchive,
  parseModulesDep,
  scriptArchive,
} from './initramfs.js';

const hasCpio = ((): boolean => {
  try {
    execFileSync('cpio', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

test(
  'newc archives list correctly with cpio, including concatenated ones',
  { skip: !hasCpio && 'cpio not installed' },
  () => {
    const a = newcArchive([
      { type: 'dir', path: 'bin' },
      { type: 'file', path: '/bin/hello', data: Buffer.from('hi\n'), mode: 0o755 },
      { type: 'symlink', path: 'bin/sh', target: 'hello' },
      { type: 'dir', path: 'dev' },
      { type: 'chardev', path: 'dev/console', major: 5, minor: 1 },
    ]);
    assert.equal(a.length % 4, 0);
    const listing = execFileSync('cpio', ['-t', '-v', '--quiet'], { input: a, encoding: 'utf8' });
    assert.match(listing, /^drwxr-xr-x .* bin$/m);
    assert.match(listing, /^-rwxr-xr-x .* 3 .* bin\/hello$/m);
    assert.match(listing, /^lrwxrwxrwx .* bin\/sh -> hello$/m);
    assert.match(listing, /^crw------- .* 5, +1 .* dev\/console$/m);
    // The file's content survives.
    const out = execFileSync('cpio', ['-i', '--to-stdout', '--quiet', 'bin/hello'], { input: a });
    assert.equal(out.toString(), 'hi\n');
    // A second archive appended (as bootGuest does) is a valid archive on its own.
    const s = scriptArchive('echo ok\n');
    assert.equal(s.length % 4, 0);
    assert.match(
      execFileSync('cpio', ['-t', '--quiet'], { input: s, encoding: 'utf8' }),
      /^test\.sh$/m,
    );
  },
);

test('module names: extensions and dashes', () => {
  assert.equal(moduleName('kernel/drivers/net/virtio_net.ko'), 'virtio_net');
  assert.equal(moduleName('kernel/drivers/char/hw_random/virtio-rng.ko.xz'), 'virtio_rng');
  assert.equal(moduleName('kernel/net/core/failover.ko.zst'), 'failover');
});

test('modules load dependencies first, each once', () => {
  const dep = parseModulesDep(
    [
      'kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko',
      'kernel/drivers/virtio/virtio_ring.ko:',
      'kernel/drivers/virtio/virtio_pci_modern_dev.ko:',
      'kernel/drivers/virtio/virtio_pci_legacy_dev.ko:',
      'kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_legacy_dev.ko kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko',
      'kernel/drivers/net/virtio_net.ko.xz: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko',
      'kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko',
      'kernel/net/core/failover.ko:',
      '',
    ].join('\n'),
  );
  const order = moduleLoadOrder(dep, ['virtio_pci', 'virtio_net']).map(moduleName);
  assert.equal(new Set(order).size, order.length, 'each once');
  assert.equal(order.length, 8);
  const before = (a: string, b: string): void =>
    assert.ok(order.indexOf(a) < order.indexOf(b), `${a} before ${b} in ${order.join(' ')}`);
  before('virtio_ring', 'virtio');
  before('virtio', 'virtio_pci');
  before('virtio_pci_legacy_dev', 'virtio_pci');
  before('virtio_pci_modern_dev', 'virtio_pci');
  before('failover', 'net_failover');
  before('net_failover', 'virtio_net');
  assert.throws(() => moduleLoadOrder(dep, ['nope']), /nope/);
});

test(
  'the host kernel resolves the guest modules',
  { skip: findGuestKernel() === undefined && 'no Debian kernel' },
  () => {
    const k = findGuestKernel()!;
    assert.ok(existsSync(k.vmlinuz));
    const dep = parseModulesDep(readFileSync(`${k.modulesDir}/modules.dep`, 'utf8'));
    const order = moduleLoadOrder(dep, ['virtio_pci', 'virtio_net']).map(moduleName);
    for (const m of [
      'virtio_ring',
      'virtio',
      'virtio_pci',
      'failover',
      'net_failover',
      'virtio_net',
    ]) {
      assert.ok(order.includes(m), `${m} in ${order.join(' ')}`);
    }
  },
);
