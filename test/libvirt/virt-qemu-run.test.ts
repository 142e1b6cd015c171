// libvirt 11.3 boots the domain bindery's hook sidecar produces for a KubeVirt VM with the passt binding plugin, launching bindery's passt drop-in; the guest gets the pod address by DHCP and talks TCP both ways.
//
// The lab: a pod namespace (eth0 10.88.0.2/24, default route via the node at 10.88.0.1, the
// sysctls KubeVirt's passt-binding CNI plugin sets) joined by a veth to a node namespace, which
// holds an HTTP server on 10.99.0.1 (an address on its lo: the gateway address itself is
// passt's alias for the pod's loopback). The domain is the hook sidecar's OnDefineDomain answer
// (`onDefineDomain`, what `bindery sidecar` serves) for seed-passt-binding.yaml's VM, given the
// domain without the vNIC as virt-launcher would define it: `type='user'`,
// `<backend type='passt'/>`, `<portForward proto='tcp'><range start='80'/>`; completed by
// `bootableDomain` (TCG, the test guest's kernel and initramfs, console to a file).
//
// The `type='vhostuser'` form (KubeVirt >= 1.8, `--vhost-user`, QEMU 10) is
// test/vhost/libvirt.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadPlans } from '../../src/cli/plan-input.js';
import { loadManifests } from '../../src/api/load.js';
import { renderMinimalDomain } from '../../src/render/domain-xml.js';
import { onDefineDomain } from '../../src/render/domain-hook.js';
import { HOST, Lab, labSkipReason } from '../lab/lab.js';
import { qemuSkipReason } from '../lab/qemu.js';
import { waitFor } from '../lab/wait.js';
import {
  QEMU_USER,
  bootableDomain,
  guestBootFiles,
  prepareGuestDir,
  runDomain,
  validateDomain,
  virtQemuRunSkipReason,
} from '../lab/libvirt.js';
import { fetchServeScript } from '../lab/guest-shell.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/manifests/', import.meta.url));
const VM_FILE = join(FIXTURES, 'seed-passt-binding.yaml');
const CR_FILE = join(FIXTURES, 'seed-passt-kubevirt-cr.yaml');

const POD_ADDR = '10.88.0.2';
const NODE_ADDR = '10.88.0.1';
const SERVER_ADDR = '10.99.0.1';
const SERVER_PORT = 8080;
/** The VM's declared port (seed-passt-binding.yaml: http, 80/TCP). */
const VM_PORT = 80;

/**
 * The domain under test: what `bindery sidecar` answers to OnDefineDomain. The input is the
 * domain virt-launcher would define for the seed's VM — bindery's rendering with the passt
 * interface taken out, since virt-launcher leaves plugin interfaces without a tap attachment
 * to their sidecar — and the VM's template as the VMI JSON.
 */
async function domainUnderTest(): Promise<{ domainXml: string; changes: readonly string[] }> {
  const diagnostics: string[] = [];
  const plans = await loadPlans(
    [VM_FILE],
    {
      for: 'kubevirt',
      kubevirtCr: CR_FILE,
      naming: 'hashed',
      command: 'render',
      nothingDone: 'nothing written',
    },
    { out: () => {}, err: (t) => diagnostics.push(t) },
  );
  assert.equal(plans.length, 1, diagnostics.join(''));
  const launcherDomain = renderMinimalDomain(plans[0]!.plan).replace(
    /\s*<interface[\s\S]*?<\/interface>/g,
    '',
  );
  assert.doesNotMatch(launcherDomain, /<interface/);
  // bindery's own loader: the seed's NAD document is not plain YAML (loader fixes it up).
  const loaded = loadManifests(readFileSync(VM_FILE, 'utf8'), VM_FILE);
  const vm = loaded.manifests.find((m) => m.type === 'kubevirt-vm')!.object as {
    metadata?: { name?: string };
    spec: { template: { spec: unknown } };
  };
  const vmi = {
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachineInstance',
    metadata: { name: vm.metadata?.name, namespace: 'default' },
    spec: vm.spec.template.spec,
  };
  const r = onDefineDomain(launcherDomain, JSON.stringify(vmi), {
    binding: 'passt',
    attachment: 'passt',
  });
  return { domainXml: r.domainXml, changes: r.changes };
}

/** The guest: DHCP, fetch from the node's server, serve the VM's port until the test says done. */
function guestScript(token: string): string {
  return fetchServeScript(token, { addr: SERVER_ADDR, port: SERVER_PORT }, VM_PORT);
}

const skip = virtQemuRunSkipReason() ?? qemuSkipReason() ?? labSkipReason();

test(
  "libvirt 11.3 boots bindery's passt domain: DHCP gives the pod address, TCP out and in",
  { skip, timeout: 180_000 },
  async (t) => {
    const lab = await Lab.create(t);
    const token = randomBytes(8).toString('hex');

    // The node and the pod.
    const node = await lab.namespace('node');
    const pod = await lab.namespace('pod');
    await lab.veth(node, pod, {
      addrsA: [`${NODE_ADDR}/24`],
      addrsB: [`${POD_ADDR}/24`],
      nameB: 'eth0',
    });
    await lab.ip(pod, ['route', 'add', 'default', 'via', NODE_ADDR]);
    await lab.ip(node, ['addr', 'add', `${SERVER_ADDR}/32`, 'dev', 'lo']);
    // What KubeVirt's passt-binding CNI plugin sets in the pod (facts-kubevirt.md §5).
    await lab.sysctl(pod, 'net.ipv4.ip_unprivileged_port_start', 0);
    await lab.sysctl(pod, 'net.ipv4.ping_group_range', '107 107');

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

    // The domain.
    const { domainXml: rendered, changes } = await domainUnderTest();
    assert.deepEqual(changes, ['appended interface ua-passtnet'], 'the sidecar added the vNIC');
    assert.match(rendered, /<interface type="user"|<interface type='user'/);
    await validateDomain(lab, rendered);
    const guestDir = await prepareGuestDir(lab);
    const xml = bootableDomain(rendered, await guestBootFiles(guestDir, guestScript(token)));
    await validateDomain(lab, xml);

    const dom = await runDomain(lab, pod, xml, guestDir);
    const context = (): string =>
      `console:\n${dom.console().slice(-3000)}\nvirt-qemu-run:\n${dom.process.output.slice(-2000)}\nserver:\n${server.output.slice(-1000)}`;

    await dom.waitForConsole(/HTTPD-UP/, 150_000);
    // Inbound: the node reaches the VM's port through the pod address, as a Service would.
    const curl = await lab.exec(
      node,
      ['curl', '-sS', '--max-time', '20', `http://${POD_ADDR}:${VM_PORT}/index.html`],
      { timeoutMs: 30_000 },
    );
    await writeFile(join(www, 'done'), 'done\n');
    await dom.waitForConsole(/BINDERY-GUEST-EXIT=\d+/, 90_000);
    await dom.waitForQemuExit(30_000);
    const out = dom.console();
    const passtLog = (): string => {
      try {
        return readFileSync(join(guestDir, 'passt-ua-passtnet.log'), 'utf8');
      } catch {
        return '';
      }
    };

    // One-off: bindery passt logs its counters and exits once QEMU has gone.
    await waitFor(
      () => /tcp counters/.test(passtLog()),
      20_000,
      () => `passt's exit\n${passtLog()}`,
      100,
    );

    await t.test('the domain bindery rendered and the booted one pass virt-xml-validate', () => {
      assert.match(rendered, /<interface type="user">/);
      assert.match(rendered, /<backend type="passt"/);
      assert.match(rendered, /<portForward proto="tcp">\s*<range start="80"\/>/);
      assert.match(xml, /<domain type="qemu"/);
    });

    await t.test('DHCP gives the guest the pod address and the node as router', () => {
      assert.match(out, /UDHCPC-RC=0/, context());
      assert.match(out, new RegExp(`LEASE ip=${POD_ADDR} mask=24 router=${NODE_ADDR}`), context());
    });

    await t.test('the guest fetches a file from the server in the node namespace', () => {
      assert.match(out, /WGET-RC=0/, context());
      assert.ok(out.includes(`GOT=[${token}-from-node]`), context());
      assert.match(server.output, new RegExp(`${POD_ADDR} .*"GET /hello.txt HTTP/1.1" 200`));
    });

    await t.test(
      "the node reaches the guest's port 80 through the pod address (portForward)",
      () => {
        assert.equal(curl.code, 0, `curl: ${curl.stderr}\n${context()}`);
        assert.equal(curl.stdout, `${token}-from-guest\n`);
        assert.match(out, /DONE-SEEN=\d+/, context());
        assert.match(out, /BINDERY-GUEST-EXIT=0/, context());
      },
    );

    await t.test('libvirt started the drop-in with its type=user argv, as QEMU user', async () => {
      const starts = dom.passtStarts();
      assert.equal(starts.length, 1, JSON.stringify(starts));
      const { uid, argv } = starts[0]!;
      const qemuUid = Number((await lab.run(HOST, ['id', '-u', QEMU_USER])).trim());
      assert.equal(uid, qemuUid);
      const run = join(dom.root, 'run', 'qemu', 'passt');
      const sock = new RegExp(`^${run}/\\d+-vm-net-binding-passt-ua-passtnet\\.socket$`);
      assert.deepEqual(
        argv.map((a, i) => (argv[i - 1] === '--socket' || argv[i - 1] === '--pid' ? '*' : a)),
        [
          '--one-off',
          '--socket',
          '*',
          '--pid',
          '*',
          '--interface',
          'eth0',
          '--log-file',
          join(guestDir, 'passt-ua-passtnet.log'),
          '--tcp-ports',
          String(VM_PORT),
        ],
      );
      assert.match(argv[2]!, sock);
      assert.equal(argv[4], argv[2]!.replace(/\.socket$/, '-passt.pid'));
    });

    await t.test("bindery's translator served the guest and counted both TCP flows", async () => {
      const log = passtLog();
      assert.match(log, /^bindery passt /, log);
      assert.match(log, /guest connected/, log);
      const m = /tcp counters (\{.*\})/.exec(log);
      assert.ok(m, `no tcp counters in passt's log (did it stop?)\n${log}`);
      const c = JSON.parse(m[1]!) as { outbound: number; inbound: number };
      assert.ok(c.outbound >= 1, log);
      assert.ok(c.inbound >= 1, log);
    });

    await dom.stop();
    assert.notEqual(dom.process.exitStatus, undefined);
  },
);
