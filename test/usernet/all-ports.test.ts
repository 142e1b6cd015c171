// Forwarding beyond passt in real namespaces: -t/-u all through the all-ports rule in O(1) sockets, the per-port fallback, runtime forwards, and inbound to the address a SLAAC or DHCPv6 guest really uses.
//
// Topology: a client namespace C — veth — the pod namespace P, where `bindery passt` runs (as
// in a virt-launcher pod) with its tap in a guest namespace G; G runs an echo server on the
// probed ports. The pod's addresses are 10.77.0.1/24 and fd77::1/64; the guest takes them (no
// NAT by default), or a SLAAC address of its own from the translator's RA.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { Lab, labSkipReason, uniqueIfName, type LabProcess, type Netns } from '../lab/lab.js';
import { run } from '../../src/cli/main.js';

const skip = labSkipReason();
const BIN = fileURLToPath(new URL('../../bin/bindery.js', import.meta.url));
const FIX = fileURLToPath(new URL('../fixtures/fwd/', import.meta.url));
const NODE = process.execPath;

interface Pod {
  lab: Lab;
  pod: Netns;
  client: Netns;
  guest: Netns;
  tap: string;
  dir: string;
  ctl: string;
}

/** The three namespaces and the pod's addresses and routes (no translator yet). */
async function topology(t: TestContext): Promise<Pod> {
  const lab = await Lab.create(t);
  const pod = await lab.namespace('pod');
  const client = await lab.namespace('cli');
  const guest = await lab.namespace('gst');
  await lab.veth(pod, client, {
    addrsA: ['10.77.0.1/24', 'fd77::1/64'],
    addrsB: ['10.77.0.2/24', 'fd77::2/64'],
  });
  await lab.ip(pod, ['route', 'add', 'default', 'via', '10.77.0.2']);
  await lab.ip(pod, ['-6', 'route', 'add', 'default', 'via', 'fd77::2']);
  const dir = await lab.tmpDir();
  return { lab, pod, client, guest, tap: uniqueIfName('ap'), dir, ctl: join(dir, 'ctl.sock') };
}

/** Starts the translator in the pod with `args`; resolves once it serves. */
async function translator(
  p: Pod,
  args: readonly string[],
  prefix: string[] = [],
): Promise<LabProcess> {
  const proc = p.lab.spawn(
    p.pod,
    [...prefix, NODE, BIN, 'passt', '-f', '--tap', p.tap, '--netns', p.guest, '-c', p.ctl, ...args],
    { env: { BINDERY_FWD_DIR: p.dir } },
  );
  // A translator that exits (the fd-limit case) is the caller's to look at.
  await proc.waitForOutput(/serving tap/, 120_000).catch(() => {});
  return proc;
}

/** Configures the guest's link: IPv4 as DHCP would, IPv6 by SLAAC or as DHCPv6 would. */
async function guestUp(p: Pod, v6: 'slaac' | 'dhcpv6'): Promise<string> {
  const { lab, guest, tap } = p;
  await lab.sysctl(guest, `net.ipv6.conf.${tap}.accept_ra`, v6 === 'slaac' ? 2 : 0);
  await lab.sysctl(guest, `net.ipv6.conf.${tap}.autoconf`, v6 === 'slaac' ? 1 : 0);
  // Down and up, so that the kernel solicits an RA with the new settings.
  await lab.ip(guest, ['link', 'set', tap, 'down']);
  await lab.ip(guest, ['link', 'set', tap, 'up']);
  await lab.ip(guest, ['addr', 'add', '10.77.0.1/24', 'dev', tap]);
  if (v6 === 'dhcpv6') await lab.ip(guest, ['addr', 'add', 'fd77::1/64', 'dev', tap, 'nodad']);
  // The guest speaks first (as a booting guest does), so the translator learns its MAC and
  // addresses; with SLAAC, until the kernel configured an address from the RA.
  let last = '';
  await until(
    async () => {
      const r = await lab.exec(guest, ['ping', '-c', '1', '-W', '1', '10.77.0.2']);
      const a = await lab.exec(guest, ['ip', '-6', 'addr', 'show', 'dev', tap, 'scope', 'global']);
      last = `${r.stdout}${r.stderr}\n${a.stdout}`;
      return r.code === 0 && /inet6 fd77:/.test(a.stdout) && !/tentative/.test(a.stdout);
    },
    30_000,
    () => `the guest to reach the client and have a global IPv6 address (last: ${last})`,
  );
  const a = await lab.exec(guest, ['ip', '-6', 'addr', 'show', 'dev', tap, 'scope', 'global']);
  const addr = /inet6 (fd77:[0-9a-f:]+)\//.exec(a.stdout)?.[1];
  // Make the guest send from its IPv6 address once, as any guest does soon after boot.
  await lab.exec(guest, ['ping', '-6', '-c', '1', '-W', '1', '-I', addr ?? 'fd77::1', 'fd77::2']);
  return addr ?? '';
}

async function until(
  cond: () => Promise<boolean>,
  ms: number,
  what: string | (() => string),
): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end)
      throw new Error(
        `timed out after ${ms} ms waiting for ${typeof what === 'string' ? what : what()}`,
      );
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function echoServer(p: Pod, ports: readonly number[]): Promise<void> {
  const s = p.lab.spawn(p.guest, [NODE, join(FIX, 'echo-server.mjs'), ...ports.map(String)]);
  await s.waitForOutput(/listening/, 20_000);
}

type Probe = { item: string; got?: string; error?: string };

async function probe(p: Pod, host: string, items: readonly string[]): Promise<Probe[]> {
  const out = await p.lab.run(p.client, [NODE, join(FIX, 'probe.mjs'), host, ...items], {
    timeoutMs: 60_000,
  });
  return out
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Probe);
}

function fds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** Ten distinct random ports below the ephemeral range, none equal to `not`. */
function randomPorts(not: number): number[] {
  const s = new Set<number>();
  while (s.size < 10) {
    const p = 1024 + Math.floor(Math.random() * 30000);
    if (p !== not && p !== 47998) s.add(p);
  }
  return [...s];
}

async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await run(argv, { out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err };
}

/** The client's own addresses, as the guest should see them (passt: no NAT of the source). */
const CLIENT = /^(::ffff:)?10\.77\.0\.2$|^fd77::2$/;

function assertReached(rs: Probe[], ports: readonly number[], guestAddr: RegExp): void {
  for (const port of ports) {
    const t = rs.find((r) => r.item === `tcp:${port}`);
    const u = rs.find((r) => r.item === `udp:${port}`);
    const [tcpTo, tcpFrom] = (t?.got ?? '').split(' from ');
    const [udpTo, udpFrom] = (u?.got ?? '').split(' from ');
    assert.match(tcpTo ?? '', new RegExp(`^tcp:${port}:`), `tcp ${port}: ${JSON.stringify(t)}`);
    assert.match(tcpTo ?? '', guestAddr, `tcp ${port} reached the guest address`);
    assert.match(tcpFrom ?? '', CLIENT, `tcp ${port}: the guest saw the client's own address`);
    assert.equal(udpTo, `udp:${port}:ping`, `udp ${port}: ${JSON.stringify(u)}`);
    assert.match(udpFrom ?? '', CLIENT, `udp ${port}: the guest saw the client's own address`);
  }
}

function assertBlocked(rs: Probe[], port: number): void {
  for (const proto of ['tcp', 'udp']) {
    const r = rs.find((x) => x.item === `${proto}:${port}`);
    assert.ok(r?.error !== undefined, `${proto} ${port} is excluded but got ${JSON.stringify(r)}`);
  }
}

test(
  '-t/-u all through the all-ports rule: < 100 fds, ten random ports and an excluded one, IPv4 and IPv6',
  { skip },
  async (t) => {
    const p = await topology(t);
    const excluded = 20000 + Math.floor(Math.random() * 1000);
    const ports = randomPorts(excluded);
    const up = await cli([
      'fwd-rules',
      'up',
      '--netns',
      p.pod,
      '--marker-dir',
      p.dir,
      '-t',
      `~${excluded}`,
      '-u',
      `~${excluded}`,
    ]);
    assert.equal(up.code, 0, up.err);
    // The marker travels as lo's alias: the translator finds it with no marker file in reach
    // (as in a container's own mount namespace).
    assert.match(await p.lab.ip(p.pod, ['link', 'show', 'lo']), /alias \{"version":1,/);
    const tr = await translator({ ...p, dir: await p.lab.tmpDir() }, [
      '-t',
      `~${excluded}`,
      '-u',
      `~${excluded}`,
    ]);
    assert.match(tr.output, /serving tap/, tr.output);
    const n = fds(tr.pid);
    assert.ok(n < 100, `the translator has ${n} open fds`);
    await guestUp(p, 'dhcpv6');
    await echoServer(p, [...ports, excluded]);
    const items = [...ports, excluded].flatMap((x) => [`tcp:${x}`, `udp:${x}`]);
    const v4 = await probe(p, '10.77.0.1', items);
    assertReached(v4, ports, /10\.77\.0\.1$/);
    assertBlocked(v4, excluded);
    const v6 = await probe(p, 'fd77::1', items);
    assertReached(v6, ports, /fd77::1$/);
    assertBlocked(v6, excluded);
    assert.ok(fds(tr.pid) < 100, `the translator has ${fds(tr.pid)} open fds after the probes`);
    // Runtime forwards on the all-ports path: the rule stays, the translator stops answering.
    const spec = ['-t', `~${excluded}`, '-u', `~${excluded}`];
    const two = ports.slice(0, 2).flatMap((x) => [`tcp:${x}`, `udp:${x}`]);
    assert.equal((await cli(['forwards', p.ctl, '--delete', ...spec])).code, 0);
    for (const x of ports.slice(0, 2)) assertBlocked(await probe(p, '10.77.0.1', two), x);
    assert.equal((await cli(['forwards', p.ctl, '--add', ...spec])).code, 0);
    assertReached(await probe(p, '10.77.0.1', two), ports.slice(0, 2), /10\.77\.0\.1$/);
    const down = await cli(['fwd-rules', 'down', '--netns', p.pod, '--marker-dir', p.dir]);
    assert.equal(down.code, 0, down.err);
  },
);

test(
  'without the rule, -t/-u all falls back to per-port sockets: a clear error under a low fd limit, working once the hard limit allows',
  { skip },
  async (t) => {
    const p = await topology(t);
    // 37 000 TCP and as many UDP ports cannot fit 20 000 descriptors: one line says so.
    const low = await translator(
      p,
      ['-t', 'all', '-u', 'all'],
      ['prlimit', '--nofile=1024:20000', '--'],
    );
    await until(async () => low.exitStatus !== undefined, 30_000, 'the translator to give up');
    assert.match(
      low.output,
      /^bindery: forwarding \d+ TCP and \d+ UDP ports needs about \d+ file descriptors, but RLIMIT_NOFILE allows 20000 \(hard limit 20000\)/m,
    );
    // Where the hard limit fits (7000 + 7000 ports here), the translator raises its soft limit
    // (1024, which per-port sockets would exhaust) and serves.
    const p2 = { ...p, tap: uniqueIfName('aq'), ctl: join(p.dir, 'ctl2.sock') };
    const range = '2000-8999';
    const ok = await translator(
      p2,
      ['-t', range, '-u', range],
      ['prlimit', '--nofile=1024:20000', '--'],
    );
    assert.match(ok.output, /serving tap/, ok.output);
    assert.ok(fds(ok.pid) > 14000, `per-port sockets: ${fds(ok.pid)} fds`);
    await guestUp(p2, 'dhcpv6');
    const ports = [2000, 5000 + Math.floor(Math.random() * 1000), 8999];
    await echoServer(p2, ports);
    const rs = await probe(
      p2,
      '10.77.0.1',
      ports.flatMap((x) => [`tcp:${x}`, `udp:${x}`]),
    );
    assertReached(rs, ports, /10\.77\.0\.1$/);
  },
);

for (const v6 of ['slaac', 'dhcpv6'] as const) {
  test(
    `inbound to the pod's IPv6 address reaches a guest that uses ${v6 === 'slaac' ? 'SLAAC only' : 'its DHCPv6 address'} (TCP and UDP)`,
    { skip },
    async (t) => {
      const p = await topology(t);
      const ports = randomPorts(0).slice(0, 2);
      const spec = ports.join(',');
      const tr = await translator(p, ['-t', spec, '-u', spec]);
      assert.match(tr.output, /serving tap/, tr.output);
      const addr = await guestUp(p, v6);
      if (v6 === 'slaac') assert.notEqual(addr, 'fd77::1', 'SLAAC picked an address of its own');
      else assert.equal(addr, 'fd77::1');
      await echoServer(p, ports);
      const rs = await probe(
        p,
        'fd77::1',
        ports.flatMap((x) => [`tcp:${x}`, `udp:${x}`]),
      );
      assertReached(rs, ports, new RegExp(`:${addr.replace(/\./g, '\\.')}$`));
      const r4 = await probe(p, '10.77.0.1', [`tcp:${ports[0]}`, `udp:${ports[0]}`]);
      assertReached(r4, ports.slice(0, 1), /10\.77\.0\.1$/);
    },
  );
}

test(
  '`bindery forwards` adds and removes forwards on a running translator; a flow on another forward keeps transferring',
  { skip },
  async (t) => {
    const p = await topology(t);
    const [a, b] = randomPorts(0);
    const tr = await translator(p, ['-t', `${a}`, '-u', `${a}`]);
    assert.match(tr.output, /serving tap/, tr.output);
    await guestUp(p, 'dhcpv6');
    await echoServer(p, [a!, b!]);
    const stream = p.lab.spawn(p.client, [
      NODE,
      join(FIX, 'probe.mjs'),
      '10.77.0.1',
      `stream:${a}`,
    ]);
    const ticks = () => stream.stdout.split('\n').filter((l) => l.startsWith('tick:')).length;
    await until(async () => ticks() > 3, 20_000, 'the long transfer to start');
    const items = [`tcp:${b}`, `udp:${b}`];
    assertBlocked(await probe(p, '10.77.0.1', items), b!);

    const add = await cli(['forwards', p.ctl, '--add', '-t', `${b}`, '-u', `${b}`]);
    assert.equal(add.code, 0, add.err);
    assert.match(add.out, new RegExp(`^tcp: ${a} ${b}$`, 'm'));
    assertReached(await probe(p, '10.77.0.1', items), [b!], /10\.77\.0\.1$/);
    assertReached(await probe(p, 'fd77::1', items), [b!], /fd77::1$/);

    const del = await cli(['forwards', p.ctl, '--delete', '-t', `${b}`, '-u', `${b}`]);
    assert.equal(del.code, 0, del.err);
    assertBlocked(await probe(p, '10.77.0.1', items), b!);
    const show = await cli(['forwards', p.ctl, '--show', '--json']);
    assert.deepEqual(JSON.parse(show.out), {
      tcp: [`${a}`],
      udp: [`${a}`],
      sockets: { tcp: 1, udp: 1 },
    });

    // The long transfer on the other forward went on through all of it.
    const before = ticks();
    await until(async () => ticks() > before + 3, 20_000, 'the long transfer to go on');
    assert.equal(stream.exitStatus, undefined, stream.output);

    // Usage errors are one line and exit 2; a forward that is not there is an error (1).
    for (const argv of [
      ['forwards', p.ctl, '--add'],
      ['forwards', p.ctl, '--add', '--delete', '-t', '1'],
      ['forwards', p.ctl, '--add', '-t', '70000'],
    ]) {
      const r = await cli(argv);
      assert.equal(r.code, 2, `${argv.join(' ')}: ${r.err}`);
      assert.equal(r.err.trim().split('\n').length, 1);
    }
    const missing = await cli(['forwards', p.ctl, '--delete', '-t', '9']);
    assert.equal(missing.code, 1);
    assert.match(missing.err, /no tcp forward '9'/);
    const clear = await cli(['forwards', p.ctl, '--clear']);
    assert.equal(clear.code, 0, clear.err);
    assert.match(clear.out, /^tcp: none$/m);
  },
);
