// Unit tests of the pure pod-net planner: which steps, in which order, with which undos and address server configs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { loadManifests } from '../api/load.js';
import { seededRandom } from '../api/defaults.js';
import { validateManifests } from '../api/validate.js';
import { planKubeVirt, planVirtink } from '../plan/plan.js';
import type { VmNetworkPlan } from '../plan/types.js';
import { BinderyError } from '../errors.js';
import type { DiscoveredLink } from './iproute.js';
import { parseIpAddr, parseIpRoutes } from './iproute.js';
import { dhcpRoutes, planPodNetSteps, type Action, type PodNetPlanInput } from './steps.js';

const FIX = new URL('../../test/fixtures/manifests/', import.meta.url);

function plan(file: string, cr?: string): VmNetworkPlan {
  const manifests = [file, ...(cr ? [cr] : [])].flatMap(
    (f) => loadManifests(readFileSync(new URL(f, FIX), 'utf8'), f).manifests,
  );
  const { defaulted } = validateManifests(manifests, { random: seededRandom('t') });
  const kv = defaulted.find((m) => m.type === 'kubevirt-cr');
  for (const m of defaulted) {
    const r =
      m.type === 'virtink-vm'
        ? planVirtink({ vm: m.object })
        : m.type === 'kubevirt-vm'
          ? planKubeVirt({
              vm: m.object,
              ...(kv?.type === 'kubevirt-cr' ? { kubevirt: kv.object } : {}),
            })
          : undefined;
    if (r?.ok) return r.plan;
  }
  throw new Error(`no plan in ${file}`);
}

const ETH0: DiscoveredLink = {
  name: 'eth0',
  mac: '0a:58:0a:f4:00:05',
  mtu: 1450,
  up: true,
  addresses: [
    { family: 4, local: '10.244.0.5', prefixLength: 24, scope: 'global' },
    { family: 6, local: 'fd00::5', prefixLength: 64, scope: 'global' },
  ],
  routes: [
    { family: 4, dst: 'default', gateway: '10.244.0.1', onlink: false },
    {
      family: 4,
      dst: '10.244.0.0/24',
      protocol: 'kernel',
      scope: 'link',
      prefsrc: '10.244.0.5',
      onlink: false,
    },
    { family: 6, dst: 'default', gateway: 'fd00::1', metric: 1024, onlink: false },
  ],
};

function input(p: VmNetworkPlan, over: Partial<PodNetPlanInput> = {}): PodNetPlanInput {
  let n = 0;
  return {
    plan: p,
    netns: '/run/netns/pod',
    paths: new Map(p.interfaces.map((i) => [i.name, `IF(${i.name})`])),
    interfaceIndex: new Map(p.interfaces.map((i, k) => [i.name, k])),
    links: new Map([['eth0', ETH0]]),
    existingLinks: ['lo', 'eth0'],
    existingTables: [],
    resolv: { nameservers4: ['10.96.0.10'], nameservers6: ['fd00::a'], search: ['svc.local'] },
    random: (k) => Uint8Array.from({ length: k }, () => ++n),
    ...over,
  };
}

const argv = (a: Action): string => (a.kind === 'cmd' ? a.argv.join(' ') : a.kind);

test('KubeVirt bridge: bridge, pod link emptied, renamed, new MAC, enslaved; dummy; tap; DHCP of the pod address', () => {
  const r = planPodNetSteps(input(plan('podnet-kubevirt-bridge.yaml')));
  const cmds = r.steps.map((s) => argv(s.action));
  const at = (prefix: string): number => cmds.findIndex((c) => c.startsWith(prefix));
  assert.ok(at('ip link add name k6t-eth0') === 0);
  assert.ok(at('ip addr add 169.254.75.10/32 dev k6t-eth0') > 0);
  // addresses leave before the link goes down (down drops IPv6 addresses itself)
  assert.ok(at('ip addr del 10.244.0.5/24 dev eth0') < at('ip link set dev eth0 down'));
  assert.ok(at('ip link set dev eth0 down') < at('ip link set dev eth0 name eth0-nic'));
  assert.ok(at('ip link set dev eth0-nic master k6t-eth0') > 0);
  assert.ok(at('bridge link set dev eth0-nic learning off') > 0);
  assert.ok(at('ip link add name eth0 address 0a:58:0a:f4:00:05 mtu 1450 type dummy') > 0);
  assert.ok(at('ip addr add fd00::5/64 dev eth0 nodad') > 0);
  assert.ok(at('ip tuntap add dev tap0 mode tap user 107 group 107') > 0);
  assert.ok(at('ip link set dev tap0 mtu 1450 master k6t-eth0 up') > 0);
  const sysctls = r.steps.flatMap((s) => (s.action.kind === 'sysctl' ? [s.action.key] : []));
  assert.deepEqual(sysctls, [
    'net/ipv6/conf/eth0-nic/disable_ipv6',
    'net/ipv4/conf/all/arp_ignore',
  ]);
  // the first step touching eth0 carries the undo that restores it, routes included
  const restore = r.steps.find((s) => argv(s.action) === 'ip addr del 10.244.0.5/24 dev eth0');
  assert.deepEqual(restore?.undo.map(argv), [
    'ip link set dev eth0 down',
    'ip link set dev eth0 up',
    'ip addr replace 10.244.0.5/24 dev eth0',
    'ip addr replace fd00::5/64 dev eth0 nodad',
    'ip -4 route replace default via 10.244.0.1 dev eth0',
    'ip -6 route replace default via fd00::1 dev eth0 metric 1024',
  ]);
  const last = r.steps.at(-1)!.action;
  assert.equal(last.kind, 'address-server');
  if (last.kind !== 'address-server') return;
  assert.deepEqual(last.config.v4, {
    address: '10.244.0.5',
    prefixLength: 24,
    router: '10.244.0.1',
    serverAddress: '169.254.75.10',
    routes: [
      { dst: '10.244.0.0/24', via: '0.0.0.0' },
      { dst: '0.0.0.0/0', via: '10.244.0.1' },
    ],
    dns: ['10.96.0.10'],
  });
  assert.equal(last.config.clientMac, '02:42:ac:11:00:02');
  assert.equal(last.config.device, 'k6t-eth0');
  assert.equal(last.config.mtu, 1450);
  assert.deepEqual(last.config.search, ['svc.local']);
  assert.equal(r.interfaces[0]?.guestAddress, '10.244.0.5/24');
});

test('an L2-only pod link gets no bridge address, no arp_ignore and no address server', () => {
  const bare = { ...ETH0, addresses: [], routes: [] };
  const r = planPodNetSteps(
    input(plan('podnet-kubevirt-bridge.yaml'), { links: new Map([['eth0', bare]]) }),
  );
  assert.ok(!r.steps.some((s) => s.action.kind === 'address-server'));
  assert.ok(!r.steps.some((s) => argv(s.action).includes('169.254.75')));
  assert.ok(
    !r.steps.some((s) => s.action.kind === 'sysctl' && s.action.key.includes('arp_ignore')),
  );
});

test('Virtink bridge: 169.254.200.1/30, same-vendor MAC, no tap owner', () => {
  const r = planPodNetSteps(input(plan('podnet-virtink-bridge.yaml')));
  const cmds = r.steps.map((s) => argv(s.action));
  assert.ok(cmds.includes('ip addr add 169.254.200.1/30 dev br-eth0'));
  assert.ok(cmds.some((c) => /^ip link set dev eth0-nic address 0a:58:0a:/.test(c)));
  assert.ok(cmds.includes('ip tuntap add dev tap-eth0 mode tap'));
});

test('KubeVirt masquerade with IPv6: bridge MAC, gateway addresses, fe80::1, sysctls, nft last before the server', () => {
  const r = planPodNetSteps(input(plan('podnet-kubevirt-masquerade-ipv6.yaml')));
  const cmds = r.steps.map((s) => argv(s.action));
  assert.ok(
    cmds.includes('ip link add name k6t-eth0 address 02:00:00:00:00:00 mtu 1450 type bridge'),
  );
  assert.ok(
    cmds.indexOf('ip link set dev k6t-eth0 addrgenmode none') <
      cmds.indexOf('ip link set dev k6t-eth0 up'),
  );
  assert.ok(cmds.includes('ip addr add fe80::1/64 dev k6t-eth0 nodad'));
  assert.ok(cmds.includes('ip addr add 10.0.2.1/24 dev k6t-eth0'));
  assert.ok(cmds.includes('ip addr add fd10:0:2::1/120 dev k6t-eth0 nodad'));
  const sysctls = r.steps.flatMap((s) => (s.action.kind === 'sysctl' ? [s.action.key] : []));
  assert.deepEqual(sysctls, [
    'net/ipv4/conf/k6t-eth0/route_localnet',
    'net/ipv4/ip_forward',
    'net/ipv6/conf/all/forwarding',
  ]);
  const kinds = r.steps.map((s) => s.action.kind);
  assert.deepEqual(kinds.slice(-2), ['nft', 'address-server']);
  const nft = r.steps.at(-2)!.action;
  assert.ok(nft.kind === 'nft');
  assert.deepEqual(nft.tables, [
    { family: 'ip', name: 'nat' },
    { family: 'ip6', name: 'nat' },
  ]);
  const srv = r.steps.at(-1)!.action;
  assert.ok(srv.kind === 'address-server');
  assert.equal(srv.config.clientMac, undefined);
  assert.deepEqual(srv.config.v6, {
    address: 'fd10:0:2::2',
    onLinkPrefix: 'fd10:0:2::/120',
    routerLinkLocal: 'fe80::1',
    dns: ['fd00::a'],
  });
  assert.equal(srv.config.v4?.serverAddress, '10.0.2.1');
});

test('masquerade without a pod IPv6: no v6 address, no ip6 table, no v6 forwarding', () => {
  const v4only = { ...ETH0, addresses: ETH0.addresses.filter((a) => a.family === 4) };
  const r = planPodNetSteps(
    input(plan('podnet-kubevirt-masquerade-ipv6.yaml'), { links: new Map([['eth0', v4only]]) }),
  );
  const nft = r.steps.find((s) => s.action.kind === 'nft')!.action;
  assert.ok(nft.kind === 'nft');
  assert.deepEqual(nft.tables, [{ family: 'ip', name: 'nat' }]);
  assert.ok(!r.steps.some((s) => argv(s.action).includes('fd10')));
  const srv = r.steps.at(-1)!.action;
  assert.ok(srv.kind === 'address-server' && srv.config.v6 === undefined);
});

test('Virtink masquerade: the spec MAC is the only client; custom CIDR', () => {
  const r = planPodNetSteps(input(plan('podnet-virtink-masquerade.yaml')));
  const srv = r.steps.at(-1)!.action;
  assert.ok(srv.kind === 'address-server');
  assert.equal(srv.config.clientMac, '52:54:00:12:34:56');
  assert.equal(srv.config.v4?.address, '10.0.2.2');
  assert.equal(srv.config.v4?.prefixLength, 30);
  const c = planPodNetSteps(input(plan('podnet-virtink-masquerade-cidr.yaml')));
  assert.ok(c.steps.some((s) => argv(s.action) === 'ip addr add 10.10.0.1/29 dev br-eth0'));
});

test('plugin tap: tc redirects both ways, the pod link keeps its addresses, server on the tap', () => {
  const r = planPodNetSteps(input(plan('podnet-kubevirt-tap.yaml', 'podnet-kubevirt-cr.yaml')));
  const cmds = r.steps.map((s) => argv(s.action));
  assert.ok(cmds.includes('tc qdisc add dev eth0 ingress'));
  assert.ok(
    cmds.includes(
      'tc filter add dev eth0 parent ffff: protocol all matchall action mirred egress redirect dev tap0',
    ),
  );
  assert.ok(
    cmds.includes(
      'tc filter add dev tap0 parent ffff: protocol all matchall action mirred egress redirect dev eth0',
    ),
  );
  assert.ok(!cmds.some((c) => c.startsWith('ip addr del')));
  const srv = r.steps.at(-1)!.action;
  assert.ok(srv.kind === 'address-server');
  assert.equal(srv.config.device, 'tap0');
  assert.equal(srv.config.clientMac, ETH0.mac);
  assert.equal(srv.config.v4?.serverAddress, '10.244.0.1');
});

test('managedTap plumbs like bridge', () => {
  const r = planPodNetSteps(
    input(plan('podnet-kubevirt-managedtap.yaml', 'podnet-kubevirt-cr.yaml')),
  );
  const cmds = r.steps.map((s) => argv(s.action));
  assert.ok(cmds.includes('ip link set dev eth0 name eth0-nic'));
  assert.ok(cmds.includes('ip link set dev tap0 mtu 1450 master k6t-eth0 up'));
});

test('bad namespace contents are errors naming the interface', () => {
  const p = plan('podnet-kubevirt-bridge.yaml');
  const check = (over: Partial<PodNetPlanInput>, re: RegExp): void =>
    assert.throws(
      () => planPodNetSteps(input(p, over)),
      (e: unknown) =>
        e instanceof BinderyError && e.code === 'BINDERY_ERR_PODNET' && re.test(e.message),
    );
  check({ links: new Map() }, /^IF\(default\): pod link eth0 does not exist/);
  check({ existingLinks: ['eth0', 'tap0'] }, /^IF\(default\): tap tap0 already exists/);
  check({ existingLinks: ['eth0', 'k6t-eth0'] }, /^IF\(default\): bridge k6t-eth0 already exists/);
  const m = plan('podnet-virtink-masquerade.yaml');
  assert.throws(
    () => planPodNetSteps(input(m, { existingTables: ['ip nat'] })),
    (e: unknown) =>
      e instanceof Error && /^IF\(pod\): nftables table ip nat already exists/.test(e.message),
  );
});

test('iproute2 JSON parsing keeps global addresses and route details', () => {
  const l = parseIpAddr(
    '[{"ifname":"eth0","address":"aa:bb:cc:dd:ee:ff","mtu":1400,"flags":["UP"],"addr_info":[{"family":"inet6","local":"fe80::1","prefixlen":64,"scope":"link"},{"family":"inet6","local":"fd00::2","prefixlen":64,"scope":"global"},{"family":"inet","local":"10.0.0.2","prefixlen":24,"scope":"global"}]}]',
  );
  assert.deepEqual(
    l?.addresses.map((a) => `${a.local}/${a.prefixLength}`),
    ['10.0.0.2/24', 'fd00::2/64'],
  );
  const routes = parseIpRoutes(
    '[{"dst":"default","gateway":"10.0.0.1","flags":["onlink"]},{"dst":"10.1.0.0/16","gateway":"10.0.0.9","flags":[]}]',
    4,
  );
  assert.deepEqual(dhcpRoutes({ ...l!, routes }), [
    { dst: '10.1.0.0/16', via: '10.0.0.9' },
    { dst: '0.0.0.0/0', via: '10.0.0.1' },
  ]);
});
