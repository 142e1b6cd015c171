// pod-net in real namespaces: up builds what KubeVirt/Virtink build in the pod, down leaves the namespace exactly as before (no QEMU).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Lab, labSkipReason, type Netns } from '../lab/lab.js';
import { dadDone } from './rig.js';
import { loadPlans } from '../../src/cli/plan-input.js';
import { podNetDown, podNetUp, type PodNetUpResult } from '../../src/podnet/index.js';
import type { AddressServerConfig } from '../../src/podnet/address-config.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FIX = join(ROOT, 'test/fixtures/manifests');
const CR = join(FIX, 'podnet-kubevirt-cr.yaml');
const skip = labSkipReason();
const SILENT = { out: () => {}, err: () => {} };

interface Pod {
  readonly lab: Lab;
  readonly ns: Netns;
  readonly node: Netns;
  readonly dir: string;
  readonly resolv: string;
  readonly configs: AddressServerConfig[];
  readonly stopped: number[];
}

/** A node namespace and a pod namespace joined by a veth whose pod end is eth0 (dual stack). */
async function pod(t: TestContext, opts: { l2only?: boolean } = {}): Promise<Pod> {
  const lab = await Lab.create(t);
  const node = await lab.namespace('node');
  const ns = await lab.namespace('pod');
  await lab.veth(node, ns, {
    nameB: 'eth0',
    mtu: 1400,
    ...(opts.l2only
      ? {}
      : { addrsA: ['10.200.0.1/24', 'fd20::1/64'], addrsB: ['10.200.0.5/24', 'fd20::5/64'] }),
  });
  if (!opts.l2only) {
    await lab.ip(ns, ['route', 'add', 'default', 'via', '10.200.0.1']);
    await lab.ip(ns, ['-6', 'route', 'add', 'default', 'via', 'fd20::1']);
  }
  // Settle before anyone takes a snapshot: carrier up, IPv6 link-local present.
  const end = Date.now() + 10_000;
  for (;;) {
    const [l] = JSON.parse(await lab.ip(ns, ['-j', 'addr', 'show', 'dev', 'eth0'])) as LinkJson[];
    const ready =
      l !== undefined &&
      !l.flags.includes('NO-CARRIER') &&
      (l.addr_info ?? []).some((a) => a.scope === 'link' && a.family === 'inet6');
    if (ready) break;
    if (Date.now() > end) throw new Error('the pod link did not come up');
    await new Promise((r) => setTimeout(r, 20));
  }
  const dir = await lab.tmpDir();
  const resolv = join(dir, 'resolv.conf');
  await writeFile(
    resolv,
    'nameserver 10.96.0.10\nnameserver fd20::53\nsearch default.svc.cluster.local svc.cluster.local\n',
  );
  return { lab, ns, node, dir, resolv, configs: [], stopped: [] };
}

async function load(file: string, platform: 'kubevirt' | 'virtink', cr = false) {
  const plans = await loadPlans(
    [join(FIX, file)],
    {
      for: platform,
      naming: 'hashed',
      command: 'test',
      nothingDone: '-',
      ...(cr ? { kubevirtCr: CR } : {}),
    },
    SILENT,
  );
  return plans[0]!;
}

function deps(p: Pod, failStart = false) {
  return {
    startAddressServer: async (file: string): Promise<number> => {
      if (failStart) throw new Error('injected: address server did not start');
      p.configs.push(JSON.parse(readFileSync(file, 'utf8')) as AddressServerConfig);
      return process.pid; // alive, so a second up sees a live setup
    },
    stopAddressServer: async (pid: number): Promise<void> => {
      p.stopped.push(pid);
    },
  };
}

async function up(
  p: Pod,
  file: string,
  platform: 'kubevirt' | 'virtink',
  cr = false,
  failStart = false,
): Promise<PodNetUpResult> {
  const l = await load(file, platform, cr);
  return podNetUp({
    plan: l.plan,
    paths: l.paths,
    interfaceIndex: l.interfaceIndex,
    netns: p.ns,
    stateDir: join(p.dir, 'state'),
    resolvConf: p.resolv,
    deps: deps(p, failStart),
  });
}

function down(p: Pod) {
  return podNetDown({ netns: p.ns, stateDir: join(p.dir, 'state'), deps: deps(p) });
}

async function json<T>(p: Pod, argv: string[]): Promise<T> {
  return JSON.parse((await p.lab.run(p.ns, argv)) || '[]') as T;
}

interface LinkJson {
  ifname: string;
  address?: string;
  mtu: number;
  flags: string[];
  master?: string;
  linkinfo?: { info_kind?: string; info_data?: Record<string, unknown> };
  addr_info?: Array<{ family: string; local: string; prefixlen: number; scope: string }>;
}

async function links(p: Pod): Promise<Map<string, LinkJson>> {
  const l = await json<LinkJson[]>(p, ['ip', '-j', '-d', 'addr', 'show']);
  return new Map(l.map((x) => [x.ifname, x]));
}

function addrs(l: LinkJson | undefined): string[] {
  return (l?.addr_info ?? [])
    .filter((a) => a.scope === 'global')
    .map((a) => `${a.local}/${a.prefixlen}`);
}

async function sysctl(p: Pod, key: string): Promise<string> {
  return (await p.lab.run(p.ns, ['sysctl', '-n', key])).trim();
}

/** The stable facts of the namespace: links, addresses, routes, nft ruleset, forwarding sysctls. */
async function snapshot(p: Pod): Promise<unknown> {
  // A link-local address gets its local route only once DAD is done.
  await dadDone(p.lab, p.ns);
  const l = await json<LinkJson[]>(p, ['ip', '-j', 'addr', 'show']);
  const routes = async (fam: string) =>
    (
      await json<Array<Record<string, unknown>>>(p, [
        'ip',
        '-j',
        fam,
        'route',
        'show',
        'table',
        'all',
      ])
    )
      .map((r) =>
        JSON.stringify([
          r['type'],
          r['dst'],
          r['gateway'],
          r['dev'],
          r['protocol'],
          r['scope'],
          r['metric'],
          r['table'],
        ]),
      )
      .sort();
  const nft = await json<{ nftables: Array<Record<string, unknown>> }>(p, [
    'nft',
    '-j',
    'list',
    'ruleset',
  ]);
  return {
    links: l
      .map((x) => ({
        name: x.ifname,
        mac: x.address,
        mtu: x.mtu,
        flags: [...x.flags].sort(),
        master: x.master,
        addrs: (x.addr_info ?? [])
          .map((a) => `${a.family} ${a.local}/${a.prefixlen} ${a.scope}`)
          .sort(),
      }))
      .sort((a, b) => a.name.localeCompare(b.name)),
    routes4: await routes('-4'),
    routes6: await routes('-6'),
    nft: nft.nftables.filter((e) => !('metainfo' in e)),
    sysctls: [
      await sysctl(p, 'net.ipv4.ip_forward'),
      await sysctl(p, 'net.ipv6.conf.all.forwarding'),
      await sysctl(p, 'net.ipv4.conf.all.arp_ignore'),
    ],
  };
}

/** Waits (with a deadline) until the namespace looks like `before` again (links settle after up). */
async function assertRestored(p: Pod, before: unknown): Promise<void> {
  const end = Date.now() + 10_000;
  let now = await snapshot(p);
  while (JSON.stringify(now) !== JSON.stringify(before) && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 50));
    now = await snapshot(p);
  }
  assert.deepEqual(now, before);
}

async function tcFilters(p: Pod, dev: string): Promise<string> {
  return p.lab.run(p.ns, ['tc', 'filter', 'show', 'dev', dev, 'ingress']);
}

test(
  'KubeVirt bridge: bridge, renamed pod link, dummy, tap, DHCP config; twice is a no-op; down restores',
  { skip },
  async (t) => {
    const p = await pod(t);
    const before = await snapshot(p);
    const r = await up(p, 'podnet-kubevirt-bridge.yaml', 'kubevirt');
    assert.equal(r.alreadyUp, false);
    const l = await links(p);
    assert.equal(l.get('k6t-eth0')?.linkinfo?.info_kind, 'bridge');
    assert.deepEqual(addrs(l.get('k6t-eth0')), ['169.254.75.10/32']);
    assert.equal(l.get('k6t-eth0')?.mtu, 1400);
    const nic = l.get('eth0-nic');
    assert.equal(nic?.master, 'k6t-eth0');
    assert.deepEqual(addrs(nic), []);
    const eth0 = l.get('eth0');
    const origMac = (before as { links: Array<{ name: string; mac: string }> }).links.find(
      (x) => x.name === 'eth0',
    )!.mac;
    assert.notEqual(nic?.address, origMac);
    assert.equal(eth0?.address, origMac);
    assert.match(eth0?.linkinfo?.info_kind ?? '', /^(dummy|ifb)$/);
    assert.deepEqual(addrs(eth0), ['10.200.0.5/24', 'fd20::5/64']);
    assert.equal(l.get('tap0')?.master, 'k6t-eth0');
    assert.equal(l.get('tap0')?.mtu, 1400);
    assert.equal(String(l.get('tap0')?.linkinfo?.info_data?.['user']), '107');
    assert.equal(await sysctl(p, 'net.ipv4.conf.all.arp_ignore'), '1');
    assert.equal(await sysctl(p, 'net.ipv6.conf.eth0-nic.disable_ipv6'), '1');
    const learning = await json<Array<{ ifname: string; learning?: boolean }>>(p, [
      'bridge',
      '-j',
      '-d',
      'link',
      'show',
      'dev',
      'eth0-nic',
    ]);
    assert.equal(learning[0]?.learning, false);
    assert.equal(p.configs.length, 1);
    const c = p.configs[0]!;
    assert.equal(c.device, 'k6t-eth0');
    assert.equal(c.netns, `/run/netns/${p.ns}`);
    assert.equal(c.clientMac, '02:42:ac:11:00:02');
    assert.equal(c.serverMac, l.get('k6t-eth0')?.address);
    assert.equal(c.mtu, 1400);
    assert.deepEqual(c.search, ['default.svc.cluster.local', 'svc.cluster.local']);
    assert.deepEqual(c.v4, {
      address: '10.200.0.5',
      prefixLength: 24,
      router: '10.200.0.1',
      serverAddress: '169.254.75.10',
      routes: [
        { dst: '10.200.0.0/24', via: '0.0.0.0' },
        { dst: '0.0.0.0/0', via: '10.200.0.1' },
      ],
      dns: ['10.96.0.10'],
    });
    assert.ok(c.leaseFile.startsWith(join(p.dir, 'state', p.ns)));
    assert.equal(r.interfaces[0]?.addressServerPid, process.pid);

    const again = await up(p, 'podnet-kubevirt-bridge.yaml', 'kubevirt');
    assert.equal(again.alreadyUp, true);
    assert.equal(p.configs.length, 1);

    assert.deepEqual(await down(p), { wasUp: true, warnings: [] });
    assert.deepEqual(p.stopped, [process.pid]);
    assert.equal(existsSync(join(p.dir, 'state', p.ns)), false);
    await assertRestored(p, before);
    assert.deepEqual(await down(p), { wasUp: false, warnings: [] });
  },
);

test(
  'Virtink bridge: br-eth0 with 169.254.200.1/30, tap-eth0, same-vendor MAC',
  { skip },
  async (t) => {
    const p = await pod(t);
    const before = await snapshot(p);
    await up(p, 'podnet-virtink-bridge.yaml', 'virtink');
    const l = await links(p);
    assert.deepEqual(addrs(l.get('br-eth0')), ['169.254.200.1/30']);
    assert.equal(l.get('eth0-nic')?.master, 'br-eth0');
    assert.equal(l.get('tap-eth0')?.master, 'br-eth0');
    assert.equal(l.get('tap-eth0')?.linkinfo?.info_data?.['user'], undefined);
    const orig = l.get('eth0')!.address!;
    assert.equal(l.get('eth0-nic')?.address?.slice(0, 8), orig.slice(0, 8));
    assert.equal(p.configs[0]?.v4?.serverAddress, '169.254.200.1');
    assert.equal(p.configs[0]?.clientMac, orig); // Virtink's guest uses the pod link's MAC
    await down(p);
    await assertRestored(p, before);
  },
);

test(
  'KubeVirt masquerade with ports and IPv6: NAT bridge, nft tables, forwarding, DHCPv4+v6 config',
  { skip },
  async (t) => {
    const p = await pod(t);
    const before = await snapshot(p);
    await up(p, 'podnet-kubevirt-masquerade.yaml', 'kubevirt');
    const l = await links(p);
    assert.equal(l.get('k6t-eth0')?.address, '02:00:00:00:00:00');
    assert.deepEqual(addrs(l.get('k6t-eth0')), ['10.0.2.1/24', 'fd10:0:2::1/120']);
    assert.ok(l.get('k6t-eth0')?.addr_info?.some((a) => a.local === 'fe80::1'));
    assert.deepEqual(addrs(l.get('eth0')), ['10.200.0.5/24', 'fd20::5/64']);
    assert.equal(l.get('tap0')?.master, 'k6t-eth0');
    assert.equal(await sysctl(p, 'net.ipv4.ip_forward'), '1');
    assert.equal(await sysctl(p, 'net.ipv6.conf.all.forwarding'), '1');
    assert.equal(await sysctl(p, 'net.ipv4.conf.k6t-eth0.route_localnet'), '1');
    const rules = await p.lab.run(p.ns, ['nft', 'list', 'ruleset']);
    assert.match(rules, /table ip nat/);
    assert.match(rules, /table ip6 nat/);
    assert.match(rules, /tcp dport 80 .*dnat to 10\.0\.2\.2/);
    assert.match(rules, /udp dport 53 .*dnat to 10\.0\.2\.2/);
    const c = p.configs[0]!;
    assert.equal(c.clientMac, undefined);
    assert.deepEqual(c.v4, {
      address: '10.0.2.2',
      prefixLength: 24,
      router: '10.0.2.1',
      serverAddress: '10.0.2.1',
      routes: [],
      dns: ['10.96.0.10'],
    });
    assert.deepEqual(c.v6, {
      address: 'fd10:0:2::2',
      onLinkPrefix: 'fd10:0:2::/120',
      routerLinkLocal: 'fe80::1',
      dns: ['fd20::53'],
    });
    await down(p);
    await assertRestored(p, before);
  },
);

test('KubeVirt masquerade, default CIDRs, all ports', { skip }, async (t) => {
  const p = await pod(t);
  const before = await snapshot(p);
  await up(p, 'podnet-kubevirt-masquerade-ipv6.yaml', 'kubevirt');
  const rules = await p.lab.run(p.ns, ['nft', 'list', 'ruleset']);
  assert.match(
    rules,
    /chain KUBEVIRT_PREINBOUND \{\s*counter packets \d+ bytes \d+ dnat to 10\.0\.2\.2/,
  );
  assert.equal(p.configs[0]?.v6?.address, 'fd10:0:2::2');
  await down(p);
  await assertRestored(p, before);
});

test('Virtink masquerade: default /30 and a custom /29, spec MAC only', { skip }, async (t) => {
  const p = await pod(t);
  const before = await snapshot(p);
  await up(p, 'podnet-virtink-masquerade.yaml', 'virtink');
  const l = await links(p);
  assert.deepEqual(addrs(l.get('br-eth0')), ['10.0.2.1/30']);
  assert.equal(l.get('tap-eth0')?.master, 'br-eth0');
  const rules = await p.lab.run(p.ns, ['nft', 'list', 'ruleset']);
  assert.match(rules, /oifname "eth0" counter packets \d+ bytes \d+ masquerade/);
  assert.doesNotMatch(rules, /table ip6/);
  assert.equal(p.configs[0]?.clientMac, '52:54:00:12:34:56');
  assert.deepEqual(p.configs[0]?.v4, {
    address: '10.0.2.2',
    prefixLength: 30,
    router: '10.0.2.1',
    serverAddress: '10.0.2.1',
    routes: [],
    dns: ['10.96.0.10'],
  });
  await down(p);
  await assertRestored(p, before);

  await up(p, 'podnet-virtink-masquerade-cidr.yaml', 'virtink');
  assert.deepEqual(addrs((await links(p)).get('br-eth0')), ['10.10.0.1/29']);
  assert.equal(p.configs[1]?.v4?.address, '10.10.0.2');
  await down(p);
  await assertRestored(p, before);
});

test(
  'plugin tap: tap joined to the pod link by tc redirects; managedTap: a bridge',
  { skip },
  async (t) => {
    const p = await pod(t);
    const before = await snapshot(p);
    await up(p, 'podnet-kubevirt-tap.yaml', 'kubevirt', true);
    const l = await links(p);
    assert.deepEqual(addrs(l.get('eth0')), ['10.200.0.5/24', 'fd20::5/64']);
    assert.equal(l.get('tap0')?.master, undefined);
    assert.match(
      await tcFilters(p, 'eth0'),
      /(matchall|u32)[\s\S]*mirred \(Egress Redirect to device tap0\)/,
    );
    assert.match(
      await tcFilters(p, 'tap0'),
      /(matchall|u32)[\s\S]*mirred \(Egress Redirect to device eth0\)/,
    );
    const c = p.configs[0]!;
    assert.equal(c.device, 'tap0');
    assert.equal(c.serverMac, l.get('tap0')?.address);
    assert.equal(c.clientMac, l.get('eth0')?.address);
    assert.equal(c.v4?.serverAddress, '10.200.0.1');
    await down(p);
    await assertRestored(p, before);

    await up(p, 'podnet-kubevirt-managedtap.yaml', 'kubevirt', true);
    const m = await links(p);
    assert.equal(m.get('eth0-nic')?.master, 'k6t-eth0');
    assert.equal(m.get('tap0')?.master, 'k6t-eth0');
    assert.equal(p.configs[1]?.device, 'k6t-eth0');
    await down(p);
    await assertRestored(p, before);
  },
);

test(
  'a failure midway rolls back to the exact before state; a taken tap name is refused',
  { skip },
  async (t) => {
    const p = await pod(t);
    const before = await snapshot(p);
    await assert.rejects(
      up(p, 'podnet-kubevirt-masquerade.yaml', 'kubevirt', false, true),
      (e: Error) =>
        /^spec\.template\.spec\.domain\.devices\.interfaces\[0\]: address server on k6t-eth0: injected: .*; rolled back$/.test(
          e.message,
        ),
    );
    assert.equal(existsSync(join(p.dir, 'state', p.ns)), false);
    await assertRestored(p, before);
    await assert.rejects(
      up(p, 'podnet-kubevirt-bridge.yaml', 'kubevirt', false, true),
      /rolled back/,
    );
    await assertRestored(p, before);

    await p.lab.ip(p.ns, ['tuntap', 'add', 'dev', 'tap0', 'mode', 'tap']);
    const withTap = await snapshot(p);
    await assert.rejects(up(p, 'podnet-kubevirt-bridge.yaml', 'kubevirt'), (e: Error) =>
      e.message.startsWith(
        'spec.template.spec.domain.devices.interfaces[0]: tap tap0 already exists in the pod namespace',
      ),
    );
    await assertRestored(p, withTap);
  },
);

test(
  'a missing namespace is an error naming the interface; down after the namespace vanished cleans up',
  { skip },
  async (t) => {
    const p = await pod(t);
    const l = await load('podnet-virtink-bridge.yaml', 'virtink');
    await assert.rejects(
      podNetUp({
        plan: l.plan,
        paths: l.paths,
        interfaceIndex: l.interfaceIndex,
        netns: `${p.ns}-missing`,
        stateDir: join(p.dir, 'state'),
        resolvConf: p.resolv,
        deps: deps(p),
      }),
      (e: Error) =>
        e.message.startsWith('spec.instance.interfaces[0]: the pod network namespace /run/netns/'),
    );
    await up(p, 'podnet-virtink-bridge.yaml', 'virtink');
    await p.lab.run('host', ['ip', 'netns', 'del', p.ns]);
    const d = await down(p);
    assert.equal(d.wasUp, true);
    assert.deepEqual(p.stopped, [process.pid]);
    assert.equal(existsSync(join(p.dir, 'state', p.ns)), false);
  },
);

test(
  'up over a stale state (its address server died) undoes it and plumbs afresh',
  { skip },
  async (t) => {
    const p = await pod(t);
    const before = await snapshot(p);
    await up(p, 'podnet-virtink-masquerade.yaml', 'virtink');
    const l = await load('podnet-virtink-masquerade.yaml', 'virtink');
    const r = await podNetUp({
      plan: l.plan,
      paths: l.paths,
      interfaceIndex: l.interfaceIndex,
      netns: p.ns,
      stateDir: join(p.dir, 'state'),
      resolvConf: p.resolv,
      deps: { ...deps(p), isAlive: () => false },
    });
    assert.equal(r.alreadyUp, false);
    assert.deepEqual(r.warnings, []);
    assert.equal(p.configs.length, 2);
    assert.deepEqual(p.stopped, [process.pid]);
    assert.deepEqual(addrs((await links(p)).get('br-eth0')), ['10.0.2.1/30']);
    await down(p);
    await assertRestored(p, before);
  },
);

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      'node',
      [join(ROOT, 'bin/bindery.js'), ...args],
      { timeout: 60_000 },
      (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

test(
  'bindery pod-net up|down through the CLI: an L2-only pod link, exit codes',
  { skip },
  async (t) => {
    const p = await pod(t, { l2only: true });
    const before = await snapshot(p);
    const state = join(p.dir, 'state');
    const file = join(FIX, 'podnet-kubevirt-bridge.yaml');
    const r = await cli([
      'pod-net',
      'up',
      file,
      '--netns',
      p.ns,
      '--state-dir',
      state,
      '--resolv-conf',
      p.resolv,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /default\/vm-bridge up in \/run\/netns\//);
    assert.match(
      r.stdout,
      /default \(bridge\) on eth0: bridge k6t-eth0, tap tap0, .*no address server/,
    );
    assert.equal((await links(p)).get('tap0')?.master, 'k6t-eth0');
    const again = await cli([
      'pod-net',
      'up',
      file,
      '--netns',
      p.ns,
      '--state-dir',
      state,
      '--json',
    ]);
    assert.equal(again.code, 0);
    assert.equal((JSON.parse(again.stdout) as { alreadyUp: boolean }).alreadyUp, true);
    const d = await cli(['pod-net', 'down', '--netns', `/run/netns/${p.ns}`, '--state-dir', state]);
    assert.equal(d.code, 0); // a path names another state dir than the name: nothing up there
    assert.match(d.stdout, /nothing up/);
    const d2 = await cli(['pod-net', 'down', '--netns', p.ns, '--state-dir', state]);
    assert.equal(d2.code, 0, d2.stderr);
    await assertRestored(p, before);

    // usage: exit 2; bad manifest: validate's diagnostics, exit 1; taken tap: one line, exit 1
    assert.equal((await cli(['pod-net', 'up', file])).code, 2);
    assert.equal((await cli(['pod-net', 'up', file, '--netns', '../x'])).code, 2);
    const bad = join(p.dir, 'bad.yaml');
    await writeFile(
      bad,
      readFileSync(file, 'utf8').replace('bridge: {}', 'bridge: {}\n              masquerade: {}'),
    );
    const v = await cli(['pod-net', 'up', bad, '--netns', p.ns, '--state-dir', state]);
    assert.equal(v.code, 1);
    assert.match(v.stderr, /bad\.yaml:\d+: spec\.template\.spec\.domain\.devices\.interfaces\[0\]/);
    assert.match(v.stderr, /nothing changed/);
    await p.lab.ip(p.ns, ['tuntap', 'add', 'dev', 'tap0', 'mode', 'tap']);
    const taken = await cli(['pod-net', 'up', file, '--netns', p.ns, '--state-dir', state]);
    assert.equal(taken.code, 1);
    assert.equal(taken.stderr.trim().split('\n').length, 1);
    assert.match(
      taken.stderr,
      /^bindery: spec\.template\.spec\.domain\.devices\.interfaces\[0\]: tap tap0 already exists.*\(BINDERY_ERR_PODNET\)$/m,
    );
  },
);
