// The bundled guest boots from guestQemuArgs on `bindery passt`, configures its network by DHCP/DHCPv6 and answers commands over the agent channel.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BinderyError, ErrorCode } from '../../src/errors.js';
import { GuestAgent } from '../../src/guest/agent.js';
import { guestImage } from '../../src/guest/image.js';
import { guestQemuArgs } from '../../src/guest/qemu-args.js';
import { HOST, Lab, labSkipReason } from '../lab/lab.js';
import { QEMU_BINARY, qemuSkipReason } from '../lab/qemu.js';
import { waitFor } from '../lab/wait.js';

const BIN = fileURLToPath(new URL('../../bin/bindery.js', import.meta.url));
const HTTP_PORT = 8080;
const INBOUND_PORT = 18080;
const HOSTNAME = 'agent-vm';

/** Sends QMP commands (after the capabilities handshake) and resolves once each got its answer. */
async function qmp(path: string, commands: object[]): Promise<void> {
  const sock = createConnection({ path });
  sock.setEncoding('utf8');
  let buf = '';
  const lines: unknown[] = [];
  let wake: (() => void) | undefined;
  sock.on('data', (d: string) => {
    buf += d;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      lines.push(JSON.parse(buf.slice(0, nl)));
      buf = buf.slice(nl + 1);
    }
    wake?.();
  });
  const next = async (): Promise<Record<string, unknown>> => {
    for (;;) {
      const l = lines.shift() as Record<string, unknown> | undefined;
      if (l !== undefined && !('event' in l)) return l;
      if (l === undefined) await new Promise<void>((r) => (wake = r));
    }
  };
  try {
    assert.ok('QMP' in (await next()));
    for (const c of [{ execute: 'qmp_capabilities' }, ...commands]) {
      sock.write(JSON.stringify(c) + '\n');
      const reply = await next();
      assert.ok('return' in reply, JSON.stringify(reply));
    }
  } finally {
    sock.destroy();
  }
}

/** Pids of processes whose command line mentions `needle` (the QEMU of this test). */
function qemuPids(needle: string): number[] {
  const pids: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(needle)) pids.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

const skip =
  qemuSkipReason() ??
  labSkipReason() ??
  (existsSync('/sbin/dhclient') ? undefined : 'isc-dhcp-client is not installed');

test(
  'the bundled guest: DHCP, SLAAC/DHCPv6, HTTP both ways and commands over the agent',
  { skip, timeout: 300_000 },
  async (t) => {
    const lab = await Lab.create(t);
    const pod = await lab.namespace('pod');
    await lab.sysctl(pod, 'net.ipv4.ping_group_range', '0 2147483647');
    const dir = await lab.tmpDir();

    // The image, built into the lab's temp dir; a second call reuses the cached file.
    const cacheDir = join(dir, 'cache');
    const image = await guestImage({ cacheDir });
    const built = statSync(image.initrd).mtimeMs;
    assert.deepEqual(await guestImage({ cacheDir }), image);
    assert.equal(statSync(image.initrd).mtimeMs, built, 'cached initramfs reused, not rebuilt');

    // A node-side HTTP server on the pod's loopback (passt maps the gateway to it).
    const www = join(dir, 'www');
    await mkdir(www);
    await writeFile(join(www, 'node.txt'), 'hello from the node\n');
    const http = lab.spawn(
      pod,
      [
        'python3',
        '-u',
        '-m',
        'http.server',
        '--bind',
        '127.0.0.1',
        '--directory',
        www,
        String(HTTP_PORT),
      ],
      { label: 'node http' },
    );
    await http.waitForOutput(/Serving HTTP/, 20_000);

    const sock = join(dir, 'passt.sock');
    const passt = lab.spawn(
      pod,
      [
        process.execPath,
        BIN,
        'passt',
        '-f',
        '-1',
        '-s',
        sock,
        '-a',
        '10.91.0.15/24',
        '-a',
        'fd00:91::15/64',
        '-g',
        '10.91.0.1',
        '-g',
        'fd00:91::1',
        '-D',
        '10.91.0.1',
        '-m',
        '1400',
        '-t',
        `${INBOUND_PORT}:80`,
      ],
      { label: 'bindery passt' },
    );
    await passt.waitForOutput(/addr\.path=/, 30_000);

    const agentSocket = join(dir, 'agent.sock');
    const serialLog = join(dir, 'serial.log');
    const argv = guestQemuArgs({
      kernel: image.kernel,
      initrd: image.initrd,
      hostname: HOSTNAME,
      agentSocket,
      qmpSocket: join(dir, 'qmp.sock'),
      serialLog,
      nics: [{ kind: 'stream', socketPath: sock, mac: '52:54:00:12:34:56' }],
    });
    // `timeout -s KILL`: QEMU dies even if this process is killed before the lab's teardown.
    const qemu = lab.spawn(HOST, ['timeout', '-s', 'KILL', '290', QEMU_BINARY, ...argv], {
      label: 'qemu',
    });
    const serial = (): string => (existsSync(serialLog) ? readFileSync(serialLog, 'utf8') : '');
    const context = (): string =>
      `serial:\n${serial().slice(-4000)}\nqemu:\n${qemu.output.slice(-2000)}\npasst:\n${passt.output.slice(-2000)}`;

    let agent: GuestAgent;
    try {
      agent = await GuestAgent.connect(agentSocket, { timeoutMs: 240_000 });
    } catch (e) {
      throw new Error(`${String(e)}\n${context()}`, { cause: e });
    }
    t.after(() => agent.close());
    t.diagnostic(`agent answered after boot; serial so far:\n${serial()}`);

    await t.test('the console shows the lease and the ready marker', () => {
      const log = serial();
      assert.match(
        log,
        /BINDERY-DHCP4 eth0 10\.91\.0\.15\/24 router=10\.91\.0\.1 dns=10\.91\.0\.1 mtu=1400/,
        context(),
      );
      assert.match(log, /BINDERY-GUEST-READY/, context());
    });

    await t.test('PING is answered', async () => {
      await agent.ping(10_000);
    });

    await t.test('eth0 has the DHCP address, the MTU, the default route and DNS', async () => {
      const addr = await agent.exec('ip -4 addr show eth0');
      assert.equal(addr.code, 0, addr.output);
      assert.match(addr.output, /inet 10\.91\.0\.15\/24/);
      assert.match(addr.output, /mtu 1400/);
      const route = await agent.exec('ip route; cat /etc/resolv.conf; hostname');
      assert.match(route.output, /default via 10\.91\.0\.1 dev eth0/);
      assert.match(route.output, /nameserver 10\.91\.0\.1/);
      assert.match(route.output, new RegExp(`^${HOSTNAME}$`, 'm'));
    });

    await t.test('IPv6: SLAAC from the RA and the DHCPv6 address', async () => {
      // The RA/DHCPv6 exchanges run in the background after READY: wait for their results.
      await waitFor(
        () => /BINDERY-DHCP6(-NONE)? eth0/.test(serial()),
        60_000,
        () => `a DHCPv6 outcome on the console\n${context()}`,
        200,
      );
      assert.match(serial(), /BINDERY-DHCP6 eth0 fd00:91::15\r?\n/, context());
      const out = (await agent.exec('ip -6 addr show dev eth0 scope global')).output;
      assert.match(out, /inet6 fd00:91::15\/128/, out);
      // SLAAC: the EUI-64 address from the MAC in the advertised prefix.
      assert.match(out, /inet6 fd00:91::5054:ff:fe12:3456\/64/, out);
    });

    await t.test('HTTP from the guest to the node server through the gateway', async () => {
      const r = await agent.exec(`wget -qO- http://10.91.0.1:${HTTP_PORT}/node.txt`);
      assert.deepEqual(r, { code: 0, output: 'hello from the node\n' }, context());
    });

    await t.test("HTTP from the pod to the guest's httpd via passt's inbound port", async () => {
      const r = await lab.exec(
        pod,
        ['busybox', 'wget', '-qO-', `http://127.0.0.1:${INBOUND_PORT}/`],
        {
          timeoutMs: 30_000,
        },
      );
      assert.equal(r.code, 0, `${r.stderr}\n${context()}`);
      assert.match(r.stdout, new RegExp(HOSTNAME));
    });

    await t.test('exit codes propagate', async () => {
      assert.deepEqual(await agent.exec('exit 3'), { code: 3, output: '' });
      assert.equal((await agent.exec('true')).code, 0);
      assert.equal((await agent.exec('no-such-command')).code, 127);
    });

    await t.test('multi-line, control-character and UTF-8 output round-trips', async () => {
      const expected =
        'line 1\n\tline 2 with tab\r\n\u00e9\u00e8 \u2603 end \u0001\u001b[0m\n\nlast';
      const r = await agent.exec(
        "printf 'line 1\\n\\tline 2 with tab\\r\\n\\303\\251\\303\\250 \\342\\230\\203 end \\001\\033[0m\\n\\nlast'; echo err >&2",
      );
      assert.equal(r.code, 0);
      assert.equal(r.output, `${expected}err\n`);
      const big = await agent.exec('seq 1 20000');
      assert.equal(big.output.split('\n').length, 20001);
    });

    await t.test(
      'a command past its deadline rejects with Timeout; the agent keeps working',
      async () => {
        await assert.rejects(
          agent.exec('sleep 30', { timeoutMs: 1_500 }),
          (e: unknown) => e instanceof BinderyError && e.code === ErrorCode.Timeout,
        );
        // The guest kills the command a second after the host gave up, then answers again.
        const r = await agent.exec('echo still here', { timeoutMs: 30_000 });
        assert.deepEqual(r, { code: 0, output: 'still here\n' });
      },
    );

    await t.test('a second connection after the first closed is answered too', async () => {
      agent.close();
      agent = await GuestAgent.connect(agentSocket, { timeoutMs: 30_000 });
      assert.equal((await agent.exec('echo again')).output, 'again\n');
    });

    await t.test('link down/up over QMP makes the guest take a fresh DHCP lease', async () => {
      const count = (): number => serial().match(/BINDERY-DHCP4 eth0 /g)?.length ?? 0;
      const before = count();
      await qmp(join(dir, 'qmp.sock'), [
        { execute: 'set_link', arguments: { name: 'n0', up: false } },
      ]);
      await waitFor(
        () => serial().includes('BINDERY-LINK-DOWN eth0'),
        30_000,
        'link down seen',
        200,
      );
      await qmp(join(dir, 'qmp.sock'), [
        { execute: 'set_link', arguments: { name: 'n0', up: true } },
      ]);
      await waitFor(
        () => count() > before,
        60_000,
        () => `a new lease\n${context()}`,
        200,
      );
      assert.match(serial(), /BINDERY-LINK-UP eth0/);
      const r = await agent.exec('ip -4 addr show eth0; ip route');
      assert.match(r.output, /inet 10\.91\.0\.15\/24/);
      assert.match(r.output, /default via 10\.91\.0\.1 dev eth0/);
    });

    await t.test('teardown kills QEMU', async () => {
      agent.close();
      await qemu.kill('SIGKILL', 0);
      await waitFor(() => qemuPids(agentSocket).length === 0, 10_000, 'QEMU gone');
    });
  },
);
