// libvirt 11.3 boots a domain with `<interface type='vhostuser'><backend type='passt'/>` (what KubeVirt >= 1.8 generates) on QEMU 10, launching bindery's passt drop-in with --vhost-user; the guest gets the pod address and reaches a server in the node namespace.
//
// The lab is test/libvirt/virt-qemu-run.test.ts's (a pod namespace with eth0 10.88.0.2/24 and a
// default route to a node namespace holding an HTTP server on 10.99.0.1), the domain a minimal
// one written here: shared memfd memory (vhost-user needs the back-end to map guest RAM), QEMU
// 10 as the emulator, one vhostuser interface with the passt back-end and a port forward. libvirt
// starts `passt --vhost-user --one-off --socket … --pid … --interface eth0 --log-file …
// --tcp-ports 80` from PATH, where scripts/passt-dropin comes first.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Lab, labSkipReason } from '../lab/lab.js';
import { QEMU10_BINARY, qemu10SkipReason } from '../lab/qemu.js';
import { waitFor } from '../lab/wait.js';
import {
  bootableDomain,
  guestBootFiles,
  prepareGuestDir,
  runDomain,
  validateDomain,
  virtQemuRunSkipReason,
} from '../lab/libvirt.js';
import { fetchServeScript } from '../lab/guest-shell.js';

const POD_ADDR = '10.88.0.2';
const NODE_ADDR = '10.88.0.1';
const SERVER_ADDR = '10.99.0.1';
const SERVER_PORT = 8080;
const VM_PORT = 80;

/** The domain: what KubeVirt >= 1.8's passt binding asks libvirt for, reduced to the network. */
function domainXml(name: string): string {
  return `<domain type='qemu'>
  <name>${name}</name>
  <memory unit='MiB'>256</memory>
  <memoryBacking>
    <source type='memfd'/>
    <access mode='shared'/>
  </memoryBacking>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
  </os>
  <devices>
    <emulator>${QEMU10_BINARY}</emulator>
    <interface type='vhostuser'>
      <mac address='52:54:00:12:34:56'/>
      <source dev='eth0'/>
      <model type='virtio'/>
      <backend type='passt' logFile='/placeholder'/>
      <portForward proto='tcp'>
        <range start='${VM_PORT}'/>
      </portForward>
      <alias name='ua-vhostnet'/>
    </interface>
  </devices>
</domain>
`;
}

function guestScript(token: string): string {
  return fetchServeScript(token, { addr: SERVER_ADDR, port: SERVER_PORT }, VM_PORT);
}

const skip = virtQemuRunSkipReason() ?? qemu10SkipReason() ?? labSkipReason();

test(
  "libvirt 11.3 boots a vhostuser/passt domain on QEMU 10 with bindery's drop-in: DHCP, TCP out and in",
  { skip, timeout: 180_000 },
  async (t) => {
    const lab = await Lab.create(t);
    const token = randomBytes(8).toString('hex');
    const node = await lab.namespace('node');
    const pod = await lab.namespace('pod');
    await lab.veth(node, pod, {
      addrsA: [`${NODE_ADDR}/24`],
      addrsB: [`${POD_ADDR}/24`],
      nameB: 'eth0',
    });
    await lab.ip(pod, ['route', 'add', 'default', 'via', NODE_ADDR]);
    await lab.ip(node, ['addr', 'add', `${SERVER_ADDR}/32`, 'dev', 'lo']);
    await lab.sysctl(pod, 'net.ipv4.ip_unprivileged_port_start', 0);

    const www = await lab.tmpDir();
    await writeFile(join(www, 'hello.txt'), `${token}-from-node\n`);
    const server = lab.spawn(
      node,
      [
        'python3',
        '-u',
        '-m',
        'http.server',
        '--bind',
        SERVER_ADDR,
        '--directory',
        www,
        String(SERVER_PORT),
      ],
      { label: 'node http server' },
    );
    await server.waitForOutput(/Serving HTTP/, 20_000);

    const guestDir = await prepareGuestDir(lab);
    const xml = bootableDomain(
      domainXml(`bdy-vhost-${token}`),
      await guestBootFiles(guestDir, guestScript(token)),
    );
    await validateDomain(lab, xml);
    const dom = await runDomain(lab, pod, xml, guestDir);
    const passtLog = (): string => {
      try {
        return readFileSync(join(guestDir, 'passt-ua-vhostnet.log'), 'utf8');
      } catch {
        return '';
      }
    };
    const context = (): string =>
      `console:\n${dom.console().slice(-3000)}\nvirt-qemu-run:\n${dom.process.output.slice(-2000)}\npasst log:\n${passtLog().slice(-2000)}`;

    await dom.waitForConsole(/HTTPD-UP/, 150_000);
    const curl = await lab.exec(
      node,
      ['curl', '-sS', '--max-time', '20', `http://${POD_ADDR}:${VM_PORT}/index.html`],
      { timeoutMs: 30_000 },
    );
    await writeFile(join(www, 'done'), 'done\n');
    await dom.waitForConsole(/BINDERY-GUEST-EXIT=\d+/, 90_000);
    await dom.waitForQemuExit(30_000);
    const out = dom.console();
    await waitFor(
      () => /tcp counters/.test(passtLog()),
      20_000,
      () => `passt's exit\n${context()}`,
      100,
    );

    await t.test('libvirt started the drop-in with --vhost-user and its argv', () => {
      const starts = dom.passtStarts();
      assert.equal(starts.length, 1, JSON.stringify(starts));
      const argv = starts[0]!.argv;
      assert.ok(argv.includes('--vhost-user'), argv.join(' '));
      assert.ok(argv.includes('--one-off'), argv.join(' '));
      assert.equal(argv[argv.indexOf('--interface') + 1], 'eth0');
      assert.equal(argv[argv.indexOf('--tcp-ports') + 1], String(VM_PORT));
    });

    await t.test('DHCP gives the guest the pod address; it fetches from the node', () => {
      assert.match(out, new RegExp(`LEASE ip=${POD_ADDR} mask=24 router=${NODE_ADDR}`), context());
      assert.match(out, /WGET-RC=0/, context());
      assert.ok(out.includes(`GOT=[${token}-from-node]`), context());
    });

    await t.test("the node reaches the guest's port 80 through the pod address", () => {
      assert.equal(curl.code, 0, `curl: ${curl.stderr}\n${context()}`);
      assert.equal(curl.stdout, `${token}-from-guest\n`);
      assert.match(out, /BINDERY-GUEST-EXIT=0/, context());
    });

    await t.test('bindery served the guest over vhost-user and exited (one-off)', () => {
      const log = passtLog();
      assert.match(log, /guest connected \(vhost-user rings running\)/, log);
      assert.match(log, /"badMessages":0/, log);
    });

    await dom.stop();
  },
);
