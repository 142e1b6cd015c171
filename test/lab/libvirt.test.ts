// Tests of the libvirt lab helpers: the domain completion keeps the network devices and passes libvirt 11.3's schema, and the drop-in's argv log round-trips.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import { Lab } from './lab.js';
import {
  PASST_DROPIN_DIR,
  bootableDomain,
  parsePasstArgvLog,
  validateDomain,
  virtQemuRunSkipReason,
} from './libvirt.js';

const BOOT = {
  kernel: '/boot/vmlinuz',
  initrd: '/tmp/g/initrd.cpio',
  cmdline: 'console=ttyS0 quiet',
  consoleLog: '/tmp/g/console.log',
  passtLogDir: '/tmp/g',
};

// What KubeVirt hands a hook sidecar looks like this (trimmed): a kvm domain with disks, a
// serial console on a socket and the passt interface the render code or sidecar made.
const KUBEVIRT_LIKE = `<?xml version="1.0"?>
<domain type="kvm" xmlns:qemu="http://libvirt.org/schemas/domain/qemu/1.0">
  <name>default_vm</name>
  <memory unit="b">1073741824</memory>
  <os><type arch="x86_64" machine="q35">hvm</type><boot dev="hd"/></os>
  <devices>
    <disk type="file" device="disk"><driver name="qemu" type="raw"/><source file="/var/run/kubevirt/container-disks/disk_0.img"/><target bus="virtio" dev="vda"/></disk>
    <interface type="user">
      <source dev="eth0"/>
      <model type="virtio-non-transitional"/>
      <alias name="ua-passtnet"/>
      <backend type="passt" logFile="/var/run/kubevirt/passt.log"/>
      <portForward proto="tcp"><range start="80"/></portForward>
    </interface>
    <serial type="unix"><target port="0"/><source mode="bind" path="/var/run/kubevirt-private/x/virt-serial0"/></serial>
    <console type="pty"><target type="serial" port="0"/></console>
  </devices>
  <qemu:commandline><qemu:arg value="-x"/></qemu:commandline>
</domain>
`;

const parser = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@' });

test('bootableDomain: TCG, direct kernel boot, file console, no disks; the interface is kept', () => {
  const xml = bootableDomain(KUBEVIRT_LIKE, BOOT);
  const d = (parser.parse(xml) as { domain: Record<string, unknown> }).domain as Record<
    string,
    Record<string, unknown>
  >;
  assert.equal(d['@type'], 'qemu');
  assert.deepEqual(d['memory'], { '#text': 256, '@unit': 'MiB' });
  assert.equal(d['os']!['kernel'], '/boot/vmlinuz');
  assert.equal(d['os']!['initrd'], '/tmp/g/initrd.cpio');
  assert.equal(d['os']!['cmdline'], 'console=ttyS0 quiet');
  assert.equal(d['os']!['boot'], undefined);
  assert.deepEqual(d['features'], { acpi: '' });
  assert.equal(d['on_poweroff'], 'destroy');
  const dev = d['devices']!;
  assert.equal(dev['disk'], undefined);
  assert.equal((dev['serial'] as Record<string, unknown>)['@type'], 'file');
  assert.equal((dev['console'] as Record<string, unknown>)['@type'], 'file');
  const iface = dev['interface'] as Record<string, Record<string, unknown>>;
  assert.equal(iface['@type'], 'user');
  assert.equal(iface['backend']!['@logFile'], '/tmp/g/passt-ua-passtnet.log');
  assert.deepEqual(iface['portForward'], { range: { '@start': '80' }, '@proto': 'tcp' });
  assert.match(xml, /<qemu:commandline>/, 'unknown parts stay');
});

test('bootableDomain refuses what is not a domain', () => {
  assert.throws(() => bootableDomain('<network/>', BOOT), /not a libvirt domain/);
});

test(
  "bootableDomain's output passes virt-xml-validate of libvirt 11.3",
  { skip: virtQemuRunSkipReason() },
  async (t) => {
    const lab = await Lab.create(t);
    await validateDomain(lab, bootableDomain(KUBEVIRT_LIKE, BOOT));
  },
);

test('the drop-in records its argv (quotes kept) and runs bindery passt', async (t) => {
  const lab = await Lab.create(t);
  const dir = await lab.tmpDir();
  const log = join(dir, 'argv.log');
  const args = ['--version', "it's", 'a b', ''];
  const out = execFileSync(join(PASST_DROPIN_DIR, 'passt'), args, {
    env: { ...process.env, BINDERY_PASST_ARGV_LOG: log, BINDERY_NODE: process.execPath },
    encoding: 'utf8',
  });
  const starts = parsePasstArgvLog(readFileSync(log, 'utf8'));
  assert.equal(starts.length, 1);
  assert.deepEqual(starts[0]!.argv, args);
  assert.equal(starts[0]!.uid, process.getuid?.());
  assert.match(out, /^(bindery passt )?\d+\.\d+\.\d+/, 'bindery passt --version answered');
});
